//! Lints that come from the prover's diagrams: policies that never apply, always apply,
//! never take effect (shadowed), add nothing (redundant), and permits that overlap a
//! forbid.
//!
//! Each pair's rules diagram lists, at its leaves, every combination of rules that can
//! match one request together (tests treated as free, so possibly a few combinations no
//! request produces, never fewer). The lints that say "never" or "always" read those
//! leaves and are therefore sound: if a policy is in no leaf, no request matches it. An
//! overlap says "some request", so it is reported only with a request that the
//! evaluator confirms matches both policies.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use super::analysis::{outcome_of, Analysis};
use super::{witness, Analyses, ProveOptions};
use crate::compile::diagram::MARK;
use crate::compile::plan::RuleKind;
use crate::diagnostics::Severity;
use crate::eval::decision::Outcome;
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::HExpr;
use crate::syntax::ast::Effect;

/// One lint about a policy.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The lint's name: `never_applies`, `always_applies`, `shadowed`, `redundant` or
    /// `overlap`.
    pub lint: &'static str,
    pub severity: Severity,
    /// The policy, by index in the package's HIR.
    pub policy: usize,
    pub message: String,
    pub help: String,
    /// Other policies involved, by index.
    pub related: Vec<usize>,
    /// For an overlap: a request both policies match.
    pub example: Option<RequestDoc>,
}

/// What the leaves say about one policy, over every pair it targets.
#[derive(Debug, Clone)]
struct Seen {
    /// In some leaf.
    applies: bool,
    /// In every leaf of every pair it targets.
    everywhere: bool,
    /// In some leaf whose decision is the policy's own effect.
    takes_effect: bool,
    /// In every leaf with it, another policy of the same effect; the ones in all of them.
    companions: Option<BTreeSet<u32>>,
    alone_somewhere: bool,
    /// The forbids (and, for a permit, escalations) in every leaf where it does not take
    /// effect.
    overriders: Option<BTreeSet<u32>>,
    /// A forbid it matches together with, for a permit.
    overlapping_forbid: Option<u32>,
    /// False if a pair it targets could not be analysed: then nothing is said.
    complete: bool,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            applies: false,
            everywhere: true,
            takes_effect: false,
            companions: None,
            alone_somewhere: false,
            overriders: None,
            overlapping_forbid: None,
            complete: true,
        }
    }
}

/// Every lint for the package, in policy order.
pub fn lints(analyses: &mut Analyses<'_>) -> Vec<Finding> {
    let set = analyses.set;
    let count = set.hir().policies.len();
    let mut seen = vec![Seen::default(); count];
    for target in analyses.partitions() {
        let mut leaves = None;
        analyses.with(&target, |analysis, _| {
            leaves = Some(analysis.feasible_leaves());
            Ok(super::Verdict::Proved)
        });
        let in_pair = |index: &usize| set.hir().policies.get(*index).is_some_and(|p| p.targets.contains(&target));
        for index in (0..count).filter(in_pair) {
            let Some(slot) = seen.get_mut(index) else { continue };
            match &leaves {
                Some(leaves) => observe(set, slot, index as u32, leaves),
                None => slot.complete = false,
            }
        }
    }
    let mut findings = Vec::new();
    for (index, slot) in seen.iter().enumerate() {
        let Some(policy) = set.hir().policies.get(index) else { continue };
        // The standard library's policies are dormant until a package declares what they
        // target, and cannot be edited where they are.
        if !slot.complete || policy.origin.file.starts_with("<std>") {
            continue;
        }
        findings.extend(judge(set, index, policy, slot));
    }
    for finding in findings.iter_mut().filter(|finding| finding.lint == "overlap") {
        finding.example = overlap_example(analyses, finding.policy, finding.related.first().copied());
    }
    findings.retain(|finding| finding.lint != "overlap" || finding.example.is_some());
    findings
}

/// Updates what is known about policy `rule` from one pair's leaves.
fn observe(set: &PolicySet, seen: &mut Seen, rule: u32, leaves: &[Vec<u32>]) {
    let plan = set.plan();
    let effect_of = |rule: u32| match plan.rules.get(rule as usize).map(|rule| &rule.kind) {
        Some(RuleKind::Policy { effect, .. }) => Some(*effect),
        _ => None,
    };
    let Some(effect) = effect_of(rule) else { return };
    for leaf in leaves {
        if !leaf.contains(&rule) {
            seen.everywhere = false;
            continue;
        }
        seen.applies = true;
        let (outcome, _) = outcome_of(plan, true, leaf);
        let own = match effect {
            Effect::Permit => Outcome::Allow,
            Effect::Escalate => Outcome::Escalate,
            Effect::Forbid => Outcome::Deny,
        };
        let others: BTreeSet<u32> =
            leaf.iter().copied().filter(|other| *other != rule && effect_of(*other) == Some(effect)).collect();
        seen.alone_somewhere |= others.is_empty();
        seen.companions = Some(intersect(seen.companions.take(), others));
        if outcome == own {
            seen.takes_effect = true;
        } else {
            let overriders: BTreeSet<u32> = leaf
                .iter()
                .copied()
                .filter(|other| match effect_of(*other) {
                    Some(Effect::Forbid) => true,
                    Some(Effect::Escalate) => effect == Effect::Permit,
                    _ => false,
                })
                .collect();
            seen.overriders = Some(intersect(seen.overriders.take(), overriders));
        }
        if effect == Effect::Permit && seen.overlapping_forbid.is_none() {
            // The standard library's guardrails overlap every permit by design.
            let from_package = |other: &u32| match plan.rules.get(*other as usize).map(|rule| &rule.kind) {
                Some(RuleKind::Policy { effect: Effect::Forbid, origin, .. }) => !origin.file.starts_with("<std>"),
                _ => false,
            };
            seen.overlapping_forbid = leaf.iter().copied().find(from_package);
        }
    }
}

fn intersect(known: Option<BTreeSet<u32>>, more: BTreeSet<u32>) -> BTreeSet<u32> {
    match known {
        Some(known) => known.intersection(&more).copied().collect(),
        None => more,
    }
}

/// The lints a policy earns from what was seen, most telling first; at most one of
/// never applies, always applies, shadowed and redundant.
fn judge(set: &PolicySet, index: usize, policy: &crate::hir::Policy, seen: &Seen) -> Vec<Finding> {
    let name =
        |rule: u32| set.plan().rules.get(rule as usize).map(|rule| format!("`{}`", rule.name)).unwrap_or_default();
    let names = |rules: &BTreeSet<u32>| rules.iter().map(|rule| name(*rule)).collect::<Vec<_>>().join(", ");
    let finding = |lint, severity, message: String, help: &str, related: Vec<usize>| Finding {
        lint,
        severity,
        policy: index,
        message,
        help: help.to_string(),
        related,
        example: None,
    };
    let effect = policy.effect.keyword();
    let mut findings = Vec::new();
    if !seen.applies {
        let why = if policy.targets.is_empty() {
            "it targets no declared action"
        } else {
            "no request satisfies all its conditions"
        };
        findings.push(finding(
            "never_applies",
            Severity::Warning,
            format!("{effect} `{}` never applies: {why}", policy.name),
            "its conditions contradict each other or the task scopes; fix them or remove the policy",
            Vec::new(),
        ));
        return findings;
    }
    if seen.everywhere && policy.condition != HExpr::TRUE {
        findings.push(finding(
            "always_applies",
            Severity::Warning,
            format!("the conditions of {effect} `{}` always hold", policy.name),
            "a condition that is always true restricts nothing; check that it says what was meant",
            Vec::new(),
        ));
    }
    let overriders = seen.overriders.clone().unwrap_or_default();
    if policy.effect != Effect::Forbid && !seen.takes_effect {
        let by = if overriders.is_empty() {
            "forbids, escalations or its tasks' checks".to_string()
        } else {
            names(&overriders)
        };
        findings.push(finding(
            "shadowed",
            Severity::Warning,
            format!("{effect} `{}` never takes effect: every request it matches is decided by {by}", policy.name),
            "narrow the overriding policies, or remove this one",
            overriders.iter().map(|rule| *rule as usize).collect(),
        ));
        return findings;
    }
    if !seen.alone_somewhere {
        let companions = seen.companions.clone().unwrap_or_default();
        let by = if companions.is_empty() { format!("other {effect}s") } else { names(&companions) };
        findings.push(finding(
            "redundant",
            Severity::Warning,
            format!("{effect} `{}` is redundant: every request it matches is also matched by {by}", policy.name),
            "removing it changes no decision (only obligations such as a grant's ttl may differ)",
            companions.iter().map(|rule| *rule as usize).collect(),
        ));
    }
    if let Some(forbid) = seen.overlapping_forbid {
        findings.push(finding(
            "overlap",
            Severity::Info,
            format!("permit `{}` overlaps forbid {}: where both match, the forbid wins", policy.name, name(forbid)),
            "intended when the forbid carves an exception out of the permit",
            vec![forbid as usize],
        ));
    }
    findings
}

/// A request that matches both policies, confirmed by the evaluator.
fn overlap_example(analyses: &mut Analyses<'_>, permit: usize, forbid: Option<usize>) -> Option<RequestDoc> {
    let set = analyses.set;
    let forbid = forbid?;
    let (policy, other) = (set.hir().policies.get(permit)?, set.hir().policies.get(forbid)?);
    let target = policy.targets.iter().find(|target| other.targets.contains(target))?.clone();
    let mut example = None;
    analyses.with(&target, |analysis: &mut Analysis<'_>, options: &ProveOptions| {
        let both = [permit as u32, forbid as u32];
        let rules = analysis.rules();
        let mut label =
            |rules: &[u32]| if both.iter().all(|rule| rules.contains(rule)) { vec![MARK] } else { Vec::new() };
        let overlap = analysis.relabel(rules, &mut label)?;
        let mut attempts = options.max_witness_attempts;
        analysis.paths(overlap, &[]).each(&mut |plan, constraints| {
            attempts = attempts.saturating_sub(1);
            example = witness::build(set, plan, &target, constraints).and_then(|(doc, now)| {
                let decision = set.decide(&set.prepare_at(&doc, now).ok()?);
                let matched = |name: &str| {
                    decision.policies.permit.iter().chain(&decision.policies.forbid).any(|own| &**own == name)
                };
                (matched(&policy.name) && matched(&other.name)).then_some(doc)
            });
            if example.is_some() || attempts == 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        Ok(super::Verdict::Proved)
    });
    example
}
