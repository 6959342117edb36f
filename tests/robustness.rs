//! Hostile input never panics, never overflows the stack and always gets a diagnostic
//! that says what is wrong: random bytes, invalid UTF-8, very deep nesting, very large
//! files and empty files.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::path::PathBuf;
use std::sync::Arc;

use mandate::diagnostics::Diagnostic;
use mandate::package::check_paths;
use mandate::syntax::lexer::KEYWORDS;
use mandate::syntax::{self, MAX_EXPR_DEPTH, MAX_SYNTAX_ERRORS};
use proptest::prelude::*;

const SCHEMA: &str =
    "schema { agent { team: String } resource Doc { owner: String, tags: Set<String> } action read on Doc }\n";

fn check_bytes(bytes: &[u8]) -> Vec<Diagnostic> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("input.mandate");
    std::fs::write(&path, bytes).expect("write input");
    let (_, diagnostics) = check_paths(&[path]);
    diagnostics
}

fn codes(diagnostics: &[Diagnostic]) -> Vec<&str> {
    diagnostics.iter().map(|d| d.code.as_str()).collect()
}

fn assert_spans_in_bounds(source: &str, diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        for label in &diagnostic.labels {
            assert!(label.span.start <= label.span.end && label.span.end <= source.len(), "{diagnostic:?}");
            assert!(source.is_char_boundary(label.span.start) && source.is_char_boundary(label.span.end));
        }
    }
}

/// Tokens of the language in random order reach deep into the parser's states.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        prop::sample::select(
            KEYWORDS
                .iter()
                .copied()
                .chain([
                    "{", "}", "(", ")", "[", "]", "<", "<=", ">", ">=", "==", "!=", "=", "->", "::", ":", ",", ".",
                    "?", "*", "+", "-", "depth", "Doc", "read", "owner", "x", "String", "Set", "15m", "0.5", "42",
                    "\"s\"", "\"", "&&", "é", "\u{0}",
                ])
                .collect::<Vec<_>>()
        )
        .prop_map(str::to_string),
        "[a-z]{1,5}",
    ];
    prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_get_diagnostics_not_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let diagnostics = check_bytes(&bytes);
        match std::str::from_utf8(&bytes) {
            Err(error) => {
                prop_assert_eq!(codes(&diagnostics), vec!["mandate::source::invalid_utf8"]);
                let span = diagnostics[0].primary_span().expect("points at the byte");
                prop_assert_eq!(span.start, error.valid_up_to());
            }
            Ok(text) if text.trim().is_empty() => {
                prop_assert_eq!(codes(&diagnostics), vec!["mandate::lint::empty_file"]);
            }
            Ok(_) => prop_assert!(!diagnostics.is_empty()),
        }
    }

    #[test]
    fn token_soup_parses_and_checks_without_panicking(soup in token_soup()) {
        let source = format!("{SCHEMA}{soup}");
        let (_, diagnostics) = syntax::parse(&source, &Arc::from("soup.mandate"));
        assert_spans_in_bounds(&source, &diagnostics);
        let (_, diagnostics) = mandate::package::check_sources(&[("soup.mandate", &source)]);
        assert_spans_in_bounds(&source, &diagnostics);
    }

    #[test]
    fn random_text_parses_without_panicking(text in "\\PC{0,200}") {
        let (_, diagnostics) = syntax::parse(&text, &Arc::from("text.mandate"));
        assert_spans_in_bounds(&text, &diagnostics);
    }
}

fn deep(prefix: &str, atom: &str, suffix: &str, depth: usize) -> String {
    format!("{}{}{}", prefix.repeat(depth), atom, suffix.repeat(depth))
}

/// Expressions nested 10,000 deep, in every way the grammar nests, report that they are
/// too deep once, without overflowing the stack of a test thread.
#[test]
fn expressions_nested_ten_thousand_deep() {
    let cases = [
        ("parentheses around a comparison chain", deep("(", "resource.owner == \"a\"", ") and true", 10_000)),
        ("negations", deep("not ", "true", "", 10_000)),
        ("a long `and` chain", format!("true{}", " and true".repeat(10_000))),
        ("a long `or` chain", format!("false{}", " or resource.owner == \"a\"".repeat(10_000))),
        ("nested sets", format!("resource.owner in {}", deep("[", "\"a\"", "]", 10_000))),
        ("arithmetic", format!("{} > 0", deep("-(", "1", ")", 10_000))),
        ("quantifiers", deep("any(t in resource.tags: ", "t == \"a\"", ")", 10_000)),
        ("field chains", format!("resource{} == \"a\"", ".owner".repeat(10_000))),
    ];
    for (name, condition) in cases {
        let source = format!("{SCHEMA}policy deep: forbid read on Doc when {condition}\n");
        let (_, diagnostics) = mandate::package::check_sources(&[("deep.mandate", &source)]);
        let deep_errors = diagnostics.iter().filter(|d| d.code == "mandate::syntax::too_deep").count();
        assert_eq!(deep_errors, 1, "{name}: {:?}", codes(&diagnostics));
        assert!(diagnostics
            .iter()
            .all(|d| d.message.contains(&MAX_EXPR_DEPTH.to_string()) || d.code != "mandate::syntax::too_deep"));
    }
}

/// Parentheses alone do not deepen the tree, so 10,000 of them are fine.
#[test]
fn redundant_parentheses_are_not_depth() {
    let source = format!("{SCHEMA}policy p: forbid read on Doc when {}\n", deep("(", "true", ")", 10_000));
    let (_, diagnostics) = mandate::package::check_sources(&[("parens.mandate", &source)]);
    assert!(diagnostics.is_empty(), "{:?}", codes(&diagnostics));
}

#[test]
fn nesting_just_under_the_limit_is_accepted() {
    let depth = MAX_EXPR_DEPTH as usize - 1;
    let source = format!("{SCHEMA}policy p: forbid read on Doc when {}\n", deep("not ", "true", "", depth - 1));
    let (_, diagnostics) = mandate::package::check_sources(&[("limit.mandate", &source)]);
    assert!(diagnostics.is_empty(), "{:?}", codes(&diagnostics));
}

/// A 10 MB file of valid policies checks cleanly; one of garbage stops listing errors
/// after the limit instead of flooding the output.
#[test]
fn ten_megabyte_files() {
    let mut valid = String::from(SCHEMA);
    let mut index = 0;
    while valid.len() < 10_000_000 {
        valid.push_str(&format!(
            "policy p{index}: forbid read on Doc when resource.owner == \"o{index}\" and agent.team != \"t\"\n"
        ));
        index += 1;
    }
    let diagnostics = check_bytes(valid.as_bytes());
    assert!(diagnostics.is_empty(), "{:?}", &codes(&diagnostics)[..diagnostics.len().min(5)]);

    let garbage = "policy ) ( when == on ] ".repeat(10_000_000 / 24);
    let diagnostics = check_bytes(garbage.as_bytes());
    assert_eq!(diagnostics.len(), MAX_SYNTAX_ERRORS + 1);
    assert_eq!(diagnostics.last().map(|d| d.code.as_str()), Some("mandate::syntax::too_many_errors"));
}

#[test]
fn empty_and_missing_inputs() {
    assert_eq!(codes(&check_bytes(b"")), vec!["mandate::lint::empty_file"]);
    assert_eq!(codes(&check_bytes(b"\n  // only a comment\n")), vec!["mandate::lint::empty_file"]);
    let (_, diagnostics) = check_paths(&[PathBuf::from("/nonexistent/policies.mandate")]);
    assert_eq!(codes(&diagnostics), vec!["mandate::source::unreadable"]);
    let empty_dir = tempfile::tempdir().expect("temp dir");
    let (_, diagnostics) = check_paths(&[empty_dir.path().to_path_buf()]);
    assert_eq!(codes(&diagnostics), vec!["mandate::source::no_files"]);
}

/// Types nest like expressions and are capped the same way.
#[test]
fn types_nested_ten_thousand_deep() {
    for (name, ty) in
        [("sets", deep("Set<", "String", ">", 10_000)), ("records", deep("{ a: ", "String", " }", 10_000))]
    {
        let source = format!("schema {{ resource R {{ a: {ty} }} }}\n");
        let (_, diagnostics) = mandate::package::check_sources(&[("types.mandate", &source)]);
        assert_eq!(codes(&diagnostics), vec!["mandate::syntax::too_deep"], "{name}");
    }
}

/// A mistake on a very long line is still reported, with its position, for people too.
#[test]
fn very_long_lines_render() {
    let source = format!("{}&&\n", " ".repeat(70_000));
    let (loader, diagnostics) = mandate::package::check_sources(&[("long.mandate", &source)]);
    let text = mandate::report::human(&diagnostics, &|path: &str| loader.source_of(path), false);
    assert!(text.contains("long.mandate:1:70001"), "{text}");
}
