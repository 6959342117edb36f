//! Turns source text into tokens for the parser.
//!
//! The lexer exists as its own stage so the grammar can speak in tokens, and so that every
//! byte of input, however malformed, becomes *some* token: lalrpop cannot recover from a
//! lexer error, so unrecognised input is emitted as [`Token::Error`] and the parser reports
//! it like any other unexpected token. Lexing therefore never fails.
//!
//! **Line breaks.** A line ends at `\n` (or `\r\n`) and nowhere else. Every other
//! character that some editor shows as a line break ([`FORBIDDEN_BREAKS`]: a lone carriage
//! return, vertical tab, form feed, NEL, and the Unicode line and paragraph separators) is
//! refused wherever it appears, comments and strings included: otherwise a comment could
//! run on past what a reader sees as its end and swallow a policy. A byte-order mark at
//! the very start of a file is skipped.

use logos::Logos;

use super::ast::Span;

/// One token of Mandate source. Keywords that are also request roots (`agent`, `resource`,
/// `task`, …) are tokens too; the grammar turns them back into names where an expression
/// or an attribute name is expected.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\n]+")]
#[logos(skip r"\r\n")]
#[logos(skip(r"//[^\n\r\x0B\x0C\u{85}\u{2028}\u{2029}]*", allow_greedy = true))]
pub enum Token<'src> {
    // Declarations and clauses.
    #[token("use")]
    Use,
    #[token("as")]
    As,
    #[token("schema")]
    Schema,
    #[token("agent")]
    Agent,
    #[token("resource")]
    Resource,
    #[token("enum")]
    Enum,
    #[token("record")]
    Record,
    #[token("action")]
    Action,
    #[token("on")]
    On,
    #[token("context")]
    Context,
    #[token("behavior")]
    Behavior,
    #[token("task")]
    Task,
    #[token("intent")]
    Intent,
    #[token("require")]
    Require,
    #[token("scope")]
    Scope,
    #[token("ttl")]
    Ttl,
    #[token("delegate")]
    Delegate,
    #[token("to")]
    To,
    #[token("policy")]
    Policy,
    #[token("permit")]
    Permit,
    #[token("forbid")]
    Forbid,
    #[token("escalate")]
    Escalate,
    #[token("when")]
    When,
    #[token("unless")]
    Unless,
    #[token("where")]
    Where,
    #[token("grant")]
    Grant,
    #[token("tags")]
    Tags,
    #[token("message")]
    Message,
    #[token("bound")]
    Bound,
    #[token("assert")]
    Assert,
    #[token("never")]
    Never,
    #[token("fn")]
    Fn,
    #[token("test")]
    Test,
    #[token("expect")]
    Expect,
    #[token("chain")]
    Chain,
    #[token("args")]
    Args,

    // Expression keywords.
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("in")]
    In,
    #[token("has")]
    Has,
    #[token("is")]
    Is,
    #[token("starts_with")]
    StartsWith,
    #[token("ends_with")]
    EndsWith,
    #[token("contains")]
    Contains,
    #[token("matches")]
    Matches,
    #[token("any")]
    Any,
    #[token("all")]
    All,
    #[token("true")]
    True,
    #[token("false")]
    False,

    // Punctuation.
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("=")]
    Assign,
    #[token("->")]
    Arrow,
    #[token("::")]
    PathSep,
    #[token(":")]
    Colon,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token("?")]
    Question,
    #[token("*")]
    Star,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,

    // Literals and names.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'src str),
    #[regex(r"[0-9]+")]
    Int(&'src str),
    #[regex(r"[0-9]+\.[0-9]+")]
    Decimal(&'src str),
    #[regex(r"([0-9]+(ms|us|ns|s|m|h|d))+")]
    Duration(&'src str),
    /// A string literal, quotes included; escapes are decoded by the parser so that a bad
    /// escape is a diagnostic at its exact position.
    #[regex(r#""([^"\\\n\r\x0B\x0C\u{85}\u{2028}\u{2029}]|\\[^\n\r\x0B\x0C\u{85}\u{2028}\u{2029}])*""#)]
    Str(&'src str),

    /// Anything the lexer does not recognise, including an unterminated string.
    Error,
    /// `task` when it opens a task declaration or a test's task part (`task Name`), as
    /// opposed to the `task` request root in an expression. The parser's token adapter
    /// produces it, so that declarations never start with a token that expressions use
    /// and error recovery can resynchronise on declaration keywords.
    TaskHead,
    /// `open` when it starts a task's `open when` clause (the adapter again): elsewhere
    /// `open` is an ordinary name.
    OpenHead,
    /// `budget` when it starts a scope's budget, `budget count(…)` or `budget sum(…)`.
    BudgetHead,
    /// `narrow` when a scope block follows it, in a `delegate` clause.
    NarrowHead,
    /// `scope` when a name follows it: a named scope fragment's declaration, as
    /// opposed to the scope blocks of tasks, grants and bounds and `within scope`.
    FragmentHead,
}

/// A token with its byte range, in the `(start, token, end)` shape lalrpop consumes.
pub type Spanned<'src> = (usize, Token<'src>, usize);

/// Characters some editors show as a line break but Mandate does not: refused anywhere.
pub const FORBIDDEN_BREAKS: &[char] = &['\r', '\u{0B}', '\u{0C}', '\u{85}', '\u{2028}', '\u{2029}'];

/// Characters that are invisible, or that reorder how the text around them is shown:
/// bidirectional controls and zero-width characters. Refused outside comments and
/// strings (they are not tokens), and warned about inside them.
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
}

/// The byte-order mark, skipped at the start of a file.
pub const BOM: char = '\u{FEFF}';

/// Lexes `source` completely. Unrecognised input becomes [`Token::Error`]; consecutive
/// error bytes are merged into one token so a run of garbage yields one diagnostic.
pub fn tokenize(source: &str) -> Vec<Spanned<'_>> {
    let mut tokens: Vec<Spanned<'_>> = Vec::new();
    let offset = if source.starts_with(BOM) { BOM.len_utf8() } else { 0 };
    let mut lexer = Token::lexer(source.get(offset..).unwrap_or_default());
    while let Some(result) = lexer.next() {
        let span = lexer.span();
        let span = span.start + offset..span.end + offset;
        let token = result.unwrap_or(Token::Error);
        if token == Token::Error {
            if let Some((_, Token::Error, end)) = tokens.last_mut() {
                if *end == span.start {
                    *end = span.end;
                    continue;
                }
            }
        }
        tokens.push((span.start, token, span.end));
    }
    tokens
}

/// Where the `//` comments of `source` are, in order, given its `tokens`. The lexer skips
/// comments, so the parser never sees them; the formatter, which must keep every one,
/// finds them here in the gaps between tokens (which hold only whitespace and comments).
/// A comment runs from its `//` to the end of its line, the line break excluded.
pub fn comments(source: &str, tokens: &[Spanned<'_>]) -> Vec<Span> {
    let mut gaps = Vec::with_capacity(tokens.len() + 1);
    let mut at = if source.starts_with(BOM) { BOM.len_utf8() } else { 0 };
    for (start, _, end) in tokens {
        gaps.push((at, *start));
        at = *end;
    }
    gaps.push((at, source.len()));
    gaps.into_iter().flat_map(|(from, to)| comments_between(source, from, to)).collect()
}

/// The comments in the gap `from..to` between two tokens.
fn comments_between(source: &str, from: usize, to: usize) -> Vec<Span> {
    let mut found = Vec::new();
    let mut at = from;
    while let Some(offset) = source.get(at..to).and_then(|gap| gap.find("//")) {
        let start = at + offset;
        let rest = source.get(start..to).unwrap_or_default();
        let length = rest.find(|c: char| c == '\n' || FORBIDDEN_BREAKS.contains(&c)).unwrap_or(rest.len());
        found.push(Span::new(start, start + length));
        at = start + length.max(2);
    }
    found
}

/// Where a text stops looking like Mandate source, as a 1-based line and column: the
/// first unrecognised input, when the text has some and does not start with a
/// declaration. A policy file with a typo starts with a declaration (or comments); a file
/// of some other kind almost never does. Used to refuse such files without showing them.
pub fn first_foreign_position(text: &str) -> Option<(usize, usize)> {
    let tokens = tokenize(text);
    let (start, _, _) = tokens.iter().find(|(_, token, _)| *token == Token::Error)?;
    let starts_like_mandate = tokens.first().is_some_and(|(_, token, _)| {
        token.starts_declaration() || matches!(token, Token::Task | Token::Use | Token::Schema)
    });
    if starts_like_mandate {
        return None;
    }
    let before = text.get(..*start).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    Some((line, column))
}

impl Token<'_> {
    /// Whether the token opens a declaration; such tokens never occur inside one.
    pub fn starts_declaration(&self) -> bool {
        matches!(
            self,
            Token::Use
                | Token::Schema
                | Token::TaskHead
                | Token::FragmentHead
                | Token::Policy
                | Token::Bound
                | Token::Assert
                | Token::Fn
                | Token::Test
        )
    }

    /// How the token is named in a diagnostic: keywords and punctuation in backticks,
    /// literals by their kind.
    pub fn describe(&self) -> String {
        match self {
            Token::Ident(name) => format!("identifier `{name}`"),
            Token::Int(_) => "integer".to_string(),
            Token::Decimal(_) => "decimal".to_string(),
            Token::Duration(_) => "duration".to_string(),
            Token::Str(_) => "string".to_string(),
            Token::Error => "unrecognised input".to_string(),
            other => format!("`{}`", other.text()),
        }
    }

    /// The fixed spelling of a keyword or punctuation token.
    pub fn text(&self) -> &str {
        match self {
            Token::Use => "use",
            Token::As => "as",
            Token::Schema => "schema",
            Token::Agent => "agent",
            Token::Resource => "resource",
            Token::Enum => "enum",
            Token::Record => "record",
            Token::Action => "action",
            Token::On => "on",
            Token::Context => "context",
            Token::Behavior => "behavior",
            Token::Task | Token::TaskHead => "task",
            Token::OpenHead => "open",
            Token::BudgetHead => "budget",
            Token::NarrowHead => "narrow",
            Token::FragmentHead => "scope",
            Token::Intent => "intent",
            Token::Require => "require",
            Token::Scope => "scope",
            Token::Ttl => "ttl",
            Token::Delegate => "delegate",
            Token::To => "to",
            Token::Policy => "policy",
            Token::Permit => "permit",
            Token::Forbid => "forbid",
            Token::Escalate => "escalate",
            Token::When => "when",
            Token::Unless => "unless",
            Token::Where => "where",
            Token::Grant => "grant",
            Token::Tags => "tags",
            Token::Message => "message",
            Token::Bound => "bound",
            Token::Assert => "assert",
            Token::Never => "never",
            Token::Fn => "fn",
            Token::Test => "test",
            Token::Expect => "expect",
            Token::Chain => "chain",
            Token::Args => "args",
            Token::And => "and",
            Token::Or => "or",
            Token::Not => "not",
            Token::In => "in",
            Token::Has => "has",
            Token::Is => "is",
            Token::StartsWith => "starts_with",
            Token::EndsWith => "ends_with",
            Token::Contains => "contains",
            Token::Matches => "matches",
            Token::Any => "any",
            Token::All => "all",
            Token::True => "true",
            Token::False => "false",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::EqEq => "==",
            Token::NotEq => "!=",
            Token::Assign => "=",
            Token::Arrow => "->",
            Token::PathSep => "::",
            Token::Colon => ":",
            Token::Comma => ",",
            Token::Dot => ".",
            Token::Question => "?",
            Token::Star => "*",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Ident(text) | Token::Int(text) | Token::Decimal(text) | Token::Duration(text) | Token::Str(text) => {
                text
            }
            Token::Error => "?",
        }
    }
}

/// Every keyword, as written: words that are never identifiers. Tools and tests that
/// generate source use this list; a test checks that each one lexes as a keyword.
pub const KEYWORDS: &[&str] = &[
    "use",
    "as",
    "schema",
    "agent",
    "resource",
    "enum",
    "record",
    "action",
    "on",
    "context",
    "behavior",
    "task",
    "intent",
    "require",
    "scope",
    "ttl",
    "delegate",
    "to",
    "policy",
    "permit",
    "forbid",
    "escalate",
    "when",
    "unless",
    "where",
    "grant",
    "tags",
    "message",
    "bound",
    "assert",
    "never",
    "fn",
    "test",
    "expect",
    "chain",
    "args",
    "and",
    "or",
    "not",
    "in",
    "has",
    "is",
    "starts_with",
    "ends_with",
    "contains",
    "matches",
    "any",
    "all",
    "true",
    "false",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<Token<'_>> {
        tokenize(source).into_iter().map(|(_, t, _)| t).collect()
    }

    #[test]
    fn literals_and_keywords() {
        assert_eq!(
            kinds(r#"ttl 15m 1h30m 0.8 42 "a\"b" task"#),
            vec![
                Token::Ttl,
                Token::Duration("15m"),
                Token::Duration("1h30m"),
                Token::Decimal("0.8"),
                Token::Int("42"),
                Token::Str(r#""a\"b""#),
                Token::Task,
            ]
        );
    }

    #[test]
    fn garbage_becomes_one_error_token() {
        assert_eq!(kinds("a $$$ b"), vec![Token::Ident("a"), Token::Error, Token::Ident("b")]);
        assert_eq!(kinds("\"open\nx"), vec![Token::Error, Token::Ident("x")]);
    }

    #[test]
    fn every_keyword_is_one_keyword_token() {
        for keyword in KEYWORDS {
            let tokens = kinds(keyword);
            assert_eq!(tokens.len(), 1, "{keyword}");
            assert!(!matches!(tokens[0], Token::Ident(_) | Token::Error), "{keyword} lexes as {:?}", tokens[0]);
        }
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(kinds("a // b c\nd"), vec![Token::Ident("a"), Token::Ident("d")]);
        assert_eq!(kinds("a // b c\r\nd"), vec![Token::Ident("a"), Token::Ident("d")]);
    }

    #[test]
    fn comments_are_found_between_tokens_with_their_spans() {
        let source = "\u{FEFF}// head\na // b // c\r\n\"//x\" //\n";
        let found: Vec<&str> =
            comments(source, &tokenize(source)).iter().map(|span| &source[span.start..span.end]).collect();
        assert_eq!(found, vec!["// head", "// b // c", "//"]);
    }

    #[test]
    fn a_comment_never_runs_past_what_an_editor_shows_as_a_line_break() {
        for brk in FORBIDDEN_BREAKS {
            let source = format!("// guard{brk}policy p");
            let tokens = kinds(&source);
            assert_eq!(tokens.first(), Some(&Token::Error), "{brk:?}: {tokens:?}");
            assert!(tokens.contains(&Token::Policy), "{brk:?}: {tokens:?}");
            let string = format!("x == \"a{brk}b\"");
            assert!(kinds(&string).contains(&Token::Error), "{brk:?} inside a string");
        }
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let tokens = tokenize("\u{FEFF}policy");
        assert_eq!(tokens, vec![(3, Token::Policy, 9)]);
        assert_eq!(kinds("policy\u{FEFF}"), vec![Token::Policy, Token::Error]);
    }
}
