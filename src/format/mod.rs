//! `mandate fmt`: one canonical layout for Mandate source, comments and blank lines kept.
//!
//! Policies are read in review more than they are written, so a diff should show what
//! changed and nothing about how its author lays out text. The formatter parses the file,
//! lays the tree out again in the canonical style (`layout`, on the layout engine in
//! `doc`), and puts back every comment (which the tree does not hold: `comments` collects
//! them from the source) and every blank line between declarations and between entries,
//! one at most. A file that does not parse is never reformatted: its diagnostics are the
//! answer. The style rules are in `docs/language.md`, section "Formatting".
//!
//! **Invariant:** formatting changes layout only. [`format_source`] parses its own output
//! and refuses to return it unless the tree is the same (as the printer writes it) and
//! the comments are the same, in the same order; a formatter bug is then an error, never
//! a changed policy.

mod comments;
mod doc;
mod layout;

use std::sync::Arc;

use crate::diagnostics::{Diagnostic, Severity};
use crate::syntax::lexer::{self, tokenize};
use crate::syntax::{self, print, Span};

/// The widest line the formatter writes, unless one token or comment is wider alone.
pub const MAX_WIDTH: usize = 100;

/// What can go wrong besides syntax errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FormatError {
    #[error("the formatter would change what this file means; it is left as it is")]
    #[diagnostic(
        code(mandate::format::internal),
        help("this is a bug in `mandate fmt`: please report it with the file ({what} differs)")
    )]
    WouldChangeMeaning {
        what: &'static str,
        #[label("formatting from here on")]
        span: Span,
    },
}

/// Formats one file's text; `path` names it in diagnostics. A file with syntax errors is
/// not formatted: the error is the parser's diagnostics (warnings included).
pub fn format_source(path: &str, text: &str) -> Result<String, Vec<Diagnostic>> {
    let file: Arc<str> = Arc::from(path);
    let (tree, diagnostics) = syntax::parse(text, &file);
    if diagnostics.iter().any(|diagnostic| diagnostic.severity == Severity::Error) {
        return Err(diagnostics);
    }
    let tokens = tokenize(text);
    let spans = lexer::comments(text, &tokens);
    let comments = comments::Comments::new(text, &spans);
    let document = layout::Layout::new(text, tokens, comments).file(&tree);
    let formatted = doc::render(&document, MAX_WIDTH);
    verify(&file, text, &tree, &formatted)?;
    Ok(formatted)
}

/// The texts of a source's comments, in order, without trailing whitespace.
pub fn comment_texts(text: &str) -> Vec<String> {
    let tokens = tokenize(text);
    lexer::comments(text, &tokens)
        .iter()
        .map(|span| text.get(span.start..span.end).unwrap_or_default().trim_end().to_string())
        .collect()
}

/// Checks that `formatted` says what `original` said: the same tree and the same comments.
fn verify(file: &Arc<str>, original: &str, tree: &syntax::ast::File, formatted: &str) -> Result<(), Vec<Diagnostic>> {
    let (again, diagnostics) = syntax::parse(formatted, file);
    let what = if diagnostics.iter().any(|diagnostic| diagnostic.severity == Severity::Error) {
        "the output does not parse: the syntax"
    } else if print::print_file(&again) != print::print_file(tree) {
        "the tree"
    } else if comment_texts(formatted) != comment_texts(original) {
        "the comments"
    } else {
        return Ok(());
    };
    let error = FormatError::WouldChangeMeaning { what, span: Span::new(0, 0) };
    Err(vec![Diagnostic::from_miette(&error, file)])
}

/// The opening and closing fences of a Mandate code block in Markdown.
const FENCE_OPEN: &str = "```mandate";
const FENCE_CLOSE: &str = "```";

/// A ```mandate code block of a Markdown text: where its code starts and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeBlock {
    pub start: usize,
    pub end: usize,
}

/// The ```mandate code blocks of a Markdown text: a line that reads ```` ```mandate ````
/// opens one and a line that reads ```` ``` ```` closes it.
pub fn mandate_blocks(markdown: &str) -> Vec<CodeBlock> {
    let mut blocks = Vec::new();
    let mut open: Option<usize> = None;
    let mut at = 0;
    for line in markdown.split_inclusive('\n') {
        let fence = line.trim_end();
        match open {
            None if fence == FENCE_OPEN => open = Some(at + line.len()),
            Some(start) if fence == FENCE_CLOSE => {
                blocks.push(CodeBlock { start, end: at });
                open = None;
            }
            _ => {}
        }
        at += line.len();
    }
    blocks
}

/// Formats every ```mandate code block of a Markdown text; the rest is left as it is.
/// The diagnostics of blocks that do not parse point into the Markdown text.
pub fn format_markdown(path: &str, markdown: &str) -> Result<String, Vec<Diagnostic>> {
    let mut out = String::with_capacity(markdown.len());
    let mut errors = Vec::new();
    let mut copied = 0;
    for block in mandate_blocks(markdown) {
        let code = markdown.get(block.start..block.end).unwrap_or_default();
        out.push_str(markdown.get(copied..block.start).unwrap_or_default());
        match format_source(path, code) {
            Ok(formatted) => out.push_str(&formatted),
            Err(diagnostics) => {
                errors.extend(diagnostics.into_iter().map(|diagnostic| diagnostic.shifted(block.start)));
                out.push_str(code);
            }
        }
        copied = block.end;
    }
    out.push_str(markdown.get(copied..).unwrap_or_default());
    match errors.is_empty() {
        true => Ok(out),
        false => Err(errors),
    }
}
