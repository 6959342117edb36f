//! Syntax: source text to a spanned AST, and back to text.
//!
//! **Architecture invariant:** parsing never fails. [`parse`] always returns a tree and a
//! list of diagnostics, so later phases and editors always have something to work with.
//! **API boundary:** lalrpop is used only by `parser`; the grammar lives in `grammar/`.

pub mod ast;
pub mod lexer;
pub mod literal;
mod parser;
pub mod print;

pub use ast::Span;
pub use parser::{parse, parse_expr, MAX_EXPR_DEPTH, MAX_SYNTAX_ERRORS};

/// Whether a syntax diagnostic made the parser skip input (as opposed to a literal or
/// escape that was read but is invalid).
pub fn interrupts_parsing(code: &str) -> bool {
    matches!(
        code,
        "mandate::syntax::unexpected_token"
            | "mandate::syntax::unexpected_eof"
            | "mandate::syntax::invalid_token"
            | "mandate::syntax::unfinished"
            | "mandate::syntax::unterminated_string"
            | "mandate::syntax::forbidden_line_break"
            | "mandate::syntax::invisible_character"
    )
}
