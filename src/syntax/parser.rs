//! The only module that touches lalrpop: it feeds tokens to the generated parser, decodes
//! literals, caps expression depth and turns parser errors into diagnostics.
//!
//! **Architecture invariant:** parsing never fails. [`parse`] returns a [`File`] (possibly
//! with `Error` items) and every problem as a diagnostic, whatever the input.

use std::sync::Arc;

use lalrpop_util::{lalrpop_mod, ErrorRecovery, ParseError};

use super::ast::*;
use super::lexer::{is_invisible, tokenize, Spanned, Token, BOM, FORBIDDEN_BREAKS};
use super::literal::{self, LiteralError};
use crate::diagnostics::Diagnostic;

lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, clippy::restriction, unused_parens, unused_imports, dead_code)]
    grammar,
    "/mandate.rs"
);

/// Deepest expression tree the parser accepts. Later phases walk expressions recursively,
/// so this bound is what keeps them off the end of the stack.
pub const MAX_EXPR_DEPTH: u32 = 256;

/// Most diagnostics reported for one file before the parser stops listing them.
pub const MAX_SYNTAX_ERRORS: usize = 100;

/// The lexer never fails, so the parser's user error type has no values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Never {}

/// Syntax errors, one variant per kind of mistake.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SyntaxError {
    #[error("unexpected {found}")]
    #[diagnostic(code(mandate::syntax::unexpected_token))]
    UnexpectedToken {
        found: String,
        #[label("expected {expected}")]
        span: Span,
        expected: String,
        #[help]
        help: Option<String>,
    },
    #[error("unfinished declaration")]
    #[diagnostic(code(mandate::syntax::unfinished), help("the next declaration starts before this one is complete"))]
    Unfinished {
        #[label("expected {expected} here")]
        span: Span,
        expected: String,
    },
    #[error("unterminated string")]
    #[diagnostic(
        code(mandate::syntax::unterminated_string),
        help("add a closing `\"`; strings end on the line they start")
    )]
    UnterminatedString {
        #[label("this string is not closed")]
        span: Span,
    },
    #[error("unexpected end of file")]
    #[diagnostic(code(mandate::syntax::unexpected_eof))]
    UnexpectedEof {
        #[label("expected {expected}")]
        span: Span,
        expected: String,
        #[help]
        help: Option<String>,
    },
    #[error("unrecognised input `{text}`")]
    #[diagnostic(code(mandate::syntax::invalid_token))]
    InvalidToken {
        text: String,
        #[label("not part of the language")]
        span: Span,
        #[help]
        help: Option<String>,
    },
    #[error("invalid escape `{escape}` in string")]
    #[diagnostic(
        code(mandate::syntax::invalid_escape),
        help("the escapes are \\\", \\\\, \\n, \\r, \\t and \\u{{…}}")
    )]
    InvalidEscape {
        escape: String,
        #[label("unknown escape")]
        span: Span,
    },
    #[error("{what} literal `{text}` is out of range")]
    #[diagnostic(code(mandate::syntax::literal_out_of_range), help("{help}"))]
    LiteralOutOfRange {
        what: &'static str,
        text: String,
        #[label("out of range")]
        span: Span,
        help: &'static str,
    },
    #[error("decimal literal has {digits} fractional digits, more than the 4 a decimal keeps")]
    #[diagnostic(
        code(mandate::syntax::decimal_precision),
        help("round it to at most 4 digits after the point; decimals are exact to 0.0001")
    )]
    DecimalPrecision {
        digits: usize,
        #[label("too precise")]
        span: Span,
    },
    #[error("expected `depth`, found `{found}`")]
    #[diagnostic(code(mandate::syntax::expected_depth), help("write `delegate depth <= N`"))]
    ExpectedDepth {
        found: String,
        #[label("here")]
        span: Span,
    },
    #[error("malformed budget: {reason}")]
    #[diagnostic(
        code(mandate::syntax::bad_budget),
        help("write `budget count(ACTION) <= LIMIT` or `budget sum(args.NAME) on ACTION <= LIMIT`")
    )]
    BadBudget {
        reason: String,
        #[label("here")]
        span: Span,
    },
    #[error("malformed history counter: {reason}")]
    #[diagnostic(
        code(mandate::syntax::bad_history),
        help(
            "write `NAME: Int = count(ACTION) per task within 1h` or `NAME: Decimal = sum(args.NAME) on ACTION per agent within 24h`"
        )
    )]
    BadHistory {
        reason: String,
        #[label("here")]
        span: Span,
    },
    #[error("expected `within`, found `{found}`")]
    #[diagnostic(
        code(mandate::syntax::expected_within),
        help(
            "write `permit within scope` for what the task's scope covers, or name the actions: `permit read on Doc`"
        )
    )]
    ExpectedWithin {
        found: String,
        #[label("here")]
        span: Span,
    },
    #[error("expected a decision, found `{found}`")]
    #[diagnostic(
        code(mandate::syntax::expected_decision),
        help(
            "a test expects the decision: `allow`, `deny` or `escalate` (a forbid, and no matching permit, both deny)"
        )
    )]
    ExpectedDecision {
        found: String,
        #[label("not a decision")]
        span: Span,
    },
    #[error("malformed expectation: {reason}")]
    #[diagnostic(
        code(mandate::syntax::bad_expectation),
        help(
            "after `expect DECISION` a test may expect `by [policy, …]`, `reason CODE`, `message \"…\"` and `grant {{ … }}`"
        )
    )]
    BadExpectation {
        reason: String,
        #[label("here")]
        span: Span,
    },
    #[error("`{found}` is not a generic type")]
    #[diagnostic(code(mandate::syntax::unknown_generic), help("the only generic type is `Set<T>`"))]
    UnknownGeneric {
        found: String,
        #[label("expected `Set`")]
        span: Span,
    },
    #[error("expression is nested more than {limit} levels deep")]
    #[diagnostic(
        code(mandate::syntax::too_deep),
        help("split the condition into functions, or use `in [...]` instead of long `or` chains")
    )]
    TooDeep {
        limit: u32,
        #[label("this expression is too deep")]
        span: Span,
    },
    #[error("{name} is not a line break in Mandate")]
    #[diagnostic(
        code(mandate::syntax::forbidden_line_break),
        help(
            "end lines with a line feed (`\\n`, or `\\r\\n`); an editor may show this character as a line break, so the text after it would not be what it seems. In a string, write it as an escape such as `\\u{{2028}}`"
        )
    )]
    ForbiddenLineBreak {
        name: String,
        #[label("here")]
        span: Span,
    },
    #[error("invisible character {name} outside a comment or string")]
    #[diagnostic(
        code(mandate::syntax::invisible_character),
        help("remove it: it changes how the text is shown without being part of the language")
    )]
    InvisibleCharacter {
        name: String,
        #[label("here")]
        span: Span,
    },
    #[error("{place} contains the invisible character {name}")]
    #[diagnostic(
        code(mandate::syntax::invisible_in_text),
        severity(Warning),
        help("it can make the text display differently from how it reads; remove it, or in a string write it as an escape such as `\\u{{202E}}`")
    )]
    InvisibleInText {
        place: &'static str,
        name: String,
        #[label("here")]
        span: Span,
    },
    #[error("too many syntax errors; stopped listing them after {limit}")]
    #[diagnostic(code(mandate::syntax::too_many_errors), help("fix the errors above and check again"))]
    TooManyErrors {
        limit: usize,
        #[label("stopped here")]
        span: Span,
    },
}

/// State the grammar's actions share: the diagnostics found so far.
pub struct Ctx {
    file: Arc<str>,
    diagnostics: Vec<Diagnostic>,
    source_len: usize,
    /// Start and end of every token, for pointing just past the previous token.
    token_spans: Vec<(usize, usize)>,
}

impl Ctx {
    fn report(&mut self, error: SyntaxError) {
        if self.diagnostics.len() < MAX_SYNTAX_ERRORS {
            self.diagnostics.push(Diagnostic::from_miette(&error, &self.file));
        } else if self.diagnostics.len() == MAX_SYNTAX_ERRORS {
            let span = Span::new(self.source_len, self.source_len);
            let stop = SyntaxError::TooManyErrors { limit: MAX_SYNTAX_ERRORS, span };
            self.diagnostics.push(Diagnostic::from_miette(&stop, &self.file));
        }
    }

    /// Records an error the grammar recovered from.
    pub fn recovered(&mut self, recovery: ErrorRecovery<usize, Token<'_>, Never>) {
        let error = self.syntax_error(recovery.error);
        self.report(error);
    }

    /// Builds an expression node, replacing it with an error node past the depth limit.
    pub fn expr(&mut self, kind: ExprKind, span: Span) -> Expr {
        let expr = Expr::new(kind, span);
        if expr.depth <= MAX_EXPR_DEPTH {
            return expr;
        }
        let already_reported = expr.kind.children().any(|child| child.depth > MAX_EXPR_DEPTH);
        if !already_reported {
            let start = Span::new(span.start, span.start.saturating_add(1).min(span.end));
            self.report(SyntaxError::TooDeep { limit: MAX_EXPR_DEPTH, span: start });
        }
        Expr { kind: ExprKind::Error, span, depth: MAX_EXPR_DEPTH + 1 }
    }

    /// Decodes a string literal (quotes included), reporting bad escapes.
    pub fn string(&mut self, raw: &str, span: Span) -> StrLit {
        let body = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
        let mut value = String::with_capacity(body.len());
        let mut chars = body.char_indices().peekable();
        while let Some((offset, c)) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            let Some((_, escape)) = chars.next() else { break };
            match escape {
                '"' => value.push('"'),
                '\\' => value.push('\\'),
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                'u' => match decode_unicode_escape(&mut chars) {
                    Some(decoded) => value.push(decoded),
                    None => self.bad_escape(span.start + 1 + offset, "\\u", span),
                },
                other => self.bad_escape(span.start + 1 + offset, &format!("\\{other}"), span),
            }
        }
        StrLit { value, span }
    }

    fn bad_escape(&mut self, at: usize, escape: &str, within: Span) {
        let span = Span::new(at, (at + escape.len()).min(within.end));
        self.report(SyntaxError::InvalidEscape { escape: escape.to_string(), span });
    }

    pub fn int(&mut self, raw: &str, span: Span) -> i64 {
        raw.parse().unwrap_or_else(|_| {
            self.report(SyntaxError::LiteralOutOfRange {
                what: "integer",
                text: raw.to_string(),
                span,
                help: "integers are 64-bit: at most 9223372036854775807",
            });
            0
        })
    }

    /// Validates a decimal literal: at most four fractional digits, within 64 bits when
    /// scaled, as in the evaluator's fixed-point representation.
    pub fn decimal(&mut self, raw: &str, span: Span) -> Expr {
        match literal::parse_decimal(raw) {
            Ok(_) => {}
            Err(LiteralError::Precision { digits }) => self.report(SyntaxError::DecimalPrecision { digits, span }),
            Err(_) => self.report(SyntaxError::LiteralOutOfRange {
                what: "decimal",
                text: raw.to_string(),
                span,
                help: "decimals lie between -922337203685477.5808 and 922337203685477.5807",
            }),
        }
        self.expr(ExprKind::Decimal(raw.to_string()), span)
    }

    /// A duration literal in nanoseconds.
    pub fn duration(&mut self, raw: &str, span: Span) -> i64 {
        literal::parse_duration(raw).unwrap_or_else(|_| {
            self.report(SyntaxError::LiteralOutOfRange {
                what: "duration",
                text: raw.to_string(),
                span,
                help: "durations are 64-bit nanoseconds: at most about 292 years (106751d)",
            });
            0
        })
    }

    pub fn delegate_depth(&mut self, word: Ident, limit: IntLit) -> IntLit {
        if word.name != "depth" {
            self.report(SyntaxError::ExpectedDepth { found: word.name, span: word.span });
        }
        limit
    }

    /// A budget entry of a scope: `budget count(ACTIONS) <= LIMIT` names its actions
    /// inside the parentheses, `budget sum(VALUE) on ACTIONS <= LIMIT` after `on`.
    pub fn budget(&mut self, measure: Ident, arg: Expr, on: Option<Target>, limit: Expr, span: Span) -> BudgetDecl {
        let (measure, actions) =
            self.measure(measure, arg, on, span, |reason, span| SyntaxError::BadBudget { reason, span });
        BudgetDecl { measure, actions, limit, span }
    }

    /// A history counter of the `behavior` block: `count(ACTIONS) per KEY within WINDOW`
    /// or `sum(VALUE) on ACTIONS per KEY within WINDOW`.
    #[allow(clippy::too_many_arguments)]
    pub fn history(
        &mut self,
        measure: Ident,
        arg: Expr,
        on: Option<Target>,
        (per_word, per): (Ident, Ident),
        (within_word, window): (Ident, DurationLit),
        span: Span,
    ) -> HistoryDecl {
        let bad = |reason, span| SyntaxError::BadHistory { reason, span };
        let (measure, actions) = self.measure(measure, arg, on, span, bad);
        if per_word.name != "per" {
            self.report(bad(format!("expected `per`, found `{}`", per_word.name), per_word.span));
        } else if !["task", "agent", "sponsor"].contains(&per.name.as_str()) {
            let reason = format!("a counter is kept per `task`, `agent` or `sponsor`, not per `{}`", per.name);
            self.report(bad(reason, per.span));
        }
        if within_word.name != "within" {
            self.report(bad(format!("expected `within`, found `{}`", within_word.name), within_word.span));
        } else if window.nanos < 1_000_000 {
            self.report(bad("a counter's window is at least 1ms".to_string(), window.span));
        }
        HistoryDecl { measure, actions, per, window, span }
    }

    /// What a budget or a counter measures, and of which actions: `count(ACTIONS)`, or
    /// `sum(VALUE) on ACTIONS`. Errors are reported with `bad`.
    fn measure(
        &mut self,
        measure: Ident,
        arg: Expr,
        on: Option<Target>,
        span: Span,
        bad: impl Fn(String, Span) -> SyntaxError,
    ) -> (BudgetMeasure, Target) {
        match (measure.name.as_str(), on) {
            ("count", None) => match action_names(&arg) {
                Some(names) => (BudgetMeasure::Count, Target::Names(names)),
                None => {
                    let reason = "`count` takes the actions it counts, such as `count(send_email)`".to_string();
                    self.report(bad(reason, arg.span));
                    (BudgetMeasure::Count, Target::Names(Vec::new()))
                }
            },
            ("count", Some(on)) => {
                let reason = "`count` names its actions inside the parentheses, not after `on`".to_string();
                self.report(bad(reason, on.span()));
                (BudgetMeasure::Count, on)
            }
            ("sum", Some(on)) => (BudgetMeasure::Sum(arg), on),
            ("sum", None) => {
                let reason = "`sum` needs the actions it adds up: `sum(args.amount) on refund`".to_string();
                self.report(bad(reason, span));
                (BudgetMeasure::Sum(arg), Target::Names(Vec::new()))
            }
            (other, on) => {
                self.report(bad(format!("expected `count` or `sum`, found `{other}`"), measure.span));
                (BudgetMeasure::Count, on.unwrap_or(Target::Names(Vec::new())))
            }
        }
    }

    /// The target of `permit within scope`, which `word` must spell.
    pub fn within_scope(&mut self, word: Ident, end: usize) -> Target {
        if word.name != "within" {
            self.report(SyntaxError::ExpectedWithin { found: word.name, span: word.span });
        }
        Target::Any(Span::new(word.span.start, end))
    }

    pub fn decision(&mut self, word: Ident) -> Decision {
        match word.name.as_str() {
            "allow" => Decision::Allow,
            "deny" => Decision::Deny,
            _ => {
                self.report(SyntaxError::ExpectedDecision { found: word.name, span: word.span });
                Decision::Deny
            }
        }
    }

    /// `by [a, b]` after a test's decision.
    pub fn expect_by(&mut self, word: Ident, names: Vec<Ident>, span: Span) -> Expectation {
        let reason = match word.name.as_str() {
            "by" => None,
            "reason" => Some("`reason` takes one reason code, without brackets: `reason forbidden`".to_string()),
            other => Some(format!("expected `by` or `reason`, found `{other}`")),
        };
        if let Some(reason) = reason {
            self.report(SyntaxError::BadExpectation { reason, span: word.span });
        }
        // `reason [code]` means the code.
        match (word.name.as_str(), names.as_slice()) {
            ("reason", [code]) => Expectation::Reason(code.clone(), span),
            _ => Expectation::By(names, span),
        }
    }

    /// `reason CODE` after a test's decision.
    pub fn expect_reason(&mut self, word: Ident, code: Ident, span: Span) -> Expectation {
        let reason = match word.name.as_str() {
            "reason" => None,
            "by" => Some(format!("`by` takes a list of policies in brackets: `by [{}]`", code.name)),
            other => Some(format!("expected `by` or `reason`, found `{other}`")),
        };
        if let Some(reason) = reason {
            self.report(SyntaxError::BadExpectation { reason, span: word.span });
        }
        // `by name` means a list of one.
        match word.name.as_str() {
            "by" => Expectation::By(vec![code], span),
            _ => Expectation::Reason(code, span),
        }
    }

    /// `expect permit` and `expect forbid`: effects where a decision belongs.
    pub fn effect_as_decision(&mut self, effect: Effect, span: Span) -> Decision {
        self.report(SyntaxError::ExpectedDecision { found: effect.keyword().to_string(), span });
        match effect {
            Effect::Permit => Decision::Allow,
            Effect::Escalate => Decision::Escalate,
            Effect::Forbid => Decision::Deny,
        }
    }

    pub fn set_type(&mut self, name: &str, inner: TypeExpr, span: Span) -> TypeExpr {
        if name != "Set" {
            let head = Span::new(span.start, span.start + name.len());
            self.report(SyntaxError::UnknownGeneric { found: name.to_string(), span: head });
        }
        self.type_node(TypeExpr::Set(Box::new(inner), span))
    }

    /// `action … on Set<T>`: an action on a set of resources of one type.
    pub fn many_action(
        &mut self,
        names: Vec<Ident>,
        params: Vec<Param>,
        set: &str,
        ty: Ident,
        span: Span,
    ) -> ActionDecl {
        if set != "Set" {
            let start = span.start;
            self.report(SyntaxError::UnknownGeneric {
                found: set.to_string(),
                span: Span::new(start, start + set.len()),
            });
        }
        ActionDecl { names, params, on: vec![ty], many: true, span }
    }

    /// A type with two arguments: `Map<String, T>` (the checker requires string keys).
    pub fn pair_type(&mut self, name: &str, key: TypeExpr, value: TypeExpr, span: Span) -> TypeExpr {
        if name != "Map" {
            let head = Span::new(span.start, span.start + name.len());
            self.report(SyntaxError::UnknownGeneric { found: name.to_string(), span: head });
            return TypeExpr::Error(span);
        }
        self.type_node(TypeExpr::Map(Box::new(key), Box::new(value), span))
    }

    /// Caps type nesting like expression nesting.
    pub fn type_node(&mut self, ty: TypeExpr) -> TypeExpr {
        let (ty, report) = ty.capped(MAX_EXPR_DEPTH);
        if report {
            let span = ty.span();
            self.report(SyntaxError::TooDeep { limit: MAX_EXPR_DEPTH, span: Span::new(span.start, span.start + 1) });
        }
        ty
    }
}

fn decode_unicode_escape(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<char> {
    if chars.next()?.1 != '{' {
        return None;
    }
    let mut hex = String::new();
    for (_, c) in chars.by_ref() {
        if c == '}' {
            return u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
        }
        hex.push(c);
        if hex.len() > 6 {
            return None;
        }
    }
    None
}

/// Turns `task` into the declaring token when a name follows it (`task Name`); in an
/// expression `task` is followed by `.`, `is` or an operator, never by a name, and in
/// `per task within 1h` it follows `per`. Likewise
/// `open` before `when` and `budget` before `count(` or `sum(` become clause heads,
/// unless they name a field (`resource.open`), and `scope` before a name declares a
/// scope fragment.
fn mark_task_heads(tokens: &mut [Spanned<'_>]) {
    for i in 0..tokens.len() {
        let token_at = |at: usize| tokens.get(at).map(|(_, token, _)| token);
        let next_is_name = matches!(token_at(i + 1), Some(Token::Ident(_)));
        let after_path = i > 0 && matches!(token_at(i - 1), Some(Token::Dot | Token::PathSep));
        // `per task within 1h`: a history counter's key, not a declaration.
        let after_per = i > 0 && matches!(token_at(i - 1), Some(Token::Ident("per")));
        let head = match token_at(i) {
            Some(Token::Task) if next_is_name && !after_per => Some(Token::TaskHead),
            Some(Token::Ident("open")) if !after_path && matches!(token_at(i + 1), Some(Token::When)) => {
                Some(Token::OpenHead)
            }
            Some(Token::Ident("budget"))
                if !after_path
                    && matches!(token_at(i + 1), Some(Token::Ident("count" | "sum")))
                    && matches!(token_at(i + 2), Some(Token::LParen)) =>
            {
                Some(Token::BudgetHead)
            }
            Some(Token::Ident("narrow")) if !after_path && matches!(token_at(i + 1), Some(Token::LBrace)) => {
                Some(Token::NarrowHead)
            }
            Some(Token::Scope) if next_is_name => Some(Token::FragmentHead),
            _ => None,
        };
        if let (Some(head), Some((_, token, _))) = (head, tokens.get_mut(i)) {
            *token = head;
        }
    }
}

/// Parses one file. Never fails: mistakes become diagnostics and `Error` nodes.
pub fn parse(source: &str, file: &Arc<str>) -> (File, Vec<Diagnostic>) {
    let mut tokens = tokenize(source);
    let hidden = hidden_characters(source, &tokens, file);
    mark_task_heads(&mut tokens);
    let token_spans = tokens.iter().map(|(start, _, end)| (*start, *end)).collect();
    let mut ctx = Ctx { file: file.clone(), diagnostics: Vec::new(), source_len: source.len(), token_spans };
    let parser = grammar::FileParser::new();
    let result = parser.parse(&mut ctx, tokens.into_iter().map(Ok::<_, Never>));
    let ast = match result {
        Ok(ast) => ast,
        Err(error) => {
            let error = ctx.syntax_error(error);
            ctx.report(error);
            File::default()
        }
    };
    let mut diagnostics = ctx.diagnostics;
    // Tokens made invalid by a hidden character are reported by `hidden_characters`.
    diagnostics.retain(|diagnostic| {
        let text = diagnostic.primary_span().and_then(|span| source.get(span.start..span.end)).unwrap_or_default();
        !(diagnostic.code == "mandate::syntax::invalid_token" && text.chars().any(is_hidden))
    });
    describe_invalid_tokens(source, &mut diagnostics);
    diagnostics.extend(hidden);
    (ast, diagnostics)
}

/// Parses a single expression; used by tests and tools that evaluate snippets.
pub fn parse_expr(source: &str, file: &Arc<str>) -> (Option<Expr>, Vec<Diagnostic>) {
    let mut tokens = tokenize(source);
    mark_task_heads(&mut tokens);
    let token_spans = tokens.iter().map(|(start, _, end)| (*start, *end)).collect();
    let mut ctx = Ctx { file: file.clone(), diagnostics: Vec::new(), source_len: source.len(), token_spans };
    let result = grammar::ExprParser::new().parse(&mut ctx, tokens.into_iter().map(Ok::<_, Never>));
    let expr = match result {
        Ok(expr) => Some(expr),
        Err(error) => {
            let error = ctx.syntax_error(error);
            ctx.report(error);
            None
        }
    };
    let mut diagnostics = ctx.diagnostics;
    describe_invalid_tokens(source, &mut diagnostics);
    (expr, diagnostics)
}

impl Ctx {
    /// The end of the token before the one starting at `start`.
    fn previous_token_end(&self, start: usize) -> usize {
        let index = self.token_spans.partition_point(|(token_start, _)| *token_start < start);
        index.checked_sub(1).and_then(|previous| self.token_spans.get(previous)).map_or(start, |(_, end)| *end)
    }

    fn syntax_error(&self, error: ParseError<usize, Token<'_>, Never>) -> SyntaxError {
        if let ParseError::UnrecognizedToken { token: (start, token, _), expected } = &error {
            let mid_declaration = !expected.iter().any(|symbol| symbol == "\"policy\"");
            if token.starts_declaration() && mid_declaration {
                let end = self.previous_token_end(*start);
                return SyntaxError::Unfinished { expected: describe_expected(expected), span: Span::new(end, end) };
            }
        }
        syntax_error(error, self.source_len)
    }
}

fn syntax_error(error: ParseError<usize, Token<'_>, Never>, source_len: usize) -> SyntaxError {
    match error {
        ParseError::UnrecognizedToken { token: (start, Token::Error, end), .. }
        | ParseError::ExtraToken { token: (start, Token::Error, end) } => invalid_token(Span::new(start, end)),
        ParseError::UnrecognizedToken { token: (start, token, end), expected } => {
            let help = mistake_help(&token, &expected);
            SyntaxError::UnexpectedToken {
                found: token.describe(),
                span: Span::new(start, end),
                expected: describe_expected(&expected),
                help,
            }
        }
        ParseError::ExtraToken { token: (start, token, end) } => SyntaxError::UnexpectedToken {
            found: token.describe(),
            span: Span::new(start, end),
            expected: "end of file".to_string(),
            help: None,
        },
        ParseError::UnrecognizedEof { location, expected } => SyntaxError::UnexpectedEof {
            span: Span::new(location.min(source_len), location.min(source_len)),
            expected: describe_expected(&expected),
            help: Some("the file ends in the middle of a declaration".to_string()),
        },
        ParseError::InvalidToken { location } => invalid_token(Span::new(location, location + 1)),
        ParseError::User { error } => match error {},
    }
}

/// An invalid token; its text is filled in by the caller that has the source.
fn invalid_token(span: Span) -> SyntaxError {
    SyntaxError::InvalidToken { text: String::new(), span, help: None }
}

/// Hints for mistakes people carry over from other languages.
fn mistake_help(found: &Token<'_>, expected: &[String]) -> Option<String> {
    let expects = |token: &str| expected.iter().any(|e| e == &format!("\"{token}\""));
    match found {
        Token::Assign if expects("==") => Some("use `==` to compare values".to_string()),
        Token::Task | Token::TaskHead if expects("policy") => {
            Some("a task declaration looks like `task Name(param: Type) { … }`".to_string())
        }
        _ if expected.iter().any(|e| e == "\"policy\"") => Some(
            "a file is a list of declarations: `use`, `schema`, `task`, `scope`, `policy`, `bound`, `assert`, `fn` and `test`"
                .to_string(),
        ),
        _ => None,
    }
}

/// Tokens that continue an expression; listed together as "an operator".
const OPERATORS: &[&str] = &[
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "starts_with",
    "ends_with",
    "contains",
    "matches",
    "+",
    "-",
    "*",
    ".",
    "[",
    "and",
    "or",
    "has",
    "is",
];

/// Tokens that start a declaration; listed together as "a declaration".
const DECLARATIONS: &[&str] = &["use", "schema", "TASK", "FRAGMENT", "policy", "bound", "assert", "fn", "test"];

/// Names what lalrpop expected in words people use, not grammar symbols.
fn describe_expected(expected: &[String]) -> String {
    const SHOWN: usize = 6;
    let bare = |symbol: &String| symbol.trim_matches('"').to_string();
    let mut names: Vec<String> = Vec::new();
    if expected.iter().any(|symbol| OPERATORS.contains(&bare(symbol).as_str())) {
        names.push("an operator".to_string());
    }
    if expected.iter().any(|symbol| bare(symbol) == "policy") {
        names.push("a declaration".to_string());
    }
    let others = expected.iter().filter(|symbol| {
        let symbol = bare(symbol);
        !OPERATORS.contains(&symbol.as_str()) && !DECLARATIONS.contains(&symbol.as_str())
    });
    let mut rest: Vec<String> = others.map(|symbol| friendly_symbol(symbol)).collect();
    rest.sort();
    rest.dedup();
    names.extend(rest);
    match names.len() {
        0 => "something else".to_string(),
        1 => names.remove(0),
        n if n <= SHOWN => {
            let last = names.pop().unwrap_or_default();
            format!("{} or {last}", names.join(", "))
        }
        n => {
            let shown: Vec<&str> = names.iter().take(SHOWN).map(String::as_str).collect();
            format!("{}, or one of {} others", shown.join(", "), n - SHOWN)
        }
    }
}

fn friendly_symbol(symbol: &str) -> String {
    match symbol {
        "IDENT" => "a name".to_string(),
        "INT" => "an integer".to_string(),
        "DECIMAL" => "a decimal".to_string(),
        "DURATION" => "a duration".to_string(),
        "STR" => "a string".to_string(),
        "TASK" => "`task`".to_string(),
        "FRAGMENT" => "`scope`".to_string(),
        "ERROR" => "valid input".to_string(),
        quoted => format!("`{}`", quoted.trim_matches('"')),
    }
}

/// Fills in the text of invalid-token diagnostics and adds a hint where the input looks
/// like another language's operator or an unclosed string.
fn describe_invalid_tokens(source: &str, diagnostics: &mut [Diagnostic]) {
    for diagnostic in diagnostics.iter_mut() {
        if diagnostic.code != "mandate::syntax::invalid_token" {
            continue;
        }
        let Some(span) = diagnostic.primary_span() else { continue };
        let text = source.get(span.start..span.end).unwrap_or("?");
        if text.starts_with('"') {
            let line_end = text.find('\n').map_or(span.end, |at| span.start + at);
            let error = SyntaxError::UnterminatedString { span: Span::new(span.start, line_end) };
            *diagnostic = Diagnostic::from_miette(&error, &diagnostic.file);
            continue;
        }
        let shown: String = text.chars().take(20).flat_map(char::escape_default).collect();
        let shown = shown.replace("\\'", "'").replace("\\\"", "\"");
        diagnostic.message = format!("unrecognised input `{shown}`");
        diagnostic.help = invalid_token_help(text).map(str::to_string);
    }
}

/// A line break Mandate does not take as one, or an invisible character.
fn is_hidden(c: char) -> bool {
    FORBIDDEN_BREAKS.contains(&c) || is_invisible(c)
}

/// Every character that could make the text read differently from how Mandate reads it,
/// wherever it is (the parser's error recovery would skip some): a line break other than
/// `\n` and `\r\n` is an error anywhere; an invisible character is an error outside
/// comments and strings and a warning inside them. A position is inside a string when a
/// string token covers it, and inside a comment when no token does.
fn hidden_characters(source: &str, tokens: &[Spanned<'_>], file: &Arc<str>) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut chars = source.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let span = Span::new(at, at + c.len_utf8());
        let error = if c == '\r' && chars.peek().is_some_and(|(_, next)| *next == '\n') {
            continue;
        } else if FORBIDDEN_BREAKS.contains(&c) {
            SyntaxError::ForbiddenLineBreak { name: character_name(c), span }
        } else if is_invisible(c) && !(at == 0 && c == BOM) {
            let covering =
                tokens.partition_point(|(start, _, _)| *start <= at).checked_sub(1).and_then(|i| tokens.get(i));
            match covering {
                Some((_, Token::Str(_), end)) if at < *end => {
                    SyntaxError::InvisibleInText { place: "this string", name: character_name(c), span }
                }
                Some((_, _, end)) if at < *end => SyntaxError::InvisibleCharacter { name: character_name(c), span },
                _ => SyntaxError::InvisibleInText { place: "this comment", name: character_name(c), span },
            }
        } else {
            continue;
        };
        found.push(Diagnostic::from_miette(&error, file));
    }
    found
}

/// A character's code point and, for the ones Mandate singles out, its name.
fn character_name(c: char) -> String {
    let name = match c {
        '\r' => "CARRIAGE RETURN",
        '\u{0B}' => "LINE TABULATION",
        '\u{0C}' => "FORM FEED",
        '\u{85}' => "NEXT LINE",
        '\u{2028}' => "LINE SEPARATOR",
        '\u{2029}' => "PARAGRAPH SEPARATOR",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{2060}' => "WORD JOINER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE (a byte-order mark past the start of the file)",
        _ => return format!("`U+{:04X}`", u32::from(c)),
    };
    format!("`U+{:04X}` ({name})", u32::from(c))
}

fn invalid_token_help(text: &str) -> Option<&'static str> {
    match text.trim() {
        "&&" | "&" => Some("use `and`"),
        "||" | "|" => Some("use `or`"),
        "!" => Some("use `not`, or `!=` to compare"),
        t if t.starts_with('\'') => Some("strings use double quotes: \"…\""),
        t if t.starts_with('#') => Some("comments start with `//`"),
        _ => None,
    }
}

/// The action names of `count(a)` or `count([a, b])`.
fn action_names(arg: &Expr) -> Option<Vec<Ident>> {
    let name = |expr: &Expr| match &expr.kind {
        ExprKind::Name(name) => Some(Ident { name: name.clone(), span: expr.span }),
        _ => None,
    };
    match &arg.kind {
        ExprKind::Set(items) => items.iter().map(name).collect(),
        _ => name(arg).map(|ident| vec![ident]),
    }
}
