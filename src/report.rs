//! Writes diagnostics for people (miette's graphical report), for programs (JSON) and for
//! code-scanning interfaces (SARIF 2.1.0).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::diagnostics::{Diagnostic, Severity};
use crate::syntax::Span;

/// Looks up the text of a file by its display path.
pub type Sources<'a> = &'a dyn Fn(&str) -> Option<Arc<str>>;

/// Renders diagnostics as miette reports, followed by a one-line summary.
pub fn human(diagnostics: &[Diagnostic], sources: Sources<'_>, color: bool) -> String {
    human_with(diagnostics, sources, color, true)
}

/// Like [`human`]; without `verbose`, informational findings are counted in the summary
/// but not shown, so a clean package prints one line.
///
/// Lines are never wrapped: a counterexample's `mandate eval` command stays one line
/// that survives copy and paste.
pub fn human_with(diagnostics: &[Diagnostic], sources: Sources<'_>, color: bool, verbose: bool) -> String {
    let theme = if color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1).with_wrap_lines(false);
    let mut out = String::new();
    let indexed = crate::diagnostics::Sources::new(sources);
    let shown = |diagnostic: &&Diagnostic| verbose || diagnostic.severity != Severity::Info;
    for diagnostic in diagnostics.iter().filter(shown) {
        out.push_str(&diagnostic.render_from(&indexed, &handler));
    }
    out.push_str(&summary_line(diagnostics));
    let hidden = diagnostics.len() - diagnostics.iter().filter(shown).count();
    if hidden > 0 {
        let notes = if hidden == 1 { "note" } else { "notes" };
        out.push_str(&format!(" ({hidden} {notes} not shown: --verbose shows them)"));
    }
    out.push('\n');
    out
}

/// Writes the request of every `echo '…' | mandate eval PKG` command in the diagnostics'
/// help and counterexamples to a file in `dir`, and replaces the command with
/// `mandate eval PKG --request FILE`. Returns the files written.
pub fn externalize_witnesses(diagnostics: &mut [Diagnostic], dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for diagnostic in diagnostics.iter_mut() {
        let name = diagnostic.code.rsplit("::").next().unwrap_or("witness").to_string();
        // The counterexample's command is in the help too: one file serves both.
        if let Some(counterexample) = diagnostic.counterexample.as_mut() {
            let inline = std::mem::take(&mut counterexample.reproduce);
            counterexample.reproduce = externalize_commands(&inline, dir, &name, &mut written)?;
            if let Some(help) = diagnostic.help.as_mut() {
                *help = help.replace(&inline, &counterexample.reproduce);
            }
        }
        if let Some(help) = diagnostic.help.take() {
            diagnostic.help = Some(externalize_commands(&help, dir, &name, &mut written)?);
        }
    }
    Ok(written)
}

/// `text` with each `echo '…' | mandate eval PKG` replaced by a command that reads the
/// request from a file written to `dir` (named after `name` and a running number).
pub fn externalize_commands(
    text: &str,
    dir: &std::path::Path,
    name: &str,
    written: &mut Vec<String>,
) -> std::io::Result<String> {
    const START: &str = "echo '";
    const END: &str = "' | mandate eval ";
    let mut out = String::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once(START) {
        let Some((quoted, tail)) = after.split_once(END) else { break };
        let request = quoted.replace("'\\''", "'");
        let (package, remaining) = tail.split_at(tail.find(char::is_whitespace).unwrap_or(tail.len()));
        let file = dir.join(format!("{:03}-{name}.json", written.len() + 1));
        std::fs::write(&file, format!("{request}\n"))?;
        let file = file.display().to_string();
        out.push_str(before);
        out.push_str(&format!("mandate eval {package} --request {file}"));
        written.push(file);
        rest = remaining;
    }
    out.push_str(rest);
    Ok(out)
}

/// `2 errors, 1 warning`, or `no problems`.
pub fn summary_line(diagnostics: &[Diagnostic]) -> String {
    let count = |severity| diagnostics.iter().filter(|d| d.severity == severity).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    if errors == 0 && warnings == 0 {
        return "no problems found".to_string();
    }
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!("{}, {}", plural(errors, "error"), plural(warnings, "warning"))
}

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Byte offsets of line starts, for turning offsets into positions.
struct LineIndex {
    text: Arc<str>,
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: Arc<str>) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
        LineIndex { text, starts }
    }

    fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|start| *start <= offset).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = self.text.get(start..offset).map_or(offset - start, |prefix| prefix.chars().count());
        Position { line: line + 1, column: column + 1 }
    }
}

/// Positions for diagnostics, computing each file's line index once.
struct Locator<'a> {
    sources: Sources<'a>,
    indexes: BTreeMap<Arc<str>, Option<LineIndex>>,
}

impl<'a> Locator<'a> {
    fn new(sources: Sources<'a>) -> Self {
        Locator { sources, indexes: BTreeMap::new() }
    }

    fn range(&mut self, file: &Arc<str>, span: Span) -> Option<(Position, Position)> {
        let sources = self.sources;
        let index = self.indexes.entry(file.clone()).or_insert_with(|| sources(file).map(LineIndex::new)).as_ref()?;
        Some((index.position(span.start), index.position(span.end)))
    }
}

/// The `--format json` document: every diagnostic with positions, and a summary.
pub fn json(diagnostics: &[Diagnostic], sources: Sources<'_>) -> Value {
    let mut locator = Locator::new(sources);
    let items: Vec<Value> = diagnostics
        .iter()
        .map(|diagnostic| {
            let labels: Vec<Value> = diagnostic
                .labels
                .iter()
                .map(|label| {
                    let range = locator.range(&diagnostic.file, label.span);
                    json!({
                        "start": label.span.start,
                        "end": label.span.end,
                        "line": range.map(|(start, _)| start.line),
                        "column": range.map(|(start, _)| start.column),
                        "end_line": range.map(|(_, end)| end.line),
                        "end_column": range.map(|(_, end)| end.column),
                        "message": label.message,
                        "primary": label.primary,
                    })
                })
                .collect();
            let related: Vec<Value> = diagnostic
                .related
                .iter()
                .map(|related| {
                    let range = locator.range(&related.file, related.span);
                    json!({
                        "file": related.file,
                        "start": related.span.start,
                        "end": related.span.end,
                        "line": range.map(|(start, _)| start.line),
                        "column": range.map(|(start, _)| start.column),
                        "message": related.message,
                    })
                })
                .collect();
            let item = json!({
                "code": diagnostic.code,
                "severity": diagnostic.severity,
                "message": diagnostic.message,
                "file": diagnostic.file,
                "labels": labels,
                "help": diagnostic.help,
                "related": related,
            });
            match counterexample_json(diagnostic) {
                Some(counterexample) => with_field(item, "counterexample", counterexample),
                None => item,
            }
        })
        .collect();
    let count = |severity| diagnostics.iter().filter(|d| d.severity == severity).count();
    json!({
        "diagnostics": items,
        "summary": {
            "errors": count(Severity::Error),
            "warnings": count(Severity::Warning),
            "infos": count(Severity::Info),
        }
    })
}

/// A SARIF 2.1.0 log with one run: one rule per diagnostic code, one result per
/// diagnostic, and related locations for notes in other files.
pub fn sarif(diagnostics: &[Diagnostic], sources: Sources<'_>) -> Value {
    let mut locator = Locator::new(sources);
    let mut rules: BTreeMap<&str, &Diagnostic> = BTreeMap::new();
    for diagnostic in diagnostics {
        rules.entry(diagnostic.code.as_str()).or_insert(diagnostic);
    }
    let rule_index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(index, code)| (*code, index)).collect();
    let rules_json: Vec<Value> = rules
        .iter()
        .map(|(code, example)| {
            json!({
                "id": code,
                "name": code.rsplit("::").next().unwrap_or(code),
                "defaultConfiguration": { "level": sarif_level(example.severity) },
            })
        })
        .collect();
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|diagnostic| {
            let mut text = diagnostic.message.clone();
            if let Some(help) = &diagnostic.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            let location = diagnostic
                .primary_span()
                .map(|span| sarif_location(&mut locator, &diagnostic.file, span, None))
                .unwrap_or_else(
                    || json!({ "physicalLocation": { "artifactLocation": { "uri": uri(&diagnostic.file) } } }),
                );
            let related: Vec<Value> = diagnostic
                .related
                .iter()
                .enumerate()
                .map(|(id, related)| {
                    let location = sarif_location(&mut locator, &related.file, related.span, Some(&related.message));
                    with_field(location, "id", json!(id))
                })
                .collect();
            let result = json!({
                "ruleId": diagnostic.code,
                "ruleIndex": rule_index.get(diagnostic.code.as_str()),
                "level": sarif_level(diagnostic.severity),
                "message": { "text": text },
                "locations": [location],
            });
            let result = match counterexample_json(diagnostic) {
                Some(counterexample) => with_field(result, "properties", json!({ "counterexample": counterexample })),
                None => result,
            };
            if related.is_empty() {
                result
            } else {
                with_field(result, "relatedLocations", json!(related))
            }
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "mandate",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules_json,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// A diagnostic's counterexample: the request as a JSON value and the command.
fn counterexample_json(diagnostic: &Diagnostic) -> Option<Value> {
    let counterexample = diagnostic.counterexample.as_ref()?;
    let request: Value = serde_json::from_str(&counterexample.request).unwrap_or(Value::Null);
    Some(json!({ "request": request, "reproduce": counterexample.reproduce }))
}

fn sarif_location(locator: &mut Locator<'_>, file: &Arc<str>, span: Span, message: Option<&str>) -> Value {
    let region = match locator.range(file, span) {
        Some((start, end)) => json!({
            "startLine": start.line,
            "startColumn": start.column,
            "endLine": end.line,
            "endColumn": end.column,
        }),
        None => json!({ "byteOffset": span.start, "byteLength": span.end.saturating_sub(span.start) }),
    };
    let location = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri(file) },
            "region": region,
        }
    });
    match message {
        Some(message) => with_field(location, "message", json!({ "text": message })),
        None => location,
    }
}

/// Adds a field to a JSON object.
fn with_field(mut object: Value, key: &str, value: Value) -> Value {
    if let Some(fields) = object.as_object_mut() {
        fields.insert(key.to_string(), value);
    }
    object
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A relative URI reference for a display path (SARIF wants forward slashes).
fn uri(path: &str) -> String {
    path.replace('\\', "/")
}
