//! The prover: checks declared assertions and bounds against the decision graph that
//! runs.
//!
//! Both become *claims*: "no request on this (action, resource type) for which `C` holds
//! gets this outcome". An assertion `never EFFECT TARGET when C` is one claim per pair of
//! its target; a bound `when W scope { … }` is, for every pair the policies cover, the
//! claim "never allowed when `W` and not inside the bound's scope". The condition `C` is compiled into a copy of the plan, sharing its fields,
//! keys and tests, and the prover walks every path through the partition's diagrams and
//! `C`'s together, keeping what each branch says about the request: a key or the keys it
//! is not (switches), a range (intervals), a truth value (tests). In an ordered diagram a
//! path tests each attribute once, so these constraints are consistent by construction;
//! tests are treated as free booleans, which over-approximates the requests a path
//! stands for.
//!
//! Verdicts are therefore sound in one direction and checked in the other:
//! - **proved**: no path ends in a violation, even with tests free, so no request can
//!   violate the assertion;
//! - **refuted**: a path ends in a violation and the prover built a concrete request for
//!   it that the evaluator decides as a violation, with `C` true; the request is printed;
//! - **unknown**: a violating path exists but no request was confirmed (it depends on
//!   tests the prover does not solve), or the path budget ran out. Never "proved".
//!
//! This covers theorem 2 of the design (bounds and assertions) for decisions; intent
//! containment, bounds over task declarations, attenuation, risk monotonicity and change
//! impact build on the same walk.

mod witness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::compile::formula::Position;
use crate::compile::plan::{Node, Plan};
use crate::compile::{self};
use crate::eval::decide::Found;
use crate::eval::decision::{Decision, Outcome};
use crate::eval::expr::Evaluator;
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::{Bound, HExpr, Target};
use crate::syntax::ast::Effect;

/// Limits on proving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProveOptions {
    /// Most graph nodes visited for one assertion before the answer is "unknown".
    pub max_steps: usize,
    /// Most candidate paths tried for a witness.
    pub max_witness_attempts: usize,
}

impl Default for ProveOptions {
    fn default() -> Self {
        ProveOptions { max_steps: 5_000_000, max_witness_attempts: 1_000 }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    Proved,
    /// `request` gets `decision`, which violates the claim. For risk monotonicity,
    /// `contrast` is the same request with a lower risk signal, which is not allowed.
    Refuted {
        request: Box<RequestDoc>,
        decision: Box<Decision>,
        #[serde(skip_serializing_if = "Option::is_none")]
        contrast: Option<Box<RequestDoc>>,
    },
    Unknown {
        reason: String,
    },
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Proved => "proved",
            Verdict::Refuted { .. } => "refuted",
            Verdict::Unknown { .. } => "unknown",
        }
    }
}

/// The result for one assertion or bound.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `assertion` or `bound`.
    pub kind: &'static str,
    /// Its name.
    pub assertion: String,
    pub file: String,
    pub start: usize,
    #[serde(flatten)]
    pub verdict: Verdict,
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
}

fn micros<S: serde::Serializer>(elapsed: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(elapsed.as_micros())
}

/// The reports as text: each verdict and its time; for a refutation the counterexample,
/// the decision it gets, and the `mandate eval` command that reproduces it.
pub fn render(package: &str, reports: &[Report]) -> String {
    let mut out = String::new();
    for report in reports {
        let millis = report.elapsed.as_secs_f64() * 1000.0;
        out.push_str(&format!("{:<8} {} {} ({millis:.1} ms)\n", report.verdict.word(), report.kind, report.assertion));
        match &report.verdict {
            Verdict::Proved => {}
            Verdict::Unknown { reason } => out.push_str(&format!("         {reason}\n")),
            Verdict::Refuted { request, decision, contrast } => {
                let json = serde_json::to_string(request).unwrap_or_default();
                out.push_str(&format!("         counterexample: {json}\n"));
                if let Some(contrast) = contrast {
                    let lower = serde_json::to_string(contrast).unwrap_or_default();
                    out.push_str(&format!("         with less risk, not allowed: {lower}\n"));
                }
                for line in decision.to_text().lines() {
                    out.push_str(&format!("         {line}\n"));
                }
                let quoted = json.replace('\'', "'\\''");
                out.push_str(&format!("         reproduce: echo '{quoted}' | mandate eval {package}\n"));
            }
        }
    }
    let count = |word: &str| reports.iter().filter(|report| report.verdict.word() == word).count();
    out.push_str(&format!("{} proved, {} refuted, {} unknown\n", count("proved"), count("refuted"), count("unknown")));
    out
}

/// Checks every assertion and bound of the policy set, in that order, then the
/// theorems that hold for every package (today: risk is restrict-only).
pub fn check(set: &PolicySet, options: &ProveOptions) -> Vec<Report> {
    let mut reports = check_declarations(set, options);
    reports.push(check_intent(set, options));
    reports.extend(check_permits_within_scope(set, options));
    reports.push(check_risk(set, options));
    reports
}

/// Checks every assertion and bound of the policy set, in that order.
pub fn check_declarations(set: &PolicySet, options: &ProveOptions) -> Vec<Report> {
    let hir = set.hir();
    let assertions = hir.assertions.iter().map(|assertion| {
        let claims: Vec<(Target, Claim)> = assertion
            .targets
            .iter()
            .map(|target| (target.clone(), Claim { effect: assertion.effect, condition: assertion.condition.clone() }))
            .collect();
        ("assertion", &assertion.name, &assertion.origin, claims)
    });
    let bounds = hir.bounds.iter().map(|bound| ("bound", &bound.name, &bound.origin, bound_claims(set, bound)));
    assertions
        .chain(bounds)
        .map(|(kind, name, origin, claims)| {
            let started = Instant::now();
            let verdict = check_claims(set, &claims, options);
            Report {
                kind,
                assertion: name.clone(),
                file: origin.file.to_string(),
                start: origin.start,
                verdict,
                elapsed: started.elapsed(),
            }
        })
        .collect()
}

/// "No request on a target for which `condition` holds gets `effect`'s outcome."
#[derive(Debug, Clone)]
pub struct Claim {
    pub effect: Effect,
    pub condition: HExpr,
}

/// Theorem 1, on the graph that runs: no request is allowed outside the declared scope of
/// its task, as the HIR states the scopes. The compiler builds the scope check into the
/// graph; this validates that translation. (That a credential never outlives its task is
/// enforced where obligations are computed: the ttl is clipped to the deadline.)
pub fn check_intent(set: &PolicySet, options: &ProveOptions) -> Report {
    let started = Instant::now();
    let claims: Vec<(Target, Claim)> = set
        .plan()
        .partitions
        .iter()
        .map(|partition| {
            let inside = compile::gate_condition(crate::compile::plan::Gate::InScope, set.hir(), &partition.target);
            (partition.target.clone(), Claim { effect: Effect::Permit, condition: HExpr::negate(inside) })
        })
        .collect();
    let verdict = check_claims(set, &claims, options);
    theorem("intent containment", verdict, started)
}

/// A warning per permit whose condition is wider than the scope of a task it applies
/// to: the policy text promises more than the graph will ever allow. Refuted (wider) with
/// a request that satisfies the permit's condition outside every task scope.
pub fn check_permits_within_scope(set: &PolicySet, options: &ProveOptions) -> Vec<Report> {
    set.hir()
        .policies
        .iter()
        .filter(|policy| policy.effect == Effect::Permit)
        .map(|policy| {
            let started = Instant::now();
            let mut verdict = Verdict::Proved;
            for target in &policy.targets {
                let inside = compile::gate_condition(crate::compile::plan::Gate::InScope, set.hir(), target);
                let outside = HExpr::and(policy.condition.clone(), HExpr::negate(inside));
                let claim = Claim { effect: Effect::Permit, condition: outside };
                match search_target(set, &claim, target, options, Goal::Satisfiable) {
                    Verdict::Proved => {}
                    found @ Verdict::Refuted { .. } => {
                        verdict = found;
                        break;
                    }
                    unknown @ Verdict::Unknown { .. } => {
                        if matches!(verdict, Verdict::Proved) {
                            verdict = unknown;
                        }
                    }
                }
            }
            Report {
                kind: "permit within scope",
                assertion: policy.name.clone(),
                file: policy.origin.file.to_string(),
                start: policy.origin.start,
                verdict,
                elapsed: started.elapsed(),
            }
        })
        .collect()
}

fn theorem(name: &str, verdict: Verdict, started: Instant) -> Report {
    Report {
        kind: "theorem",
        assertion: name.to_string(),
        file: String::new(),
        start: 0,
        verdict,
        elapsed: started.elapsed(),
    }
}

/// Theorem 4: raising a behavioral signal never turns a deny or an escalation into an
/// allow. Proved when every allow path of every partition constrains the signals only
/// from above (risk below a threshold, a flag false) and no test on it reads them: then a
/// request with less risk follows the same path. Refuted by two requests that differ
/// only in one signal, the riskier one allowed and the other not.
pub fn check_risk(set: &PolicySet, options: &ProveOptions) -> Report {
    let started = Instant::now();
    let allows = Claim { effect: Effect::Permit, condition: HExpr::TRUE };
    let mut unknown: Option<String> = None;
    let mut verdict = Verdict::Proved;
    for partition in &set.plan().partitions {
        match search_target(set, &allows, &partition.target, options, Goal::RiskMonotone) {
            Verdict::Proved => {}
            Verdict::Unknown { reason } => unknown = unknown.or(Some(reason)),
            refuted => {
                verdict = refuted;
                break;
            }
        }
    }
    if let (Verdict::Proved, Some(reason)) = (&verdict, unknown) {
        verdict = Verdict::Unknown { reason };
    }
    theorem("risk is restrict-only", verdict, started)
}

/// A bound as claims: on every pair the policies cover, nothing it applies to is allowed
/// outside its scope.
fn bound_claims(set: &PolicySet, bound: &Bound) -> Vec<(Target, Claim)> {
    set.plan()
        .partitions
        .iter()
        .map(|partition| {
            let target = &partition.target;
            let inside = bound
                .scope
                .iter()
                .filter(|item| item.targets.contains(target))
                .fold(HExpr::FALSE, |any, item| HExpr::or(any, item.condition.clone()));
            let condition = HExpr::and(bound.applies.clone(), HExpr::negate(inside));
            (target.clone(), Claim { effect: Effect::Permit, condition })
        })
        .collect()
}

/// The rule number a claim's condition takes in the analysis plan.
const CONDITION: u32 = u32::MAX - 1;

fn check_claims(set: &PolicySet, claims: &[(Target, Claim)], options: &ProveOptions) -> Verdict {
    let mut unknown: Option<String> = None;
    for (target, claim) in claims {
        match check_target(set, claim, target, options) {
            Verdict::Proved => {}
            Verdict::Unknown { reason } => unknown = unknown.or(Some(reason)),
            refuted => return refuted,
        }
    }
    match unknown {
        Some(reason) => Verdict::Unknown { reason },
        None => Verdict::Proved,
    }
}

fn check_target(set: &PolicySet, claim: &Claim, target: &Target, options: &ProveOptions) -> Verdict {
    search_target(set, claim, target, options, Goal::Claim)
}

fn search_target(set: &PolicySet, claim: &Claim, target: &Target, options: &ProveOptions, goal: Goal) -> Verdict {
    let plan = set.plan();
    let Some(partition) = plan.partition(&target.action, target.resource.as_deref()) else {
        // No policy targets this pair: every request on it is denied as
        // `no_applicable_policy`, which is no allow, no escalation and no forbid.
        return Verdict::Proved;
    };
    let mut analysis = plan.clone();
    let condition_roots =
        compile::compile_condition(&mut analysis, target, &claim.condition, CONDITION, &set.limits().compile);
    // The condition's diagrams come first: a path on which it is false is dropped at once.
    // Satisfying a condition needs no decision, so then only its diagrams are walked.
    let mut roots = condition_roots;
    if goal != Goal::Satisfiable {
        roots.extend(&partition.roots);
    }
    let mut search = Search {
        goal,
        hits: Vec::new(),
        partition_roots: partition.roots.clone(),
        others: if goal == Goal::Satisfiable { 0 } else { partition.roots.len() },
        analysis: &analysis,
        set,
        claim,
        target,
        steps_left: options.max_steps,
        attempts_left: options.max_witness_attempts,
        candidates: 0,
        found: None,
    };
    let finished = search.explore(&roots, &Constraints::default(), &mut Vec::new());
    if let Some((request, decision, contrast)) = search.found {
        return Verdict::Refuted {
            request: Box::new(request),
            decision: Box::new(decision),
            contrast: contrast.map(Box::new),
        };
    }
    if !finished {
        return Verdict::Unknown { reason: format!("the search budget of {} steps ran out", options.max_steps) };
    }
    if search.candidates > 0 {
        return Verdict::Unknown {
            reason: format!(
                "{} path(s) through the graph may violate it, but no concrete request was confirmed; they depend on conditions the prover does not solve",
                search.candidates
            ),
        };
    }
    Verdict::Proved
}

/// What a path says about the request.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    pub keys: BTreeMap<u32, KeyConstraint>,
    /// Field → (lower bound, exclusive; upper bound, inclusive).
    pub ranges: BTreeMap<u32, (Option<Position>, Option<Position>)>,
    pub tests: BTreeMap<u32, bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyConstraint {
    Is(u32),
    Not(BTreeSet<u32>),
}

struct Search<'a> {
    /// How many roots follow the condition's.
    others: usize,
    analysis: &'a Plan,
    set: &'a PolicySet,
    claim: &'a Claim,
    target: &'a Target,
    steps_left: usize,
    attempts_left: usize,
    candidates: usize,
    found: Option<(RequestDoc, Decision, Option<RequestDoc>)>,
    goal: Goal,
    /// Paths found by a `NotAllowed` search.
    hits: Vec<Constraints>,
    /// The roots of the partition's own diagrams.
    partition_roots: Vec<u32>,
}

/// How to put a signal below what an allow path needs.
enum Lowering {
    /// A number at most this position (the path's exclusive lower bound).
    AtMost(u32, Option<Position>),
    /// A flag other than this key (`true`).
    Not(u32, u32),
}

impl Lowering {
    fn apply(&self, constraints: &mut Constraints) {
        match self {
            Lowering::AtMost(field, low) => {
                constraints.ranges.insert(*field, (None, *low));
            }
            Lowering::Not(field, key) => {
                constraints.keys.insert(*field, KeyConstraint::Not(BTreeSet::from([*key])));
            }
        }
    }
}

/// What a search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// A request that violates the claim.
    Claim,
    /// An allowed request whose path needs a behavior signal to be high.
    RiskMonotone,
    /// Any request that is not allowed (inside a risk search).
    NotAllowed,
    /// Any request for which the claim's condition holds, whatever its decision.
    Satisfiable,
}

impl Search<'_> {
    /// Walks every path through `roots` in turn; false when the budget ran out.
    fn explore(&mut self, roots: &[u32], constraints: &Constraints, matched: &mut Vec<u32>) -> bool {
        if self.found.is_some() {
            return true;
        }
        let Some((root, rest)) = roots.split_first() else {
            self.at_leaves(constraints, matched);
            return true;
        };
        if self.steps_left == 0 {
            return false;
        }
        self.steps_left -= 1;
        let Some(node) = self.analysis.nodes.get(*root as usize).copied() else { return true };
        let next = |search: &mut Self, child: u32, constraints: &Constraints, matched: &mut Vec<u32>| {
            let mut roots = Vec::with_capacity(rest.len() + 1);
            roots.push(child);
            roots.extend_from_slice(rest);
            search.explore(&roots, constraints, matched)
        };
        match node {
            Node::Leaf { leaf } => {
                let rules = self.analysis.leaves.get(leaf as usize).cloned().unwrap_or_default();
                let before = matched.len();
                matched.extend(rules);
                let finished = self.hopeless(rest.len(), matched) || self.explore(rest, constraints, matched);
                matched.truncate(before);
                finished
            }
            Node::Switch { field, first, len, default } => {
                let cases = self.analysis.cases.get(first as usize..(first + len) as usize).unwrap_or_default();
                let current = constraints.keys.get(&field).cloned();
                for case in cases {
                    let allowed = match &current {
                        Some(KeyConstraint::Is(key)) => *key == case.key,
                        Some(KeyConstraint::Not(excluded)) => !excluded.contains(&case.key),
                        None => true,
                    };
                    if allowed {
                        let mut narrowed = constraints.clone();
                        narrowed.keys.insert(field, KeyConstraint::Is(case.key));
                        if !next(self, case.child, &narrowed, matched) {
                            return false;
                        }
                    }
                }
                let case_keys: BTreeSet<u32> = cases.iter().map(|case| case.key).collect();
                let default_constraint = match current {
                    Some(KeyConstraint::Is(key)) if case_keys.contains(&key) => None,
                    Some(KeyConstraint::Is(key)) => Some(KeyConstraint::Is(key)),
                    Some(KeyConstraint::Not(mut excluded)) => {
                        excluded.extend(case_keys);
                        Some(KeyConstraint::Not(excluded))
                    }
                    None => Some(KeyConstraint::Not(case_keys)),
                };
                // A value outside every case must exist: not so when the cases name every
                // task kind the schema declares, or both booleans.
                let default_constraint =
                    default_constraint.filter(|constraint| self.has_other_value(field, constraint));
                match default_constraint {
                    Some(constraint) => {
                        let mut narrowed = constraints.clone();
                        narrowed.keys.insert(field, constraint);
                        next(self, default, &narrowed, matched)
                    }
                    None => true,
                }
            }
            Node::Interval { field, first, len, branch } => {
                let bounds = self.analysis.bounds.get(first as usize..(first + len) as usize).unwrap_or_default();
                let (known_low, known_high) = constraints.ranges.get(&field).copied().unwrap_or((None, None));
                for segment in 0..=bounds.len() {
                    let low = segment.checked_sub(1).and_then(|i| bounds.get(i)).copied();
                    let high = bounds.get(segment).copied();
                    let low = max_option(low, known_low);
                    let high = min_option(high, known_high);
                    if let (Some(low), Some(high)) = (low, high) {
                        if low >= high {
                            continue;
                        }
                    }
                    if !self.range_has_value(field, low, high) {
                        continue;
                    }
                    let Some(child) = self.analysis.branches.get(branch as usize + segment).copied() else { continue };
                    let mut narrowed = constraints.clone();
                    narrowed.ranges.insert(field, (low, high));
                    if !next(self, child, &narrowed, matched) {
                        return false;
                    }
                }
                true
            }
            Node::Test { test, then, otherwise } => {
                for (outcome, child) in [(true, then), (false, otherwise)] {
                    if constraints.tests.get(&test).is_some_and(|known| *known != outcome) {
                        continue;
                    }
                    let mut narrowed = constraints.clone();
                    narrowed.tests.insert(test, outcome);
                    if !next(self, child, &narrowed, matched) {
                        return false;
                    }
                }
                true
            }
        }
    }

    /// Whether some request value satisfies a switch field's exclusions. Task kinds and
    /// booleans have finite domains; strings always have another value.
    fn has_other_value(&self, field: u32, constraint: &KeyConstraint) -> bool {
        let KeyConstraint::Not(excluded) = constraint else { return true };
        let excluded_keys: Vec<&crate::compile::formula::Key> =
            excluded.iter().filter_map(|key| self.analysis.keys.get(*key as usize)).collect();
        let is_kind = self
            .analysis
            .fields
            .get(field as usize)
            .is_some_and(|spec| spec.path == crate::compile::formula::FieldPath::task_kind());
        if is_kind {
            let kinds = &self.set.hir().env.tasks;
            return kinds.keys().any(|kind| {
                !excluded_keys
                    .iter()
                    .any(|key| **key == crate::compile::formula::Key::Str(std::sync::Arc::from(kind.as_str())))
            });
        }
        let bools = excluded_keys.iter().filter(|key| matches!(key, crate::compile::formula::Key::Bool(_))).count();
        bools < 2
    }

    /// Whether an enum field's range holds a declared value (other units are unbounded).
    fn range_has_value(&self, field: u32, low: Option<Position>, high: Option<Position>) -> bool {
        let Some(crate::compile::plan::FieldKind::Interval(crate::compile::formula::Unit::Ordinal(name))) =
            self.analysis.fields.get(field as usize).map(|spec| &spec.kind)
        else {
            return true;
        };
        let count = self.set.hir().env.enums.get(&**name).map_or(0, Vec::len) as Position;
        (0..count).any(|at| low.is_none_or(|low| at > low) && high.is_none_or(|high| at <= high))
    }

    /// Whether no completion of a partial path can violate the assertion: the condition
    /// did not hold once its diagrams are done, or a rule already matched rules the
    /// violating outcome out.
    fn hopeless(&self, roots_left: usize, matched: &[u32]) -> bool {
        if roots_left == self.others && !matched.contains(&CONDITION) {
            return true;
        }
        let effect_of = |rule: &u32| match self.analysis.rules.get(*rule as usize).map(|rule| &rule.kind) {
            Some(crate::compile::plan::RuleKind::Policy { effect, .. }) => Some(*effect),
            _ => None,
        };
        let matched_effect = |wanted: Effect| matched.iter().any(|rule| effect_of(rule) == Some(wanted));
        if self.goal == Goal::NotAllowed {
            return !self.hits.is_empty();
        }
        if self.goal == Goal::Satisfiable {
            // Only the condition matters; the partition's diagrams are not walked.
            return false;
        }
        match self.claim.effect {
            Effect::Permit => matched_effect(Effect::Forbid) || matched_effect(Effect::Escalate),
            Effect::Escalate => matched_effect(Effect::Forbid),
            Effect::Forbid => false,
        }
    }

    /// A complete path: what the search's goal makes of it.
    fn at_leaves(&mut self, constraints: &Constraints, matched: &[u32]) {
        let mut gates = BTreeSet::new();
        let (outcome, code) = Found::of(self.analysis, matched, &mut gates).combine();
        match self.goal {
            Goal::NotAllowed => {
                if outcome != Outcome::Allow {
                    self.hits.push(constraints.clone());
                }
            }
            _ if !matched.contains(&CONDITION) => {}
            Goal::Satisfiable => self.witness(constraints, false),
            _ if !violates(self.claim.effect, outcome, code) => {}
            Goal::RiskMonotone => self.risk_path(constraints),
            Goal::Claim => self.witness(constraints, true),
        }
    }

    /// Counts a candidate path; false when no more witnesses may be tried.
    fn attempt(&mut self) -> bool {
        self.candidates += 1;
        if self.attempts_left == 0 {
            return false;
        }
        self.attempts_left -= 1;
        true
    }

    /// Tries to build a request for a candidate path and confirm it by replay.
    fn witness(&mut self, constraints: &Constraints, must_violate: bool) {
        if !self.attempt() {
            return;
        }
        let Some((doc, now)) = witness::build(self.set, self.analysis, self.target, constraints) else { return };
        if let Some(decision) = confirm(self.set, self.claim, &doc, now, must_violate) {
            self.found = Some((doc, decision, None));
        }
    }

    /// An allow path that needs a behavior signal high (a range with a lower bound, or a
    /// flag true): the same requests with the signal lowered must all be allowed too.
    /// Searching them for one that is not gives a candidate pair, confirmed by replaying
    /// both requests. A test that reads a signal leaves the question open.
    fn risk_path(&mut self, constraints: &Constraints) {
        let behavior = |field: &u32| {
            self.analysis.fields.get(*field as usize).is_some_and(|spec| spec.path.root == crate::hir::Root::Behavior)
        };
        let reads_behavior = constraints.tests.keys().any(|test| {
            let mut found = false;
            if let Some(expr) = self.analysis.tests.get(*test as usize) {
                expr.visit(&mut |node| {
                    if let HExpr::Field(crate::hir::Base::Root(crate::hir::Root::Behavior), _) = node {
                        found = true;
                    }
                });
            }
            found
        });
        if reads_behavior {
            self.candidates += 1;
            return;
        }
        let true_key = self.analysis.keys.iter().position(|key| *key == crate::compile::formula::Key::Bool(true));
        // The signals this path needs high.
        let mut raised: Vec<Lowering> = Vec::new();
        for (field, (low, _)) in &constraints.ranges {
            if behavior(field) && low.is_some() {
                raised.push(Lowering::AtMost(*field, *low));
            }
        }
        for (field, constraint) in &constraints.keys {
            if let (true, Some(key)) = (behavior(field), true_key) {
                if *constraint == KeyConstraint::Is(key as u32) {
                    raised.push(Lowering::Not(*field, key as u32));
                }
            }
        }
        // A request with less risk may lower any of them at once: every non-empty subset.
        const MOST_SIGNALS: usize = 6;
        if raised.len() > MOST_SIGNALS {
            self.candidates += 1;
            return;
        }
        let mut lowerings: Vec<Constraints> = Vec::new();
        for subset in 1..(1usize << raised.len()) {
            let mut lowered = constraints.clone();
            for (index, lowering) in raised.iter().enumerate() {
                if subset & (1 << index) != 0 {
                    lowering.apply(&mut lowered);
                }
            }
            lowerings.push(lowered);
        }
        for lowered in lowerings {
            let Some(denied) = self.not_allowed_under(&lowered) else { continue };
            if !self.attempt() {
                return;
            }
            // The riskier request: the denied one with the signal raised back into the
            // allow path's range.
            let mut raised = denied.clone();
            for (field, range) in &constraints.ranges {
                if behavior(field) {
                    raised.ranges.insert(*field, *range);
                }
            }
            for (field, key) in &constraints.keys {
                if behavior(field) {
                    raised.keys.insert(*field, key.clone());
                }
            }
            let riskier = witness::build(self.set, self.analysis, self.target, &raised);
            let safer = witness::build(self.set, self.analysis, self.target, &denied);
            let (Some((riskier, now)), Some((safer, _))) = (riskier, safer) else { continue };
            let decide = |doc: &RequestDoc| self.set.prepare_at(doc, now).ok().map(|request| self.set.decide(&request));
            if let (Some(allowed), Some(other)) = (decide(&riskier), decide(&safer)) {
                if allowed.decision == Outcome::Allow && other.decision != Outcome::Allow {
                    self.found = Some((riskier, allowed, Some(safer)));
                    return;
                }
            }
        }
    }

    /// A path from `constraints` through the partition's diagrams that is not allowed.
    fn not_allowed_under(&mut self, constraints: &Constraints) -> Option<Constraints> {
        let mut inner = Search {
            others: self.partition_roots.len(),
            analysis: self.analysis,
            set: self.set,
            claim: self.claim,
            target: self.target,
            steps_left: self.steps_left,
            attempts_left: 0,
            candidates: 0,
            found: None,
            goal: Goal::NotAllowed,
            hits: Vec::new(),
            partition_roots: Vec::new(),
        };
        let roots = self.partition_roots.clone();
        let finished = inner.explore(&roots, constraints, &mut Vec::new());
        self.steps_left = inner.steps_left;
        if !finished && inner.hits.is_empty() {
            // Out of budget: treat as a possible violation, which can only lead to
            // "unknown" or to a replayed refutation, never to "proved".
            return Some(constraints.clone());
        }
        inner.hits.into_iter().next()
    }
}

/// Whether an outcome is what the assertion rules out.
fn violates(effect: Effect, outcome: Outcome, code: &str) -> bool {
    match effect {
        Effect::Permit => outcome == Outcome::Allow,
        Effect::Escalate => outcome == Outcome::Escalate,
        Effect::Forbid => code == "forbidden",
    }
}

/// Replays a candidate request: the claim's condition must hold for it and, when
/// `must_violate`, the evaluator must decide it as a violation.
fn confirm(set: &PolicySet, claim: &Claim, doc: &RequestDoc, now: i64, must_violate: bool) -> Option<Decision> {
    let request = set.prepare_at(doc, now).ok()?;
    let decision = set.decide(&request);
    let code = decision.reasons.first().map(|reason| reason.code.as_str()).unwrap_or_default();
    let condition = Evaluator::new(&request, set.limits().max_eval_steps).truth(&claim.condition).ok()?;
    let violated = !must_violate || violates(claim.effect, decision.decision, code);
    (condition && violated).then_some(decision)
}

fn max_option(a: Option<Position>, b: Option<Position>) -> Option<Position> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_option(a: Option<Position>, b: Option<Position>) -> Option<Position> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
