//! The language server's edit loop: from a `didChange` that edits one policy of the
//! 1,000-policy benchmark package (`generated/mod.rs`, as `benches/prove.rs` builds it)
//! to the diagnostics the server publishes for it. The server's own change handler is
//! called directly (no stdio), so what is measured is applying the edit, loading the
//! package again into its salsa input, re-checking what the edit affects, and converting
//! the diagnostics. Figures and the command are in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // bench code may fail loudly

use std::hint::black_box;
use std::path::Path;
use std::str::FromStr;

use criterion::{criterion_group, criterion_main, Criterion};
use lsp_types::{
    DidChangeTextDocumentParams, DidOpenTextDocumentParams, Position, Range, TextDocumentContentChangeEvent,
    TextDocumentItem, Uri, VersionedTextDocumentIdentifier,
};
use mandate::lsp::Workspace;

#[path = "generated/mod.rs"]
mod generated;

use generated::{policy, SCHEMA};

/// The edited policy: one of the identity permits, whose risk threshold flips.
const EDITED: usize = 500;

/// Writes the package as `files` policy files (1,000 policies in all) and the schema.
fn write_package(dir: &Path, files: usize) -> Vec<(String, String)> {
    std::fs::write(dir.join("schema.mandate"), SCHEMA).unwrap();
    let per_file = 1_000 / files;
    (0..files)
        .map(|file| {
            let text: String = (file * per_file..(file + 1) * per_file).map(|index| policy(index, false)).collect();
            let name = format!("policies_{file:02}.mandate");
            std::fs::write(dir.join(&name), &text).unwrap();
            (name, text)
        })
        .collect()
}

/// The position of the edited policy's risk threshold in `text`.
fn threshold(text: &str) -> Range {
    let policy = text.find(&format!("policy p{EDITED}:")).expect("the edited policy");
    let at = policy + text[policy..].find("behavior.risk < ").unwrap() + "behavior.risk < ".len();
    let line = text[..at].matches('\n').count() as u32;
    let column = (at - text[..at].rfind('\n').map_or(0, |newline| newline + 1)) as u32;
    Range::new(Position::new(line, column), Position::new(line, column + 3))
}

fn edit_one_policy(c: &mut Criterion, name: &str, files: usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let written = write_package(&root, files);
    let (file, text) = written.iter().find(|(_, text)| text.contains(&format!("policy p{EDITED}:"))).unwrap();
    let uri = Uri::from_str(&format!("file://{}", root.join(file).display())).unwrap();
    let mut workspace = Workspace::without_proofs();
    let item = TextDocumentItem::new(uri.clone(), "mandate".to_string(), 1, text.clone());
    let opened = workspace.did_open(DidOpenTextDocumentParams { text_document: item });
    assert!(opened.iter().all(|published| published.diagnostics.is_empty()), "the package checks");
    let range = threshold(text);
    let mut version = 1;
    c.bench_function(name, |b| {
        b.iter(|| {
            version += 1;
            let threshold = if version % 2 == 0 { "0.4" } else { "0.5" };
            let change =
                TextDocumentContentChangeEvent { range: Some(range), range_length: None, text: threshold.into() };
            let params = DidChangeTextDocumentParams {
                text_document: VersionedTextDocumentIdentifier::new(uri.clone(), version),
                content_changes: vec![change],
            };
            let published = workspace.did_change(params);
            let own = published.iter().find(|published| published.uri == uri).expect("published for the edited file");
            assert!(own.diagnostics.is_empty() && own.version == Some(version));
            black_box(published)
        })
    });
}

fn did_change_to_diagnostics(c: &mut Criterion) {
    edit_one_policy(c, "lsp/did_change_to_diagnostics/1000_policies_one_file", 1);
    edit_one_policy(c, "lsp/did_change_to_diagnostics/1000_policies_10_files", 10);
}

criterion_group!(benches, did_change_to_diagnostics);
criterion_main!(benches);
