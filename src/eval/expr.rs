//! Evaluates HIR expressions against a validated request.
//!
//! The decision graph calls this only for its boolean test nodes; attribute comparisons
//! with constants are branches of the graph itself. Every operation is total on
//! well-typed input (arithmetic saturates), so the order in which the graph evaluates
//! tests cannot change a decision. What can still fail is the step limit, a resource
//! bound rather than a meaning, and it denies the request.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::compile::formula::TASK_KIND;
use crate::hir::glob::glob_matches;
use crate::hir::value::{timestamp_field, Value, DECIMAL_SCALE};
use crate::hir::{ArithOp, Base, Builtin, CmpOp, HExpr, QuantifierKind, Root, StrOp};

use super::request::Request;

/// Why an expression has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// An attribute that is not present (a missing optional attribute read without
    /// `has`, which the checker rules out, or a part of a request without a task).
    Missing(String),
    /// A value of an unexpected kind; the checker rules this out too.
    Type(String),
    /// The evaluation took more steps than the limit allows.
    Limit(usize),
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Missing(what) => write!(f, "`{what}` is not present"),
            EvalError::Type(what) => write!(f, "unexpected value: {what}"),
            EvalError::Limit(steps) => write!(f, "evaluation needed more than {steps} steps"),
        }
    }
}

type Result<T> = std::result::Result<T, EvalError>;

/// Evaluates expressions for one request, counting steps against a limit.
pub struct Evaluator<'a> {
    request: &'a Request,
    locals: Vec<(Arc<str>, Value)>,
    steps: usize,
    limit: usize,
}

impl<'a> Evaluator<'a> {
    pub fn new(request: &'a Request, limit: usize) -> Self {
        Evaluator { request, locals: Vec::new(), steps: 0, limit }
    }

    /// How many steps evaluation has taken so far.
    pub fn steps_taken(&self) -> usize {
        self.steps
    }

    pub fn truth(&mut self, expr: &HExpr) -> Result<bool> {
        match self.eval(expr)? {
            Value::Bool(value) => Ok(value),
            other => Err(EvalError::Type(format!("expected a condition, found {other}"))),
        }
    }

    pub fn eval(&mut self, expr: &HExpr) -> Result<Value> {
        self.steps += 1;
        if self.steps > self.limit {
            return Err(EvalError::Limit(self.limit));
        }
        match expr {
            HExpr::Const(value) => Ok(value.clone()),
            HExpr::Field(base, path) => self.field(base, path),
            HExpr::Attr(inner, name) => {
                let value = self.eval(inner)?;
                step(&value, name).ok_or_else(|| EvalError::Missing(format!("{expr}")))
            }
            HExpr::Not(inner) => Ok(Value::Bool(!self.truth(inner)?)),
            HExpr::And(a, b) => Ok(Value::Bool(self.truth(a)? && self.truth(b)?)),
            HExpr::Or(a, b) => Ok(Value::Bool(self.truth(a)? || self.truth(b)?)),
            HExpr::Cmp(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                compare(*op, &a, &b).map(Value::Bool)
            }
            HExpr::In(element, set) => {
                let (element, set) = (self.eval(element)?, self.eval(set)?);
                self.charge(&set)?;
                member(&element, &set).map(Value::Bool)
            }
            HExpr::SetContains(set, element) => {
                let (set, element) = (self.eval(set)?, self.eval(element)?);
                self.charge(&set)?;
                member(&element, &set).map(Value::Bool)
            }
            HExpr::Str(op, a, b) => {
                let (a, b) = (self.string(a)?, self.string(b)?);
                Ok(Value::Bool(match op {
                    StrOp::StartsWith => a.starts_with(&*b),
                    StrOp::EndsWith => a.ends_with(&*b),
                    StrOp::Contains => a.contains(&*b),
                }))
            }
            HExpr::Matches(text, pattern) => {
                let text = self.string(text)?;
                Ok(Value::Bool(glob_matches(pattern, &text)))
            }
            HExpr::Arith(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                arithmetic(*op, &a, &b).ok_or_else(|| EvalError::Type(format!("{expr}")))
            }
            HExpr::Neg(inner) => match self.eval(inner)? {
                Value::Int(n) => Ok(Value::Int(n.saturating_neg())),
                Value::Decimal(n) => Ok(Value::Decimal(n.saturating_neg())),
                Value::Duration(n) => Ok(Value::Duration(n.saturating_neg())),
                other => Err(EvalError::Type(format!("`-` on {other}"))),
            },
            // `task has PARAM`: asked of the instance directly, without building a record.
            HExpr::Has(inner, name) if matches!(&**inner, HExpr::Field(Base::Root(Root::Task), path) if path.is_empty()) =>
            {
                let task = self.request.task.as_ref().ok_or_else(|| EvalError::Missing("task".to_string()))?;
                let builtin = crate::semantics::env::TASK_BUILTINS.iter().any(|(own, _)| *own == &**name);
                Ok(Value::Bool(builtin || task.params.contains_key(&**name)))
            }
            HExpr::Has(inner, name) => match self.eval(inner)? {
                Value::Record(fields) => Ok(Value::Bool(fields.contains_key(&**name))),
                other => Err(EvalError::Type(format!("`has` on {other}"))),
            },
            HExpr::TaskIs(kind) => Ok(Value::Bool(self.request.task.as_ref().is_some_and(|task| task.kind == *kind))),
            HExpr::ResourceIs(ty) => {
                Ok(Value::Bool(self.request.resource.as_ref().is_some_and(|(resource, _)| resource == ty)))
            }
            HExpr::SetOf(items) => {
                let values = items.iter().map(|item| self.eval(item)).collect::<Result<Vec<_>>>()?;
                Ok(Value::set(values))
            }
            HExpr::RecordOf(fields) => {
                let mut record = BTreeMap::new();
                for (name, value) in fields {
                    record.insert(name.to_string(), self.eval(value)?);
                }
                Ok(Value::Record(Arc::new(record)))
            }
            HExpr::Quantifier(kind, var, set, body) => self.quantifier(*kind, var, set, body),
            HExpr::MatchesParam(text, pattern) => {
                let (text, pattern) = (self.string(text)?, self.string(pattern)?);
                self.charge_steps((text.len() + pattern.len()) / 64)?;
                Ok(Value::Bool(glob_matches(&pattern, &text)))
            }
            HExpr::Call(builtin, args) => {
                let args = args.iter().map(|arg| self.eval(arg)).collect::<Result<Vec<_>>>()?;
                // Work on a string costs a step per 64 bytes, so long values stay bounded.
                let bytes: usize = args.iter().map(|arg| arg.as_str().map_or(0, str::len)).sum();
                self.charge_steps(bytes / 64)?;
                call(*builtin, &args).ok_or_else(|| EvalError::Type(format!("{expr}")))
            }
        }
    }

    /// Counts a membership test as the comparisons a binary search makes in the set.
    fn charge(&mut self, set: &Value) -> Result<()> {
        match set {
            Value::Set(items) => self.charge_steps((usize::BITS - items.len().leading_zeros()) as usize),
            _ => Ok(()),
        }
    }

    /// Counts `steps` more steps against the limit.
    fn charge_steps(&mut self, steps: usize) -> Result<()> {
        self.steps = self.steps.saturating_add(steps);
        if self.steps > self.limit {
            return Err(EvalError::Limit(self.limit));
        }
        Ok(())
    }

    fn string(&mut self, expr: &HExpr) -> Result<Arc<str>> {
        match self.eval(expr)? {
            Value::String(text) => Ok(text),
            other => Err(EvalError::Type(format!("expected a string, found {other}"))),
        }
    }

    fn quantifier(&mut self, kind: QuantifierKind, var: &Arc<str>, set: &HExpr, body: &HExpr) -> Result<Value> {
        let Value::Set(items) = self.eval(set)? else {
            return Err(EvalError::Type("a quantifier over a value that is not a set".to_string()));
        };
        let wanted = kind == QuantifierKind::Any;
        for item in items.iter() {
            self.locals.push((var.clone(), item.clone()));
            let outcome = self.truth(body);
            self.locals.pop();
            if outcome? == wanted {
                return Ok(Value::Bool(wanted));
            }
        }
        Ok(Value::Bool(!wanted))
    }

    fn field(&mut self, base: &Base, path: &[Arc<str>]) -> Result<Value> {
        let missing = || EvalError::Missing(describe(base, path));
        let (mut value, rest) = match base {
            Base::Local(name) => {
                let value = self.locals.iter().rev().find(|(local, _)| local == name).map(|(_, v)| v.clone());
                (value.ok_or_else(missing)?, path)
            }
            Base::Root(root) => root_value(self.request, *root, path).ok_or_else(missing)?,
        };
        for name in rest {
            value = step(&value, name).ok_or_else(missing)?;
        }
        Ok(value)
    }
}

/// Reads a request root and as much of the path as the root itself resolves; returns the
/// value and the rest of the path.
pub fn root_value<'p>(request: &Request, root: Root, path: &'p [Arc<str>]) -> Option<(Value, &'p [Arc<str>])> {
    let record = |fields: &Arc<BTreeMap<String, Value>>| Value::Record(fields.clone());
    Some(match root {
        Root::Agent => (record(&request.agent), path),
        Root::Args => (record(&request.args), path),
        Root::Context => (record(&request.context), path),
        Root::Behavior => (record(&request.behavior), path),
        Root::Resource => (record(&request.resource.as_ref()?.1), path),
        Root::Action => (Value::String(request.action.clone()), path),
        Root::Chain => {
            let (first, rest) = path.split_first()?;
            (chain_field(request, first)?, rest)
        }
        Root::Task => {
            let task = request.task.as_ref()?;
            let (first, rest) = path.split_first()?;
            let value = match &**first {
                TASK_KIND => Value::String(task.kind.clone()),
                "id" => Value::String(task.id.clone()),
                "start" => Value::Timestamp(task.start),
                "deadline" => Value::Timestamp(task.deadline),
                param => task.params.get(param)?.clone(),
            };
            (value, rest)
        }
    })
}

/// The delegation chain's fields; the chain lists the principals above the acting agent,
/// sponsor first.
fn chain_field(request: &Request, field: &str) -> Option<Value> {
    let chain = &request.chain;
    Some(match field {
        "depth" => Value::Int(i64::try_from(chain.len().saturating_sub(1)).ok()?),
        "sponsor" => Value::String(chain.first()?.clone()),
        "root" => match chain.get(1) {
            Some(agent) => Value::String(agent.clone()),
            None => request.agent.get("id")?.clone(),
        },
        "delegator" => Value::String(chain.last()?.clone()),
        "links" => Value::set(chain.iter().map(|link| Value::String(link.clone())).collect()),
        _ => return None,
    })
}

/// One attribute step: a record field or a timestamp part.
fn step(value: &Value, name: &str) -> Option<Value> {
    match value {
        Value::Record(fields) => fields.get(name).cloned(),
        Value::Timestamp(nanos) => timestamp_field(*nanos, name).map(Value::Int),
        _ => None,
    }
}

fn describe(base: &Base, path: &[Arc<str>]) -> String {
    let mut text = match base {
        Base::Root(root) => root.name().to_string(),
        Base::Local(name) => name.split('#').next().unwrap_or(name).to_string(),
    };
    for step in path {
        text.push('.');
        text.push_str(step);
    }
    text
}

/// A built-in function's value; `None` for arguments of the wrong kind, which the
/// checker rules out.
pub fn call(builtin: Builtin, args: &[Value]) -> Option<Value> {
    let text = |index: usize| args.get(index).and_then(Value::as_str);
    Some(match builtin {
        Builtin::Lower => Value::string(&text(0)?.to_lowercase()),
        Builtin::Upper => Value::string(&text(0)?.to_uppercase()),
        Builtin::Trim => Value::string(text(0)?.trim()),
        Builtin::Len => match args.first()? {
            Value::String(text) => Value::Int(i64::try_from(text.chars().count()).ok()?),
            Value::Set(items) => Value::Int(i64::try_from(items.len()).ok()?),
            _ => return None,
        },
        Builtin::Split => {
            let (text, separator) = (text(0)?, text(1)?);
            let parts: Vec<Value> = if separator.is_empty() {
                text.chars().map(|part| Value::string(&part.to_string())).collect()
            } else {
                text.split(separator).map(Value::string).collect()
            };
            Value::set(parts)
        }
        Builtin::Keys => match args.first()? {
            Value::Record(fields) => Value::set(fields.keys().map(|key| Value::string(key)).collect()),
            _ => return None,
        },
        Builtin::Values => match args.first()? {
            Value::Record(fields) => Value::set(fields.values().cloned().collect()),
            _ => return None,
        },
        // A missing key is an error, which the `has` the checker requires before rules out.
        Builtin::Lookup => match (args.first()?, text(1)?) {
            (Value::Record(fields), key) => fields.get(key)?.clone(),
            _ => return None,
        },
        Builtin::HasKey => match (args.first()?, text(1)?) {
            (Value::Record(fields), key) => Value::Bool(fields.contains_key(key)),
            _ => return None,
        },
        // Validation made sure that the attributes these read are moments; a value that
        // is not (a hand-built request) is an evaluation error.
        Builtin::Timestamp | Builtin::Date => {
            let moment = match args.first()? {
                Value::Timestamp(nanos) => *nanos,
                Value::String(text) => crate::syntax::literal::parse_moment(text).ok()?,
                _ => return None,
            };
            Value::Timestamp(if builtin == Builtin::Date { crate::syntax::literal::day_start(moment) } else { moment })
        }
    })
}

pub fn compare(op: CmpOp, a: &Value, b: &Value) -> Result<bool> {
    let ordering = || a.compare(b).ok_or_else(|| EvalError::Type(format!("cannot order {a} and {b}")));
    Ok(match op {
        CmpOp::Eq => a.same(b),
        CmpOp::Ne => !a.same(b),
        CmpOp::Lt => ordering()?.is_lt(),
        CmpOp::Le => ordering()?.is_le(),
        CmpOp::Gt => ordering()?.is_gt(),
        CmpOp::Ge => ordering()?.is_ge(),
    })
}

/// Whether a set holds an element, by the language's equality. Sets are sorted, so a set
/// whose elements are all of the element's kind is searched by halves; one that mixes
/// kinds (integers and decimals, which compare equal across kinds) is scanned.
fn member(element: &Value, set: &Value) -> Result<bool> {
    let same_kind = |item: &Value| std::mem::discriminant(item) == std::mem::discriminant(element);
    match set {
        Value::Set(items) if items.first().is_none_or(same_kind) && items.last().is_none_or(same_kind) => {
            Ok(items.binary_search(element).is_ok())
        }
        Value::Set(items) => Ok(items.iter().any(|item| item.same(element))),
        other => Err(EvalError::Type(format!("`in` on {other}"))),
    }
}

/// Saturating arithmetic: a result beyond the 64-bit range is clamped to its end, so
/// arithmetic never fails and a huge amount stays huge. `None` only for operands that do
/// not combine, which the checker rules out.
pub fn arithmetic(op: ArithOp, a: &Value, b: &Value) -> Option<Value> {
    use Value::*;
    let clamp = |wide: i128| i64::try_from(wide).unwrap_or(if wide < 0 { i64::MIN } else { i64::MAX });
    let apply = |x: i64, y: i64| match op {
        ArithOp::Add => x.saturating_add(y),
        ArithOp::Sub => x.saturating_sub(y),
        ArithOp::Mul => x.saturating_mul(y),
    };
    Some(match (op, a, b) {
        (_, Int(x), Int(y)) => Int(apply(*x, *y)),
        (_, Int(_) | Decimal(_), Int(_) | Decimal(_)) => {
            let (x, y) = (a.as_fixed()?, b.as_fixed()?);
            Decimal(clamp(match op {
                ArithOp::Add => x.saturating_add(y),
                ArithOp::Sub => x.saturating_sub(y),
                // Rounds toward zero to four fractional digits.
                ArithOp::Mul => x.saturating_mul(y) / i128::from(DECIMAL_SCALE),
            }))
        }
        (ArithOp::Add | ArithOp::Sub, Duration(x), Duration(y)) => Duration(apply(*x, *y)),
        (ArithOp::Mul, Duration(x), Int(y)) | (ArithOp::Mul, Int(y), Duration(x)) => Duration(x.saturating_mul(*y)),
        (ArithOp::Add, Timestamp(x), Duration(y)) | (ArithOp::Add, Duration(y), Timestamp(x)) => {
            Timestamp(x.saturating_add(*y))
        }
        (ArithOp::Sub, Timestamp(x), Duration(y)) => Timestamp(x.saturating_sub(*y)),
        (ArithOp::Sub, Timestamp(x), Timestamp(y)) => Duration(x.saturating_sub(*y)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_arithmetic_is_exact() {
        let product = arithmetic(ArithOp::Mul, &Value::Decimal(15_000), &Value::Int(3));
        assert_eq!(product, Some(Value::Decimal(45_000)));
        assert_eq!(arithmetic(ArithOp::Add, &Value::Int(i64::MAX), &Value::Int(1)), Some(Value::Int(i64::MAX)));
        let huge = Value::Decimal(i64::MAX);
        assert_eq!(arithmetic(ArithOp::Mul, &huge, &Value::Decimal(25_000)), Some(Value::Decimal(i64::MAX)));
    }
}
