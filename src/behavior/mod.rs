//! Behavioral baselines: what "normal" looks like for an agent doing a kind of task,
//! learned from the runtime's own decisions, turned into the built-in behavior signals.
//!
//! One [`Profile`] per (agent, task kind) keeps exponentially decaying counts of the
//! actions, resources and resource classes (a resource's type) its allowed calls used,
//! and the rate of its calls. Before each decision the profile gives `novel_action`,
//! `novel_resource`, `rate_z`, `risk` and `warming_up`; after it, the profile learns.
//! Signals are risk inputs: the prover's "risk is restrict-only" theorem makes sure that
//! raising one never turns a deny or an escalation into an allow. The formulas and every
//! parameter are in `docs/behavior.md`. It implements the runtime's
//! [`Signals`](crate::runtime::journal::Signals) hook; it sits beside `audit`, whose log
//! it can learn from again when a process starts.

pub mod history;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value as Json};

use crate::eval::decision::Outcome;
use crate::eval::{CallDoc, RequestDoc};
use crate::runtime::journal::{Activity, Signals};
use crate::runtime::store::{Store, StoreError};
use crate::syntax::literal::parse_timestamp;

/// The parameters of the profiles and signals, with their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct BehaviorConfig {
    /// How fast old behavior is forgotten: a use this long ago weighs half.
    pub half_life: Duration,
    /// The window of the current call rate: a call this long ago weighs half.
    pub rate_half_life: Duration,
    /// Allowed calls a profile must have seen before its signals say anything.
    pub warm_up: u64,
    /// `novel_*` is true when the smoothed frequency is below this.
    pub novelty: f64,
    /// The least spread of the call rate, in calls per minute, for `rate_z`.
    pub rate_floor: f64,
    /// How fast the rate's baseline follows the current rate: after this long, half way.
    /// Measured in time, not calls, so that a burst does not become its own baseline.
    pub baseline_half_life: Duration,
    /// `rate_z` at which the rate's part of `risk` is full.
    pub rate_z_full: f64,
    /// The weights of the novel action, novel resource, novel resource class and rate
    /// parts of `risk`.
    pub weights: [f64; 4],
}

impl Default for BehaviorConfig {
    fn default() -> Self {
        BehaviorConfig {
            half_life: Duration::from_secs(7 * 24 * 3600),
            rate_half_life: Duration::from_secs(60),
            warm_up: 20,
            novelty: 0.02,
            rate_floor: 1.0,
            baseline_half_life: Duration::from_secs(3600),
            rate_z_full: 6.0,
            weights: [0.5, 0.5, 0.7, 0.5],
        }
    }
}

/// What one agent did in one kind of task, decayed to `at`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    at: i64,
    /// Allowed calls seen, ever.
    seen: u64,
    /// Allowed calls, decayed to `at`.
    events: f64,
    actions: HashMap<String, f64>,
    resources: HashMap<String, f64>,
    classes: HashMap<String, f64>,
    /// Calls in the rate window, decayed to `rate_at`.
    recent: f64,
    rate_at: i64,
    /// The rate's baseline (calls per minute) and its mean absolute deviation.
    mean: f64,
    spread: f64,
}

/// The signals of one call, before they are written as JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub warming_up: bool,
    pub novel_action: bool,
    pub novel_resource: bool,
    pub novel_class: bool,
    pub rate_z: f64,
    pub risk: f64,
}

fn halving(elapsed: i64, half_life: Duration) -> f64 {
    let half = half_life.as_secs_f64().max(1e-9);
    0.5f64.powf((elapsed.max(0) as f64 / 1e9) / half)
}

/// Laplace-smoothed frequency of `key` among `events`: (count + 1) / (events + kinds + 1).
fn frequency(counts: &HashMap<String, f64>, key: &str, events: f64, decay: f64) -> f64 {
    let count = counts.get(key).copied().unwrap_or(0.0) * decay;
    (count + 1.0) / (events * decay + counts.len() as f64 + 1.0)
}

/// The resources a call names, as `(type/id, type)`.
fn resources(call: &CallDoc) -> impl Iterator<Item = (String, &str)> {
    call.resource
        .iter()
        .chain(&call.resources)
        .map(|doc| ([doc.ty.as_str(), "/", doc.id.as_str()].concat(), doc.ty.as_str()))
}

/// The value kept under `key`, a default one first if there is none: the key is
/// copied only then, not on every call as `entry` would.
fn slot<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> Option<&'m mut V> {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key)
}

/// Adds one to the count of `key`.
fn count_one(counts: &mut HashMap<String, f64>, key: &str) {
    if let Some(count) = slot(counts, key) {
        *count += 1.0;
    }
}

impl Profile {
    /// The current call rate, in calls per minute, counting this call.
    fn rate(&self, at: i64, config: &BehaviorConfig) -> f64 {
        let recent = self.recent * halving(at - self.rate_at, config.rate_half_life) + 1.0;
        recent * std::f64::consts::LN_2 / (config.rate_half_life.as_secs_f64().max(1e-9) / 60.0)
    }

    /// The signals for `call` at `at`.
    pub fn read(&self, call: &CallDoc, at: i64, config: &BehaviorConfig) -> Reading {
        let decay = halving(at - self.at, config.half_life);
        if self.seen < config.warm_up {
            return Reading {
                warming_up: true,
                novel_action: false,
                novel_resource: false,
                novel_class: false,
                rate_z: 0.0,
                risk: 0.0,
            };
        }
        let novel =
            |counts: &HashMap<String, f64>, key: &str| frequency(counts, key, self.events, decay) < config.novelty;
        let action = call.action.as_deref().unwrap_or_default();
        let named: Vec<(String, &str)> = resources(call).collect();
        let novel_action = novel(&self.actions, action);
        let novel_resource = named.iter().any(|(resource, _)| novel(&self.resources, resource));
        let novel_class = named.iter().any(|(_, class)| novel(&self.classes, class));
        let spread = (1.2533 * self.spread).max(config.rate_floor).max(0.1 * self.mean);
        let rate_z = (self.rate(at, config) - self.mean) / spread;
        let parts = [
            novel_action as u8 as f64,
            novel_resource as u8 as f64,
            novel_class as u8 as f64,
            (rate_z / config.rate_z_full).clamp(0.0, 1.0),
        ];
        let calm: f64 =
            parts.iter().zip(config.weights).map(|(part, weight)| 1.0 - weight.clamp(0.0, 1.0) * part).product();
        Reading {
            warming_up: false,
            novel_action,
            novel_resource,
            novel_class,
            rate_z,
            risk: (1.0 - calm).clamp(0.0, 1.0),
        }
    }

    /// Learns from a decided call: every call counts toward the rate; an allowed one
    /// also toward what is normal.
    pub fn learn(&mut self, call: &CallDoc, at: i64, outcome: Outcome, config: &BehaviorConfig) {
        let rate = self.rate(at, config);
        let weight = 1.0 - halving(at - self.rate_at, config.baseline_half_life);
        if self.rate_at == 0 {
            self.mean = rate;
        } else {
            self.spread += weight * ((rate - self.mean).abs() - self.spread);
            self.mean += weight * (rate - self.mean);
        }
        self.recent = self.recent * halving(at - self.rate_at, config.rate_half_life) + 1.0;
        self.rate_at = self.rate_at.max(at);
        if outcome != Outcome::Allow {
            return;
        }
        let decay = halving(at - self.at, config.half_life);
        for counts in [&mut self.actions, &mut self.resources, &mut self.classes] {
            counts.values_mut().for_each(|count| *count *= decay);
        }
        self.events = self.events * decay + 1.0;
        self.seen += 1;
        self.at = self.at.max(at);
        count_one(&mut self.actions, call.action.as_deref().unwrap_or_default());
        for (resource, class) in resources(call) {
            count_one(&mut self.resources, &resource);
            count_one(&mut self.classes, class);
        }
    }
}

impl Reading {
    /// The signals as a request's `behavior` fields; `risk` and `rate_z` to four places.
    pub fn to_json(&self) -> Map<String, Json> {
        let round = |value: f64| (value * 10_000.0).round() / 10_000.0;
        let mut fields = Map::new();
        for (name, flag) in [
            ("warming_up", self.warming_up),
            ("novel_action", self.novel_action),
            ("novel_resource", self.novel_resource),
        ] {
            fields.insert(name.to_string(), Json::Bool(flag));
        }
        for (name, value) in [("rate_z", round(self.rate_z.clamp(-1e6, 1e6))), ("risk", round(self.risk))] {
            fields.insert(name.to_string(), Json::from(value));
        }
        fields
    }
}

/// Every profile of a runtime, behind one lock.
#[derive(Debug, Default)]
pub struct Profiles {
    config: BehaviorConfig,
    /// By agent, then task kind: looked up without allocating.
    profiles: Mutex<HashMap<String, HashMap<String, Profile>>>,
}

impl Profiles {
    pub fn new(config: BehaviorConfig) -> Profiles {
        Profiles { config, profiles: Mutex::new(HashMap::new()) }
    }

    /// The reading for `call` by `agent` in a task of `kind` at `at`.
    pub fn reading(&self, agent: &str, kind: &str, call: &CallDoc, at: i64) -> Reading {
        let profiles = self.profiles.lock();
        let empty = Profile::default();
        let profile = profiles.as_ref().ok().and_then(|profiles| profiles.get(agent)?.get(kind)).unwrap_or(&empty);
        profile.read(call, at, &self.config)
    }

    pub fn learn(&self, agent: &str, kind: &str, call: &CallDoc, at: i64, outcome: Outcome) {
        let Ok(mut profiles) = self.profiles.lock() else { return };
        if let Some(profile) = slot(&mut profiles, agent).and_then(|kinds| slot(kinds, kind)) {
            profile.learn(call, at, outcome, &self.config);
        }
    }

    /// Learns again from every decision in the audit log of `store`, in order: what a
    /// process does when it starts, so that profiles outlive it.
    pub fn learn_from_log(&self, store: &dyn Store) -> Result<u64, StoreError> {
        let mut at = 0;
        let mut learned = 0;
        loop {
            let rows = store.log_rows(at, 4096)?;
            let Some(last) = rows.last() else { return Ok(learned) };
            at = last.seq + 1;
            for row in &rows {
                let Ok(entry) = serde_json::from_slice::<Json>(&row.entry) else { continue };
                if let Some((agent, kind, call, time, outcome)) = recorded_call(&entry) {
                    self.learn(&agent, &kind, &call, time, outcome);
                    learned += 1;
                }
            }
        }
    }
}

/// A decision entry's agent, task kind, call, time and outcome.
fn recorded_call(entry: &Json) -> Option<(String, String, CallDoc, i64, Outcome)> {
    if entry.get("kind")?.as_str()? != "decision" {
        return None;
    }
    let request: RequestDoc = serde_json::from_value(entry.get("request")?.clone()).ok()?;
    let agent = request.agent.as_ref()?.id.clone();
    let kind = request.task.as_ref()?.kind.clone();
    let time = parse_timestamp(request.context.get("time")?.as_str()?).ok()?;
    let outcome: Outcome = serde_json::from_value(entry.get("decision")?.clone()).ok()?;
    let call = CallDoc {
        action: request.action,
        resource: request.resource,
        resources: request.resources,
        ..CallDoc::default()
    };
    Some((agent, kind, call, time, outcome))
}

impl Signals for Profiles {
    fn signals(&self, activity: &Activity<'_>) -> Map<String, Json> {
        self.reading(activity.agent, &activity.task.kind, activity.call, activity.at).to_json()
    }

    fn observe(&self, activity: &Activity<'_>, outcome: Outcome) {
        self.learn(activity.agent, &activity.task.kind, activity.call, activity.at, outcome);
    }
}
