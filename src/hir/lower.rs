//! Lowers a checked package from syntax trees to the HIR.
//!
//! Lowering trusts the checker: it runs only on packages without errors and reads the
//! checker's name resolutions rather than resolving names again. Function calls are
//! inlined (functions are pure and non-recursive), quantifier variables are renamed to be
//! unique, and targets become explicit (action, resource type) pairs.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::value::Value;
use super::*;
use crate::semantics::env::Env;
use crate::semantics::NameRes;
use crate::syntax::ast::{self, BinaryOp, ConditionKind, Expr, ExprKind, Item, UnaryOp};
use crate::syntax::literal::parse_decimal;
use crate::syntax::literal::{day_start, parse_moment};
use crate::syntax::Span;

/// Deepest expression lowering produces; inlining can nest function bodies, and every
/// later phase walks expressions recursively.
pub const MAX_HIR_DEPTH: usize = 1024;

/// Most expression nodes one declaration may have once its functions are inlined:
/// arguments used several times are copied, so nested calls could otherwise grow
/// exponentially.
pub const MAX_HIR_NODES: usize = 100_000;

/// A file to lower: its display path, tree and the checker's name resolutions.
pub struct FileInput<'a> {
    pub path: &'a Arc<str>,
    /// The file's text, for naming unnamed declarations by their line.
    pub text: &'a str,
    pub ast: &'a ast::File,
    pub names: &'a BTreeMap<Span, NameRes>,
    pub skipped: &'a std::collections::BTreeSet<Span>,
    pub checked: &'a std::collections::BTreeSet<Span>,
}

/// Why a package could not be lowered although it checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerError {
    pub file: Arc<str>,
    pub span: Span,
    pub message: String,
    /// A name the checker never resolved (as opposed to a limit being exceeded).
    pub unresolved: bool,
}

/// Lowers every file of a package that checked without errors.
pub fn lower_package(env: Arc<Env>, files: &[FileInput<'_>]) -> Result<Hir, LowerError> {
    let functions = collect_functions(files);
    let fragments = collect_fragments(files);
    let mut hir = Hir {
        env: env.clone(),
        policies: Vec::new(),
        tasks: BTreeMap::new(),
        tests: Vec::new(),
        assertions: Vec::new(),
        bounds: Vec::new(),
        history: Vec::new(),
    };
    for file in files {
        let mut lowerer = Lowerer {
            env: &env,
            file,
            functions: &functions,
            fragments: &fragments,
            scopes: Vec::new(),
            fresh: 0,
            depth: 0,
            nodes: 0,
        };
        for item in &file.ast.items {
            lowerer.nodes = 0;
            match item {
                Item::Policy(policy) => hir.policies.push(lowerer.policy(policy)?),
                Item::Task(task) => {
                    let lowered = lowerer.task(task)?;
                    hir.tasks.insert(lowered.name.clone(), lowered);
                }
                Item::Test(test) => hir.tests.push(lowerer.test(test)?),
                Item::Assert(assert) => hir.assertions.push(lowerer.assertion(assert)?),
                Item::Bound(bound) => hir.bounds.push(lowerer.bound(bound)?),
                Item::Schema(schema) => {
                    for item in &schema.items {
                        let ast::SchemaItem::Behavior { attrs, .. } = item else { continue };
                        for attr in attrs {
                            if let Some(history) = &attr.history {
                                hir.history.push(lowerer.history(&attr.name.name, history)?);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    compose_tasks(&env, &mut hir.tasks);
    scope_permits(&mut hir);
    Ok(hir)
}

/// A `permit within scope` permits what the request's task scope covers, under its own
/// conditions: its targets become the pairs some task scope names, and its condition
/// `C and (task is K and ACTION/RESOURCE and WHERE or …)` over every scope item of every
/// task. So it is within scope by construction, and the prover finds nothing to refute.
fn scope_permits(hir: &mut Hir) {
    if !hir.policies.iter().any(|policy| policy.within_scope) {
        return;
    }
    let mut covered = HExpr::FALSE;
    let mut targets: Vec<Target> = Vec::new();
    for task in hir.tasks.values() {
        for item in &task.scope {
            let on = item.targets.iter().fold(HExpr::FALSE, |any, target| {
                let action = HExpr::Cmp(
                    CmpOp::Eq,
                    Box::new(HExpr::Field(Base::Root(Root::Action), Vec::new())),
                    Box::new(HExpr::Const(Value::string(&target.action))),
                );
                let pair = match &target.resource {
                    Some(resource) => HExpr::and(action, HExpr::ResourceIs(Arc::from(resource.as_str()))),
                    None => action,
                };
                HExpr::or(any, pair)
            });
            let applies = HExpr::and(HExpr::TaskIs(Arc::from(task.name.as_str())), item.condition.clone());
            covered = HExpr::or(covered, HExpr::and(on, applies));
            targets.extend(item.targets.iter().cloned());
        }
    }
    targets.sort();
    targets.dedup();
    for policy in hir.policies.iter_mut().filter(|policy| policy.within_scope) {
        // No task declares a scope: the permit covers nothing.
        policy.condition = match covered {
            HExpr::Const(Value::Bool(false)) => HExpr::FALSE,
            _ => HExpr::and(std::mem::replace(&mut policy.condition, HExpr::TRUE), covered.clone()),
        };
        policy.targets = targets.clone();
    }
}

/// Completes each composite task from its parts: it requires what every part requires
/// (and its own `require`), its scope is the union of theirs, its ttl the shortest (and
/// its own, if shorter), and it may be delegated only as far and to whom every part
/// allows: not at all if one part may not be.
fn compose_tasks(env: &Env, tasks: &mut BTreeMap<String, Task>) {
    for (name, sig) in env.tasks.iter().filter(|(_, sig)| !sig.parts.is_empty()) {
        let parts: Vec<Task> = sig.parts.iter().filter_map(|part| tasks.get(part).cloned()).collect();
        let Some(task) = tasks.get_mut(name) else { continue };
        let mut delegation = Some(Delegation { max_depth: None, to: HExpr::TRUE, narrow: None });
        // A delegated agent may do, of each part, what that part passes on: the union of
        // the parts' narrowed scopes, when any part narrows.
        let narrows = parts.iter().any(|part| part.delegation.as_ref().is_some_and(|d| d.narrow.is_some()));
        let delegated: Vec<ScopeItem> = parts
            .iter()
            .flat_map(|part| match part.delegation.as_ref().and_then(|d| d.narrow.as_ref()) {
                Some(narrow) => narrow.clone(),
                None => part.scope.clone(),
            })
            .collect();
        let mut intents = Vec::new();
        for part in &parts {
            task.require = HExpr::and(std::mem::replace(&mut task.require, HExpr::TRUE), part.require.clone());
            task.scope.extend(part.scope.iter().cloned());
            task.budgets.extend(part.budgets.iter().cloned());
            task.open = HExpr::and(std::mem::replace(&mut task.open, HExpr::TRUE), part.open.clone());
            task.ttl = match (task.ttl, part.ttl) {
                (Some(own), Some(theirs)) => Some(own.min(theirs)),
                (own, theirs) => own.or(theirs),
            };
            delegation = match (delegation, &part.delegation) {
                (Some(so_far), Some(theirs)) => Some(Delegation {
                    max_depth: match (so_far.max_depth, theirs.max_depth) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    },
                    to: HExpr::and(so_far.to, theirs.to.clone()),
                    narrow: None,
                }),
                _ => None,
            };
            intents.extend(part.intent.clone());
        }
        task.delegation =
            delegation.map(|delegation| Delegation { narrow: narrows.then_some(delegated), ..delegation });
        if task.intent.is_none() && !intents.is_empty() {
            task.intent = Some(intents.join("; then "));
        }
    }
}

/// Declarations by name, with the file they were written in; the first of a name wins.
type Declared<'a, T> = BTreeMap<&'a str, (&'a T, &'a FileInput<'a>)>;
type Functions<'a> = Declared<'a, ast::FnDecl>;
type Fragments<'a> = Declared<'a, ast::FragmentDecl>;

fn collect_functions<'a>(files: &'a [FileInput<'a>]) -> Functions<'a> {
    collect(files, |item| match item {
        Item::Function(function) => Some((function.name.name.as_str(), function)),
        _ => None,
    })
}

fn collect_fragments<'a>(files: &'a [FileInput<'a>]) -> Fragments<'a> {
    collect(files, |item| match item {
        Item::Fragment(fragment) => Some((fragment.name.name.as_str(), fragment)),
        _ => None,
    })
}

fn collect<'a, T>(files: &'a [FileInput<'a>], pick: impl Fn(&'a Item) -> Option<(&'a str, &'a T)>) -> Declared<'a, T> {
    let mut declared = BTreeMap::new();
    for file in files {
        for (name, declaration) in file.ast.items.iter().filter_map(&pick) {
            declared.entry(name).or_insert((declaration, file));
        }
    }
    declared
}

/// The depth and the number of nodes of a lowered expression: what substituting it for
/// a parameter adds, wherever the parameter is used.
fn measure(expr: &HExpr) -> (usize, usize) {
    let mut size = 0usize;
    expr.visit(&mut |_| size += 1);
    (expr.depth(), size)
}

/// `-inner`, folded when `inner` is a number or duration constant, so that `-0.5` is a
/// constant the compiler can branch on. Negation saturates, as in the evaluator.
fn negated(inner: HExpr) -> HExpr {
    match inner {
        HExpr::Const(Value::Int(n)) => HExpr::Const(Value::Int(n.saturating_neg())),
        HExpr::Const(Value::Decimal(n)) => HExpr::Const(Value::Decimal(n.saturating_neg())),
        HExpr::Const(Value::Duration(n)) => HExpr::Const(Value::Duration(n.saturating_neg())),
        other => HExpr::Neg(Box::new(other)),
    }
}

/// The (action, resource type) pairs a target covers.
pub fn expand_targets(env: &Env, actions: &ast::Target, resources: Option<&ast::Target>) -> Vec<Target> {
    let action_names: Vec<&String> = match actions {
        ast::Target::Any(_) => env.actions.keys().collect(),
        ast::Target::Names(names) => {
            names.iter().filter_map(|name| env.actions.get_key_value(&name.name).map(|(key, _)| key)).collect()
        }
    };
    let mut targets = Vec::new();
    for action in action_names {
        let applies = env.applies_to(action);
        match resources {
            None | Some(ast::Target::Any(_)) if applies.is_empty() => {
                targets.push(Target { action: action.clone(), resource: None });
            }
            None | Some(ast::Target::Any(_)) => targets.extend(
                applies.iter().map(|resource| Target { action: action.clone(), resource: Some(resource.clone()) }),
            ),
            Some(ast::Target::Names(names)) => targets.extend(
                applies
                    .iter()
                    .filter(|resource| names.iter().any(|name| &name.name == *resource))
                    .map(|resource| Target { action: action.clone(), resource: Some(resource.clone()) }),
            ),
        }
    }
    targets.sort();
    targets.dedup();
    targets
}

/// What a name means inside the expression being lowered.
enum Binding {
    /// A quantifier variable, by its unique name.
    Local(Arc<str>),
    /// A function parameter: the argument it was called with, and that argument's depth
    /// and size, which every use adds.
    Argument(HExpr, usize, usize),
}

struct Lowerer<'a> {
    env: &'a Env,
    file: &'a FileInput<'a>,
    functions: &'a Functions<'a>,
    fragments: &'a Fragments<'a>,
    /// Bindings in scope, innermost last.
    scopes: Vec<(String, Binding)>,
    fresh: usize,
    depth: usize,
    /// Nodes produced for the current declaration.
    nodes: usize,
}

impl<'a> Lowerer<'a> {
    fn error(&self, span: Span, message: impl Into<String>) -> LowerError {
        LowerError { file: self.file.path.clone(), span, message: message.into(), unresolved: false }
    }

    fn unresolved(&self, span: Span, message: impl Into<String>) -> LowerError {
        LowerError { unresolved: true, ..self.error(span, message) }
    }

    fn policy(&mut self, policy: &ast::PolicyDecl) -> Result<Policy, LowerError> {
        let mut clauses = Vec::with_capacity(policy.conditions.len());
        for clause in &policy.conditions {
            let lowered = self.guarded(&clause.expr)?;
            clauses.push(match clause.kind {
                ConditionKind::When => lowered,
                ConditionKind::Unless => HExpr::negate(lowered),
            });
        }
        let condition = HExpr::all(clauses);
        let mut grant = Grant::default();
        for clause in policy.grant.iter().flat_map(|grant| &grant.clauses) {
            match clause {
                ast::GrantClause::Ttl(ttl) => grant.ttl = Some(ttl.nanos),
                ast::GrantClause::Scope(scope) => grant.scope = Some(self.scope(scope)?),
                ast::GrantClause::Tags(tags, _) => grant.tags.extend(tags.iter().map(|tag| tag.value.clone())),
                ast::GrantClause::Message(text) => grant.message = Some(text.value.clone()),
            }
        }
        Ok(Policy {
            name: policy.name.name.clone(),
            effect: policy.effect,
            targets: expand_targets(self.env, &policy.actions, policy.resources.as_ref()),
            condition,
            grant,
            message: policy.message.as_ref().map(|text| Arc::from(text.value.as_str())),
            within_scope: policy.within_scope,
            origin: Origin::new(self.file.path, policy.name.span),
        })
    }

    fn task(&mut self, task: &ast::TaskDecl) -> Result<Task, LowerError> {
        let params = self.env.tasks.get(&task.name.name).map(|sig| sig.params.clone()).unwrap_or_default();
        let mut lowered = Task {
            name: task.name.name.clone(),
            intent: None,
            params,
            require: HExpr::TRUE,
            scope: Vec::new(),
            ttl: None,
            delegation: None,
            open: HExpr::TRUE,
            budgets: Vec::new(),
            origin: Origin::new(self.file.path, task.name.span),
        };
        for clause in &task.clauses {
            match clause {
                ast::TaskClause::Intent(text) => lowered.intent = Some(text.value.clone()),
                ast::TaskClause::Require(expr) => {
                    let condition = self.expr(expr)?;
                    lowered.require = HExpr::and(std::mem::replace(&mut lowered.require, HExpr::TRUE), condition);
                }
                ast::TaskClause::Scope(scope) => {
                    lowered.scope.extend(self.scope(scope)?);
                    for budget in &scope.budgets {
                        lowered.budgets.push(self.budget(budget)?);
                    }
                }
                ast::TaskClause::Open(expr) => {
                    let condition = self.expr(expr)?;
                    lowered.open = HExpr::and(std::mem::replace(&mut lowered.open, HExpr::TRUE), condition);
                }
                ast::TaskClause::Ttl(ttl) => lowered.ttl = Some(ttl.nanos),
                ast::TaskClause::Delegate(delegate) => {
                    let to = match &delegate.to {
                        Some(expr) => self.expr(expr)?,
                        None => HExpr::TRUE,
                    };
                    let narrow = delegate.narrow.as_ref().map(|scope| self.scope(scope)).transpose()?;
                    lowered.delegation =
                        Some(Delegation { max_depth: delegate.max_depth.map(|d| d.value), to, narrow });
                }
                ast::TaskClause::Error(_) => {}
            }
        }
        Ok(lowered)
    }

    fn bound(&mut self, bound: &ast::BoundDecl) -> Result<Bound, LowerError> {
        let applies = match &bound.applies {
            Some(expr) => self.guarded(expr)?,
            None => HExpr::TRUE,
        };
        Ok(Bound {
            name: bound.name.name.clone(),
            applies,
            scope: self.scope(&bound.scope)?,
            origin: Origin::new(self.file.path, bound.name.span),
        })
    }

    fn assertion(&mut self, assert: &ast::AssertDecl) -> Result<Assertion, LowerError> {
        let condition = match &assert.condition {
            Some(expr) => self.guarded(expr)?,
            None => HExpr::TRUE,
        };
        let name = match &assert.name {
            Some(name) => name.name.clone(),
            None => {
                let line = self.file.text.get(..assert.span.start).map_or(0, |before| before.matches('\n').count()) + 1;
                format!("assertion at {}:{line}", self.file.path)
            }
        };
        let span = assert.name.as_ref().map_or(assert.span, |name| name.span);
        Ok(Assertion {
            name,
            effect: assert.effect,
            targets: expand_targets(self.env, &assert.actions, assert.resources.as_ref()),
            condition,
            origin: Origin::new(self.file.path, span),
        })
    }

    fn test(&mut self, test: &ast::TestDecl) -> Result<TestCase, LowerError> {
        let mut case = TestCase {
            name: test.name.name.clone(),
            expect: test.expect,
            agent: None,
            chain: None,
            task: None,
            action: String::new(),
            args: Vec::new(),
            resource: None,
            context: Vec::new(),
            behavior: Vec::new(),
            expectations: test_expectations(test),
            origin: Origin::new(self.file.path, test.name.span),
        };
        for part in &test.request {
            match part {
                ast::RequestPart::Agent(fields, _) => case.agent = Some(self.fields(fields)?),
                ast::RequestPart::Chain(links, _) => {
                    case.chain = Some(links.iter().map(|link| self.expr(link)).collect::<Result<_, _>>()?);
                }
                ast::RequestPart::Task { kind, fields, .. } => {
                    case.task = Some((kind.name.clone(), self.fields(fields)?))
                }
                ast::RequestPart::Action(name) => case.action = name.name.clone(),
                ast::RequestPart::Args(fields, _) => case.args = self.fields(fields)?,
                ast::RequestPart::Resource { ty, fields, .. } => {
                    case.resource = Some((ty.name.clone(), self.fields(fields)?))
                }
                ast::RequestPart::Context(fields, _) => case.context = self.fields(fields)?,
                ast::RequestPart::Behavior(fields, _) => case.behavior = self.fields(fields)?,
            }
        }
        Ok(case)
    }

    fn fields(&mut self, fields: &[ast::FieldInit]) -> Result<Fields, LowerError> {
        fields.iter().map(|field| Ok((field.name.name.clone(), self.expr(&field.value)?))).collect()
    }

    fn scope(&mut self, scope: &ast::ScopeBlock) -> Result<Vec<ScopeItem>, LowerError> {
        let mut items = scope
            .items
            .iter()
            .map(|item| {
                let condition = match &item.condition {
                    Some(expr) => self.expr(expr)?,
                    None => HExpr::TRUE,
                };
                Ok(ScopeItem { targets: expand_targets(self.env, &item.actions, Some(&item.resources)), condition })
            })
            .collect::<Result<Vec<_>, LowerError>>()?;
        for used in &scope.uses {
            items.extend(self.fragment_items(used)?);
        }
        Ok(items)
    }

    /// A fragment's items, lowered in its own file with its parameters bound to the
    /// arguments of this use, as a function's body is.
    fn fragment_items(&mut self, used: &ast::FragmentUse) -> Result<Vec<ScopeItem>, LowerError> {
        let Some((fragment, file)) = self.fragments.get(used.name.name.as_str()).copied() else {
            return Err(self.unresolved(used.name.span, format!("unknown scope fragment `{}`", used.name.name)));
        };
        let mut scopes = Vec::with_capacity(used.args.len());
        for (param, arg) in fragment.params.iter().zip(&used.args) {
            let lowered = self.expr(arg)?;
            let (depth, size) = measure(&lowered);
            scopes.push((param.name.name.clone(), Binding::Argument(lowered, depth, size)));
        }
        let mut inner = Lowerer {
            env: self.env,
            file,
            functions: self.functions,
            fragments: self.fragments,
            scopes,
            fresh: self.fresh,
            depth: self.depth,
            nodes: self.nodes,
        };
        let body = ast::ScopeBlock { uses: Vec::new(), ..fragment.scope.clone() };
        let items = inner.scope(&body);
        self.fresh = inner.fresh;
        self.nodes = inner.nodes;
        items
    }

    fn budget(&mut self, budget: &ast::BudgetDecl) -> Result<Budget, LowerError> {
        let (sum, actions) = self.measure(&budget.measure, &budget.actions)?;
        let text = crate::syntax::print::budget_text(budget);
        let origin = Origin::new(self.file.path, budget.span);
        Ok(Budget { sum, actions, limit: self.expr(&budget.limit)?, text, origin })
    }

    /// What a budget or a history counter adds per request (`None`: one) and the
    /// actions it counts.
    fn measure(
        &mut self,
        measure: &ast::BudgetMeasure,
        actions: &ast::Target,
    ) -> Result<(Option<HExpr>, Vec<String>), LowerError> {
        let sum = match measure {
            ast::BudgetMeasure::Count => None,
            ast::BudgetMeasure::Sum(value) => Some(self.expr(value)?),
        };
        let actions = match actions {
            ast::Target::Names(names) => names.iter().map(|name| name.name.clone()).collect(),
            ast::Target::Any(_) => self.env.actions.keys().cloned().collect(),
        };
        Ok((sum, actions))
    }

    fn history(&mut self, name: &str, history: &ast::HistoryDecl) -> Result<History, LowerError> {
        let (sum, actions) = self.measure(&history.measure, &history.actions)?;
        let per = match history.per.name.as_str() {
            "task" => HistoryKey::Task,
            "agent" => HistoryKey::Agent,
            _ => HistoryKey::Sponsor,
        };
        Ok(History {
            name: name.to_string(),
            sum,
            actions,
            per,
            window_ms: history.window.nanos / 1_000_000,
            text: crate::syntax::print::history_text(history),
            origin: Origin::new(self.file.path, history.span),
        })
    }

    fn expr(&mut self, expr: &Expr) -> Result<HExpr, LowerError> {
        self.grow(expr.span, 1, 1)?;
        self.depth += 1;
        let lowered = self.expr_inner(expr);
        self.depth -= 1;
        lowered
    }

    /// Accounts for `size` more nodes reaching `depth` below the current one.
    fn grow(&mut self, span: Span, depth: usize, size: usize) -> Result<(), LowerError> {
        self.nodes = self.nodes.saturating_add(size);
        let reached = self.depth.saturating_add(depth);
        if reached > MAX_HIR_DEPTH {
            return Err(self.error(
                span,
                format!("expression is nested more than {MAX_HIR_DEPTH} levels deep once functions are inlined"),
            ));
        }
        if self.nodes > MAX_HIR_NODES {
            return Err(self.error(
                span,
                format!("declaration has more than {MAX_HIR_NODES} expression nodes once functions are inlined"),
            ));
        }
        Ok(())
    }

    /// Lowers an expression a guard may have ruled out. One the checker skipped in every
    /// request environment was never resolved; its value never matters there, so it
    /// becomes `false`.
    fn guarded(&mut self, expr: &Expr) -> Result<HExpr, LowerError> {
        let never_checked = self.file.skipped.contains(&expr.span) && !self.file.checked.contains(&expr.span);
        match self.expr(expr) {
            Err(error) if error.unresolved && never_checked => Ok(HExpr::FALSE),
            result => result,
        }
    }

    fn boxed(&mut self, expr: &Expr) -> Result<Box<HExpr>, LowerError> {
        self.expr(expr).map(Box::new)
    }

    fn expr_inner(&mut self, expr: &Expr) -> Result<HExpr, LowerError> {
        Ok(match &expr.kind {
            ExprKind::Bool(value) => HExpr::Const(Value::Bool(*value)),
            ExprKind::Int(value) => HExpr::Const(Value::Int(*value)),
            ExprKind::Decimal(raw) => {
                let fixed = parse_decimal(raw).map_err(|error| self.error(expr.span, format!("decimal {error}")))?;
                HExpr::Const(Value::Decimal(fixed))
            }
            ExprKind::Str(text) => HExpr::Const(Value::string(text)),
            ExprKind::Duration(nanos) => HExpr::Const(Value::Duration(*nanos)),
            ExprKind::Name(name) => self.name(name, expr.span)?,
            ExprKind::Path(_) => self.name("", expr.span)?,
            ExprKind::Field(inner, field) => {
                let base = self.expr(inner)?;
                let step: Arc<str> = Arc::from(field.name.as_str());
                match base {
                    HExpr::Field(base, mut path) => {
                        path.push(step);
                        HExpr::Field(base, path)
                    }
                    other => HExpr::Attr(Box::new(other), step),
                }
            }
            ExprKind::Call(callee, args) => self.call(callee, args, expr.span)?,
            ExprKind::Unary(UnaryOp::Not, inner) => HExpr::negate(self.expr(inner)?),
            ExprKind::Unary(UnaryOp::Neg, inner) => negated(self.expr(inner)?),
            ExprKind::Binary(op, left, right) => self.binary(*op, left, right, expr.span)?,
            ExprKind::Has(inner, name) => HExpr::Has(self.boxed(inner)?, Arc::from(name.name.as_str())),
            // A literal key is an attribute of the map; a computed one is a lookup.
            ExprKind::HasKey(inner, key) => match &key.kind {
                ExprKind::Str(text) => HExpr::Has(self.boxed(inner)?, Arc::from(text.as_str())),
                _ => HExpr::Call(Builtin::HasKey, vec![self.expr(inner)?, self.expr(key)?]),
            },
            ExprKind::Index(inner, key) => match (&key.kind, self.expr(inner)?) {
                (ExprKind::Str(text), HExpr::Field(base, mut path)) => {
                    path.push(Arc::from(text.as_str()));
                    HExpr::Field(base, path)
                }
                (ExprKind::Str(text), map) => HExpr::Attr(Box::new(map), Arc::from(text.as_str())),
                (_, map) => HExpr::Call(Builtin::Lookup, vec![map, self.expr(key)?]),
            },
            ExprKind::Is(inner, name) => match &inner.kind {
                ExprKind::Name(root) if root == "task" => HExpr::TaskIs(Arc::from(name.name.as_str())),
                _ => HExpr::ResourceIs(Arc::from(name.name.as_str())),
            },
            ExprKind::Set(items) => {
                let items = items.iter().map(|item| self.expr(item)).collect::<Result<Vec<_>, _>>()?;
                constant_set(items)
            }
            ExprKind::Record(fields) => HExpr::RecordOf(
                fields
                    .iter()
                    .map(|field| Ok((Arc::from(field.name.name.as_str()), self.expr(&field.value)?)))
                    .collect::<Result<_, LowerError>>()?,
            ),
            ExprKind::Quantifier(quantifier, var, set, body) => {
                let set = self.boxed(set)?;
                self.fresh += 1;
                let unique: Arc<str> = Arc::from(format!("{}#{}", var.name, self.fresh));
                self.scopes.push((var.name.clone(), Binding::Local(unique.clone())));
                let body = self.boxed(body);
                self.scopes.pop();
                HExpr::Quantifier((*quantifier).into(), unique, set, body?)
            }
            ExprKind::Error => return Err(self.error(expr.span, "expression with errors")),
        })
    }

    fn name(&mut self, name: &str, span: Span) -> Result<HExpr, LowerError> {
        if let Some((_, binding)) = self.scopes.iter().rev().find(|(bound, _)| bound == name) {
            let (value, depth, size) = match binding {
                Binding::Local(unique) => return Ok(HExpr::Field(Base::Local(unique.clone()), Vec::new())),
                Binding::Argument(value, depth, size) => (value.clone(), *depth, *size),
            };
            // The name's own node, counted already, becomes the argument's root.
            self.grow(span, depth.saturating_sub(1), size.saturating_sub(1))?;
            return Ok(value);
        }
        match self.file.names.get(&span) {
            Some(NameRes::Root(root)) => {
                let root = Root::from_name(root).ok_or_else(|| self.error(span, "unknown root"))?;
                Ok(HExpr::Field(Base::Root(root), Vec::new()))
            }
            Some(NameRes::Param(param)) => Ok(HExpr::Field(Base::Root(Root::Task), vec![Arc::from(param.as_str())])),
            Some(NameRes::Variant { enum_name, variant, ordinal }) => Ok(HExpr::Const(Value::Enum(value::EnumValue {
                enum_name: Arc::from(enum_name.as_str()),
                variant: Arc::from(variant.as_str()),
                ordinal: *ordinal,
            }))),
            Some(NameRes::Action(action)) => Ok(HExpr::Const(Value::string(action))),
            Some(NameRes::Local(local)) => Err(self.unresolved(span, format!("`{local}` is not bound here"))),
            Some(NameRes::SetContains | NameRes::StrContains) | None => {
                Err(self.unresolved(span, format!("`{name}` was not resolved")))
            }
        }
    }

    fn call(&mut self, callee: &[ast::Ident], args: &[Expr], span: Span) -> Result<HExpr, LowerError> {
        let name = callee.last().map(|ident| ident.name.as_str()).unwrap_or_default();
        let builtin = Builtin::named(name).filter(|_| callee.len() == 1 && !self.functions.contains_key(name));
        if let Some(builtin) = builtin {
            if let (true, [Expr { kind: ExprKind::Str(text), .. }]) = (builtin.parses_moment(), args) {
                let nanos = parse_moment(text).map_err(|reason| self.error(span, reason))?;
                let nanos = if builtin == Builtin::Date { day_start(nanos) } else { nanos };
                return Ok(HExpr::Const(Value::Timestamp(nanos)));
            }
            let args = args.iter().map(|arg| self.expr(arg)).collect::<Result<Vec<_>, _>>()?;
            return Ok(HExpr::Call(builtin, args));
        }
        let Some((function, file)) = self.functions.get(name).copied() else {
            return Err(self.error(span, format!("unknown function `{name}`")));
        };
        let mut arguments = Vec::with_capacity(args.len());
        for arg in args {
            let lowered = self.expr(arg)?;
            let (depth, size) = measure(&lowered);
            arguments.push((lowered, depth, size));
        }
        // The body is lowered in its own file's resolutions, with only its parameters
        // in scope: functions cannot see the caller's variables.
        let mut body_lowerer = Lowerer {
            env: self.env,
            file,
            functions: self.functions,
            fragments: self.fragments,
            scopes: function
                .params
                .iter()
                .zip(arguments)
                .map(|(param, (argument, depth, size))| {
                    (param.name.name.clone(), Binding::Argument(argument, depth, size))
                })
                .collect(),
            fresh: self.fresh,
            depth: self.depth,
            nodes: self.nodes,
        };
        let body = body_lowerer.expr(&function.body);
        self.fresh = body_lowerer.fresh;
        self.nodes = body_lowerer.nodes;
        body
    }

    fn binary(&mut self, op: BinaryOp, left: &Expr, right: &Expr, span: Span) -> Result<HExpr, LowerError> {
        let a = self.expr(left)?;
        let b = match op {
            BinaryOp::And | BinaryOp::Or => self.guarded(right)?,
            _ => self.expr(right)?,
        };
        let boxed = |a, b| (Box::new(a), Box::new(b));
        Ok(match op {
            BinaryOp::And => HExpr::and(a, b),
            BinaryOp::Or => HExpr::or(a, b),
            BinaryOp::Eq => cmp(CmpOp::Eq, a, b),
            BinaryOp::Ne => cmp(CmpOp::Ne, a, b),
            BinaryOp::Lt => cmp(CmpOp::Lt, a, b),
            BinaryOp::Le => cmp(CmpOp::Le, a, b),
            BinaryOp::Gt => cmp(CmpOp::Gt, a, b),
            BinaryOp::Ge => cmp(CmpOp::Ge, a, b),
            BinaryOp::In => {
                let (a, b) = boxed(a, b);
                HExpr::In(a, b)
            }
            BinaryOp::Contains => {
                let (a, b) = boxed(a, b);
                // `contains` on a set is membership; on strings it is a substring test.
                if self.file.names.get(&span) == Some(&NameRes::SetContains) {
                    HExpr::SetContains(a, b)
                } else {
                    HExpr::Str(StrOp::Contains, a, b)
                }
            }
            BinaryOp::StartsWith => {
                let (a, b) = boxed(a, b);
                HExpr::Str(StrOp::StartsWith, a, b)
            }
            BinaryOp::EndsWith => {
                let (a, b) = boxed(a, b);
                HExpr::Str(StrOp::EndsWith, a, b)
            }
            BinaryOp::Matches => match b {
                HExpr::Const(Value::String(pattern)) => HExpr::Matches(Box::new(a), pattern),
                pattern => HExpr::MatchesParam(Box::new(a), Box::new(pattern)),
            },
            BinaryOp::Add => HExpr::Arith(ArithOp::Add, Box::new(a), Box::new(b)),
            BinaryOp::Sub => HExpr::Arith(ArithOp::Sub, Box::new(a), Box::new(b)),
            BinaryOp::Mul => HExpr::Arith(ArithOp::Mul, Box::new(a), Box::new(b)),
        })
    }
}

fn cmp(op: CmpOp, a: HExpr, b: HExpr) -> HExpr {
    HExpr::Cmp(op, Box::new(a), Box::new(b))
}

/// A set literal of constants becomes a constant set.
fn constant_set(items: Vec<HExpr>) -> HExpr {
    let constants: Option<Vec<Value>> = items
        .iter()
        .map(|item| match item {
            HExpr::Const(value) => Some(value.clone()),
            _ => None,
        })
        .collect();
    match constants {
        Some(values) => HExpr::Const(Value::set(values)),
        None => HExpr::SetOf(items),
    }
}

/// A test's expectations as the runner compares them. The checker has made sure each
/// is given once (messages aside) and the grant holds no scope.
fn test_expectations(test: &ast::TestDecl) -> TestExpectations {
    let mut lowered = TestExpectations { decision: test.expect_span, ..TestExpectations::default() };
    for expectation in &test.expectations {
        match expectation {
            ast::Expectation::By(names, span) => {
                lowered.policies = Some((names.iter().map(|name| name.name.clone()).collect(), *span));
            }
            ast::Expectation::Reason(code, span) => lowered.reason = Some((code.name.clone(), *span)),
            ast::Expectation::Message(text) => lowered.messages.push((text.value.clone(), text.span)),
            ast::Expectation::Grant(grant) => {
                for clause in &grant.clauses {
                    match clause {
                        ast::GrantClause::Ttl(ttl) => lowered.ttl = Some((ttl.nanos, ttl.span)),
                        ast::GrantClause::Tags(tags, span) => {
                            lowered.tags = Some((tags.iter().map(|tag| tag.value.clone()).collect(), *span));
                        }
                        ast::GrantClause::Message(text) => lowered.grant_messages.push((text.value.clone(), text.span)),
                        ast::GrantClause::Scope(_) => {}
                    }
                }
            }
        }
    }
    lowered
}
