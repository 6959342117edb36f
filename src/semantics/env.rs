//! The package environment: every declaration of every file, resolved and span-free.
//!
//! Checking a file needs to know what the *other* files declare, but not where. So each
//! file is first summarised into [`FileSymbols`] (names and written types, no spans), and
//! the summaries of a package are merged into one [`Env`]. Editing a policy body leaves
//! the file's summary, and so the environment, unchanged, and the incremental database
//! then re-checks only the edited file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::types::{Field, RecordType, Type};
use crate::syntax::ast::{self, Ident, Item, SchemaItem, TypeExpr};

/// Kinds of declarations whose names must be unique within a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    Type,
    Action,
    Task,
    Function,
    Fragment,
    Policy,
    Bound,
    Assert,
    Test,
}

impl Namespace {
    pub fn noun(self) -> &'static str {
        match self {
            Namespace::Type => "type",
            Namespace::Action => "action",
            Namespace::Task => "task",
            Namespace::Function => "function",
            Namespace::Fragment => "scope fragment",
            Namespace::Policy => "policy",
            Namespace::Bound => "bound",
            Namespace::Assert => "assertion",
            Namespace::Test => "test",
        }
    }
}

/// A type as written, without spans.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeRef {
    /// A type the parser already rejected.
    Error,
    Named(String),
    Set(Box<TypeRef>),
    /// `Map<String, T>`: the value type (keys are strings; the checker says so).
    Map(Box<TypeRef>),
    Record(Vec<AttrRef>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrRef {
    pub name: String,
    pub optional: bool,
    pub ty: TypeRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SchemaSymbol {
    Agent(Vec<AttrRef>),
    Resource(String, Vec<AttrRef>),
    Enum(String, Vec<String>),
    Record(String, Vec<AttrRef>),
    Action { names: Vec<String>, params: Vec<AttrRef>, on: Vec<String>, many: bool },
    Context(Vec<AttrRef>),
    Behavior(Vec<AttrRef>),
}

/// What one file declares, without spans.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FileSymbols {
    pub names: Vec<(Namespace, String)>,
    pub schema: Vec<SchemaSymbol>,
    /// Tasks: name, parameters, and a composite's parts.
    pub tasks: Vec<(String, Vec<TaskParamRef>, Vec<String>)>,
    pub functions: Vec<(String, Vec<ParamRef>, TypeRef)>,
    /// Scope fragments: name and parameters.
    pub fragments: Vec<(String, Vec<ParamRef>)>,
}

/// A parameter's name and written type.
pub type ParamRef = (String, TypeRef);

/// A task parameter as written: whether it may be left out, and its default.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskParamRef {
    pub attr: AttrRef,
    pub default: Option<Literal>,
}

/// A literal as written, without spans: what a default value may be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Decimal(String),
    Str(String),
    Duration(i64),
    /// An enum value, by its bare name.
    Name(String),
    Neg(Box<Literal>),
    Set(Vec<Literal>),
}

impl Literal {
    /// The literal an expression is, if it is one.
    pub fn of(expr: &ast::Expr) -> Option<Literal> {
        use ast::ExprKind;
        Some(match &expr.kind {
            ExprKind::Bool(value) => Literal::Bool(*value),
            ExprKind::Int(value) => Literal::Int(*value),
            ExprKind::Decimal(text) => Literal::Decimal(text.clone()),
            ExprKind::Str(text) => Literal::Str(text.clone()),
            ExprKind::Duration(nanos) => Literal::Duration(*nanos),
            ExprKind::Name(name) => Literal::Name(name.clone()),
            ExprKind::Path(path) => Literal::Name(path.last()?.name.clone()),
            ExprKind::Unary(ast::UnaryOp::Neg, inner) => Literal::Neg(Box::new(Literal::of(inner)?)),
            ExprKind::Set(items) => Literal::Set(items.iter().map(Literal::of).collect::<Option<Vec<_>>>()?),
            _ => return None,
        })
    }
}

/// Every name a file declares, in source order, with its span.
pub fn declared_names(file: &ast::File) -> Vec<(Namespace, &Ident)> {
    let mut names = Vec::new();
    for item in &file.items {
        match item {
            Item::Schema(block) => {
                for schema_item in &block.items {
                    match schema_item {
                        SchemaItem::Resource { name, .. }
                        | SchemaItem::Enum { name, .. }
                        | SchemaItem::Record { name, .. } => names.push((Namespace::Type, name)),
                        SchemaItem::Action(action) => {
                            names.extend(action.names.iter().map(|name| (Namespace::Action, name)));
                        }
                        _ => {}
                    }
                }
            }
            Item::Task(task) => names.push((Namespace::Task, &task.name)),
            Item::Policy(policy) => names.push((Namespace::Policy, &policy.name)),
            Item::Bound(bound) => names.push((Namespace::Bound, &bound.name)),
            Item::Assert(assert) => names.extend(assert.name.iter().map(|name| (Namespace::Assert, name))),
            Item::Function(function) => names.push((Namespace::Function, &function.name)),
            Item::Fragment(fragment) => names.push((Namespace::Fragment, &fragment.name)),
            Item::Test(test) => names.push((Namespace::Test, &test.name)),
            Item::Use(_) | Item::Error(_) => {}
        }
    }
    names
}

/// Summarises a parsed file.
pub fn collect_symbols(file: &ast::File) -> FileSymbols {
    let names = declared_names(file).into_iter().map(|(namespace, ident)| (namespace, ident.name.clone())).collect();
    let mut symbols = FileSymbols { names, ..FileSymbols::default() };
    for item in &file.items {
        match item {
            Item::Schema(block) => symbols.schema.extend(block.items.iter().filter_map(schema_symbol)),
            Item::Task(task) => symbols.tasks.push((
                task.name.name.clone(),
                task_param_refs(&task.params),
                task.parts.iter().map(|part| part.name.clone()).collect(),
            )),
            Item::Function(function) => symbols.functions.push((
                function.name.name.clone(),
                param_refs(&function.params),
                type_ref(&function.ret),
            )),
            Item::Fragment(fragment) => {
                symbols.fragments.push((fragment.name.name.clone(), param_refs(&fragment.params)))
            }
            _ => {}
        }
    }
    symbols
}

fn schema_symbol(item: &SchemaItem) -> Option<SchemaSymbol> {
    Some(match item {
        SchemaItem::Agent { attrs, .. } => SchemaSymbol::Agent(attr_refs(attrs)),
        SchemaItem::Resource { name, attrs, .. } => SchemaSymbol::Resource(name.name.clone(), attr_refs(attrs)),
        SchemaItem::Enum { name, variants, .. } => {
            SchemaSymbol::Enum(name.name.clone(), variants.iter().map(|variant| variant.name.clone()).collect())
        }
        SchemaItem::Record { name, fields, .. } => SchemaSymbol::Record(name.name.clone(), attr_refs(fields)),
        SchemaItem::Action(action) => SchemaSymbol::Action {
            names: action.names.iter().map(|name| name.name.clone()).collect(),
            params: action
                .params
                .iter()
                .map(|param| AttrRef {
                    name: param.name.name.clone(),
                    optional: param.optional,
                    ty: type_ref(&param.ty),
                })
                .collect(),
            on: action.on.iter().map(|name| name.name.clone()).collect(),
            many: action.many,
        },
        SchemaItem::Context { attrs, .. } => SchemaSymbol::Context(attr_refs(attrs)),
        SchemaItem::Behavior { attrs, .. } => SchemaSymbol::Behavior(attr_refs(attrs)),
        SchemaItem::Error(_) => return None,
    })
}

fn attr_refs(attrs: &[ast::AttrDecl]) -> Vec<AttrRef> {
    attrs
        .iter()
        .map(|attr| AttrRef { name: attr.name.name.clone(), optional: attr.optional, ty: type_ref(&attr.ty) })
        .collect()
}

fn task_param_refs(params: &[ast::Param]) -> Vec<TaskParamRef> {
    params
        .iter()
        .map(|param| TaskParamRef {
            attr: AttrRef { name: param.name.name.clone(), optional: param.optional, ty: type_ref(&param.ty) },
            default: param.default.as_ref().and_then(Literal::of),
        })
        .collect()
}

fn param_refs(params: &[ast::Param]) -> Vec<(String, TypeRef)> {
    params.iter().map(|param| (param.name.name.clone(), type_ref(&param.ty))).collect()
}

pub fn type_ref(ty: &TypeExpr) -> TypeRef {
    match ty {
        TypeExpr::Named(name) => TypeRef::Named(name.name.clone()),
        TypeExpr::Set(inner, _) => TypeRef::Set(Box::new(type_ref(inner))),
        TypeExpr::Map(_, value, _) => TypeRef::Map(Box::new(type_ref(value))),
        TypeExpr::Record(attrs, _) => TypeRef::Record(attr_refs(attrs)),
        TypeExpr::Error(_) => TypeRef::Error,
    }
}

/// Where a name was declared: the index of the file in the package and the position of
/// the declaration among that file's [`FileSymbols::names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Site {
    pub file: usize,
    pub ordinal: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActionSig {
    /// The action's name, shared by every request that names it.
    pub name: Arc<str>,
    pub params: Arc<RecordType>,
    pub param_order: Vec<String>,
    pub on: Vec<String>,
    /// `on Set<T>`: a request may name several resources.
    pub many: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskSig {
    pub params: Vec<(String, Type)>,
    /// Parameters an instance may leave out (read them behind `task has NAME`).
    pub optional: BTreeSet<String>,
    /// Values of parameters an instance leaves out, filled in when it is validated.
    pub defaults: BTreeMap<String, Literal>,
    /// A composite's parts; empty for a task declared with its own scope.
    pub parts: Vec<String>,
}

impl TaskSig {
    /// The parameters as a record type: what an instance must and may carry.
    pub fn record(&self) -> RecordType {
        let mut record = RecordType::default();
        for (name, ty) in &self.params {
            let optional = self.optional.contains(name) || self.defaults.contains_key(name);
            record.fields.insert(name.clone(), Field { ty: ty.clone(), optional });
        }
        record
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FnSig {
    pub params: Vec<(String, Type)>,
    pub ret: Type,
    /// The module that declares the function (`time` for `std::time`), if any.
    pub module: Option<String>,
}

/// Attributes every agent has, whatever the schema says.
pub const AGENT_BUILTINS: &[(&str, Type)] = &[("id", Type::String)];
/// Attributes every resource has.
pub const RESOURCE_BUILTINS: &[(&str, Type)] = &[("id", Type::String)];
/// Attributes every request context has.
pub const CONTEXT_BUILTINS: &[(&str, Type)] = &[("time", Type::Timestamp)];
/// Behavioral signals every request carries; a request that leaves one out reads it as
/// `0` or `false` (no evidence). `warming_up` says the agent's profile is too young to
/// give the others (`docs/behavior.md`).
pub const BEHAVIOR_BUILTINS: &[(&str, Type)] = &[
    ("risk", Type::Decimal),
    ("novel_resource", Type::Bool),
    ("novel_action", Type::Bool),
    ("rate_z", Type::Decimal),
    ("warming_up", Type::Bool),
];
/// Fields of every task instance, besides its parameters.
pub const TASK_BUILTINS: &[(&str, Type)] =
    &[("id", Type::String), ("start", Type::Timestamp), ("deadline", Type::Timestamp)];
/// Integer fields of a timestamp, in UTC.
pub const TIMESTAMP_FIELDS: &[&str] = &["year", "month", "day", "hour", "minute", "second", "weekday"];

/// The merged, resolved declarations of a package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Env {
    pub sites: BTreeMap<(Namespace, String), Vec<Site>>,
    pub enums: BTreeMap<String, Vec<String>>,
    pub records: BTreeMap<String, Arc<RecordType>>,
    /// Named records that contain themselves.
    pub recursive_records: BTreeSet<String>,
    pub resources: BTreeMap<String, Arc<RecordType>>,
    pub actions: BTreeMap<String, ActionSig>,
    pub tasks: BTreeMap<String, TaskSig>,
    pub functions: BTreeMap<String, FnSig>,
    /// Scope fragments' parameters, by fragment name.
    pub fragments: BTreeMap<String, Vec<(String, Type)>>,
    pub agent: Arc<RecordType>,
    pub context: Arc<RecordType>,
    pub behavior: Arc<RecordType>,
    pub chain: Arc<RecordType>,
}

impl Env {
    /// Merges the summaries of a package's files, in package order. The first
    /// declaration of a duplicated name wins; duplicates are reported per file. Imported
    /// modules count as declared first, so a package file that reuses a module's name is
    /// the one reported.
    pub fn build(files: &[(Option<String>, &FileSymbols)]) -> Env {
        let mut env = Env::default();
        let mut order: Vec<(usize, &(Option<String>, &FileSymbols))> = files.iter().enumerate().collect();
        order.sort_by_key(|(index, (module, _))| (module.is_none(), *index));
        for (index, (_, symbols)) in order {
            for (ordinal, (namespace, name)) in symbols.names.iter().enumerate() {
                let site = Site { file: index, ordinal };
                env.sites.entry((*namespace, name.clone())).or_default().push(site);
            }
        }
        let schema: Vec<&SchemaSymbol> = files.iter().flat_map(|(_, symbols)| &symbols.schema).collect();
        env.declare_types(&schema);
        env.declare_attribute_blocks(&schema);
        env.declare_actions(&schema);
        for (module, symbols) in files {
            for (name, params, _) in symbols.tasks.iter().filter(|(_, _, parts)| parts.is_empty()) {
                let sig = env.task_sig(params);
                env.tasks.entry(name.clone()).or_insert(sig);
            }
            for (name, params, ret) in &symbols.functions {
                let params = params.iter().map(|(param, ty)| (param.clone(), env.resolve(ty))).collect();
                let sig = FnSig { params, ret: env.resolve(ret), module: module.clone() };
                env.functions.entry(name.clone()).or_insert(sig);
            }
            for (name, params) in &symbols.fragments {
                let params = params.iter().map(|(param, ty)| (param.clone(), env.resolve(ty))).collect();
                env.fragments.entry(name.clone()).or_insert(params);
            }
        }
        // A composite carries its parts' parameters (the first part that declares a name
        // gives its type; the checker reports a conflict).
        for (_, symbols) in files {
            for (name, _, parts) in symbols.tasks.iter().filter(|(_, _, parts)| !parts.is_empty()) {
                let mut sig = TaskSig {
                    params: Vec::new(),
                    optional: BTreeSet::new(),
                    defaults: BTreeMap::new(),
                    parts: Vec::new(),
                };
                for part in parts.iter().filter_map(|part| env.tasks.get(part)) {
                    for (param, ty) in &part.params {
                        if sig.params.iter().all(|(own, _)| own != param) {
                            sig.params.push((param.clone(), ty.clone()));
                        }
                    }
                    sig.optional.extend(part.optional.iter().cloned());
                    for (param, default) in &part.defaults {
                        sig.defaults.entry(param.clone()).or_insert_with(|| default.clone());
                    }
                }
                sig.parts = parts.clone();
                env.tasks.entry(name.clone()).or_insert(sig);
            }
        }
        env
    }

    fn declare_types(&mut self, schema: &[&SchemaSymbol]) {
        for symbol in schema {
            if let SchemaSymbol::Enum(name, variants) = symbol {
                self.enums.entry(name.clone()).or_insert_with(|| variants.clone());
            }
        }
        let record_refs: BTreeMap<&String, &Vec<AttrRef>> = schema
            .iter()
            .filter_map(|symbol| match symbol {
                SchemaSymbol::Record(name, fields) => Some((name, fields)),
                _ => None,
            })
            .rev()
            .collect();
        for name in record_refs.keys() {
            let mut visiting = Vec::new();
            self.resolve_named_record(name, &record_refs, &mut visiting);
        }
        for symbol in schema {
            if let SchemaSymbol::Resource(name, attrs) = symbol {
                if !self.resources.contains_key(name) {
                    let record = self.record_with_builtins(attrs, RESOURCE_BUILTINS);
                    self.resources.insert(name.clone(), record);
                }
            }
        }
    }

    fn resolve_named_record(
        &mut self,
        name: &str,
        refs: &BTreeMap<&String, &Vec<AttrRef>>,
        visiting: &mut Vec<String>,
    ) -> Type {
        if let Some(record) = self.records.get(name) {
            return Type::Record(record.clone());
        }
        if visiting.iter().any(|seen| seen == name) {
            self.recursive_records.extend(visiting.iter().cloned());
            return Type::Unknown;
        }
        let Some(fields) = refs.get(&name.to_string()) else { return Type::Unknown };
        visiting.push(name.to_string());
        let mut record = RecordType::default();
        for attr in fields.iter() {
            let ty = self.resolve_with_records(&attr.ty, refs, visiting);
            record.fields.entry(attr.name.clone()).or_insert(Field { ty, optional: attr.optional });
        }
        visiting.pop();
        let record = Arc::new(record);
        self.records.insert(name.to_string(), record.clone());
        Type::Record(record)
    }

    fn resolve_with_records(
        &mut self,
        ty: &TypeRef,
        refs: &BTreeMap<&String, &Vec<AttrRef>>,
        visiting: &mut Vec<String>,
    ) -> Type {
        match ty {
            TypeRef::Named(name) if refs.contains_key(name) => self.resolve_named_record(name, refs, visiting),
            TypeRef::Set(inner) => Type::Set(Box::new(self.resolve_with_records(inner, refs, visiting))),
            TypeRef::Map(inner) => Type::Map(Box::new(self.resolve_with_records(inner, refs, visiting))),
            TypeRef::Record(attrs) => {
                let mut record = RecordType::default();
                for attr in attrs {
                    let field_ty = self.resolve_with_records(&attr.ty, refs, visiting);
                    record.fields.entry(attr.name.clone()).or_insert(Field { ty: field_ty, optional: attr.optional });
                }
                Type::Record(Arc::new(record))
            }
            other => self.resolve(other),
        }
    }

    fn declare_attribute_blocks(&mut self, schema: &[&SchemaSymbol]) {
        let gather = |pick: fn(&SchemaSymbol) -> Option<&Vec<AttrRef>>| -> Vec<AttrRef> {
            schema.iter().filter_map(|symbol| pick(symbol)).flatten().cloned().collect()
        };
        let agent = gather(|symbol| match symbol {
            SchemaSymbol::Agent(attrs) => Some(attrs),
            _ => None,
        });
        let context = gather(|symbol| match symbol {
            SchemaSymbol::Context(attrs) => Some(attrs),
            _ => None,
        });
        let behavior = gather(|symbol| match symbol {
            SchemaSymbol::Behavior(attrs) => Some(attrs),
            _ => None,
        });
        self.agent = self.record_with_builtins(&agent, AGENT_BUILTINS);
        self.context = self.record_with_builtins(&context, CONTEXT_BUILTINS);
        self.behavior = self.record_with_builtins(&behavior, BEHAVIOR_BUILTINS);
        self.chain = Arc::new(RecordType {
            fields: [
                ("depth", Type::Int),
                ("sponsor", Type::String),
                ("root", Type::String),
                ("delegator", Type::String),
                ("links", Type::Set(Box::new(Type::String))),
            ]
            .into_iter()
            .map(|(name, ty)| (name.to_string(), Field { ty, optional: false }))
            .collect(),
        });
    }

    fn task_sig(&self, params: &[TaskParamRef]) -> TaskSig {
        let mut sig =
            TaskSig { params: Vec::new(), optional: BTreeSet::new(), defaults: BTreeMap::new(), parts: Vec::new() };
        for param in params {
            let ty = self.resolve(&param.attr.ty);
            if param.attr.optional {
                sig.optional.insert(param.attr.name.clone());
            }
            // A default that is not a value of the type is the checker's error.
            if let Some(default) = param.default.as_ref().filter(|default| self.check_literal(default, &ty).is_ok()) {
                sig.defaults.insert(param.attr.name.clone(), default.clone());
            }
            sig.params.push((param.attr.name.clone(), ty));
        }
        sig
    }

    /// Whether a literal is a value of `ty`, and if not, why.
    pub fn check_literal(&self, literal: &Literal, ty: &Type) -> Result<(), String> {
        use crate::syntax::literal::DECIMAL_SCALE;
        match (literal, ty) {
            (Literal::Bool(_), Type::Bool)
            | (Literal::Int(_), Type::Int)
            | (Literal::Str(_), Type::String)
            | (Literal::Duration(_), Type::Duration) => Ok(()),
            (Literal::Int(value), Type::Decimal) => match value.checked_mul(DECIMAL_SCALE) {
                Some(_) => Ok(()),
                None => Err("out of the range of a decimal".to_string()),
            },
            // The parser already reported a decimal it could not read.
            (Literal::Decimal(_), Type::Decimal) => Ok(()),
            (Literal::Neg(inner), Type::Int | Type::Decimal | Type::Duration) => self.check_literal(inner, ty),
            (Literal::Name(variant), Type::Enum(name)) => {
                let variants = self.enums.get(name).map(Vec::as_slice).unwrap_or_default();
                match variants.contains(variant) {
                    true => Ok(()),
                    false => Err(format!("`{variant}` is not a value of enum `{name}`")),
                }
            }
            (Literal::Set(items), Type::Set(element)) => {
                items.iter().try_for_each(|item| self.check_literal(item, element))
            }
            _ => Err(format!("expected a value of type `{ty}`")),
        }
    }

    fn declare_actions(&mut self, schema: &[&SchemaSymbol]) {
        for symbol in schema {
            if let SchemaSymbol::Action { names, params, on, many } = symbol {
                let mut record = RecordType::default();
                for param in params {
                    let field = Field { ty: self.resolve(&param.ty), optional: param.optional };
                    record.fields.entry(param.name.clone()).or_insert(field);
                }
                let sig = ActionSig {
                    name: Arc::from(""),
                    params: Arc::new(record),
                    param_order: params.iter().map(|param| param.name.clone()).collect(),
                    on: on.clone(),
                    many: *many,
                };
                for name in names {
                    let named = || ActionSig { name: Arc::from(name.as_str()), ..sig.clone() };
                    self.actions.entry(name.clone()).or_insert_with(named);
                }
            }
        }
    }

    fn record_with_builtins(&self, attrs: &[AttrRef], builtins: &[(&str, Type)]) -> Arc<RecordType> {
        let mut record = RecordType::default();
        for (name, ty) in builtins {
            record.fields.insert(name.to_string(), Field { ty: ty.clone(), optional: false });
        }
        for attr in attrs {
            record
                .fields
                .entry(attr.name.clone())
                .or_insert(Field { ty: self.resolve(&attr.ty), optional: attr.optional });
        }
        Arc::new(record)
    }

    /// Resolves a written type; unknown names resolve to [`Type::Unknown`].
    pub fn resolve(&self, ty: &TypeRef) -> Type {
        match ty {
            TypeRef::Error => Type::Unknown,
            TypeRef::Named(name) => self.resolve_name(name).unwrap_or(Type::Unknown),
            TypeRef::Set(inner) => Type::Set(Box::new(self.resolve(inner))),
            TypeRef::Map(inner) => Type::Map(Box::new(self.resolve(inner))),
            TypeRef::Record(attrs) => {
                let mut record = RecordType::default();
                for attr in attrs {
                    record
                        .fields
                        .entry(attr.name.clone())
                        .or_insert(Field { ty: self.resolve(&attr.ty), optional: attr.optional });
                }
                Type::Record(Arc::new(record))
            }
        }
    }

    /// The type a name denotes in a type position, if any.
    pub fn resolve_name(&self, name: &str) -> Option<Type> {
        Some(match name {
            "Bool" => Type::Bool,
            "Int" => Type::Int,
            "Decimal" => Type::Decimal,
            "String" => Type::String,
            "Duration" => Type::Duration,
            // A day, written as tools send it ("2026-12-24"): a timestamp at its first
            // instant, so it compares with times and takes durations.
            "Timestamp" | "Date" => Type::Timestamp,
            _ if self.enums.contains_key(name) => Type::Enum(name.to_string()),
            _ => Type::Record(self.records.get(name)?.clone()),
        })
    }

    /// Names usable in a type position, for suggestions.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        ["Bool", "Int", "Decimal", "String", "Duration", "Timestamp", "Date", "Set"]
            .into_iter()
            .chain(self.enums.keys().map(String::as_str))
            .chain(self.records.keys().map(String::as_str))
    }

    /// Resource types an action applies to.
    pub fn applies_to(&self, action: &str) -> &[String] {
        self.actions.get(action).map(|sig| sig.on.as_slice()).unwrap_or_default()
    }
}
