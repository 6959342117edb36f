//! The theorems that compare two requests differing in one thing:
//! - **risk is restrict-only**: raising a behavior signal never turns a deny or an
//!   escalation into an allow;
//! - **delegation never escalates**: a request made through a delegation chain is never
//!   allowed when the delegator, making the same request for the same task, would not be.
//!
//! Both are monotonicity in one variable. The allowed requests form a diagram `A`; for
//! each pair of neighbouring branches of the variable (two intervals of a signal, `false`
//! and `true` for a flag, depth `d - 1` and `d`), the requests allowed on the higher
//! branch but not on the lower one are `A|higher ∧ ¬A|lower`, two cofactors. Empty for
//! every pair is a proof, because the diagram is constant inside a branch and the
//! branches are ordered. A path through a non-empty one gives two concrete requests,
//! which the evaluator must decide as claimed.

use super::analysis::Analysis;
use super::{first_refutation, refute, witness, Analyses, Constraints, Contrast, KeyConstraint, Report, Verdict};
use crate::compile::diagram::{OverBudget, Pick};
use crate::compile::formula::{FieldPath, Key, Position, Unit, VarKey};
use crate::compile::plan::{FieldKind, FieldSpec};
use crate::eval::decision::{Decision, Outcome};
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::value::DECIMAL_SCALE;
use crate::hir::{Base, HExpr, Root, Target};

/// Risk is restrict-only: raising a behavior signal never turns a deny or an escalation into an
/// allow. A test that reads a signal (a comparison between two attributes, say) leaves
/// the answer "unknown" unless a refutation is found elsewhere.
pub fn risk(analyses: &mut Analyses<'_>) -> Report {
    analyses.theorem("risk is restrict-only", risk_on)
}

fn risk_on(analysis: &mut Analysis<'_>, options: &super::ProveOptions) -> Result<Verdict, OverBudget> {
    let allowed = analysis.decided(|outcome, _| outcome == Outcome::Allow)?;
    let mut unsolved = Vec::new();
    let mut steps = Vec::new();
    for var in analysis.vars_below(allowed) {
        match analysis.var(var).cloned() {
            Some(VarKey::Interval(path, unit)) if path.root == Root::Behavior => {
                let points = segment_points(&analysis.bounds_of(allowed, var), false);
                steps.extend(interval_steps(var, &path, &unit, &points));
            }
            Some(VarKey::Switch(path)) if path.root == Root::Behavior => steps.push(flag_step(var, &path)),
            Some(VarKey::Test(expr)) if reads(&expr, &|root, _| root == Root::Behavior) => {
                if let Some(unknown) = riskier_test(analysis, allowed, var, &expr)? {
                    unsolved.push(unknown);
                }
            }
            _ => {}
        }
    }
    let widened = first_widening(analysis, allowed, &steps, options, &mut |set, plan, target, step, higher, lower| {
        let (riskier, now) = witness::build(set, plan, target, higher)?;
        let (safer, _) = witness::build(set, plan, target, lower)?;
        // The pair must differ in the signal alone.
        only_signal_differs(&riskier, &safer, &step.spec.path)?;
        contrast(set, now, riskier, safer, "with less risk")
    })?;
    Ok(first_refutation(std::iter::once(widened).chain(unsolved)))
}

/// A test that reads behavior signals, such as `behavior.paid_today + args.amount >
/// agent.daily_limit`. When raising any signal can only move its outcome one way (it is
/// monotone in every signal it reads), the test is a flag: raising a signal is that
/// outcome change, and the allowed requests must not grow with it. `None` when that is
/// proved; otherwise why the answer is unknown.
fn riskier_test(
    analysis: &mut Analysis<'_>,
    allowed: petgraph::stable_graph::NodeIndex,
    var: u32,
    expr: &HExpr,
) -> Result<Option<Verdict>, OverBudget> {
    let riskier = match polarity(expr) {
        Polarity::Rises => true,
        Polarity::Falls => false,
        Polarity::Constant | Polarity::Mixed => {
            let reason = format!(
                "the test `{expr}` reads a behavior signal in a way that is not monotone (raising it can make the test both true and false), which the prover does not solve"
            );
            return Ok(Some(Verdict::Unknown { reason }));
        }
    };
    let higher = analysis.cofactor(allowed, var, &Pick::Key(Some(Key::Bool(riskier))))?;
    let lower = analysis.cofactor(allowed, var, &Pick::Key(Some(Key::Bool(!riskier))))?;
    let not_lower = analysis.not(lower)?;
    let widened = analysis.and(higher, not_lower)?;
    if analysis.is_false(widened) {
        return Ok(None);
    }
    let reason = format!(
        "when the test `{expr}` becomes {riskier}, which raising a behavior signal can do, more requests may be allowed; the prover does not build the pair of requests for a test"
    );
    Ok(Some(Verdict::Unknown { reason }))
}

/// How a value moves when behavior signals rise: a number, a flag (`true` riskier) or a
/// test's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Polarity {
    /// It reads no signal.
    Constant,
    /// It can only rise (or become true).
    Rises,
    /// It can only fall (or become false).
    Falls,
    /// It can move both ways, or the prover cannot tell.
    Mixed,
}

impl Polarity {
    fn and(self, other: Polarity) -> Polarity {
        match (self, other) {
            (Polarity::Constant, other) | (other, Polarity::Constant) => other,
            (a, b) if a == b => a,
            _ => Polarity::Mixed,
        }
    }

    fn flip(self) -> Polarity {
        match self {
            Polarity::Rises => Polarity::Falls,
            Polarity::Falls => Polarity::Rises,
            other => other,
        }
    }
}

/// The polarity of `expr` in the behavior signals it reads.
fn polarity(expr: &HExpr) -> Polarity {
    use crate::hir::{ArithOp, CmpOp};
    match expr {
        HExpr::Field(Base::Root(Root::Behavior), _) => Polarity::Rises,
        HExpr::Arith(ArithOp::Add, a, b) | HExpr::And(a, b) | HExpr::Or(a, b) => polarity(a).and(polarity(b)),
        HExpr::Arith(ArithOp::Sub, a, b) => polarity(a).and(polarity(b).flip()),
        HExpr::Arith(ArithOp::Mul, a, b) => match (&**a, &**b) {
            (HExpr::Const(factor), other) | (other, HExpr::Const(factor)) => match factor.sign() {
                Some(std::cmp::Ordering::Greater) => polarity(other),
                Some(std::cmp::Ordering::Less) => polarity(other).flip(),
                _ => constant_or_mixed(expr),
            },
            _ => constant_or_mixed(expr),
        },
        HExpr::Neg(a) | HExpr::Not(a) => polarity(a).flip(),
        HExpr::Cmp(CmpOp::Gt | CmpOp::Ge, a, b) => polarity(a).and(polarity(b).flip()),
        HExpr::Cmp(CmpOp::Lt | CmpOp::Le, a, b) => polarity(a).flip().and(polarity(b)),
        _ => constant_or_mixed(expr),
    }
}

fn constant_or_mixed(expr: &HExpr) -> Polarity {
    match reads(expr, &|root, _| root == Root::Behavior) {
        true => Polarity::Mixed,
        false => Polarity::Constant,
    }
}

/// Delegation never escalates: a request through a chain of depth `d ≥ 1` is never allowed when the same
/// request made by its delegator is not. The delegator's request is the same request
/// with the last link of the chain removed and the delegator as the acting agent; the
/// request carries no attributes for the delegator, so it keeps the acting agent's.
///
/// When the decision reads only `chain.depth` of what delegation changes, this is
/// monotonicity in the depth and is proved or refuted exactly. When it also reads the
/// identities that change (`agent.id`, `chain.delegator`, `chain.links`), candidate
/// requests are tried and the answer without a refutation is "unknown".
pub fn attenuation(analyses: &mut Analyses<'_>) -> Report {
    analyses.theorem("delegation never escalates", attenuation_on)
}

fn depth_path() -> FieldPath {
    FieldPath { root: Root::Chain, path: vec!["depth".into()] }
}

/// What a request made by the delegator reads differently, besides the depth. The
/// sponsor and the root agent stay the same.
fn changes_with_delegation(root: Root, path: &[std::sync::Arc<str>]) -> bool {
    matches!(
        (root, path.first().map(|step| &**step)),
        (Root::Agent, Some("id")) | (Root::Chain, Some("delegator" | "links") | None)
    )
}

/// Whether a test reads anything delegation changes, the depth included.
fn test_changes_with_delegation(root: Root, path: &[std::sync::Arc<str>]) -> bool {
    changes_with_delegation(root, path) || (root == Root::Chain && path.first().is_some_and(|step| &**step == "depth"))
}

fn attenuation_on(analysis: &mut Analysis<'_>, options: &super::ProveOptions) -> Result<Verdict, OverBudget> {
    let allowed = analysis.decided(|outcome, _| outcome == Outcome::Allow)?;
    let depth_var = VarKey::Interval(depth_path(), Unit::Number);
    let mut identity_reads = Vec::new();
    let mut depth = None;
    for var in analysis.vars_below(allowed) {
        match analysis.var(var) {
            Some(key) if *key == depth_var => depth = Some(var),
            Some(VarKey::Switch(path) | VarKey::Interval(path, _))
                if changes_with_delegation(path.root, &path.path) =>
            {
                identity_reads.push(path.text());
            }
            Some(VarKey::Test(expr)) if reads(expr, &test_changes_with_delegation) => {
                identity_reads.push(format!("`{expr}`"));
            }
            _ => {}
        }
    }
    if !identity_reads.is_empty() {
        return delegated_candidates(analysis, allowed, &identity_reads, options);
    }
    let Some(var) = depth else { return Ok(Verdict::Proved) };
    let points = segment_points(&analysis.bounds_of(allowed, var), true);
    first_widening(analysis, allowed, &depth_steps(var, &points), options, &mut |set, plan, target, _, higher, _| {
        let (delegated, now) = witness::build(set, plan, target, higher)?;
        let own = delegator_request(&delegated)?;
        contrast(set, now, delegated, own, "made by the delegator")
    })
}

/// When the decision reads identities that delegation changes: allowed requests through
/// a chain are built and their delegators' requests replayed; without an escalation
/// among them the answer is "unknown".
fn delegated_candidates(
    analysis: &mut Analysis<'_>,
    allowed: petgraph::stable_graph::NodeIndex,
    reads: &[String],
    options: &super::ProveOptions,
) -> Result<Verdict, OverBudget> {
    let delegated = analysis.condition(&HExpr::Cmp(
        crate::hir::CmpOp::Ge,
        Box::new(HExpr::field(Root::Chain, &["depth"])),
        Box::new(HExpr::Const(crate::hir::Value::Int(1))),
    ))?;
    let candidates = analysis.and(allowed, delegated)?;
    let (set, target) = (analysis.set(), analysis.target.clone());
    let paths = analysis.paths(candidates, &[]);
    let identities = named_identities(&paths.plan);
    let verdict = refute(&paths, options, |plan, constraints| {
        let (request, now) = witness::build(set, plan, &target, constraints)?;
        // The plain candidate, then the same request delegated by each identity the
        // policies name: an agent a forbid singles out may escape it by delegating.
        std::iter::once(None).chain(identities.iter().map(Some)).find_map(|delegator| {
            let mut request = request.clone();
            if let Some(delegator) = delegator {
                let acting = request.agent.as_ref().map(|agent| agent.id.as_str());
                if acting == Some(delegator.as_str()) || request.chain.len() < 2 {
                    return None;
                }
                *request.chain.last_mut()? = delegator.clone();
            }
            let own = delegator_request(&request)?;
            contrast(set, now, request, own, "made by the delegator")
        })
    });
    Ok(match verdict {
        Verdict::Unknown { .. } => Verdict::Unknown {
            reason: format!(
                "the decision reads {}, which a delegator's own request changes; no escalation was found among the candidate requests",
                reads.join(", ")
            ),
        },
        other => other,
    })
}

/// The identities the decision compares an acting agent or a chain link with: the string
/// keys of switches on `agent.id` and `chain.delegator`, and the string constants of tests
/// that read them or `chain.links` (at most a few dozen, in a fixed order).
fn named_identities(plan: &crate::compile::plan::Plan) -> Vec<String> {
    const MOST: usize = 32;
    let identity = |path: &FieldPath| changes_with_delegation(path.root, &path.path);
    let mut names = std::collections::BTreeSet::new();
    for node in &plan.nodes {
        if let crate::compile::plan::Node::Switch { field, first, len, .. } = node {
            if plan.fields.get(*field as usize).is_some_and(|spec| identity(&spec.path)) {
                let cases = plan.cases.get(*first as usize..(*first + *len) as usize).unwrap_or_default();
                names.extend(cases.iter().filter_map(|case| match plan.keys.get(case.key as usize) {
                    Some(Key::Str(text)) => Some(text.to_string()),
                    _ => None,
                }));
            }
        }
    }
    for test in plan.tests.iter().filter(|test| reads(test, &changes_with_delegation)) {
        test.visit(&mut |node| match node {
            HExpr::Const(crate::hir::Value::String(text)) => {
                names.insert(text.to_string());
            }
            HExpr::Const(crate::hir::Value::Set(items)) => {
                names.extend(items.iter().filter_map(|item| item.as_str().map(str::to_string)));
            }
            _ => {}
        });
    }
    names.into_iter().take(MOST).collect()
}

/// `Some` when two requests are the same but for the behavior signal at `path`.
fn only_signal_differs(a: &RequestDoc, b: &RequestDoc, path: &FieldPath) -> Option<()> {
    let without = |doc: &RequestDoc| {
        let mut doc = doc.clone();
        if let Some(first) = path.path.first() {
            doc.behavior.remove(&**first);
        }
        doc
    };
    (without(a) == without(b)).then_some(())
}

/// The same request made by the delegator: one link fewer, the delegator acting.
fn delegator_request(request: &RequestDoc) -> Option<RequestDoc> {
    let mut own = request.clone();
    if own.chain.len() < 2 {
        return None;
    }
    let delegator = own.chain.pop()?;
    own.agent.as_mut()?.id = delegator;
    Some(own)
}

/// Two requests on one pair: `higher` allowed and `lower` not makes a refutation.
fn contrast(set: &PolicySet, now: i64, higher: RequestDoc, lower: RequestDoc, label: &str) -> Option<Verdict> {
    let decide = |doc: &RequestDoc| -> Option<Decision> { Some(set.decide(&set.prepare_at(doc, now).ok()?)) };
    let (allowed, other) = (decide(&higher)?, decide(&lower)?);
    let widens = allowed.decision == Outcome::Allow && other.decision != Outcome::Allow;
    (widens && super::completed(&other)).then(|| Verdict::Refuted {
        request: Box::new(higher),
        decision: Box::new(allowed),
        contrast: Some(Box::new(Contrast { label: label.to_string(), request: lower, decision: other })),
    })
}

/// Two neighbouring branches of a variable: how to fix the diagram to each, and what each
/// says about a request.
struct Step {
    var: u32,
    spec: FieldSpec,
    lower: (Pick, Branch),
    higher: (Pick, Branch),
}

#[derive(Clone)]
enum Branch {
    Range(Option<Position>, Option<Position>),
    Flag(bool),
}

/// A segment of an interval variable: its bounds and a point inside it.
struct Segment {
    low: Option<Position>,
    high: Option<Position>,
    point: Position,
}

/// The segments the bounds cut a line into, each with a point inside it; for integers
/// (`whole`) the lowest non-negative whole number, and segments without one are dropped.
fn segment_points(bounds: &[Position], whole: bool) -> Vec<Segment> {
    let scale = Position::from(DECIMAL_SCALE);
    (0..=bounds.len())
        .filter_map(|segment| {
            let low = segment.checked_sub(1).and_then(|i| bounds.get(i)).copied();
            let high = bounds.get(segment).copied();
            let point = if whole {
                let lowest = low.map_or(0, |low| (low.div_euclid(scale) + 1).max(0)) * scale;
                high.is_none_or(|high| lowest <= high).then_some(lowest)?
            } else {
                high.or(low.map(|low| low + 1)).unwrap_or(0)
            };
            Some(Segment { low, high, point })
        })
        .collect()
}

fn interval_steps(var: u32, path: &FieldPath, unit: &Unit, points: &[Segment]) -> Vec<Step> {
    let spec = FieldSpec { path: path.clone(), kind: FieldKind::Interval(unit.clone()) };
    points
        .windows(2)
        .filter_map(|pair| match pair {
            [lower, higher] => Some(Step {
                var,
                spec: spec.clone(),
                lower: (Pick::At(lower.point), Branch::Range(lower.low, lower.high)),
                higher: (Pick::At(higher.point), Branch::Range(higher.low, higher.high)),
            }),
            _ => None,
        })
        .collect()
}

/// For the depth: each segment's lowest whole depth `d` against `d - 1`, which may lie
/// in the same segment (then nothing changes) or in the one before.
fn depth_steps(var: u32, points: &[Segment]) -> Vec<Step> {
    let scale = Position::from(DECIMAL_SCALE);
    let spec = FieldSpec { path: depth_path(), kind: FieldKind::Interval(Unit::Number) };
    points
        .iter()
        .filter(|segment| segment.point >= scale)
        .map(|segment| {
            let below = segment.point - scale;
            Step {
                var,
                spec: spec.clone(),
                lower: (Pick::At(below), Branch::Range(Some(below - 1), Some(below))),
                higher: (Pick::At(segment.point), Branch::Range(Some(segment.point - 1), Some(segment.point))),
            }
        })
        .collect()
}

fn flag_step(var: u32, path: &FieldPath) -> Step {
    Step {
        var,
        spec: FieldSpec { path: path.clone(), kind: FieldKind::Switch },
        lower: (Pick::Key(Some(Key::Bool(false))), Branch::Flag(false)),
        higher: (Pick::Key(Some(Key::Bool(true))), Branch::Flag(true)),
    }
}

/// Builds a request for the step's higher branch and one for its lower, and compares them.
type Pair<'f> = dyn FnMut(&PolicySet, &crate::compile::plan::Plan, &Target, &Step, &Constraints, &Constraints) -> Option<Verdict>
    + 'f;

/// The first step whose higher branch allows what its lower one does not, refuted; else
/// the first unknown, else proved.
fn first_widening(
    analysis: &mut Analysis<'_>,
    allowed: petgraph::stable_graph::NodeIndex,
    steps: &[Step],
    options: &super::ProveOptions,
    pair: &mut Pair<'_>,
) -> Result<Verdict, OverBudget> {
    let mut verdicts = Vec::new();
    for step in steps {
        let verdict = compare(analysis, allowed, step, options, pair)?;
        if let refuted @ Verdict::Refuted { .. } = verdict {
            return Ok(refuted);
        }
        verdicts.push(verdict);
    }
    Ok(first_refutation(verdicts.into_iter()))
}

/// The requests allowed on the step's higher branch but not on its lower one; each path
/// is handed to `pair` with the constraints of both branches added.
fn compare(
    analysis: &mut Analysis<'_>,
    allowed: petgraph::stable_graph::NodeIndex,
    step: &Step,
    options: &super::ProveOptions,
    pair: &mut Pair<'_>,
) -> Result<Verdict, OverBudget> {
    let higher = analysis.cofactor(allowed, step.var, &step.higher.0)?;
    let lower = analysis.cofactor(allowed, step.var, &step.lower.0)?;
    let not_lower = analysis.not(lower)?;
    let widened = analysis.and(higher, not_lower)?;
    let (set, target) = (analysis.set(), analysis.target.clone());
    let paths = analysis.paths(widened, &[step.var]);
    let field = paths.field(&step.spec);
    Ok(refute(&paths, options, |plan, constraints| {
        let field = field?;
        let with = |branch: &Branch| -> Option<Constraints> {
            let mut narrowed = constraints.clone();
            match branch {
                Branch::Range(low, high) => {
                    narrowed.ranges.insert(field, (*low, *high));
                }
                Branch::Flag(flag) => {
                    let key = plan.key_id(&Key::Bool(*flag))?;
                    narrowed.keys.insert(field, KeyConstraint::Is(key));
                }
            }
            Some(narrowed)
        };
        pair(set, plan, &target, step, &with(&step.higher.1)?, &with(&step.lower.1)?)
    }))
}

/// Whether an expression reads a request attribute `pick` selects.
fn reads(expr: &HExpr, pick: &dyn Fn(Root, &[std::sync::Arc<str>]) -> bool) -> bool {
    let mut found = false;
    expr.visit(&mut |node| {
        if let HExpr::Field(Base::Root(root), path) = node {
            found |= pick(*root, path);
        }
    });
    found
}
