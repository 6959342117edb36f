//! Example requests for each policy, from the prover's witnesses: one where the policy
//! applies and determines the decision, and near misses, each failing exactly one of
//! the policy's conditions. `mandate test --generate` turns them into test requests for
//! the author to review and keep.

use petgraph::stable_graph::NodeIndex;

use super::analysis::Analysis;
use super::lint::first_confirmed;
use super::{Analyses, ProveOptions, Verdict};
use crate::compile::diagram::OverBudget;
use crate::eval::decision::{Decision, Outcome};
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::{HExpr, Policy};
use crate::syntax::ast::Effect;

/// The reason codes of a near miss: decided by the permits and escalations alone, past
/// the task's checks and with no forbid in the way.
const NEAR_MISS_REASONS: [&str; 3] = ["permitted", "no_permit", "escalated"];

/// A request and the decision it gets.
#[derive(Debug, Clone)]
pub struct Example {
    pub request: RequestDoc,
    pub decision: Decision,
}

/// One policy's examples.
#[derive(Debug, Clone)]
pub struct PolicyExamples {
    pub policy: String,
    /// A request where the policy applies and is among those that determine the
    /// decision; `None` when the prover finds none (the policy never takes effect).
    pub decides: Option<Example>,
    /// Requests where all of the policy's conditions hold but one, which fails: the
    /// condition, as written, and the request.
    pub near_misses: Vec<(String, Example)>,
}

/// The examples of every policy of the package's own files (not the standard library's).
pub fn policy_examples(set: &PolicySet, options: &ProveOptions) -> Vec<PolicyExamples> {
    let mut analyses = Analyses::new(set, *options);
    set.hir()
        .policies
        .iter()
        .filter(|policy| set.sources().iter().any(|(file, _)| **file == *policy.origin.file))
        .map(|policy| examples_of(&mut analyses, policy))
        .collect()
}

fn examples_of(analyses: &mut Analyses<'_>, policy: &Policy) -> PolicyExamples {
    let decides = decides(analyses, policy);
    let conjuncts = conjuncts(&policy.condition);
    let near_misses = (0..conjuncts.len())
        .filter_map(|index| {
            let failed = conjuncts.get(index)?;
            let others = conjuncts.iter().enumerate().filter(|(other, _)| *other != index).map(|(_, c)| (*c).clone());
            let rest = others.reduce(|a, b| HExpr::And(Box::new(a), Box::new(b))).unwrap_or(HExpr::TRUE);
            let near = HExpr::And(Box::new(rest), Box::new(HExpr::Not(Box::new((*failed).clone()))));
            // The task's checks pass and no forbid decides it: what is missing is the
            // one condition.
            let within = |analysis: &mut Analysis<'_>| {
                let holds = analysis.condition(&near)?;
                let clean = analysis.decided(|_, code| NEAR_MISS_REASONS.contains(&code))?;
                analysis.and(holds, clean)
            };
            let example = confirmed(analyses, policy, &within, &|decision| !decision.policies.matched(&policy.name))?;
            Some((failed.to_string(), example))
        })
        .collect();
    PolicyExamples { policy: policy.name.clone(), decides, near_misses }
}

/// A request where `policy` applies and determines the decision.
fn decides(analyses: &mut Analyses<'_>, policy: &Policy) -> Option<Example> {
    let own = match policy.effect {
        Effect::Permit => Outcome::Allow,
        Effect::Forbid => Outcome::Deny,
        Effect::Escalate => Outcome::Escalate,
    };
    let name = policy.name.as_str();
    let takes_effect = |analysis: &mut Analysis<'_>| {
        let holds = analysis.condition(&policy.condition)?;
        let outcome = analysis.outcome_is(own)?;
        analysis.and(holds, outcome)
    };
    confirmed(analyses, policy, &takes_effect, &|decision| {
        decision.decision == own && crate::eval::tests::determining(decision).contains(&name)
    })
}

/// The requests of a pair that an example is sought among.
type Region<'r> = dyn Fn(&mut Analysis<'_>) -> Result<NodeIndex, OverBudget> + 'r;

/// A request on one of the policy's targets in the `region` of its pair's diagram,
/// decided as `accept` wants, found among the prover's witnesses.
fn confirmed(
    analyses: &mut Analyses<'_>,
    policy: &Policy,
    region: &Region<'_>,
    accept: &dyn Fn(&Decision) -> bool,
) -> Option<Example> {
    let set = analyses.set;
    let mut found = None;
    for target in &policy.targets {
        analyses.with(target, |analysis, options| {
            let holds = region(analysis)?;
            found = first_confirmed(analysis, holds, options, &mut |doc, now| {
                let decision = set.decide(&set.prepare_at(doc, now).ok()?);
                accept(&decision).then_some(decision)
            })
            .map(|(request, decision)| Example { request, decision });
            Ok(Verdict::Proved)
        });
        if found.is_some() {
            break;
        }
    }
    found
}

/// The conditions a policy's condition is the conjunction of.
fn conjuncts(condition: &HExpr) -> Vec<&HExpr> {
    match condition {
        HExpr::And(left, right) => {
            let mut parts = conjuncts(left);
            parts.extend(conjuncts(right));
            parts
        }
        other if *other == HExpr::TRUE => Vec::new(),
        other => vec![other],
    }
}
