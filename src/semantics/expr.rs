//! Resolves and types expressions.
//!
//! Typing is flow-sensitive in the way Cedar's is: `resource has owner and resource.owner
//! == "x"` is accepted because the left operand proves the optional attribute present for
//! the right one, and `task is Support and task.ticket == "T-1"` makes the task's
//! parameters visible. Conditions are checked once per request environment (an action and
//! a resource type the policy targets), so `args.amount` is typed against the action's
//! declared arguments; where an `action == …` guard rules an environment out, the guarded
//! operand is not checked in it.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::env::{Env, TASK_BUILTINS, TIMESTAMP_FIELDS};

/// The built-in functions of strings and sets (`src/hir` evaluates them).
pub const BUILTINS: [&str; 9] = ["lower", "upper", "trim", "len", "split", "timestamp", "date", "keys", "values"];
use super::errors::{ResolveError, TypeError};
use super::suggest::{did_you_mean, similar};
use super::types::{Field, RecordType, Type};
use super::{AttrOwner, AttrRes, NameRes, Sink};
use crate::syntax::ast::{BinaryOp, Condition, ConditionKind, Expr, ExprKind, Ident, Quantifier, UnaryOp};
use crate::syntax::print::{print_expr, quote};
use crate::syntax::Span;

/// Request roots an expression may read.
const ROOTS: &[&str] = &["agent", "resource", "task", "action", "args", "context", "behavior", "chain"];

/// Where an expression appears, which decides the request roots it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Policy,
    TaskRequire,
    Scope,
    Delegate,
    /// A task's `open when`.
    Open,
    /// A budget's limit: the task's parameters only.
    BudgetLimit,
    BoundApplies,
    Function,
    TestValue,
}

impl Place {
    fn allows(self, root: &str) -> bool {
        match self {
            Place::Policy => true,
            Place::TaskRequire => root == "task",
            Place::Scope => root != "behavior",
            Place::Delegate | Place::Open => matches!(root, "agent" | "task" | "chain"),
            Place::BudgetLimit => root == "task",
            Place::BoundApplies => matches!(root, "agent" | "task" | "chain" | "context"),
            Place::Function | Place::TestValue => false,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Place::Policy => "in a policy",
            Place::TaskRequire => "in a task's `require`; it constrains the parameters only",
            Place::Scope => "in a scope",
            Place::Delegate => "in a `delegate` clause",
            Place::Open => "in an `open when` clause; it reads the agent, the chain and the task's parameters",
            Place::BudgetLimit => "in a budget's limit; it reads the task's parameters, fixed when the task opens",
            Place::BoundApplies => "in a bound's `when`",
            Place::Function => "in a function; functions are pure and read only their parameters",
            Place::TestValue => "in a test value",
        }
    }
}

/// The resource of the request environment being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvResource {
    Known(String),
    /// The action applies to no resource type.
    None,
    /// The targeted resource type is unknown (already reported).
    Unknown,
}

/// One request environment: the action and resource type an expression is checked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEnv {
    pub action: Option<String>,
    pub resource: EnvResource,
}

/// What the checker knows to be true at a point of an expression.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Paths proven present, such as `resource.owner`.
    present: BTreeSet<String>,
    task_kind: Option<String>,
    /// Actions the request is known to be one of.
    actions: Option<BTreeSet<String>>,
    /// Resource types the request's resource is known to be one of.
    resource_types: Option<BTreeSet<String>>,
}

impl Facts {
    /// Adds facts established elsewhere; known actions narrow to the common ones.
    pub fn merge(&mut self, other: Facts) {
        self.present.extend(other.present);
        if other.task_kind.is_some() {
            self.task_kind = other.task_kind;
        }
        self.actions = narrow(self.actions.take(), other.actions);
        self.resource_types = narrow(self.resource_types.take(), other.resource_types);
    }

    /// Facts a policy condition establishes for the conditions after it.
    pub fn of_condition(condition: &Condition) -> Facts {
        match condition.kind {
            ConditionKind::When => Facts::when_true(&condition.expr),
            ConditionKind::Unless => Facts::when_false(&condition.expr),
        }
    }

    /// Facts that hold when `expr` is true.
    pub fn when_true(expr: &Expr) -> Facts {
        let mut facts = Facts::default();
        match &expr.kind {
            ExprKind::Has(inner, name) => {
                if let Some(path) = path_key(inner) {
                    facts.present.insert(format!("{path}.{}", name.name));
                    facts.present.insert(key_fact(&path, &quote(&name.name)));
                }
            }
            ExprKind::HasKey(inner, key) => {
                if let Some(path) = path_key(inner) {
                    facts.present.insert(key_fact(&path, &print_expr(key)));
                }
            }
            ExprKind::Is(inner, kind) if is_root(inner, "task") => facts.task_kind = Some(kind.name.clone()),
            ExprKind::Is(inner, ty) if is_root(inner, "resource") => {
                facts.resource_types = Some([ty.name.clone()].into());
            }
            ExprKind::Binary(BinaryOp::And, left, right) => {
                facts.merge(Facts::when_true(left));
                facts.merge(Facts::when_true(right));
            }
            ExprKind::Binary(BinaryOp::Eq, left, right) if is_root(left, "action") => {
                if let ExprKind::Name(name) = &right.kind {
                    facts.actions = Some([name.clone()].into());
                }
            }
            ExprKind::Binary(BinaryOp::In, left, right) if is_root(left, "action") => {
                if let ExprKind::Set(items) = &right.kind {
                    let names = items.iter().filter_map(|item| match &item.kind {
                        ExprKind::Name(name) => Some(name.clone()),
                        _ => None,
                    });
                    facts.actions = Some(names.collect());
                }
            }
            ExprKind::Unary(UnaryOp::Not, inner) => return Facts::when_false(inner),
            _ => {}
        }
        facts
    }

    /// Facts that hold when `expr` is false.
    pub fn when_false(expr: &Expr) -> Facts {
        match &expr.kind {
            ExprKind::Unary(UnaryOp::Not, inner) => Facts::when_true(inner),
            ExprKind::Binary(BinaryOp::Or, left, right) => {
                let mut facts = Facts::when_false(left);
                facts.merge(Facts::when_false(right));
                facts
            }
            _ => Facts::default(),
        }
    }
}

/// Combines two "known to be one of" sets: both hold, so the intersection does.
fn narrow(known: Option<BTreeSet<String>>, more: Option<BTreeSet<String>>) -> Option<BTreeSet<String>> {
    match (known, more) {
        (Some(known), Some(more)) => Some(known.intersection(&more).cloned().collect()),
        (known, more) => known.or(more),
    }
}

fn is_root(expr: &Expr, root: &str) -> bool {
    matches!(&expr.kind, ExprKind::Name(name) if name == root)
}

/// The fact that a map at `path` holds the key written `key`: `args.headers["x"]`.
fn key_fact(path: &str, key: &str) -> String {
    format!("{path}[{key}]")
}

/// `resource.meta.region` for a chain of attribute accesses on a name.
fn path_key(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Name(name) => Some(name.clone()),
        ExprKind::Field(inner, field) => Some(format!("{}.{}", path_key(inner)?, field.name)),
        _ => None,
    }
}

/// Types expressions for one request environment.
pub struct ExprChecker<'a> {
    pub env: &'a Env,
    pub place: Place,
    pub request: RequestEnv,
    /// The task kind fixed by the surrounding declaration (a task's own clauses).
    pub task_kind: Option<String>,
    /// Parameters visible as bare names: a task's or a function's.
    pub params: Vec<(String, Type)>,
    locals: Vec<(String, Type)>,
    facts: Facts,
    pub sink: &'a mut Sink,
}

impl<'a> ExprChecker<'a> {
    pub fn new(env: &'a Env, place: Place, request: RequestEnv, sink: &'a mut Sink) -> Self {
        ExprChecker {
            env,
            place,
            request,
            task_kind: None,
            params: Vec::new(),
            locals: Vec::new(),
            facts: Facts::default(),
            sink,
        }
    }

    /// Adds what a condition that already held proves, for the conditions after it.
    pub fn assume(&mut self, facts: Facts) {
        self.facts.merge(facts);
    }

    /// Whether the facts so far rule out this environment's action or resource type.
    pub fn unreachable(&self) -> bool {
        // A guard naming only undeclared actions or types was reported already; it
        // rules nothing out, so the rest is still checked.
        let action_ruled_out = match (&self.facts.actions, &self.request.action) {
            (Some(actions), Some(action)) => {
                !actions.contains(action) && actions.iter().any(|a| self.env.actions.contains_key(a))
            }
            _ => false,
        };
        let resource_ruled_out = match (&self.facts.resource_types, &self.request.resource) {
            (Some(types), EnvResource::Known(resource)) => {
                !types.contains(resource) && types.iter().any(|t| self.env.resources.contains_key(t))
            }
            _ => false,
        };
        action_ruled_out || resource_ruled_out
    }

    /// Checks that `expr` has type `expected` and returns its type.
    pub fn expect(&mut self, expr: &Expr, expected: &Type) -> Type {
        let found = self.infer(expr, Some(expected));
        if !found.fits(expected) {
            let help = (expected == &Type::Bool)
                .then(|| "conditions must be true or false; compare the value with `==`".to_string());
            self.sink.report(TypeError::Mismatch {
                expected: expected.to_string(),
                found: found.to_string(),
                span: expr.span,
                help,
            });
        }
        found
    }

    pub fn infer(&mut self, expr: &Expr, expected: Option<&Type>) -> Type {
        match &expr.kind {
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::Int(_) => Type::Int,
            ExprKind::Decimal(_) => Type::Decimal,
            ExprKind::Str(_) => Type::String,
            ExprKind::Duration(_) => Type::Duration,
            ExprKind::Name(name) => {
                let ty = self.name(name, expr.span, expected);
                self.record_name(name, expr.span, &ty);
                ty
            }
            ExprKind::Path(path) => {
                let ty = self.path(path, expr.span);
                if let ([owner, variant], Type::Enum(_)) = (path.as_slice(), &ty) {
                    self.record_variant(&owner.name, &variant.name, expr.span);
                }
                ty
            }
            ExprKind::Field(inner, field) => self.field(inner, field),
            ExprKind::Call(callee, args) => self.call(callee, args, expr.span),
            ExprKind::Unary(UnaryOp::Not, inner) => {
                self.expect(inner, &Type::Bool);
                Type::Bool
            }
            ExprKind::Unary(UnaryOp::Neg, inner) => self.negate(inner),
            ExprKind::Binary(op, left, right) => self.binary(*op, left, right, expr.span),
            ExprKind::Has(inner, name) => self.has(inner, name),
            ExprKind::HasKey(inner, key) => self.has_key(inner, key),
            ExprKind::Index(inner, key) => self.index(inner, key),
            ExprKind::Is(inner, name) => self.is(inner, name),
            ExprKind::Set(items) => self.set(items, expected),
            ExprKind::Record(fields) => {
                let declared = match expected {
                    Some(Type::Record(record)) => Some(record.clone()),
                    _ => None,
                };
                let mut record = RecordType::default();
                for field in fields {
                    let field_expected =
                        declared.as_ref().and_then(|record| record.get(&field.name.name)).map(|f| f.ty.clone());
                    let ty = self.infer(&field.value, field_expected.as_ref());
                    record.fields.insert(field.name.name.clone(), super::types::Field { ty, optional: false });
                }
                Type::Record(Arc::new(record))
            }
            ExprKind::Quantifier(quantifier, var, set, body) => self.quantifier(*quantifier, var, set, body),
            ExprKind::Error => Type::Unknown,
        }
    }

    /// Whether an expression names a request attribute (`args.due`, `resource.meta.when`,
    /// `task.day`, a task parameter), whose values validation can check, rather than a
    /// computed value, an `any`/`all` variable or a function's parameter.
    fn is_attribute_path(&self, expr: &Expr) -> bool {
        match &expr.kind {
            ExprKind::Name(name) => {
                let local = self.locals.iter().any(|(local, _)| local == name);
                let argument = self.place == Place::Function && self.params.iter().any(|(param, _)| param == name);
                !local && !argument
            }
            ExprKind::Field(inner, _) => self.is_attribute_path(inner),
            _ => false,
        }
    }

    fn is_local(&self, name: &str) -> bool {
        self.locals.iter().any(|(local, _)| local == name)
            || self.params.iter().any(|(param, _)| param == name)
            || ROOTS.contains(&name)
    }

    fn name(&mut self, name: &str, span: Span, expected: Option<&Type>) -> Type {
        if let Some((_, ty)) = self.locals.iter().rev().find(|(local, _)| local == name) {
            return ty.clone();
        }
        if ROOTS.contains(&name) {
            return self.root(name, span);
        }
        if let Some((_, ty)) = self.params.iter().find(|(param, _)| param == name) {
            return ty.clone();
        }
        match expected {
            Some(Type::Enum(enum_name)) => return self.variant(enum_name, name, span),
            Some(Type::Action) => return self.action_name(name, span),
            Some(Type::Set(inner)) if matches!(**inner, Type::Action) => return self.action_name(name, span),
            _ => {}
        }
        let owners: Vec<&String> =
            self.env.enums.iter().filter(|(_, variants)| variants.iter().any(|v| v == name)).map(|(e, _)| e).collect();
        match owners.as_slice() {
            [owner] => return Type::Enum((*owner).clone()),
            [] if self.env.actions.contains_key(name) => return Type::Action,
            [] => {}
            several => {
                let help = format!(
                    "`{name}` is a value of several enums; write {}",
                    several.iter().map(|owner| format!("`{owner}::{name}`")).collect::<Vec<_>>().join(" or ")
                );
                self.sink.report(ResolveError::UnknownName { name: name.to_string(), span, help: Some(help) });
                return Type::Unknown;
            }
        }
        let candidates: Vec<&str> = self
            .locals
            .iter()
            .chain(&self.params)
            .map(|(local, _)| local.as_str())
            .chain(self.env.enums.values().flatten().map(String::as_str))
            .collect();
        let help = did_you_mean(name, candidates.iter().copied()).or_else(|| {
            Some(
                "names are parameters, `any`/`all` variables, enum values or request roots such as `agent`".to_string(),
            )
        });
        self.sink.report(ResolveError::UnknownName { name: name.to_string(), span, help });
        Type::Unknown
    }

    /// Records what a bare name resolved to, in the order `name` resolves them.
    fn record_name(&mut self, name: &str, span: Span, ty: &Type) {
        let resolution = if self.locals.iter().any(|(local, _)| local == name) {
            NameRes::Local(name.to_string())
        } else if ROOTS.contains(&name) {
            NameRes::Root(name.to_string())
        } else if self.params.iter().any(|(param, _)| param == name) {
            match self.place {
                Place::Function => NameRes::Local(name.to_string()),
                _ => NameRes::Param(name.to_string()),
            }
        } else {
            match ty {
                Type::Enum(enum_name) => return self.record_variant(&enum_name.clone(), name, span),
                Type::Action | Type::Set(_) => NameRes::Action(name.to_string()),
                _ => return,
            }
        };
        self.sink.resolve(span, resolution);
    }

    fn record_variant(&mut self, enum_name: &str, variant: &str, span: Span) {
        let ordinal = self.env.enums.get(enum_name).and_then(|variants| variants.iter().position(|v| v == variant));
        if let Some(ordinal) = ordinal {
            let ordinal = u32::try_from(ordinal).unwrap_or(u32::MAX);
            self.sink.resolve(
                span,
                NameRes::Variant { enum_name: enum_name.to_string(), variant: variant.to_string(), ordinal },
            );
        }
    }

    fn variant(&mut self, enum_name: &str, name: &str, span: Span) -> Type {
        let variants = self.env.enums.get(enum_name).map(Vec::as_slice).unwrap_or_default();
        if !variants.iter().any(|variant| variant == name) {
            let help = did_you_mean(name, variants.iter().map(String::as_str));
            self.sink.report(ResolveError::UnknownVariant {
                variant: name.to_string(),
                enum_name: enum_name.to_string(),
                span,
                help,
            });
        }
        Type::Enum(enum_name.to_string())
    }

    fn action_name(&mut self, name: &str, span: Span) -> Type {
        if !self.env.actions.contains_key(name) {
            let help = did_you_mean(name, self.env.actions.keys().map(String::as_str));
            self.sink.report(ResolveError::UnknownAction { name: name.to_string(), span, help });
        }
        Type::Action
    }

    fn root(&mut self, root: &str, span: Span) -> Type {
        if !self.place.allows(root) {
            let help = match self.place {
                Place::Function => Some("pass the value in as a parameter".to_string()),
                Place::TaskRequire => Some("constrain request values in a policy or in the task's scope".to_string()),
                _ => None,
            };
            self.sink.report(ResolveError::RootNotAllowed {
                root: root.to_string(),
                place: self.place.describe(),
                span,
                help,
            });
            return Type::Unknown;
        }
        match root {
            "agent" => Type::Record(self.env.agent.clone()),
            "context" => Type::Record(self.env.context.clone()),
            "behavior" => Type::Record(self.env.behavior.clone()),
            "chain" => Type::Record(self.env.chain.clone()),
            "action" => Type::Action,
            "task" => Type::Task(self.facts.task_kind.clone().or_else(|| self.task_kind.clone())),
            "resource" => match &self.request.resource {
                EnvResource::Known(name) => Type::Resource(name.clone()),
                EnvResource::Unknown => Type::Unknown,
                EnvResource::None => {
                    let action = self.request.action.clone().unwrap_or_default();
                    self.sink.report(ResolveError::NoResource { action, span });
                    Type::Unknown
                }
            },
            _ => match self.request.action.as_ref().and_then(|action| self.env.actions.get(action)) {
                Some(sig) => Type::Record(sig.params.clone()),
                None => Type::Unknown,
            },
        }
    }

    fn path(&mut self, path: &[Ident], span: Span) -> Type {
        let [owner, variant] = path else {
            let text = path.iter().map(|ident| ident.name.as_str()).collect::<Vec<_>>().join("::");
            self.sink.report(ResolveError::UnknownName { name: text, span, help: None });
            return Type::Unknown;
        };
        if self.env.enums.contains_key(&owner.name) {
            return self.variant(&owner.name, &variant.name, variant.span);
        }
        let help = did_you_mean(&owner.name, self.env.enums.keys().map(String::as_str));
        self.sink.report(ResolveError::UnknownType { name: owner.name.clone(), span: owner.span, help });
        Type::Unknown
    }

    fn field(&mut self, inner: &Expr, field: &Ident) -> Type {
        let base = self.infer(inner, None);
        let (record, owner) = match &base {
            Type::Unknown => return Type::Unknown,
            Type::Record(record) => (record.clone(), format!("`{}`", print_expr(inner))),
            Type::Resource(name) => match self.env.resources.get(name) {
                Some(record) => (record.clone(), format!("resource type `{name}`")),
                None => return Type::Unknown,
            },
            Type::Task(kind) => return self.task_field(kind.as_deref(), field),
            Type::Timestamp => return self.timestamp_field(field),
            Type::Map(_) => {
                let attr = field.name.clone();
                self.sink.report(ResolveError::UnknownAttribute {
                    attr: attr.clone(),
                    owner: format!("map `{}`", print_expr(inner)),
                    span: field.span,
                    help: Some(format!("read a map's value by its key: `{}[\"{attr}\"]`", print_expr(inner))),
                });
                return Type::Unknown;
            }
            other => {
                self.sink.report(ResolveError::UnknownAttribute {
                    attr: field.name.clone(),
                    owner: format!("type `{other}`"),
                    span: field.span,
                    help: Some("only records, resources, tasks and timestamps have attributes".to_string()),
                });
                return Type::Unknown;
            }
        };
        let Some(found) = record.get(&field.name) else {
            let help = did_you_mean(&field.name, record.fields.keys().map(String::as_str));
            self.sink.report(ResolveError::UnknownAttribute {
                attr: field.name.clone(),
                owner,
                span: field.span,
                help,
            });
            return Type::Unknown;
        };
        let reading = AttrRes { owner: self.attr_owner(inner, &base), ty: found.ty.clone(), optional: found.optional };
        self.sink.attribute(field.span, reading);
        if found.optional {
            let path = path_key(inner).map(|path| format!("{path}.{}", field.name));
            let proven = path.as_ref().is_some_and(|path| self.facts.present.contains(path));
            if !proven {
                let guard = format!("{} has {}", print_expr(inner), field.name);
                self.sink.report(TypeError::UnguardedOptional {
                    attr: field.name.clone(),
                    span: field.span,
                    help: Some(format!("check that it is present first: `{guard} and …`")),
                });
            }
        }
        found.ty.clone()
    }

    /// Whose attribute `inner.name` reads, given the type of `inner`.
    fn attr_owner(&self, inner: &Expr, base: &Type) -> AttrOwner {
        match base {
            Type::Resource(name) => AttrOwner::Resource(name.clone()),
            Type::Record(record) => self.record_owner(inner, record),
            Type::Task(Some(kind)) => AttrOwner::Task(kind.clone()),
            Type::Task(None) => AttrOwner::TaskBuiltin,
            other => AttrOwner::Other(format!("type `{other}`")),
        }
    }

    /// The request root or named record type a record-typed expression is.
    fn record_owner(&self, inner: &Expr, record: &Arc<RecordType>) -> AttrOwner {
        let root = match &inner.kind {
            ExprKind::Name(name) if !self.locals.iter().any(|(local, _)| local == name) => name.as_str(),
            _ => "",
        };
        match (root, &self.request.action) {
            ("agent", _) => return AttrOwner::Agent,
            ("context", _) => return AttrOwner::Context,
            ("behavior", _) => return AttrOwner::Behavior,
            ("chain", _) => return AttrOwner::Chain,
            ("args", Some(action)) => return AttrOwner::Args(action.clone()),
            _ => {}
        }
        let named = self.env.records.iter().find(|(_, candidate)| Arc::ptr_eq(candidate, record));
        match named {
            Some((name, _)) => AttrOwner::Record(name.clone()),
            None => AttrOwner::Other("a record".to_string()),
        }
    }

    fn task_field(&mut self, kind: Option<&str>, field: &Ident) -> Type {
        if let Some((_, ty)) = TASK_BUILTINS.iter().find(|(name, _)| *name == field.name) {
            let reading = AttrRes { owner: AttrOwner::TaskBuiltin, ty: ty.clone(), optional: false };
            self.sink.attribute(field.span, reading);
            return ty.clone();
        }
        if let Some(kind) = kind {
            let params = self.env.tasks.get(kind).map(|sig| sig.params.as_slice()).unwrap_or_default();
            if let Some((_, ty)) = params.iter().find(|(name, _)| *name == field.name) {
                let optional = self.env.tasks.get(kind).is_some_and(|sig| sig.optional.contains(&field.name));
                let reading = AttrRes { owner: AttrOwner::Task(kind.to_string()), ty: ty.clone(), optional };
                self.sink.attribute(field.span, reading);
                if optional && !self.facts.present.contains(&format!("task.{}", field.name)) {
                    self.sink.report(TypeError::UnguardedOptional {
                        attr: field.name.clone(),
                        span: field.span,
                        help: Some(format!("check that it is present first: `task has {} and …`", field.name)),
                    });
                }
                return ty.clone();
            }
            let candidates =
                TASK_BUILTINS.iter().map(|(name, _)| *name).chain(params.iter().map(|(name, _)| name.as_str()));
            let help = did_you_mean(&field.name, candidates);
            self.sink.report(ResolveError::UnknownAttribute {
                attr: field.name.clone(),
                owner: format!("task `{kind}`"),
                span: field.span,
                help,
            });
            return Type::Unknown;
        }
        let kinds: Vec<&str> = self
            .env
            .tasks
            .iter()
            .filter(|(_, sig)| sig.params.iter().any(|(name, _)| *name == field.name))
            .map(|(kind, _)| kind.as_str())
            .collect();
        if kinds.is_empty() {
            let candidates = TASK_BUILTINS.iter().map(|(name, _)| *name);
            self.sink.report(ResolveError::UnknownAttribute {
                attr: field.name.clone(),
                owner: "task".to_string(),
                span: field.span,
                help: did_you_mean(&field.name, candidates),
            });
        } else {
            let help = match kinds.as_slice() {
                [kind] => format!("say which task first: `task is {kind} and …`"),
                _ => format!(
                    "say which task first, such as `task is {} and …`; tasks with this parameter: {}",
                    kinds.first().copied().unwrap_or_default(),
                    kinds.join(", ")
                ),
            };
            self.sink.report(ResolveError::TaskKindUnknown {
                param: field.name.clone(),
                span: field.span,
                help: Some(help),
            });
        }
        Type::Unknown
    }

    fn timestamp_field(&mut self, field: &Ident) -> Type {
        if TIMESTAMP_FIELDS.contains(&field.name.as_str()) {
            let owner = AttrOwner::Other("a timestamp (its parts, in UTC)".to_string());
            self.sink.attribute(field.span, AttrRes { owner, ty: Type::Int, optional: false });
            return Type::Int;
        }
        self.sink.report(ResolveError::UnknownAttribute {
            attr: field.name.clone(),
            owner: "type `Timestamp`".to_string(),
            span: field.span,
            help: did_you_mean(&field.name, TIMESTAMP_FIELDS.iter().copied()),
        });
        Type::Unknown
    }

    fn call(&mut self, callee: &[Ident], args: &[Expr], span: Span) -> Type {
        let Some(name) = callee.last() else { return Type::Unknown };
        if callee.len() == 1 && !self.env.functions.contains_key(&name.name) {
            if matches!(name.name.as_str(), "timestamp" | "date") {
                return self.moment(&name.name, args, span);
            }
            if let Some(ty) = self.builtin(&name.name, args, span) {
                return ty;
            }
        }
        let Some(sig) = self.env.functions.get(&name.name).cloned() else {
            let candidates = self.env.functions.keys().map(String::as_str).chain(BUILTINS);
            let help = similar(&name.name, candidates);
            self.sink.report(ResolveError::UnknownFunction { name: name.name.clone(), span: name.span, help });
            args.iter().for_each(|arg| {
                self.infer(arg, None);
            });
            return Type::Unknown;
        };
        if let [module, _] = callee {
            if sig.module.as_deref() != Some(module.name.as_str()) {
                let help = match &sig.module {
                    Some(real) => Some(format!("`{}` is declared in module `{real}`", name.name)),
                    None => Some(format!("`{}` is declared in this package; call it without a module", name.name)),
                };
                self.sink.report(ResolveError::UnknownModule { name: module.name.clone(), span: module.span, help });
            }
        }
        if sig.params.len() != args.len() {
            self.sink.report(TypeError::Arity {
                name: name.name.clone(),
                expected: sig.params.len(),
                plural: if sig.params.len() == 1 { "" } else { "s" },
                found: args.len(),
                span,
            });
        }
        for (arg, (_, ty)) in args.iter().zip(&sig.params) {
            self.expect(arg, ty);
        }
        sig.ret
    }

    /// A built-in function's result type, if `name` is one; a function the package
    /// declares under the same name takes its place.
    fn builtin(&mut self, name: &str, args: &[Expr], span: Span) -> Option<Type> {
        let set_or_string = |ty: &Type| matches!(ty, Type::String | Type::Set(_) | Type::Unknown);
        let (params, ret): (&[Type], Type) = match name {
            "lower" | "upper" | "trim" => (&[Type::String], Type::String),
            "split" => (&[Type::String, Type::String], Type::Set(Box::new(Type::String))),
            "keys" | "values" => {
                if args.len() != 1 {
                    self.arity(name, 1, args.len(), span);
                }
                let mut element = Type::Unknown;
                for arg in args {
                    match self.infer(arg, None) {
                        Type::Map(value) => element = *value,
                        Type::Unknown => {}
                        other => self.bad_operand(name, &other, arg.span, Some("`keys` and `values` read a map")),
                    }
                }
                return Some(Type::Set(Box::new(if name == "keys" { Type::String } else { element })));
            }
            "len" => {
                if args.len() != 1 {
                    self.arity(name, 1, args.len(), span);
                }
                for arg in args {
                    let ty = self.infer(arg, None);
                    if !set_or_string(&ty) {
                        self.bad_operand(
                            "len",
                            &ty,
                            arg.span,
                            Some("`len` counts the characters of a string or the elements of a set"),
                        );
                    }
                }
                return Some(Type::Int);
            }
            _ => return None,
        };
        if args.len() != params.len() {
            self.arity(name, params.len(), args.len(), span);
        }
        for (arg, ty) in args.iter().zip(params) {
            self.expect(arg, ty);
        }
        Some(ret)
    }

    fn arity(&mut self, name: &str, expected: usize, found: usize, span: Span) {
        self.sink.report(TypeError::Arity {
            name: name.to_string(),
            expected,
            plural: if expected == 1 { "" } else { "s" },
            found,
            span,
        });
    }

    /// `timestamp(…)` and `date(…)`: a literal is read now; otherwise the argument is a
    /// string attribute of the request, which validation then requires to be a moment.
    fn moment(&mut self, name: &str, args: &[Expr], span: Span) -> Type {
        match args {
            [Expr { kind: ExprKind::Str(text), span: text_span, .. }] => {
                if let Err(error) = crate::syntax::literal::parse_moment(text) {
                    self.sink.report(TypeError::InvalidTimestamp {
                        text: text.clone(),
                        span: *text_span,
                        reason: error,
                    });
                }
            }
            [other] => match self.infer(other, None) {
                Type::Timestamp | Type::Unknown => {}
                Type::String if self.is_attribute_path(other) => {}
                Type::String => {
                    self.sink.report(TypeError::MomentArgument { name: name.to_string(), span: other.span })
                }
                found => self.sink.report(TypeError::Mismatch {
                    expected: "String".to_string(),
                    found: found.to_string(),
                    span: other.span,
                    help: Some(format!("`{name}` reads a string attribute or a timestamp")),
                }),
            },
            _ => self.sink.report(TypeError::Arity {
                name: name.to_string(),
                expected: 1,
                plural: "",
                found: args.len(),
                span,
            }),
        }
        Type::Timestamp
    }

    fn negate(&mut self, inner: &Expr) -> Type {
        let ty = self.infer(inner, None);
        match ty {
            Type::Int | Type::Decimal | Type::Duration | Type::Unknown => ty,
            other => {
                self.sink.report(TypeError::BadOperand {
                    op: "-".to_string(),
                    found: other.to_string(),
                    span: inner.span,
                    help: None,
                });
                Type::Unknown
            }
        }
    }

    /// Types both operands, letting a bare enum value or action name on one side take its
    /// type from the other side.
    fn operands(&mut self, left: &Expr, right: &Expr) -> (Type, Type) {
        let left_is_literal_name = matches!(&left.kind, ExprKind::Name(name) if !self.is_local(name));
        if left_is_literal_name {
            let right_ty = self.infer(right, None);
            let left_ty = self.infer(left, Some(&right_ty));
            (left_ty, right_ty)
        } else {
            let left_ty = self.infer(left, None);
            let expected = match &left_ty {
                Type::Unknown => None,
                _ => Some(left_ty.clone()),
            };
            let right_ty = self.infer(right, expected.as_ref());
            (left_ty, right_ty)
        }
    }

    fn binary(&mut self, op: BinaryOp, left: &Expr, right: &Expr, span: Span) -> Type {
        match op {
            BinaryOp::And | BinaryOp::Or => self.logical(op, left, right),
            BinaryOp::Eq | BinaryOp::Ne => {
                let (a, b) = self.operands(left, right);
                if !a.comparable(&b) {
                    let help = self.enum_help(&a, &b, right).or_else(|| self.enum_help(&b, &a, left));
                    self.incomparable(op, &a, &b, span, help);
                }
                Type::Bool
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let (a, b) = self.operands(left, right);
                let same_kind = a.comparable(&b) && a.ordered() && b.ordered();
                if !same_kind {
                    let help = Some("order compares numbers, durations, timestamps and values of one enum".to_string());
                    self.incomparable(op, &a, &b, span, help);
                }
                Type::Bool
            }
            BinaryOp::In => self.membership(left, right, span),
            BinaryOp::StartsWith | BinaryOp::EndsWith => {
                self.expect(left, &Type::String);
                self.expect(right, &Type::String);
                Type::Bool
            }
            BinaryOp::Contains => {
                let container = self.infer(left, None);
                match container {
                    Type::Set(element) => {
                        self.sink.resolve(span, NameRes::SetContains);
                        self.expect(right, &element);
                    }
                    Type::String => {
                        self.sink.resolve(span, NameRes::StrContains);
                        self.expect(right, &Type::String);
                    }
                    Type::Unknown => {
                        self.expect(right, &Type::String);
                    }
                    other => self.bad_operand(
                        "contains",
                        &other,
                        left.span,
                        Some("`contains` looks inside a string or a set"),
                    ),
                }
                Type::Bool
            }
            BinaryOp::Matches => {
                self.expect(left, &Type::String);
                self.pattern(right);
                Type::Bool
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => self.arithmetic(op, left, right, span),
        }
    }

    fn logical(&mut self, op: BinaryOp, left: &Expr, right: &Expr) -> Type {
        self.expect(left, &Type::Bool);
        let saved = self.facts.clone();
        let facts = if op == BinaryOp::And { Facts::when_true(left) } else { Facts::when_false(left) };
        self.facts.merge(facts);
        if self.unreachable() {
            self.sink.skip(right.span);
        } else {
            self.sink.check(right.span);
            self.expect(right, &Type::Bool);
        }
        self.facts = saved;
        Type::Bool
    }

    fn membership(&mut self, left: &Expr, right: &Expr, span: Span) -> Type {
        let element = self.infer(left, None);
        let expected = Type::Set(Box::new(element.clone()));
        let set = self.infer(right, (!element.is_unknown()).then_some(&expected));
        match &set {
            Type::Set(inner) => {
                if !element.comparable(inner) {
                    self.incomparable(BinaryOp::In, &element, &set, span, None);
                }
            }
            Type::Unknown => {}
            Type::String => {
                self.bad_operand("in", &set, right.span, Some("for substrings write `text contains \"part\"`"))
            }
            other => self.bad_operand(
                "in",
                other,
                right.span,
                Some("`in` looks for a value in a set, such as `[\"a\", \"b\"]`"),
            ),
        }
        Type::Bool
    }

    fn arithmetic(&mut self, op: BinaryOp, left: &Expr, right: &Expr, span: Span) -> Type {
        let a = self.infer(left, None);
        let b = self.infer(right, None);
        use Type::*;
        let result = match (op, &a, &b) {
            (_, Unknown, _) | (_, _, Unknown) => Some(Unknown),
            (_, Int, Int) => Some(Int),
            (_, Int | Decimal, Int | Decimal) => Some(Decimal),
            (BinaryOp::Add | BinaryOp::Sub, Duration, Duration) => Some(Duration),
            (BinaryOp::Mul, Duration, Int) | (BinaryOp::Mul, Int, Duration) => Some(Duration),
            (BinaryOp::Add | BinaryOp::Sub, Timestamp, Duration) | (BinaryOp::Add, Duration, Timestamp) => {
                Some(Timestamp)
            }
            (BinaryOp::Sub, Timestamp, Timestamp) => Some(Duration),
            _ => None,
        };
        result.unwrap_or_else(|| {
            self.sink.report(TypeError::BadArithmetic {
                op: op.symbol().to_string(),
                left: a.to_string(),
                right: b.to_string(),
                span,
            });
            Unknown
        })
    }

    /// `m has "key"` or `m has (expr)`: the key is a string, the base a map.
    fn has_key(&mut self, inner: &Expr, key: &Expr) -> Type {
        match self.infer(inner, None) {
            Type::Map(_) | Type::Unknown => {}
            other => {
                let help = "`has \"…\"` and `has (…)` test a map's key; a record's attribute is `has NAME`";
                self.bad_operand("has", &other, inner.span, Some(help));
            }
        }
        self.expect(key, &Type::String);
        Type::Bool
    }

    /// `m[key]`: the map's value at a key that a `has` before it proved present.
    fn index(&mut self, inner: &Expr, key: &Expr) -> Type {
        let base = self.infer(inner, None);
        self.expect(key, &Type::String);
        let value = match base {
            Type::Map(value) => *value,
            Type::Unknown => return Type::Unknown,
            other => {
                self.bad_operand("[…]", &other, inner.span, Some("`m[key]` reads a map; records use `r.name`"));
                return Type::Unknown;
            }
        };
        let path = path_key(inner).map(|path| key_fact(&path, &print_expr(key)));
        if !path.as_ref().is_some_and(|path| self.facts.present.contains(path)) {
            let guard = match &key.kind {
                ExprKind::Str(text) => format!("{} has {}", print_expr(inner), quote(text)),
                _ => format!("{} has ({})", print_expr(inner), print_expr(key)),
            };
            self.sink.report(TypeError::UnguardedKey {
                span: key.span,
                help: Some(format!("check that it is present first: `{guard} and …`")),
            });
        }
        value
    }

    fn has(&mut self, inner: &Expr, name: &Ident) -> Type {
        let base = self.infer(inner, None);
        let record = match &base {
            // A map's key written as a name: `args.headers has trace`.
            Type::Map(_) => None,
            Type::Record(record) => Some(record.clone()),
            Type::Resource(resource) => self.env.resources.get(resource).cloned(),
            Type::Task(Some(kind)) => self.env.tasks.get(kind).map(|sig| {
                let mut record = sig.record();
                for (name, ty) in TASK_BUILTINS {
                    record.fields.insert(name.to_string(), Field { ty: ty.clone(), optional: false });
                }
                Arc::new(record)
            }),
            Type::Task(None) => {
                let help = "say which task first: `task is KIND and task has …`";
                self.bad_operand("has", &base, inner.span, Some(help));
                None
            }
            Type::Unknown => None,
            other => {
                self.bad_operand("has", other, inner.span, Some("`has` tests an attribute of a record or resource"));
                None
            }
        };
        if let Some(record) = record {
            if let Some(found) = record.get(&name.name) {
                let owner = match &base {
                    Type::Task(_) if TASK_BUILTINS.iter().any(|(builtin, _)| *builtin == name.name) => {
                        AttrOwner::TaskBuiltin
                    }
                    _ => self.attr_owner(inner, &base),
                };
                let reading = AttrRes { owner, ty: found.ty.clone(), optional: found.optional };
                self.sink.attribute(name.span, reading);
            } else {
                let help = did_you_mean(&name.name, record.fields.keys().map(String::as_str));
                self.sink.report(ResolveError::UnknownAttribute {
                    attr: name.name.clone(),
                    owner: format!("`{}`", print_expr(inner)),
                    span: name.span,
                    help,
                });
            }
        }
        Type::Bool
    }

    fn is(&mut self, inner: &Expr, name: &Ident) -> Type {
        match self.infer(inner, None) {
            Type::Task(_) => {
                if !self.env.tasks.contains_key(&name.name) {
                    let help = did_you_mean(&name.name, self.env.tasks.keys().map(String::as_str));
                    self.sink.report(ResolveError::UnknownTask { name: name.name.clone(), span: name.span, help });
                }
            }
            Type::Resource(_) => {
                if !self.env.resources.contains_key(&name.name) {
                    let help = did_you_mean(&name.name, self.env.resources.keys().map(String::as_str));
                    self.sink.report(ResolveError::UnknownResourceType {
                        name: name.name.clone(),
                        span: name.span,
                        help,
                    });
                }
            }
            Type::Unknown => {}
            other => self.bad_operand(
                "is",
                &other,
                inner.span,
                Some("`is` tests the kind of `task` or the type of `resource`"),
            ),
        }
        Type::Bool
    }

    fn set(&mut self, items: &[Expr], expected: Option<&Type>) -> Type {
        let mut element = match expected {
            Some(Type::Set(inner)) => (**inner).clone(),
            _ => Type::Unknown,
        };
        for item in items {
            if element.is_unknown() {
                element = self.infer(item, None);
            } else if element == Type::Int {
                // A decimal among integers makes the set's elements decimals.
                if self.expect(item, &Type::Decimal) == Type::Decimal {
                    element = Type::Decimal;
                }
            } else {
                self.expect(item, &element.clone());
            }
        }
        Type::Set(Box::new(element))
    }

    fn quantifier(&mut self, quantifier: Quantifier, var: &Ident, set: &Expr, body: &Expr) -> Type {
        let element = match self.infer(set, None) {
            Type::Set(inner) => *inner,
            Type::Unknown => Type::Unknown,
            other => {
                let keyword = if quantifier == Quantifier::Any { "any" } else { "all" };
                self.bad_operand(keyword, &other, set.span, Some("`any` and `all` range over a set"));
                Type::Unknown
            }
        };
        self.locals.push((var.name.clone(), element));
        self.expect(body, &Type::Bool);
        self.locals.pop();
        Type::Bool
    }

    fn pattern(&mut self, pattern: &Expr) {
        match &pattern.kind {
            ExprKind::Str(text) => {
                if let Err(reason) = crate::semantics::validate_pattern(text) {
                    self.sink.report(TypeError::InvalidPattern { reason, span: pattern.span });
                }
            }
            // A task parameter: fixed for the task instance, known when it is opened.
            _ if path_key(pattern).is_some_and(|path| path.starts_with("task.")) => {
                self.expect(pattern, &Type::String);
            }
            _ => {
                self.infer(pattern, None);
                self.sink.report(TypeError::NotLiteral {
                    op: "matches".to_string(),
                    span: pattern.span,
                    help: Some(
                        "a pattern is a literal, such as `\"T-*\"`, or a task parameter, such as `task.folder`"
                            .to_string(),
                    ),
                });
            }
        }
    }

    /// When an enum is compared with a string: the enum value to write instead.
    fn enum_help(&self, enum_type: &Type, other: &Type, other_expr: &Expr) -> Option<String> {
        let (Type::Enum(name), Type::String) = (enum_type, other) else { return None };
        let variants = self.env.enums.get(name)?;
        if let ExprKind::Str(text) = &other_expr.kind {
            if variants.contains(text) {
                return Some(format!("`{name}` values are written without quotes: `{text}`"));
            }
        }
        Some(format!("compare with a value of `{name}`: {}", variants.join(", ")))
    }

    fn incomparable(&mut self, op: BinaryOp, left: &Type, right: &Type, span: Span, help: Option<String>) {
        self.sink.report(TypeError::Incomparable {
            left: left.to_string(),
            right: right.to_string(),
            op: op.symbol().to_string(),
            span,
            help,
        });
    }

    fn bad_operand(&mut self, op: &str, found: &Type, span: Span, help: Option<&str>) {
        self.sink.report(TypeError::BadOperand {
            op: op.to_string(),
            found: found.to_string(),
            span,
            help: help.map(str::to_string),
        });
    }
}
