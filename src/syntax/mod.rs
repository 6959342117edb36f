//! Syntax: source text to a spanned AST, and back to text.
//!
//! **Architecture invariant:** parsing never fails. [`parse`] always returns a tree and a
//! list of diagnostics, so later phases and editors always have something to work with.
//! **API boundary:** lalrpop is used only by `parser`; the grammar lives in `grammar/`.

pub mod ast;
pub mod lexer;
mod parser;
pub mod print;

pub use ast::Span;
pub use parser::{parse, parse_duration, parse_expr, MAX_EXPR_DEPTH, MAX_SYNTAX_ERRORS};

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
    )
}

/// Fractional digits of a decimal value, which is stored as a scaled 64-bit integer.
pub const DECIMAL_DIGITS: u32 = 4;

/// Converts a decimal literal such as `12.5` to its fixed-point value (`125000`), or
/// `None` when it has too many fractional digits or does not fit.
pub fn decimal_to_fixed(raw: &str) -> Option<i64> {
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if fraction.len() > DECIMAL_DIGITS as usize {
        return None;
    }
    let scale = 10_i64.pow(DECIMAL_DIGITS);
    let whole: i64 = whole.parse().ok()?;
    let padded = format!("{fraction:0<width$}", width = DECIMAL_DIGITS as usize);
    let fraction: i64 = padded.parse().ok()?;
    whole.checked_mul(scale)?.checked_add(fraction)
}
