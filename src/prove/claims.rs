//! The theorems that are claims about single requests: that the compiled graph decides
//! as the policies say, declared assertions and bounds, bounds over task declarations,
//! intent containment, permits within their tasks' scopes, and delegation within the
//! tasks' limits.

use std::time::Instant;

use super::analysis::Analysis;
use super::{confirm, first_refutation, refute, witness, Analyses, Claim, ProveOptions, Report, Verdict};
use crate::compile::diagram::OverBudget;
use crate::compile::plan::Gate;
use crate::compile::{self};
use crate::eval::decide::Found;
use crate::eval::decision::Outcome;
use crate::eval::expr::Evaluator;
use crate::hir::{Bound, HExpr, ScopeItem, Target};
use crate::syntax::ast::Effect;

/// Every assertion and bound, in that order.
pub fn declarations(analyses: &mut Analyses<'_>) -> Vec<Report> {
    let hir = analyses.set.hir();
    let mut reports = Vec::new();
    for assertion in &hir.assertions {
        let started = Instant::now();
        let claim = Claim { effect: assertion.effect, condition: assertion.condition.clone() };
        let claims: Vec<(Target, Claim)> =
            assertion.targets.iter().map(|target| (target.clone(), claim.clone())).collect();
        let verdict = check_claims(analyses, &claims);
        reports.push(Report::new("assertion", &assertion.name, Some(&assertion.origin), verdict, started));
    }
    for bound in &hir.bounds {
        let started = Instant::now();
        let claims = bound_claims(analyses, bound);
        let verdict = check_claims(analyses, &claims);
        reports.push(Report::new("bound", &bound.name, Some(&bound.origin), verdict, started));
    }
    reports
}

/// The claims, each on its pair; the first refutation wins.
fn check_claims(analyses: &mut Analyses<'_>, claims: &[(Target, Claim)]) -> Verdict {
    first_refutation(claims.iter().map(|(target, claim)| check_claim(analyses, target, claim)))
}

/// No request on `target` for which the claim's condition holds gets its outcome.
fn check_claim(analyses: &mut Analyses<'_>, target: &Target, claim: &Claim) -> Verdict {
    check_claim_on(analyses, target, claim, false)
}

/// Like [`check_claim`]; with `compiled`, on the diagrams the evaluator walks rather than
/// on the policies' conditions.
fn check_claim_on(analyses: &mut Analyses<'_>, target: &Target, claim: &Claim, compiled: bool) -> Verdict {
    let set = analyses.set;
    analyses.with(target, |analysis, options| {
        let condition = analysis.condition(&claim.condition)?;
        let violates = |outcome, code: &str| super::violates(claim.effect, outcome, code);
        let bad = if compiled {
            let (graph, covered) = (analysis.compiled()?, analysis.covered());
            analysis.decided_in(graph, covered, violates)?
        } else {
            analysis.decided(violates)?
        };
        let violating = analysis.and(condition, bad)?;
        Ok(refute(&analysis.paths(violating, &[]), options, |plan, constraints| {
            let (doc, now) = witness::build(set, plan, target, constraints)?;
            let decision = confirm(set, claim, &doc, now, true)?;
            Some(Verdict::refuted(doc, decision))
        }))
    })
}

/// Some request on `target` satisfies `condition`, whatever its decision.
fn check_satisfiable(analyses: &mut Analyses<'_>, target: &Target, condition: &HExpr) -> Verdict {
    let set = analyses.set;
    let claim = Claim { effect: Effect::Permit, condition: condition.clone() };
    analyses.with(target, |analysis, options| {
        let holds = analysis.condition(condition)?;
        Ok(refute(&analysis.paths(holds, &[]), options, |plan, constraints| {
            let (doc, now) = witness::build(set, plan, target, constraints)?;
            let decision = confirm(set, &claim, &doc, now, false)?;
            Some(Verdict::refuted(doc, decision))
        }))
    })
}

/// A bound as claims: on every pair the policies cover, nothing it applies to is allowed
/// outside its scope.
fn bound_claims(analyses: &Analyses<'_>, bound: &Bound) -> Vec<(Target, Claim)> {
    analyses
        .partitions()
        .into_iter()
        .map(|target| {
            let outside = HExpr::and(bound.applies.clone(), HExpr::negate(within(&bound.scope, &target)));
            (target, Claim { effect: Effect::Permit, condition: outside })
        })
        .collect()
}

/// Whether a request on `target` is inside a scope: any item naming the pair holds.
fn within(scope: &[ScopeItem], target: &Target) -> HExpr {
    scope
        .iter()
        .filter(|item| item.targets.contains(target))
        .fold(HExpr::FALSE, |any, item| HExpr::or(any, item.condition.clone()))
}

/// Bounds over task declarations: a task whose scope covers a request that a bound
/// on task kinds excludes is itself an over-grant, whatever the policies say. A bound
/// whose `when` reads only the task is a ceiling over task kinds; one that reads the
/// agent, the chain or the context is a ceiling over agent classes or circumstances,
/// which a task declaration does not choose, and is checked against decisions only. One
/// report per such bound and task; the task's `require` holds for every valid instance.
pub fn tasks_within_bounds(analyses: &mut Analyses<'_>) -> Vec<Report> {
    let hir = analyses.set.hir();
    let mut reports = Vec::new();
    for bound in hir.bounds.iter().filter(|bound| reads_only_the_task(&bound.applies)) {
        for task in hir.tasks.values() {
            let started = Instant::now();
            let targets = scope_targets(&task.scope);
            let kind = HExpr::and(HExpr::TaskIs(task.name.as_str().into()), task.require.clone());
            let applies = HExpr::and(kind.clone(), bound.applies.clone());
            let never_applies =
                targets.iter().all(|target| matches!(check_satisfiable(analyses, target, &applies), Verdict::Proved));
            let verdict = if targets.is_empty() {
                Verdict::NotApplicable { reason: format!("task `{}` declares no scope", task.name) }
            } else if never_applies {
                Verdict::NotApplicable {
                    reason: format!("bound `{}` never applies to a task of kind `{}`", bound.name, task.name),
                }
            } else {
                let verdicts: Vec<Verdict> = targets
                    .into_iter()
                    .map(|target| {
                        let declared = HExpr::and(kind.clone(), within(&task.scope, &target));
                        let excluded = HExpr::and(bound.applies.clone(), HExpr::negate(within(&bound.scope, &target)));
                        check_satisfiable(analyses, &target, &HExpr::and(declared, excluded))
                    })
                    .collect();
                first_refutation(verdicts.into_iter())
            };
            let name = format!("{} within {}", task.name, bound.name);
            reports.push(Report::new("task within bound", &name, Some(&task.origin), verdict, started));
        }
    }
    reports
}

/// Delegation narrowing: what a task's `delegate … narrow { … }` lets a delegated agent do
/// stays within the task's own scope, for instances whose `require` holds. (The compiled
/// delegation check conjoins the narrowing, so decisions never exceed it; this shows that
/// the narrowing, as written, narrows.) One report per task that narrows.
pub fn narrowings(analyses: &mut Analyses<'_>) -> Vec<Report> {
    let hir = analyses.set.hir();
    let mut reports = Vec::new();
    for task in hir.tasks.values() {
        let Some(narrow) = task.delegation.as_ref().and_then(|delegation| delegation.narrow.as_ref()) else { continue };
        let started = Instant::now();
        let kind = HExpr::and(HExpr::TaskIs(task.name.as_str().into()), task.require.clone());
        let verdicts: Vec<Verdict> = narrow
            .iter()
            .flat_map(|item| item.targets.iter().map(move |target| (item, target)))
            .map(|(item, target)| {
                let delegated = HExpr::and(kind.clone(), item.condition.clone());
                let outside = HExpr::and(delegated, HExpr::negate(within(&task.scope, target)));
                check_satisfiable(analyses, target, &outside)
            })
            .collect();
        let verdict = first_refutation(verdicts.into_iter());
        reports.push(Report::new("delegation narrows", &task.name, Some(&task.origin), verdict, started));
    }
    reports
}

fn reads_only_the_task(condition: &HExpr) -> bool {
    let mut only_task = true;
    condition.visit(&mut |node| {
        if let HExpr::Field(crate::hir::Base::Root(root), _) = node {
            only_task &= *root == crate::hir::Root::Task;
        }
    });
    only_task
}

fn scope_targets(scope: &[ScopeItem]) -> Vec<Target> {
    let mut targets: Vec<Target> = scope.iter().flat_map(|item| item.targets.iter().cloned()).collect();
    targets.sort();
    targets.dedup();
    targets
}

/// Budget ceilings: the runtime reserves each allowed request's amount against its task
/// instance's budget atomically and refuses a reservation past the limit, so a task's
/// total never exceeds its budget as long as no allowed request adds a negative amount
/// (one that would give back budget). That side condition is a claim about single
/// requests, proved here: no request on a budgeted action, inside the task, is allowed
/// with a negative amount. A count adds one per request and needs no proof. (The runtime
/// also refuses a negative amount, so the ceiling holds even where this is refuted; a
/// refutation shows policies that allow what the runtime will then refuse.)
pub fn budgets(analyses: &mut Analyses<'_>) -> Vec<Report> {
    let hir = analyses.set.hir();
    let mut reports = Vec::new();
    for task in hir.tasks.values() {
        for budget in &task.budgets {
            let started = Instant::now();
            let name = format!("{}: {}", task.name, budget.text);
            let Some(amount) = &budget.sum else {
                reports.push(Report::new("budget", &name, Some(&budget.origin), Verdict::Proved, started));
                continue;
            };
            let negative = HExpr::Cmp(
                crate::hir::CmpOp::Lt,
                Box::new(amount.clone()),
                Box::new(HExpr::Const(crate::hir::value::Value::Int(0))),
            );
            let inside = HExpr::and(HExpr::TaskIs(task.name.as_str().into()), task.require.clone());
            let claim = Claim { effect: Effect::Permit, condition: HExpr::and(inside, negative) };
            let claims: Vec<(Target, Claim)> = scope_targets(&task.scope)
                .into_iter()
                .filter(|target| budget.actions.contains(&target.action))
                .map(|target| (target, claim.clone()))
                .collect();
            let verdict = check_claims(analyses, &claims);
            reports.push(Report::new("budget", &name, Some(&budget.origin), verdict, started));
        }
    }
    reports
}

/// Intent containment, on the graph that runs: no request is allowed outside the declared scope
/// of its task, as the HIR states the scopes. The compiler builds the scope check into
/// the graph; this validates that translation. (That a credential never outlives its
/// task is enforced where obligations are computed: the ttl is clipped to the deadline.)
pub fn intent(analyses: &mut Analyses<'_>) -> Report {
    gate_theorem(analyses, Gate::InScope, "intent containment")
}

/// Delegation within each task's limits: no request is allowed through a chain the task's
/// `delegate` clause does not allow (too deep, or to a receiver it excludes).
pub fn delegation_limits(analyses: &mut Analyses<'_>) -> Report {
    gate_theorem(analyses, Gate::DelegationAllowed, "delegation within each task's limits")
}

/// "Nothing is allowed where the gate's condition, as the HIR states it, fails."
fn gate_theorem(analyses: &mut Analyses<'_>, gate: Gate, name: &str) -> Report {
    let started = Instant::now();
    let hir = analyses.set.hir();
    let claims: Vec<(Target, Claim)> = analyses
        .partitions()
        .into_iter()
        .map(|target| {
            let holds = compile::gate_condition(gate, hir, &target);
            (target, Claim { effect: Effect::Permit, condition: HExpr::negate(holds) })
        })
        .collect();
    let verdict = first_refutation(claims.iter().map(|(target, claim)| check_claim_on(analyses, target, claim, true)));
    Report::new("theorem", name, None, verdict, started)
}

/// The name of the translation validation theorem.
pub(super) const TRANSLATION: &str = "the compiled graph decides as the policies say";

/// Translation validation: the diagrams the evaluator walks decide every request as the
/// policies' conditions say. The compiled diagrams are read back from the frozen plan
/// into the analysis's builder; both are canonical, so agreement is one comparison of
/// nodes. A disagreement is refuted by a request whose decision by the evaluator differs
/// from the one the policies' conditions give when each is evaluated on its own and
/// combined. The other theorems are
/// proved on the conditions; this one carries them over to the graph that runs.
pub fn translation(analyses: &mut Analyses<'_>) -> Report {
    analyses.theorem(TRANSLATION, translation_on)
}

fn translation_on(analysis: &mut Analysis<'_>, options: &ProveOptions) -> Result<Verdict, OverBudget> {
    let graph = analysis.compiled()?;
    if graph == analysis.summary() {
        return Ok(Verdict::Proved);
    }
    let covered = analysis.covered();
    let mut differs = None;
    for outcome in [Outcome::Allow, Outcome::Deny, Outcome::Escalate] {
        let by_graph = analysis.decided_in(graph, covered, |own, _| own == outcome)?;
        let by_policies = analysis.outcome_is(outcome)?;
        let not_by_policies = analysis.not(by_policies)?;
        let here = analysis.and(by_graph, not_by_policies)?;
        differs = Some(match differs {
            Some(before) => analysis.or(before, here)?,
            None => here,
        });
    }
    let Some(differs) = differs else { return Ok(Verdict::Proved) };
    let (set, target) = (analysis.set(), analysis.target.clone());
    Ok(refute(&analysis.paths(differs, &[]), options, |plan, constraints| {
        let (doc, now) = witness::build(set, plan, &target, constraints)?;
        let request = set.prepare_at(&doc, now).ok()?;
        let decision = set.decide(&request);
        let expected = reference_outcome(set, &target, &request)?;
        (decision.decision != expected && super::completed(&decision)).then(|| Verdict::refuted(doc, decision))
    }))
}

/// The outcome the policies' conditions give a request, each evaluated on its own and
/// combined in the evaluator's order; `None` if one cannot be evaluated.
fn reference_outcome(set: &crate::eval::PolicySet, target: &Target, request: &crate::eval::Request) -> Option<Outcome> {
    let hir = set.hir();
    let holds = |condition: &HExpr| Evaluator::new(request, set.limits().max_eval_steps).truth(condition).ok();
    let (mut forbid, mut escalate, mut permit) = (false, false, false);
    for policy in hir.policies.iter().filter(|policy| policy.targets.contains(target)) {
        if holds(&policy.condition)? {
            match policy.effect {
                Effect::Forbid => forbid = true,
                Effect::Escalate => escalate = true,
                Effect::Permit => permit = true,
            }
        }
    }
    let mut gates = std::collections::BTreeSet::new();
    for gate in crate::compile::plan::GATES {
        if holds(&compile::gate_condition(gate, hir, target))? {
            gates.insert(gate);
        }
    }
    Some(Found { forbid, escalate, permit, gates: &gates }.combine().0)
}

/// A warning per permit whose condition is wider than the scope of the tasks it applies
/// to: the policy text promises more than the graph will ever allow. Refuted (wider)
/// with a request that satisfies the permit's condition outside every task scope.
pub fn permits_within_scope(analyses: &mut Analyses<'_>) -> Vec<Report> {
    let hir = analyses.set.hir();
    hir.policies
        .iter()
        .filter(|policy| policy.effect == Effect::Permit)
        .map(|policy| {
            let started = Instant::now();
            let verdicts: Vec<Verdict> = policy
                .targets
                .iter()
                .map(|target| {
                    let inside = compile::gate_condition(Gate::InScope, hir, target);
                    let outside = HExpr::and(policy.condition.clone(), HExpr::negate(inside));
                    check_satisfiable(analyses, target, &outside)
                })
                .collect();
            let verdict = first_refutation(verdicts.into_iter());
            Report::new("permit within scope", &policy.name, Some(&policy.origin), verdict, started)
        })
        .collect()
}
