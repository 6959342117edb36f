//! Change impact: the exact set of requests whose decision changes between
//! two versions of a package, as readable conditions with one replayed example each.
//!
//! For each (action, resource type) either version covers, both versions' decisions are
//! built as diagrams over one variable order; for each pair of outcomes, "old decides
//! `from`" and "new decides `to`" conjoined is a diagram of exactly the requests that
//! change that way (tests treated as free, as everywhere in the prover). Its paths are the summary; a request built for a
//! path and replayed through both versions is the example. A change no request could be
//! confirmed for is listed as possible, and `--no-wider` treats it as a widening: a gate
//! fails closed.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::analysis::{path_text, Analysis};
use super::{reproduce_command, target_text, witness, ProveOptions};
use crate::compile::diagram::OverBudget;
use crate::eval::decision::Outcome;
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::Target;

/// At most this many paths are written out per change; the rest are counted.
const MOST_PATHS_SHOWN: usize = 10;

/// Requests on one pair whose decision goes from `from` to `to`.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub from: Outcome,
    pub to: Outcome,
    /// Conditions that together cover the changed requests: each entry is one conjunction.
    pub when: Vec<Vec<String>>,
    /// How many conjunctions there are in all (`when` shows the first ones).
    pub paths: u128,
    /// A request that changes this way, replayed through both versions; `None` when no
    /// request built for the paths changed, so the change is only possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<RequestDoc>,
}

impl Change {
    pub fn widens(&self) -> bool {
        self.to == Outcome::Allow
    }
}

/// The changes between two versions.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub changes: Vec<Change>,
    /// What could not be compared, with the reason: pairs beyond the budget, schema
    /// differences, tasks that live longer.
    pub unknown: Vec<String>,
    #[serde(serialize_with = "super::micros")]
    pub elapsed: Duration,
}

impl DiffReport {
    /// Whether the new version may allow something the old one did not: a confirmed or
    /// possible change to allow, or a pair that could not be analysed.
    pub fn may_widen(&self) -> bool {
        self.changes.iter().any(Change::widens) || !self.unknown.is_empty()
    }

    /// The report as text; `package` is the new version's path, for reproducing.
    pub fn render(&self, package: &str) -> String {
        let mut out = String::new();
        for change in &self.changes {
            let target = Target { action: change.action.clone(), resource: change.resource.clone() };
            out.push_str(&format!("{}: {} → {}\n", target_text(&target), change.from.word(), change.to.word()));
            out.push_str(&conditions_text(&change.when));
            let hidden = change.paths.saturating_sub(change.when.len() as u128);
            if hidden > 0 {
                out.push_str(&format!("  … and {hidden} more condition(s)\n"));
            }
            match &change.example {
                Some(example) => {
                    out.push_str(&format!("  example: {}\n", serde_json::to_string(example).unwrap_or_default()));
                    out.push_str(&format!("  reproduce: {}\n", reproduce_command(package, example)));
                }
                None => out.push_str(
                    "  possible: no request built for these conditions changes; they depend on tests the prover does not solve\n",
                ),
            }
        }
        for reason in &self.unknown {
            out.push_str(&format!("unknown: {reason}\n"));
        }
        let widened = self.changes.iter().filter(|change| change.widens()).count();
        out.push_str(&format!("{} change(s), {widened} to allow\n", self.changes.len()));
        out
    }
}

/// Conjunctions as text: what they all share once, then what each adds.
fn conditions_text(when: &[Vec<String>]) -> String {
    let shared: Vec<&String> = match when.split_first() {
        Some((first, rest)) if !rest.is_empty() => {
            first.iter().filter(|part| rest.iter().all(|other| other.contains(part))).collect()
        }
        _ => Vec::new(),
    };
    let mut out = String::new();
    if !shared.is_empty() {
        let parts: Vec<&str> = shared.iter().map(|part| part.as_str()).collect();
        out.push_str(&format!("  when {}\n  and one of:\n", parts.join(" and ")));
    }
    for (index, conjunction) in when.iter().enumerate() {
        let own: Vec<&str> = conjunction.iter().filter(|part| !shared.contains(part)).map(String::as_str).collect();
        let text = if own.is_empty() { "always".to_string() } else { own.join(" and ") };
        let lead = match (shared.is_empty(), index) {
            (false, _) => "  -",
            (true, 0) => "when",
            (true, _) => "or when",
        };
        out.push_str(&format!("  {lead} {text}\n"));
    }
    out
}

/// What the diagrams cannot compare: a request valid in one version may be invalid in the
/// other (an attribute made optional, a value added to an enum), and enum values are
/// compared by position. Each difference is reported, and `--no-wider` fails on it.
fn schema_differences(old: &PolicySet, new: &PolicySet) -> Vec<String> {
    let (before, after) = (&old.hir().env, &new.hir().env);
    let mut differences = Vec::new();
    let mut differ = |what: String, same: bool| {
        if !same {
            differences.push(format!(
                "the schema's {what} changed: requests valid in only one version, or enum values by position, are not compared"
            ));
        }
    };
    differ("enums".to_string(), before.enums == after.enums);
    differ("records".to_string(), before.records == after.records);
    differ("resources".to_string(), before.resources == after.resources);
    differ("actions".to_string(), before.actions == after.actions);
    differ("tasks' parameters".to_string(), before.tasks == after.tasks);
    differ("agent attributes".to_string(), before.agent == after.agent);
    differ("context attributes".to_string(), before.context == after.context);
    differ("behavior signals".to_string(), before.behavior == after.behavior);
    differences
}

/// Tasks whose instances may live longer in the new version (a larger `ttl`, or none):
/// requests late in an instance, denied as expired before, may now be allowed. The
/// expiry is checked before the graph, so the diagrams do not see it.
fn longer_tasks(old: &PolicySet, new: &PolicySet) -> Vec<String> {
    let mut longer = Vec::new();
    for (kind, task) in &new.hir().tasks {
        let Some(before) = old.hir().tasks.get(kind) else { continue };
        let grows = match (before.ttl, task.ttl) {
            (Some(before), Some(after)) => after > before,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if grows {
            longer.push(format!(
                "task `{kind}` lives longer: its ttl went from {} to {}, so requests late in an instance may now be allowed",
                ttl_text(before.ttl),
                ttl_text(task.ttl)
            ));
        }
    }
    longer
}

/// Tasks whose instances expire sooner in the new version (a smaller `ttl`, or one where
/// there was none), with the old and new ttl: requests late in an instance, allowed or
/// escalated before, are now denied as expired. The diagrams do not see this (expiry is
/// checked before the graph), so it is found here.
fn shorter_tasks<'a>(old: &PolicySet, new: &'a PolicySet) -> Vec<(&'a str, Option<i64>, i64)> {
    let mut shorter = Vec::new();
    for (kind, task) in &new.hir().tasks {
        let (Some(before), Some(after)) = (old.hir().tasks.get(kind), task.ttl) else { continue };
        if before.ttl.is_none_or(|before| after < before) {
            shorter.push((kind.as_str(), before.ttl, after));
        }
    }
    shorter
}

/// The pairs a task kind's scope names in the new version.
fn task_targets(set: &PolicySet, kind: &str) -> Vec<Target> {
    let mut targets: Vec<Target> = set
        .hir()
        .tasks
        .get(kind)
        .into_iter()
        .flat_map(|task| task.scope.iter().flat_map(|item| item.targets.iter().cloned()))
        .collect();
    targets.sort();
    targets.dedup();
    targets
}

/// The requests on `target` that a shorter ttl turns into `task_expired` denials: those of
/// task `kind` that the old version allows or escalates, made between the new ttl and
/// the old one after the task's start. The example is a request the old version decides
/// so, moved to the instant the new ttl ends (the new deadline is exclusive), and
/// replayed through both versions.
fn expired_changes(
    old: &PolicySet,
    new: &PolicySet,
    (kind, before, after): (&str, Option<i64>, i64),
    target: &Target,
    options: &ProveOptions,
) -> Result<Vec<Change>, OverBudget> {
    if old.plan().partition(&target.action, target.resource.as_deref()).is_none() {
        return Ok(Vec::new());
    }
    let mut analysis = Analysis::new(old, target, options)?;
    let of_kind = analysis.condition(&crate::hir::HExpr::TaskIs(kind.into()))?;
    let late = match before {
        Some(before) => format!(
            "the request comes between {} and {} after the task's start",
            ttl_text(Some(after)),
            ttl_text(Some(before))
        ),
        None => format!("the request comes {} or more after the task's start", ttl_text(Some(after))),
    };
    let mut changes = Vec::new();
    for from in [Outcome::Allow, Outcome::Escalate] {
        let decided = analysis.decided(|outcome, _| outcome == from)?;
        let changed = analysis.and(decided, of_kind)?;
        let paths = analysis.paths(changed, &[]);
        if paths.is_empty() {
            continue;
        }
        let mut example = None;
        let mut attempts = options.max_witness_attempts;
        paths.each(&mut |plan, constraints| {
            attempts = attempts.saturating_sub(1);
            example = witness::build(old, plan, target, constraints)
                .and_then(|(doc, _)| expired_example(old, new, doc, after, from));
            if example.is_some() || attempts == 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        changes.push(Change {
            action: target.action.clone(),
            resource: target.resource.clone(),
            from,
            to: Outcome::Deny,
            when: vec![vec![format!("task is {kind}"), late.clone()]],
            paths: 1,
            example,
        });
    }
    Ok(changes)
}

/// `doc` moved to the instant the new ttl ends, if the old version still decides it
/// `from` and the new one denies it as expired.
fn expired_example(
    old: &PolicySet,
    new: &PolicySet,
    mut doc: RequestDoc,
    ttl: i64,
    from: Outcome,
) -> Option<RequestDoc> {
    use crate::syntax::literal::{parse_timestamp, timestamp_text};
    let task = doc.task.as_mut()?;
    let start = parse_timestamp(&task.start).ok()?;
    let at = start.checked_add(ttl)?;
    let declared = parse_timestamp(&task.deadline).ok()?;
    if declared <= at {
        task.deadline = timestamp_text(at.checked_add(1_000_000_000)?);
    }
    doc.context.insert("time".to_string(), serde_json::Value::String(timestamp_text(at)));
    let decide = |set: &PolicySet| {
        let decision = set.decide(&set.prepare_at(&doc, at).ok()?);
        super::completed(&decision).then_some(decision)
    };
    let (before, after) = (decide(old)?, decide(new)?);
    let expired = after.reasons.first().is_some_and(|reason| reason.code == "task_expired");
    (before.decision == from && after.decision == Outcome::Deny && expired).then_some(doc)
}

fn ttl_text(ttl: Option<i64>) -> String {
    ttl.map_or_else(|| "none".to_string(), crate::syntax::literal::duration_text)
}

const TRANSITIONS: [(Outcome, Outcome); 6] = [
    (Outcome::Deny, Outcome::Allow),
    (Outcome::Escalate, Outcome::Allow),
    (Outcome::Deny, Outcome::Escalate),
    (Outcome::Allow, Outcome::Escalate),
    (Outcome::Allow, Outcome::Deny),
    (Outcome::Escalate, Outcome::Deny),
];

/// Every request whose decision differs between `old` and `new`.
pub fn diff(old: &PolicySet, new: &PolicySet, options: &ProveOptions) -> DiffReport {
    let started = Instant::now();
    let mut targets: Vec<Target> =
        old.plan().partitions.iter().chain(&new.plan().partitions).map(|partition| partition.target.clone()).collect();
    targets.sort();
    targets.dedup();
    let mut report = DiffReport { changes: Vec::new(), unknown: Vec::new(), elapsed: Duration::ZERO };
    report.unknown.extend(schema_differences(old, new));
    report.unknown.extend(longer_tasks(old, new));
    for (kind, before, after) in shorter_tasks(old, new) {
        for target in task_targets(new, kind) {
            match expired_changes(old, new, (kind, before, after), &target, options) {
                Ok(changes) => report.changes.extend(changes),
                Err(OverBudget) => report.unknown.push(format!(
                    "budget exceeded: the shorter ttl of task `{kind}` on {} needs more than {} diagram nodes or {} steps",
                    target_text(&target),
                    options.max_nodes,
                    options.max_work
                )),
            }
        }
    }
    for target in targets {
        match diff_target(old, new, &target, options) {
            Ok(changes) => report.changes.extend(changes),
            Err(OverBudget) => report.unknown.push(format!(
                "budget exceeded: comparing {} needs more than {} diagram nodes or {} steps",
                target_text(&target),
                options.max_nodes,
                options.max_work
            )),
        }
    }
    report.elapsed = started.elapsed();
    report
}

fn diff_target(
    old: &PolicySet,
    new: &PolicySet,
    target: &Target,
    options: &ProveOptions,
) -> Result<Vec<Change>, OverBudget> {
    let mut analysis = Analysis::new(new, target, options)?;
    let before = analysis.summary_of(old)?;
    let old_covered = old.plan().partition(&target.action, target.resource.as_deref()).is_some();
    let mut changes = Vec::new();
    for (from, to) in TRANSITIONS {
        let was = analysis.decided_in(before, old_covered, |outcome, _| outcome == from)?;
        let becomes = analysis.decided(|outcome, _| outcome == to)?;
        let changed = analysis.and(was, becomes)?;
        let paths = analysis.paths(changed, &[]);
        if paths.is_empty() {
            continue;
        }
        let mut when = Vec::new();
        let mut example = None;
        let mut attempts = options.max_witness_attempts;
        let complete = paths.each(&mut |plan, constraints| {
            if when.len() < MOST_PATHS_SHOWN {
                when.push(path_text(plan, constraints));
            }
            if example.is_none() && attempts > 0 {
                attempts -= 1;
                example = confirmed(old, new, plan, target, constraints, (from, to));
            }
            if when.len() >= MOST_PATHS_SHOWN && (example.is_some() || attempts == 0) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if when.is_empty() && complete {
            // Every path contradicts a comparison between attributes: nothing changes.
            continue;
        }
        if when.is_empty() {
            // The walk gave up before it reached a path that can happen: a possible change.
            when.push(vec!["conditions the prover could not enumerate within its limits".to_string()]);
        }
        changes.push(Change {
            action: target.action.clone(),
            resource: target.resource.clone(),
            from,
            to,
            when,
            paths: paths.count(),
            example,
        });
    }
    Ok(changes)
}

/// A request built for a path that `old` decides `from` and `new` decides `to`.
fn confirmed(
    old: &PolicySet,
    new: &PolicySet,
    plan: &crate::compile::plan::Plan,
    target: &Target,
    constraints: &super::Constraints,
    (from, to): (Outcome, Outcome),
) -> Option<RequestDoc> {
    let (doc, now) = witness::build(new, plan, target, constraints)?;
    let decide = |set: &PolicySet| {
        let decision = set.decide(&set.prepare_at(&doc, now).ok()?);
        super::completed(&decision).then_some(decision.decision)
    };
    (decide(old)? == from && decide(new)? == to).then_some(doc)
}
