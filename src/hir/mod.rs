//! The HIR: a checked package, resolved and simplified for the compiler and the prover.
//!
//! Names are resolved (enum values are constants, task parameters are fields of `task`),
//! functions are inlined, policy targets are expanded into the (action, resource type)
//! pairs they cover, and `when`/`unless` clauses are folded into one condition. Only a
//! package without errors is lowered, so nothing here needs to be checked again.

pub mod display;
pub mod glob;
pub mod lower;
pub mod value;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::value::Value;
use crate::semantics::env::Env;
use crate::semantics::types::Type;
use crate::syntax::ast::{Effect, Quantifier};
use crate::syntax::Span;

/// A lowered package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hir {
    pub env: Arc<Env>,
    pub policies: Vec<Policy>,
    pub tasks: BTreeMap<String, Task>,
    pub tests: Vec<TestCase>,
    pub assertions: Vec<Assertion>,
    pub bounds: Vec<Bound>,
    /// The schema's history counters: `behavior` signals the runtime keeps from its log.
    pub history: Vec<History>,
}

/// An attribute that `timestamp(…)` or `date(…)` parses where a decision may evaluate
/// it, so requests must carry a moment there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MomentRead {
    /// The actions whose requests may evaluate it; `None` for every request.
    pub actions: Option<Vec<String>>,
    /// The attribute, an [`HExpr::Field`] of a request root.
    pub field: HExpr,
}

impl Hir {
    /// Every attribute a decision may parse as a moment: in the policies (and their
    /// grants' scopes) for their target actions, and in the tasks for every request.
    pub fn moment_reads(&self) -> Vec<MomentRead> {
        let mut reads: Vec<MomentRead> = Vec::new();
        self.each_condition(&mut |actions, expr| {
            expr.visit(&mut |part| {
                if let HExpr::Call(builtin, args) = part {
                    // Only an attribute can hold a string that is no moment; a timestamp
                    // expression (`date(context.time + 1d)`) needs no check.
                    let attribute = |arg: &&HExpr| matches!(arg, HExpr::Field(Base::Root(_), _));
                    for field in args.iter().filter(|_| builtin.parses_moment()).filter(attribute) {
                        let read = MomentRead { actions: actions.clone(), field: field.clone() };
                        if !reads.contains(&read) {
                            reads.push(read);
                        }
                    }
                }
            });
        });
        reads
    }

    /// Every attribute path any condition reads (policies, scopes, task clauses and
    /// budgets): what a decision depends on.
    pub fn field_reads(&self) -> Vec<(Root, Vec<Arc<str>>)> {
        let mut reads: Vec<(Root, Vec<Arc<str>>)> = Vec::new();
        self.each_condition(&mut |_, expr| {
            expr.visit(&mut |part| {
                if let HExpr::Field(Base::Root(root), path) = part {
                    let read = (*root, path.to_vec());
                    if !reads.contains(&read) {
                        reads.push(read);
                    }
                }
            });
        });
        reads
    }

    /// Calls `f` on every condition of the package, with the actions it is about when
    /// it is about some (`None` for a task's `require`, `open when`, `delegate … to` and
    /// budget limits).
    fn each_condition(&self, f: &mut dyn FnMut(Option<Vec<String>>, &HExpr)) {
        for policy in &self.policies {
            let actions = Some(policy.targets.iter().map(|target| target.action.clone()).collect::<Vec<_>>());
            f(actions.clone(), &policy.condition);
            for item in policy.grant.scope.iter().flatten() {
                f(actions.clone(), &item.condition);
            }
        }
        for task in self.tasks.values() {
            let narrow = task.delegation.iter().flat_map(|delegation| delegation.narrow.iter().flatten());
            for item in task.scope.iter().chain(narrow) {
                f(Some(item.targets.iter().map(|target| target.action.clone()).collect()), &item.condition);
            }
            for expr in [&task.require, &task.open].into_iter().chain(task.delegation.iter().map(|d| &d.to)) {
                f(None, expr);
            }
            for budget in &task.budgets {
                f(Some(budget.actions.clone()), budget.sum.as_ref().unwrap_or(&HExpr::TRUE));
                f(None, &budget.limit);
            }
        }
        for history in &self.history {
            f(Some(history.actions.clone()), history.sum.as_ref().unwrap_or(&HExpr::TRUE));
        }
    }
}

/// `bound NAME { when APPLIES scope { … } }`: for the requests it applies to, nothing
/// outside its scope is ever allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub name: String,
    pub applies: HExpr,
    pub scope: Vec<ScopeItem>,
    pub origin: Origin,
}

/// `assert NAME: never EFFECT TARGET when CONDITION`: no request on the targets for which
/// the condition holds may get the effect's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The written name, or one made from the position.
    pub name: String,
    pub effect: Effect,
    pub targets: Vec<Target>,
    pub condition: HExpr,
    pub origin: Origin,
}

/// A policy test: a request, part by part, and the decision it must get. Values are
/// constant expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub name: String,
    pub expect: crate::syntax::ast::Decision,
    pub agent: Option<Fields>,
    pub chain: Option<Vec<HExpr>>,
    /// The task kind and its fields (parameters, and optionally `id`, `start`, `deadline`).
    pub task: Option<(String, Fields)>,
    pub action: String,
    pub args: Fields,
    pub resource: Option<(String, Fields)>,
    pub context: Fields,
    pub behavior: Fields,
    /// What the decision must say besides its outcome.
    pub expectations: TestExpectations,
    pub origin: Origin,
}

/// What a test expects of its decision besides the outcome; each with where the test
/// states it (in the test's file), for pointing at it when the decision differs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestExpectations {
    /// Where the decision is written, after `expect`.
    pub decision: Span,
    /// `by [a, b]`: the determining policies, all of them.
    pub policies: Option<(Vec<String>, Span)>,
    /// `reason CODE`.
    pub reason: Option<(String, Span)>,
    /// `message "…"`: each must be among the reason's messages.
    pub messages: Vec<(String, Span)>,
    /// `grant ttl …`, in nanoseconds.
    pub ttl: Option<(i64, Span)>,
    /// `grant tags […]`: the credential's tags, all of them.
    pub tags: Option<(Vec<String>, Span)>,
    /// `grant message "…"`: each must be among the credential's messages.
    pub grant_messages: Vec<(String, Span)>,
}

/// Named values of a test request part.
pub type Fields = Vec<(String, HExpr)>;

/// Where a declaration was written, for explanations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub file: Arc<str>,
    pub start: usize,
    pub end: usize,
}

impl Origin {
    pub fn new(file: &Arc<str>, span: Span) -> Self {
        Origin { file: file.clone(), start: span.start, end: span.end }
    }
}

/// An action and the resource type it is requested on (`None` for actions without one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub action: String,
    pub resource: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub effect: Effect,
    pub targets: Vec<Target>,
    /// All `when` conditions and the negation of every `unless`.
    pub condition: HExpr,
    pub grant: Grant,
    /// A forbid's or an escalation's `message`, for the decision's reason.
    pub message: Option<Arc<str>>,
    /// `permit within scope`: lowering conjoins the task scopes to `condition`.
    pub within_scope: bool,
    pub origin: Origin,
}

/// The obligations a permit attaches to the credential it issues.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Grant {
    /// Nanoseconds.
    pub ttl: Option<i64>,
    /// A narrower scope for the credential; `None` means the task's scope.
    pub scope: Option<Vec<ScopeItem>>,
    pub tags: Vec<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeItem {
    pub targets: Vec<Target>,
    pub condition: HExpr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub name: String,
    pub intent: Option<String>,
    pub params: Vec<(String, Type)>,
    /// The preconditions on the parameters (`true` when there are none).
    pub require: HExpr,
    /// The ceiling; empty when the task declares no scope, which allows nothing.
    pub scope: Vec<ScopeItem>,
    /// Nanoseconds.
    pub ttl: Option<i64>,
    /// `None` when the task may not be delegated.
    pub delegation: Option<Delegation>,
    /// Who may open an instance: reads `agent`, `chain` and the task's parameters
    /// (`true` when any registered agent with a sponsor may).
    pub open: HExpr,
    /// Cumulative limits per instance, enforced by the runtime.
    pub budgets: Vec<Budget>,
    pub origin: Origin,
}

/// `budget count(ACTIONS) <= LIMIT` or `budget sum(VALUE) on ACTIONS <= LIMIT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// `None` counts each allowed request as one; `Some` adds the value it reads.
    pub sum: Option<HExpr>,
    pub actions: Vec<String>,
    /// Reads the task's parameters; evaluated once per instance.
    pub limit: HExpr,
    /// As written, for reasons and reports.
    pub text: String,
    pub origin: Origin,
}

/// `NAME: T = count(ACTIONS) per KEY within WINDOW` (or `sum(VALUE) on ACTIONS …`): the
/// signal `behavior.NAME` is what the allowed requests of `actions` for the same `per`
/// key added up in the last `window_ms` before the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub name: String,
    /// `None` counts each allowed request as one; `Some` adds the value it reads.
    pub sum: Option<HExpr>,
    pub actions: Vec<String>,
    pub per: HistoryKey,
    pub window_ms: i64,
    /// As written after `=`, for reports.
    pub text: String,
    pub origin: Origin,
}

/// Whose requests a history counter adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistoryKey {
    /// The same task instance.
    Task,
    /// The same acting agent, in any task.
    Agent,
    /// The same human sponsor, through any agent.
    Sponsor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    pub max_depth: Option<i64>,
    /// Who may receive the task (`true` when anyone may).
    pub to: HExpr,
    /// `narrow { … }`: the ceiling of a delegated agent (`chain.depth > 0`), within the
    /// task's scope; `None` passes on the whole scope.
    pub narrow: Option<Vec<ScopeItem>>,
}

/// The request roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Root {
    Agent,
    Resource,
    Task,
    Action,
    Args,
    Context,
    Behavior,
    Chain,
}

impl Root {
    pub fn name(self) -> &'static str {
        match self {
            Root::Agent => "agent",
            Root::Resource => "resource",
            Root::Task => "task",
            Root::Action => "action",
            Root::Args => "args",
            Root::Context => "context",
            Root::Behavior => "behavior",
            Root::Chain => "chain",
        }
    }

    pub fn from_name(name: &str) -> Option<Root> {
        Some(match name {
            "agent" => Root::Agent,
            "resource" => Root::Resource,
            "task" => Root::Task,
            "action" => Root::Action,
            "args" => Root::Args,
            "context" => Root::Context,
            "behavior" => Root::Behavior,
            "chain" => Root::Chain,
            _ => return None,
        })
    }
}

/// What a field path starts from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Base {
    Root(Root),
    /// A quantifier variable, renamed to be unique within its policy.
    Local(Arc<str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The comparison with its operands swapped: `a < b` is `b > a`.
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            same => same,
        }
    }

    /// The comparison that holds exactly when this one does not.
    pub fn negated(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StrOp {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
}

/// A resolved expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HExpr {
    Const(Value),
    /// `base.a.b`: a request attribute or a part of a bound variable.
    Field(Base, Vec<Arc<str>>),
    /// An attribute of a computed value, such as a timestamp's `hour`.
    Attr(Box<HExpr>, Arc<str>),
    Not(Box<HExpr>),
    And(Box<HExpr>, Box<HExpr>),
    Or(Box<HExpr>, Box<HExpr>),
    Cmp(CmpOp, Box<HExpr>, Box<HExpr>),
    /// Membership: the element, then the set.
    In(Box<HExpr>, Box<HExpr>),
    /// A set containing an element.
    SetContains(Box<HExpr>, Box<HExpr>),
    Str(StrOp, Box<HExpr>, Box<HExpr>),
    /// A glob: `*` matches any run of characters; `\*` and `\\` are escapes.
    Matches(Box<HExpr>, Arc<str>),
    /// A glob that is a task parameter, known only when the request is evaluated:
    /// `resource.path matches task.folder`.
    MatchesParam(Box<HExpr>, Box<HExpr>),
    Arith(ArithOp, Box<HExpr>, Box<HExpr>),
    Neg(Box<HExpr>),
    /// Whether the attribute is present on the record the path names.
    Has(Box<HExpr>, Arc<str>),
    TaskIs(Arc<str>),
    ResourceIs(Arc<str>),
    SetOf(Vec<HExpr>),
    RecordOf(Vec<(Arc<str>, HExpr)>),
    Quantifier(QuantifierKind, Arc<str>, Box<HExpr>, Box<HExpr>),
    /// A built-in function of strings and sets.
    Call(Builtin, Vec<HExpr>),
}

/// The built-in functions: what tool arguments need, computed by the evaluator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Builtin {
    /// `lower(s)`: the string in lower case (Unicode).
    Lower,
    /// `upper(s)`: in upper case.
    Upper,
    /// `trim(s)`: without leading and trailing white space.
    Trim,
    /// `len(x)`: the characters of a string, or the elements of a set.
    Len,
    /// `split(s, separator)`: the set of the parts between separators.
    Split,
    /// `timestamp(s)`: the moment a request attribute names, in any form
    /// [`crate::syntax::literal::parse_moment`] reads.
    Timestamp,
    /// `date(s)`: the first instant of the UTC day of that moment.
    Date,
    /// `keys(m)`: a map's keys, as a set.
    Keys,
    /// `values(m)`: a map's values, as a set.
    Values,
    /// `m[k]` for a computed key (a literal key is a field step).
    Lookup,
    /// `m has (k)` for a computed key (a literal key is `has`).
    HasKey,
}

impl Builtin {
    /// The functions written as calls (`m[k]` and `m has (k)` are written otherwise).
    pub const ALL: [Builtin; 9] = [
        Builtin::Lower,
        Builtin::Upper,
        Builtin::Trim,
        Builtin::Len,
        Builtin::Split,
        Builtin::Timestamp,
        Builtin::Date,
        Builtin::Keys,
        Builtin::Values,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Lower => "lower",
            Builtin::Upper => "upper",
            Builtin::Trim => "trim",
            Builtin::Len => "len",
            Builtin::Split => "split",
            Builtin::Timestamp => "timestamp",
            Builtin::Date => "date",
            Builtin::Keys => "keys",
            Builtin::Values => "values",
            Builtin::Lookup => "lookup",
            Builtin::HasKey => "has_key",
        }
    }

    pub fn named(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|builtin| builtin.name() == name)
    }

    /// Whether the function parses its argument as a moment, which requests must then
    /// give in a form it reads.
    pub fn parses_moment(self) -> bool {
        matches!(self, Builtin::Timestamp | Builtin::Date)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum QuantifierKind {
    Any,
    All,
}

/// Renames the variables of the quantifiers in `expr`; `bound` maps the variables of the
/// enclosing quantifiers, outermost first, to their new names.
fn rename_locals(expr: &mut HExpr, bound: &mut Vec<(Arc<str>, Arc<str>)>) {
    match expr {
        HExpr::Field(Base::Local(name), _) => {
            if let Some((_, renamed)) = bound.iter().rev().find(|(own, _)| own == name) {
                *name = renamed.clone();
            }
        }
        HExpr::Quantifier(_, var, set, body) => {
            rename_locals(set, bound);
            let written = var.split('#').next().unwrap_or(var);
            let renamed: Arc<str> = Arc::from(format!("{written}#{}", bound.len()));
            bound.push((var.clone(), renamed.clone()));
            rename_locals(body, bound);
            bound.pop();
            *var = renamed;
        }
        other => other.each_child_mut(&mut |child| rename_locals(child, bound)),
    }
}

impl From<Quantifier> for QuantifierKind {
    fn from(quantifier: Quantifier) -> Self {
        match quantifier {
            Quantifier::Any => QuantifierKind::Any,
            Quantifier::All => QuantifierKind::All,
        }
    }
}

impl HExpr {
    pub const TRUE: HExpr = HExpr::Const(Value::Bool(true));
    pub const FALSE: HExpr = HExpr::Const(Value::Bool(false));

    pub fn and(left: HExpr, right: HExpr) -> HExpr {
        match (&left, &right) {
            (HExpr::Const(Value::Bool(true)), _) => right,
            (_, HExpr::Const(Value::Bool(true))) => left,
            _ => HExpr::And(Box::new(left), Box::new(right)),
        }
    }

    pub fn or(left: HExpr, right: HExpr) -> HExpr {
        match (&left, &right) {
            (HExpr::Const(Value::Bool(false)), _) => right,
            (_, HExpr::Const(Value::Bool(false))) => left,
            _ => HExpr::Or(Box::new(left), Box::new(right)),
        }
    }

    /// The conjunction of `clauses`, in order, as a balanced tree: evaluated left to right
    /// like a chain, but only logarithmically deep however many clauses a policy has.
    pub fn all(clauses: Vec<HExpr>) -> HExpr {
        let mut layer: Vec<HExpr> = clauses.into_iter().filter(|clause| *clause != HExpr::TRUE).collect();
        while layer.len() > 1 {
            let mut next = Vec::with_capacity(layer.len().div_ceil(2));
            let mut pairs = layer.into_iter();
            while let Some(left) = pairs.next() {
                next.push(match pairs.next() {
                    Some(right) => HExpr::and(left, right),
                    None => left,
                });
            }
            layer = next;
        }
        layer.pop().unwrap_or(HExpr::TRUE)
    }

    pub fn negate(inner: HExpr) -> HExpr {
        match inner {
            HExpr::Const(Value::Bool(value)) => HExpr::Const(Value::Bool(!value)),
            HExpr::Not(inner) => *inner,
            other => HExpr::Not(Box::new(other)),
        }
    }

    pub fn field(root: Root, path: &[&str]) -> HExpr {
        HExpr::Field(Base::Root(root), path.iter().map(|step| Arc::from(*step)).collect())
    }

    /// Calls `f` on this expression and every sub-expression.
    pub fn visit(&self, f: &mut dyn FnMut(&HExpr)) {
        f(self);
        self.each_child(&mut |child| child.visit(f));
    }

    /// Calls `f` on each direct sub-expression, in order.
    pub fn each_child(&self, f: &mut dyn FnMut(&HExpr)) {
        match self {
            HExpr::Const(_) | HExpr::Field(..) | HExpr::TaskIs(_) | HExpr::ResourceIs(_) => {}
            HExpr::Attr(inner, _)
            | HExpr::Not(inner)
            | HExpr::Matches(inner, _)
            | HExpr::Neg(inner)
            | HExpr::Has(inner, _) => f(inner),
            HExpr::And(a, b)
            | HExpr::Or(a, b)
            | HExpr::Cmp(_, a, b)
            | HExpr::In(a, b)
            | HExpr::SetContains(a, b)
            | HExpr::Str(_, a, b)
            | HExpr::MatchesParam(a, b)
            | HExpr::Arith(_, a, b)
            | HExpr::Quantifier(_, _, a, b) => {
                f(a);
                f(b);
            }
            HExpr::SetOf(items) | HExpr::Call(_, items) => items.iter().for_each(f),
            HExpr::RecordOf(fields) => fields.iter().for_each(|(_, value)| f(value)),
        }
    }

    /// Calls `f` on each direct sub-expression, in order, for changing it in place.
    pub fn each_child_mut(&mut self, f: &mut dyn FnMut(&mut HExpr)) {
        match self {
            HExpr::Const(_) | HExpr::Field(..) | HExpr::TaskIs(_) | HExpr::ResourceIs(_) => {}
            HExpr::Attr(inner, _)
            | HExpr::Not(inner)
            | HExpr::Matches(inner, _)
            | HExpr::Neg(inner)
            | HExpr::Has(inner, _) => f(inner),
            HExpr::And(a, b)
            | HExpr::Or(a, b)
            | HExpr::Cmp(_, a, b)
            | HExpr::In(a, b)
            | HExpr::SetContains(a, b)
            | HExpr::Str(_, a, b)
            | HExpr::MatchesParam(a, b)
            | HExpr::Arith(_, a, b)
            | HExpr::Quantifier(_, _, a, b) => {
                f(a);
                f(b);
            }
            HExpr::SetOf(items) | HExpr::Call(_, items) => items.iter_mut().for_each(f),
            HExpr::RecordOf(fields) => fields.iter_mut().for_each(|(_, value)| f(value)),
        }
    }

    /// The same expression with each quantifier variable named after what the author
    /// wrote and how deeply it is nested (`r#0`), instead of the policy-unique name
    /// lowering gave it (`r#7`). Two conditions written alike then are one expression,
    /// so the compiler and the prover see one test where a forbid and an assertion say
    /// the same thing. Renaming bound variables consistently changes no value.
    pub fn canonical_locals(&self) -> HExpr {
        let mut copy = self.clone();
        rename_locals(&mut copy, &mut Vec::new());
        copy
    }

    /// The number of levels of the expression tree.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        self.each_child(&mut |child| deepest = deepest.max(child.depth()));
        deepest + 1
    }
}
