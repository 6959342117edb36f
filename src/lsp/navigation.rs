//! Go to definition and find references, across the files of a package.
//!
//! Both start from the occurrence under the cursor ([`super::index`]): its declarations
//! are the occurrences that declare one of its symbols, its references every occurrence
//! of one of them, in every file of the package an editor can open (the standard
//! library's modules have no file to open).

use lsp_types::{GotoDefinitionParams, GotoDefinitionResponse, Location, ReferenceParams};

use super::index::{declarations, occurrence_at, occurrences};
use super::workspace::{Locator, Workspace};

pub fn definition(workspace: &Workspace, params: GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
    let at = params.text_document_position_params;
    let view = workspace.view(&at.text_document.uri)?;
    let db = workspace.db();
    let occurrence = occurrence_at(occurrences(db, view.package, view.file), view.text.offset(at.position))?;
    let locator = Locator::new(workspace);
    let locations: Vec<Location> = declarations(db, view.package, &occurrence.symbols)
        .into_iter()
        .filter_map(|(file, span)| locator.locate(file.path(db), span))
        .collect();
    (!locations.is_empty()).then_some(GotoDefinitionResponse::Array(locations))
}

pub fn references(workspace: &Workspace, params: ReferenceParams) -> Option<Vec<Location>> {
    let at = params.text_document_position;
    let view = workspace.view(&at.text_document.uri)?;
    let db = workspace.db();
    let occurrence = occurrence_at(occurrences(db, view.package, view.file), view.text.offset(at.position))?;
    let with_declarations = params.context.include_declaration;
    let mut locations = Vec::new();
    for (file, uri, text) in workspace.files(view.package) {
        for found in occurrences(db, view.package, file) {
            if found.shares(&occurrence.symbols) && (with_declarations || !found.declaration) {
                locations.push(Location::new(uri.clone(), text.range(found.span)));
            }
        }
    }
    Some(locations)
}
