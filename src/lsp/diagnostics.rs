//! Mandate's diagnostics in the protocol's form.
//!
//! A [`Diagnostic`] keeps everything `mandate check` prints: a stable code, labels, a
//! help line, pointers into other files and, for an over-grant, the counterexample
//! request with the command that reproduces it. An editor shows a message, a range and
//! "related information", so the help and the counterexample join the message, every
//! secondary label and every pointer becomes related information, and the
//! counterexample also travels as structured `data` for clients that want it.

use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, Location, NumberOrString, Position, Range,
};
use serde_json::json;

use super::text::Text;
use crate::diagnostics::{Diagnostic, Severity};
use crate::syntax::Span;

/// Finds where a span of a file (by display name) is, as a location an editor opens.
pub type Locate<'a> = &'a dyn Fn(&str, Span) -> Option<Location>;

/// The protocol's form of a diagnostic of the file whose text is `text` and whose URI
/// `locate` gives for the diagnostic's own file name.
pub fn to_lsp(diagnostic: &Diagnostic, text: &Text, locate: Locate<'_>) -> lsp_types::Diagnostic {
    let range =
        diagnostic.primary_span().map_or(Range::new(Position::new(0, 0), Position::new(0, 0)), |span| text.range(span));
    let related = related_information(diagnostic, locate);
    let unnecessary = diagnostic.code.ends_with("::unused_function");
    lsp_types::Diagnostic {
        range,
        severity: Some(severity(diagnostic.severity)),
        code: Some(NumberOrString::String(diagnostic.code.clone())),
        code_description: None,
        source: Some("mandate".to_string()),
        message: message(diagnostic),
        related_information: (!related.is_empty()).then_some(related),
        tags: unnecessary.then(|| vec![DiagnosticTag::UNNECESSARY]),
        data: diagnostic.counterexample.as_ref().map(|counterexample| {
            json!({ "counterexample": { "request": counterexample.request, "reproduce": counterexample.reproduce } })
        }),
    }
}

/// Informational findings (an overlap, an unknown verdict) are notes `mandate check`
/// shows only with `--verbose`; editors show hints as unobtrusively.
fn severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::HINT,
    }
}

/// The message, then the help line, then the counterexample unless the help shows it.
fn message(diagnostic: &Diagnostic) -> String {
    let mut message = diagnostic.message.clone();
    if let Some(help) = &diagnostic.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    if let Some(counterexample) = &diagnostic.counterexample {
        if !message.contains(&counterexample.request) {
            message.push_str("\ncounterexample: ");
            message.push_str(&counterexample.request);
        }
        if !message.contains(&counterexample.reproduce) {
            message.push_str("\nreproduce: ");
            message.push_str(&counterexample.reproduce);
        }
    }
    message
}

/// Secondary labels that say something, and pointers into other files.
fn related_information(diagnostic: &Diagnostic, locate: Locate<'_>) -> Vec<DiagnosticRelatedInformation> {
    let labels = diagnostic.labels.iter().filter(|label| !label.primary).filter_map(|label| {
        let message = label.message.clone()?;
        Some(DiagnosticRelatedInformation { location: locate(&diagnostic.file, label.span)?, message })
    });
    let pointers = diagnostic.related.iter().filter_map(|related| {
        let location = locate(&related.file, related.span)?;
        Some(DiagnosticRelatedInformation { location, message: related.message.clone() })
    });
    labels.chain(pointers).collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn help_and_counterexample_join_the_message() {
        let text = Text::new(Arc::from("policy p: permit x"));
        let diagnostic = Diagnostic::new("mandate::prove::refuted", Severity::Error, "refuted".into(), Arc::from("a"))
            .with_label(Span::new(7, 8), "here", true)
            .with_label(Span::new(10, 16), "because of this", false)
            .with_help("narrow it".into())
            .with_counterexample("{}".into(), "mandate eval .".into());
        let uri = lsp_types::Uri::from_str("file:///a.mandate").unwrap();
        let locate = |_: &str, span: Span| Some(Location::new(uri.clone(), text.range(span)));
        let converted = to_lsp(&diagnostic, &text, &locate);
        assert_eq!(converted.message, "refuted\nhelp: narrow it\ncounterexample: {}\nreproduce: mandate eval .");
        assert_eq!(converted.range, Range::new(Position::new(0, 7), Position::new(0, 8)));
        let related = converted.related_information.unwrap();
        assert_eq!(related.len(), 1);
        assert_eq!(related[0].message, "because of this");
        assert_eq!(converted.data.unwrap()["counterexample"]["reproduce"], "mandate eval .");
    }
}
