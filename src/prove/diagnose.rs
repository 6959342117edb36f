//! Turns the prover's reports and lints into diagnostics for `mandate check`: an
//! over-grant is an error that points at the policy that allows the request and at the
//! scope or bound it exceeds, and carries the request and the command that reproduces
//! it.

use std::sync::Arc;

use super::lint::{Finding, Subject};
use super::{reproduce_command, Report, Verdict};
use crate::diagnostics::{Diagnostic, Severity};
use crate::eval::decision::Decision;
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::Origin;
use crate::syntax::ast::Span;

const OVER_GRANT: &str = "mandate::prove::over_grant";

fn task_kind(request: &RequestDoc) -> String {
    request.task.as_ref().map(|task| task.kind.clone()).unwrap_or_default()
}

/// The text of a file, by name, to keep labels on one line.
pub type Sources<'a> = &'a dyn Fn(&str) -> Option<Arc<str>>;

/// Diagnostics for every refuted or unknown report and every lint; `package` is the
/// path a `mandate eval` command names.
pub fn diagnostics(
    set: &PolicySet,
    package: &str,
    reports: &[Report],
    findings: &[Finding],
    sources: Sources<'_>,
) -> Vec<Diagnostic> {
    let context = Context { set, package, sources };
    let mut out: Vec<Diagnostic> = reports.iter().filter_map(|report| context.report(report)).collect();
    out.extend(findings.iter().filter_map(|finding| context.finding(finding)));
    out
}

struct Context<'a> {
    set: &'a PolicySet,
    package: &'a str,
    sources: Sources<'a>,
}

impl Context<'_> {
    fn report(&self, report: &Report) -> Option<Diagnostic> {
        match &report.verdict {
            Verdict::Proved | Verdict::NotApplicable { .. } => None,
            Verdict::Unknown { reason } => self.unknown(report, reason),
            Verdict::Refuted { request, decision, contrast } => {
                let mut diagnostic = self.refuted(report, request, decision)?;
                let mut help = diagnostic.help.take().unwrap_or_default();
                if let Some(contrast) = contrast {
                    help.push_str(&format!(
                        "\n{}, the request is decided {}: {}",
                        contrast.label,
                        contrast.decision.decision.word(),
                        reproduce_command(self.package, &contrast.request)
                    ));
                }
                diagnostic.help = Some(help);
                let json = serde_json::to_string(request).unwrap_or_default();
                Some(diagnostic.with_counterexample(json, reproduce_command(self.package, request)))
            }
        }
    }

    /// The diagnostic for a refutation, by what was refuted.
    fn refuted(&self, report: &Report, request: &RequestDoc, decision: &Decision) -> Option<Diagnostic> {
        let reproduce = format!("reproduce the decision with: {}", reproduce_command(self.package, request));
        match report.kind {
            "assertion" | "bound" => self.declaration_broken(report, decision, reproduce),
            "task within bound" => self.task_exceeds_bound(report, request, reproduce),
            "permit within scope" => self.permit_wider(report, request, reproduce),
            "delegation narrows" => self.narrowing_widens(request, reproduce),
            "budget" => self.budget_refunds(report, decision, reproduce),
            _ if report.name == super::claims::TRANSLATION => self.miscompiled(report, decision, reproduce),
            _ => self.theorem_refuted(report, request, decision, reproduce),
        }
    }

    /// An assertion or bound a decision breaks: at the policy behind the decision, and
    /// at the declaration.
    fn declaration_broken(&self, report: &Report, decision: &Decision, reproduce: String) -> Option<Diagnostic> {
        let declared = self.declaration(report)?;
        let (culprit, name) = match self.culprit(decision) {
            Some((origin, name)) => (origin, format!("`{name}`")),
            None => (declared, "the policy set".to_string()),
        };
        let message = match report.kind {
            "bound" => format!("bound `{}` is exceeded: {name} allows a request outside it", report.name),
            _ => format!(
                "assertion `{}` does not hold: {name} gives a request it rules out `{}`",
                report.name,
                decision.decision.word()
            ),
        };
        let diagnostic = self.at(OVER_GRANT, Severity::Error, message, culprit, "decides the counterexample");
        Some(self.also(diagnostic, declared, &format!("the {} it breaks", report.kind)).with_help(reproduce))
    }

    /// A task declared wider than a bound on its kind: at the task, and at the bound.
    fn task_exceeds_bound(&self, report: &Report, request: &RequestDoc, reproduce: String) -> Option<Diagnostic> {
        let hir = self.set.hir();
        let kind = task_kind(request);
        let task = &hir.tasks.get(&kind)?.origin;
        let bound = hir.bounds.iter().find(|bound| report.name.ends_with(&format!(" within {}", bound.name)));
        let message = format!("task `{kind}` declares a scope wider than bound `{}`", bound.map_or("", |b| &b.name));
        let diagnostic = self.at(OVER_GRANT, Severity::Error, message, task, "its scope covers the counterexample");
        let diagnostic = match bound {
            Some(bound) => self.also(diagnostic, &bound.origin, "the bound it exceeds"),
            None => diagnostic,
        };
        let help = format!(
            "narrow the task's scope to fit the bound; a request its scope covers and the bound excludes:\n{reproduce}"
        );
        Some(diagnostic.with_help(help))
    }

    /// A permit written wider than its task's scope: a warning at the permit and the task.
    fn permit_wider(&self, report: &Report, request: &RequestDoc, reproduce: String) -> Option<Diagnostic> {
        let kind = task_kind(request);
        let permit = self.policy(&report.name)?;
        let message = format!("permit `{}` is wider than the scope of task `{kind}`", report.name);
        let code = "mandate::prove::permit_wider_than_scope";
        let diagnostic = self.at(code, Severity::Warning, message, permit, "matches requests outside the task's scope");
        let diagnostic = match self.set.hir().tasks.get(&kind) {
            Some(task) => self.also(diagnostic, &task.origin, "the scope the graph enforces"),
            None => diagnostic,
        };
        let help = format!(
            "the graph denies such requests as outside declared intent; narrow the permit to the scope\n{reproduce}"
        );
        Some(diagnostic.with_help(help))
    }

    /// A `delegate … narrow` that covers more than the task's scope: at the task.
    fn narrowing_widens(&self, request: &RequestDoc, reproduce: String) -> Option<Diagnostic> {
        let kind = task_kind(request);
        let task = &self.set.hir().tasks.get(&kind)?.origin;
        let message = format!("the `narrow` of task `{kind}`'s `delegate` clause reaches outside the task's scope");
        let diagnostic = self.at(
            "mandate::prove::narrowing_widens",
            Severity::Error,
            message,
            task,
            "its narrowing covers the counterexample",
        );
        let help = format!(
            "repeat the scope's conditions in the narrowing; a request the narrowing covers and the scope does not:\n{reproduce}"
        );
        Some(diagnostic.with_help(help))
    }

    /// A permit that allows a negative amount into a budget: a warning at the permit (the
    /// runtime refuses the amount, so the ceiling holds).
    fn budget_refunds(&self, report: &Report, decision: &Decision, reproduce: String) -> Option<Diagnostic> {
        let (origin, name) =
            match decision.policies.permit.first().and_then(|name| self.policy(name).map(|o| (o, name))) {
                Some((origin, name)) => (origin, format!("`{name}`")),
                None => (self.origin_of(report)?, "the policy set".to_string()),
            };
        let message = format!("{name} allows a negative amount into `{}`", report.name);
        let diagnostic = self.at(
            "mandate::prove::negative_budget_amount",
            Severity::Warning,
            message,
            origin,
            "allows a negative amount",
        );
        let help = format!(
            "the runtime refuses a negative amount (`budget_invalid`), so the budget holds; require the amount to be positive in the permit or the scope\n{reproduce}"
        );
        Some(diagnostic.with_help(help))
    }

    /// The compiled graph decides a request otherwise than the policies: a compiler bug,
    /// or a plan that does not belong to its policies.
    fn miscompiled(&self, report: &Report, decision: &Decision, reproduce: String) -> Option<Diagnostic> {
        let origin = self.origin_of(report).or_else(|| self.set.hir().policies.first().map(|p| &p.origin))?;
        let message = format!(
            "the compiled graph decides a request `{}`, which the policies' conditions do not",
            decision.decision.word()
        );
        let diagnostic = self.at("mandate::prove::miscompiled", Severity::Error, message, origin, "miscompiled");
        Some(diagnostic.with_help(format!("recompile the package, or report a compiler bug\n{reproduce}")))
    }

    /// A theorem about allows (intent, delegation, risk): at the permit that allows.
    fn theorem_refuted(
        &self,
        report: &Report,
        request: &RequestDoc,
        decision: &Decision,
        reproduce: String,
    ) -> Option<Diagnostic> {
        let permit = decision.policies.permit.first().and_then(|name| self.policy(name).map(|origin| (origin, name)));
        let task = self.set.hir().tasks.get(&task_kind(request)).map(|task| &task.origin);
        let (origin, name) = match permit {
            Some((origin, name)) => (origin, format!("`{name}`")),
            None => (task?, "the policy set".to_string()),
        };
        let message = format!("theorem `{}` is refuted: {name} allows the counterexample", report.name);
        let diagnostic = self.at(OVER_GRANT, Severity::Error, message, origin, "allows the counterexample");
        Some(diagnostic.with_help(reproduce))
    }

    /// A verdict the prover could not reach, as information where the report points (for
    /// a theorem of the whole package, the first policy).
    fn unknown(&self, report: &Report, reason: &str) -> Option<Diagnostic> {
        let origin = self.origin_of(report).or_else(|| self.set.hir().policies.first().map(|p| &p.origin))?;
        let message = format!("{} `{}` is neither proved nor refuted", report.kind, report.name);
        let diagnostic = self.at("mandate::prove::unknown", Severity::Info, message, origin, "unknown");
        Some(diagnostic.with_help(reason.to_string()))
    }

    fn finding(&self, finding: &Finding) -> Option<Diagnostic> {
        let hir = self.set.hir();
        let origin = match &finding.subject {
            Subject::Policy(index) => &hir.policies.get(*index)?.origin,
            Subject::Task(name) => &hir.tasks.get(name)?.origin,
        };
        let code = format!("mandate::lint::{}", finding.lint);
        let mut diagnostic = self.at(&code, finding.severity, finding.message.clone(), origin, finding.lint);
        for other in finding.related.iter().filter_map(|index| self.set.hir().policies.get(*index)) {
            diagnostic = self.also(diagnostic, &other.origin, &format!("`{}`", other.name));
        }
        let mut help = finding.help.clone();
        if let Some(example) = &finding.example {
            help.push_str(&format!("\na request both match: {}", reproduce_command(self.package, example)));
            let json = serde_json::to_string(example).unwrap_or_default();
            diagnostic = diagnostic.with_counterexample(json, reproduce_command(self.package, example));
        }
        Some(diagnostic.with_help(help))
    }

    fn policy(&self, name: &str) -> Option<&Origin> {
        self.set.hir().policies.iter().find(|policy| policy.name == name).map(|policy| &policy.origin)
    }

    /// Where an assertion or bound is declared.
    fn declaration(&self, report: &Report) -> Option<&Origin> {
        let hir = self.set.hir();
        let assertion = hir.assertions.iter().find(|a| a.name == report.name).map(|a| &a.origin);
        let bound = hir.bounds.iter().find(|b| b.name == report.name).map(|b| &b.origin);
        match report.kind {
            "assertion" => assertion,
            "bound" => bound,
            _ => None,
        }
    }

    /// The policy whose effect the decision shows, and its name.
    fn culprit<'d>(&self, decision: &'d Decision) -> Option<(&Origin, &'d str)> {
        let policies = &decision.policies;
        let name = match decision.decision {
            crate::eval::Outcome::Allow => policies.permit.first(),
            crate::eval::Outcome::Escalate => policies.escalate.first(),
            crate::eval::Outcome::Deny => policies.forbid.first(),
        }?;
        self.policy(name).map(|origin| (origin, &**name))
    }

    /// Where a report points: its declaration, or the file and offset it carries.
    fn origin_of(&self, report: &Report) -> Option<&Origin> {
        let hir = self.set.hir();
        let at = |origin: &&Origin| *origin.file == *report.file && origin.start == report.start;
        let declared = hir.assertions.iter().map(|a| &a.origin).chain(hir.bounds.iter().map(|b| &b.origin));
        let tasks = hir.tasks.values().map(|task| &task.origin);
        let policies = hir.policies.iter().map(|policy| &policy.origin);
        declared.chain(tasks).chain(policies).find(at)
    }

    /// A diagnostic labelled at `origin`'s first line.
    fn at(&self, code: &str, severity: Severity, message: String, origin: &Origin, label: &str) -> Diagnostic {
        Diagnostic::new(code, severity, message, origin.file.clone()).with_label(self.first_line(origin), label, true)
    }

    /// Adds a pointer to `origin`: a label in the same file, else a related location.
    fn also(&self, diagnostic: Diagnostic, origin: &Origin, message: &str) -> Diagnostic {
        let span = self.first_line(origin);
        if diagnostic.file == origin.file {
            if diagnostic.labels.iter().any(|label| label.span == span) {
                return diagnostic;
            }
            diagnostic.with_label(span, message, false)
        } else {
            diagnostic.with_related(origin.file.clone(), span, message)
        }
    }

    /// The declaration's span, cut at its first line.
    fn first_line(&self, origin: &Origin) -> Span {
        let end = (self.sources)(&origin.file)
            .and_then(|text| text.get(origin.start..origin.end).and_then(|inner| inner.find('\n')))
            .map_or(origin.end, |line| origin.start + line);
        Span { start: origin.start, end: end.max(origin.start) }
    }
}
