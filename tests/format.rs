//! `mandate fmt`: property tests of the formatter and the command line.
//!
//! The inputs are random packages from the equivalence test's generator and every
//! shipped source (examples, standard library, parse fixtures, the documentation's code
//! blocks), with comments and blank lines inserted at random token boundaries and, now
//! and then, CRLF line ends, a byte-order mark or tab indentation. For each: formatting
//! succeeds, formatting again changes nothing, the output parses to the same tree (spans
//! aside), and it holds every comment of the input, in order. Formatting also depends on
//! the tree, comments and blank lines alone: two layouts of one comment-free text format
//! alike.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};

use mandate::format::{comment_texts, format_source, mandate_blocks};
use mandate::syntax::lexer::tokenize;
use mandate::syntax::parse;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

mod support;

use support::generate::Gen;

/// The tree of a source as its `Debug` text with every span blanked out, so two trees
/// compare equal when they differ only in where things are.
fn tree_without_spans(text: &str) -> String {
    static SPAN: OnceLock<regex::Regex> = OnceLock::new();
    let span = SPAN.get_or_init(|| regex::Regex::new(r"Span \{ start: \d+, end: \d+ \}").unwrap());
    let (tree, diagnostics) = parse(text, &Arc::from("tree"));
    assert!(diagnostics.iter().all(|diagnostic| !diagnostic.is_error()), "{text}\n{diagnostics:?}");
    span.replace_all(&format!("{tree:?}"), "Span").into_owned()
}

/// What may be inserted between two tokens.
#[derive(Debug, Clone)]
enum Insert {
    /// A comment at the end of the line, after the token.
    Trailing(String),
    /// A comment on a line of its own.
    OwnLine(String),
    BlankLines,
    Newline,
}

impl Insert {
    fn text(&self) -> String {
        match self {
            Insert::Trailing(text) => format!(" // {text}\n"),
            Insert::OwnLine(text) => format!("\n//{text}\n"),
            Insert::BlankLines => "\n\n\n".to_string(),
            Insert::Newline => "\n".to_string(),
        }
    }
}

fn comment_text() -> impl Strategy<Value = String> {
    "[a-z0-9 \t\"'/*{}()\\[\\],.:é漢😀-]{0,24}"
}

fn insert() -> impl Strategy<Value = Insert> {
    prop_oneof![
        3 => comment_text().prop_map(Insert::Trailing),
        3 => comment_text().prop_map(Insert::OwnLine),
        1 => Just(Insert::BlankLines),
        1 => Just(Insert::Newline),
    ]
}

/// How the whole text is dressed up after the insertions.
#[derive(Debug, Clone, Copy)]
struct Dress {
    crlf: bool,
    bom: bool,
    tabs: bool,
}

fn dress() -> impl Strategy<Value = Dress> {
    (prop::bool::weighted(0.2), prop::bool::weighted(0.1), prop::bool::weighted(0.2))
        .prop_map(|(crlf, bom, tabs)| Dress { crlf, bom, tabs })
}

/// Inserts `inserts` after the tokens they are paired with (by index, modulo the number
/// of tokens), then dresses the text.
fn decorate(source: &str, inserts: &[(usize, Insert)], dress: Dress) -> String {
    let tokens = tokenize(source);
    let mut at: Vec<(usize, String)> = match tokens.len() {
        0 => inserts.iter().map(|(_, insert)| (source.len(), insert.text())).collect(),
        count => inserts.iter().map(|(index, insert)| (tokens[index % count].2, insert.text())).collect(),
    };
    at.sort_by_key(|(position, _)| *position);
    let mut text = String::new();
    let mut copied = 0;
    for (position, insert) in at {
        text.push_str(&source[copied..position]);
        text.push_str(&insert);
        copied = position;
    }
    text.push_str(&source[copied..]);
    if dress.tabs {
        text = text.lines().map(|line| line.replacen("  ", "\t", 1)).collect::<Vec<_>>().join("\n");
    }
    if dress.crlf {
        text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    }
    if dress.bom && !text.starts_with('\u{FEFF}') {
        text.insert(0, '\u{FEFF}');
    }
    text
}

/// The properties every formatted text has.
fn check_formatting(input: &str) -> Result<(), TestCaseError> {
    let formatted = format_source("input", input)
        .map_err(|diagnostics| TestCaseError::fail(format!("not formatted: {diagnostics:?}\n{input}")))?;
    let again = format_source("formatted", &formatted)
        .map_err(|diagnostics| TestCaseError::fail(format!("output not formatted: {diagnostics:?}\n{formatted}")))?;
    prop_assert_eq!(&again, &formatted, "formatting twice differs; input:\n{}", input);
    prop_assert_eq!(tree_without_spans(&formatted), tree_without_spans(input), "the tree changed:\n{}", formatted);
    prop_assert_eq!(comment_texts(&formatted), comment_texts(input), "the comments changed:\n{}", formatted);
    prop_assert!(!formatted.contains('\r') && !formatted.starts_with('\u{FEFF}'), "{}", formatted);
    prop_assert!(!formatted.contains("\n\n\n"), "two blank lines in a row:\n{}", formatted);
    prop_assert!(formatted.lines().all(|line| line.trim_end() == line), "trailing whitespace:\n{}", formatted);
    Ok(())
}

/// A comment-free text with every run of whitespace between tokens made one space: its
/// layout is gone, its tree is not.
fn one_line(text: &str) -> String {
    let tokens = tokenize(text);
    tokens.iter().map(|(start, _, end)| &text[*start..*end]).collect::<Vec<_>>().join(" ")
}

/// Every shipped source that parses cleanly: examples, standard library, parse fixtures
/// and the Mandate code blocks of the documentation.
fn shipped_sources() -> &'static [String] {
    static SOURCES: OnceLock<Vec<String>> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let mut sources = Vec::new();
        for dir in ["examples", "stdlib", "tests/fixtures/parse", "tests/fixtures/fmt"] {
            for path in walk(Path::new(dir), "mandate") {
                sources.push(std::fs::read_to_string(path).unwrap());
            }
        }
        for path in walk(Path::new("docs"), "md").into_iter().chain([PathBuf::from("README.md")]) {
            let markdown = std::fs::read_to_string(path).unwrap();
            sources.extend(mandate_blocks(&markdown).iter().map(|block| markdown[block.start..block.end].to_string()));
        }
        sources.retain(|source| parse(source, &Arc::from("source")).1.iter().all(|diagnostic| !diagnostic.is_error()));
        assert!(sources.len() >= 60, "found only {} shipped sources", sources.len());
        sources
    })
}

fn walk(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path, extension));
        } else if path.extension().is_some_and(|ext| ext == extension) {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn generated_package() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 256..2048).prop_map(|tape| Gen::new(&tape).package())
}

fn shipped_source() -> impl Strategy<Value = String> {
    (0..shipped_sources().len()).prop_map(|index| shipped_sources()[index].clone())
}

fn inserts() -> impl Strategy<Value = Vec<(usize, Insert)>> {
    prop::collection::vec((any::<usize>(), insert()), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn generated_packages_with_comments_format_soundly(source in generated_package(), inserts in inserts(), dress in dress()) {
        check_formatting(&decorate(&source, &inserts, dress))?;
    }

    #[test]
    fn shipped_sources_with_comments_format_soundly(source in shipped_source(), inserts in inserts(), dress in dress()) {
        check_formatting(&decorate(&source, &inserts, dress))?;
    }

    #[test]
    fn layout_does_not_depend_on_the_input_layout(source in prop_oneof![generated_package(), shipped_source()]) {
        let plain = one_line(&source);
        let formatted = format_source("plain", &plain).map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
        let from_formatted = format_source("again", &one_line(&formatted)).map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
        prop_assert_eq!(from_formatted, formatted);
    }
}

#[test]
fn a_file_that_does_not_parse_is_refused_with_its_diagnostics() {
    let errors = format_source("broken.mandate", "policy p: permit read when\n").unwrap_err();
    assert!(errors.iter().any(|diagnostic| diagnostic.code == "mandate::syntax::unexpected_eof"), "{errors:?}");
    assert!(errors.iter().all(|diagnostic| &*diagnostic.file == "broken.mandate"));
}

#[test]
fn an_empty_file_stays_empty_and_comments_alone_stay() {
    assert_eq!(format_source("empty", "").unwrap(), "");
    assert_eq!(format_source("blank", "\n\n  \n").unwrap(), "");
    assert_eq!(format_source("comments", "\n  // a  \n\n\n// b\n").unwrap(), "// a\n\n// b\n");
}

#[test]
fn long_chains_and_lists_break_and_short_ones_do_not() {
    let short = "policy p: permit read when a and b\n";
    assert_eq!(format_source("short", short).unwrap(), "policy p:\n  permit read\n  when a and b\n");
    let long = format!(
        "policy p: permit read when {}\n",
        (0..12).map(|i| format!("attribute_{i}")).collect::<Vec<_>>().join(" and ")
    );
    let formatted = format_source("long", &long).unwrap();
    assert!(formatted.contains("\n  when attribute_0\n    and attribute_1\n"), "{formatted}");
    assert!(formatted.lines().all(|line| line.chars().count() <= 100), "{formatted}");
}

// --- The command line ---------------------------------------------------------------------

fn mandate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mandate")).args(args).output().expect("run mandate")
}

const UNFORMATTED: &str = "policy p:   permit read   when a and b // why\n";
const FORMATTED: &str = "policy p:\n  permit read\n  when a and b // why\n";

#[test]
fn fmt_rewrites_files_and_folders_and_names_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pkg/sub")).unwrap();
    std::fs::create_dir_all(dir.path().join("pkg/.hidden")).unwrap();
    let changed = dir.path().join("pkg/sub/a.mandate");
    let unchanged = dir.path().join("pkg/b.mandate");
    let hidden = dir.path().join("pkg/.hidden/c.mandate");
    let other = dir.path().join("pkg/notes.txt");
    std::fs::write(&changed, UNFORMATTED).unwrap();
    std::fs::write(&unchanged, FORMATTED).unwrap();
    std::fs::write(&hidden, UNFORMATTED).unwrap();
    std::fs::write(&other, UNFORMATTED).unwrap();
    let output = mandate(&["fmt", &dir.path().join("pkg").display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout, format!("formatted {}\n", changed.display()));
    assert_eq!(std::fs::read_to_string(&changed).unwrap(), FORMATTED);
    assert_eq!(std::fs::read_to_string(&unchanged).unwrap(), FORMATTED);
    assert_eq!(std::fs::read_to_string(&hidden).unwrap(), UNFORMATTED);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), UNFORMATTED);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("1 file formatted, 1 file already formatted"), "{stderr}");
}

#[test]
fn fmt_check_prints_a_unified_diff_changes_nothing_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mandate");
    std::fs::write(&path, UNFORMATTED).unwrap();
    let name = path.display().to_string();
    let output = mandate(&["fmt", "--check", &name]);
    assert_eq!(output.status.code(), Some(1));
    let diff = String::from_utf8(output.stdout).unwrap();
    assert!(diff.starts_with(&format!("--- a/{name}\n+++ b/{name}\n@@ ")), "{diff}");
    assert!(diff.contains("\n-policy p:   permit read   when a and b // why\n+policy p:\n+  permit read\n"), "{diff}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), UNFORMATTED);
    std::fs::write(&path, FORMATTED).unwrap();
    let output = mandate(&["fmt", "--check", &name]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
}

#[test]
fn fmt_reads_standard_input_and_writes_standard_output() {
    let run = |input: &str, args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mandate"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let output = run(UNFORMATTED, &["fmt", "-"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), FORMATTED);
    let output = run(UNFORMATTED, &["fmt", "--check", "-"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8(output.stdout).unwrap().contains("+  permit read"));
    let output = run("policy p: permit\n", &["fmt", "-"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8(output.stderr).unwrap().contains("mandate::syntax::unexpected_eof"));
}

#[test]
fn fmt_leaves_a_file_that_does_not_parse_untouched_and_shows_why() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.mandate");
    let fine = dir.path().join("fine.mandate");
    let text = "policy p:\n  permit read\n  when a &&  b\n";
    std::fs::write(&broken, text).unwrap();
    std::fs::write(&fine, UNFORMATTED).unwrap();
    let output = mandate(&["fmt", &dir.path().display().to_string()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), text);
    assert_eq!(std::fs::read_to_string(&fine).unwrap(), FORMATTED);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("mandate::syntax::invalid_token"), "{stderr}");
    assert!(stderr.contains("broken.mandate:3:10"), "{stderr}");
    assert!(stderr.contains("1 file not formatted because of errors"), "{stderr}");
}

#[test]
fn fmt_formats_the_mandate_blocks_of_a_markdown_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guide.md");
    let markdown = format!("# Guide\n\n```mandate\n{UNFORMATTED}```\n\n```text\n{UNFORMATTED}```\n");
    std::fs::write(&path, &markdown).unwrap();
    let output = mandate(&["fmt", &path.display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let expected = format!("# Guide\n\n```mandate\n{FORMATTED}```\n\n```text\n{UNFORMATTED}```\n");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}

#[test]
fn init_writes_a_formatted_package() {
    let dir = tempfile::tempdir().unwrap();
    let output = mandate(&["init", &dir.path().display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = std::fs::read_to_string(dir.path().join("policies.mandate")).unwrap();
    assert_eq!(format_source("policies.mandate", &text).unwrap(), text);
}
