//! Lints that come from the prover's diagrams: policies that never apply, always apply,
//! never take effect (shadowed), add nothing (redundant), permits that overlap a forbid,
//! and tasks under which nothing is ever allowed.
//!
//! Each is a question about one policy's condition `P` against its pair's decision
//! diagram, answered for every pair the policy targets:
//! - never applies: `P` has no feasible path;
//! - always applies: `¬P` has none (and `P` is not literally `true`);
//! - shadowed (a permit or an escalation): `P ∧ outcome is its effect` has none;
//! - redundant: `P ∧ exactly one policy of its effect matches` has none, so wherever it
//!   matches another one does too;
//! - overlap (a permit): `P ∧ some forbid matches` has a path, and a request built for it
//!   matches both in the evaluator.
//!
//! Tests are treated as free, so a path may stand for no request: the lints that say
//! "never" or "always" hold a fortiori. An overlap says "some request", so it is reported
//! only with a request the evaluator confirms; the names in messages come from such
//! requests too.

use std::ops::ControlFlow;

use petgraph::stable_graph::NodeIndex;

use super::analysis::Analysis;
use super::{witness, Analyses, ProveOptions, Verdict};
use crate::compile::diagram::OverBudget;
use crate::diagnostics::Severity;
use crate::eval::decision::{Decision, Outcome};
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::{HExpr, Policy, Target};
use crate::syntax::ast::Effect;

/// One lint about a policy.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The lint's name: `never_applies`, `always_applies`, `shadowed`, `redundant`,
    /// `overlap` or `task_grants_nothing`.
    pub lint: &'static str,
    pub severity: Severity,
    /// What the lint is about.
    pub subject: Subject,
    pub message: String,
    pub help: String,
    /// Other policies involved, by index.
    pub related: Vec<usize>,
    /// For an overlap: a request both policies match.
    pub example: Option<RequestDoc>,
}

/// What a lint is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A policy, by index in the package's HIR.
    Policy(usize),
    /// A task kind.
    Task(String),
}

/// What the diagrams say about one policy, over every pair it targets.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// Some request matches it.
    applies: bool,
    /// Some request it matches does not hold for it: it does not always apply.
    sometimes_not: bool,
    /// Some request it matches gets its effect's outcome.
    takes_effect: bool,
    /// Some request it matches is matched by no other policy of its effect.
    alone_somewhere: bool,
    /// A request it matches that some forbid matches too (a permit's overlap).
    overlap: Option<(Target, NodeIndex)>,
    /// A pair could not be analysed: then nothing is said.
    incomplete: bool,
}

/// Every lint for the package, in policy order. The standard library's policies are
/// left out: they are dormant until a package declares what they target, and cannot be
/// edited where they are.
pub fn lints(analyses: &mut Analyses<'_>) -> Vec<Finding> {
    let set = analyses.set;
    let mut findings = Vec::new();
    for (index, policy) in set.hir().policies.iter().enumerate() {
        if policy.origin.file.starts_with("<std>") {
            continue;
        }
        let mut seen = Seen::default();
        for target in &policy.targets {
            let verdict = analyses.with(target, |analysis, _| {
                observe(analysis, policy, &mut seen)?;
                Ok(Verdict::Proved)
            });
            seen.incomplete |= matches!(verdict, Verdict::Unknown { .. });
        }
        if !seen.incomplete {
            findings.extend(judge(analyses, index, policy, &seen));
        }
    }
    findings.extend(tasks_granting_nothing(analyses));
    findings
}

/// Tasks under which no request is ever allowed: declared, but no permit serves them (or
/// every permit that could is overridden). Said only when every pair was analysed.
fn tasks_granting_nothing(analyses: &mut Analyses<'_>) -> Vec<Finding> {
    let set = analyses.set;
    let mut findings = Vec::new();
    for task in set.hir().tasks.values() {
        let mut served = false;
        let mut complete = true;
        for target in analyses.partitions() {
            if served {
                break;
            }
            let verdict = analyses.with(&target, |analysis, _| {
                let kind = analysis.condition(&HExpr::TaskIs(task.name.as_str().into()))?;
                let allowed = analysis.outcome_is(Outcome::Allow)?;
                let both = analysis.and(kind, allowed)?;
                served = !analysis.is_false(both) && !analysis.paths(both, &[]).is_empty();
                Ok(Verdict::Proved)
            });
            complete &= !matches!(verdict, Verdict::Unknown { .. });
        }
        if !served && complete {
            findings.push(Finding {
                lint: "task_grants_nothing",
                severity: Severity::Warning,
                subject: Subject::Task(task.name.clone()),
                message: format!("task `{}` grants nothing: no request made for it is ever allowed", task.name),
                help: "add a permit for the task's scope, or remove the task".to_string(),
                related: Vec::new(),
                example: None,
            });
        }
    }
    findings
}

/// What one pair's diagrams say about the policy.
fn observe(analysis: &mut Analysis<'_>, policy: &Policy, seen: &mut Seen) -> Result<(), OverBudget> {
    let holds = analysis.condition(&policy.condition)?;
    let feasible = |analysis: &mut Analysis<'_>, node: NodeIndex| -> bool {
        !analysis.is_false(node) && !analysis.paths(node, &[]).is_empty()
    };
    if !feasible(analysis, holds) {
        // On this pair it never holds, so it does not always hold.
        seen.sometimes_not = true;
        return Ok(());
    }
    seen.applies = true;
    let fails = analysis.not(holds)?;
    seen.sometimes_not |= feasible(analysis, fails);
    let own = match policy.effect {
        Effect::Permit => Outcome::Allow,
        Effect::Escalate => Outcome::Escalate,
        Effect::Forbid => Outcome::Deny,
    };
    let effective = analysis.outcome_is(own)?;
    let effective = analysis.and(holds, effective)?;
    seen.takes_effect |= feasible(analysis, effective);
    let alone = analysis.matched_once(policy.effect)?;
    let alone = analysis.and(holds, alone)?;
    seen.alone_somewhere |= feasible(analysis, alone);
    if policy.effect == Effect::Permit && seen.overlap.is_none() {
        let forbidden = analysis.forbidden_by_package()?;
        let both = analysis.and(holds, forbidden)?;
        if feasible(analysis, both) {
            seen.overlap = Some((analysis.target.clone(), both));
        }
    }
    Ok(())
}

/// The lints a policy earns from what was seen, most telling first: at most one of
/// never applies, shadowed and redundant, and always applies or an overlap beside it.
fn judge(analyses: &mut Analyses<'_>, index: usize, policy: &Policy, seen: &Seen) -> Vec<Finding> {
    if !seen.applies {
        return vec![never_applies(index, policy)];
    }
    let mut findings = Vec::new();
    if !seen.sometimes_not && !only_task_guards(&policy.condition) {
        findings.push(policy_finding(
            "always_applies",
            index,
            format!("the conditions of {} `{}` always hold", policy.effect.keyword(), policy.name),
            "a condition that is always true restricts nothing; check that it says what was meant",
        ));
    }
    if policy.effect != Effect::Forbid && !seen.takes_effect {
        findings.push(shadowed(analyses, index, policy));
        return findings;
    }
    if !seen.alone_somewhere {
        findings.push(redundant(analyses, index, policy));
    }
    if let Some((target, both)) = &seen.overlap {
        findings.extend(overlap(analyses, index, policy, target, *both));
    }
    findings
}

/// Whether a condition is nothing but `task is K` guards (or nothing at all). Such a
/// guard always holds in a package with one task kind, and it is what keeps the policy
/// right when a second kind arrives: not a condition that says nothing.
fn only_task_guards(condition: &HExpr) -> bool {
    match condition {
        HExpr::And(left, right) => only_task_guards(left) && only_task_guards(right),
        HExpr::TaskIs(_) => true,
        other => *other == HExpr::TRUE,
    }
}

/// A warning about policy `index`, without related policies or an example yet.
fn policy_finding(lint: &'static str, index: usize, message: String, help: &str) -> Finding {
    Finding {
        lint,
        severity: Severity::Warning,
        subject: Subject::Policy(index),
        message,
        help: help.to_string(),
        related: Vec::new(),
        example: None,
    }
}

fn never_applies(index: usize, policy: &Policy) -> Finding {
    let why = if policy.targets.is_empty() {
        "it targets no declared action"
    } else {
        "no request satisfies all its conditions"
    };
    policy_finding(
        "never_applies",
        index,
        format!("{} `{}` never applies: {why}", policy.effect.keyword(), policy.name),
        "its conditions contradict each other; fix them or remove the policy",
    )
}

/// A permit or escalation that never takes effect, naming who decides its requests in
/// an example.
fn shadowed(analyses: &mut Analyses<'_>, index: usize, policy: &Policy) -> Finding {
    let example = example_decision(analyses, policy);
    let deciding =
        example.iter().flat_map(|decision| decision.policies.forbid.iter().chain(&decision.policies.escalate));
    let (names, related) = other_policies(analyses.set, index, deciding);
    let by = if names.is_empty() { String::new() } else { format!(", such as {names}") };
    let mut finding = policy_finding(
        "shadowed",
        index,
        format!(
            "{} `{}` never takes effect: every request it matches is decided by a forbid, an escalation or its task's checks{by}",
            policy.effect.keyword(),
            policy.name
        ),
        "narrow the overriding policies, or remove this one",
    );
    finding.related = related;
    finding
}

/// A policy whose every request another of its effect matches, naming one from an
/// example.
fn redundant(analyses: &mut Analyses<'_>, index: usize, policy: &Policy) -> Finding {
    let example = example_decision(analyses, policy);
    let same = example.iter().flat_map(|decision| match policy.effect {
        Effect::Permit => &decision.policies.permit,
        Effect::Escalate => &decision.policies.escalate,
        Effect::Forbid => &decision.policies.forbid,
    });
    let (names, related) = other_policies(analyses.set, index, same);
    let effect = policy.effect.keyword();
    let by = if names.is_empty() { format!("other {effect}s") } else { names };
    let mut finding = policy_finding(
        "redundant",
        index,
        format!("{effect} `{}` is redundant: every request it matches is also matched by {by}", policy.name),
        "removing it changes no decision (only obligations such as a grant's ttl may differ)",
    );
    finding.related = related;
    finding
}

/// Up to three policies by name, other than `index`: as text, and by index.
fn other_policies<'n>(
    set: &PolicySet,
    index: usize,
    names: impl Iterator<Item = &'n std::sync::Arc<str>>,
) -> (String, Vec<usize>) {
    let policies = &set.hir().policies;
    let related: Vec<usize> = names
        .filter_map(|name| policies.iter().position(|other| *other.name == **name))
        .filter(|other| *other != index)
        .take(3)
        .collect();
    let text = related
        .iter()
        .filter_map(|other| policies.get(*other))
        .map(|other| format!("`{}`", other.name))
        .collect::<Vec<_>>()
        .join(", ");
    (text, related)
}

/// The decision of some request the policy matches, if one can be built.
fn example_decision(analyses: &mut Analyses<'_>, policy: &Policy) -> Option<Decision> {
    // Naming the other policies costs a decision per finding; past a few hundred
    // findings the messages say "other permits" instead, so a package with thousands of
    // redundant policies is still linted in time proportional to its size.
    if analyses.examples_left == 0 {
        return None;
    }
    analyses.examples_left -= 1;
    let target = policy.targets.first()?.clone();
    let mut found = None;
    let set = analyses.set;
    analyses.with(&target, |analysis, options| {
        let holds = analysis.condition(&policy.condition)?;
        found = first_confirmed(analysis, holds, options, &mut |doc, now| {
            let decision = set.decide(&set.prepare_at(doc, now).ok()?);
            decision.policies.matched(&policy.name).then_some(decision)
        })
        .map(|(_, decision)| decision);
        Ok(Verdict::Proved)
    });
    found
}

/// A confirmed overlap with a forbid of the package (the standard library's guardrails
/// overlap every permit by design).
fn overlap(
    analyses: &mut Analyses<'_>,
    index: usize,
    policy: &Policy,
    target: &Target,
    both: NodeIndex,
) -> Option<Finding> {
    let set = analyses.set;
    let mut found = None;
    analyses.with(target, |analysis, options| {
        found = first_confirmed(analysis, both, options, &mut |doc, now| {
            let decision = set.decide(&set.prepare_at(doc, now).ok()?);
            let forbid = decision.policies.forbid.iter().find(|name| {
                set.hir().policies.iter().any(|other| other.name == ***name && !other.origin.file.starts_with("<std>"))
            })?;
            decision.policies.matched(&policy.name).then(|| forbid.to_string())
        });
        Ok(Verdict::Proved)
    });
    let (example, forbid) = found?;
    let other = set.hir().policies.iter().position(|other| other.name == forbid)?;
    Some(Finding {
        lint: "overlap",
        severity: Severity::Info,
        subject: Subject::Policy(index),
        message: format!("permit `{}` overlaps forbid `{forbid}`: where both match, the forbid wins", policy.name),
        help: "intended when the forbid carves an exception out of the permit".to_string(),
        related: vec![other],
        example: Some(example),
    })
}

/// The first request built for a path of `node` that `accept` takes, with what it says.
pub(super) fn first_confirmed<T>(
    analysis: &Analysis<'_>,
    node: NodeIndex,
    options: &ProveOptions,
    accept: &mut dyn FnMut(&RequestDoc, i64) -> Option<T>,
) -> Option<(RequestDoc, T)> {
    let set: &PolicySet = analysis.set();
    let mut attempts = options.max_witness_attempts;
    let mut found = None;
    analysis.paths(node, &[]).each(&mut |plan, constraints| {
        attempts = attempts.saturating_sub(1);
        found = witness::build(set, plan, &analysis.target, constraints)
            .and_then(|(doc, now)| accept(&doc, now).map(|value| (doc, value)));
        if found.is_some() || attempts == 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}
