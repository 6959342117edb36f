//! What the project ships must be true: every example in the language reference, every
//! example package and every standard module checks without a single diagnostic.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::path::{Path, PathBuf};

use mandate::diagnostics::Diagnostic;
use mandate::package::{check_paths, check_sources, Loader};
use mandate::report;

fn render(loader: &Loader, diagnostics: &[Diagnostic]) -> String {
    report::human(diagnostics, &|path: &str| loader.source_of(path), false)
}

/// The ```mandate blocks of a Markdown file, in order.
fn mandate_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```mandate") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn language_reference_examples_check_cleanly() {
    let markdown = std::fs::read_to_string("docs/language.md").expect("docs/language.md exists");
    let blocks = mandate_blocks(&markdown);
    assert!(blocks.len() >= 20, "the reference should show every construct; found {} examples", blocks.len());
    let names: Vec<String> = (1..=blocks.len()).map(|n| format!("docs/language.md#example-{n}")).collect();
    let sources: Vec<(&str, &str)> = names.iter().map(String::as_str).zip(blocks.iter().map(String::as_str)).collect();
    let (loader, diagnostics) = check_sources(&sources);
    assert!(diagnostics.is_empty(), "{}", render(&loader, &diagnostics));
}

fn packages_under(dir: &Path) -> Vec<PathBuf> {
    let mut packages: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    packages.sort();
    packages
}

#[test]
fn example_packages_check_cleanly() {
    let packages = packages_under(Path::new("examples"));
    assert!(packages.len() >= 3, "expected at least three example packages, found {packages:?}");
    for package in packages {
        let (loader, diagnostics) = check_paths(std::slice::from_ref(&package));
        assert!(diagnostics.is_empty(), "{}: {}", package.display(), render(&loader, &diagnostics));
    }
}

#[test]
fn standard_modules_check_cleanly() {
    for (name, _) in mandate::stdlib::MODULES {
        let source = format!("use std::{name}\n");
        let (loader, diagnostics) = check_sources(&[("main.mandate", &source)]);
        assert!(diagnostics.is_empty(), "std::{name}: {}", render(&loader, &diagnostics));
    }
}
