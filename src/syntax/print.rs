//! Prints an AST back to source text, and dumps it as an S-expression.
//!
//! The printer writes the canonical layout with the fewest parentheses that keep the tree
//! the same, so `parse(print(ast))` gives back `ast`; a property test holds it to that.
//! The S-expression dump is span-free and fully bracketed, which makes it the form that
//! parse snapshots and the round-trip test compare.

use std::fmt::Write;

use super::ast::*;
use super::lexer::{is_invisible, FORBIDDEN_BREAKS};
use super::literal::duration_text;

/// Prints a whole file in canonical layout.
pub fn print_file(file: &File) -> String {
    let mut printer = Printer::default();
    for (index, item) in file.items.iter().enumerate() {
        if index > 0 {
            printer.out.push('\n');
        }
        printer.item(item);
    }
    printer.out
}

/// Prints an expression with minimal parentheses.
pub fn print_expr(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr);
    out
}

#[derive(Default)]
struct Printer {
    out: String,
}

impl Printer {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Use(decl) => self.line(0, &format!("use {}", use_target(&decl.target))),
            Item::Schema(block) => self.schema(block),
            Item::Task(task) => self.task(task),
            Item::Policy(policy) => self.policy(policy),
            Item::Bound(bound) => self.bound(bound),
            Item::Assert(assert) => self.line(0, &assert_text(assert)),
            Item::Function(function) => self.function(function),
            Item::Fragment(fragment) => self.line(0, &fragment_text(fragment)),
            Item::Test(test) => self.test(test),
            Item::Error(_) => self.line(0, "// (declaration with errors)"),
        }
    }

    fn schema(&mut self, block: &SchemaBlock) {
        self.line(0, "schema {");
        for item in &block.items {
            let text = match item {
                SchemaItem::Agent { attrs, .. } => format!("agent {}", attr_block(attrs)),
                SchemaItem::Resource { name, attrs, .. } => {
                    format!("resource {} {}", name.name, attr_block(attrs))
                }
                SchemaItem::Enum { name, variants, .. } => {
                    format!("enum {} {{ {} }}", name.name, names(variants))
                }
                SchemaItem::Record { name, fields, .. } => {
                    format!("record {} {}", name.name, attr_block(fields))
                }
                SchemaItem::Action(action) => action_text(action),
                SchemaItem::Context { attrs, .. } => format!("context {}", attr_block(attrs)),
                SchemaItem::Behavior { attrs, .. } => format!("behavior {}", attr_block(attrs)),
                SchemaItem::Error(_) => "// (schema item with errors)".to_string(),
            };
            self.line(1, &text);
        }
        self.line(0, "}");
    }

    fn task(&mut self, task: &TaskDecl) {
        if task.parts.is_empty() {
            self.line(0, &format!("task {}({}) {{", task.name.name, params(&task.params)));
        } else {
            let parts: Vec<&str> = task.parts.iter().map(|part| part.name.as_str()).collect();
            self.line(0, &format!("task {} = {} {{", task.name.name, parts.join(" + ")));
        }
        for clause in &task.clauses {
            let text = match clause {
                TaskClause::Intent(text) => format!("intent {}", quote(&text.value)),
                TaskClause::Require(expr) => format!("require {}", print_expr(expr)),
                TaskClause::Scope(scope) => format!("scope {}", scope_text(scope)),
                TaskClause::Ttl(ttl) => format!("ttl {}", duration_text(ttl.nanos)),
                TaskClause::Delegate(delegate) => delegate_text(delegate),
                TaskClause::Open(expr) => format!("open when {}", print_expr(expr)),
                TaskClause::Error(_) => "// (clause with errors)".to_string(),
            };
            self.line(1, &text);
        }
        self.line(0, "}");
    }

    fn policy(&mut self, policy: &PolicyDecl) {
        self.line(0, &format!("policy {}:", policy.name.name));
        let mut head = format!("{} {}", policy.effect.keyword(), target_text(&policy.actions));
        if policy.within_scope {
            head = format!("{} within scope", policy.effect.keyword());
        } else if let Some(resources) = &policy.resources {
            let _ = write!(head, " on {}", target_text(resources));
        }
        self.line(1, &head);
        for condition in &policy.conditions {
            let keyword = match condition.kind {
                ConditionKind::When => "when",
                ConditionKind::Unless => "unless",
            };
            self.line(1, &format!("{keyword} {}", print_expr(&condition.expr)));
        }
        if let Some(message) = &policy.message {
            self.line(1, &format!("message {}", quote(&message.value)));
        }
        if let Some(grant) = &policy.grant {
            self.line(1, "grant {");
            for clause in &grant.clauses {
                self.line(2, &grant_clause_text(clause));
            }
            self.line(1, "}");
        }
    }

    fn bound(&mut self, bound: &BoundDecl) {
        self.line(0, &format!("bound {} {{", bound.name.name));
        if let Some(applies) = &bound.applies {
            self.line(1, &format!("when {}", print_expr(applies)));
        }
        self.line(1, &format!("scope {}", scope_text(&bound.scope)));
        self.line(0, "}");
    }

    fn function(&mut self, function: &FnDecl) {
        self.line(
            0,
            &format!("fn {}({}) -> {} {{", function.name.name, params(&function.params), type_text(&function.ret)),
        );
        self.line(1, &print_expr(&function.body));
        self.line(0, "}");
    }

    fn test(&mut self, test: &TestDecl) {
        self.line(0, &format!("test {} {{", test.name.name));
        for part in &test.request {
            self.line(1, &request_part_text(part));
        }
        self.line(1, &format!("expect {}", test.expect.keyword()));
        for expectation in &test.expectations {
            match expectation {
                Expectation::By(names_given, _) => self.line(2, &format!("by [{}]", names(names_given))),
                Expectation::Reason(code, _) => self.line(2, &format!("reason {}", code.name)),
                Expectation::Message(text) => self.line(2, &format!("message {}", quote(&text.value))),
                Expectation::Grant(grant) => {
                    self.line(2, "grant {");
                    for clause in &grant.clauses {
                        self.line(3, &grant_clause_text(clause));
                    }
                    self.line(2, "}");
                }
            }
        }
        self.line(0, "}");
    }
}

fn use_target(target: &UseTarget) -> String {
    match target {
        UseTarget::Module(path) => path_text(path),
        UseTarget::File(file) => quote(&file.value),
    }
}

pub(crate) fn names(idents: &[Ident]) -> String {
    idents.iter().map(|ident| ident.name.as_str()).collect::<Vec<_>>().join(", ")
}

pub(crate) fn path_text(path: &[Ident]) -> String {
    path.iter().map(|ident| ident.name.as_str()).collect::<Vec<_>>().join("::")
}

fn attr_block(attrs: &[AttrDecl]) -> String {
    if attrs.is_empty() {
        return "{}".to_string();
    }
    let fields: Vec<String> = attrs
        .iter()
        .map(|attr| {
            let optional = if attr.optional { "?" } else { "" };
            let history = attr.history.as_ref().map(|history| format!(" = {}", history_text(history)));
            format!("{}{optional}: {}{}", attr.name.name, type_text(&attr.ty), history.unwrap_or_default())
        })
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

fn type_text(ty: &TypeExpr) -> String {
    match ty {
        TypeExpr::Named(name) => name.name.clone(),
        TypeExpr::Set(inner, _) => format!("Set<{}>", type_text(inner)),
        TypeExpr::Map(key, value, _) => format!("Map<{}, {}>", type_text(key), type_text(value)),
        TypeExpr::Record(attrs, _) => attr_block(attrs),
        TypeExpr::Error(_) => "<error>".to_string(),
    }
}

fn params(params: &[Param]) -> String {
    let list: Vec<String> = params
        .iter()
        .map(|param| {
            let optional = if param.optional { "?" } else { "" };
            let default = param.default.as_ref().map(|value| format!(" = {}", print_expr(value))).unwrap_or_default();
            format!("{}{optional}: {}{default}", param.name.name, type_text(&param.ty))
        })
        .collect();
    list.join(", ")
}

fn action_text(action: &ActionDecl) -> String {
    let mut text = format!("action {}", names(&action.names));
    if !action.params.is_empty() {
        let _ = write!(text, "({})", params(&action.params));
    }
    if action.many {
        let _ = write!(text, " on Set<{}>", names(&action.on));
    } else if !action.on.is_empty() {
        let _ = write!(text, " on {}", names(&action.on));
    }
    text
}

pub(crate) fn target_text(target: &Target) -> String {
    match target {
        Target::Any(_) => "*".to_string(),
        Target::Names(list) if list.len() == 1 => names(list),
        Target::Names(list) => format!("[{}]", names(list)),
    }
}

fn scope_text(scope: &ScopeBlock) -> String {
    let items: Vec<String> = scope
        .items
        .iter()
        .map(|item| {
            let mut text = format!("{} on {}", target_text(&item.actions), target_text(&item.resources));
            if let Some(condition) = &item.condition {
                let _ = write!(text, " where {}", print_expr(condition));
            }
            text
        })
        .chain(scope.budgets.iter().map(budget_text))
        .chain(scope.uses.iter().map(use_text))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// `scope NAME(params) { … }`.
fn fragment_text(fragment: &FragmentDecl) -> String {
    let params = match fragment.params.is_empty() {
        true => String::new(),
        false => format!("({})", params(&fragment.params)),
    };
    format!("scope {}{params} {}", fragment.name.name, scope_text(&fragment.scope))
}

/// `use NAME(args)` in a scope block.
fn use_text(used: &FragmentUse) -> String {
    let args: Vec<String> = used.args.iter().map(print_expr).collect();
    match args.is_empty() {
        true => format!("use {}", used.name.name),
        false => format!("use {}({})", used.name.name, args.join(", ")),
    }
}

/// `budget count(ACTIONS) <= LIMIT` or `budget sum(VALUE) on ACTIONS <= LIMIT`.
pub fn budget_text(budget: &BudgetDecl) -> String {
    let limit = print_expr(&budget.limit);
    match &budget.measure {
        BudgetMeasure::Count => format!("budget count({}) <= {limit}", target_text(&budget.actions)),
        BudgetMeasure::Sum(value) => {
            format!("budget sum({}) on {} <= {limit}", print_expr(value), target_text(&budget.actions))
        }
    }
}

/// A history counter as written after `=`.
pub fn history_text(history: &HistoryDecl) -> String {
    let measure = match &history.measure {
        BudgetMeasure::Count => format!("count({})", target_text(&history.actions)),
        BudgetMeasure::Sum(value) => format!("sum({}) on {}", print_expr(value), target_text(&history.actions)),
    };
    format!("{measure} per {} within {}", history.per.name, duration_text(history.window.nanos))
}

fn delegate_text(delegate: &DelegateClause) -> String {
    let mut text = "delegate".to_string();
    if let Some(depth) = &delegate.max_depth {
        let _ = write!(text, " depth <= {}", depth.value);
    }
    if let Some(to) = &delegate.to {
        let _ = write!(text, " to {}", print_expr(to));
    }
    if let Some(narrow) = &delegate.narrow {
        let _ = write!(text, " narrow {}", scope_text(narrow));
    }
    text
}

fn grant_clause_text(clause: &GrantClause) -> String {
    match clause {
        GrantClause::Ttl(ttl) => format!("ttl {}", duration_text(ttl.nanos)),
        GrantClause::Scope(scope) => format!("scope {}", scope_text(scope)),
        GrantClause::Tags(tags, _) => {
            let list: Vec<String> = tags.iter().map(|tag| quote(&tag.value)).collect();
            format!("tags [{}]", list.join(", "))
        }
        GrantClause::Message(text) => format!("message {}", quote(&text.value)),
    }
}

fn assert_text(assert: &AssertDecl) -> String {
    let mut text = "assert ".to_string();
    if let Some(name) = &assert.name {
        let _ = write!(text, "{}: ", name.name);
    }
    let _ = write!(text, "never {} {}", assert.effect.keyword(), target_text(&assert.actions));
    if let Some(resources) = &assert.resources {
        let _ = write!(text, " on {}", target_text(resources));
    }
    if let Some(condition) = &assert.condition {
        let _ = write!(text, " when {}", print_expr(condition));
    }
    text
}

fn request_part_text(part: &RequestPart) -> String {
    match part {
        RequestPart::Agent(fields, _) => format!("agent {}", fields_text(fields)),
        RequestPart::Chain(links, _) => {
            let list: Vec<String> = links.iter().map(print_expr).collect();
            format!("chain [{}]", list.join(", "))
        }
        RequestPart::Task { kind, fields, .. } => format!("task {} {}", kind.name, fields_text(fields)),
        RequestPart::Action(name) => format!("action {}", name.name),
        RequestPart::Args(fields, _) => format!("args {}", fields_text(fields)),
        RequestPart::Resource { ty, fields, .. } => {
            format!("resource {} {}", ty.name, fields_text(fields))
        }
        RequestPart::Context(fields, _) => format!("context {}", fields_text(fields)),
        RequestPart::Behavior(fields, _) => format!("behavior {}", fields_text(fields)),
    }
}

fn fields_text(fields: &[FieldInit]) -> String {
    if fields.is_empty() {
        return "{}".to_string();
    }
    let list: Vec<String> =
        fields.iter().map(|field| format!("{}: {}", field.name.name, print_expr(&field.value))).collect();
    format!("{{ {} }}", list.join(", "))
}

/// Quotes a string literal, escaping what the lexer would not read back verbatim.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Control characters, and characters that would end the line or hide text
            // if written as they are: the lexer refuses those in a string.
            c if c.is_control() || FORBIDDEN_BREAKS.contains(&c) || is_invisible(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Binding strength of an expression's outermost operator; atoms bind tightest.
pub(crate) fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Binary(op, _, _) => op.precedence(),
        ExprKind::Has(..) | ExprKind::HasKey(..) | ExprKind::Is(..) => 4,
        ExprKind::Unary(UnaryOp::Not, _) => 3,
        ExprKind::Unary(UnaryOp::Neg, _) => 7,
        ExprKind::Field(..) | ExprKind::Index(..) => 8,
        _ => 9,
    }
}

fn write_operand(out: &mut String, expr: &Expr, min_precedence: u8) {
    if precedence(expr) < min_precedence {
        out.push('(');
        write_expr(out, expr);
        out.push(')');
    } else {
        write_expr(out, expr);
    }
}

fn write_expr(out: &mut String, expr: &Expr) {
    match &expr.kind {
        ExprKind::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
        ExprKind::Int(value) => {
            let _ = write!(out, "{value}");
        }
        ExprKind::Decimal(raw) => out.push_str(raw),
        ExprKind::Str(value) => out.push_str(&quote(value)),
        ExprKind::Duration(nanos) => out.push_str(&duration_text(*nanos)),
        ExprKind::Name(name) => out.push_str(name),
        ExprKind::Path(path) => out.push_str(&path_text(path)),
        ExprKind::Field(inner, field) => {
            write_operand(out, inner, 8);
            let _ = write!(out, ".{}", field.name);
        }
        ExprKind::Call(callee, args) => {
            out.push_str(&path_text(callee));
            write_list(out, "(", args, ")");
        }
        ExprKind::Unary(UnaryOp::Not, inner) => {
            out.push_str("not ");
            write_operand(out, inner, 3);
        }
        ExprKind::Unary(UnaryOp::Neg, inner) => {
            out.push('-');
            write_operand(out, inner, 7);
        }
        ExprKind::Binary(op, left, right) => {
            let level = op.precedence();
            // Left-associative levels accept their own level on the left; comparisons
            // do not chain, so both sides must bind tighter.
            let left_min = if level == 4 { 5 } else { level };
            write_operand(out, left, left_min);
            let _ = write!(out, " {} ", op.symbol());
            write_operand(out, right, level + 1);
        }
        ExprKind::Has(inner, name) => {
            write_operand(out, inner, 5);
            let _ = write!(out, " has {}", name.name);
        }
        ExprKind::Is(inner, name) => {
            write_operand(out, inner, 5);
            let _ = write!(out, " is {}", name.name);
        }
        ExprKind::HasKey(inner, key) => {
            write_operand(out, inner, 5);
            match &key.kind {
                ExprKind::Str(text) => {
                    let _ = write!(out, " has {}", quote(text));
                }
                _ => {
                    out.push_str(" has (");
                    write_expr(out, key);
                    out.push(')');
                }
            }
        }
        ExprKind::Index(inner, key) => {
            write_operand(out, inner, 8);
            out.push('[');
            write_expr(out, key);
            out.push(']');
        }
        ExprKind::Set(items) => write_list(out, "[", items, "]"),
        ExprKind::Record(fields) => out.push_str(&fields_text(fields)),
        ExprKind::Quantifier(quantifier, var, set, body) => {
            let keyword = match quantifier {
                Quantifier::Any => "any",
                Quantifier::All => "all",
            };
            let _ = write!(out, "{keyword}({} in ", var.name);
            write_expr(out, set);
            out.push_str(": ");
            write_expr(out, body);
            out.push(')');
        }
        ExprKind::Error => out.push_str("<error>"),
    }
}

fn write_list(out: &mut String, open: &str, items: &[Expr], close: &str) {
    out.push_str(open);
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        write_expr(out, item);
    }
    out.push_str(close);
}

/// A span-free, fully bracketed dump of an expression.
pub fn sexpr(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Decimal(_)
        | ExprKind::Str(_)
        | ExprKind::Duration(_)
        | ExprKind::Name(_)
        | ExprKind::Path(_)
        | ExprKind::Error => print_expr(expr),
        ExprKind::Field(inner, field) => format!("(. {} {})", sexpr(inner), field.name),
        ExprKind::Call(callee, args) => format!("(call {}{})", path_text(callee), sexpr_list(args)),
        ExprKind::Unary(UnaryOp::Not, inner) => format!("(not {})", sexpr(inner)),
        ExprKind::Unary(UnaryOp::Neg, inner) => format!("(neg {})", sexpr(inner)),
        ExprKind::Binary(op, left, right) => {
            format!("({} {} {})", op.symbol(), sexpr(left), sexpr(right))
        }
        ExprKind::Has(inner, name) => format!("(has {} {})", sexpr(inner), name.name),
        ExprKind::Is(inner, name) => format!("(is {} {})", sexpr(inner), name.name),
        ExprKind::HasKey(inner, key) => format!("(has-key {} {})", sexpr(inner), sexpr(key)),
        ExprKind::Index(inner, key) => format!("(index {} {})", sexpr(inner), sexpr(key)),
        ExprKind::Set(items) => format!("(set{})", sexpr_list(items)),
        ExprKind::Record(fields) => {
            let list: Vec<String> =
                fields.iter().map(|field| format!(" ({} {})", field.name.name, sexpr(&field.value))).collect();
            format!("(record{})", list.concat())
        }
        ExprKind::Quantifier(quantifier, var, set, body) => {
            let keyword = match quantifier {
                Quantifier::Any => "any",
                Quantifier::All => "all",
            };
            format!("({keyword} {} {} {})", var.name, sexpr(set), sexpr(body))
        }
    }
}

fn sexpr_list(items: &[Expr]) -> String {
    items.iter().map(|item| format!(" {}", sexpr(item))).collect()
}

/// A span-free outline of a file: each declaration in canonical form, with every
/// expression as an S-expression. Parse snapshots and the round-trip test compare it.
pub fn outline(file: &File) -> String {
    let mut out = String::new();
    for item in &file.items {
        let _ = writeln!(out, "{}", item_outline(item));
    }
    out
}

fn item_outline(item: &Item) -> String {
    match item {
        Item::Policy(policy) => {
            let mut text =
                format!("(policy {} {} {}", policy.name.name, policy.effect.keyword(), target_text(&policy.actions));
            if let Some(resources) = &policy.resources {
                let _ = write!(text, " on {}", target_text(resources));
            }
            for condition in &policy.conditions {
                let keyword = match condition.kind {
                    ConditionKind::When => "when",
                    ConditionKind::Unless => "unless",
                };
                let _ = write!(text, " ({keyword} {})", sexpr(&condition.expr));
            }
            if let Some(grant) = &policy.grant {
                let clauses: Vec<String> = grant.clauses.iter().map(grant_clause_outline).collect();
                let _ = write!(text, " (grant {})", clauses.join(" "));
            }
            text.push(')');
            text
        }
        Item::Task(task) => {
            let clauses: Vec<String> = task
                .clauses
                .iter()
                .map(|clause| match clause {
                    TaskClause::Require(expr) => format!("(require {})", sexpr(expr)),
                    TaskClause::Scope(scope) => format!("(scope {})", scope_outline(scope)),
                    TaskClause::Delegate(delegate) => format!(
                        "(delegate {} {}{})",
                        delegate.max_depth.map(|d| d.value.to_string()).unwrap_or_default(),
                        delegate.to.as_ref().map(sexpr).unwrap_or_default(),
                        delegate.narrow.as_ref().map(|n| format!(" (narrow {})", scope_outline(n))).unwrap_or_default()
                    ),
                    other => {
                        let mut printer = Printer::default();
                        printer.task(&TaskDecl {
                            name: task.name.clone(),
                            params: Vec::new(),
                            parts: Vec::new(),
                            clauses: vec![other.clone()],
                            span: task.span,
                        });
                        format!("({})", printer.out.lines().nth(1).unwrap_or_default().trim())
                    }
                })
                .collect();
            let parts: Vec<&str> = task.parts.iter().map(|part| part.name.as_str()).collect();
            match parts.is_empty() {
                true => format!("(task {}({}) {})", task.name.name, params(&task.params), clauses.join(" ")),
                false => format!("(task {} = {} {})", task.name.name, parts.join(" + "), clauses.join(" ")),
            }
        }
        Item::Function(function) => format!(
            "(fn {}({}) -> {} {})",
            function.name.name,
            params(&function.params),
            type_text(&function.ret),
            sexpr(&function.body)
        ),
        Item::Bound(bound) => format!(
            "(bound {} {} {})",
            bound.name.name,
            bound.applies.as_ref().map(sexpr).unwrap_or_default(),
            scope_outline(&bound.scope)
        ),
        Item::Assert(assert) => format!(
            "(assert {} {} {} {})",
            assert.name.as_ref().map(|name| name.name.as_str()).unwrap_or("_"),
            assert.effect.keyword(),
            target_text(&assert.actions),
            assert.condition.as_ref().map(sexpr).unwrap_or_default()
        ),
        other => {
            let mut printer = Printer::default();
            printer.item(other);
            printer.out.trim_end().to_string()
        }
    }
}

fn scope_outline(scope: &ScopeBlock) -> String {
    let items: Vec<String> = scope
        .items
        .iter()
        .map(|item| {
            format!(
                "({} on {}{})",
                target_text(&item.actions),
                target_text(&item.resources),
                item.condition.as_ref().map(|c| format!(" {}", sexpr(c))).unwrap_or_default()
            )
        })
        .chain(scope.budgets.iter().map(|budget| format!("({})", budget_text(budget))))
        .chain(scope.uses.iter().map(|used| format!("({})", use_text(used))))
        .collect();
    items.join(" ")
}

fn grant_clause_outline(clause: &GrantClause) -> String {
    match clause {
        GrantClause::Scope(scope) => format!("(scope {})", scope_outline(scope)),
        other => format!("({})", grant_clause_text(other)),
    }
}
