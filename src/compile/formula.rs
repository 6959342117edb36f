//! Splits a condition into the atoms the decision graph branches on.
//!
//! A condition becomes a boolean formula over three kinds of atoms:
//! - a **switch** atom: a string or boolean attribute equal to one of some constants
//!   (`agent.team == "support"`, `resource.name in ["a", "b"]`, `task is Support`);
//! - an **interval** atom: a number, duration, timestamp or enum attribute at most some
//!   bound (`behavior.risk < 0.5` is `risk ≤ 0.4999`);
//! - a **test** atom: any other boolean expression (relations between attributes,
//!   string operators, quantifiers), evaluated by the expression evaluator.
//!
//! Facts fixed by the partition (the action and the resource type) fold to constants.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::hir::{Base, CmpOp, HExpr, QuantifierKind, Root, Target, Value};

/// A request attribute path the graph reads, such as `resource.owner`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldPath {
    pub root: Root,
    pub path: Vec<Arc<str>>,
}

/// The hidden field holding the request's task kind.
pub const TASK_KIND: &str = "$kind";

impl FieldPath {
    pub fn task_kind() -> Self {
        FieldPath { root: Root::Task, path: vec![Arc::from(TASK_KIND)] }
    }

    pub fn reads_task_params(&self) -> bool {
        self.root == Root::Task
            && self.path.first().is_some_and(|step| !matches!(&**step, "id" | "start" | "deadline" | TASK_KIND))
    }

    pub fn text(&self) -> String {
        let mut text = self.root.name().to_string();
        for step in &self.path {
            if &**step == TASK_KIND {
                text.push_str(" kind");
            } else {
                text.push('.');
                text.push_str(step);
            }
        }
        text
    }
}

/// How an interval field's values are put on one integer line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Unit {
    /// Integers and decimals, in fixed point.
    Number,
    /// Durations, in nanoseconds.
    Duration,
    /// Timestamps, in nanoseconds since the epoch.
    Timestamp,
    /// Values of the named enum, by declaration position.
    Ordinal(Arc<str>),
}

/// A switch value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Key {
    Str(Arc<str>),
    Bool(bool),
}

impl Key {
    pub fn of(value: &Value) -> Option<Key> {
        match value {
            Value::String(text) => Some(Key::Str(text.clone())),
            Value::Bool(value) => Some(Key::Bool(*value)),
            _ => None,
        }
    }
}

/// A point on an interval field's integer line. Wide enough that every integer, in
/// fixed point, has its exact place.
pub type Position = i128;

/// Puts a value on its unit's integer line.
pub fn position(value: &Value) -> Option<(Unit, Position)> {
    match value {
        Value::Int(_) | Value::Decimal(_) => value.as_fixed().map(|fixed| (Unit::Number, fixed)),
        Value::Duration(nanos) => Some((Unit::Duration, Position::from(*nanos))),
        Value::Timestamp(nanos) => Some((Unit::Timestamp, Position::from(*nanos))),
        Value::Enum(value) => Some((Unit::Ordinal(value.enum_name.clone()), Position::from(value.ordinal))),
        _ => None,
    }
}

/// What a graph variable tests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VarKey {
    Switch(FieldPath),
    Interval(FieldPath, Unit),
    Test(HExpr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    /// The field equals one of these keys.
    OneOf(FieldPath, Vec<Key>),
    /// The field is at most this position.
    AtMost(FieldPath, Unit, Position),
    /// The expression is true.
    Test(HExpr),
}

impl Atom {
    pub fn var(&self) -> VarKey {
        match self {
            Atom::OneOf(field, _) => VarKey::Switch(field.clone()),
            Atom::AtMost(field, unit, _) => VarKey::Interval(field.clone(), unit.clone()),
            Atom::Test(expr) => VarKey::Test(expr.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Formula {
    Const(bool),
    Atom(Atom),
    Not(Box<Formula>),
    And(Box<Formula>, Box<Formula>),
    Or(Box<Formula>, Box<Formula>),
}

impl Formula {
    pub fn negate(inner: Formula) -> Formula {
        match inner {
            Formula::Const(value) => Formula::Const(!value),
            Formula::Not(inner) => *inner,
            other => Formula::Not(Box::new(other)),
        }
    }

    pub fn and(a: Formula, b: Formula) -> Formula {
        match (a, b) {
            (Formula::Const(false), _) | (_, Formula::Const(false)) => Formula::Const(false),
            (Formula::Const(true), other) | (other, Formula::Const(true)) => other,
            (a, b) => Formula::And(Box::new(a), Box::new(b)),
        }
    }

    pub fn or(a: Formula, b: Formula) -> Formula {
        match (a, b) {
            (Formula::Const(true), _) | (_, Formula::Const(true)) => Formula::Const(true),
            (Formula::Const(false), other) | (other, Formula::Const(false)) => other,
            (a, b) => Formula::Or(Box::new(a), Box::new(b)),
        }
    }

    /// Every atom, left to right.
    pub fn atoms<'a>(&'a self, into: &mut Vec<&'a Atom>) {
        match self {
            Formula::Const(_) => {}
            Formula::Atom(atom) => into.push(atom),
            Formula::Not(inner) => inner.atoms(into),
            Formula::And(a, b) | Formula::Or(a, b) => {
                a.atoms(into);
                b.atoms(into);
            }
        }
    }
}

/// Translates a condition for one partition.
pub fn formula(expr: &HExpr, target: &Target) -> Formula {
    match expr {
        HExpr::Const(Value::Bool(value)) => Formula::Const(*value),
        HExpr::Not(inner) => Formula::negate(formula(inner, target)),
        HExpr::And(a, b) => Formula::and(formula(a, target), formula(b, target)),
        HExpr::Or(a, b) => Formula::or(formula(a, target), formula(b, target)),
        HExpr::TaskIs(kind) => Formula::Atom(Atom::OneOf(FieldPath::task_kind(), vec![Key::Str(kind.clone())])),
        // A boolean attribute on its own is a switch on `true`.
        field @ HExpr::Field(..) => match field_path(field) {
            Some(path) => Formula::Atom(Atom::OneOf(path, vec![Key::Bool(true)])),
            None => test(field),
        },
        HExpr::ResourceIs(ty) => Formula::Const(target.resource.as_deref() == Some(&**ty)),
        HExpr::Cmp(op, a, b) => comparison(*op, a, b, target).unwrap_or_else(|| relation(*op, a, b)),
        HExpr::In(element, set) | HExpr::SetContains(set, element) => membership(element, set, target)
            // `s contains e` and `e in s` are one test.
            .unwrap_or_else(|| test(&HExpr::In(element.clone(), set.clone()))),
        // `any(x in s: not b)` is `not all(x in s: b)`, and `all` likewise: one test for
        // both ways of writing it, whatever the set (an empty one included).
        HExpr::Quantifier(kind, var, set, body) => match &**body {
            HExpr::Not(inner) => {
                let dual = match kind {
                    QuantifierKind::Any => QuantifierKind::All,
                    QuantifierKind::All => QuantifierKind::Any,
                };
                Formula::negate(formula(&HExpr::Quantifier(dual, var.clone(), set.clone(), inner.clone()), target))
            }
            _ => quantified_membership(*kind, var, set, body, target).unwrap_or_else(|| test(expr)),
        },
        other => test(other),
    }
}

/// Quantifiers that only ask about one constant's membership, as the membership they
/// are: `any(x in s: x == c)` is `c in s`, `all(x in s: x != c)` is `not (c in s)`, and
/// `any(x in s: x in [a, b])` is `a in s or b in s`. On any value of `s` both sides are
/// equal (an empty set makes both false, or both true), so the prover relates them to
/// the membership tests other conditions write, and the index can answer them.
fn quantified_membership(
    kind: QuantifierKind,
    var: &str,
    set: &HExpr,
    body: &HExpr,
    target: &Target,
) -> Option<Formula> {
    let is_var =
        |expr: &HExpr| matches!(expr, HExpr::Field(Base::Local(name), path) if &**name == var && path.is_empty());
    let member =
        |constant: &Value| formula(&HExpr::In(Box::new(HExpr::Const(constant.clone())), Box::new(set.clone())), target);
    let constant_beside = |a: &HExpr, b: &HExpr| match (a, b) {
        (x, HExpr::Const(constant)) | (HExpr::Const(constant), x) if is_var(x) => Some(constant.clone()),
        _ => None,
    };
    match (kind, body) {
        (QuantifierKind::Any, HExpr::Cmp(CmpOp::Eq, a, b)) => Some(member(&constant_beside(a, b)?)),
        (QuantifierKind::All, HExpr::Cmp(CmpOp::Ne, a, b)) => Some(Formula::negate(member(&constant_beside(a, b)?))),
        (QuantifierKind::Any, HExpr::In(element, constants)) if is_var(element) => {
            let HExpr::Const(Value::Set(items)) = &**constants else { return None };
            Some(items.iter().fold(Formula::Const(false), |any, item| Formula::or(any, member(item))))
        }
        _ => None,
    }
}

/// A comparison between two expressions with its operands in one canonical order
/// (`b > a` becomes `a < b`), so that the same relation written either way is one test.
fn ordered<'e>(op: CmpOp, a: &'e HExpr, b: &'e HExpr) -> (CmpOp, &'e HExpr, &'e HExpr) {
    if b < a {
        (op.flipped(), b, a)
    } else {
        (op, a, b)
    }
}

/// A comparison kept as a test: `==`, `<` or `<=` between operands in canonical order,
/// negated where it was written `!=`, `>=` or `>`. So `a != b` is `not (a == b)` and
/// `a >= b` is `not (a < b)`: one test each, whichever way a forbid and an assertion
/// write them. (Values that validation accepts are totally ordered within their type.)
fn relation(op: CmpOp, a: &HExpr, b: &HExpr) -> Formula {
    let (op, a, b) = ordered(op, a, b);
    let (negated, op) = match op {
        CmpOp::Ne => (true, CmpOp::Eq),
        CmpOp::Gt => (true, CmpOp::Le),
        CmpOp::Ge => (true, CmpOp::Lt),
        kept => (false, kept),
    };
    let atom = test(&HExpr::Cmp(op, Box::new(a.clone()), Box::new(b.clone())));
    if negated {
        Formula::negate(atom)
    } else {
        atom
    }
}

/// A test atom, in the form that makes conditions written alike one atom.
fn test(expr: &HExpr) -> Formula {
    Formula::Atom(Atom::Test(expr.canonical_locals()))
}

/// The attribute path an expression reads, if it is a plain request attribute.
fn field_path(expr: &HExpr) -> Option<FieldPath> {
    match expr {
        HExpr::Field(Base::Root(root), path) if *root != Root::Action || path.is_empty() => {
            Some(FieldPath { root: *root, path: path.clone() })
        }
        _ => None,
    }
}

fn is_action(field: &FieldPath) -> bool {
    field.root == Root::Action && field.path.is_empty()
}

fn comparison(op: CmpOp, a: &HExpr, b: &HExpr, target: &Target) -> Option<Formula> {
    let (field, constant, op) = match (a, b) {
        (field, HExpr::Const(constant)) => (field_path(field)?, constant, op),
        (HExpr::Const(constant), field) => (field_path(field)?, constant, op.flipped()),
        _ => return None,
    };
    if is_action(&field) {
        let same = constant.as_str() == Some(target.action.as_str());
        return match op {
            CmpOp::Eq => Some(Formula::Const(same)),
            CmpOp::Ne => Some(Formula::Const(!same)),
            _ => None,
        };
    }
    if let Some(key) = Key::of(constant) {
        let equal = Formula::Atom(Atom::OneOf(field, vec![key]));
        return match op {
            CmpOp::Eq => Some(equal),
            CmpOp::Ne => Some(Formula::negate(equal)),
            _ => None,
        };
    }
    let (unit, at) = position(constant)?;
    let at_most = |bound: Position| Formula::Atom(Atom::AtMost(field.clone(), unit.clone(), bound));
    let below = |bound: Position| match bound.checked_sub(1) {
        Some(previous) => at_most(previous),
        None => Formula::Const(false),
    };
    Some(match op {
        CmpOp::Le => at_most(at),
        CmpOp::Lt => below(at),
        CmpOp::Gt => Formula::negate(at_most(at)),
        CmpOp::Ge => Formula::negate(below(at)),
        CmpOp::Eq => Formula::and(at_most(at), Formula::negate(below(at))),
        CmpOp::Ne => Formula::negate(Formula::and(at_most(at), Formula::negate(below(at)))),
    })
}

fn membership(element: &HExpr, set: &HExpr, target: &Target) -> Option<Formula> {
    let field = field_path(element)?;
    let HExpr::Const(Value::Set(items)) = set else { return None };
    if is_action(&field) {
        let inside = items.iter().any(|item| item.as_str() == Some(target.action.as_str()));
        return Some(Formula::Const(inside));
    }
    if items.is_empty() {
        return Some(Formula::Const(false));
    }
    if let Some(keys) = items.iter().map(Key::of).collect::<Option<Vec<Key>>>() {
        return Some(Formula::Atom(Atom::OneOf(field, keys)));
    }
    let mut any = Formula::Const(false);
    for item in items.iter() {
        let equal = comparison(CmpOp::Eq, element, &HExpr::Const(item.clone()), target)?;
        any = Formula::or(any, equal);
    }
    Some(any)
}
