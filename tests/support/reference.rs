//! The reference interpreter: the decision `docs/semantics.md` defines, computed policy
//! by policy with its own small recursive evaluator for HIR expressions. It never calls
//! `mandate::eval` to evaluate: the compiled graph is checked against it, by the
//! equivalence property test and by the `graph` fuzz target.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use mandate::eval::decision::{Decision, Outcome};
use mandate::eval::{Limits, Request};
use mandate::hir::value::{timestamp_field, timestamp_text, Value, DECIMAL_SCALE};
use mandate::hir::{ArithOp, Base, Builtin, CmpOp, HExpr, Hir, QuantifierKind, Root, StrOp, Target};
use mandate::syntax::ast::Effect;
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
            for (name, value) in instance.params.iter() {
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
            HExpr::MatchesParam(text, pattern) => {
                let (Value::String(text), Value::String(pattern)) = (self.eval(text)?, self.eval(pattern)?) else {
                    return broken("`matches` on a non-string");
                };
                let cost = (text.len() + pattern.len()) / 64;
                if cost > self.steps_left {
                    return Err(EvalError::Limit(self.limit));
                }
                self.steps_left -= cost;
                Ok(Value::Bool(glob(&pattern, &text)))
            }
            HExpr::Call(builtin, args) => {
                let mut values = Vec::new();
                for arg in args {
                    values.push(self.eval(arg)?);
                }
                let text: Vec<String> = values.iter().filter_map(|value| value.as_str().map(str::to_string)).collect();
                let cost = text.iter().map(String::len).sum::<usize>() / 64;
                if cost > self.steps_left {
                    return Err(EvalError::Limit(self.limit));
                }
                self.steps_left -= cost;
                let first = text.first().cloned().unwrap_or_default();
                Ok(match builtin {
                    Builtin::Lower => Value::string(&first.to_lowercase()),
                    Builtin::Upper => Value::string(&first.to_uppercase()),
                    Builtin::Trim => Value::string(first.trim()),
                    Builtin::Len => match values.first() {
                        Some(Value::Set(items)) => Value::Int(items.len() as i64),
                        _ => Value::Int(first.chars().count() as i64),
                    },
                    Builtin::Split => {
                        let separator = text.get(1).cloned().unwrap_or_default();
                        let mut parts = Vec::new();
                        if separator.is_empty() {
                            for c in first.chars() {
                                parts.push(Value::string(&c.to_string()));
                            }
                        } else {
                            let mut rest = first.as_str();
                            while let Some(at) = rest.find(separator.as_str()) {
                                parts.push(Value::string(&rest[..at]));
                                rest = &rest[at + separator.len()..];
                            }
                            parts.push(Value::string(rest));
                        }
                        Value::set(parts)
                    }
                    Builtin::Keys | Builtin::Values => match values.first() {
                        Some(Value::Record(fields)) => Value::set(match builtin {
                            Builtin::Keys => fields.keys().map(|key| Value::string(key)).collect(),
                            _ => fields.values().cloned().collect(),
                        }),
                        other => return Err(EvalError::Broken(format!("keys/values of {other:?}"))),
                    },
                    Builtin::Lookup | Builtin::HasKey => {
                        let (Some(Value::Record(fields)), Some(key)) =
                            (values.first(), values.get(1).and_then(Value::as_str))
                        else {
                            return Err(EvalError::Broken("a map lookup without a map and a key".to_string()));
                        };
                        match (builtin, fields.get(key)) {
                            (Builtin::HasKey, found) => Value::Bool(found.is_some()),
                            (_, Some(value)) => value.clone(),
                            (_, None) => return Err(EvalError::Broken(format!("the key `{key}` is absent"))),
                        }
                    }
                    Builtin::Timestamp | Builtin::Date => {
                        let moment = match values.first() {
                            Some(Value::Timestamp(nanos)) => *nanos,
                            _ => moment(&first).ok_or_else(|| EvalError::Broken(format!("`{first}` is no moment")))?,
                        };
                        const DAY: i64 = 86_400_000_000_000;
                        Value::Timestamp(if *builtin == Builtin::Date {
                            moment - moment.rem_euclid(DAY)
                        } else {
                            moment
                        })
                    }
                })
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
pub fn glob(pattern: &str, text: &str) -> bool {
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
            let mut allowed =
                clause.max_depth.is_none_or(|max| depth <= max) && (depth == 0 || check(&clause.to, &mut errors));
            if let (true, true, Some(items)) = (allowed, depth > 0, &clause.narrow) {
                // A delegated agent's ceiling: some narrowing item naming the pair holds.
                allowed = items
                    .iter()
                    .filter(|item| item.targets.contains(&target))
                    .any(|item| check(&item.condition, &mut errors));
            }
            allowed
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
    } else if !in_scope {
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
pub fn sorted_names<T: ToString>(names: &[T]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(ToString::to_string).collect();
    names.sort();
    names
}

/// Compares the graph's decision with the reference; the error says how they differ.
pub fn compare(reference: &ReferenceDecision, actual: &Decision) -> Result<(), String> {
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

/// A moment as tools write it, read independently of the engine: RFC 3339, or a date
/// with an optional ` HH:MM[:SS]` / `THH:MM[:SS]` read as UTC.
fn moment(text: &str) -> Option<i64> {
    if let Ok(nanos) = mandate::hir::value::parse_timestamp(text) {
        return Some(nanos);
    }
    let day = text.get(..10)?;
    let clock = match text.get(10..)? {
        "" => "00:00:00".to_string(),
        rest if rest.starts_with([' ', 'T']) && rest.len() == 6 => format!("{}:00", &rest[1..]),
        rest if rest.starts_with([' ', 'T']) && rest.len() == 9 => rest[1..].to_string(),
        _ => return None,
    };
    if !clock.bytes().enumerate().all(|(at, byte)| if at % 3 == 2 { byte == b':' } else { byte.is_ascii_digit() }) {
        return None;
    }
    mandate::hir::value::parse_timestamp(&format!("{day}T{clock}Z")).ok()
}
