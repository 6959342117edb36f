//! Semantics: name resolution and type checking against the schema.
//!
//! **Architecture invariant:** checking never stops at the first mistake. Every problem
//! becomes a diagnostic in a [`Sink`], unknown types degrade to [`types::Type::Unknown`]
//! so that one mistake is reported once, and every declaration is checked.

pub mod calls;
pub mod check;
pub mod env;
pub mod errors;
pub mod expr;
pub mod suggest;
pub mod types;

use std::collections::HashSet;
use std::sync::Arc;

use crate::diagnostics::Diagnostic;
use crate::syntax::Span;

/// Collects a file's diagnostics, dropping exact repeats: a condition checked for several
/// request environments reports each mistake once.
pub struct Sink {
    file: Arc<str>,
    diagnostics: Vec<Diagnostic>,
    seen: HashSet<(String, Option<Span>, String)>,
}

impl Sink {
    pub fn new(file: Arc<str>) -> Self {
        Sink { file, diagnostics: Vec::new(), seen: HashSet::new() }
    }

    pub fn report(&mut self, error: impl miette::Diagnostic) {
        let diagnostic = Diagnostic::from_miette(&error, &self.file);
        self.push(diagnostic);
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        let key = (diagnostic.code.clone(), diagnostic.primary_span(), diagnostic.message.clone());
        if self.seen.insert(key) {
            self.diagnostics.push(diagnostic);
        }
    }

    pub fn file(&self) -> &Arc<str> {
        &self.file
    }

    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }
}

/// Parses an RFC 3339 timestamp, returning why it is invalid otherwise.
pub fn parse_timestamp(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|error| error.to_string())
}

/// Checks a `matches` pattern: `*` is a wildcard, `\*` and `\\` are escapes, and any
/// other backslash is a mistake.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('*') | Some('\\') => {}
                Some(other) => return Err(format!("`\\{other}` is not an escape; only `\\*` and `\\\\` are")),
                None => return Err("the pattern ends with a lone `\\`".to_string()),
            }
        }
    }
    Ok(())
}
