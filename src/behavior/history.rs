//! History counters: `behavior` signals that the schema declares as a count or a sum of
//! the allowed requests of some actions, per task, agent or sponsor, in a sliding window
//! (`sends: Int = count(send_money) per task within 1h`).
//!
//! The runtime keeps them from its audit log: before each decision, [`History`] reads the
//! entries appended since it last looked (its own and those of other servers on the same
//! store), adds each allowed request to the windows it counts in, and gives the signals
//! of the request's task, agent and sponsor. A process that starts reads the whole log,
//! so counters outlive it. A counter is a number and a larger number is riskier, so the
//! prover's "risk is restrict-only" theorem holds for it like for every signal.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as Json};

use crate::eval::decision::Outcome;
use crate::eval::expr::Evaluator;
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::value::Value;
use crate::hir::{History as Counter, HistoryKey};
use crate::runtime::journal::{Activity, Signals};
use crate::runtime::store::{Store, StoreError};
use crate::syntax::literal::parse_timestamp;

/// Log rows read per query while catching up.
const PAGE: usize = 4096;

/// The history counters of one policy set, kept from the log of one store.
pub struct History {
    set: Arc<PolicySet>,
    store: Arc<dyn Store>,
    windows: Mutex<Windows>,
}

/// What the counters have read of the log.
#[derive(Default)]
struct Windows {
    /// The next log position to read.
    next: u64,
    /// Per (counter, key): the times and amounts of the requests counted, oldest first.
    events: HashMap<(usize, String), VecDeque<(i64, i64)>>,
    /// Events added since the last sweep of idle windows.
    since_sweep: usize,
}

impl History {
    /// The counters `set` declares, kept from the log of `store`. `None` when it
    /// declares none.
    pub fn new(set: Arc<PolicySet>, store: Arc<dyn Store>) -> Option<History> {
        if set.hir().history.is_empty() {
            return None;
        }
        Some(History { set, store, windows: Mutex::new(Windows::default()) })
    }

    fn counters(&self) -> &[Counter] {
        &self.set.hir().history
    }

    /// Reads the log entries appended since the last call.
    pub fn catch_up(&self) -> Result<u64, StoreError> {
        let mut windows = self.windows.lock().map_err(|_| StoreError::Corrupt("history lock poisoned".into()))?;
        self.read_log(&mut windows)
    }

    fn read_log(&self, windows: &mut Windows) -> Result<u64, StoreError> {
        let mut read = 0;
        loop {
            let rows = self.store.log_rows(windows.next, PAGE)?;
            let Some(last) = rows.last() else { return Ok(read) };
            windows.next = last.seq + 1;
            for row in &rows {
                if let Ok(entry) = serde_json::from_slice::<Json>(&row.entry) {
                    self.count(windows, &entry);
                }
                read += 1;
            }
            if rows.len() < PAGE {
                return Ok(read);
            }
        }
    }

    /// Adds a recorded decision to the windows it counts in, when it was an allow.
    fn count(&self, windows: &mut Windows, entry: &Json) {
        if entry.get("kind").and_then(Json::as_str) != Some("decision")
            || entry.get("decision") != Some(&Json::from("allow"))
        {
            return;
        }
        let Some(request) = entry.get("request").and_then(|doc| serde_json::from_value::<RequestDoc>(doc.clone()).ok())
        else {
            return;
        };
        let Some(at) = request.context.get("time").and_then(Json::as_str).and_then(|t| parse_timestamp(t).ok()) else {
            return;
        };
        let keys = Keys {
            task: request.task.as_ref().map(|task| task.id.as_str()),
            agent: request.agent.as_ref().map(|agent| agent.id.as_str()),
            sponsor: request.chain.first().map(String::as_str),
        };
        for (index, counter) in self.counters().iter().enumerate() {
            if !counter.actions.iter().any(|action| Some(action) == request.action.as_ref()) {
                continue;
            }
            let (Some(key), Some(amount)) = (keys.of(counter.per), self.amount(counter, &request, at)) else {
                continue;
            };
            windows.events.entry((index, key.to_string())).or_default().push_back((at, amount));
            windows.since_sweep += 1;
        }
        if windows.since_sweep > 65_536 {
            self.sweep(windows, at);
        }
    }

    /// What a recorded request adds to `counter`: one, or the value its `sum` reads (at
    /// least 0).
    fn amount(&self, counter: &Counter, request: &RequestDoc, at: i64) -> Option<i64> {
        let Some(sum) = &counter.sum else { return Some(1) };
        let prepared = self.set.prepare_at(request, at).ok()?;
        match Evaluator::new(&prepared, self.set.limits().max_eval_steps).eval(sum).ok()? {
            // A negative amount adds nothing: a counter never falls by a request, so an
            // allowed refund cannot make room for more.
            Value::Int(units) | Value::Decimal(units) => Some(units.max(0)),
            _ => None,
        }
    }

    /// Drops the windows whose every event is older than their counter's window.
    fn sweep(&self, windows: &mut Windows, now: i64) {
        let counters = self.counters();
        windows.events.retain(|(index, _), events| {
            let window = counters.get(*index).map_or(0, |counter| counter.window_ms.saturating_mul(1_000_000));
            events.back().is_some_and(|(at, _)| *at > now.saturating_sub(window))
        });
        windows.since_sweep = 0;
    }

    /// Every counter's value for a request by `agent` in `task` of `sponsor` at `now`:
    /// what was counted in the window `(now - window, now]`.
    pub fn values(&self, task: &str, agent: &str, sponsor: &str, now: i64) -> Result<Map<String, Json>, StoreError> {
        let mut windows = self.windows.lock().map_err(|_| StoreError::Corrupt("history lock poisoned".into()))?;
        self.read_log(&mut windows)?;
        let keys = Keys { task: Some(task), agent: Some(agent), sponsor: Some(sponsor) };
        let mut values = Map::new();
        for (index, counter) in self.counters().iter().enumerate() {
            let after = now.saturating_sub(counter.window_ms.saturating_mul(1_000_000));
            let key = keys.of(counter.per).unwrap_or_default().to_string();
            let total = match windows.events.get_mut(&(index, key)) {
                Some(events) => {
                    while events.front().is_some_and(|(at, _)| *at <= after) {
                        events.pop_front();
                    }
                    events
                        .iter()
                        .filter(|(at, _)| *at <= now)
                        .fold(0i64, |sum, (_, amount)| sum.saturating_add(*amount))
                }
                None => 0,
            };
            values.insert(counter.name.clone(), self.shown(counter, total));
        }
        Ok(values)
    }

    /// A total as the signal's JSON: an `Int`, or a `Decimal` kept in ten-thousandths.
    fn shown(&self, counter: &Counter, total: i64) -> Json {
        let field = self.set.hir().env.behavior.fields.get(&counter.name);
        match field.is_some_and(|field| field.ty == crate::semantics::types::Type::Decimal) {
            true => Value::Decimal(total).to_json(),
            false => Value::Int(total).to_json(),
        }
    }
}

/// The task, agent and sponsor of a request.
struct Keys<'a> {
    task: Option<&'a str>,
    agent: Option<&'a str>,
    sponsor: Option<&'a str>,
}

impl<'a> Keys<'a> {
    fn of(&self, per: HistoryKey) -> Option<&'a str> {
        match per {
            HistoryKey::Task => self.task,
            HistoryKey::Agent => self.agent,
            HistoryKey::Sponsor => self.sponsor,
        }
    }
}

impl Signals for History {
    /// The counters of the request's task, agent and sponsor. When the log cannot be
    /// read, no counter is given, and the request fails validation: a counter that could
    /// not be kept is never read as zero.
    fn signals(&self, activity: &Activity<'_>) -> Map<String, Json> {
        let sponsor = activity.task.sponsor.as_str();
        self.values(&activity.task.id, activity.agent, sponsor, activity.at).unwrap_or_default()
    }

    /// Nothing to learn here: the next decision reads this one from the log.
    fn observe(&self, _: &Activity<'_>, _: Outcome) {}
}
