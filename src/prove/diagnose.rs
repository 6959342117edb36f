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
            Verdict::Proved => None,
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
        let hir = self.set.hir();
        let allowing = decision.policies.permit.first().and_then(|name| self.policy(name));
        let kind = request.task.as_ref().map(|task| task.kind.clone()).unwrap_or_default();
        let task = hir.tasks.get(&kind).map(|task| &task.origin);
        let reproduce = format!("reproduce the decision with: {}", reproduce_command(self.package, request));
        let over_grant = "mandate::prove::over_grant";
        match report.kind {
            "assertion" | "bound" => {
                let declared = self.declaration(report)?;
                let culprit = self.culprit(report, decision).unwrap_or(declared);
                let message = match report.kind {
                    "bound" => format!(
                        "bound `{}` is exceeded: {} allows a request outside it",
                        report.assertion,
                        culprit_name(decision)
                    ),
                    _ => format!(
                        "assertion `{}` does not hold: {} gives a request it rules out `{}`",
                        report.assertion,
                        culprit_name(decision),
                        decision.decision.word()
                    ),
                };
                let diagnostic = self.at(over_grant, Severity::Error, message, culprit, "decides the counterexample");
                Some(self.also(diagnostic, declared, &format!("the {} it breaks", report.kind)).with_help(reproduce))
            }
            "task within bound" => {
                let bound =
                    hir.bounds.iter().find(|bound| report.assertion.ends_with(&format!(" within {}", bound.name)));
                let message =
                    format!("task `{kind}` declares a scope wider than bound `{}`", bound.map_or("", |b| &b.name));
                let diagnostic =
                    self.at(over_grant, Severity::Error, message, task?, "its scope covers the counterexample");
                let diagnostic = match bound {
                    Some(bound) => self.also(diagnostic, &bound.origin, "the bound it exceeds"),
                    None => diagnostic,
                };
                let help = format!("narrow the task's scope to fit the bound; a request its scope covers and the bound excludes:\n{reproduce}");
                Some(diagnostic.with_help(help))
            }
            "permit within scope" => {
                let permit = self.policy(&report.assertion)?;
                let message = format!("permit `{}` is wider than the scope of task `{kind}`", report.assertion);
                let diagnostic = self.at(
                    "mandate::prove::permit_wider_than_scope",
                    Severity::Warning,
                    message,
                    permit,
                    "matches requests outside the task's scope",
                );
                let diagnostic = match task {
                    Some(task) => self.also(diagnostic, task, "the scope the graph enforces"),
                    None => diagnostic,
                };
                let help = format!("the graph denies such requests as outside declared intent; narrow the permit to the scope\n{reproduce}");
                Some(diagnostic.with_help(help))
            }
            _ => {
                let culprit = allowing.or(task)?;
                let message = format!(
                    "theorem `{}` is refuted: {} allows the counterexample",
                    report.assertion,
                    culprit_name(decision)
                );
                let diagnostic = self.at(over_grant, Severity::Error, message, culprit, "allows the counterexample");
                Some(diagnostic.with_help(reproduce))
            }
        }
    }

    /// A verdict the prover could not reach, as information at the declaration (or the
    /// first policy, for a theorem).
    fn unknown(&self, report: &Report, reason: &str) -> Option<Diagnostic> {
        let origin =
            self.declaration(report).or_else(|| self.set.hir().policies.first().map(|policy| &policy.origin))?;
        let message = format!("{} `{}` is neither proved nor refuted", report.kind, report.assertion);
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
        let assertion = hir.assertions.iter().find(|a| a.name == report.assertion).map(|a| &a.origin);
        let bound = hir.bounds.iter().find(|b| b.name == report.assertion).map(|b| &b.origin);
        match report.kind {
            "assertion" => assertion,
            "bound" => bound,
            _ => None,
        }
    }

    /// The policy whose effect the decision shows.
    fn culprit(&self, _report: &Report, decision: &Decision) -> Option<&Origin> {
        let policies = &decision.policies;
        let name = policies.forbid.first().or(policies.escalate.first()).or(policies.permit.first());
        let name = match decision.decision {
            crate::eval::Outcome::Allow => policies.permit.first(),
            crate::eval::Outcome::Escalate => policies.escalate.first(),
            crate::eval::Outcome::Deny => name,
        }?;
        self.policy(name)
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

fn culprit_name(decision: &Decision) -> String {
    let names: Vec<String> =
        decision.policies.permit.iter().chain(&decision.policies.escalate).map(|name| format!("`{name}`")).collect();
    match names.as_slice() {
        [] => "the policy set".to_string(),
        _ => names.join(", "),
    }
}
