//! Checks the declarations of one file against the package environment.
//!
//! This is the per-file half of checking: it needs the file's syntax tree and the
//! span-free [`Env`] of the package, nothing else, so it can run for one edited file
//! while the rest of the package keeps its results.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::env::{
    declared_names, type_ref, Env, Namespace, Site, AGENT_BUILTINS, BEHAVIOR_BUILTINS, CONTEXT_BUILTINS,
    RESOURCE_BUILTINS,
};
use super::errors::{Lint, ResolveError, TypeError};
use super::expr::{EnvResource, ExprChecker, Facts, Place, RequestEnv};
use super::suggest::{did_you_mean, similar};
use super::types::{RecordType, Type};
use super::Sink;
use crate::diagnostics::Diagnostic;
use crate::syntax::ast::*;

/// Finds where another declaration of the package is, for "first declared here" notes.
pub type Locate<'a> = &'a dyn Fn(Site) -> Option<(Arc<str>, Span)>;

/// Checks every declaration of `file`, the `index`-th file of its package.
/// `syntax_errors` are where the parser reported mistakes: a declaration cut short by one
/// is not checked, so a syntax error is not followed by errors about its leftovers.
pub fn check_file(
    env: &Env,
    file: &File,
    index: usize,
    name: &Arc<str>,
    syntax_errors: &[Span],
    locate: Locate<'_>,
) -> super::Checked {
    let mut checker = FileChecker { env, sink: Sink::new(name.clone()) };
    checker.duplicates(file, index, locate);
    if file.items.is_empty() && syntax_errors.is_empty() {
        checker.sink.report(Lint::EmptyFile { span: Span::default() });
    }
    let cut_short = cut_short_items(file, syntax_errors);
    for (position, item) in file.items.iter().enumerate() {
        if cut_short.contains(&position) {
            continue;
        }
        match item {
            Item::Schema(block) => checker.schema(block),
            Item::Task(task) => checker.task(task),
            Item::Policy(policy) => checker.policy(policy),
            Item::Bound(bound) => checker.bound(bound),
            Item::Assert(assert) => checker.assert(assert),
            Item::Function(function) => checker.function(function),
            Item::Fragment(fragment) => checker.fragment(fragment),
            Item::Test(test) => checker.test(test),
            Item::Use(_) | Item::Error(_) => {}
        }
    }
    checker.sink.into_checked()
}

/// Items that end right before a syntax error, with no other item between: the parser
/// closed them early when it hit the error.
fn cut_short_items(file: &File, syntax_errors: &[Span]) -> Vec<usize> {
    syntax_errors
        .iter()
        .filter_map(|error| {
            file.items.iter().rposition(|item| !matches!(item, Item::Error(_)) && item.span().start < error.start)
        })
        .collect()
}

struct FileChecker<'a> {
    env: &'a Env,
    sink: Sink,
}

impl<'a> FileChecker<'a> {
    fn exprs(&mut self, place: Place, request: RequestEnv) -> ExprChecker<'_> {
        ExprChecker::new(self.env, place, request, &mut self.sink)
    }

    fn duplicates(&mut self, file: &File, index: usize, locate: Locate<'_>) {
        for (ordinal, (namespace, ident)) in declared_names(file).into_iter().enumerate() {
            let Some(sites) = self.env.sites.get(&(namespace, ident.name.clone())) else { continue };
            let Some(first) = sites.first() else { continue };
            if *first == (Site { file: index, ordinal }) {
                continue;
            }
            let error = ResolveError::Duplicate { noun: namespace.noun(), name: ident.name.clone(), span: ident.span };
            let mut diagnostic = Diagnostic::from_miette(&error, self.sink.file());
            if let Some((other, span)) = locate(*first) {
                diagnostic = diagnostic.with_related(other, span, format!("`{}` is first declared here", ident.name));
            }
            self.sink.push(diagnostic);
        }
    }

    // --- schema -------------------------------------------------------------------------

    fn schema(&mut self, block: &SchemaBlock) {
        for item in &block.items {
            match item {
                SchemaItem::Agent { attrs, .. } => self.attrs(attrs, Some(("agent", AGENT_BUILTINS))),
                SchemaItem::Resource { attrs, .. } => self.attrs(attrs, Some(("resource", RESOURCE_BUILTINS))),
                SchemaItem::Context { attrs, .. } => self.attrs(attrs, Some(("context", CONTEXT_BUILTINS))),
                SchemaItem::Behavior { attrs, .. } => self.attrs(attrs, Some(("behavior", BEHAVIOR_BUILTINS))),
                SchemaItem::Record { name, fields, .. } => {
                    if self.env.recursive_records.contains(&name.name) {
                        self.sink.report(ResolveError::RecursiveRecord { name: name.name.clone(), span: name.span });
                    }
                    self.attrs(fields, None);
                }
                SchemaItem::Enum { variants, .. } => self.enum_variants(variants),
                SchemaItem::Action(action) => self.action_decl(action),
                SchemaItem::Error(_) => {}
            }
        }
    }

    fn attrs(&mut self, attrs: &[AttrDecl], builtins: Option<(&'static str, &[(&str, Type)])>) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for attr in attrs {
            if let Some(first) = seen.insert(&attr.name.name, attr.name.span) {
                self.sink.report(ResolveError::DuplicateAttribute {
                    name: attr.name.name.clone(),
                    span: attr.name.span,
                    first,
                });
            }
            if let Some((owner, builtins)) = builtins {
                if builtins.iter().any(|(name, _)| *name == attr.name.name) {
                    self.sink.report(ResolveError::BuiltinAttribute {
                        name: attr.name.name.clone(),
                        owner,
                        span: attr.name.span,
                    });
                }
            }
            let declared = self.type_expr(&attr.ty);
            if let Some(history) = &attr.history {
                match builtins {
                    Some(("behavior", _)) => self.history(attr, history, &declared),
                    _ => self.sink.report(TypeError::HistoryOutsideBehavior { span: history.span }),
                }
            }
        }
    }

    /// A history counter: its actions exist, what it adds is a number, and the signal is
    /// declared with the type it measures, never optional (it always has a value).
    fn history(&mut self, attr: &AttrDecl, history: &HistoryDecl, declared: &Type) {
        if attr.optional {
            self.sink.report(TypeError::OptionalHistory { name: attr.name.name.clone(), span: attr.name.span });
        }
        let measured = self.measured(&history.measure, &history.actions, &None, &[]);
        if measured != Type::Unknown && *declared != Type::Unknown && measured != *declared {
            self.sink.report(TypeError::HistoryType {
                declared: declared.to_string(),
                measured: measured.to_string(),
                span: attr.ty.span(),
            });
        }
    }

    fn enum_variants(&mut self, variants: &[Ident]) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for variant in variants {
            if let Some(first) = seen.insert(&variant.name, variant.span) {
                self.sink.report(ResolveError::DuplicateAttribute {
                    name: variant.name.clone(),
                    span: variant.span,
                    first,
                });
            }
        }
    }

    fn action_decl(&mut self, action: &ActionDecl) {
        for param in &action.params {
            self.type_expr(&param.ty);
        }
        for resource in &action.on {
            self.resource_type(resource);
        }
    }

    /// Reports unknown names inside a written type.
    fn type_expr(&mut self, ty: &TypeExpr) -> Type {
        match ty {
            TypeExpr::Named(name) => {
                if let Some(resolved) = self.env.resolve_name(&name.name) {
                    return resolved;
                }
                let help = if self.env.resources.contains_key(&name.name) {
                    Some("resources cannot be attribute types; store the resource's id as a `String`".to_string())
                } else {
                    did_you_mean(&name.name, self.env.type_names().collect::<Vec<_>>())
                };
                self.sink.report(ResolveError::UnknownType { name: name.name.clone(), span: name.span, help });
                Type::Unknown
            }
            TypeExpr::Set(inner, _) => Type::Set(Box::new(self.type_expr(inner))),
            TypeExpr::Map(key, value, _) => {
                let key_type = self.type_expr(key);
                if !matches!(key_type, Type::String | Type::Unknown) {
                    self.sink.report(TypeError::MapKey { found: key_type.to_string(), span: key.span() });
                }
                Type::Map(Box::new(self.type_expr(value)))
            }
            TypeExpr::Error(_) => Type::Unknown,
            TypeExpr::Record(attrs, _) => {
                self.attrs(attrs, None);
                self.env.resolve(&type_ref(ty))
            }
        }
    }

    fn resource_type(&mut self, name: &Ident) -> bool {
        if self.env.resources.contains_key(&name.name) {
            return true;
        }
        let help = did_you_mean(&name.name, self.env.resources.keys().map(String::as_str));
        self.sink.report(ResolveError::UnknownResourceType { name: name.name.clone(), span: name.span, help });
        false
    }

    fn action_name(&mut self, name: &Ident) -> bool {
        if self.env.actions.contains_key(&name.name) {
            return true;
        }
        let help = did_you_mean(&name.name, self.env.actions.keys().map(String::as_str));
        self.sink.report(ResolveError::UnknownAction { name: name.name.clone(), span: name.span, help });
        false
    }

    // --- request environments ----------------------------------------------------------

    /// The (action, resource type) pairs a target covers, reporting unknown names and
    /// actions that apply to none of the named resource types.
    fn request_envs(&mut self, actions: &Target, resources: Option<&Target>) -> Vec<RequestEnv> {
        let resource_filter: Option<Vec<String>> = match resources {
            None | Some(Target::Any(_)) => None,
            Some(Target::Names(names)) => {
                let known = names.iter().filter(|name| self.resource_type(name)).map(|name| name.name.clone());
                Some(known.collect())
            }
        };
        let action_names: Vec<(String, Option<&Ident>)> = match actions {
            Target::Any(_) => self.env.actions.keys().map(|name| (name.clone(), None)).collect(),
            Target::Names(names) => {
                names.iter().filter(|name| self.action_name(name)).map(|name| (name.name.clone(), Some(name))).collect()
            }
        };
        let mut envs = Vec::new();
        for (action, written) in &action_names {
            let applies = self.env.applies_to(action);
            if applies.is_empty() && resource_filter.is_none() {
                envs.push(RequestEnv { action: Some(action.clone()), resource: EnvResource::None });
                continue;
            }
            let matching: Vec<&String> = applies
                .iter()
                .filter(|resource| resource_filter.as_ref().is_none_or(|filter| filter.contains(resource)))
                .collect();
            if let (Some(written), true, Some(filter)) = (written, matching.is_empty(), &resource_filter) {
                if !filter.is_empty() {
                    self.not_applicable(written, filter, applies);
                }
            }
            envs.extend(matching.into_iter().map(|resource| RequestEnv {
                action: Some(action.clone()),
                resource: EnvResource::Known(resource.clone()),
            }));
        }
        if envs.is_empty() {
            envs = match resource_filter {
                Some(filter) if !filter.is_empty() => filter
                    .into_iter()
                    .map(|resource| RequestEnv { action: None, resource: EnvResource::Known(resource) })
                    .collect(),
                _ => vec![RequestEnv { action: None, resource: EnvResource::Unknown }],
            };
        }
        envs
    }

    fn not_applicable(&mut self, action: &Ident, targets: &[String], applies: &[String]) {
        let quoted = |names: &[String]| names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
        let help = if applies.is_empty() {
            Some(format!("`{}` applies to no resource type; drop the `on` clause", action.name))
        } else {
            Some(format!("`{}` applies to {}", action.name, quoted(applies)))
        };
        self.sink.report(ResolveError::ActionNotApplicable {
            action: action.name.clone(),
            resources: quoted(targets),
            span: action.span,
            help,
        });
    }

    // --- tasks --------------------------------------------------------------------------

    fn params(&mut self, params: &[Param]) -> Vec<(String, Type)> {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut typed = Vec::new();
        for param in params {
            if let Some(first) = seen.insert(&param.name.name, param.name.span) {
                self.sink.report(ResolveError::DuplicateAttribute {
                    name: param.name.name.clone(),
                    span: param.name.span,
                    first,
                });
            }
            let ty = self.type_expr(&param.ty);
            typed.push((param.name.name.clone(), ty));
        }
        typed
    }

    /// A composite's parts: each a task with its own scope, named once, and agreeing
    /// with the others on the types of parameters they share; its body adds no scope
    /// and no delegation.
    fn composite(&mut self, task: &TaskDecl) {
        let mut seen: BTreeMap<&str, &Type> = BTreeMap::new();
        for (index, part) in task.parts.iter().enumerate() {
            let bad = |reason: &str| TypeError::BadComposite {
                task: task.name.name.clone(),
                part: part.name.clone(),
                reason: reason.to_string(),
                span: part.span,
            };
            let Some(sig) = self.env.tasks.get(&part.name) else {
                let help = did_you_mean(&part.name, self.env.tasks.keys().map(String::as_str));
                self.sink.report(ResolveError::UnknownTask { name: part.name.clone(), span: part.span, help });
                continue;
            };
            if !sig.parts.is_empty() || part.name == task.name.name {
                self.sink.report(bad("it is a composite itself"));
                continue;
            }
            if task.parts.iter().take(index).any(|earlier| earlier.name == part.name) {
                self.sink.report(bad("it is named twice"));
            }
            for (name, ty) in &sig.params {
                match seen.get(name.as_str()) {
                    Some(other) if *other != ty => {
                        self.sink
                            .report(bad(&format!("its parameter `{name}` is `{ty}`, another part's is `{other}`")));
                    }
                    _ => {
                        seen.insert(name, ty);
                    }
                }
            }
        }
        for clause in &task.clauses {
            let (clause, span) = match clause {
                TaskClause::Scope(scope) => ("scope", scope.span),
                TaskClause::Delegate(delegate) => ("delegation", delegate.span),
                _ => continue,
            };
            self.sink.report(TypeError::CompositeClause { clause, span });
        }
    }

    fn task(&mut self, task: &TaskDecl) {
        let mut params = self.params(&task.params);
        if !task.parts.is_empty() {
            self.composite(task);
            // Its parts' parameters, readable bare in its own clauses.
            params = self.env.tasks.get(&task.name.name).map(|sig| sig.params.clone()).unwrap_or_default();
        }
        for (param, (_, ty)) in task.params.iter().zip(&params) {
            let Some(default) = &param.default else { continue };
            if param.optional {
                self.sink
                    .report(TypeError::OptionalWithDefault { name: param.name.name.clone(), span: param.name.span });
            }
            let checked = match super::env::Literal::of(default) {
                Some(literal) => self.env.check_literal(&literal, ty),
                None => Err("a default is a literal, not an expression".to_string()),
            };
            if let (Err(reason), false) = (checked, *ty == Type::Unknown) {
                self.sink.report(TypeError::BadDefault { name: param.name.name.clone(), reason, span: default.span });
            }
        }
        for param in &task.params {
            if super::env::TASK_BUILTINS.iter().any(|(name, _)| *name == param.name.name) {
                self.sink.report(ResolveError::BuiltinAttribute {
                    name: param.name.name.clone(),
                    owner: "task",
                    span: param.name.span,
                });
            }
        }
        let mut seen: BTreeMap<&'static str, Span> = BTreeMap::new();
        for clause in &task.clauses {
            let (name, span) = match clause {
                TaskClause::Intent(text) => ("intent", text.span),
                TaskClause::Scope(scope) => ("scope", scope.span),
                TaskClause::Ttl(ttl) => {
                    self.ttl(ttl);
                    ("ttl", ttl.span)
                }
                TaskClause::Delegate(delegate) => ("delegate", delegate.span),
                TaskClause::Open(expr) => ("open", expr.span),
                TaskClause::Require(_) | TaskClause::Error(_) => continue,
            };
            self.once(&mut seen, name, span);
        }
        let kind = Some(task.name.name.clone());
        for clause in &task.clauses {
            match clause {
                TaskClause::Require(expr) => {
                    let request = RequestEnv { action: None, resource: EnvResource::Unknown };
                    let mut exprs = self.exprs(Place::TaskRequire, request);
                    exprs.task_kind = kind.clone();
                    exprs.params = params.clone();
                    exprs.expect(expr, &Type::Bool);
                }
                TaskClause::Scope(scope) => self.scope(scope, kind.clone(), &params, Facts::default()),
                TaskClause::Delegate(delegate) => {
                    if let Some(narrow) = &delegate.narrow {
                        for budget in &narrow.budgets {
                            self.sink.report(TypeError::BudgetOutsideTask { span: budget.span });
                        }
                        let items = ScopeBlock {
                            items: narrow.items.clone(),
                            budgets: Vec::new(),
                            uses: narrow.uses.clone(),
                            span: narrow.span,
                        };
                        self.scope(&items, kind.clone(), &params, Facts::default());
                    }
                    if let Some(to) = &delegate.to {
                        let request = RequestEnv { action: None, resource: EnvResource::Unknown };
                        let mut exprs = self.exprs(Place::Delegate, request);
                        exprs.task_kind = kind.clone();
                        exprs.params = params.clone();
                        exprs.expect(to, &Type::Bool);
                    }
                }
                TaskClause::Open(expr) => {
                    let request = RequestEnv { action: None, resource: EnvResource::Unknown };
                    let mut exprs = self.exprs(Place::Open, request);
                    exprs.task_kind = kind.clone();
                    exprs.params = params.clone();
                    exprs.expect(expr, &Type::Bool);
                }
                TaskClause::Intent(_) | TaskClause::Ttl(_) | TaskClause::Error(_) => {}
            }
        }
    }

    /// A budget of task `kind`: its actions exist, the value it adds is a number read
    /// from each action's request, and its limit is a number of that type read from the
    /// task's parameters.
    fn budget(&mut self, budget: &BudgetDecl, kind: &Option<String>, params: &[(String, Type)]) {
        let measured = self.measured(&budget.measure, &budget.actions, kind, params);
        let request = RequestEnv { action: None, resource: EnvResource::Unknown };
        let mut exprs = self.exprs(Place::BudgetLimit, request);
        exprs.task_kind = kind.clone();
        exprs.params = params.to_vec();
        if measured == Type::Unknown {
            exprs.infer(&budget.limit, None);
        } else {
            exprs.expect(&budget.limit, &measured);
        }
    }

    /// The type a budget or a history counter measures: `Int` for a count, the value's
    /// type (`Int` or `Decimal`) for a sum read from each action's request.
    fn measured(
        &mut self,
        measure: &BudgetMeasure,
        actions: &Target,
        kind: &Option<String>,
        params: &[(String, Type)],
    ) -> Type {
        let BudgetMeasure::Sum(value) = measure else {
            let _ = self.request_envs(actions, None);
            return Type::Int;
        };
        let mut measured = Type::Unknown;
        for request in self.request_envs(actions, None) {
            let mut exprs = self.exprs(Place::Scope, request);
            exprs.task_kind = kind.clone();
            exprs.params = params.to_vec();
            let found = exprs.infer(value, None);
            match found {
                Type::Int | Type::Decimal => measured = found,
                Type::Unknown => {}
                other => {
                    let error = TypeError::BudgetNotNumber { found: other.to_string(), span: value.span };
                    self.sink.report(error);
                }
            }
        }
        measured
    }

    /// Reports a clause given a second time.
    fn once(&mut self, seen: &mut BTreeMap<&'static str, Span>, clause: &'static str, span: Span) {
        match seen.get(clause) {
            Some(first) => self.sink.report(TypeError::DuplicateClause { clause, span, first: *first }),
            None => {
                seen.insert(clause, span);
            }
        }
    }

    fn ttl(&mut self, ttl: &DurationLit) {
        if ttl.nanos == 0 {
            self.sink.report(TypeError::ZeroTtl { span: ttl.span });
        }
    }

    fn grant(&mut self, policy: &PolicyDecl, grant: &Grant) {
        if policy.effect != Effect::Permit {
            let effect = if policy.effect == Effect::Escalate { "an escalate" } else { "a forbid" };
            self.sink.report(TypeError::GrantWithoutPermit { effect, span: grant.span });
        }
        let mut seen: BTreeMap<&'static str, Span> = BTreeMap::new();
        for clause in &grant.clauses {
            let (name, span) = match clause {
                GrantClause::Ttl(ttl) => {
                    self.ttl(ttl);
                    ("ttl", ttl.span)
                }
                GrantClause::Scope(scope) => ("scope", scope.span),
                GrantClause::Tags(_, span) => ("tags", *span),
                GrantClause::Message(text) => ("message", text.span),
            };
            self.once(&mut seen, name, span);
        }
    }

    fn scope(&mut self, scope: &ScopeBlock, task_kind: Option<String>, params: &[(String, Type)], facts: Facts) {
        for budget in &scope.budgets {
            match &task_kind {
                Some(_) => self.budget(budget, &task_kind, params),
                None => self.sink.report(TypeError::BudgetOutsideTask { span: budget.span }),
            }
        }
        for used in &scope.uses {
            self.fragment_use(used, &task_kind, params, &facts);
        }
        for item in &scope.items {
            let envs = self.request_envs(&item.actions, Some(&item.resources));
            let Some(condition) = &item.condition else { continue };
            for request in envs {
                let mut exprs = self.exprs(Place::Scope, request);
                exprs.task_kind = task_kind.clone();
                exprs.params = params.to_vec();
                exprs.assume(facts.clone());
                exprs.expect(condition, &Type::Bool);
            }
        }
    }

    // --- policies, bounds, assertions ---------------------------------------------------

    fn policy(&mut self, policy: &PolicyDecl) {
        let envs = self.request_envs(&policy.actions, policy.resources.as_ref());
        for request in &envs {
            self.conditions(&policy.conditions, request.clone());
        }
        let mut facts = Facts::default();
        for condition in &policy.conditions {
            facts.merge(Facts::of_condition(condition));
        }
        if policy.within_scope && policy.effect != Effect::Permit {
            self.sink.report(TypeError::WithinScopeNotPermit { span: policy.effect_span });
        }
        if let (Effect::Permit, Some(message)) = (policy.effect, &policy.message) {
            self.sink.report(TypeError::MessageOnPermit { span: message.span });
        }
        if let Some(grant) = &policy.grant {
            self.grant(policy, grant);
            for clause in &grant.clauses {
                if let GrantClause::Scope(scope) = clause {
                    self.scope(scope, None, &[], facts.clone());
                }
            }
        }
        self.policy_lints(policy);
    }

    fn conditions(&mut self, conditions: &[Condition], request: RequestEnv) {
        let mut exprs = self.exprs(Place::Policy, request);
        for condition in conditions {
            if exprs.unreachable() {
                exprs.sink.skip(condition.expr.span);
                continue;
            }
            exprs.sink.check(condition.expr.span);
            exprs.expect(&condition.expr, &Type::Bool);
            exprs.assume(Facts::of_condition(condition));
        }
    }

    fn policy_lints(&mut self, policy: &PolicyDecl) {
        if policy.effect != Effect::Permit {
            return;
        }
        // `within scope` names no actions: the task scopes do.
        if let (Target::Any(span), false) = (&policy.actions, policy.within_scope) {
            self.sink.report(Lint::WildcardPermit { policy: policy.name.name.clone(), span: *span });
        }
        let has_ttl = policy
            .grant
            .as_ref()
            .is_some_and(|grant| grant.clauses.iter().any(|clause| matches!(clause, GrantClause::Ttl(_))));
        if !has_ttl {
            self.sink.report(Lint::PermitWithoutTtl { policy: policy.name.name.clone(), span: policy.name.span });
        }
    }

    fn bound(&mut self, bound: &BoundDecl) {
        if let Some(applies) = &bound.applies {
            let request = RequestEnv { action: None, resource: EnvResource::Unknown };
            self.exprs(Place::BoundApplies, request).expect(applies, &Type::Bool);
        }
        let facts = bound.applies.as_ref().map(Facts::when_true).unwrap_or_default();
        self.scope(&bound.scope, None, &[], facts);
    }

    fn assert(&mut self, assert: &AssertDecl) {
        let envs = self.request_envs(&assert.actions, assert.resources.as_ref());
        let Some(condition) = &assert.condition else { return };
        for request in envs {
            self.exprs(Place::Policy, request).expect(condition, &Type::Bool);
        }
    }

    /// A scope fragment's items, checked once with its parameters in scope (like a
    /// function's body); its uses check their arguments.
    fn fragment(&mut self, fragment: &FragmentDecl) {
        let params = self.params(&fragment.params);
        for param in fragment.params.iter().filter(|param| param.optional || param.default.is_some()) {
            let name = param.name.name.clone();
            self.sink.report(TypeError::OptionalFunctionParameter { name, span: param.name.span });
        }
        for used in &fragment.scope.uses {
            self.sink.report(TypeError::NestedFragment { span: used.span });
        }
        let items = ScopeBlock { uses: Vec::new(), ..fragment.scope.clone() };
        self.scope(&items, None, &params, Facts::default());
    }

    /// `use NAME(args)`: the fragment exists and the arguments fit its parameters, read
    /// where the scope is declared.
    fn fragment_use(
        &mut self,
        used: &FragmentUse,
        task_kind: &Option<String>,
        params: &[(String, Type)],
        facts: &Facts,
    ) {
        let Some(expected) = self.env.fragments.get(&used.name.name).cloned() else {
            let help = similar(&used.name.name, self.env.fragments.keys().map(String::as_str));
            let name = used.name.name.clone();
            self.sink.report(ResolveError::UnknownFragment { name, span: used.name.span, help });
            return;
        };
        if expected.len() != used.args.len() {
            self.sink.report(TypeError::Arity {
                name: used.name.name.clone(),
                expected: expected.len(),
                plural: if expected.len() == 1 { "" } else { "s" },
                found: used.args.len(),
                span: used.span,
            });
        }
        for (arg, (_, ty)) in used.args.iter().zip(&expected) {
            let request = RequestEnv { action: None, resource: EnvResource::Unknown };
            let mut exprs = self.exprs(Place::Scope, request);
            exprs.task_kind = task_kind.clone();
            exprs.params = params.to_vec();
            exprs.assume(facts.clone());
            exprs.expect(arg, ty);
        }
    }

    fn function(&mut self, function: &FnDecl) {
        let params = self.params(&function.params);
        for param in function.params.iter().filter(|param| param.optional || param.default.is_some()) {
            let name = param.name.name.clone();
            self.sink.report(TypeError::OptionalFunctionParameter { name, span: param.name.span });
        }
        let ret = self.type_expr(&function.ret);
        let request = RequestEnv { action: None, resource: EnvResource::Unknown };
        let mut exprs = self.exprs(Place::Function, request);
        exprs.params = params;
        exprs.expect(&function.body, &ret);
    }

    // --- tests --------------------------------------------------------------------------

    fn test(&mut self, test: &TestDecl) {
        let mut seen: BTreeMap<&'static str, Span> = BTreeMap::new();
        let action_part = test.request.iter().find_map(|part| match part {
            RequestPart::Action(name) => Some(name),
            _ => None,
        });
        let action: Option<&Ident> = action_part.filter(|name| self.action_name(name));
        let mut resource: Option<&Ident> = None;
        for part in &test.request {
            let (label, span) = part_label(part);
            if seen.insert(label, span).is_some() {
                self.sink.report(TypeError::DuplicateField { part: label.to_string(), span });
            }
            match part {
                RequestPart::Agent(fields, span) => {
                    let agent = self.env.agent.clone();
                    self.fields(fields, &agent, *span, "agent attribute", &["id"]);
                }
                RequestPart::Chain(links, _) => {
                    let request = RequestEnv { action: None, resource: EnvResource::Unknown };
                    let mut exprs = self.exprs(Place::TestValue, request);
                    for link in links {
                        exprs.expect(link, &Type::String);
                    }
                }
                RequestPart::Task { kind, fields, span } => self.test_task(kind, fields, *span),
                RequestPart::Action(_) => {}
                RequestPart::Args(fields, span) => {
                    let params = action.and_then(|name| self.env.actions.get(&name.name)).map(|sig| sig.params.clone());
                    let params = params.unwrap_or_default();
                    self.fields(fields, &params, *span, "argument", &[]);
                }
                RequestPart::Resource { ty, fields, span } => {
                    if self.resource_type(ty) {
                        resource = Some(ty);
                        let record = self.env.resources.get(&ty.name).cloned().unwrap_or_default();
                        self.fields(fields, &record, *span, "resource attribute", &["id"]);
                    }
                }
                RequestPart::Context(fields, span) => {
                    let context = self.env.context.clone();
                    self.fields(fields, &context, *span, "context attribute", &["time"]);
                }
                RequestPart::Behavior(fields, span) => {
                    let behavior = self.env.behavior.clone();
                    self.fields(fields, &behavior, *span, "behavior signal", &builtin_signals());
                }
            }
        }
        // A part left out is a part with no fields: its required attributes are missing.
        let absent = |part: &str| !seen.contains_key(part);
        if absent("agent") {
            let agent = self.env.agent.clone();
            self.fields(&[], &agent, test.name.span, "agent attribute", &["id"]);
        }
        if absent("context") {
            let context = self.env.context.clone();
            self.fields(&[], &context, test.name.span, "context attribute", &["time"]);
        }
        if absent("behavior") {
            let behavior = self.env.behavior.clone();
            self.fields(&[], &behavior, test.name.span, "behavior signal", &builtin_signals());
        }
        if absent("args") {
            if let Some(params) = action.and_then(|name| self.env.actions.get(&name.name)).map(|sig| sig.params.clone())
            {
                self.fields(&[], &params, test.name.span, "argument", &[]);
            }
        }
        if absent("chain") {
            self.sink.report(TypeError::MissingField {
                what: "request part",
                name: "chain".to_string(),
                span: test.name.span,
                help: Some(
                    "every request names who it acts for, sponsor first: `chain [\"alice@example.com\"]`".to_string(),
                ),
            });
        }
        if let (true, Some(action)) = (absent("resource"), action) {
            let applies = self.env.applies_to(&action.name).to_vec();
            if !applies.is_empty() {
                self.sink.report(TypeError::MissingField {
                    what: "request part",
                    name: "resource".to_string(),
                    span: test.name.span,
                    help: Some(format!(
                        "`{}` is requested on {}: `resource {} {{ … }}`",
                        action.name,
                        applies.join(", "),
                        applies.first().map_or("Type", String::as_str)
                    )),
                });
            }
        }
        if let (Some(action), Some(resource)) = (action, resource) {
            let applies = self.env.applies_to(&action.name);
            if !applies.contains(&resource.name) {
                let applies = applies.to_vec();
                self.not_applicable(action, std::slice::from_ref(&resource.name), &applies);
            }
        }
        if action_part.is_none() {
            self.sink.report(TypeError::MissingField {
                what: "request part",
                name: "action".to_string(),
                span: test.name.span,
                help: Some("every request names its action: `action read`".to_string()),
            });
        }
        self.expectations(test);
    }

    /// What a test expects besides the decision: policies that exist, a reason code that
    /// exists and comes with the decision, messages of a deny or an escalation, and the
    /// credential of an allow.
    fn expectations(&mut self, test: &TestDecl) {
        let decision = test.expect;
        let article = match decision {
            Decision::Allow => "an allow",
            Decision::Deny => "a deny",
            Decision::Escalate => "an escalation",
        };
        let impossible = |reason: String, span: Span, label: String, help: &str| TypeError::ImpossibleExpectation {
            reason,
            span,
            label,
            help: Some(help.to_string()),
        };
        let mut seen: BTreeMap<&'static str, Span> = BTreeMap::new();
        for expectation in &test.expectations {
            match expectation {
                Expectation::By(names, span) => {
                    self.once(&mut seen, "by", *span);
                    if names.is_empty() && decision != Decision::Deny {
                        let reason = format!("{article} is always determined by some policy");
                        let help = "name the policies that decide it; `by []` is a deny that no forbid decides";
                        self.sink.report(impossible(reason, *span, format!("never true of {article}"), help));
                    }
                    for name in names {
                        if !self.env.sites.contains_key(&(Namespace::Policy, name.name.clone())) {
                            let policies =
                                self.env.sites.keys().filter(|(namespace, _)| *namespace == Namespace::Policy);
                            let help = did_you_mean(&name.name, policies.map(|(_, policy)| policy.as_str()));
                            let name = name.clone();
                            self.sink.report(ResolveError::UnknownPolicy { name: name.name, span: name.span, help });
                        }
                    }
                }
                Expectation::Reason(code, span) => {
                    self.once(&mut seen, "reason", *span);
                    match REASON_CODES.iter().find(|(known, _)| *known == code.name) {
                        None => {
                            let help = did_you_mean(&code.name, REASON_CODES.iter().map(|(known, _)| *known));
                            self.sink.report(ResolveError::UnknownReason {
                                name: code.name.clone(),
                                span: code.span,
                                help,
                            });
                        }
                        Some((_, with)) if *with != decision => {
                            let reason = format!("the reason `{}` comes with {}", code.name, with.keyword());
                            let label = format!("never the reason of {article}");
                            let help = format!("expect {} reason {}, or another reason", with.keyword(), code.name);
                            self.sink.report(impossible(reason, code.span, label, &help));
                        }
                        Some(_) => {}
                    }
                }
                Expectation::Message(text) => {
                    if decision == Decision::Allow {
                        let reason = "an allow's reason carries no message".to_string();
                        let help = "a permit's message goes with its credential: expect `grant { message \"…\" }`";
                        self.sink.report(impossible(
                            reason,
                            text.span,
                            "not in the reason of an allow".to_string(),
                            help,
                        ));
                    }
                }
                Expectation::Grant(grant) => {
                    self.once(&mut seen, "grant", grant.span);
                    if decision != Decision::Allow {
                        let reason = "only an allow issues a credential".to_string();
                        let label = format!("{article} issues no credential");
                        let help = "to expect the words of its forbids or escalations, write `message \"…\"`";
                        self.sink.report(impossible(reason, grant.span, label, help));
                    }
                    let mut clauses: BTreeMap<&'static str, Span> = BTreeMap::new();
                    for clause in &grant.clauses {
                        match clause {
                            GrantClause::Ttl(ttl) => self.once(&mut clauses, "ttl", ttl.span),
                            GrantClause::Tags(_, span) => self.once(&mut clauses, "tags", *span),
                            GrantClause::Message(_) => {}
                            GrantClause::Scope(scope) => {
                                self.sink.report(TypeError::ExpectedScope { span: scope.span });
                            }
                        }
                    }
                }
            }
        }
    }

    fn test_task(&mut self, kind: &Ident, fields: &[FieldInit], span: Span) {
        let Some(sig) = self.env.tasks.get(&kind.name) else {
            let help = did_you_mean(&kind.name, self.env.tasks.keys().map(String::as_str));
            self.sink.report(ResolveError::UnknownTask { name: kind.name.clone(), span: kind.span, help });
            return;
        };
        let mut record = RecordType::default();
        for (name, ty) in super::env::TASK_BUILTINS {
            record.fields.insert(name.to_string(), super::types::Field { ty: ty.clone(), optional: true });
        }
        record.fields.extend(sig.record().fields);
        self.fields(fields, &record, span, "task parameter", &[]);
    }

    /// Checks a record literal against the attributes it must provide.
    fn fields(&mut self, fields: &[FieldInit], record: &RecordType, span: Span, what: &'static str, optional: &[&str]) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for field in fields {
            if let Some(first) = seen.insert(&field.name.name, field.name.span) {
                self.sink.report(ResolveError::DuplicateAttribute {
                    name: field.name.name.clone(),
                    span: field.name.span,
                    first,
                });
            }
            match record.get(&field.name.name) {
                Some(declared) => {
                    let request = RequestEnv { action: None, resource: EnvResource::Unknown };
                    let ty = declared.ty.clone();
                    self.exprs(Place::TestValue, request).expect(&field.value, &ty);
                }
                None => {
                    let help = did_you_mean(&field.name.name, record.fields.keys().map(String::as_str));
                    self.sink.report(ResolveError::UnknownAttribute {
                        attr: field.name.name.clone(),
                        owner: format!("this {}", what.split(' ').next().unwrap_or(what)),
                        span: field.name.span,
                        help,
                    });
                }
            }
        }
        for (name, _) in record.required() {
            if !seen.contains_key(name.as_str()) && !optional.contains(&name.as_str()) {
                self.sink.report(TypeError::MissingField {
                    what,
                    name: name.clone(),
                    span,
                    help: Some(format!("add `{name}: …`")),
                });
            }
        }
    }
}

/// The built-in behavior signals, which default when a request leaves them out.
fn builtin_signals() -> Vec<&'static str> {
    BEHAVIOR_BUILTINS.iter().map(|(name, _)| *name).collect()
}

fn part_label(part: &RequestPart) -> (&'static str, Span) {
    match part {
        RequestPart::Agent(_, span) => ("agent", *span),
        RequestPart::Chain(_, span) => ("chain", *span),
        RequestPart::Task { span, .. } => ("task", *span),
        RequestPart::Action(name) => ("action", name.span),
        RequestPart::Args(_, span) => ("args", *span),
        RequestPart::Resource { span, .. } => ("resource", *span),
        RequestPart::Context(_, span) => ("context", *span),
        RequestPart::Behavior(_, span) => ("behavior", *span),
    }
}
