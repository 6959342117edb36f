//! Code actions: the checker's "did you mean `X`?" as a quick fix that writes `X`.
//!
//! The fix replaces the diagnostic's labelled span, which for most mistakes is exactly
//! the misspelled name. Where the label covers more (`use std::tme` for an unknown
//! module), the misspelled name the message quotes is found inside it and only that is
//! replaced; when it cannot be found, no fix is offered rather than a wrong one.

use std::collections::HashMap;

use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CodeActionProviderCapability,
    CodeActionResponse, ServerCapabilities, TextEdit, WorkspaceEdit,
};

use super::diagnostics::to_lsp;
use super::text::Text;
use super::workspace::{Locator, Workspace};
use crate::diagnostics::Diagnostic;
use crate::syntax::Span;

pub fn announce(capabilities: &mut ServerCapabilities) {
    capabilities.code_action_provider = Some(CodeActionProviderCapability::Simple(true));
}

pub fn code_actions(workspace: &Workspace, params: CodeActionParams) -> Option<CodeActionResponse> {
    let uri = params.text_document.uri;
    let view = workspace.view(&uri)?;
    let wanted = view.text.span(params.range);
    let locator = Locator::new(workspace);
    let locate = |file: &str, span: Span| locator.locate(file, span);
    let mut actions = Vec::new();
    for diagnostic in workspace.diagnostics_of(&uri) {
        let Some(span) = diagnostic.primary_span().filter(|span| span.start <= wanted.end && wanted.start <= span.end)
        else {
            continue;
        };
        let Some((at, replacement)) = quick_fix(&diagnostic, span, &view.text) else { continue };
        let before = view.text.slice(at).unwrap_or_default();
        let edit = TextEdit::new(view.text.range(at), replacement.clone());
        actions.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: format!("Replace `{before}` with `{replacement}`"),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![to_lsp(&diagnostic, &view.text, &locate)]),
            edit: Some(WorkspaceEdit::new(HashMap::from([(uri.clone(), vec![edit])]))),
            command: None,
            is_preferred: Some(true),
            disabled: None,
            data: None,
        }));
    }
    Some(actions)
}

/// The span to replace and the name to write, for a diagnostic whose help suggests one.
pub fn quick_fix(diagnostic: &Diagnostic, span: Span, text: &Text) -> Option<(Span, String)> {
    let suggested = suggestion(diagnostic.help.as_deref()?)?;
    let labelled = text.slice(span)?;
    if is_one_name(labelled) {
        return (labelled != suggested).then(|| (span, suggested.to_string()));
    }
    let misspelled = quoted(&diagnostic.message)?;
    let at = labelled.find(misspelled)?;
    Some((Span::new(span.start + at, span.start + at + misspelled.len()), suggested.to_string()))
}

/// `X` in a help line that says "did you mean `X`?".
fn suggestion(help: &str) -> Option<&str> {
    let (_, rest) = help.split_once("did you mean `")?;
    let (name, _) = rest.split_once("`?")?;
    is_one_name(name).then_some(name)
}

/// The first name the message quotes in backticks.
fn quoted(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    let (name, _) = rest.split_once('`')?;
    is_one_name(name).then_some(name)
}

fn is_one_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::diagnostics::Severity;

    fn fix(source: &str, message: &str, span: Span, help: &str) -> Option<(Span, String)> {
        let diagnostic = Diagnostic::new("c", Severity::Error, message.to_string(), Arc::from("f"))
            .with_label(span, "here", true)
            .with_help(help.to_string());
        quick_fix(&diagnostic, span, &Text::new(Arc::from(source)))
    }

    #[test]
    fn fixes_replace_the_misspelled_name_only() {
        let source = "resource.ownr == x";
        let fixed = fix(source, "no attribute `ownr`", Span::new(9, 13), "did you mean `owner`?");
        assert_eq!(fixed, Some((Span::new(9, 13), "owner".to_string())));
        let source = "use std::tme";
        let fixed = fix(source, "unknown module `std::tme`", Span::new(0, 12), "did you mean `std::time`?");
        assert_eq!(fixed, Some((Span::new(4, 12), "std::time".to_string())));
        assert_eq!(fix(source, "unknown", Span::new(0, 12), "did you mean `std::time`?"), None);
        assert_eq!(fix(source, "x", Span::new(0, 3), "expected one of `a`, `b`"), None);
    }
}
