//! What each name in a file refers to: the index hover, navigation and references read.
//!
//! A file's syntax tree says where names are written; the checker's resolutions
//! ([`Checked::names`] and [`Checked::attributes`]) say what the names inside expressions
//! mean. Walking both gives every *occurrence*: a span, the symbols it stands for, and
//! whether it declares them. A schema attribute declared once for several actions
//! (`action pay, refund(amount: Decimal)`) is one occurrence of several symbols; an
//! `args.amount` checked for both actions is too, so references meet in the middle.
//!
//! The index of a file is a tracked query: it is computed again only when the file's
//! tree or checking results change, so references across a large package cost one walk
//! of the edited file.

use crate::db::{self, Package, SourceFile};
use crate::semantics::env::{Env, Namespace};
use crate::semantics::{AttrOwner, Checked, NameRes};
use crate::syntax::ast::*;
use crate::syntax::Span;

/// Something a name can stand for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbol {
    /// A resource type, enum or record.
    Type(String),
    Action(String),
    Task(String),
    Function(String),
    Fragment(String),
    Variant {
        enum_name: String,
        variant: String,
    },
    Attribute {
        owner: AttrOwner,
        name: String,
    },
    /// A policy, bound, assertion or test: declared, never referred to by name.
    Named(Namespace, String),
    /// A request root such as `agent`.
    Root(String),
}

/// Where a name is written, and what it stands for there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Occurrence {
    pub span: Span,
    pub symbols: Vec<Symbol>,
    /// Whether this is where the symbols are declared.
    pub declaration: bool,
}

impl Occurrence {
    /// Whether the occurrence stands for any of `symbols`.
    pub fn shares(&self, symbols: &[Symbol]) -> bool {
        self.symbols.iter().any(|symbol| symbols.contains(symbol))
    }
}

/// Every occurrence in one file of a package, in the order of the tree.
#[salsa::tracked(returns(ref))]
pub fn occurrences(db: &dyn salsa::Database, package: Package, file: SourceFile) -> Vec<Occurrence> {
    let parsed = db::parse(db, file);
    let checked = db::check_file(db, package, file);
    let env = db::package_env(db, package);
    let mut collector = Collector { env, checked, task: None, action: None, out: Vec::new() };
    for item in &parsed.ast.items {
        collector.item(item);
    }
    collector.out
}

/// Where any of `symbols` is declared in a package: each file and the declared name's
/// span.
pub fn declarations(db: &dyn salsa::Database, package: Package, symbols: &[Symbol]) -> Vec<(SourceFile, Span)> {
    package
        .members(db)
        .iter()
        .flat_map(|member| {
            occurrences(db, package, member.file)
                .iter()
                .filter(|occurrence| occurrence.declaration && occurrence.shares(symbols))
                .map(move |occurrence| (member.file, occurrence.span))
        })
        .collect()
}

/// The occurrence at a byte offset: the narrowest one around it, or one that ends
/// right there (a cursor just after a name).
pub fn occurrence_at(occurrences: &[Occurrence], offset: usize) -> Option<&Occurrence> {
    let inside = |occurrence: &&Occurrence| occurrence.span.start <= offset && offset < occurrence.span.end;
    let touching = |occurrence: &&Occurrence| occurrence.span.start <= offset && offset <= occurrence.span.end;
    occurrences
        .iter()
        .filter(inside)
        .min_by_key(|occurrence| occurrence.span.len())
        .or_else(|| occurrences.iter().filter(touching).min_by_key(|occurrence| occurrence.span.len()))
}

struct Collector<'a> {
    env: &'a Env,
    checked: &'a Checked,
    /// The task whose clauses are being walked: its parameters are read bare.
    task: Option<String>,
    /// The action of the test being walked, whose `args` its fields are.
    action: Option<String>,
    out: Vec<Occurrence>,
}

impl Collector<'_> {
    fn declare(&mut self, ident: &Ident, symbols: Vec<Symbol>) {
        if !symbols.is_empty() {
            self.out.push(Occurrence { span: ident.span, symbols, declaration: true });
        }
    }

    fn refer(&mut self, span: Span, symbols: Vec<Symbol>) {
        if !symbols.is_empty() {
            self.out.push(Occurrence { span, symbols, declaration: false });
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Schema(block) => block.items.iter().for_each(|schema_item| self.schema_item(schema_item)),
            Item::Task(task) => self.task(task),
            Item::Policy(policy) => {
                self.declare(&policy.name, vec![Symbol::Named(Namespace::Policy, policy.name.name.clone())]);
                self.actions(&policy.actions);
                policy.resources.iter().for_each(|target| self.types(target));
                policy.conditions.iter().for_each(|condition| self.expr(&condition.expr));
                for clause in policy.grant.iter().flat_map(|grant| &grant.clauses) {
                    if let GrantClause::Scope(scope) = clause {
                        self.scope(scope);
                    }
                }
            }
            Item::Bound(bound) => {
                self.declare(&bound.name, vec![Symbol::Named(Namespace::Bound, bound.name.name.clone())]);
                bound.applies.iter().for_each(|expr| self.expr(expr));
                self.scope(&bound.scope);
            }
            Item::Assert(assert) => {
                if let Some(name) = &assert.name {
                    self.declare(name, vec![Symbol::Named(Namespace::Assert, name.name.clone())]);
                }
                self.actions(&assert.actions);
                assert.resources.iter().for_each(|target| self.types(target));
                assert.condition.iter().for_each(|expr| self.expr(expr));
            }
            Item::Function(function) => {
                self.declare(&function.name, vec![Symbol::Function(function.name.name.clone())]);
                function.params.iter().for_each(|param| self.type_expr(&param.ty));
                self.type_expr(&function.ret);
                self.expr(&function.body);
            }
            Item::Fragment(fragment) => {
                self.declare(&fragment.name, vec![Symbol::Fragment(fragment.name.name.clone())]);
                fragment.params.iter().for_each(|param| self.type_expr(&param.ty));
                self.scope(&fragment.scope);
            }
            Item::Test(test) => self.test(test),
            Item::Use(_) | Item::Error(_) => {}
        }
    }

    fn schema_item(&mut self, item: &SchemaItem) {
        match item {
            SchemaItem::Agent { attrs, .. } => self.attr_decls(attrs, &[AttrOwner::Agent]),
            SchemaItem::Context { attrs, .. } => self.attr_decls(attrs, &[AttrOwner::Context]),
            SchemaItem::Behavior { attrs, .. } => self.attr_decls(attrs, &[AttrOwner::Behavior]),
            SchemaItem::Resource { name, attrs, .. } => {
                self.declare(name, vec![Symbol::Type(name.name.clone())]);
                self.attr_decls(attrs, &[AttrOwner::Resource(name.name.clone())]);
            }
            SchemaItem::Record { name, fields, .. } => {
                self.declare(name, vec![Symbol::Type(name.name.clone())]);
                self.attr_decls(fields, &[AttrOwner::Record(name.name.clone())]);
            }
            SchemaItem::Enum { name, variants, .. } => {
                self.declare(name, vec![Symbol::Type(name.name.clone())]);
                for variant in variants {
                    let symbol = Symbol::Variant { enum_name: name.name.clone(), variant: variant.name.clone() };
                    self.declare(variant, vec![symbol]);
                }
            }
            SchemaItem::Action(action) => {
                for name in &action.names {
                    self.declare(name, vec![Symbol::Action(name.name.clone())]);
                }
                let owners: Vec<AttrOwner> =
                    action.names.iter().map(|name| AttrOwner::Args(name.name.clone())).collect();
                for param in &action.params {
                    self.declare(&param.name, attribute_symbols(&owners, &param.name.name));
                    self.type_expr(&param.ty);
                }
                for resource in &action.on {
                    self.refer(resource.span, vec![Symbol::Type(resource.name.clone())]);
                }
            }
            SchemaItem::Error(_) => {}
        }
    }

    fn attr_decls(&mut self, attrs: &[AttrDecl], owners: &[AttrOwner]) {
        for attr in attrs {
            self.declare(&attr.name, attribute_symbols(owners, &attr.name.name));
            self.type_expr(&attr.ty);
            if let Some(history) = &attr.history {
                if let BudgetMeasure::Sum(expr) = &history.measure {
                    self.expr(expr);
                }
                self.actions(&history.actions);
            }
        }
    }

    fn type_expr(&mut self, ty: &TypeExpr) {
        match ty {
            TypeExpr::Named(name) => {
                let declared = self.env.resources.contains_key(&name.name)
                    || self.env.enums.contains_key(&name.name)
                    || self.env.records.contains_key(&name.name);
                if declared {
                    self.refer(name.span, vec![Symbol::Type(name.name.clone())]);
                }
            }
            TypeExpr::Set(inner, _) => self.type_expr(inner),
            TypeExpr::Map(key, value, _) => {
                self.type_expr(key);
                self.type_expr(value);
            }
            TypeExpr::Record(attrs, _) => attrs.iter().for_each(|attr| self.type_expr(&attr.ty)),
            TypeExpr::Error(_) => {}
        }
    }

    fn task(&mut self, task: &TaskDecl) {
        let name = task.name.name.clone();
        self.declare(&task.name, vec![Symbol::Task(name.clone())]);
        let owners = [AttrOwner::Task(name.clone())];
        for param in &task.params {
            self.declare(&param.name, attribute_symbols(&owners, &param.name.name));
            self.type_expr(&param.ty);
            param.default.iter().for_each(|default| self.expr(default));
        }
        for part in &task.parts {
            self.refer(part.span, vec![Symbol::Task(part.name.clone())]);
        }
        self.task = Some(name);
        for clause in &task.clauses {
            match clause {
                TaskClause::Require(expr) | TaskClause::Open(expr) => self.expr(expr),
                TaskClause::Scope(scope) => self.scope(scope),
                TaskClause::Delegate(delegate) => {
                    delegate.to.iter().for_each(|expr| self.expr(expr));
                    delegate.narrow.iter().for_each(|scope| self.scope(scope));
                }
                TaskClause::Intent(_) | TaskClause::Ttl(_) | TaskClause::Error(_) => {}
            }
        }
        self.task = None;
    }

    fn scope(&mut self, scope: &ScopeBlock) {
        for item in &scope.items {
            self.actions(&item.actions);
            self.types(&item.resources);
            item.condition.iter().for_each(|expr| self.expr(expr));
        }
        for budget in &scope.budgets {
            if let BudgetMeasure::Sum(expr) = &budget.measure {
                self.expr(expr);
            }
            self.actions(&budget.actions);
            self.expr(&budget.limit);
        }
        for used in &scope.uses {
            self.refer(used.name.span, vec![Symbol::Fragment(used.name.name.clone())]);
            used.args.iter().for_each(|arg| self.expr(arg));
        }
    }

    fn actions(&mut self, target: &Target) {
        if let Target::Names(names) = target {
            for name in names {
                self.refer(name.span, vec![Symbol::Action(name.name.clone())]);
            }
        }
    }

    fn types(&mut self, target: &Target) {
        if let Target::Names(names) = target {
            for name in names {
                self.refer(name.span, vec![Symbol::Type(name.name.clone())]);
            }
        }
    }

    fn test(&mut self, test: &TestDecl) {
        self.declare(&test.name, vec![Symbol::Named(Namespace::Test, test.name.name.clone())]);
        self.action = test.request.iter().find_map(|part| match part {
            RequestPart::Action(name) => Some(name.name.clone()),
            _ => None,
        });
        for part in &test.request {
            match part {
                RequestPart::Agent(fields, _) => self.fields(fields, Some(AttrOwner::Agent)),
                RequestPart::Context(fields, _) => self.fields(fields, Some(AttrOwner::Context)),
                RequestPart::Behavior(fields, _) => self.fields(fields, Some(AttrOwner::Behavior)),
                RequestPart::Args(fields, _) => {
                    let owner = self.action.clone().map(AttrOwner::Args);
                    self.fields(fields, owner);
                }
                RequestPart::Task { kind, fields, .. } => {
                    self.refer(kind.span, vec![Symbol::Task(kind.name.clone())]);
                    self.fields(fields, Some(AttrOwner::Task(kind.name.clone())));
                }
                RequestPart::Resource { ty, fields, .. } => {
                    self.refer(ty.span, vec![Symbol::Type(ty.name.clone())]);
                    self.fields(fields, Some(AttrOwner::Resource(ty.name.clone())));
                }
                RequestPart::Action(name) => self.refer(name.span, vec![Symbol::Action(name.name.clone())]),
                RequestPart::Chain(links, _) => links.iter().for_each(|link| self.expr(link)),
            }
        }
        for expectation in &test.expectations {
            if let Expectation::By(policies, _) = expectation {
                for policy in policies {
                    self.refer(policy.span, vec![Symbol::Named(Namespace::Policy, policy.name.clone())]);
                }
            }
        }
        self.action = None;
    }

    fn fields(&mut self, fields: &[FieldInit], owner: Option<AttrOwner>) {
        for field in fields {
            if let Some(owner) = &owner {
                let owner = match owner {
                    AttrOwner::Task(_) if is_task_builtin(&field.name.name) => AttrOwner::TaskBuiltin,
                    other => other.clone(),
                };
                self.refer(field.name.span, vec![Symbol::Attribute { owner, name: field.name.name.clone() }]);
            }
            self.expr(&field.value);
        }
    }

    /// The occurrences inside an expression. The parser caps expression depth, so the
    /// recursion is bounded.
    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Name(_) => self.name(expr.span),
            ExprKind::Path(path) => {
                if let [owner, variant] = path.as_slice() {
                    if self.env.enums.contains_key(&owner.name) {
                        self.refer(owner.span, vec![Symbol::Type(owner.name.clone())]);
                        let symbol = Symbol::Variant { enum_name: owner.name.clone(), variant: variant.name.clone() };
                        self.refer(variant.span, vec![symbol]);
                    }
                }
            }
            ExprKind::Field(inner, name) | ExprKind::Has(inner, name) => {
                self.expr(inner);
                self.attribute(name);
            }
            ExprKind::Is(inner, name) => {
                self.expr(inner);
                match &inner.kind {
                    ExprKind::Name(root) if root == "task" => {
                        self.refer(name.span, vec![Symbol::Task(name.name.clone())]);
                    }
                    ExprKind::Name(root) if root == "resource" => {
                        self.refer(name.span, vec![Symbol::Type(name.name.clone())]);
                    }
                    _ => {}
                }
            }
            ExprKind::Call(callee, args) => {
                if let Some(name) = callee.last() {
                    if self.env.functions.contains_key(&name.name) {
                        self.refer(name.span, vec![Symbol::Function(name.name.clone())]);
                    }
                }
                args.iter().for_each(|arg| self.expr(arg));
            }
            ExprKind::Quantifier(_, _, set, body) => {
                self.expr(set);
                self.expr(body);
            }
            ExprKind::Record(fields) => fields.iter().for_each(|field| self.expr(&field.value)),
            other => other.children().for_each(|child| self.expr(child)),
        }
    }

    fn name(&mut self, span: Span) {
        let symbol = match self.checked.names.get(&span) {
            Some(NameRes::Root(root)) => Symbol::Root(root.clone()),
            Some(NameRes::Param(param)) => match &self.task {
                Some(task) => Symbol::Attribute { owner: AttrOwner::Task(task.clone()), name: param.clone() },
                None => return,
            },
            Some(NameRes::Variant { enum_name, variant, .. }) => {
                Symbol::Variant { enum_name: enum_name.clone(), variant: variant.clone() }
            }
            Some(NameRes::Action(action)) => Symbol::Action(action.clone()),
            _ => return,
        };
        self.refer(span, vec![symbol]);
    }

    fn attribute(&mut self, name: &Ident) {
        let Some(readings) = self.checked.attributes.get(&name.span) else { return };
        let owners: Vec<AttrOwner> = readings.iter().map(|reading| reading.owner.clone()).collect();
        self.refer(name.span, attribute_symbols(&owners, &name.name));
    }
}

fn attribute_symbols(owners: &[AttrOwner], name: &str) -> Vec<Symbol> {
    owners.iter().map(|owner| Symbol::Attribute { owner: owner.clone(), name: name.to_string() }).collect()
}

fn is_task_builtin(name: &str) -> bool {
    crate::semantics::env::TASK_BUILTINS.iter().any(|(builtin, _)| *builtin == name)
}
