//! The canonical layout of each construct, as a [`Doc`], with the file's comments and
//! blank lines in their places.
//!
//! It mirrors the printer (`syntax::print`), whose precedence rules and name writers it
//! uses, but it also knows where a construct may break, which declarations are always
//! laid out one entry per line, and where every comment goes. Literals are written as they
//! were in the source (`24h` stays `24h`, escapes stay as written), so formatting changes
//! layout only. The tree is walked in source order so that comments are taken in order
//! (see `comments`).

use super::comments::{Comment, Comments};
use super::doc::Doc;
use crate::syntax::ast::*;
use crate::syntax::lexer::{Spanned, Token};
use crate::syntax::print::{names, path_text, precedence, print_expr, quote, target_text};

/// How a bracketed list of entries is written.
#[derive(Debug, Clone, Copy)]
struct Block {
    open: &'static str,
    close: &'static str,
    /// `{ a, b }` rather than `[a, b]` when flat.
    padded: bool,
    /// Entries end in a comma (the last one only when broken).
    commas: bool,
    /// One entry per line even when they would fit on one.
    always_broken: bool,
}

/// Scope blocks, record literals and types, enums, one-attribute blocks: flat when they fit.
const BRACES: Block = Block { open: "{", close: "}", padded: true, commas: true, always_broken: false };
/// A scope fragment's body and schema attribute blocks of several attributes: one entry
/// per line.
const DECLARATIONS: Block = Block { always_broken: true, ..BRACES };
/// The bodies of schemas, tasks, grants, bounds, functions and tests.
const BODY: Block = Block { commas: false, ..DECLARATIONS };
/// Sets, chains and tag lists.
const BRACKETS: Block = Block { open: "[", close: "]", padded: false, commas: true, always_broken: false };
/// Parameters and arguments.
const PARENS: Block = Block { open: "(", close: ")", ..BRACKETS };

/// One entry of a list, with the comments that go with it.
struct Entry {
    leading: Vec<Comment>,
    doc: Doc,
    trailing: Option<Comment>,
    span: Span,
}

/// An entry of a scope block; the tree keeps items, budgets and uses apart, the source
/// (and so the layout) has them in one list.
#[derive(Clone, Copy)]
enum ScopeEntry<'a> {
    Item(&'a ScopeItem),
    Budget(&'a BudgetDecl),
    Use(&'a FragmentUse),
}

impl ScopeEntry<'_> {
    fn span(&self) -> Span {
        match self {
            ScopeEntry::Item(item) => item.span,
            ScopeEntry::Budget(budget) => budget.span,
            ScopeEntry::Use(used) => used.span,
        }
    }
}

/// Lays out one parsed file.
pub struct Layout<'s> {
    source: &'s str,
    tokens: Vec<Spanned<'s>>,
    comments: Comments<'s>,
    /// How many lists were laid out: each list's trailing comments align among themselves.
    lists: usize,
}

impl<'s> Layout<'s> {
    pub fn new(source: &'s str, tokens: Vec<Spanned<'s>>, comments: Comments<'s>) -> Self {
        Layout { source, tokens, comments, lists: 0 }
    }

    /// The whole file: its declarations, and the comments after the last one.
    pub fn file(mut self, file: &File) -> Doc {
        let mut entries = Vec::with_capacity(file.items.len());
        for item in &file.items {
            entries.push(self.entry(item.span(), |this| this.item(item)));
        }
        let dangling = self.comments.take_before(usize::MAX);
        self.units(entries, dangling, false, Doc::concat(Vec::new()))
    }

    // --- Source positions ---------------------------------------------------------------

    /// The source text of a span: literals are written as they were.
    fn raw(&self, span: Span, fallback: impl FnOnce() -> String) -> String {
        self.source.get(span.start..span.end).map_or_else(fallback, str::to_string)
    }

    fn string(&self, literal: &StrLit) -> String {
        self.raw(literal.span, || quote(&literal.value))
    }

    fn duration(&self, literal: &DurationLit) -> String {
        self.raw(literal.span, || crate::syntax::literal::duration_text(literal.nanos))
    }

    /// The first token that starts at or after `position`, if it is `wanted`: its index.
    fn token_at(&self, position: usize, wanted: Token<'_>) -> Option<usize> {
        let index = self.tokens.partition_point(|(start, _, _)| *start < position);
        self.tokens.get(index).filter(|(_, token, _)| *token == wanted).map(|_| index)
    }

    fn token_end(&self, index: usize) -> Option<usize> {
        self.tokens.get(index).map(|(_, _, end)| *end)
    }

    fn token_start(&self, index: usize) -> Option<usize> {
        self.tokens.get(index).map(|(start, _, _)| *start)
    }

    /// The index of the bracket that closes the one at `open`.
    fn matching(&self, open: usize) -> Option<usize> {
        let (_, opener, _) = self.tokens.get(open)?;
        let closer = match opener {
            Token::LParen => Token::RParen,
            Token::LBrace => Token::RBrace,
            _ => Token::RBracket,
        };
        let mut depth = 0usize;
        for (index, (_, token, _)) in self.tokens.iter().enumerate().skip(open) {
            if token == opener {
                depth += 1;
            } else if *token == closer {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(index);
                }
            }
        }
        None
    }

    /// Where a bracketed list that opens with `wanted` at `position` opens and closes:
    /// the end of its opening bracket and the start of its closing one.
    fn brackets(&self, position: usize, wanted: Token<'_>) -> Option<(usize, usize)> {
        let open = self.token_at(position, wanted)?;
        let close = self.matching(open)?;
        Some((self.token_end(open)?, self.token_start(close)?))
    }

    /// The end of a target, its closing `]` included.
    fn target_end(&self, target: &Target) -> usize {
        let end = target.span().end;
        self.token_at(end, Token::RBracket).and_then(|index| self.token_end(index)).unwrap_or(end)
    }

    // --- Entries, blocks and comments ---------------------------------------------------

    /// A new list, for aligning the comments that trail its entries.
    fn new_list(&mut self) -> usize {
        self.lists += 1;
        self.lists
    }

    /// A comment at the end of a line that no other comment aligns with.
    fn trailing_alone(&mut self, comment: Comment) -> Doc {
        let list = self.new_list();
        Doc::Trailing(comment.text, list)
    }

    /// Builds an entry that starts a line when its list is broken: the comments before
    /// it lead it, and a comment after it on its line trails it.
    fn entry(&mut self, span: Span, build: impl FnOnce(&mut Self) -> Doc) -> Entry {
        let leading = self.comments.take_before(span.start);
        let reserved = self.comments.reserve_trailing(span.end);
        let doc = build(self);
        let trailing = self.comments.settle(reserved);
        Entry { leading, doc, trailing, span }
    }

    /// A comment right after a block's opening bracket, on its line.
    fn header_comment(&mut self, open_end: Option<usize>) -> Option<Comment> {
        let reserved = self.comments.reserve_trailing(open_end?);
        self.comments.settle(reserved)
    }

    /// A bracketed list of `items`, the opening bracket ending at `open_end` (when it was
    /// written) and the closing one starting at `close_at`.
    fn block<T>(
        &mut self,
        style: Block,
        (open_end, close_at): (Option<usize>, usize),
        items: &[T],
        span_of: impl Fn(&T) -> Span,
        mut doc_of: impl FnMut(&mut Self, &T) -> Doc,
    ) -> Doc {
        let header = self.header_comment(open_end);
        let mut entries = Vec::with_capacity(items.len());
        for item in items {
            entries.push(self.entry(span_of(item), |this| doc_of(this, item)));
        }
        self.close_block(style, header, entries, close_at)
    }

    fn close_block(&mut self, style: Block, header: Option<Comment>, entries: Vec<Entry>, close_at: usize) -> Doc {
        let dangling = self.comments.take_before(close_at);
        if entries.is_empty() && dangling.is_empty() && header.is_none() {
            return Doc::text(format!("{}{}", style.open, style.close));
        }
        let edge = if style.padded { Doc::Line } else { Doc::SoftLine };
        let body = self.units(entries, dangling, style.commas, edge.clone());
        let mut docs = vec![Doc::text(style.open)];
        docs.extend(header.map(|comment| self.trailing_alone(comment)));
        docs.extend([Doc::nest(body), edge, Doc::text(style.close)]);
        match style.always_broken {
            true => Doc::broken(Doc::concat(docs)),
            false => Doc::group(Doc::concat(docs)),
        }
    }

    /// Entries and comments, each starting a line when broken (`first` before the first),
    /// with the source's blank lines between them kept, one at most.
    fn units(&mut self, entries: Vec<Entry>, dangling: Vec<Comment>, commas: bool, first: Doc) -> Doc {
        let list = self.new_list();
        let mut docs = Vec::new();
        let mut previous: Option<usize> = None;
        let count = entries.len();
        for (index, entry) in entries.into_iter().enumerate() {
            for comment in entry.leading {
                self.line_break(&mut docs, previous, comment.span.start, &first);
                docs.push(Doc::Comment(comment.text));
                previous = Some(comment.span.end);
            }
            self.line_break(&mut docs, previous, entry.span.start, &first);
            docs.push(entry.doc);
            if commas {
                docs.push(if index + 1 == count { Doc::IfBroken(",") } else { Doc::text(",") });
            }
            previous = Some(entry.trailing.as_ref().map_or(entry.span.end, |comment| comment.span.end));
            docs.extend(entry.trailing.map(|comment| Doc::Trailing(comment.text, list)));
        }
        for comment in dangling {
            self.line_break(&mut docs, previous, comment.span.start, &first);
            docs.push(Doc::Comment(comment.text));
            previous = Some(comment.span.end);
        }
        Doc::concat(docs)
    }

    fn line_break(&self, docs: &mut Vec<Doc>, previous: Option<usize>, start: usize, first: &Doc) {
        match previous {
            None => docs.push(first.clone()),
            Some(end) => {
                if self.comments.blank_line_between(end, start) {
                    docs.push(Doc::HardLine);
                }
                docs.push(Doc::Line);
            }
        }
    }

    // --- Declarations -------------------------------------------------------------------

    fn item(&mut self, item: &Item) -> Doc {
        match item {
            Item::Use(decl) => {
                let target = match &decl.target {
                    UseTarget::Module(path) => path_text(path),
                    UseTarget::File(file) => self.string(file),
                };
                Doc::text(format!("use {target}"))
            }
            Item::Schema(block) => self.schema(block),
            Item::Task(task) => self.task(task),
            Item::Policy(policy) => self.policy(policy),
            Item::Bound(bound) => self.bound(bound),
            Item::Assert(assert) => self.assert(assert),
            Item::Function(function) => self.function(function),
            Item::Fragment(fragment) => self.fragment(fragment),
            Item::Test(test) => self.test(test),
            Item::Error(span) => Doc::text(self.raw(*span, String::new)),
        }
    }

    fn schema(&mut self, block: &SchemaBlock) -> Doc {
        let open = self.token_at(block.span.start + 1, Token::LBrace).and_then(|index| self.token_end(index));
        let close = block.span.end.saturating_sub(1);
        let body = self.block(BODY, (open, close), &block.items, schema_item_span, Self::schema_item);
        Doc::concat(vec![Doc::text("schema "), body])
    }

    fn schema_item(&mut self, item: &SchemaItem) -> Doc {
        match item {
            SchemaItem::Agent { attrs, span } => self.attr_block("agent".to_string(), span.start + 1, *span, attrs),
            SchemaItem::Resource { name, attrs, span } => {
                self.attr_block(format!("resource {}", name.name), name.span.end, *span, attrs)
            }
            SchemaItem::Record { name, fields, span } => {
                self.attr_block(format!("record {}", name.name), name.span.end, *span, fields)
            }
            SchemaItem::Context { attrs, span } => self.attr_block("context".to_string(), span.start + 1, *span, attrs),
            SchemaItem::Behavior { attrs, span } => {
                self.attr_block("behavior".to_string(), span.start + 1, *span, attrs)
            }
            SchemaItem::Enum { name, variants, span } => {
                let open = self.token_at(name.span.end, Token::LBrace).and_then(|index| self.token_end(index));
                let close = span.end.saturating_sub(1);
                let list = self.block(
                    BRACES,
                    (open, close),
                    variants,
                    |variant| variant.span,
                    |_, variant| Doc::text(variant.name.clone()),
                );
                Doc::concat(vec![Doc::text(format!("enum {} ", name.name)), list])
            }
            SchemaItem::Action(action) => self.action(action),
            SchemaItem::Error(span) => Doc::text(self.raw(*span, String::new)),
        }
    }

    /// `head { attrs }`, one attribute per line when there are several; the block opens at
    /// or after `from` and
    /// closes at the end of `span`.
    fn attr_block(&mut self, head: String, from: usize, span: Span, attrs: &[AttrDecl]) -> Doc {
        let open = self.token_at(from, Token::LBrace).and_then(|index| self.token_end(index));
        let close = span.end.saturating_sub(1);
        let style = if attrs.len() > 1 { DECLARATIONS } else { BRACES };
        let block = self.block(style, (open, close), attrs, |attr| attr.span, Self::attr);
        Doc::concat(vec![Doc::text(format!("{head} ")), block])
    }

    fn attr(&mut self, attr: &AttrDecl) -> Doc {
        let optional = if attr.optional { "?" } else { "" };
        let mut docs = vec![Doc::text(format!("{}{optional}: ", attr.name.name)), self.type_expr(&attr.ty)];
        if let Some(history) = &attr.history {
            docs.push(Doc::text(" = "));
            docs.push(self.history(history));
        }
        Doc::concat(docs)
    }

    fn history(&mut self, history: &HistoryDecl) -> Doc {
        let window = self.duration(&history.window);
        let tail = Doc::text(format!(" per {} within {window}", history.per.name));
        match &history.measure {
            BudgetMeasure::Count => {
                Doc::concat(vec![Doc::text(format!("count({})", target_text(&history.actions))), tail])
            }
            BudgetMeasure::Sum(value) => Doc::concat(vec![
                Doc::text("sum("),
                self.expr(value),
                Doc::text(format!(") on {}", target_text(&history.actions))),
                tail,
            ]),
        }
    }

    fn type_expr(&mut self, ty: &TypeExpr) -> Doc {
        match ty {
            TypeExpr::Named(name) => Doc::text(name.name.clone()),
            TypeExpr::Set(inner, _) => Doc::concat(vec![Doc::text("Set<"), self.type_expr(inner), Doc::text(">")]),
            TypeExpr::Map(key, value, _) => Doc::concat(vec![
                Doc::text("Map<"),
                self.type_expr(key),
                Doc::text(", "),
                self.type_expr(value),
                Doc::text(">"),
            ]),
            TypeExpr::Record(attrs, span) => {
                let ends = (Some(span.start + 1), span.end.saturating_sub(1));
                self.block(BRACES, ends, attrs, |attr| attr.span, Self::attr)
            }
            TypeExpr::Error(span) => Doc::text(self.raw(*span, String::new)),
        }
    }

    fn action(&mut self, action: &ActionDecl) -> Doc {
        let mut docs = vec![Doc::text(format!("action {}", names(&action.names)))];
        let after_names = action.names.last().map_or(action.span.start, |name| name.span.end);
        if !action.params.is_empty() || self.parens_hold_comments(after_names) {
            docs.push(self.params(&action.params, after_names));
        }
        if action.many {
            docs.push(Doc::text(format!(" on Set<{}>", names(&action.on))));
        } else if !action.on.is_empty() {
            docs.push(Doc::text(format!(" on {}", names(&action.on))));
        }
        Doc::concat(docs)
    }

    /// Whether the parentheses that open at `position` (if any) hold a comment.
    fn parens_hold_comments(&self, position: usize) -> bool {
        self.brackets(position, Token::LParen)
            .is_some_and(|(open, close)| self.comments.pending_within(Span::new(open, close)))
    }

    /// `(params)`, the parenthesis opening at `position`.
    fn params(&mut self, params: &[Param], position: usize) -> Doc {
        let ends = match self.brackets(position, Token::LParen) {
            Some((open, close)) => (Some(open), close),
            None => (None, position),
        };
        self.block(PARENS, ends, params, param_span, Self::param)
    }

    fn param(&mut self, param: &Param) -> Doc {
        let optional = if param.optional { "?" } else { "" };
        let mut docs = vec![Doc::text(format!("{}{optional}: ", param.name.name)), self.type_expr(&param.ty)];
        if let Some(default) = &param.default {
            docs.push(Doc::text(" = "));
            docs.push(self.expr(default));
        }
        Doc::concat(docs)
    }

    fn task(&mut self, task: &TaskDecl) -> Doc {
        let mut docs = vec![Doc::text(format!("task {}", task.name.name))];
        let mut after = task.name.span.end;
        if let Some(last) = task.parts.last() {
            let parts: Vec<&str> = task.parts.iter().map(|part| part.name.as_str()).collect();
            docs.push(Doc::text(format!(" = {}", parts.join(" + "))));
            after = last.span.end;
        } else if let Some((_, close)) = self.brackets(after, Token::LParen) {
            if !task.params.is_empty() || self.parens_hold_comments(after) {
                docs.push(self.params(&task.params, after));
            }
            after = close + 1;
        }
        let open = self
            .token_at(after, Token::LBrace)
            .and_then(|index| self.token_end(index))
            .filter(|open| *open <= task.span.end);
        let close = if open.is_some() { task.span.end.saturating_sub(1) } else { task.span.end };
        let composite = !task.parts.is_empty();
        let hold_comments = open.is_some_and(|open| self.comments.pending_within(Span::new(open, close)));
        if composite && task.clauses.is_empty() && !hold_comments {
            return Doc::concat(docs);
        }
        docs.push(Doc::text(" "));
        docs.push(self.block(BODY, (open, close), &task.clauses, clause_span, Self::clause));
        Doc::concat(docs)
    }

    fn clause(&mut self, clause: &TaskClause) -> Doc {
        match clause {
            TaskClause::Intent(text) => Doc::text(format!("intent {}", self.string(text))),
            TaskClause::Require(expr) => Doc::concat(vec![Doc::text("require "), self.expr(expr)]),
            TaskClause::Scope(scope) => Doc::concat(vec![Doc::text("scope "), self.scope(scope, BRACES)]),
            TaskClause::Ttl(ttl) => Doc::text(format!("ttl {}", self.duration(ttl))),
            TaskClause::Delegate(delegate) => self.delegate(delegate),
            TaskClause::Open(expr) => Doc::concat(vec![Doc::text("open when "), self.expr(expr)]),
            TaskClause::Error(span) => Doc::text(self.raw(*span, String::new)),
        }
    }

    fn delegate(&mut self, delegate: &DelegateClause) -> Doc {
        let mut docs = vec![Doc::text("delegate")];
        if let Some(depth) = &delegate.max_depth {
            let limit = self.raw(depth.span, || depth.value.to_string());
            docs.push(Doc::text(format!(" depth <= {limit}")));
        }
        if let Some(to) = &delegate.to {
            docs.push(Doc::text(" to "));
            docs.push(self.expr(to));
        }
        if let Some(narrow) = &delegate.narrow {
            let scope = self.scope(narrow, BRACES);
            docs.push(Doc::nest(Doc::concat(vec![Doc::Line, Doc::text("narrow "), scope])));
        }
        Doc::group(Doc::concat(docs))
    }

    /// A scope block, its entries in the order they were written.
    fn scope(&mut self, scope: &ScopeBlock, style: Block) -> Doc {
        let mut entries: Vec<ScopeEntry<'_>> = scope.items.iter().map(ScopeEntry::Item).collect();
        entries.extend(scope.budgets.iter().map(ScopeEntry::Budget));
        entries.extend(scope.uses.iter().map(ScopeEntry::Use));
        entries.sort_by_key(|entry| entry.span().start);
        let ends = (Some(scope.span.start + 1), scope.span.end.saturating_sub(1));
        self.block(style, ends, &entries, ScopeEntry::span, |this, entry| this.scope_entry(*entry))
    }

    fn scope_entry(&mut self, entry: ScopeEntry<'_>) -> Doc {
        match entry {
            ScopeEntry::Item(item) => {
                let targets = format!("{} on {}", target_text(&item.actions), target_text(&item.resources));
                match &item.condition {
                    Some(condition) => Doc::concat(vec![Doc::text(format!("{targets} where ")), self.expr(condition)]),
                    None => Doc::text(targets),
                }
            }
            ScopeEntry::Budget(budget) => self.budget(budget),
            ScopeEntry::Use(used) => {
                let mut docs = vec![Doc::text(format!("use {}", used.name.name))];
                if !used.args.is_empty() || self.parens_hold_comments(used.name.span.end) {
                    docs.push(self.arguments(&used.args, used.name.span.end));
                }
                Doc::concat(docs)
            }
        }
    }

    fn budget(&mut self, budget: &BudgetDecl) -> Doc {
        let mut docs = match &budget.measure {
            BudgetMeasure::Count => vec![Doc::text(format!("budget count({}) <= ", target_text(&budget.actions)))],
            BudgetMeasure::Sum(value) => vec![
                Doc::text("budget sum("),
                self.expr(value),
                Doc::text(format!(") on {} <= ", target_text(&budget.actions))),
            ],
        };
        docs.push(self.expr(&budget.limit));
        Doc::concat(docs)
    }

    fn policy(&mut self, policy: &PolicyDecl) -> Doc {
        let colon = self.token_at(policy.name.span.end, Token::Colon).and_then(|index| self.token_end(index));
        let header = self.header_comment(colon);
        let mut entries = Vec::new();
        let head_end = match &policy.resources {
            Some(resources) => self.target_end(resources),
            None => self.target_end(&policy.actions),
        };
        let head = match (&policy.resources, policy.within_scope) {
            (_, true) => format!("{} within scope", policy.effect.keyword()),
            (Some(resources), false) => {
                format!("{} {} on {}", policy.effect.keyword(), target_text(&policy.actions), target_text(resources))
            }
            (None, false) => format!("{} {}", policy.effect.keyword(), target_text(&policy.actions)),
        };
        entries.push(self.entry(Span::new(policy.effect_span.start, head_end), |_| Doc::text(head)));
        for condition in &policy.conditions {
            let keyword = match condition.kind {
                ConditionKind::When => "when ",
                ConditionKind::Unless => "unless ",
            };
            entries.push(
                self.entry(condition.expr.span, |this| {
                    Doc::concat(vec![Doc::text(keyword), this.expr(&condition.expr)])
                }),
            );
        }
        if let Some(message) = &policy.message {
            entries.push(self.entry(message.span, |this| Doc::text(format!("message {}", this.string(message)))));
        }
        if let Some(grant) = &policy.grant {
            entries.push(self.entry(grant.span, |this| this.grant(grant)));
        }
        // A policy has no closing bracket to keep comments in: those after its last
        // clause belong to what follows it, as they will when the output is read again.
        let clauses = self.units(entries, Vec::new(), false, Doc::HardLine);
        let mut docs = vec![Doc::text(format!("policy {}:", policy.name.name))];
        docs.extend(header.map(|comment| self.trailing_alone(comment)));
        docs.push(Doc::nest(clauses));
        Doc::broken(Doc::concat(docs))
    }

    /// `grant CLAUSE` for one clause, else `grant { … }` with one clause per line.
    fn grant(&mut self, grant: &Grant) -> Doc {
        if let [clause] = grant.clauses.as_slice() {
            if !self.comments.pending_within(grant.span) {
                return Doc::concat(vec![Doc::text("grant "), self.grant_clause(clause)]);
            }
        }
        let open = self.token_at(grant.span.start + 1, Token::LBrace).and_then(|index| self.token_end(index));
        let close = if open.is_some() { grant.span.end.saturating_sub(1) } else { grant.span.end };
        let block = self.block(BODY, (open, close), &grant.clauses, grant_clause_span, Self::grant_clause);
        Doc::concat(vec![Doc::text("grant "), block])
    }

    fn grant_clause(&mut self, clause: &GrantClause) -> Doc {
        match clause {
            GrantClause::Ttl(ttl) => Doc::text(format!("ttl {}", self.duration(ttl))),
            GrantClause::Scope(scope) => Doc::concat(vec![Doc::text("scope "), self.scope(scope, BRACES)]),
            GrantClause::Tags(tags, span) => {
                let ends = match self.brackets(span.start + 1, Token::LBracket) {
                    Some((open, close)) => (Some(open), close),
                    None => (None, span.end),
                };
                let list = self.block(BRACKETS, ends, tags, |tag| tag.span, |this, tag| Doc::text(this.string(tag)));
                Doc::concat(vec![Doc::text("tags "), list])
            }
            GrantClause::Message(text) => Doc::text(format!("message {}", self.string(text))),
        }
    }

    fn bound(&mut self, bound: &BoundDecl) -> Doc {
        let open = self.token_at(bound.name.span.end, Token::LBrace).and_then(|index| self.token_end(index));
        let header = self.header_comment(open);
        let mut entries = Vec::new();
        if let Some(applies) = &bound.applies {
            entries.push(self.entry(applies.span, |this| Doc::concat(vec![Doc::text("when "), this.expr(applies)])));
        }
        entries.push(
            self.entry(bound.scope.span, |this| {
                Doc::concat(vec![Doc::text("scope "), this.scope(&bound.scope, BRACES)])
            }),
        );
        let block = self.close_block(BODY, header, entries, bound.span.end.saturating_sub(1));
        Doc::concat(vec![Doc::text(format!("bound {} ", bound.name.name)), block])
    }

    /// One line when it fits, else broken after the name, then before `when`.
    fn assert(&mut self, assert: &AssertDecl) -> Doc {
        let mut claim = format!("never {} {}", assert.effect.keyword(), target_text(&assert.actions));
        if let Some(resources) = &assert.resources {
            claim.push_str(&format!(" on {}", target_text(resources)));
        }
        let mut claim = vec![Doc::text(claim)];
        if let Some(condition) = &assert.condition {
            claim.push(Doc::nest(Doc::concat(vec![Doc::Line, Doc::text("when "), self.expr(condition)])));
        }
        let claim = Doc::group(Doc::concat(claim));
        match &assert.name {
            Some(name) => Doc::group(Doc::concat(vec![
                Doc::text(format!("assert {}:", name.name)),
                Doc::nest(Doc::concat(vec![Doc::Line, claim])),
            ])),
            None => Doc::concat(vec![Doc::text("assert "), claim]),
        }
    }

    fn function(&mut self, function: &FnDecl) -> Doc {
        let params = self.params(&function.params, function.name.span.end);
        let ret = self.type_expr(&function.ret);
        let open = self.token_at(function.ret.span().end, Token::LBrace).and_then(|index| self.token_end(index));
        let header = self.header_comment(open);
        let body = self.entry(function.body.span, |this| this.expr(&function.body));
        let block = self.close_block(BODY, header, vec![body], function.span.end.saturating_sub(1));
        Doc::concat(vec![
            Doc::text(format!("fn {}", function.name.name)),
            params,
            Doc::text(" -> "),
            ret,
            Doc::text(" "),
            block,
        ])
    }

    fn fragment(&mut self, fragment: &FragmentDecl) -> Doc {
        let mut docs = vec![Doc::text(format!("scope {}", fragment.name.name))];
        if !fragment.params.is_empty() || self.parens_hold_comments(fragment.name.span.end) {
            docs.push(self.params(&fragment.params, fragment.name.span.end));
        }
        docs.push(Doc::text(" "));
        docs.push(self.scope(&fragment.scope, DECLARATIONS));
        Doc::concat(docs)
    }

    fn test(&mut self, test: &TestDecl) -> Doc {
        let open = self.token_at(test.name.span.end, Token::LBrace).and_then(|index| self.token_end(index));
        let header = self.header_comment(open);
        let mut entries = Vec::new();
        for part in &test.request {
            entries.push(self.entry(request_part_span(part), |this| this.request_part(part)));
        }
        let end = test.expectations.last().map_or(test.expect_span.end, |last| last.span().end);
        entries.push(self.entry(Span::new(test.expect_span.start, end), |this| this.expect(test)));
        let block = self.close_block(BODY, header, entries, test.span.end.saturating_sub(1));
        Doc::concat(vec![Doc::text(format!("test {} ", test.name.name)), block])
    }

    /// `expect DECISION`, then its expectations: one on the same line when it fits, more
    /// one per line below it.
    fn expect(&mut self, test: &TestDecl) -> Doc {
        let head = Doc::text(format!("expect {}", test.expect.keyword()));
        if test.expectations.is_empty() {
            return head;
        }
        let header = self.header_comment(Some(test.expect_span.end));
        let mut entries = Vec::with_capacity(test.expectations.len());
        for expectation in &test.expectations {
            entries.push(self.entry(expectation.span(), |this| this.expectation(expectation)));
        }
        let several = entries.len() > 1;
        let body = self.units(entries, Vec::new(), false, Doc::Line);
        let mut docs = vec![head];
        docs.extend(header.map(|comment| self.trailing_alone(comment)));
        docs.push(Doc::nest(body));
        match several {
            true => Doc::broken(Doc::concat(docs)),
            false => Doc::group(Doc::concat(docs)),
        }
    }

    fn expectation(&mut self, expectation: &Expectation) -> Doc {
        match expectation {
            Expectation::By(policies, span) => {
                let ends = match self.brackets(span.start + 1, Token::LBracket) {
                    Some((open, close)) => (Some(open), close),
                    None => (None, span.end),
                };
                let list = self.block(BRACKETS, ends, policies, |name| name.span, |_, name| Doc::text(&name.name));
                Doc::concat(vec![Doc::text("by "), list])
            }
            Expectation::Reason(code, _) => Doc::text(format!("reason {}", code.name)),
            Expectation::Message(text) => Doc::text(format!("message {}", self.string(text))),
            Expectation::Grant(grant) => self.grant(grant),
        }
    }

    fn request_part(&mut self, part: &RequestPart) -> Doc {
        match part {
            RequestPart::Agent(fields, span) => self.part_fields("agent".to_string(), span.start + 1, *span, fields),
            RequestPart::Chain(links, span) => {
                let ends = match self.brackets(span.start + 1, Token::LBracket) {
                    Some((open, close)) => (Some(open), close),
                    None => (None, span.end),
                };
                let list = self.block(BRACKETS, ends, links, |link| link.span, Self::expr);
                Doc::concat(vec![Doc::text("chain "), list])
            }
            RequestPart::Task { kind, fields, span } => {
                self.part_fields(format!("task {}", kind.name), kind.span.end, *span, fields)
            }
            RequestPart::Action(name) => Doc::text(format!("action {}", name.name)),
            RequestPart::Args(fields, span) => self.part_fields("args".to_string(), span.start + 1, *span, fields),
            RequestPart::Resource { ty, fields, span } => {
                self.part_fields(format!("resource {}", ty.name), ty.span.end, *span, fields)
            }
            RequestPart::Context(fields, span) => {
                self.part_fields("context".to_string(), span.start + 1, *span, fields)
            }
            RequestPart::Behavior(fields, span) => {
                self.part_fields("behavior".to_string(), span.start + 1, *span, fields)
            }
        }
    }

    fn part_fields(&mut self, head: String, from: usize, span: Span, fields: &[FieldInit]) -> Doc {
        let open = self.token_at(from, Token::LBrace).and_then(|index| self.token_end(index));
        let block = self.fields(fields, (open, span.end.saturating_sub(1)));
        Doc::concat(vec![Doc::text(format!("{head} ")), block])
    }

    fn fields(&mut self, fields: &[FieldInit], ends: (Option<usize>, usize)) -> Doc {
        self.block(BRACES, ends, fields, field_span, |this, field| {
            Doc::concat(vec![Doc::text(format!("{}: ", field.name.name)), this.expr(&field.value)])
        })
    }

    // --- Expressions --------------------------------------------------------------------

    /// An expression, in the parentheses its author put around it, if any.
    fn expr(&mut self, expr: &Expr) -> Doc {
        let doc = self.bare_expr(expr);
        match self.grouped(expr) {
            true => Doc::concat(vec![Doc::text("("), doc, Doc::text(")")]),
            false => doc,
        }
    }

    /// Whether the source has grouping parentheses right around `expr` (not those of a
    /// call, a quantifier or `has (key)`). The tree drops them; the formatter keeps
    /// them, one pair, since they say how the author wants the expression read.
    fn grouped(&self, expr: &Expr) -> bool {
        let first = self.tokens.partition_point(|(start, _, _)| *start < expr.span.start);
        let Some(open) = first.checked_sub(1) else { return false };
        let before = open.checked_sub(1).and_then(|index| self.tokens.get(index)).map(|(_, token, _)| *token);
        let opens_group = matches!(self.tokens.get(open), Some((_, Token::LParen, _)))
            && !matches!(before, Some(Token::Ident(_) | Token::Any | Token::All | Token::Has));
        let closes_right_after = || {
            self.matching(open)
                .and_then(|close| close.checked_sub(1))
                .and_then(|last| self.token_end(last))
                .is_some_and(|end| end == expr.span.end)
        };
        opens_group && closes_right_after()
    }

    fn bare_expr(&mut self, expr: &Expr) -> Doc {
        match &expr.kind {
            ExprKind::Int(_) | ExprKind::Decimal(_) | ExprKind::Str(_) | ExprKind::Duration(_) => {
                Doc::text(self.raw(expr.span, || print_expr(expr)))
            }
            ExprKind::Bool(_) | ExprKind::Name(_) | ExprKind::Path(_) | ExprKind::Error => Doc::text(print_expr(expr)),
            ExprKind::Field(inner, field) => {
                Doc::concat(vec![self.operand(inner, 8), Doc::text(format!(".{}", field.name))])
            }
            ExprKind::Call(callee, args) => {
                let after = callee.last().map_or(expr.span.start, |name| name.span.end);
                Doc::concat(vec![Doc::text(path_text(callee)), self.arguments(args, after)])
            }
            ExprKind::Unary(UnaryOp::Not, inner) => Doc::concat(vec![Doc::text("not "), self.operand(inner, 3)]),
            ExprKind::Unary(UnaryOp::Neg, inner) => Doc::concat(vec![Doc::text("-"), self.operand(inner, 7)]),
            ExprKind::Binary(op @ (BinaryOp::And | BinaryOp::Or), _, _) => self.chain(expr, *op),
            ExprKind::Binary(op, left, right) => {
                let level = op.precedence();
                // Comparisons do not chain, so both sides must bind tighter.
                let left_min = if level == 4 { 5 } else { level };
                Doc::concat(vec![
                    self.operand(left, left_min),
                    Doc::text(format!(" {} ", op.symbol())),
                    self.operand(right, level + 1),
                ])
            }
            ExprKind::Has(inner, name) => {
                Doc::concat(vec![self.operand(inner, 5), Doc::text(format!(" has {}", name.name))])
            }
            ExprKind::Is(inner, name) => {
                Doc::concat(vec![self.operand(inner, 5), Doc::text(format!(" is {}", name.name))])
            }
            ExprKind::HasKey(inner, key) => {
                let subject = self.operand(inner, 5);
                match &key.kind {
                    ExprKind::Str(_) => Doc::concat(vec![subject, Doc::text(" has "), self.expr(key)]),
                    _ => Doc::concat(vec![subject, Doc::text(" has ("), self.expr(key), Doc::text(")")]),
                }
            }
            ExprKind::Index(inner, key) => {
                Doc::concat(vec![self.operand(inner, 8), Doc::text("["), self.expr(key), Doc::text("]")])
            }
            ExprKind::Set(items) => {
                let ends = (Some(expr.span.start + 1), expr.span.end.saturating_sub(1));
                self.block(BRACKETS, ends, items, |item| item.span, Self::expr)
            }
            ExprKind::Record(fields) => {
                self.fields(fields, (Some(expr.span.start + 1), expr.span.end.saturating_sub(1)))
            }
            ExprKind::Quantifier(quantifier, var, set, body) => {
                let keyword = match quantifier {
                    Quantifier::Any => "any",
                    Quantifier::All => "all",
                };
                Doc::concat(vec![
                    Doc::text(format!("{keyword}({} in ", var.name)),
                    self.expr(set),
                    Doc::text(": "),
                    self.expr(body),
                    Doc::text(")"),
                ])
            }
        }
    }

    /// An operand, in parentheses when it binds looser than `min_precedence`.
    fn operand(&mut self, expr: &Expr, min_precedence: u8) -> Doc {
        let grouped = self.grouped(expr);
        let doc = self.expr(expr);
        match !grouped && precedence(expr) < min_precedence {
            true => Doc::concat(vec![Doc::text("("), doc, Doc::text(")")]),
            false => doc,
        }
    }

    /// `(args)`, the parenthesis opening at `position`.
    fn arguments(&mut self, args: &[Expr], position: usize) -> Doc {
        let ends = match self.brackets(position, Token::LParen) {
            Some((open, close)) => (Some(open), close),
            None => (None, position),
        };
        self.block(PARENS, ends, args, |arg| arg.span, Self::expr)
    }

    /// `a and b and c` (or `or`): on one line when it fits, else one operand per line,
    /// each line after the first indented and starting with the operator.
    fn chain(&mut self, expr: &Expr, op: BinaryOp) -> Doc {
        let mut rights = Vec::new();
        let mut first = expr;
        while let ExprKind::Binary(inner_op, left, right) = &first.kind {
            if *inner_op != op {
                break;
            }
            rights.push(&**right);
            first = left;
            if self.grouped(first) {
                break;
            }
        }
        let level = op.precedence();
        let list = self.new_list();
        let reserved = self.comments.reserve_trailing(first.span.end);
        let mut docs = vec![self.operand(first, level)];
        docs.extend(self.comments.settle(reserved).map(|comment| Doc::Trailing(comment.text, list)));
        let mut rest = Vec::new();
        for right in rights.into_iter().rev() {
            let entry = self.entry(right.span, |this| this.operand(right, level + 1));
            rest.push(Doc::Line);
            for comment in entry.leading {
                rest.push(Doc::Comment(comment.text));
                rest.push(Doc::HardLine);
            }
            rest.push(Doc::text(format!("{} ", op.symbol())));
            rest.push(entry.doc);
            rest.extend(entry.trailing.map(|comment| Doc::Trailing(comment.text, list)));
        }
        docs.push(Doc::nest(Doc::concat(rest)));
        Doc::group(Doc::concat(docs))
    }
}

fn schema_item_span(item: &SchemaItem) -> Span {
    match item {
        SchemaItem::Agent { span, .. }
        | SchemaItem::Resource { span, .. }
        | SchemaItem::Enum { span, .. }
        | SchemaItem::Record { span, .. }
        | SchemaItem::Context { span, .. }
        | SchemaItem::Behavior { span, .. }
        | SchemaItem::Error(span) => *span,
        SchemaItem::Action(action) => action.span,
    }
}

fn param_span(param: &Param) -> Span {
    let end = param.default.as_ref().map_or(param.ty.span().end, |default| default.span.end);
    Span::new(param.name.span.start, end.max(param.ty.span().end))
}

fn clause_span(clause: &TaskClause) -> Span {
    match clause {
        TaskClause::Intent(text) => text.span,
        TaskClause::Require(expr) | TaskClause::Open(expr) => expr.span,
        TaskClause::Scope(scope) => scope.span,
        TaskClause::Ttl(ttl) => ttl.span,
        TaskClause::Delegate(delegate) => delegate.span,
        TaskClause::Error(span) => *span,
    }
}

fn grant_clause_span(clause: &GrantClause) -> Span {
    match clause {
        GrantClause::Ttl(ttl) => ttl.span,
        GrantClause::Scope(scope) => scope.span,
        GrantClause::Tags(_, span) => *span,
        GrantClause::Message(text) => text.span,
    }
}

fn request_part_span(part: &RequestPart) -> Span {
    match part {
        RequestPart::Agent(_, span)
        | RequestPart::Chain(_, span)
        | RequestPart::Args(_, span)
        | RequestPart::Context(_, span)
        | RequestPart::Behavior(_, span)
        | RequestPart::Task { span, .. }
        | RequestPart::Resource { span, .. } => *span,
        RequestPart::Action(name) => name.span,
    }
}

fn field_span(field: &FieldInit) -> Span {
    Span::new(field.name.span.start, field.value.span.end)
}
