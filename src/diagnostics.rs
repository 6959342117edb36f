//! One diagnostic type for every phase, so the CLI, tests and language tooling handle
//! syntax, resolution and type errors alike.
//!
//! Each phase declares its errors as a `thiserror` + `miette::Diagnostic` enum, which keeps
//! messages, stable codes and help texts next to each other. [`Diagnostic::from_miette`]
//! flattens such a value into this plain, comparable, serializable record, which is what
//! the incremental database stores. [`Diagnostic::render`] turns it back into a miette
//! report with its source attached for people.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, SourceSpan};
use serde::Serialize;

use crate::syntax::Span;

/// Every lint, by the name after `mandate::lint::`, with its default level. A package's
/// `mandate.toml` may set each one's level (`[lints]`); `docs/lints.md` shows one example
/// of each.
pub const LINTS: &[(&str, LintLevel)] = &[
    ("permit_without_ttl", LintLevel::Warn),
    ("wildcard_permit", LintLevel::Warn),
    ("unused_function", LintLevel::Warn),
    ("empty_file", LintLevel::Warn),
    ("task_grants_nothing", LintLevel::Warn),
    ("never_applies", LintLevel::Warn),
    ("always_applies", LintLevel::Warn),
    ("redundant", LintLevel::Warn),
    ("shadowed", LintLevel::Warn),
    ("overlap", LintLevel::Info),
];

/// What a lint is in a package: `allow` drops it, `info` shows it only with `--verbose`,
/// `warn` shows it (and fails `check --deny-warnings`), `deny` makes it an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LintLevel {
    Allow,
    Info,
    Warn,
    Deny,
}

impl LintLevel {
    /// The severity a lint's diagnostic gets at this level; `None` drops it.
    pub fn severity(self) -> Option<Severity> {
        match self {
            LintLevel::Allow => None,
            LintLevel::Info => Some(Severity::Info),
            LintLevel::Warn => Some(Severity::Warning),
            LintLevel::Deny => Some(Severity::Error),
        }
    }
}

/// Applies a package's lint levels to its diagnostics: a lint named in `levels` gets that
/// level's severity, or is dropped when it is allowed.
pub fn apply_lint_levels(
    diagnostics: Vec<Diagnostic>,
    levels: &std::collections::BTreeMap<String, LintLevel>,
) -> Vec<Diagnostic> {
    if levels.is_empty() {
        return diagnostics;
    }
    diagnostics
        .into_iter()
        .filter_map(|mut diagnostic| {
            let lint = diagnostic.code.strip_prefix("mandate::lint::");
            match lint.and_then(|name| levels.get(name)) {
                Some(level) => {
                    diagnostic.severity = level.severity()?;
                    Some(diagnostic)
                }
                None => Some(diagnostic),
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// A labelled span inside the diagnostic's own file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Label {
    pub span: Span,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub primary: bool,
}

/// A location in another file that the diagnostic refers to, such as the first
/// declaration of a duplicated name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Related {
    pub file: Arc<str>,
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Diagnostic {
    /// Stable code such as `mandate::type::mismatch`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// The file the labels point into.
    pub file: Arc<str>,
    pub labels: Vec<Label>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
    /// For a refuted proof: the request that shows it and how to reproduce it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
}

/// A concrete request that demonstrates a diagnostic, and the command that decides it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Counterexample {
    /// The request, as JSON text.
    pub request: String,
    /// A shell command that reproduces the decision with `mandate eval`.
    pub reproduce: String,
}

impl Diagnostic {
    /// Flattens a phase error into a stored diagnostic for `file`.
    pub fn from_miette(error: &dyn miette::Diagnostic, file: &Arc<str>) -> Diagnostic {
        let mut labels: Vec<Label> =
            error.labels().map(|labels| labels.map(label_from_miette).collect()).unwrap_or_default();
        if !labels.iter().any(|label| label.primary) {
            if let Some(first) = labels.first_mut() {
                first.primary = true;
            }
        }
        Diagnostic {
            code: error.code().map(|code| code.to_string()).unwrap_or_default(),
            severity: match error.severity() {
                Some(miette::Severity::Warning) => Severity::Warning,
                Some(miette::Severity::Advice) => Severity::Info,
                Some(miette::Severity::Error) | None => Severity::Error,
            },
            message: error.to_string(),
            file: file.clone(),
            labels,
            help: error.help().map(|help| help.to_string()),
            related: Vec::new(),
            counterexample: None,
        }
    }

    /// Attaches the request that demonstrates the diagnostic.
    pub fn with_counterexample(mut self, request: String, reproduce: String) -> Self {
        self.counterexample = Some(Counterexample { request, reproduce });
        self
    }

    /// Adds a pointer into another file.
    pub fn with_related(mut self, file: Arc<str>, span: Span, message: impl Into<String>) -> Self {
        self.related.push(Related { file, span, message: message.into() });
        self
    }

    /// The same diagnostic for its text embedded at `offset` in a larger file (a code
    /// block of a Markdown document): every label in its own file moves by `offset`.
    pub fn shifted(mut self, offset: usize) -> Self {
        for label in &mut self.labels {
            label.span = Span::new(label.span.start + offset, label.span.end + offset);
        }
        for related in self.related.iter_mut().filter(|related| related.file == self.file) {
            related.span = Span::new(related.span.start + offset, related.span.end + offset);
        }
        self
    }

    /// Where the diagnostic points: its primary label, else its first one.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.iter().find(|label| label.primary).or_else(|| self.labels.first()).map(|label| label.span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic as a person reads it, with the source excerpt.
    /// `source_of` returns the text of a file by name.
    pub fn render<'a>(
        &'a self,
        source_of: &'a dyn Fn(&str) -> Option<Arc<str>>,
        handler: &miette::GraphicalReportHandler,
    ) -> String {
        self.render_from(&Sources::new(source_of), handler)
    }

    /// Like [`Diagnostic::render`], with sources indexed once for many diagnostics.
    pub fn render_from(&self, sources: &Sources<'_>, handler: &miette::GraphicalReportHandler) -> String {
        let source_of = |file: &str| sources.text(file);
        let too_wide = |file: &str, span: Span| source_of(file).is_some_and(|text| line_too_wide(&text, span));
        if self.labels.iter().any(|label| too_wide(&self.file, label.span))
            || self.related.iter().any(|related| too_wide(&related.file, related.span))
        {
            return self.render_without_source(&source_of, handler);
        }
        let report = Rendered::new(self, sources);
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            out = format!("{}: {}", self.code, self.message);
        }
        out
    }
}

impl Diagnostic {
    /// Renders a diagnostic whose line is too long to excerpt, naming the position.
    fn render_without_source(
        &self,
        source_of: &dyn Fn(&str) -> Option<Arc<str>>,
        handler: &miette::GraphicalReportHandler,
    ) -> String {
        let mut plain = self.clone();
        if let (Some(span), Some(text)) = (self.primary_span(), source_of(&self.file)) {
            let before = text.get(..span.start.min(text.len())).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |prefix| prefix.chars().count()) + 1;
            plain.message =
                format!("{} (at {}:{line}:{column}; the line is too long to show)", self.message, self.file);
        }
        plain.labels.clear();
        plain.related.clear();
        let no_source = |_: &str| None;
        let report = Rendered::new(&plain, &Sources::new(&no_source));
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            out = format!("{}: {}", self.code, plain.message);
        }
        out
    }
}

/// Whether the line around `span` is too long for the graphical report, which cannot
/// pad past 65,535 columns.
fn line_too_wide(text: &str, span: Span) -> bool {
    const WIDEST: usize = 10_000;
    let start = span.start.min(text.len());
    let line_start = text.get(..start).and_then(|before| before.rfind('\n')).map_or(0, |at| at + 1);
    let line_end = text.get(start..).and_then(|after| after.find('\n')).map_or(text.len(), |at| start + at);
    line_end.saturating_sub(line_start) > WIDEST
}

fn label_from_miette(label: LabeledSpan) -> Label {
    Label {
        span: Span::new(label.offset(), label.offset() + label.len()),
        message: label.label().map(str::to_string),
        primary: label.primary(),
    }
}

/// The texts diagnostics point into, each indexed by line once, however many
/// diagnostics point into it.
pub struct Sources<'a> {
    source_of: &'a dyn Fn(&str) -> Option<Arc<str>>,
    indexed: std::cell::RefCell<std::collections::HashMap<String, Option<Arc<IndexedSource>>>>,
}

impl<'a> Sources<'a> {
    pub fn new(source_of: &'a dyn Fn(&str) -> Option<Arc<str>>) -> Self {
        Sources { source_of, indexed: std::cell::RefCell::default() }
    }

    fn text(&self, file: &str) -> Option<Arc<str>> {
        self.indexed(file).map(|source| source.text.clone())
    }

    fn indexed(&self, file: &str) -> Option<Arc<IndexedSource>> {
        let mut indexed = self.indexed.borrow_mut();
        indexed
            .entry(file.to_string())
            .or_insert_with(|| (self.source_of)(file).map(|text| Arc::new(IndexedSource::new(file, text))))
            .clone()
    }
}

/// A file's text with the offsets where its lines start, so that an excerpt is cut out
/// of it in time proportional to the excerpt, not to the file. Lines end where the
/// renderer ends them: at `\n`, `\r\n` or a lone `\r`.
#[derive(Debug)]
struct IndexedSource {
    name: String,
    text: Arc<str>,
    starts: Vec<usize>,
}

impl IndexedSource {
    fn new(name: &str, text: Arc<str>) -> Self {
        let starts = line_starts(&text);
        IndexedSource { name: name.to_string(), text, starts }
    }
}

/// The byte offsets where a text's lines start. Lines end where the renderer ends them:
/// at `\n`, `\r\n` or a lone `\r`.
pub fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    for (at, byte) in bytes.iter().enumerate() {
        let ends_line = *byte == b'\n' || (*byte == b'\r' && bytes.get(at + 1) != Some(&b'\n'));
        if ends_line {
            starts.push(at + 1);
        }
    }
    starts
}

/// The 1-based line that byte `offset` of `text` is on.
pub fn line_number(text: &str, offset: usize) -> usize {
    line_starts(text).partition_point(|start| *start <= offset).max(1)
}

impl miette::SourceCode for IndexedSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let line = self.starts.partition_point(|start| *start <= span.offset()).saturating_sub(1);
        let first = line.saturating_sub(context_lines_before);
        let base = self.starts.get(first).copied().unwrap_or(0);
        let rest = self.text.as_bytes().get(base..).ok_or(miette::MietteError::OutOfBounds)?;
        let shifted = SourceSpan::new(span.offset().saturating_sub(base).into(), span.len());
        let part = rest.read_span(&shifted, context_lines_before, context_lines_after)?;
        let found = part.span();
        Ok(Box::new(
            miette::MietteSpanContents::new_named(
                self.name.clone(),
                part.data(),
                SourceSpan::new((found.offset() + base).into(), found.len()),
                part.line() + first,
                part.column(),
                part.line_count() + first,
            )
            .with_language("mandate"),
        ))
    }
}

/// A diagnostic with its source text attached, in the form miette renders.
struct Rendered<'a> {
    diagnostic: &'a Diagnostic,
    source: Option<Arc<IndexedSource>>,
    related: Vec<RelatedNote>,
}

impl<'a> Rendered<'a> {
    fn new(diagnostic: &'a Diagnostic, sources: &Sources<'_>) -> Self {
        let named = |file: &str| sources.indexed(file);
        let related = diagnostic
            .related
            .iter()
            .map(|related| RelatedNote {
                message: related.message.clone(),
                span: related.span.into(),
                source: named(&related.file),
            })
            .collect();
        Rendered { diagnostic, source: named(&diagnostic.file), related }
    }
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic.help.as_ref().map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_deref().map(|source| source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        Some(Box::new(self.diagnostic.labels.iter().map(|label| {
            let span = SourceSpan::from(label.span);
            if label.primary {
                LabeledSpan::new_primary_with_span(label.message.clone(), span)
            } else {
                LabeledSpan::new_with_span(label.message.clone(), span)
            }
        })))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|note| note as &dyn miette::Diagnostic)))
    }
}

/// A related location rendered as its own small report.
#[derive(Debug)]
struct RelatedNote {
    message: String,
    span: SourceSpan,
    source: Option<Arc<IndexedSource>>,
}

impl fmt::Display for RelatedNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RelatedNote {}

impl miette::Diagnostic for RelatedNote {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_deref().map(|source| source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        Some(Box::new(std::iter::once(LabeledSpan::new_primary_with_span(None, self.span))))
    }
}

/// Orders diagnostics by file, then position, then code: the order people read them in.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.primary_span(), &a.code, &a.message).cmp(&(&b.file, b.primary_span(), &b.code, &b.message))
    });
}

/// Sorts diagnostics and drops exact repeats, such as the same module's error seen
/// through two packages that import it.
pub fn sort_unique(diagnostics: &mut Vec<Diagnostic>) {
    sort(diagnostics);
    diagnostics.dedup();
}

impl Diagnostic {
    /// A diagnostic without labels yet, for phases that build them directly.
    pub fn new(code: &str, severity: Severity, message: String, file: Arc<str>) -> Diagnostic {
        Diagnostic {
            code: code.to_string(),
            severity,
            message,
            file,
            labels: Vec::new(),
            help: None,
            related: Vec::new(),
            counterexample: None,
        }
    }

    pub fn with_label(mut self, span: Span, message: &str, primary: bool) -> Self {
        self.labels.push(Label { span, message: Some(message.to_string()), primary });
        self
    }

    pub fn with_help(mut self, help: String) -> Self {
        self.help = Some(help);
        self
    }
}
