//! The abstract syntax tree: what the parser produces, with a byte span on every node.
//!
//! The AST mirrors the source closely and resolves nothing: names are plain identifiers and
//! types are written type expressions. Resolution and typing happen in `semantics`, which
//! reads this tree and never changes it. Nodes that failed to parse are kept as `Error`
//! variants so later phases can skip them without reporting cascading errors.

use serde::{Deserialize, Serialize};

/// A half-open byte range into the source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.start, span.len()).into()
    }
}

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal after escapes were decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// A parsed source file: its declarations in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Use(UseDecl),
    Schema(SchemaBlock),
    Task(TaskDecl),
    Policy(PolicyDecl),
    Bound(BoundDecl),
    Assert(AssertDecl),
    Function(FnDecl),
    Fragment(FragmentDecl),
    Test(TestDecl),
    /// A declaration that did not parse; its diagnostic was already reported.
    Error(Span),
}

/// `use std::time` or `use "../shared/common.mandate"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseDecl {
    pub target: UseTarget,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseTarget {
    /// A module path such as `std::time`.
    Module(Vec<Ident>),
    /// A file path relative to the file that contains the `use`.
    File(StrLit),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaBlock {
    pub items: Vec<SchemaItem>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaItem {
    /// `agent { team: String }`: attributes every agent carries.
    Agent {
        attrs: Vec<AttrDecl>,
        span: Span,
    },
    /// `resource Table { … }`.
    Resource {
        name: Ident,
        attrs: Vec<AttrDecl>,
        span: Span,
    },
    /// `enum Classification { public, internal }`; variants are ordered as written.
    Enum {
        name: Ident,
        variants: Vec<Ident>,
        span: Span,
    },
    /// `record Address { … }`: a named record type.
    Record {
        name: Ident,
        fields: Vec<AttrDecl>,
        span: Span,
    },
    /// `action read, update on Table` or `action pay(amount: Decimal) on Account`.
    Action(ActionDecl),
    /// `context { … }`: extra request-context attributes.
    Context {
        attrs: Vec<AttrDecl>,
        span: Span,
    },
    /// `behavior { … }`: extra behavioral signals.
    Behavior {
        attrs: Vec<AttrDecl>,
        span: Span,
    },
    Error(Span),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionDecl {
    pub names: Vec<Ident>,
    pub params: Vec<Param>,
    /// Resource types the action applies to; empty for an action without a resource.
    pub on: Vec<Ident>,
    /// `on Set<T>`: a request names a set of resources, each of which must be allowed.
    pub many: bool,
    pub span: Span,
}

/// `name: Type` or `name?: Type` in a resource, record, agent or context body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrDecl {
    pub name: Ident,
    pub optional: bool,
    pub ty: TypeExpr,
    /// `= count(send_money) per task within 1h`: a behavior signal the runtime keeps from
    /// its log. Only the `behavior` block may declare one.
    pub history: Option<HistoryDecl>,
    pub span: Span,
}

/// `count(ACTIONS) per KEY within WINDOW` or `sum(VALUE) on ACTIONS per KEY within
/// WINDOW`: the allowed requests of the actions in the last `WINDOW`, counted or added
/// up, for the same task, agent or sponsor as the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryDecl {
    pub measure: BudgetMeasure,
    pub actions: Target,
    /// `task`, `agent` or `sponsor`.
    pub per: Ident,
    pub window: DurationLit,
    pub span: Span,
}

/// A typed parameter of a task, function or action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Ident,
    /// `name?: T`: an action argument or task parameter a request may leave out.
    pub optional: bool,
    pub ty: TypeExpr,
    /// `name: T = VALUE`: a task parameter's value when an instance does not give one.
    pub default: Option<Expr>,
}

/// A type as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeExpr {
    /// `String`, `Decimal`, an enum or a record name.
    Named(Ident),
    /// `Set<T>`.
    Set(Box<TypeExpr>, Span),
    /// `Map<K, V>`: string keys (the checker says so), values of one type.
    Map(Box<TypeExpr>, Box<TypeExpr>, Span),
    /// `{ city: String, zip?: String }`.
    Record(Vec<AttrDecl>, Span),
    /// A type nested too deeply; already reported.
    Error(Span),
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(ident) => ident.span,
            TypeExpr::Set(_, span) | TypeExpr::Map(_, _, span) | TypeExpr::Record(_, span) | TypeExpr::Error(span) => {
                *span
            }
        }
    }

    /// Nesting depth. The parser caps it, so this recursion is bounded.
    pub fn depth(&self) -> u32 {
        match self {
            TypeExpr::Named(_) | TypeExpr::Error(_) => 1,
            TypeExpr::Set(inner, _) => 1 + inner.depth(),
            TypeExpr::Map(key, value, _) => 1 + key.depth().max(value.depth()),
            TypeExpr::Record(attrs, _) => 1 + attrs.iter().map(|attr| attr.ty.depth()).max().unwrap_or(0),
        }
    }

    fn contains_error(&self) -> bool {
        match self {
            TypeExpr::Error(_) => true,
            TypeExpr::Named(_) => false,
            TypeExpr::Set(inner, _) => inner.contains_error(),
            TypeExpr::Map(key, value, _) => key.contains_error() || value.contains_error(),
            TypeExpr::Record(attrs, _) => attrs.iter().any(|attr| attr.ty.contains_error()),
        }
    }

    /// Replaces a type nested deeper than `limit` by an error node; returns whether this
    /// node is the first to exceed it (and so should be reported).
    pub fn capped(self, limit: u32) -> (TypeExpr, bool) {
        if self.depth() <= limit {
            return (self, false);
        }
        let first = !self.contains_error();
        (TypeExpr::Error(self.span()), first)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    /// A composite's parts (`task Trip = BookHotel + NotifyFriend`); empty otherwise.
    pub parts: Vec<Ident>,
    pub clauses: Vec<TaskClause>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskClause {
    Intent(StrLit),
    Require(Expr),
    Scope(ScopeBlock),
    Ttl(DurationLit),
    Delegate(DelegateClause),
    /// `open when EXPR`: which agents, under which chains, may open the task.
    Open(Expr),
    Error(Span),
}

/// `delegate depth <= 1 to agent.team == "support"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegateClause {
    pub max_depth: Option<IntLit>,
    pub to: Option<Expr>,
    /// `narrow { … }`: what a delegated agent may do, within the task's scope.
    pub narrow: Option<ScopeBlock>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntLit {
    pub value: i64,
    pub span: Span,
}

/// A duration literal in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationLit {
    pub nanos: i64,
    pub span: Span,
}

/// `{ read on Table where …, update on Ticket }`: a ceiling of actions and resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeBlock {
    pub items: Vec<ScopeItem>,
    /// Cumulative limits per task instance; only a task's scope may have them.
    pub budgets: Vec<BudgetDecl>,
    /// Named fragments whose items join this block's.
    pub uses: Vec<FragmentUse>,
    pub span: Span,
}

/// One entry of a scope block, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeEntry {
    Item(ScopeItem),
    Budget(BudgetDecl),
    Use(FragmentUse),
}

/// `scope NAME(params) { items }`: scope items written once and used by several tasks
/// (or grants and bounds) through `use NAME(args)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub scope: ScopeBlock,
    pub span: Span,
}

/// `use NAME(args)` inside a scope block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentUse {
    pub name: Ident,
    pub args: Vec<Expr>,
    pub span: Span,
}

/// `budget count(send_email) <= 3` or `budget sum(args.amount) on refund <= limit`: what
/// the allowed requests of one task instance may add up to, all together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetDecl {
    pub measure: BudgetMeasure,
    /// The actions whose allowed requests count against the budget.
    pub actions: Target,
    /// Reads the task's parameters.
    pub limit: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetMeasure {
    /// Each allowed request counts one.
    Count,
    /// Each allowed request adds this value, read from its arguments.
    Sum(Expr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeItem {
    pub actions: Target,
    pub resources: Target,
    pub condition: Option<Expr>,
    pub span: Span,
}

/// A list of names, or `*` for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Any(Span),
    Names(Vec<Ident>),
}

impl Target {
    pub fn span(&self) -> Span {
        match self {
            Target::Any(span) => *span,
            Target::Names(names) => match (names.first(), names.last()) {
                (Some(first), Some(last)) => first.span.to(last.span),
                _ => Span::default(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Permit,
    Forbid,
    Escalate,
}

impl Effect {
    pub fn keyword(self) -> &'static str {
        match self {
            Effect::Permit => "permit",
            Effect::Forbid => "forbid",
            Effect::Escalate => "escalate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDecl {
    pub name: Ident,
    pub effect: Effect,
    pub effect_span: Span,
    pub actions: Target,
    /// `None` when the policy has no `on` clause: every resource type its actions apply to.
    pub resources: Option<Target>,
    pub conditions: Vec<Condition>,
    /// `message "…"`: why a forbid or an escalation applies, in words for the person who
    /// reads the decision (an approver, an agent's user).
    pub message: Option<StrLit>,
    pub grant: Option<Grant>,
    /// `permit within scope`: the policy covers what the request's task scope covers
    /// (its actions and resources are then every action and resource type).
    pub within_scope: bool,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKind {
    When,
    Unless,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: ConditionKind,
    pub expr: Expr,
}

/// The obligations of a permit: `grant { ttl 10m  tags ["pii"]  message "…" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub clauses: Vec<GrantClause>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantClause {
    Ttl(DurationLit),
    Scope(ScopeBlock),
    Tags(Vec<StrLit>, Span),
    Message(StrLit),
}

/// `bound name { when <applies-to>  scope { … } }`: an organisation-wide ceiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundDecl {
    pub name: Ident,
    pub applies: Option<Expr>,
    pub scope: ScopeBlock,
    pub span: Span,
}

/// `assert name: never permit update on Table when …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertDecl {
    pub name: Option<Ident>,
    pub effect: Effect,
    pub actions: Target,
    pub resources: Option<Target>,
    pub condition: Option<Expr>,
    pub span: Span,
}

/// `fn name(params) -> Type { body }`: a pure, non-recursive helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: TypeExpr,
    pub body: Expr,
    pub span: Span,
}

/// The outcome of a decision: what a test expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
    Escalate,
}

impl Decision {
    pub fn keyword(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Escalate => "escalate",
        }
    }
}

/// The reason codes a decision of the policies can carry, with the decision each comes
/// with (`docs/semantics.md`): what a test may expect after `reason`.
pub const REASON_CODES: &[(&str, Decision)] = &[
    ("permitted", Decision::Allow),
    ("escalated", Decision::Escalate),
    ("forbidden", Decision::Deny),
    ("preconditions_failed", Decision::Deny),
    ("delegation_exceeded", Decision::Deny),
    ("outside_intent", Decision::Deny),
    ("no_permit", Decision::Deny),
    ("no_task", Decision::Deny),
    ("task_expired", Decision::Deny),
    ("task_not_started", Decision::Deny),
    ("no_applicable_policy", Decision::Deny),
    ("no_resource", Decision::Deny),
    ("evaluation_error", Decision::Deny),
    ("invalid_request", Decision::Deny),
];

/// A policy unit test: one request and the decision it must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDecl {
    pub name: Ident,
    pub request: Vec<RequestPart>,
    pub expect: Decision,
    pub expect_span: Span,
    /// What the decision must say besides its outcome, in source order.
    pub expectations: Vec<Expectation>,
    pub span: Span,
}

/// What a test expects of its decision besides the outcome, after `expect DECISION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// `by [a, b]`: the policies that determine the decision (the forbids of a deny, the
    /// escalations of an escalate, the permits of an allow), all of them.
    By(Vec<Ident>, Span),
    /// `reason outside_intent`: the code of the decision's reason.
    Reason(Ident, Span),
    /// `message "…"`: a message the reason carries, from a forbid or an escalation.
    Message(StrLit),
    /// `grant { ttl 10m tags […] message "…" }`: what the credential of an allow carries.
    Grant(Grant),
}

impl Expectation {
    pub fn span(&self) -> Span {
        match self {
            Expectation::By(_, span) | Expectation::Reason(_, span) => *span,
            Expectation::Message(text) => text.span,
            Expectation::Grant(grant) => grant.span,
        }
    }
}

/// One part of a test request, such as `resource Table { name: "x" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestPart {
    Agent(Vec<FieldInit>, Span),
    Chain(Vec<Expr>, Span),
    Task { kind: Ident, fields: Vec<FieldInit>, span: Span },
    Action(Ident),
    Args(Vec<FieldInit>, Span),
    Resource { ty: Ident, fields: Vec<FieldInit>, span: Span },
    Context(Vec<FieldInit>, Span),
    Behavior(Vec<FieldInit>, Span),
}

/// `name: value` in a record literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInit {
    pub name: Ident,
    pub value: Expr,
}

/// An expression with its span. `depth` is the height of the tree below it, which the
/// parser caps so that no later phase can overflow the stack walking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    pub depth: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    Bool(bool),
    Int(i64),
    /// A decimal literal as written, such as `0.8`.
    Decimal(String),
    Str(String),
    /// Nanoseconds.
    Duration(i64),
    /// A bare name: a request root, a parameter, a bound variable or an enum variant.
    Name(String),
    /// `Classification::secret` or `time::business_hours`.
    Path(Vec<Ident>),
    Field(Box<Expr>, Ident),
    Call(Vec<Ident>, Vec<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Has(Box<Expr>, Ident),
    /// `m has "key"` or `m has (expr)`: a map holds the key.
    HasKey(Box<Expr>, Box<Expr>),
    /// `m[key]`: a map's value at a key it holds.
    Index(Box<Expr>, Box<Expr>),
    Is(Box<Expr>, Ident),
    Set(Vec<Expr>),
    Record(Vec<FieldInit>),
    Quantifier(Quantifier, Ident, Box<Expr>, Box<Expr>),
    /// An expression that did not parse or was too deep; already reported.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    StartsWith,
    EndsWith,
    Contains,
    Matches,
    Add,
    Sub,
    Mul,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::StartsWith => "starts_with",
            BinaryOp::EndsWith => "ends_with",
            BinaryOp::Contains => "contains",
            BinaryOp::Matches => "matches",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
        }
    }

    /// Binding strength; higher binds tighter. Comparisons share one non-associative level.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul => 6,
            _ => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantifier {
    Any,
    All,
}

impl Expr {
    /// Builds a node whose depth is one more than its deepest child.
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        let depth = 1 + kind.children().map(|child| child.depth).max().unwrap_or(0);
        Expr { kind, span, depth }
    }

    pub fn error(span: Span) -> Expr {
        Expr { kind: ExprKind::Error, span, depth: 1 }
    }
}

impl ExprKind {
    /// The direct sub-expressions, in source order.
    pub fn children(&self) -> Box<dyn Iterator<Item = &Expr> + '_> {
        match self {
            ExprKind::Field(inner, _)
            | ExprKind::Unary(_, inner)
            | ExprKind::Has(inner, _)
            | ExprKind::Is(inner, _) => Box::new(std::iter::once(&**inner)),
            ExprKind::Binary(_, left, right)
            | ExprKind::Quantifier(_, _, left, right)
            | ExprKind::HasKey(left, right)
            | ExprKind::Index(left, right) => Box::new([&**left, &**right].into_iter()),
            ExprKind::Call(_, args) | ExprKind::Set(args) => Box::new(args.iter()),
            ExprKind::Record(fields) => Box::new(fields.iter().map(|field| &field.value)),
            ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Decimal(_)
            | ExprKind::Str(_)
            | ExprKind::Duration(_)
            | ExprKind::Name(_)
            | ExprKind::Path(_)
            | ExprKind::Error => Box::new(std::iter::empty()),
        }
    }
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Use(decl) => decl.span,
            Item::Schema(block) => block.span,
            Item::Task(task) => task.span,
            Item::Policy(policy) => policy.span,
            Item::Bound(bound) => bound.span,
            Item::Assert(assert) => assert.span,
            Item::Function(function) => function.span,
            Item::Fragment(fragment) => fragment.span,
            Item::Test(test) => test.span,
            Item::Error(span) => *span,
        }
    }

    /// The top-level expressions of a declaration, in source order.
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Item::Task(task) => task
                .clauses
                .iter()
                .flat_map(|clause| match clause {
                    TaskClause::Require(expr) => vec![expr],
                    TaskClause::Scope(scope) => scope_exprs(scope),
                    TaskClause::Delegate(delegate) => delegate.to.iter().collect(),
                    _ => Vec::new(),
                })
                .collect(),
            Item::Policy(policy) => {
                let mut exprs: Vec<&Expr> = policy.conditions.iter().map(|c| &c.expr).collect();
                for clause in policy.grant.iter().flat_map(|grant| &grant.clauses) {
                    if let GrantClause::Scope(scope) = clause {
                        exprs.extend(scope_exprs(scope));
                    }
                }
                exprs
            }
            Item::Bound(bound) => bound.applies.iter().chain(scope_exprs(&bound.scope)).collect(),
            Item::Assert(assert) => assert.condition.iter().collect(),
            Item::Function(function) => vec![&function.body],
            Item::Fragment(fragment) => scope_exprs(&fragment.scope),
            Item::Test(test) => test
                .request
                .iter()
                .flat_map(|part| match part {
                    RequestPart::Chain(links, _) => links.iter().collect::<Vec<_>>(),
                    RequestPart::Agent(fields, _)
                    | RequestPart::Args(fields, _)
                    | RequestPart::Context(fields, _)
                    | RequestPart::Behavior(fields, _)
                    | RequestPart::Task { fields, .. }
                    | RequestPart::Resource { fields, .. } => fields.iter().map(|f| &f.value).collect(),
                    RequestPart::Action(_) => Vec::new(),
                })
                .collect(),
            Item::Use(_) | Item::Schema(_) | Item::Error(_) => Vec::new(),
        }
    }
}

fn scope_exprs(scope: &ScopeBlock) -> Vec<&Expr> {
    let conditions = scope.items.iter().filter_map(|item| item.condition.as_ref());
    conditions.chain(scope.uses.iter().flat_map(|used| &used.args)).collect()
}
