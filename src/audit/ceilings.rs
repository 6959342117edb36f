//! The runtime's ceilings, derived again from the log, for replay.
//!
//! After the policies allow, the runtime applies two ceilings they cannot see: the
//! grant's narrowing and the task's budgets. Both can be derived from the log alone. A
//! grant's narrowing is in the entry that delegated it, so each decision under it is
//! checked exactly: inside or outside, as the runtime found. A budget's state is the sum
//! of the amounts of the requests allowed before, and concurrent decisions reserve in an
//! order the log need not keep; so budgets are checked by what holds in any order: the
//! amounts allowed in a task never total more than the limit, and a request denied as
//! exhausting a budget would have taken some budget it counts against past its limit on
//! top of everything the task was allowed. Both need the task's whole trail: grants
//! delegated before the first entry replayed, and tasks opened before it, are not
//! checked.

// `Value["key"]` on JSON reads `null` for a missing key or a non-object: it cannot panic.
#![allow(clippy::indexing_slicing)]

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use crate::eval::{PolicySet, Request};
use crate::hir::Task;
use crate::runtime::ceilings::{amounts, limits, outside_delegation, shown, units};
use crate::runtime::store::Narrowing;
use crate::runtime::ENDED;

/// What the ceilings' replay has learned from the entries read so far.
#[derive(Default)]
pub struct Ceilings {
    /// Each grant whose delegation (or task's opening) was read, with its narrowing.
    narrowings: HashMap<String, Narrowing>,
    /// The tasks whose opening was read: their budgets are followed.
    opened: HashSet<String>,
    /// Per task and budget index.
    budgets: HashMap<(String, u32), Budget>,
    /// Requests denied as exhausting a budget.
    exhausted: Vec<Exhausted>,
}

/// A request denied as exhausting a budget: its position, task and amounts.
struct Exhausted {
    seq: u64,
    task: String,
    amounts: Vec<(u32, i64)>,
}

/// One budget of one task as the log tells it.
struct Budget {
    text: String,
    limit: i64,
    /// The limit as the declaration reads, for messages.
    like: crate::hir::value::Value,
    allowed: i64,
    /// The first entry whose allowed amount took the total past the limit.
    passed_at: Option<u64>,
}

/// What the runtime's ceilings give a request the policies allowed.
enum Expected {
    Deny(&'static str),
    Allow,
    /// Allowed, or denied as exhausting a budget (or for the task having ended meanwhile):
    /// which one depends on what was reserved before.
    Reserved(Vec<(u32, i64)>),
}

impl Ceilings {
    /// Notes the grant of a `task_opened` or `task_delegated` entry.
    pub fn note_grant(&mut self, entry: &Json) {
        let Some(grant) = entry["grant"].as_str() else { return };
        let narrowing = serde_json::from_value(entry["narrowing"].clone()).unwrap_or_default();
        self.narrowings.insert(grant.to_string(), narrowing);
        if entry["kind"] == "task_opened" {
            if let Some(task) = entry["task"]["id"].as_str() {
                self.opened.insert(task.to_string());
            }
        }
    }

    /// Checks the decision returned for a request the policies allowed against what the
    /// ceilings give it; `Err` says how they differ.
    pub fn check(&mut self, seq: u64, entry: &Json, set: &PolicySet, request: &Request) -> Result<(), String> {
        let task_id = entry["task"]["id"].as_str().unwrap_or_default();
        let Some(task) = entry["task"]["kind"].as_str().and_then(|kind| set.hir().tasks.get(kind)) else {
            return Ok(());
        };
        let steps = set.limits().max_eval_steps;
        let returned = entry["decision"].as_str().unwrap_or_default();
        let reason = entry["reasons"][0]["code"].as_str().unwrap_or_default();
        let narrowing = entry["grant"].as_str().and_then(|grant| self.narrowings.get(grant));
        let expected = match narrowing {
            Some(narrowing) if outside_delegation(narrowing, request, steps).is_some() => {
                Expected::Deny("outside_delegated_scope")
            }
            // A grant delegated before the entries replayed: its narrowing is unknown.
            None if reason == "outside_delegated_scope" => return Ok(()),
            _ => match amounts(task, request, steps) {
                Err(_) => Expected::Deny("budget_invalid"),
                Ok(amounts) if amounts.is_empty() => Expected::Allow,
                Ok(amounts) => Expected::Reserved(amounts),
            },
        };
        let matches = match &expected {
            Expected::Deny(code) => returned == "deny" && reason == *code,
            Expected::Allow => returned == "allow",
            Expected::Reserved(amounts) => {
                let instance = Instance { id: task_id, task, request, steps };
                self.reserved(seq, &instance, amounts, returned, reason);
                returned == "allow" || (returned == "deny" && (reason == "budget_exhausted" || ENDED.contains(&reason)))
            }
        };
        match matches {
            true => Ok(()),
            false => Err(format!(
                "the runtime's ceilings give {}, but the log records {returned} (reason `{reason}`)",
                match expected {
                    Expected::Deny(code) => format!("a deny for `{code}`"),
                    Expected::Allow => "an allow".to_string(),
                    Expected::Reserved(_) => "an allow or a deny for an exhausted budget".to_string(),
                }
            )),
        }
    }

    /// Counts an allowed request's amounts against its task's budgets, or keeps a budget's
    /// deny to check at the end; only for tasks whose opening was read.
    fn reserved(&mut self, seq: u64, instance: &Instance<'_>, amounts: &[(u32, i64)], returned: &str, reason: &str) {
        if !self.opened.contains(instance.id) {
            return;
        }
        let exhausted = returned == "deny" && reason == "budget_exhausted";
        for (index, amount) in amounts {
            let Some(budget) = self.budget(instance, *index) else { continue };
            if returned == "allow" {
                budget.allowed = budget.allowed.saturating_add(*amount);
                if budget.allowed > budget.limit && budget.passed_at.is_none() {
                    budget.passed_at = Some(seq);
                }
            }
        }
        if exhausted {
            self.exhausted.push(Exhausted { seq, task: instance.id.to_string(), amounts: amounts.to_vec() });
        }
    }

    /// Budget `index` of a task instance, followed from its first request on.
    fn budget(&mut self, instance: &Instance<'_>, index: u32) -> Option<&mut Budget> {
        let key = (instance.id.to_string(), index);
        if !self.budgets.contains_key(&key) {
            let budget = Budget::of(instance, index)?;
            self.budgets.insert(key.clone(), budget);
        }
        self.budgets.get_mut(&key)
    }

    /// Once every entry is read: each budget's allowed total within its limit, and each
    /// budget's deny borne out by the totals. The mismatches, by position.
    pub fn finish(self) -> Vec<(u64, String)> {
        let mut found = Vec::new();
        for ((task, _), budget) in &self.budgets {
            if let Some(seq) = budget.passed_at {
                found.push((
                    seq,
                    format!(
                        "task {task} was allowed {} against `{}`, past its limit of {}",
                        shown(budget.allowed, &budget.like),
                        budget.text,
                        shown(budget.limit, &budget.like)
                    ),
                ));
            }
        }
        for Exhausted { seq, task, amounts } in &self.exhausted {
            let borne_out = amounts.iter().any(|(index, amount)| {
                self.budgets
                    .get(&(task.clone(), *index))
                    .is_some_and(|budget| budget.allowed.saturating_add(*amount) > budget.limit)
            });
            if !borne_out {
                found.push((
                    *seq,
                    format!("denied as exhausting a budget of task {task}, but what the log allowed in it leaves room for this request"),
                ));
            }
        }
        found.sort_by_key(|(seq, _)| *seq);
        found
    }
}

/// A task instance as one of its requests shows it.
struct Instance<'a> {
    id: &'a str,
    task: &'a Task,
    request: &'a Request,
    steps: usize,
}

impl Budget {
    /// Budget `index` of a task instance, its limit evaluated on the instance's
    /// parameters (as the runtime did when the task opened).
    fn of(instance: &Instance<'_>, index: u32) -> Option<Budget> {
        let limits = limits(instance.task, instance.request, instance.steps).ok()?;
        let (_, like) = limits.into_iter().find(|(at, _)| *at == index)?;
        let text = instance.task.budgets.get(index as usize)?.text.clone();
        Some(Budget { text, limit: units(&like)?, like, allowed: 0, passed_at: None })
    }
}
