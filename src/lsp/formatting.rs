//! Document formatting: `mandate fmt` for the open document, as one edit replacing the
//! whole text. A document that does not parse is left as it is (its errors are already
//! published as diagnostics).

use lsp_types::{DocumentFormattingParams, Position, Range, TextEdit};

use super::workspace::Workspace;

pub fn format_document(workspace: &Workspace, params: DocumentFormattingParams) -> Option<Vec<TextEdit>> {
    let view = workspace.view(&params.text_document.uri)?;
    let source = view.text.as_str();
    let formatted = crate::format::format_source(params.text_document.uri.as_str(), source).ok()?;
    if formatted == source {
        return Some(Vec::new());
    }
    let end = view.text.position(source.len());
    let whole = Range { start: Position { line: 0, character: 0 }, end };
    Some(vec![TextEdit { range: whole, new_text: formatted }])
}
