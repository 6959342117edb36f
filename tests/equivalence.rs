//! The compiled decision graph gives exactly the decision `docs/semantics.md` defines.
//!
//! The evaluator (`src/eval/`) never interprets policies directly: it walks the decision
//! graph that `src/compile/` builds, which reorders tests, shares them between policies
//! and tests each attribute once. This file holds an independent reference interpreter,
//! [`reference_decide`], that follows `docs/semantics.md` rule by rule: policy by policy,
//! with its own small recursive evaluator for HIR expressions (it does not call
//! `mandate::eval`). The property test generates random policy packages as Mandate
//! source text over a fixed schema, random requests drawn from small value pools (so
//! that conditions often match), and checks that the graph and the reference agree on
//! the outcome, the applicable policies, the reason code and the obligations.
//!
//! Numbers: `compiled_graph_matches_reference` runs 4,000 random packages (two randomly
//! generated tasks and 1 to 6 policies each) with 20 requests each, 80,000 decisions, in
//! about 20 seconds in a debug build (about 5 ms a package). Requests now and then carry
//! extreme integers and decimals, so saturating arithmetic and comparisons at the ends of
//! the 64-bit range are covered too. `generated_cases_reach_every_outcome` checks that
//! the generator reaches every reason code of the combining order, so the property is
//! not vacuous, and the deterministic tests at the end pin down edge cases by name.
//!
//! The reference reads the same HIR as the graph, so it cannot see a lowering mistake;
//! `check_lowering` covers the one lowering rewrite that could hide one (operands the
//! checker skipped become `false`). When the graph and the reference disagree, the
//! failure shows the package, the request and both decisions.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use mandate::eval::decision::{Decision, Outcome};
use mandate::eval::{Limits, PolicySet, Request, RequestDoc};
use mandate::hir::value::{parse_timestamp, timestamp_field, timestamp_text, Value, DECIMAL_SCALE};
use mandate::hir::{ArithOp, Base, CmpOp, HExpr, Hir, QuantifierKind, Root, StrOp, Target};
use mandate::syntax::ast::Effect;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use serde_json::json;

// ------------------------------------------------------------------------------------
// The reference interpreter
// ------------------------------------------------------------------------------------

/// What the reference says a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceDecision {
    pub decision: Outcome,
    pub code: &'static str,
    /// Applicable policies by effect, sorted.
    pub forbid: Vec<String>,
    pub escalate: Vec<String>,
    pub permit: Vec<String>,
    pub obligations: Option<ReferenceObligations>,
    /// For `evaluation_error`: what went wrong (for failure messages only).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceObligations {
    pub ttl_ms: i64,
    pub expires_at: String,
    pub tags: Vec<String>,
    pub messages: Vec<String>,
    /// For each permit, the number of scope items its credential covers (sorted by policy).
    pub scopes: Vec<(String, usize)>,
}

/// Why an expression has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EvalError {
    /// An evaluation error in the sense of `docs/semantics.md`: with saturating
    /// arithmetic, only going past `Limits::max_eval_steps` steps.
    Limit(usize),
    /// Something the checker guarantees cannot happen (a missing attribute, a type
    /// mismatch). The reference never papers over these: the test fails.
    Broken(String),
}

type Eval<T> = Result<T, EvalError>;

fn broken<T>(message: impl Into<String>) -> Eval<T> {
    Err(EvalError::Broken(message.into()))
}

/// Evaluates HIR expressions against one request, left to right, short-circuiting
/// `and` and `or` as `docs/semantics.md` says.
struct Interp<'a> {
    request: &'a Request,
    task: Value,
    chain: Value,
    locals: Vec<(Arc<str>, Value)>,
    /// Expression steps left for this decision (one per sub-expression evaluated).
    steps_left: usize,
    limit: usize,
}

impl<'a> Interp<'a> {
    fn new(request: &'a Request, limit: usize) -> Self {
        let mut task = BTreeMap::new();
        if let Some(instance) = request.task() {
            for (name, value) in &instance.params {
                task.insert(name.clone(), value.clone());
            }
            task.insert("id".to_string(), Value::String(instance.id.clone()));
            task.insert("start".to_string(), Value::Timestamp(instance.start));
            task.insert("deadline".to_string(), Value::Timestamp(instance.deadline));
        }
        // The chain fields, as the table in docs/semantics.md defines them.
        let links = request.chain();
        let acting = request.agent().get("id").cloned().unwrap_or_else(|| Value::string(""));
        let mut chain = BTreeMap::new();
        chain.insert("depth".to_string(), Value::Int(links.len() as i64 - 1));
        chain.insert(
            "sponsor".to_string(),
            links.first().map_or_else(|| Value::string(""), |l| Value::String(l.clone())),
        );
        chain.insert("root".to_string(), links.get(1).map_or(acting, |l| Value::String(l.clone())));
        chain.insert(
            "delegator".to_string(),
            links.last().map_or_else(|| Value::string(""), |l| Value::String(l.clone())),
        );
        chain.insert("links".to_string(), Value::set(links.iter().map(|l| Value::String(l.clone())).collect()));
        Interp {
            request,
            task: Value::Record(Arc::new(task)),
            chain: Value::Record(Arc::new(chain)),
            locals: Vec::new(),
            steps_left: limit,
            limit,
        }
    }

    fn truth(&mut self, expr: &HExpr) -> Eval<bool> {
        match self.eval(expr)? {
            Value::Bool(value) => Ok(value),
            other => broken(format!("a condition evaluated to {other}")),
        }
    }

    fn root(&self, root: Root) -> Eval<Value> {
        let request = self.request;
        Ok(match root {
            Root::Agent => Value::Record(request.agent().clone()),
            Root::Resource => match request.resource() {
                Some((_, attrs)) => Value::Record(attrs.clone()),
                None => return broken("`resource` read in a request without one"),
            },
            Root::Task => self.task.clone(),
            Root::Action => Value::String(request.action().clone()),
            Root::Args => Value::Record(request.args().clone()),
            Root::Context => Value::Record(request.context().clone()),
            Root::Behavior => Value::Record(request.behavior().clone()),
            Root::Chain => self.chain.clone(),
        })
    }

    /// `value.name`: a record's field, or a timestamp's calendar field.
    fn step(value: &Value, name: &str) -> Eval<Value> {
        match value {
            Value::Record(fields) => match fields.get(name) {
                Some(field) => Ok(field.clone()),
                None => broken(format!("missing attribute `{name}` was read")),
            },
            Value::Timestamp(nanos) => match timestamp_field(*nanos, name) {
                Some(field) => Ok(Value::Int(field)),
                None => broken(format!("timestamp has no field `{name}`")),
            },
            other => broken(format!("`.{name}` of {other}")),
        }
    }

    fn eval(&mut self, expr: &HExpr) -> Eval<Value> {
        if self.steps_left == 0 {
            return Err(EvalError::Limit(self.limit));
        }
        self.steps_left -= 1;
        match expr {
            HExpr::Const(value) => Ok(value.clone()),
            HExpr::Field(base, path) => {
                let mut value = match base {
                    Base::Root(root) => self.root(*root)?,
                    Base::Local(name) => match self.locals.iter().rev().find(|(bound, _)| bound == name) {
                        Some((_, value)) => value.clone(),
                        None => return broken(format!("unbound variable `{name}`")),
                    },
                };
                for step in path {
                    value = Self::step(&value, step)?;
                }
                Ok(value)
            }
            HExpr::Attr(inner, name) => {
                let value = self.eval(inner)?;
                Self::step(&value, name)
            }
            HExpr::Not(inner) => Ok(Value::Bool(!self.truth(inner)?)),
            HExpr::And(a, b) => Ok(Value::Bool(self.truth(a)? && self.truth(b)?)),
            HExpr::Or(a, b) => Ok(Value::Bool(self.truth(a)? || self.truth(b)?)),
            HExpr::Cmp(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                let holds = match op {
                    CmpOp::Eq => a.same(&b),
                    CmpOp::Ne => !a.same(&b),
                    _ => {
                        let Some(order) = a.compare(&b) else {
                            return broken(format!("{a} and {b} are not ordered"));
                        };
                        match op {
                            CmpOp::Lt => order == Ordering::Less,
                            CmpOp::Le => order != Ordering::Greater,
                            CmpOp::Gt => order == Ordering::Greater,
                            _ => order != Ordering::Less,
                        }
                    }
                };
                Ok(Value::Bool(holds))
            }
            HExpr::In(element, set) => {
                let (element, set) = (self.eval(element)?, self.eval(set)?);
                Self::member(&element, &set)
            }
            HExpr::SetContains(set, element) => {
                let (set, element) = (self.eval(set)?, self.eval(element)?);
                Self::member(&element, &set)
            }
            HExpr::Str(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                let (Some(a), Some(b)) = (a.as_str(), b.as_str()) else {
                    return broken("string operation on non-strings");
                };
                Ok(Value::Bool(match op {
                    StrOp::StartsWith => a.starts_with(b),
                    StrOp::EndsWith => a.ends_with(b),
                    StrOp::Contains => a.contains(b),
                }))
            }
            HExpr::Matches(inner, pattern) => match self.eval(inner)? {
                Value::String(text) => Ok(Value::Bool(glob(pattern, &text))),
                other => broken(format!("`matches` on {other}")),
            },
            HExpr::Arith(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                arith(*op, &a, &b)
            }
            HExpr::Neg(inner) => match self.eval(inner)? {
                Value::Int(v) => Ok(Value::Int(saturate(-i128::from(v)))),
                Value::Decimal(v) => Ok(Value::Decimal(saturate(-i128::from(v)))),
                Value::Duration(v) => Ok(Value::Duration(saturate(-i128::from(v)))),
                other => broken(format!("negation of {other}")),
            },
            HExpr::Has(inner, name) => match self.eval(inner)? {
                Value::Record(fields) => Ok(Value::Bool(fields.contains_key(&**name))),
                other => broken(format!("`has` on {other}")),
            },
            HExpr::TaskIs(kind) => Ok(Value::Bool(self.request.task().is_some_and(|task| *task.kind == **kind))),
            HExpr::ResourceIs(ty) => {
                Ok(Value::Bool(self.request.resource().is_some_and(|(actual, _)| **actual == **ty)))
            }
            HExpr::SetOf(items) => {
                let mut values = Vec::new();
                for item in items {
                    values.push(self.eval(item)?);
                }
                Ok(Value::set(values))
            }
            HExpr::RecordOf(fields) => {
                let mut record = BTreeMap::new();
                for (name, value) in fields {
                    record.insert(name.to_string(), self.eval(value)?);
                }
                Ok(Value::Record(Arc::new(record)))
            }
            HExpr::Quantifier(kind, var, set, body) => {
                let Value::Set(items) = self.eval(set)? else {
                    return broken("quantifier over a non-set");
                };
                let want = matches!(kind, QuantifierKind::Any);
                for item in items.iter() {
                    self.locals.push((var.clone(), item.clone()));
                    let holds = self.truth(body);
                    self.locals.pop();
                    if holds? == want {
                        return Ok(Value::Bool(want));
                    }
                }
                Ok(Value::Bool(!want))
            }
        }
    }

    fn member(element: &Value, set: &Value) -> Eval<Value> {
        match set {
            Value::Set(items) => Ok(Value::Bool(items.iter().any(|item| item.same(element)))),
            other => broken(format!("membership in {other}")),
        }
    }
}

/// A mathematically exact result, saturated to the 64-bit range as docs/semantics.md
/// says ("a result beyond the 64-bit range becomes the largest (or smallest) value").
fn saturate(exact: i128) -> i64 {
    i64::try_from(exact).unwrap_or(if exact < 0 { i64::MIN } else { i64::MAX })
}

/// `x * y`, exact, or saturated by its sign when even `i128` cannot hold it (it is then
/// far outside the 64-bit range anyway).
fn wide_mul(x: i128, y: i128) -> i128 {
    x.checked_mul(y).unwrap_or(if (x < 0) == (y < 0) { i128::MAX } else { i128::MIN })
}

/// Arithmetic, exact on the fixed-point scale, then saturated.
fn arith(op: ArithOp, a: &Value, b: &Value) -> Eval<Value> {
    let exact = |x: i64, y: i64| {
        let (x, y) = (i128::from(x), i128::from(y));
        saturate(match op {
            ArithOp::Add => x + y,
            ArithOp::Sub => x - y,
            ArithOp::Mul => x * y,
        })
    };
    Ok(match (op, a, b) {
        (_, Value::Int(x), Value::Int(y)) => Value::Int(exact(*x, *y)),
        (_, Value::Int(_) | Value::Decimal(_), Value::Int(_) | Value::Decimal(_)) => {
            let (x, y) = (a.as_fixed().unwrap(), b.as_fixed().unwrap());
            Value::Decimal(saturate(match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                // i128 division truncates, that is rounds toward zero.
                ArithOp::Mul => wide_mul(x, y) / i128::from(DECIMAL_SCALE),
            }))
        }
        (ArithOp::Add | ArithOp::Sub, Value::Duration(x), Value::Duration(y)) => Value::Duration(exact(*x, *y)),
        (ArithOp::Mul, Value::Duration(x), Value::Int(y)) | (ArithOp::Mul, Value::Int(y), Value::Duration(x)) => {
            Value::Duration(exact(*x, *y))
        }
        (ArithOp::Add | ArithOp::Sub, Value::Timestamp(x), Value::Duration(y)) => Value::Timestamp(exact(*x, *y)),
        (ArithOp::Add, Value::Duration(x), Value::Timestamp(y)) => Value::Timestamp(exact(*y, *x)),
        (ArithOp::Sub, Value::Timestamp(x), Value::Timestamp(y)) => Value::Duration(exact(*x, *y)),
        _ => return broken(format!("{op:?} of {a} and {b}")),
    })
}

/// A glob over the whole string: `*` is any run, `\*` a star, `\\` a backslash.
fn glob(pattern: &str, text: &str) -> bool {
    enum Token {
        Star,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => tokens.push(Token::Star),
            '\\' => match chars.next() {
                Some(escaped) => tokens.push(Token::Char(escaped)),
                None => tokens.push(Token::Char('\\')),
            },
            other => tokens.push(Token::Char(other)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // can[j]: the tokens so far match text[..j].
    let mut can = vec![false; text.len() + 1];
    can[0] = true;
    for token in &tokens {
        let mut next = vec![false; text.len() + 1];
        match token {
            Token::Star => {
                let mut seen = false;
                for j in 0..=text.len() {
                    seen |= can[j];
                    next[j] = seen;
                }
            }
            Token::Char(c) => {
                for j in 0..text.len() {
                    next[j + 1] = can[j] && text[j] == *c;
                }
            }
        }
        can = next;
    }
    can[text.len()]
}

fn deny(code: &'static str) -> ReferenceDecision {
    ReferenceDecision {
        decision: Outcome::Deny,
        code,
        forbid: Vec::new(),
        escalate: Vec::new(),
        permit: Vec::new(),
        obligations: None,
        error: None,
    }
}

/// The decision `docs/semantics.md` defines, computed rule by rule.
pub fn reference_decide(hir: &Hir, request: &Request) -> ReferenceDecision {
    // 1. No task.
    let Some(task) = request.task() else { return deny("no_task") };
    // 2. Time. The deadline never lies past the start plus the task's ttl, and the task
    // is valid before its deadline, not at it.
    let now = request.time();
    let ttl = hir.tasks.get(&*task.kind).and_then(|declared| declared.ttl);
    let deadline = ttl.map_or(task.deadline, |ttl| task.deadline.min(task.start.saturating_add(ttl)));
    if now >= deadline {
        return deny("task_expired");
    }
    if now < task.start {
        return deny("task_not_started");
    }
    // 3. Applicable policies.
    let target =
        Target { action: request.action().to_string(), resource: request.resource().map(|(ty, _)| ty.to_string()) };
    let targeting: Vec<_> = hir.policies.iter().filter(|policy| policy.targets.contains(&target)).collect();
    if targeting.is_empty() {
        return deny("no_applicable_policy");
    }
    let mut interp = Interp::new(request, Limits::default().max_eval_steps);
    let mut errors: Vec<EvalError> = Vec::new();
    let mut applicable = Vec::new();
    for policy in targeting {
        match interp.truth(&policy.condition) {
            Ok(true) => applicable.push(policy),
            Ok(false) => {}
            Err(error) => errors.push(error),
        }
    }
    // 4. Task checks.
    let Some(kind) = hir.tasks.get(&*task.kind) else {
        return ReferenceDecision { error: Some(format!("unknown task kind {}", task.kind)), ..deny("broken") };
    };
    let mut check = |expr: &HExpr, errors: &mut Vec<EvalError>| match interp.truth(expr) {
        Ok(value) => value,
        Err(error) => {
            errors.push(error);
            false
        }
    };
    let preconditions = check(&kind.require, &mut errors);
    let depth = request.chain().len() as i64 - 1;
    let delegation = match &kind.delegation {
        None => depth == 0,
        Some(clause) => {
            clause.max_depth.is_none_or(|max| depth <= max) && (depth == 0 || check(&clause.to, &mut errors))
        }
    };
    let mut in_scope = false;
    for item in &kind.scope {
        if item.targets.contains(&target) && check(&item.condition, &mut errors) {
            in_scope = true;
            break;
        }
    }

    let names = |effect: Effect| {
        let mut names: Vec<String> =
            applicable.iter().filter(|policy| policy.effect == effect).map(|policy| policy.name.clone()).collect();
        names.sort();
        names
    };
    let (forbid, escalate, permit) = (names(Effect::Forbid), names(Effect::Escalate), names(Effect::Permit));
    let mut decision = ReferenceDecision {
        decision: Outcome::Deny,
        code: "",
        forbid: forbid.clone(),
        escalate: escalate.clone(),
        permit: permit.clone(),
        obligations: None,
        error: None,
    };

    if let Some(error) = errors.iter().find(|error| matches!(error, EvalError::Broken(_))) {
        decision.code = "broken";
        decision.error = Some(format!("{error:?}"));
        return decision;
    }
    if let Some(error) = errors.first() {
        // An evaluation error denies; it never allows.
        decision.code = "evaluation_error";
        decision.error = Some(format!("{error:?}"));
        return decision;
    }

    // 5. Combining.
    decision.code = if !forbid.is_empty() {
        "forbidden"
    } else if !preconditions {
        "preconditions_failed"
    } else if !delegation {
        "delegation_exceeded"
    } else if (!permit.is_empty() || !escalate.is_empty()) && !in_scope {
        "outside_intent"
    } else if !escalate.is_empty() {
        decision.decision = Outcome::Escalate;
        "escalated"
    } else if !permit.is_empty() {
        decision.decision = Outcome::Allow;
        "permitted"
    } else {
        "no_permit"
    };

    // Obligations, with allow only.
    if decision.decision == Outcome::Allow {
        let permits: Vec<_> = applicable.iter().filter(|policy| policy.effect == Effect::Permit).collect();
        let left = deadline - now;
        let ttl = permits.iter().filter_map(|policy| policy.grant.ttl).min().map_or(left, |ttl| ttl.min(left));
        let ttl_ms = ttl / 1_000_000;
        let mut tags: Vec<String> = permits.iter().flat_map(|policy| policy.grant.tags.iter().cloned()).collect();
        tags.sort();
        tags.dedup();
        let messages = permits.iter().filter_map(|policy| policy.grant.message.clone()).collect();
        let mut scopes: Vec<(String, usize)> = permits
            .iter()
            .map(|policy| (policy.name.clone(), policy.grant.scope.as_ref().map_or(kind.scope.len(), Vec::len)))
            .collect();
        scopes.sort();
        decision.obligations =
            Some(ReferenceObligations { ttl_ms, expires_at: timestamp_text(now + ttl), tags, messages, scopes });
    }
    decision
}

/// Policy names, sorted, whatever string type the decision uses.
fn sorted_names<T: ToString>(names: &[T]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(ToString::to_string).collect();
    names.sort();
    names
}

/// Compares the graph's decision with the reference; the error says how they differ.
fn compare(reference: &ReferenceDecision, actual: &Decision) -> Result<(), String> {
    if reference.code == "broken" {
        return Err(format!("the reference hit an impossible state: {:?}", reference.error));
    }
    let mut problems = Vec::new();
    if actual.decision != reference.decision {
        problems.push(format!("decision: graph {:?}, reference {:?}", actual.decision, reference.decision));
    }
    let code = actual.reasons.first().map_or("<none>", |reason| reason.code.as_str());
    if code != reference.code {
        problems.push(format!("reason: graph {code}, reference {} {:?}", reference.code, reference.error));
    }
    let sorted = |names: &[_]| sorted_names(names);
    let graph_policies =
        (sorted(&actual.policies.forbid), sorted(&actual.policies.escalate), sorted(&actual.policies.permit));
    let reference_policies = (reference.forbid.clone(), reference.escalate.clone(), reference.permit.clone());
    if reference.code != "evaluation_error" && graph_policies != reference_policies {
        problems.push(format!(
            "policies (forbid, escalate, permit): graph {graph_policies:?}, reference {reference_policies:?}"
        ));
    }
    let graph_obligations = actual.obligations.as_ref().map(|o| {
        let mut scopes: Vec<(String, usize)> = o.scopes.iter().map(|s| (s.policy.to_string(), s.scope.len())).collect();
        scopes.sort();
        ReferenceObligations {
            ttl_ms: o.ttl_ms,
            expires_at: o.expires_at.to_string(),
            tags: o.tags.clone(),
            messages: o.messages.clone(),
            scopes,
        }
    });
    if graph_obligations != reference.obligations {
        problems.push(format!("obligations: graph {graph_obligations:?}, reference {:?}", reference.obligations));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

// ------------------------------------------------------------------------------------
// The generator: packages as source text, requests as documents
// ------------------------------------------------------------------------------------

/// The fixed schema every generated package uses.
const SCHEMA: &str = r#"schema {
  agent { team: String, name: String, level: Int, trusted: Bool, region?: String }
  enum Class { public, internal, confidential, secret }
  resource Doc {
    owner: String, path: String, size: Int, price: Decimal, class: Class, archived: Bool,
    labels: Set<String>,
  }
  resource Ticket { owner: String, number: String, size: Int, price: Decimal, class: Class, labels: Set<String> }
  action read, update on Doc, Ticket
  action pay(amount: Decimal) on Ticket
  context { network: String }
}
"#;

const PEOPLE: &[&str] = &["alice", "bob", "carol"];
const AGENTS: &[&str] = &["a1", "a2", "a3"];
const TEAMS: &[&str] = &["support", "billing", "ops"];
const CLASSES: &[&str] = &["public", "internal", "confidential", "secret"];
const LABELS: &[&str] = &["pii", "draft", "runbook", "support"];
const INTS: &[&str] = &["5", "0", "1", "10", "100", "3"];
const DECIMALS: &[&str] = &["1.0", "0.5", "2.5", "10.0", "99.9999", "0.0", "100", "5"];
const CMPS: &[&str] = &["==", "!=", "<", "<=", ">", ">="];
const EQS: &[&str] = &["==", "!="];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Read,
    Update,
    Pay,
}

const ACTS: &[Act] = &[Act::Read, Act::Update, Act::Pay];

impl Act {
    fn name(self) -> &'static str {
        match self {
            Act::Read => "read",
            Act::Update => "update",
            Act::Pay => "pay",
        }
    }

    fn applies(self) -> &'static [Res] {
        match self {
            Act::Read | Act::Update => &[Res::Doc, Res::Ticket],
            Act::Pay => &[Res::Ticket],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    Doc,
    Ticket,
}

impl Res {
    fn name(self) -> &'static str {
        match self {
            Res::Doc => "Doc",
            Res::Ticket => "Ticket",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Triage,
    Refund,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Triage => "Triage",
            Kind::Refund => "Refund",
        }
    }
}

/// Where an expression is written; decides which roots it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Policy,
    Scope,
    GrantScope,
    Require,
    DelegateTo,
}

/// What the checker's flow typing knows at a point (it mirrors `semantics::expr::Facts`):
/// the actions and resource types the request is known to be one of, the task kind and
/// whether `agent.region` is present. The checker skips an operand whose facts rule out
/// every environment (lowering makes it `false`; such packages once failed to load).
/// The generator computes the same facts, so it knows which operands are checked: it
/// writes the others only now and then, on purpose, and notes it (`dead_operands`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Facts {
    actions: Option<Vec<Act>>,
    resources: Option<Vec<Res>>,
    kind: Option<Kind>,
    region: bool,
}

fn narrow<T: Copy + PartialEq>(a: &Option<Vec<T>>, b: &Option<Vec<T>>) -> Option<Vec<T>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.iter().copied().filter(|x| b.contains(x)).collect()),
        (a, b) => a.clone().or_else(|| b.clone()),
    }
}

impl Facts {
    fn and(&self, other: &Facts) -> Facts {
        Facts {
            actions: narrow(&self.actions, &other.actions),
            resources: narrow(&self.resources, &other.resources),
            kind: other.kind.or(self.kind),
            region: self.region || other.region,
        }
    }
    fn actions(actions: Vec<Act>) -> Facts {
        Facts { actions: Some(actions), ..Facts::default() }
    }
    fn resource(res: Res) -> Facts {
        Facts { resources: Some(vec![res]), ..Facts::default() }
    }
    fn kind(kind: Kind) -> Facts {
        Facts { kind: Some(kind), ..Facts::default() }
    }
    fn region() -> Facts {
        Facts { region: true, ..Facts::default() }
    }
}

/// Where an expression is generated: what it may read and what is known there.
#[derive(Debug, Clone)]
struct Ctx {
    place: Place,
    /// The (action, resource type) environments it is checked in. At the top of a
    /// `grant scope` item these are all of the item's, whatever the permit's
    /// conditions proved; facts only rule environments out for later operands.
    base: Vec<(Act, Res)>,
    facts: Facts,
    /// The kind of the task whose clause this is.
    own_kind: Option<Kind>,
}

impl Ctx {
    fn new(place: Place, base: Vec<(Act, Res)>, own_kind: Option<Kind>) -> Ctx {
        Ctx { place, base, facts: Facts::default(), own_kind }
    }
    /// The point after a test that proved `facts`: the right operand of `and` or `or`,
    /// or the next policy condition. The checker checks it only in the environments
    /// the facts do not rule out (`ExprChecker::unreachable`; an empty set of known
    /// actions or types rules nothing out).
    fn assume(&self, facts: &Facts) -> Ctx {
        let facts = self.facts.and(facts);
        let ruled_out = |(act, res): &(Act, Res)| {
            facts.actions.as_ref().is_some_and(|a| !a.is_empty() && !a.contains(act))
                || facts.resources.as_ref().is_some_and(|r| !r.is_empty() && !r.contains(res))
        };
        let base = self.base.iter().copied().filter(|env| !ruled_out(env)).collect();
        Ctx { base, facts, ..self.clone() }
    }
    /// The environments the expression is checked in.
    fn envs(&self) -> Vec<(Act, Res)> {
        self.base.clone()
    }
    /// Whether the checker checks this point at all.
    fn reachable(&self) -> bool {
        !self.resource_place() || !self.envs().is_empty()
    }
    fn kind(&self) -> Option<Kind> {
        self.facts.kind.or(self.own_kind)
    }
    fn resource_place(&self) -> bool {
        matches!(self.place, Place::Policy | Place::Scope | Place::GrantScope)
    }
    fn resource(&self) -> bool {
        self.resource_place() && !self.envs().is_empty()
    }
    fn agent(&self) -> bool {
        self.place != Place::Require
    }
    fn context(&self) -> bool {
        self.resource_place()
    }
    fn all_res(&self, res: Res) -> bool {
        self.resource() && self.envs().iter().all(|env| env.1 == res)
    }
    fn all_pay(&self) -> bool {
        self.resource() && self.envs().iter().all(|env| env.0 == Act::Pay)
    }
    fn own_task(&self) -> bool {
        matches!(self.place, Place::Require | Place::Scope | Place::DelegateTo)
    }
}

/// A generated condition and the facts the checker derives from it being true
/// (`when_true`) and false (`when_false`).
struct Cond {
    text: String,
    wt: Facts,
    wf: Facts,
}

impl Cond {
    fn plain(text: impl Into<String>) -> Cond {
        Cond { text: text.into(), wt: Facts::default(), wf: Facts::default() }
    }
}

/// Draws choices from a tape of random bytes; past its end every choice is 0, the
/// simplest option, so shrinking the tape simplifies the package.
struct Gen<'a> {
    tape: &'a [u8],
    pos: usize,
    /// Whether the package has an operand the checker skips (a guard rules out every
    /// environment). Lowering turns those into `false`; without them, the HIR holds no
    /// constant `true`/`false` below the top of an expression.
    dead_operands: bool,
}

fn quote(text: &str) -> String {
    format!("\"{text}\"")
}

impl<'a> Gen<'a> {
    fn new(tape: &'a [u8]) -> Self {
        Gen { tape, pos: 0, dead_operands: false }
    }

    fn byte(&mut self) -> u8 {
        let byte = self.tape.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        byte
    }

    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            0
        } else {
            usize::from(self.byte()) % n
        }
    }

    /// True with about `percent`% probability; false on a 0 byte.
    fn maybe(&mut self, percent: u32) -> bool {
        u32::from(self.byte()) * 100 / 256 >= 100 - percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A non-empty sub-list, in pool order.
    fn subset(&mut self, items: &[&str]) -> Vec<String> {
        let first = self.below(items.len());
        let mut chosen: Vec<String> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if index == first || self.maybe(35) {
                chosen.push(quote(item));
            }
        }
        chosen
    }

    fn bare_subset(&mut self, items: &[&str]) -> String {
        let first = self.below(items.len());
        let mut chosen: Vec<&str> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if index == first || self.maybe(35) {
                chosen.push(item);
            }
        }
        chosen.join(", ")
    }

    // --- targets ------------------------------------------------------------------------

    /// A target (`read on Doc`, `[read, pay]`, `* on Ticket`, …) and the environments it
    /// covers. Scope items always name the resource types.
    fn target(&mut self, scope: bool) -> (String, Vec<(Act, Res)>) {
        for _ in 0..8 {
            let (action_text, acts): (String, Vec<Act>) = match self.below(4) {
                0 => {
                    let act = self.pick(ACTS);
                    (act.name().to_string(), vec![act])
                }
                1 => {
                    let first = self.below(3);
                    let second = (first + 1 + self.below(2)) % 3;
                    let (a, b) = (ACTS[first.min(second)], ACTS[first.max(second)]);
                    (format!("[{}, {}]", a.name(), b.name()), vec![a, b])
                }
                2 => ("*".to_string(), ACTS.to_vec()),
                _ => ("[read, update, pay]".to_string(), ACTS.to_vec()),
            };
            let named = action_text != "*";
            let (resource_text, filter): (String, Option<Vec<Res>>) = match self.below(if scope { 4 } else { 5 }) {
                0 if !scope => (String::new(), None),
                0 | 1 => (" on Doc".to_string(), Some(vec![Res::Doc])),
                2 => (" on Ticket".to_string(), Some(vec![Res::Ticket])),
                3 => (" on [Doc, Ticket]".to_string(), Some(vec![Res::Doc, Res::Ticket])),
                _ => (" on *".to_string(), None),
            };
            let mut envs = Vec::new();
            let mut every_action_applies = true;
            for act in &acts {
                let matching: Vec<Res> = act
                    .applies()
                    .iter()
                    .copied()
                    .filter(|res| filter.as_ref().is_none_or(|filter| filter.contains(res)))
                    .collect();
                every_action_applies &= !matching.is_empty();
                envs.extend(matching.into_iter().map(|res| (*act, res)));
            }
            if !envs.is_empty() && (every_action_applies || !named) {
                return (format!("{action_text}{resource_text}"), envs);
            }
        }
        let text = if scope { "read on Doc" } else { "read" };
        (text.to_string(), vec![(Act::Read, Res::Doc), (Act::Read, Res::Ticket)][..if scope { 1 } else { 2 }].to_vec())
    }

    // --- expressions ----------------------------------------------------------------------

    fn cond(&mut self, cx: &Ctx, depth: u32) -> Cond {
        if !cx.reachable() {
            // The checker skips this operand, and lowering makes it `false`; it is never
            // evaluated, so what it says does not matter.
            self.dead_operands = true;
            return Cond::plain(if self.maybe(50) { "agent.trusted" } else { "resource.owner == \"bob\"" });
        }
        if depth == 0 || !self.maybe(55) {
            return self.atom(cx, depth);
        }
        match self.below(3) {
            0 => {
                let a = self.cond(cx, depth - 1);
                let b = self.cond(&cx.assume(&a.wt), depth - 1);
                Cond { text: format!("({}) and ({})", a.text, b.text), wt: a.wt.and(&b.wt), wf: Facts::default() }
            }
            1 => {
                let a = self.cond(cx, depth - 1);
                let b = self.cond(&cx.assume(&a.wf), depth - 1);
                Cond { text: format!("({}) or ({})", a.text, b.text), wt: Facts::default(), wf: a.wf.and(&b.wf) }
            }
            _ => {
                let a = self.cond(cx, depth - 1);
                Cond { text: format!("not ({})", a.text), wt: a.wf, wf: a.wt }
            }
        }
    }

    fn atom(&mut self, cx: &Ctx, depth: u32) -> Cond {
        const ATOMS: usize = 25;
        let start = self.below(ATOMS);
        for offset in 0..ATOMS {
            if let Some(cond) = self.try_atom((start + offset) % ATOMS, cx, depth) {
                return cond;
            }
        }
        Cond::plain("true")
    }

    fn one_of(&mut self, options: Vec<String>) -> Option<String> {
        if options.is_empty() {
            None
        } else {
            let index = self.below(options.len());
            options.into_iter().nth(index)
        }
    }

    #[allow(clippy::too_many_lines)]
    fn try_atom(&mut self, kind: usize, cx: &Ctx, depth: u32) -> Option<Cond> {
        let person = quote(self.pick(PEOPLE));
        let agent_id = quote(self.pick(AGENTS));
        let int = self.pick(INTS);
        let dec = self.pick(DECIMALS);
        let cmp = self.pick(CMPS);
        let eq = self.pick(EQS);
        let label = quote(self.pick(LABELS));
        let class = self.pick(CLASSES);
        let text = match kind {
            1 if cx.resource() => Some(format!("resource.owner {eq} {person}")),
            2 if cx.resource() => Some(format!("resource.owner in [{}]", self.subset(PEOPLE).join(", "))),
            3 if cx.resource() => Some(format!("resource.size {cmp} {int}")),
            4 if cx.resource() => Some(format!("resource.price {cmp} {dec}")),
            5 if cx.resource() => Some(if self.maybe(50) {
                format!("resource.class in [{}]", self.bare_subset(CLASSES))
            } else {
                format!("resource.class {cmp} {class}")
            }),
            6 if cx.all_res(Res::Doc) => {
                Some(if self.maybe(50) { "not resource.archived" } else { "resource.archived" }.to_string())
            }
            7 if cx.resource() => Some(if self.maybe(50) {
                format!("resource.labels contains {label}")
            } else {
                format!("{label} in resource.labels")
            }),
            8 if cx.resource() => self.one_of(vec![
                "any(t in resource.labels: t starts_with \"p\")".to_string(),
                format!("all(t in resource.labels: t != {label})"),
                "any(t in resource.labels: t in [\"pii\", \"runbook\"])".to_string(),
                "all(t in resource.labels: not (t matches \"*ra*\"))".to_string(),
                "any(t in resource.labels: t == agent.team)".to_string(),
                "any(t in resource.labels: any(u in resource.labels: t != u and u ends_with \"t\"))".to_string(),
                "all(t in resource.labels: t != resource.owner)".to_string(),
            ]),
            9 if cx.resource() => self.one_of(vec![
                "resource.owner == agent.name".to_string(),
                "resource.owner != chain.sponsor".to_string(),
                "resource.size > agent.level".to_string(),
                "resource.size <= agent.level".to_string(),
                "resource.price >= resource.size".to_string(),
                "resource.owner in [agent.name, \"bob\"]".to_string(),
                "resource.owner in chain.links".to_string(),
                "agent.team in resource.labels".to_string(),
            ]),
            10 if cx.all_res(Res::Doc) => self.one_of(vec![
                "resource.path starts_with \"/kb/\"".to_string(),
                "resource.path ends_with \".draft\"".to_string(),
                "resource.path contains \"kb\"".to_string(),
                "resource.path matches \"/kb/*\"".to_string(),
                "resource.path matches \"*.draft\"".to_string(),
                "resource.path matches \"/kb/\\\\*\"".to_string(),
                "resource.path == \"\"".to_string(),
            ]),
            10 if cx.all_res(Res::Ticket) => self.one_of(vec![
                "resource.number matches \"T-*\"".to_string(),
                "resource.number starts_with \"T\"".to_string(),
                "resource.number == \"T-1\"".to_string(),
                "resource.number matches \"T-\\\\*\"".to_string(),
                "resource.number matches \"*\"".to_string(),
            ]),
            11 if cx.resource() => self.one_of(vec![
                format!("resource.size + {int} > 10"),
                "resource.size * 2 <= agent.level".to_string(),
                "-resource.size < 0".to_string(),
                "resource.size - agent.level >= 0".to_string(),
                "resource.size * resource.size >= 25".to_string(),
            ]),
            12 if cx.resource() => self.one_of(vec![
                format!("resource.price * 2.5 > {dec}"),
                "resource.price + 0.5 <= 1.0".to_string(),
                "resource.price * resource.price > 1.0".to_string(),
                "-resource.price < 0.0".to_string(),
                "resource.price * 3 == 7.5".to_string(),
                "resource.price - 0.0001 < 99.9999".to_string(),
            ]),
            13 if cx.resource() => {
                let res = self.pick(&[Res::Doc, Res::Ticket]);
                // Now and then a guard that rules everything out, so what follows it is
                // never checked.
                if !cx.assume(&Facts::resource(res)).reachable() && !self.maybe(30) {
                    return None;
                }
                let test = format!("resource is {}", res.name());
                if self.maybe(25) {
                    return Some(if self.maybe(50) {
                        Cond { text: format!("not ({test})"), wt: Facts::default(), wf: Facts::resource(res) }
                    } else {
                        Cond { text: format!("({test})"), wt: Facts::resource(res), wf: Facts::default() }
                    });
                }
                let inner = self.cond(&cx.assume(&Facts::resource(res)), depth.saturating_sub(1));
                return Some(Cond {
                    text: format!("{test} and ({})", inner.text),
                    wt: Facts::resource(res).and(&inner.wt),
                    wf: Facts::default(),
                });
            }
            14 if cx.resource() => {
                let act = self.pick(ACTS);
                let mut acts = vec![act];
                let list = self.maybe(30);
                if list && self.maybe(50) {
                    acts.push(if act == Act::Read { Act::Update } else { Act::Read });
                }
                if !cx.assume(&Facts::actions(acts.clone())).reachable() && !self.maybe(30) {
                    return None;
                }
                let names: Vec<&str> = acts.iter().map(|act| act.name()).collect();
                let test = if list {
                    format!("action in [{}]", names.join(", "))
                } else {
                    format!("action == {}", act.name())
                };
                if self.maybe(20) {
                    return Some(if eq == "!=" {
                        Cond::plain(format!("action != {}", act.name()))
                    } else {
                        Cond { text: test, wt: Facts::actions(acts), wf: Facts::default() }
                    });
                }
                let inner = self.cond(&cx.assume(&Facts::actions(acts.clone())), depth.saturating_sub(1));
                return Some(Cond {
                    text: format!("{test} and ({})", inner.text),
                    wt: Facts::actions(acts).and(&inner.wt),
                    wf: Facts::default(),
                });
            }
            15 if cx.all_pay() => self.one_of(vec![
                format!("args.amount {cmp} {dec}"),
                "args.amount in [10, 0.5]".to_string(),
                "args.amount <= resource.price".to_string(),
                "args.amount * 2 > resource.price".to_string(),
                "args.amount + resource.price > 10.0".to_string(),
                "resource.size * args.amount >= 25".to_string(),
            ]),
            16 if cx.agent() => Some(if self.maybe(40) {
                format!("agent.team in [{}]", self.subset(TEAMS).join(", "))
            } else {
                format!("agent.team {eq} {}", quote(self.pick(TEAMS)))
            }),
            17 if cx.agent() => self.one_of(vec![
                "agent.trusted".to_string(),
                format!("agent.level {cmp} {int}"),
                format!("agent.id == {agent_id}"),
                "agent.id in [\"a1\", \"a2\"]".to_string(),
                format!("agent.name {eq} {person}"),
            ]),
            18 if cx.agent() => {
                let mut options = vec![
                    Cond {
                        text: "agent has region and agent.region == \"eu\"".to_string(),
                        wt: Facts::region(),
                        wf: Facts::default(),
                    },
                    Cond {
                        text: "not (agent has region) or agent.region != \"us\"".to_string(),
                        wt: Facts::default(),
                        wf: Facts::region(),
                    },
                    Cond {
                        text: "agent has region and agent.region in [\"eu\", \"apac\"]".to_string(),
                        wt: Facts::region(),
                        wf: Facts::default(),
                    },
                    Cond { text: "agent has region".to_string(), wt: Facts::region(), wf: Facts::default() },
                ];
                if cx.resource() {
                    options.push(Cond {
                        text: "agent has region and (agent.region starts_with \"e\" or agent.region == resource.owner)"
                            .to_string(),
                        wt: Facts::region(),
                        wf: Facts::default(),
                    });
                }
                if cx.facts.region {
                    options.push(Cond::plain("agent.region == \"eu\""));
                }
                let index = self.below(options.len());
                return options.into_iter().nth(index);
            }
            19 if cx.place != Place::Require => {
                let kind = self.pick(&[Kind::Triage, Kind::Refund]);
                let test = format!("task is {}", kind.name());
                if self.maybe(20) {
                    return Some(if self.maybe(50) {
                        Cond { text: format!("not ({test})"), wt: Facts::default(), wf: Facts::kind(kind) }
                    } else {
                        Cond { text: format!("({test})"), wt: Facts::kind(kind), wf: Facts::default() }
                    });
                }
                let is = cx.assume(&Facts::kind(kind));
                if !is.reachable() {
                    self.dead_operands = true;
                }
                let inner = if depth > 0 && self.maybe(30) {
                    self.cond(&is, depth - 1)
                } else {
                    Cond::plain(self.param_atom(&is, kind))
                };
                return Some(Cond {
                    text: format!("{test} and ({})", inner.text),
                    wt: Facts::kind(kind).and(&inner.wt),
                    wf: Facts::default(),
                });
            }
            20 => cx.kind().map(|kind| self.param_atom(cx, kind)),
            21 if cx.agent() => {
                let depth_limit = self.below(3);
                self.one_of(vec![
                    format!("chain.depth <= {depth_limit}"),
                    "chain.depth == 0".to_string(),
                    format!("chain.sponsor == {person}"),
                    format!("chain.root == {agent_id}"),
                    format!("chain.delegator == {agent_id}"),
                    format!("{agent_id} in chain.links"),
                    "chain.root == agent.id".to_string(),
                    "chain.delegator == chain.sponsor".to_string(),
                    "agent.id in chain.links".to_string(),
                    format!("chain.links contains {person}"),
                    "chain.root != chain.delegator".to_string(),
                ])
            }
            22 if cx.context() => self.one_of(vec![
                "context.network == \"corp\"".to_string(),
                "context.time.hour >= 12".to_string(),
                "context.time.weekday <= 5".to_string(),
                "context.time < task.start + 10m".to_string(),
                "context.time - task.start > 5m".to_string(),
                "context.time <= task.deadline - 5m".to_string(),
                "(context.time + 1h).hour < 12".to_string(),
            ]),
            23 if cx.place == Place::Policy => self.one_of(vec![
                "behavior.risk > 0.5".to_string(),
                "behavior.novel_action".to_string(),
                "behavior.risk * 2 >= 1.0".to_string(),
                "behavior.risk >= 0.9 or behavior.novel_action".to_string(),
            ]),
            24 if cx.place != Place::Require => self.one_of(vec![
                "task.id == \"t1\"".to_string(),
                "task.deadline - task.start >= 30m".to_string(),
                "task.start.hour >= 12".to_string(),
            ]),
            _ => None,
        };
        text.map(Cond::plain)
    }

    /// A condition on the parameters of task kind `kind`, which `cx` knows.
    fn param_atom(&mut self, cx: &Ctx, kind: Kind) -> String {
        let cmp = self.pick(CMPS);
        // Bare parameter names only name the parameters of the task being declared.
        let bare = cx.own_task() && cx.own_kind == Some(kind);
        let mut options = Vec::new();
        match kind {
            Kind::Triage => {
                options.push(format!("task.owner == {}", quote(self.pick(PEOPLE))));
                options.push(format!("task.level {cmp} {}", self.pick(&["1", "2", "0"])));
                options.push(format!("task.max_class >= {}", self.pick(CLASSES)));
                options.push("task.owner != \"\"".to_string());
                if bare {
                    options.push("level <= 3".to_string());
                    options.push("owner matches \"*o*\"".to_string());
                }
                if cx.resource() {
                    options.push("task.owner == resource.owner".to_string());
                    options.push("resource.class <= task.max_class".to_string());
                    options.push("resource.size <= task.level * 10".to_string());
                    options.push("task.owner in resource.labels".to_string());
                }
                if cx.agent() {
                    options.push("task.level >= agent.level".to_string());
                    options.push("task.owner == chain.sponsor".to_string());
                    options.push("agent.name == task.owner".to_string());
                }
            }
            Kind::Refund => {
                options.push(format!("task.cap {cmp} {}", self.pick(DECIMALS)));
                options.push("task.ticket matches \"T-*\"".to_string());
                options.push("task.ticket starts_with \"T\"".to_string());
                options.push("task.ticket != \"\"".to_string());
                if bare {
                    options.push("cap <= 100.0".to_string());
                }
                if cx.all_res(Res::Ticket) {
                    options.push("task.ticket == resource.number".to_string());
                }
                if cx.all_pay() {
                    options.push("args.amount <= task.cap".to_string());
                }
                if cx.resource() {
                    options.push("resource.price <= task.cap".to_string());
                }
                if cx.agent() {
                    options.push("task.cap > agent.level".to_string());
                }
            }
        }
        self.one_of(options).unwrap_or_else(|| "true".to_string())
    }

    // --- declarations ---------------------------------------------------------------------

    /// A scope block; `facts` is what holds where it is checked (what a permit's
    /// conditions proved, for a `grant scope`).
    fn scope_block(&mut self, place: Place, kind: Option<Kind>, facts: &Facts) -> String {
        let count = 1 + self.below(3);
        let mut items = Vec::new();
        for _ in 0..count {
            let (target, envs) = self.target(true);
            let mut cx = Ctx::new(place, envs, kind);
            cx.facts = facts.clone();
            if self.maybe(65) {
                // The top of the condition is checked in all the item's environments,
                // but an operand after `and` or `or` only where the permit's facts allow.
                if !cx.assume(&Facts::default()).reachable() {
                    self.dead_operands = true;
                }
                let condition = self.cond(&cx, 2).text;
                items.push(format!("    {target} where {condition}"));
            } else {
                items.push(format!("    {target}"));
            }
        }
        format!("{{\n{},\n  }}", items.join(",\n"))
    }

    fn task(&mut self, kind: Kind) -> String {
        let params = match kind {
            Kind::Triage => "owner: String, level: Int, max_class: Class",
            Kind::Refund => "ticket: String, cap: Decimal",
        };
        let mut text = format!("task {}({params}) {{\n", kind.name());
        if self.maybe(30) {
            text += "  intent \"generated\"\n";
        }
        if self.maybe(40) {
            let cx = Ctx::new(Place::Require, Vec::new(), Some(kind));
            text += &format!("  require {}\n", self.cond(&cx, 1).text);
        }
        if self.maybe(90) {
            text += &format!("  scope {}\n", self.scope_block(Place::Scope, Some(kind), &Facts::default()));
        }
        if self.maybe(30) {
            text += &format!("  ttl {}\n", self.pick(&["15m", "1h", "10s"]));
        }
        let depth = self.below(3);
        let to_cx = Ctx::new(Place::DelegateTo, Vec::new(), Some(kind));
        match self.below(5) {
            0 => {}
            1 => text += "  delegate\n",
            2 => text += &format!("  delegate depth <= {depth}\n"),
            3 => text += &format!("  delegate to {}\n", self.cond(&to_cx, 1).text),
            _ => text += &format!("  delegate depth <= {depth} to {}\n", self.cond(&to_cx, 1).text),
        }
        text + "}\n"
    }

    fn policy(&mut self, index: usize) -> String {
        let effect = self.pick(&[Effect::Permit, Effect::Permit, Effect::Forbid, Effect::Escalate]);
        let (target, envs) = self.target(false);
        let mut text = format!("policy p{index}:\n  {} {target}\n", effect.keyword());
        // What the conditions so far proved: each holds in the ones after it.
        let mut cx = Ctx::new(Place::Policy, envs, None);
        // Unconditional forbids and escalates would decide too many requests alone.
        let clauses = if effect == Effect::Permit { self.below(3) } else { 1 + self.below(2) };
        for _ in 0..clauses {
            if !cx.reachable() {
                // The checker stops checking a policy's conditions there: this one
                // lowers to `false`.
                self.dead_operands = true;
                text += "  when agent.trusted\n";
                continue;
            }
            match self.below(8) {
                0 => {
                    let kind = self.pick(&[Kind::Triage, Kind::Refund]);
                    text += &format!("  when task is {}\n", kind.name());
                    cx = cx.assume(&Facts::kind(kind));
                }
                1 => {
                    text +=
                        if self.maybe(50) { "  when agent has region\n" } else { "  unless not (agent has region)\n" };
                    text += &format!("  when agent.region {} \"eu\"\n", self.pick(EQS));
                    cx = cx.assume(&Facts::region());
                }
                _ => {
                    let cond = self.cond(&cx, 3);
                    if self.maybe(25) {
                        text += &format!("  unless {}\n", cond.text);
                        cx = cx.assume(&cond.wf);
                    } else {
                        text += &format!("  when {}\n", cond.text);
                        cx = cx.assume(&cond.wt);
                    }
                }
            }
        }
        if effect == Effect::Permit {
            let mut grants = Vec::new();
            if self.maybe(75) {
                grants.push(format!("ttl {}", self.pick(&["5m", "1m", "10m", "1h", "2h", "45m", "20m"])));
            }
            if self.maybe(50) {
                let tags: Vec<String> =
                    (0..=self.below(3)).map(|_| quote(self.pick(&["audit", "billing", "pii", "audit"]))).collect();
                grants.push(format!("tags [{}]", tags.join(", ")));
            }
            if self.maybe(30) {
                grants.push(format!("message \"message of p{index}\""));
            }
            if self.maybe(20) {
                grants.push(format!("scope {}", self.scope_block(Place::GrantScope, None, &cx.facts)));
            }
            match grants.len() {
                0 => {}
                1 if self.maybe(50) => text += &format!("  grant {}\n", grants[0]),
                _ => text += &format!("  grant {{\n    {}\n  }}\n", grants.join("\n    ")),
            }
        }
        text
    }

    /// A whole package: the schema, both tasks and 1 to 6 policies.
    fn package(&mut self) -> String {
        let mut text = SCHEMA.to_string();
        text += &self.task(Kind::Triage);
        text += &self.task(Kind::Refund);
        let count = 1 + self.below(6);
        for index in 0..count {
            text += &self.policy(index);
        }
        text
    }

    // --- requests -----------------------------------------------------------------------

    fn int_value(&mut self) -> i64 {
        // Now and then the ends of the range, and the edge of what a decimal can hold.
        match self.below(20) {
            16 => i64::MAX,
            17 => i64::MIN,
            18 => 922_337_203_685_477,
            19 => 922_337_203_685_478,
            n => [5, 0, 1, 10, 100, -1, 3, 25][n % 8],
        }
    }

    fn decimal_value(&mut self) -> &'static str {
        match self.below(16) {
            14 => "922337203685477.5807",
            15 => "-922337203685477.5808",
            n => ["1.0", "0.5", "2.5", "10.0", "99.9999", "0.0", "-2.25", "100"][n % 8],
        }
    }

    fn labels(&mut self) -> Vec<&'static str> {
        LABELS.iter().copied().filter(|_| self.maybe(45)).collect()
    }

    /// A valid request document and the `now` to prepare it at.
    fn request(&mut self) -> (RequestDoc, i64) {
        let mut agent_attrs = json!({
            "team": self.pick(TEAMS),
            "name": self.pick(PEOPLE),
            "level": self.pick(&[1, 0, 2, 3, 10]),
            "trusted": self.maybe(50),
        });
        if self.maybe(50) {
            agent_attrs["region"] = json!(self.pick(&["eu", "us", "apac"]));
        }
        let agent_id = self.pick(AGENTS);
        let mut chain = vec![self.pick(PEOPLE).to_string()];
        let hops = if self.maybe(35) { 1 + self.below(3) } else { 0 };
        for _ in 0..hops {
            chain.push(self.pick(AGENTS).to_string());
        }

        const MINUTE: i64 = 60_000_000_000;
        let start = parse_timestamp(self.pick(&["2026-11-30T10:00:00Z", "2026-12-05T22:30:00Z"])).unwrap();
        let length = self.pick(&[30 * MINUTE, 15 * MINUTE, 120 * MINUTE]);
        // Now and then a task that ends as it starts; a deadline before the start is an
        // invalid request, which validation rejects before anything is decided.
        let deadline = if self.maybe(3) { start } else { start + length };
        let time = match self.below(30) {
            0..=11 | 24.. => start + 5 * MINUTE,
            12 | 13 => start,
            14 | 15 => deadline,
            16 | 17 => start + 20 * MINUTE,
            18 => deadline + 1,
            19 => start - 1,
            20 => deadline + 60 * MINUTE,
            21 => start - 60 * MINUTE,
            22 => deadline - 1,
            _ => start + 90 * MINUTE,
        };
        let task = if self.maybe(4) {
            None
        } else {
            let (kind, params) = if self.maybe(50) {
                (
                    "Refund",
                    json!({
                        "ticket": self.pick(&["T-1", "T-2", "X-3", ""]),
                        "cap": self.pick(&["10.0", "0.0", "5.0", "100.0", "-1.0", "250.5"]),
                    }),
                )
            } else {
                (
                    "Triage",
                    json!({
                        "owner": self.pick(&["alice", "bob", "carol", ""]),
                        "level": self.pick(&[1, 0, 2, 3, 5]),
                        "max_class": self.pick(CLASSES),
                    }),
                )
            };
            Some(json!({
                "kind": kind,
                "id": self.pick(&["t1", "t2"]),
                "start": timestamp_text(start),
                "deadline": timestamp_text(deadline),
                "params": params,
            }))
        };

        let act = self.pick(ACTS);
        let res = self.pick(act.applies());
        let mut resource_attrs = json!({
            "owner": self.pick(PEOPLE),
            "size": self.int_value(),
            "price": self.decimal_value(),
            "class": self.pick(CLASSES),
            "labels": self.labels(),
        });
        match res {
            Res::Doc => {
                resource_attrs["path"] = json!(self.pick(&["/kb/a", "/kb/b.draft", "/tmp/x", "kb", "/kb/*", ""]));
                resource_attrs["archived"] = json!(self.maybe(40));
            }
            Res::Ticket => {
                resource_attrs["number"] = json!(self.pick(&["T-1", "T-2", "X-3", "T-*"]));
            }
        }
        let args = if act == Act::Pay {
            json!({ "amount": self.pick(&["5.0", "0.5", "10.0", "100.0", "250.5", "2.5"]) })
        } else {
            json!({})
        };
        let mut context = json!({ "network": self.pick(&["corp", "home"]) });
        // Usually `context.time` is given; otherwise it defaults to `now`.
        if !self.maybe(10) {
            context["time"] = json!(timestamp_text(time));
        }
        let behavior = json!({
            "risk": self.pick(&["0.1", "0.5", "0.9", "0.0"]),
            "novel_action": self.maybe(30),
        });
        let mut doc = json!({
            "agent": { "id": agent_id, "attrs": agent_attrs },
            "chain": chain,
            "action": act.name(),
            "args": args,
            "resource": { "type": res.name(), "id": self.pick(&["r1", "r2"]), "attrs": resource_attrs },
            "context": context,
            "behavior": behavior,
        });
        if let Some(task) = task {
            doc["task"] = task;
        }
        (serde_json::from_value(doc).expect("a well-formed request document"), time)
    }
}

/// Loads a package, failing with the rendered diagnostics.
fn load(source: &str) -> PolicySet {
    match PolicySet::from_sources(&[("equivalence.mandate", source)], Limits::default()) {
        Ok(set) => set,
        Err(error) => panic!("the package does not check:\n{source}\n{}", error.render()),
    }
}

/// Decides one request both ways and compares.
fn check_request(set: &PolicySet, source: &str, doc: &RequestDoc, now: i64) -> Result<(), String> {
    let request = match set.prepare_at(doc, now) {
        Ok(request) => request,
        Err(errors) => panic!("the generator made an invalid request {doc:?}: {errors:?}"),
    };
    let reference = reference_decide(set.hir(), &request);
    let actual = set.decide(&request);
    compare(&reference, &actual).map_err(|problems| {
        format!(
            "the graph and the reference disagree\n{problems}\n--- package ---\n{source}--- request ---\n{}\n--- graph decision ---\n{}",
            serde_json::to_string_pretty(doc).unwrap_or_default(),
            actual.to_text(),
        )
    })
}

const REQUESTS_PER_PACKAGE: usize = 20;

/// The random choices behind one case, shown compactly when a case fails.
#[derive(Clone)]
struct Tape(Vec<u8>);

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.0.iter().map(|byte| format!("{byte:02x}")).collect();
        write!(f, "Tape({} bytes: {hex})", self.0.len())
    }
}

/// Calls `f` on every expression of the package, with whether it is a whole expression.
fn each_expression(hir: &Hir, f: &mut dyn FnMut(&HExpr, bool)) {
    let whole = |expr: &HExpr, f: &mut dyn FnMut(&HExpr, bool)| {
        f(expr, true);
        let mut first = true;
        expr.visit(&mut |inner| {
            if !std::mem::take(&mut first) {
                f(inner, false);
            }
        });
    };
    for policy in &hir.policies {
        whole(&policy.condition, f);
        for item in policy.grant.scope.iter().flatten() {
            whole(&item.condition, f);
        }
    }
    for task in hir.tasks.values() {
        whole(&task.require, f);
        for item in &task.scope {
            whole(&item.condition, f);
        }
        if let Some(delegation) = &task.delegation {
            whole(&delegation.to, f);
        }
    }
}

/// The generated source has no `true` or `false`, so a constant below the top of a
/// lowered expression means lowering replaced an operand the checker did check: the
/// reference reads the same HIR as the graph and could not see that.
fn check_lowering(hir: &Hir, source: &str) -> Result<(), TestCaseError> {
    let mut found = Vec::new();
    each_expression(hir, &mut |expr, whole| {
        if matches!(expr, HExpr::Const(Value::Bool(_))) && !(whole && *expr == HExpr::TRUE) {
            found.push(format!("{expr:?}"));
        }
    });
    if found.is_empty() {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!("lowering made checked operands constant {found:?} in\n{source}")))
    }
}

fn check_case(tape: &[u8]) -> Result<(), TestCaseError> {
    let mut gen = Gen::new(tape);
    let source = gen.package();
    let set = load(&source);
    if !gen.dead_operands {
        check_lowering(set.hir(), &source)?;
    }
    for _ in 0..REQUESTS_PER_PACKAGE {
        let (doc, now) = gen.request();
        check_request(&set, &source, &doc, now).map_err(TestCaseError::fail)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4000,
        max_shrink_iters: 1000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn compiled_graph_matches_reference(tape in proptest::collection::vec(any::<u8>(), 256..3072).prop_map(Tape)) {
        check_case(&tape.0)?;
    }
}

/// A fixed pseudo-random tape (xorshift), for tests that need no shrinking.
fn fixed_tape(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

/// The generator reaches every step of the combining order, so the property test above
/// is not vacuous: each reason code comes up, and a fair share of requests is allowed.
#[test]
fn generated_cases_reach_every_outcome() {
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut total = 0;
    let mut with_dead_operands = 0;
    let packages = 150;
    for seed in 0..packages {
        let tape = fixed_tape(seed, 3072);
        let mut gen = Gen::new(&tape);
        let source = gen.package();
        let set = load(&source);
        if gen.dead_operands {
            with_dead_operands += 1;
        } else {
            check_lowering(set.hir(), &source).unwrap();
        }
        for _ in 0..REQUESTS_PER_PACKAGE {
            let (doc, now) = gen.request();
            let request = set.prepare_at(&doc, now).expect("a valid request");
            let reference = reference_decide(set.hir(), &request);
            *codes.entry(reference.code.to_string()).or_default() += 1;
            total += 1;
        }
    }
    eprintln!("reference reason codes over {total} generated requests: {codes:?}");
    eprintln!("{with_dead_operands} of {packages} packages have operands the checker skips");
    assert!(
        (packages / 20..packages / 2).contains(&with_dead_operands),
        "{with_dead_operands} of {packages} packages have operands the checker skips"
    );
    for code in [
        "no_task",
        "task_expired",
        "task_not_started",
        "no_applicable_policy",
        "forbidden",
        "preconditions_failed",
        "delegation_exceeded",
        "outside_intent",
        "escalated",
        "permitted",
        "no_permit",
    ] {
        let count = codes.get(code).copied().unwrap_or(0);
        assert!(count * 200 >= total, "only {count} of {total} requests end in `{code}`: {codes:?}");
    }
    assert!(!codes.contains_key("broken"), "the reference hit an impossible state: {codes:?}");
}

// ------------------------------------------------------------------------------------
// Deterministic edge cases
// ------------------------------------------------------------------------------------

const EDGE_PACKAGE: &str = r#"
task Triage(owner: String, level: Int, max_class: Class) {
  require level >= 1
  scope {
    [read, update] on Doc where resource.owner == task.owner,
    [read, update] on Ticket,
  }
  delegate depth <= 1 to agent.team == "support"
}

task Refund(ticket: String, cap: Decimal) {
  require cap > 0.0
  scope { pay on Ticket where resource.number == task.ticket and args.amount <= task.cap }
}

policy owners_read:
  permit read on Doc
  when task is Triage and resource.owner == task.owner
  grant {
    ttl 1h
    tags ["pii", "audit", "pii"]
    message "owner read"
  }

policy small_docs:
  permit [read, update] on Doc
  when resource.size < 10
  grant {
    ttl 45m
    tags ["audit"]
    message "small doc"
  }

policy no_secrets:
  forbid [read, update] on Doc
  when resource.class == secret

policy big_payments:
  escalate pay on Ticket
  when args.amount > 100.0

policy pays:
  permit pay on Ticket
  when task is Refund
  grant ttl 10m

policy us_agents_keep_out:
  forbid read on Ticket
  when agent has region and agent.region == "us"

policy ticket_reads:
  permit read on Ticket
  grant ttl 2m

policy huge_prices:
  forbid update on Doc
  when resource.price * 1000 > 1000000.0

policy huge_docs:
  forbid update on Doc
  when resource.size >= 1000

// `resource is Ticket` rules out the only environment, so the checker never checks
// what follows it; the package must still load, and the policy never applies.
policy never_applies:
  permit read on Doc
  when resource is Ticket and resource.owner == "bob"
  grant ttl 5m

policy exhaustive_search:
  permit update on Ticket
  unless any(a in resource.labels: any(b in resource.labels: any(c in resource.labels: a == "x")))
  grant ttl 1m
"#;

fn edge_set() -> PolicySet {
    load(&format!("{SCHEMA}{EDGE_PACKAGE}"))
}

const START: &str = "2026-11-30T10:00:00Z";
const DEADLINE: &str = "2026-11-30T10:30:00Z";

fn edge_request(task: Option<serde_json::Value>, action: &str, resource: serde_json::Value) -> serde_json::Value {
    let mut doc = json!({
        "agent": { "id": "a1", "attrs": { "team": "support", "name": "alice", "level": 1, "trusted": true } },
        "chain": ["alice"],
        "action": action,
        "resource": resource,
        "context": { "network": "corp", "time": "2026-11-30T10:05:00Z" },
    });
    if let Some(task) = task {
        doc["task"] = task;
    }
    doc
}

fn triage() -> serde_json::Value {
    json!({
        "kind": "Triage", "id": "t1", "start": START, "deadline": DEADLINE,
        "params": { "owner": "alice", "level": 2, "max_class": "secret" },
    })
}

fn doc_resource(class: &str, size: i64) -> serde_json::Value {
    json!({ "type": "Doc", "id": "d1", "attrs": {
        "owner": "alice", "path": "/kb/a", "size": size, "price": "1.0", "class": class,
        "archived": false, "labels": [],
    } })
}

fn ticket_resource(number: &str) -> serde_json::Value {
    json!({ "type": "Ticket", "id": "k1", "attrs": {
        "owner": "bob", "number": number, "size": 1, "price": "1.0", "class": "public", "labels": ["pii"],
    } })
}

/// Decides a request with the graph and the reference, checks they agree and returns
/// the graph's decision.
fn decide_both(set: &PolicySet, doc: serde_json::Value) -> Decision {
    let doc: RequestDoc = serde_json::from_value(doc).expect("a well-formed request document");
    let request = set.prepare_at(&doc, 0).expect("a valid request");
    let reference = reference_decide(set.hir(), &request);
    let actual = set.decide(&request);
    if let Err(problems) = compare(&reference, &actual) {
        panic!("{problems}\n{}", actual.to_text());
    }
    actual
}

fn code(decision: &Decision) -> &str {
    decision.reasons[0].code.as_str()
}

#[test]
fn request_without_a_task_is_denied_no_task() {
    let set = edge_set();
    let decision = decide_both(&set, edge_request(None, "read", doc_resource("public", 1)));
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "no_task");
    assert!(decision.policies.permit.is_empty());
}

#[test]
fn request_after_the_deadline_is_denied_task_expired() {
    let set = edge_set();
    let mut doc = edge_request(Some(triage()), "read", doc_resource("public", 1));
    doc["context"]["time"] = json!("2026-11-30T10:30:00.001Z");
    let decision = decide_both(&set, doc);
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "task_expired");
    // The deadline is exclusive, to the nanosecond: at it, or a microsecond past it, the
    // task has expired; a nanosecond before, it is alive.
    for late in [DEADLINE, "2026-11-30T10:30:00.000001Z", "2026-11-30T10:30:00.000999Z"] {
        let mut doc = edge_request(Some(triage()), "read", doc_resource("public", 1));
        doc["context"]["time"] = json!(late);
        let decision = decide_both(&set, doc);
        assert_eq!(code(&decision), "task_expired", "at {late}");
    }
    let mut doc = edge_request(Some(triage()), "read", doc_resource("public", 1));
    doc["context"]["time"] = json!("2026-11-30T10:29:59.999999999Z");
    let decision = decide_both(&set, doc);
    assert_eq!(decision.decision, Outcome::Allow);
    let obligations = decision.obligations.as_ref().unwrap();
    assert_eq!(obligations.ttl_ms, 0);
    assert_eq!(obligations.expires_at.to_string(), DEADLINE);
}

#[test]
fn forbid_beats_permit_and_both_are_listed() {
    let set = edge_set();
    let decision = decide_both(&set, edge_request(Some(triage()), "read", doc_resource("secret", 1)));
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "forbidden");
    assert_eq!(sorted_names(&decision.policies.forbid), ["no_secrets"]);
    assert_eq!(sorted_names(&decision.policies.permit), ["owners_read", "small_docs"]);
    assert!(decision.obligations.is_none());
}

#[test]
fn escalate_outside_the_task_scope_is_denied_outside_intent() {
    let set = edge_set();
    let refund = json!({
        "kind": "Refund", "id": "t2", "start": START, "deadline": DEADLINE,
        "params": { "ticket": "T-1", "cap": "500.0" },
    });
    let mut doc = edge_request(Some(refund), "pay", ticket_resource("T-2"));
    doc["args"] = json!({ "amount": "250.0" });
    let decision = decide_both(&set, doc.clone());
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "outside_intent");
    assert_eq!(sorted_names(&decision.policies.escalate), ["big_payments"]);
    assert_eq!(sorted_names(&decision.policies.permit), ["pays"]);
    // Inside the scope the same request escalates.
    doc["resource"] = ticket_resource("T-1");
    let decision = decide_both(&set, doc);
    assert_eq!(decision.decision, Outcome::Escalate);
    assert_eq!(code(&decision), "escalated");
}

#[test]
fn ttl_is_clipped_by_the_deadline_and_tags_are_sorted_and_deduplicated() {
    let set = edge_set();
    let mut doc = edge_request(Some(triage()), "read", doc_resource("public", 1));
    doc["context"]["time"] = json!("2026-11-30T10:10:00Z");
    let decision = decide_both(&set, doc);
    assert_eq!(decision.decision, Outcome::Allow);
    let obligations = decision.obligations.expect("an allow carries obligations");
    // The shortest grant is 45m, but only 20m are left before the deadline.
    assert_eq!(obligations.ttl_ms, 20 * 60_000); // milliseconds
    assert_eq!(obligations.expires_at.to_string(), DEADLINE);
    assert_eq!(obligations.tags, ["audit", "pii"]);
    assert_eq!(obligations.messages, ["owner read", "small doc"]);
    // Well before the deadline the shortest grant wins.
    let mut long_task = triage();
    long_task["deadline"] = json!("2026-11-30T12:00:00Z");
    let mut doc = edge_request(Some(long_task), "read", doc_resource("public", 1));
    doc["context"]["time"] = json!(START);
    let obligations = decide_both(&set, doc).obligations.expect("an allow carries obligations");
    assert_eq!(obligations.ttl_ms, 45 * 60_000);
    assert_eq!(obligations.expires_at.to_string(), "2026-11-30T10:45:00Z");
}

#[test]
fn absent_optional_attribute_makes_its_guarded_condition_false() {
    let set = edge_set();
    let doc = edge_request(Some(triage()), "read", ticket_resource("T-1"));
    let decision = decide_both(&set, doc.clone());
    assert_eq!(decision.decision, Outcome::Allow);
    assert!(decision.policies.forbid.is_empty());
    let mut with_region = doc;
    with_region["agent"]["attrs"]["region"] = json!("us");
    let decision = decide_both(&set, with_region);
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "forbidden");
    assert_eq!(sorted_names(&decision.policies.forbid), ["us_agents_keep_out"]);
}

fn doc_priced(price: &str) -> serde_json::Value {
    let mut resource = doc_resource("public", 5);
    resource["attrs"]["price"] = json!(price);
    resource
}

#[test]
fn saturating_arithmetic_keeps_huge_amounts_huge() {
    let set = edge_set();
    // `price * 1000` overflows and saturates to the largest decimal: the forbid applies.
    let decision = decide_both(&set, edge_request(Some(triage()), "update", doc_priced("922337203685477.5807")));
    assert_eq!(code(&decision), "forbidden");
    assert_eq!(sorted_names(&decision.policies.forbid), ["huge_prices"]);
    // Saturating downwards, the smallest decimal stays small.
    let decision = decide_both(&set, edge_request(Some(triage()), "update", doc_priced("-922337203685477.5808")));
    assert_eq!(decision.decision, Outcome::Allow);
    let decision = decide_both(&set, edge_request(Some(triage()), "update", doc_priced("1.0")));
    assert_eq!(decision.decision, Outcome::Allow);
}

#[test]
fn integers_beyond_the_decimal_range_compare_by_value() {
    let set = edge_set();
    for size in [i64::MAX, 922_337_203_685_478, 1000] {
        let decision = decide_both(&set, edge_request(Some(triage()), "update", doc_resource("public", size)));
        assert_eq!(code(&decision), "forbidden", "size {size}");
        assert_eq!(sorted_names(&decision.policies.forbid), ["huge_docs"], "size {size}");
        assert!(decision.policies.permit.is_empty(), "size {size}: `small_docs` needs size < 10");
    }
}

#[test]
fn going_past_the_step_limit_denies_with_an_evaluation_error() {
    let set = edge_set();
    let labels: Vec<String> = (0..50).map(|n| format!("label-{n}")).collect();
    let mut resource = ticket_resource("T-1");
    resource["attrs"]["labels"] = json!(labels);
    // 50³ evaluations of the quantifier body are far more than 100,000 steps.
    let decision = decide_both(&set, edge_request(Some(triage()), "update", resource));
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "evaluation_error");
    // With three labels the same permit applies.
    let decision = decide_both(&set, edge_request(Some(triage()), "update", ticket_resource("T-1")));
    assert_eq!(decision.decision, Outcome::Allow);
    assert_eq!(sorted_names(&decision.policies.permit), ["exhaustive_search"]);
}

#[test]
fn a_guard_that_rules_out_every_environment_loads_and_never_applies() {
    let set = edge_set();
    let mut resource = doc_resource("public", 50);
    resource["attrs"]["owner"] = json!("bob");
    let decision = decide_both(&set, edge_request(Some(triage()), "read", resource));
    assert_eq!(code(&decision), "no_permit");
    assert!(decision.policies.permit.is_empty());
}

#[test]
fn delegation_beyond_the_task_depth_is_denied() {
    let set = edge_set();
    let mut doc = edge_request(Some(triage()), "read", ticket_resource("T-1"));
    doc["chain"] = json!(["alice", "a2", "a3"]);
    let decision = decide_both(&set, doc.clone());
    assert_eq!(code(&decision), "delegation_exceeded");
    // One hop is allowed, but only to support agents.
    doc["chain"] = json!(["alice", "a2"]);
    assert_eq!(decide_both(&set, doc.clone()).decision, Outcome::Allow);
    doc["agent"]["attrs"]["team"] = json!("ops");
    assert_eq!(code(&decide_both(&set, doc)), "delegation_exceeded");
}

#[test]
fn reference_globs_follow_the_documented_escapes() {
    assert!(glob("T-*", "T-1"));
    assert!(glob("*", ""));
    assert!(!glob("T-\\*", "T-1"));
    assert!(glob("T-\\*", "T-*"));
    assert!(glob("a\\\\b", "a\\b"));
    assert!(glob("*ra*", "draft"));
    assert!(!glob("/kb/*", "/kb"));
}
