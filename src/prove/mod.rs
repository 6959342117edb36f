//! The prover: checks that the policies cannot over-grant, on the rules the evaluator
//! runs, and refutes every failure with a concrete request the evaluator reproduces.
//!
//! Each question is put to an [`analysis::Analysis`] of one (action, resource type) pair:
//! the pair's task checks and policies built into one reduced decision diagram. A claim
//! "no request for which `C` holds gets outcome `O`" becomes the diagram `C ∧ O`; the
//! theorems about signals and delegation compare the diagram with itself with one
//! variable moved (a cofactor). Verdicts are sound in one direction and checked in the
//! other:
//! - **proved**: the diagram has no feasible path, even with tests treated as free
//!   booleans, so no request can violate the claim;
//! - **refuted**: a path exists and the prover built a concrete request for it that the
//!   evaluator decides as claimed; the request is printed with a command to reproduce it;
//! - **unknown**: paths exist but no request built for them replays as a violation (they
//!   depend on tests the prover does not solve), or the budget was exceeded. Never
//!   "proved".
//!
//! The theorems are those of `docs/proving.md`: the compiled graph decides as the
//! policies say (translation validation), assertions and bounds (over decisions and over
//! task declarations), intent containment, permits within their tasks' scopes,
//! delegation within each task's limits and never escalating, and risk is
//! restrict-only. Change impact between two versions is in [`diff`]; the
//! lints that come from the same diagrams are in [`lint`].

pub mod analysis;
mod claims;

pub mod diagnose;
pub mod diff;
pub mod examples;
pub mod lint;
mod monotone;
mod witness;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde::Serialize;

use self::analysis::{Analysis, Paths};
use crate::compile::diagram::OverBudget;
use crate::compile::formula::Position;
use crate::compile::plan::Plan;
use crate::eval::decision::{Decision, Outcome};
use crate::eval::expr::Evaluator;
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::{HExpr, Origin, Target};
use crate::syntax::ast::Effect;

/// Limits on proving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProveOptions {
    /// Most diagram nodes the analysis of one (action, resource type) pair may create.
    pub max_nodes: usize,
    /// Most combination steps the analysis of one pair may take.
    pub max_work: usize,
    /// Most candidate paths tried for a witness, per question.
    pub max_witness_attempts: usize,
}

impl ProveOptions {
    /// The default options with a node budget of `nodes` per pair (and ten times as many
    /// combination steps).
    pub fn with_budget(nodes: usize) -> Self {
        ProveOptions { max_nodes: nodes, max_work: nodes.saturating_mul(10), ..ProveOptions::default() }
    }
}

impl Default for ProveOptions {
    fn default() -> Self {
        ProveOptions { max_nodes: 2_000_000, max_work: 20_000_000, max_witness_attempts: 200 }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    Proved,
    /// `request` gets `decision`, which violates the claim. For the theorems that compare
    /// two requests, `contrast` is the other one (less risk, or the delegator's own), which
    /// is not allowed.
    Refuted {
        request: Box<RequestDoc>,
        decision: Box<Decision>,
        #[serde(skip_serializing_if = "Option::is_none")]
        contrast: Option<Box<Contrast>>,
    },
    Unknown {
        reason: String,
    },
    /// The claim holds only because nothing it speaks of can happen (a bound that never
    /// applies to a task kind): true, but not evidence of anything, so not counted as
    /// proved.
    #[serde(rename = "not applicable")]
    NotApplicable {
        reason: String,
    },
}

/// The second request of a refuted comparison, and what it shows.
#[derive(Debug, Clone, Serialize)]
pub struct Contrast {
    /// What the request is: "with less risk", "made by the delegator".
    pub label: String,
    pub request: RequestDoc,
    pub decision: Decision,
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Proved => "proved",
            Verdict::Refuted { .. } => "refuted",
            Verdict::Unknown { .. } => "unknown",
            Verdict::NotApplicable { .. } => "not applicable",
        }
    }

    fn refuted(request: RequestDoc, decision: Decision) -> Verdict {
        Verdict::Refuted { request: Box::new(request), decision: Box::new(decision), contrast: None }
    }

    fn budget_exceeded(target: &Target, options: &ProveOptions) -> Verdict {
        Verdict::Unknown {
            reason: format!(
                "budget exceeded: analysing {} needs more than {} diagram nodes or {} steps",
                target_text(target),
                options.max_nodes,
                options.max_work
            ),
        }
    }
}

/// The result for one theorem, assertion or bound.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `assertion`, `bound`, `task within bound`, `permit within scope` or `theorem`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Where it is declared (empty for the theorems every package has).
    pub file: String,
    pub start: usize,
    #[serde(flatten)]
    pub verdict: Verdict,
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
}

impl Report {
    fn new(kind: &'static str, name: &str, origin: Option<&Origin>, verdict: Verdict, started: Instant) -> Self {
        Report {
            kind,
            name: name.to_string(),
            file: origin.map(|origin| origin.file.to_string()).unwrap_or_default(),
            start: origin.map_or(0, |origin| origin.start),
            verdict,
            elapsed: started.elapsed(),
        }
    }
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
        out.push_str(&format!("{:<8} {} {} ({millis:.1} ms)\n", report.verdict.word(), report.kind, report.name));
        match &report.verdict {
            Verdict::Proved => {}
            Verdict::Unknown { reason } | Verdict::NotApplicable { reason } => {
                out.push_str(&format!("         {reason}\n"))
            }
            Verdict::Refuted { request, decision, contrast } => {
                out.push_str(&refutation_text(package, request, decision, contrast.as_deref(), "         "));
            }
        }
    }
    let count = |word: &str| reports.iter().filter(|report| report.verdict.word() == word).count();
    out.push_str(&format!("{} proved, {} refuted, {} unknown", count("proved"), count("refuted"), count("unknown")));
    match count("not applicable") {
        0 => out.push('\n'),
        vacuous => out.push_str(&format!(", {vacuous} not applicable\n")),
    }
    out
}

/// A counterexample, its decision and how to reproduce it, each line indented.
pub fn refutation_text(
    package: &str,
    request: &RequestDoc,
    decision: &Decision,
    contrast: Option<&Contrast>,
    indent: &str,
) -> String {
    let mut out = String::new();
    let json = serde_json::to_string(request).unwrap_or_default();
    out.push_str(&format!("{indent}counterexample: {json}\n"));
    for line in decision.to_text().lines() {
        out.push_str(&format!("{indent}{line}\n"));
    }
    out.push_str(&format!("{indent}reproduce: {}\n", reproduce_command(package, request)));
    if let Some(contrast) = contrast {
        let other = serde_json::to_string(&contrast.request).unwrap_or_default();
        out.push_str(&format!("{indent}{}, {}: {other}\n", contrast.label, contrast.decision.decision.word()));
        out.push_str(&format!("{indent}reproduce: {}\n", reproduce_command(package, &contrast.request)));
    }
    out
}

/// The shell command that decides `request` with `mandate eval`.
pub fn reproduce_command(package: &str, request: &RequestDoc) -> String {
    let json = serde_json::to_string(request).unwrap_or_default();
    let quoted = json.replace('\'', "'\\''");
    format!("echo '{quoted}' | mandate eval {package}")
}

/// Checks every assertion and bound, then the theorems every package has: bounds over
/// task declarations, intent containment, permits within their tasks' scopes, delegation
/// within the tasks' limits and never escalating, and risk is restrict-only.
pub fn check(set: &PolicySet, options: &ProveOptions) -> Vec<Report> {
    check_with(&mut Analyses::new(set, *options))
}

/// The reports of [`check`] and the lints of [`lint::lints`], from one set of analyses.
pub fn check_and_lint(set: &PolicySet, options: &ProveOptions) -> (Vec<Report>, Vec<lint::Finding>) {
    let mut analyses = Analyses::new(set, *options);
    let reports = check_with(&mut analyses);
    (reports, lint::lints(&mut analyses))
}

fn check_with(analyses: &mut Analyses<'_>) -> Vec<Report> {
    let mut reports = vec![claims::translation(analyses)];
    reports.extend(claims::declarations(analyses));
    reports.extend(claims::tasks_within_bounds(analyses));
    reports.push(claims::intent(analyses));
    reports.extend(claims::permits_within_scope(analyses));
    reports.push(claims::delegation_limits(analyses));
    reports.extend(claims::narrowings(analyses));
    reports.extend(claims::budgets(analyses));
    reports.push(monotone::attenuation(analyses));
    reports.push(monotone::risk(analyses));
    reports
}

/// "No request on a target for which `condition` holds gets `effect`'s outcome."
#[derive(Debug, Clone)]
pub struct Claim {
    pub effect: Effect,
    pub condition: HExpr,
}

/// The analyses of a policy set's pairs, built once and shared by every question.
pub struct Analyses<'a> {
    set: &'a PolicySet,
    options: ProveOptions,
    built: HashMap<Target, Result<Analysis<'a>, OverBudget>>,
    /// Example decisions the lints may still make to name the policies a finding is
    /// about.
    examples_left: usize,
}

/// Most example decisions the lints make for one package.
const LINT_EXAMPLES: usize = 200;

impl<'a> Analyses<'a> {
    pub fn new(set: &'a PolicySet, options: ProveOptions) -> Self {
        Analyses { set, options, built: HashMap::new(), examples_left: LINT_EXAMPLES }
    }

    /// Answers a question about one pair; running out of budget answers "unknown".
    pub fn with(
        &mut self,
        target: &Target,
        question: impl FnOnce(&mut Analysis<'a>, &ProveOptions) -> Result<Verdict, OverBudget>,
    ) -> Verdict {
        let (set, options) = (self.set, self.options);
        let entry = self.built.entry(target.clone()).or_insert_with(|| Analysis::new(set, target, &options));
        let Ok(analysis) = entry else { return Verdict::budget_exceeded(target, &options) };
        match question(analysis, &options) {
            Ok(verdict) => verdict,
            Err(OverBudget) => {
                // The analysis's budget is spent: later questions about the pair fail fast.
                *entry = Err(OverBudget);
                Verdict::budget_exceeded(target, &options)
            }
        }
    }

    /// A theorem about every pair the policies cover: `question` is asked of each pair's
    /// analysis, and the first refutation decides (else the first unknown, else proved).
    fn theorem(
        &mut self,
        name: &str,
        question: fn(&mut Analysis<'a>, &ProveOptions) -> Result<Verdict, OverBudget>,
    ) -> Report {
        let started = Instant::now();
        let targets = self.partitions();
        let verdict = first_refutation(targets.iter().map(|target| self.with(target, question)));
        Report::new("theorem", name, None, verdict, started)
    }

    /// The pairs some policy targets.
    fn partitions(&self) -> Vec<Target> {
        self.set.plan().partitions.iter().map(|partition| partition.target.clone()).collect()
    }
}

/// The first refutation among `verdicts`, else the first unknown, else proved. Stops at
/// the first refutation.
fn first_refutation(verdicts: impl Iterator<Item = Verdict>) -> Verdict {
    let mut unknown = None;
    for verdict in verdicts {
        match verdict {
            Verdict::Proved => {}
            refuted @ Verdict::Refuted { .. } => return refuted,
            other => unknown = unknown.or(Some(other)),
        }
    }
    unknown.unwrap_or(Verdict::Proved)
}

/// Proved if `paths` is empty; otherwise tries `witness` on the paths, in order, until
/// one gives a refutation or the attempts run out.
fn refute(
    paths: &Paths<'_>,
    options: &ProveOptions,
    mut witness: impl FnMut(&Plan, &Constraints) -> Option<Verdict>,
) -> Verdict {
    if paths.is_empty() {
        return Verdict::Proved;
    }
    let mut tried = 0;
    let mut found = None;
    let complete = paths.each(&mut |plan, constraints| {
        if tried == options.max_witness_attempts {
            return ControlFlow::Break(());
        }
        tried += 1;
        found = witness(plan, constraints);
        if found.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if complete && tried == 0 {
        // Every path needs two attributes compared in a way their ranges rule out.
        return Verdict::Proved;
    }
    if let Some(found) = found {
        return found;
    }
    if tried == 0 {
        return Verdict::Unknown {
            reason: format!(
                "{} path(s) through the graph may violate it, but the walk over them ran past {} steps before it reached one that can happen",
                paths.count(),
                analysis::MOST_PATH_STEPS
            ),
        };
    }
    Verdict::Unknown {
        reason: format!(
            "{} path(s) through the graph may violate it, but none of the {tried} request(s) built for them does; they depend on conditions the prover does not solve",
            paths.count()
        ),
    }
}

/// What a path says about the request, by the field, key and test numbers of the plan
/// it runs through.
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

fn target_text(target: &Target) -> String {
    match &target.resource {
        Some(resource) => format!("`{}` on `{resource}`", target.action),
        None => format!("`{}`", target.action),
    }
}

/// Whether the evaluator finished deciding: a request that runs past the evaluator's
/// limits is denied whatever the policies say, so it shows nothing about them.
fn completed(decision: &Decision) -> bool {
    decision.reasons.first().is_none_or(|reason| reason.code != "evaluation_error")
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
