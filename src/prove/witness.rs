//! Builds a concrete request for a path's constraints.
//!
//! Every required attribute gets a plain value of its type; then each constrained field
//! gets a value its constraint allows. The request is only a candidate: the caller
//! replays it through the evaluator, which is what makes a counterexample trustworthy.
//! Parts of timestamps (`context.time.hour`) are met by moving the time, within a week.
//! Fields the builder cannot place (chain links other than the sponsor, the delegator
//! and the depth) make it give up, and the verdict stays "unknown".

use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use super::{Constraints, KeyConstraint};
use crate::compile::formula::{FieldPath, Key, Position, Unit, TASK_KIND};
use crate::compile::plan::{FieldKind, Plan};
use crate::eval::{PolicySet, RequestDoc};
use crate::hir::value::{decimal_text, duration_text, parse_timestamp, timestamp_text, DECIMAL_SCALE};
use crate::hir::{Root, Target};
use crate::semantics::env::Env;
use crate::semantics::types::{RecordType, Type};
use crate::syntax::literal::{day_start, parse_decimal, parse_moment};

/// The time candidate requests are decided at.
const TIME: &str = "2026-01-05T10:00:00Z";

/// A minute, in nanoseconds: candidate task instances run from a minute before the
/// request's time to a minute after.
const MINUTE: i64 = 60_000_000_000;

/// A candidate request for a path, and the time to decide it at.
pub fn build(set: &PolicySet, plan: &Plan, target: &Target, constraints: &Constraints) -> Option<(RequestDoc, i64)> {
    let env = &set.hir().env;
    let max_chain = set.limits().request.max_chain;
    let mut builder = Builder { env, plan, target, kind: None, doc: skeleton(env, target), max_chain };
    builder.choose_task(constraints)?;
    builder.place_moments(set.moment_reads());
    for (field, constraint) in &constraints.keys {
        let spec = plan.fields.get(*field as usize)?;
        if spec.path == FieldPath::task_kind() {
            continue;
        }
        let ty = builder.field_type(&spec.path)?;
        let value = key_value(plan, constraint, &ty)?;
        builder.place(&spec.path, value)?;
    }
    let mut parts = Vec::new();
    for (field, (low, high)) in &constraints.ranges {
        let spec = plan.fields.get(*field as usize)?;
        let FieldKind::Interval(unit) = &spec.kind else { return None };
        let Some(ty) = builder.field_type(&spec.path) else {
            // A part of a timestamp (`context.time.hour`): placed once the time is.
            parts.push((spec.path.clone(), *low, *high));
            continue;
        };
        let value = range_value(env, unit, &ty, *low, *high)?;
        builder.place(&spec.path, value)?;
    }
    builder.place_time_parts(&parts)?;
    builder.relate(constraints);
    let doc: RequestDoc = serde_json::from_value(builder.doc).ok()?;
    Some((doc, parse_timestamp(TIME).ok()?))
}

struct Builder<'a> {
    env: &'a Env,
    plan: &'a Plan,
    target: &'a Target,
    kind: Option<String>,
    doc: Json,
    /// Most links a request's chain may have.
    max_chain: usize,
}

impl Builder<'_> {
    /// Picks the task kind the path allows and fills in its parameters.
    fn choose_task(&mut self, constraints: &Constraints) -> Option<()> {
        let field = self.plan.fields.iter().position(|spec| spec.path == FieldPath::task_kind());
        let constraint = field.and_then(|field| constraints.keys.get(&(field as u32)));
        let allowed = |kind: &str| match constraint {
            Some(KeyConstraint::Is(key)) => self.plan.keys.get(*key as usize) == Some(&Key::Str(Arc::from(kind))),
            Some(KeyConstraint::Not(excluded)) => {
                !excluded.iter().any(|key| self.plan.keys.get(*key as usize) == Some(&Key::Str(Arc::from(kind))))
            }
            None => true,
        };
        let kind = self.env.tasks.keys().find(|kind| allowed(kind))?.clone();
        let params: Map<String, Json> = self
            .env
            .tasks
            .get(&kind)
            .map(|sig| sig.params.iter().map(|(name, ty)| (name.clone(), default_value(self.env, ty))).collect())
            .unwrap_or_default();
        let start = timestamp_text(parse_timestamp(TIME).ok()? - MINUTE);
        let deadline = timestamp_text(parse_timestamp(TIME).ok()? + MINUTE);
        let task = json!({ "kind": kind, "id": "prover-task", "start": start, "deadline": deadline, "params": params });
        set_nested(&mut self.doc, &["task"], task)?;
        self.kind = Some(kind);
        Some(())
    }

    /// Moves each timestamp whose parts (`hour`, `weekday`, …) the path constrains to the
    /// first quarter hour, within a week of where it is, that has every part in range.
    /// Moving the request's time moves its task instance along, so it stays current.
    fn place_time_parts(&mut self, parts: &[(FieldPath, Option<Position>, Option<Position>)]) -> Option<()> {
        const QUARTER_HOUR: i64 = 15 * MINUTE;
        const WEEK_OF_QUARTERS: i64 = 7 * 24 * 4;
        let mut parents: Vec<FieldPath> = Vec::new();
        for (path, _, _) in parts {
            let (_, parent) = path.path.split_last()?;
            let parent = FieldPath { root: path.root, path: parent.to_vec() };
            if !parents.contains(&parent) {
                parents.push(parent);
            }
        }
        for parent in parents {
            let placed = parse_timestamp(self.read(&parent)?.as_str()?).ok()?;
            let inside = |nanos: i64| {
                parts.iter().filter(|(path, _, _)| path.path.starts_with(&parent.path) && path.root == parent.root).all(
                    |(path, low, high)| {
                        let Some(part) = path.path.last() else { return false };
                        let Some(value) = crate::hir::value::timestamp_field(nanos, part) else { return false };
                        let at = Position::from(value) * Position::from(DECIMAL_SCALE);
                        low.is_none_or(|low| at > low) && high.is_none_or(|high| at <= high)
                    },
                )
            };
            let found = (0..WEEK_OF_QUARTERS).map(|step| placed + step * QUARTER_HOUR).find(|nanos| inside(*nanos))?;
            self.place(&parent, json!(timestamp_text(found)))?;
            if parent.root == Root::Context
                && parent.path.len() == 1
                && parent.path.first().is_some_and(|step| &**step == "time")
            {
                set_nested(&mut self.doc, &["task", "start"], json!(timestamp_text(found - MINUTE)))?;
                set_nested(&mut self.doc, &["task", "deadline"], json!(timestamp_text(found + MINUTE)))?;
            }
        }
        Some(())
    }

    /// The declared type of a request attribute path.
    fn field_type(&self, path: &FieldPath) -> Option<Type> {
        let record = |record: &RecordType| walk(record, &path.path);
        match path.root {
            Root::Agent => record(&self.env.agent),
            Root::Context => record(&self.env.context),
            Root::Behavior => record(&self.env.behavior),
            Root::Resource => record(self.env.resources.get(self.target.resource.as_deref()?)?),
            Root::Args => record(&self.env.actions.get(&self.target.action)?.params),
            Root::Chain => match path.path.as_slice() {
                [field] if &**field == "depth" => Some(Type::Int),
                [field] if matches!(&**field, "sponsor" | "delegator") => Some(Type::String),
                _ => None,
            },
            Root::Task => {
                let [param] = path.path.as_slice() else { return None };
                let sig = self.env.tasks.get(self.kind.as_deref()?)?;
                sig.params.iter().find(|(name, _)| **name == **param).map(|(_, ty)| ty.clone())
            }
            Root::Action => None,
        }
    }

    /// Makes the tests between attributes come out as the path needs, for the shapes
    /// policies use most: equality and order between two attributes, membership of one
    /// in a set attribute, and string patterns on one attribute. An attribute a switch
    /// or an interval already fixed is left alone; two passes let one repair feed
    /// another. Anything else is left to the replay, which decides.
    fn relate(&mut self, constraints: &Constraints) {
        let path_of = |field: &u32| self.plan.fields.get(*field as usize).map(|spec| spec.path.clone());
        // Attributes a string pattern pins down: an equality copies into them last.
        let anchored = constraints
            .tests
            .iter()
            .filter(|(_, truth)| **truth)
            .filter_map(|(test, _)| match self.plan.tests.get(*test as usize) {
                Some(crate::hir::HExpr::Matches(field, _) | crate::hir::HExpr::Str(_, field, _)) => as_path(field),
                _ => None,
            })
            .collect();
        let fixed = Fixed {
            anchored,
            keys: constraints.keys.keys().filter_map(path_of).collect(),
            ranges: constraints
                .ranges
                .iter()
                .filter_map(|(field, (low, high))| Some((path_of(field)?, *low, *high)))
                .collect(),
        };
        self.place_constant_members(constraints, &fixed);
        for _ in 0..3 {
            for (test, truth) in &constraints.tests {
                match self.plan.tests.get(*test as usize) {
                    Some(expr) if constant_membership(expr).is_none() => {
                        self.satisfy(expr, *truth, &fixed);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Puts into each set attribute the constants the path needs in it and leaves out the
    /// ones it needs absent (`"tag" in resource.labels`), one write per set however many
    /// such tests the path has.
    fn place_constant_members(&mut self, constraints: &Constraints, fixed: &Fixed) {
        let mut wanted: Vec<(FieldPath, Vec<(Json, bool)>)> = Vec::new();
        for (test, truth) in &constraints.tests {
            let Some((set, element)) = self.plan.tests.get(*test as usize).and_then(constant_membership) else {
                continue;
            };
            let (set, truth) = (set, *truth);
            match wanted.iter_mut().find(|(path, _)| *path == set) {
                Some((_, elements)) => elements.push((element, truth)),
                None => wanted.push((set, vec![(element, truth)])),
            }
        }
        for (set, elements) in wanted {
            if fixed.keys.contains(&set) {
                continue;
            }
            let mut items = self.read(&set).and_then(|items| items.as_array().cloned()).unwrap_or_default();
            items.retain(|item| !elements.iter().any(|(element, _)| element == item));
            items.extend(elements.into_iter().filter(|(_, member)| *member).map(|(element, _)| element));
            self.place(&set, Json::Array(items));
        }
    }

    /// Gives each attribute the policies parse as a moment one, where it holds a string
    /// that is not (the default for strings is not).
    fn place_moments(&mut self, reads: &[crate::hir::MomentRead]) {
        for read in reads {
            let Some(path) = as_path(&read.field) else { continue };
            let current = self.read(&path);
            if current.as_ref().and_then(Json::as_str).is_some_and(|text| parse_moment(text).is_err()) {
                let _ = self.place(&path, json!(TIME));
            }
        }
    }

    /// `timestamp(a) op b` or `date(a) op b`, with `b` a timestamp attribute or
    /// constant: `a` becomes `b`, a day on either side of it or a nanosecond on either
    /// side, whichever makes the comparison `truth`.
    fn satisfy_moment(
        &mut self,
        call: (&crate::hir::Builtin, &crate::hir::HExpr),
        op: crate::hir::CmpOp,
        other: &crate::hir::HExpr,
        truth: bool,
        fixed: &Fixed,
    ) -> Option<()> {
        use crate::hir::{Builtin, HExpr, Value};
        const DAY: i64 = 86_400_000_000_000;
        let field = as_path(call.1)?;
        let (other_path, mut other) = match other {
            HExpr::Const(Value::Timestamp(nanos)) => (None, *nanos),
            other => {
                let path = as_path(other)?;
                let nanos = parse_timestamp(self.read(&path)?.as_str()?).ok()?;
                (Some(path), nanos)
            }
        };
        let read = |nanos: i64| if *call.0 == Builtin::Date { day_start(nanos) } else { nanos };
        let find = |other: i64| {
            [0, DAY, -DAY, 1, -1].into_iter().filter_map(|step| other.checked_add(step)).find(|nanos| {
                crate::eval::expr::compare(op, &Value::Timestamp(read(*nanos)), &Value::Timestamp(other)).ok()
                    == Some(truth)
            })
        };
        let candidate = match (find(other), other_path) {
            (Some(candidate), _) => candidate,
            // A day equals only a midnight: move the other side to its day's start.
            (None, Some(path)) => {
                other = day_start(other);
                let midnight = json!(timestamp_text(other));
                fixed.may_set(self, &path, &midnight).then_some(())?;
                self.place(&path, midnight)?;
                find(other)?
            }
            (None, None) => return None,
        };
        let value = json!(timestamp_text(candidate));
        fixed.may_set(self, &field, &value).then_some(())?;
        self.place(&field, value)
    }

    /// Adjusts the request so that `expr` evaluates to `truth`, if its shape is known.
    fn satisfy(&mut self, expr: &crate::hir::HExpr, truth: bool, fixed: &Fixed) -> Option<()> {
        use crate::hir::{CmpOp, HExpr, StrOp};
        match expr {
            HExpr::Not(inner) => self.satisfy(inner, !truth, fixed),
            HExpr::Cmp(op, a, b) if moment_call(a).or(moment_call(b)).is_some() => {
                match (moment_call(a), moment_call(b)) {
                    (Some(call), _) => self.satisfy_moment(call, *op, b, truth, fixed),
                    (None, Some(call)) => self.satisfy_moment(call, op.flipped(), a, truth, fixed),
                    (None, None) => None,
                }
            }
            HExpr::Cmp(op @ (CmpOp::Eq | CmpOp::Ne), a, b) if constant_side(a, b).is_some() => {
                let (field, constant) = constant_side(a, b)?;
                let value = if (*op == CmpOp::Eq) == truth { constant.to_json() } else { different(constant)? };
                fixed.may_set(self, &field, &value).then_some(())?;
                self.place(&field, value)
            }
            HExpr::Cmp(op, a, b) => {
                let (a, b) = (as_path(a)?, as_path(b)?);
                // Change one side, seen from the other: the one no switch fixed and whose
                // new value stays inside the range an interval gave it.
                let mut sides = [(a.clone(), b.clone(), *op), (b, a, op.flipped())];
                sides.sort_by_key(|(_, target, _)| fixed.anchored.contains(target));
                sides.into_iter().find_map(|(source, target, op)| {
                    let current = self.read(&source)?;
                    let value = match self.field_type(&target) {
                        Some(Type::Enum(name)) => related_variant(self.env.enums.get(&name)?, &current, op, truth)?,
                        _ => related_value(&current, op, truth)?,
                    };
                    fixed.may_set(self, &target, &value).then_some(())?;
                    self.place(&target, value)
                })
            }
            HExpr::In(element, set) | HExpr::SetContains(set, element) => {
                let set = as_path(set)?;
                let value = match &**element {
                    HExpr::Const(constant) => constant.to_json(),
                    element => self.read(&as_path(element)?)?,
                };
                if fixed.keys.contains(&set) {
                    return None;
                }
                let mut items = self.read(&set).and_then(|items| items.as_array().cloned()).unwrap_or_default();
                items.retain(|item| *item != value);
                if truth {
                    items.push(value);
                }
                self.place(&set, Json::Array(items))
            }
            HExpr::Matches(field, glob) if truth => {
                let field = as_path(field)?;
                let value = json!(glob_example(glob));
                fixed.may_set(self, &field, &value).then_some(())?;
                self.place(&field, value)
            }
            HExpr::Str(op, field, pattern) if truth => {
                let field = as_path(field)?;
                let pattern: std::sync::Arc<str> = match &**pattern {
                    HExpr::Const(crate::hir::Value::String(pattern)) => pattern.clone(),
                    other => std::sync::Arc::from(self.read(&as_path(other)?)?.as_str()?),
                };
                let value = json!(match op {
                    StrOp::StartsWith => format!("{pattern}x"),
                    StrOp::EndsWith => format!("x{pattern}"),
                    StrOp::Contains => format!("x{pattern}x"),
                });
                fixed.may_set(self, &field, &value).then_some(())?;
                self.place(&field, value)
            }
            HExpr::Quantifier(kind, var, set, body) => self.satisfy_quantifier(*kind, var, set, body, truth, fixed),
            _ => None,
        }
    }

    /// A quantifier over a set attribute: an empty set where no element may witness
    /// (`any` false, `all` true), and otherwise one more element made to satisfy the body
    /// as needed (`any` true) or to fail it (`all` false), for the body shapes policies
    /// use: equality, membership in a set attribute or a literal, string patterns, and
    /// their negations. The replay decides whether the request is a counterexample.
    fn satisfy_quantifier(
        &mut self,
        kind: crate::hir::QuantifierKind,
        var: &str,
        set: &crate::hir::HExpr,
        body: &crate::hir::HExpr,
        truth: bool,
        fixed: &Fixed,
    ) -> Option<()> {
        use crate::hir::QuantifierKind;
        let set = as_path(set)?;
        if fixed.keys.contains(&set) {
            return None;
        }
        let body_truth = match (kind, truth) {
            (QuantifierKind::Any, false) => return self.every_element(var, &set, body, false),
            (QuantifierKind::All, true) => return self.every_element(var, &set, body, true),
            (QuantifierKind::Any, true) => true,
            (QuantifierKind::All, false) => false,
        };
        let element = self.element_for(var, body, body_truth)?;
        let mut items = self.read(&set).and_then(|items| items.as_array().cloned()).unwrap_or_default();
        items.retain(|item| *item != element);
        items.push(element);
        self.place(&set, Json::Array(items))
    }

    /// Makes `body` come out as `truth` for every element the set already holds: for
    /// membership in a set attribute, by adding the elements to it or taking them out;
    /// otherwise by emptying the set, which satisfies any such requirement.
    fn every_element(&mut self, var: &str, set: &FieldPath, body: &crate::hir::HExpr, truth: bool) -> Option<()> {
        use crate::hir::{Base, HExpr};
        let items = self.read(set).and_then(|items| items.as_array().cloned()).unwrap_or_default();
        if items.is_empty() {
            return Some(());
        }
        let (body, truth) = match body {
            HExpr::Not(inner) => (&**inner, !truth),
            other => (other, truth),
        };
        let members = match body {
            HExpr::In(element, members) if matches!(&**element, HExpr::Field(Base::Local(name), path) if &**name == var && path.is_empty()) => {
                as_path(members).filter(|members| members != set)
            }
            _ => None,
        };
        let Some(members) = members else {
            // Keep the elements the body is known to give `truth` for; drop the others.
            let kept: Option<Vec<Json>> = items
                .iter()
                .map(|item| element_gives(var, body, item).map(|gives| (gives == truth).then(|| item.clone())))
                .collect::<Option<Vec<Option<Json>>>>()
                .map(|kept| kept.into_iter().flatten().collect());
            return self.place(set, Json::Array(kept.unwrap_or_default()));
        };
        let mut current = self.read(&members).and_then(|items| items.as_array().cloned()).unwrap_or_default();
        current.retain(|item| !items.contains(item));
        if truth {
            current.extend(items);
        }
        self.place(&members, Json::Array(current))
    }

    /// A value for the quantifier variable `var` that makes `body` come out as `truth`.
    fn element_for(&mut self, var: &str, body: &crate::hir::HExpr, truth: bool) -> Option<Json> {
        use crate::hir::{Base, CmpOp, HExpr, StrOp};
        const OUTSIDER: &str = "prover-outsider";
        let is_var =
            |expr: &HExpr| matches!(expr, HExpr::Field(Base::Local(name), path) if &**name == var && path.is_empty());
        match body {
            HExpr::Not(inner) => self.element_for(var, inner, !truth),
            HExpr::Cmp(op @ (CmpOp::Eq | CmpOp::Ne), a, b) => {
                let other = if is_var(a) {
                    b
                } else if is_var(b) {
                    a
                } else {
                    return None;
                };
                let value = match &**other {
                    HExpr::Const(constant) => constant.to_json(),
                    field => self.read(&as_path(field)?)?,
                };
                let equal = (*op == CmpOp::Eq) == truth;
                match (equal, &value) {
                    (true, _) => Some(value),
                    (false, Json::String(text)) => Some(json!(format!("{text}-other"))),
                    (false, Json::Number(number)) => Some(json!(number.as_i64()?.checked_add(1)?)),
                    (false, _) => None,
                }
            }
            HExpr::In(element, members) if is_var(element) => match &**members {
                HExpr::Const(crate::hir::Value::Set(items)) => match truth {
                    true => items.iter().next().map(crate::hir::Value::to_json),
                    false => Some(json!(OUTSIDER)),
                },
                field => {
                    let path = as_path(field)?;
                    let current = self.read(&path).and_then(|items| items.as_array().cloned()).unwrap_or_default();
                    match (truth, current.first()) {
                        (true, Some(first)) => Some(first.clone()),
                        (true, None) => {
                            let member = json!("prover-member");
                            self.place(&path, json!([member.clone()]))?;
                            Some(member)
                        }
                        (false, _) => Some(json!(OUTSIDER)),
                    }
                }
            },
            HExpr::Str(op, text, part) if is_var(text) => {
                let HExpr::Const(crate::hir::Value::String(part)) = &**part else { return None };
                Some(json!(match (truth, op) {
                    (true, StrOp::StartsWith) => format!("{part}x"),
                    (true, StrOp::EndsWith) => format!("x{part}"),
                    (true, StrOp::Contains) => format!("x{part}x"),
                    (false, _) => OUTSIDER.to_string(),
                }))
            }
            HExpr::Matches(text, glob) if is_var(text) => {
                Some(json!(if truth { glob_example(glob) } else { OUTSIDER.to_string() }))
            }
            _ => None,
        }
    }

    /// The value at a field path in the request document, if placed there.
    fn read(&self, path: &FieldPath) -> Option<Json> {
        let steps: Vec<&str> = path.path.iter().map(|step| &**step).collect();
        let pointer: Vec<&str> = match (path.root, steps.as_slice()) {
            (Root::Agent, ["id"]) => vec!["agent", "id"],
            (Root::Agent, rest) => [&["agent", "attrs"], rest].concat(),
            (Root::Resource, ["id"]) => vec!["resource", "id"],
            (Root::Resource, rest) => [&["resource", "attrs"], rest].concat(),
            (Root::Args, rest) => [&["args"], rest].concat(),
            (Root::Context, rest) => [&["context"], rest].concat(),
            (Root::Behavior, rest) => [&["behavior"], rest].concat(),
            (Root::Task, [param]) if *param != TASK_KIND => vec!["task", "params", param],
            (Root::Chain, ["sponsor"]) => return self.doc.get("chain")?.get(0).cloned(),
            (Root::Chain, ["delegator"]) => return self.doc.get("chain")?.as_array()?.last().cloned(),
            _ => return None,
        };
        let mut at = &self.doc;
        for step in pointer {
            at = at.get(step)?;
        }
        Some(at.clone())
    }

    /// Puts a value where a field path points in the request document.
    fn place(&mut self, path: &FieldPath, value: Json) -> Option<()> {
        let steps: Vec<&str> = path.path.iter().map(|step| &**step).collect();
        let max_chain = self.max_chain;
        let doc = &mut self.doc;
        match (path.root, steps.as_slice()) {
            (Root::Agent, ["id"]) => set_nested(doc, &["agent", "id"], value)?,
            (Root::Agent, rest) => set_nested(doc, &[&["agent", "attrs"], rest].concat(), value)?,
            (Root::Resource, ["id"]) => set_nested(doc, &["resource", "id"], value)?,
            (Root::Resource, rest) => set_nested(doc, &[&["resource", "attrs"], rest].concat(), value)?,
            (Root::Args, rest) => set_nested(doc, &[&["args"], rest].concat(), value)?,
            (Root::Context, rest) => set_nested(doc, &[&["context"], rest].concat(), value)?,
            (Root::Behavior, rest) => set_nested(doc, &[&["behavior"], rest].concat(), value)?,
            (Root::Chain, ["depth"]) => {
                // A delegator already placed stays the last link. A depth past what a
                // request may carry gives no candidate: the verdict stays unknown.
                let depth = usize::try_from(value.as_i64()?).ok().filter(|depth| *depth < max_chain)?;
                let current = doc.get("chain").and_then(Json::as_array).cloned().unwrap_or_default();
                let sponsor = current.first().cloned()?;
                let delegator = current.get(1..).and_then(|rest| rest.last()).cloned();
                let mut links = vec![sponsor];
                links.extend((0..depth).map(|i| json!(format!("prover-agent-{i}"))));
                if let (true, Some(delegator)) = (depth > 0, delegator) {
                    *links.last_mut()? = delegator;
                }
                set_nested(doc, &["chain"], Json::Array(links))?;
            }
            (Root::Chain, ["delegator"]) => {
                // The last link, below the sponsor: one hop unless the depth says more.
                let chain = doc.get_mut("chain").and_then(Json::as_array_mut)?;
                if chain.len() < 2 {
                    chain.push(value);
                } else {
                    *chain.last_mut()? = value;
                }
            }
            (Root::Chain, ["sponsor"]) => {
                let chain = doc.get_mut("chain").and_then(Json::as_array_mut)?;
                *chain.first_mut()? = value;
            }
            (Root::Task, [param]) if *param != TASK_KIND => set_nested(doc, &["task", "params", param], value)?,
            _ => return None,
        }
        Some(())
    }
}

/// What the path's switches and intervals already decided about attributes.
struct Fixed {
    /// Attributes a string pattern on the path pins down: changed last.
    anchored: Vec<FieldPath>,
    /// Attributes a switch fixed: never changed.
    keys: Vec<FieldPath>,
    /// Attributes an interval put in `(low, high]`: changed only within it.
    ranges: Vec<(FieldPath, Option<Position>, Option<Position>)>,
}

impl Fixed {
    fn may_set(&self, builder: &Builder<'_>, path: &FieldPath, value: &Json) -> bool {
        if self.keys.contains(path) {
            return false;
        }
        let Some((_, low, high)) = self.ranges.iter().find(|(own, _, _)| own == path) else { return true };
        let at = match (builder.field_type(path), value) {
            (Some(Type::Enum(name)), Json::String(variant)) => builder
                .env
                .enums
                .get(&name)
                .and_then(|variants| variants.iter().position(|own| own == variant))
                .map(|ordinal| ordinal as Position),
            (_, Json::Number(number)) => number.as_i64().map(|n| Position::from(n) * Position::from(DECIMAL_SCALE)),
            (_, Json::String(text)) => parse_decimal(text).ok().map(Position::from),
            _ => None,
        };
        at.is_some_and(|at| low.is_none_or(|low| at > low) && high.is_none_or(|high| at <= high))
    }
}

/// What a quantifier's body gives for one element, for the bodies that compare the
/// variable with constants only; `None` when it depends on more.
fn element_gives(var: &str, body: &crate::hir::HExpr, item: &Json) -> Option<bool> {
    use crate::hir::{Base, CmpOp, HExpr, StrOp, Value};
    let is_var =
        |expr: &HExpr| matches!(expr, HExpr::Field(Base::Local(name), path) if &**name == var && path.is_empty());
    match body {
        HExpr::Not(inner) => element_gives(var, inner, item).map(|gives| !gives),
        HExpr::Cmp(op @ (CmpOp::Eq | CmpOp::Ne), a, b) => {
            let constant = match (&**a, &**b) {
                (x, HExpr::Const(constant)) | (HExpr::Const(constant), x) if is_var(x) => constant,
                _ => return None,
            };
            Some((constant.to_json() == *item) == (*op == CmpOp::Eq))
        }
        HExpr::In(element, members) if is_var(element) => match &**members {
            HExpr::Const(Value::Set(values)) => Some(values.iter().any(|value| value.to_json() == *item)),
            _ => None,
        },
        HExpr::Str(op, text, part) if is_var(text) => {
            let (HExpr::Const(Value::String(part)), Json::String(item)) = (&**part, item) else { return None };
            Some(match op {
                StrOp::StartsWith => item.starts_with(&**part),
                StrOp::EndsWith => item.ends_with(&**part),
                StrOp::Contains => item.contains(&**part),
            })
        }
        HExpr::Matches(text, glob) if is_var(text) => Some(crate::hir::glob::glob_matches(glob, item.as_str()?)),
        _ => None,
    }
}

/// An equality between an attribute and a constant the diagrams do not switch on (a
/// set, say): the attribute and the constant.
fn constant_side<'e>(a: &'e crate::hir::HExpr, b: &'e crate::hir::HExpr) -> Option<(FieldPath, &'e crate::hir::Value)> {
    use crate::hir::HExpr;
    match (a, b) {
        (HExpr::Const(constant), field) | (field, HExpr::Const(constant)) => Some((as_path(field)?, constant)),
        _ => None,
    }
}

/// A value of the constant's kind that differs from it.
fn different(constant: &crate::hir::Value) -> Option<Json> {
    use crate::hir::Value;
    Some(match constant {
        Value::Set(items) if items.is_empty() => json!(["prover-item"]),
        Value::Set(_) => json!([]),
        Value::String(text) => json!(format!("{text}-other")),
        Value::Int(number) => json!(number.checked_add(1)?),
        Value::Bool(flag) => json!(!flag),
        _ => return None,
    })
}

/// A membership test of a constant in a set attribute: the set's path and the constant
/// as JSON.
fn constant_membership(expr: &crate::hir::HExpr) -> Option<(FieldPath, Json)> {
    use crate::hir::HExpr;
    match expr {
        HExpr::In(element, set) | HExpr::SetContains(set, element) => match &**element {
            HExpr::Const(constant) => Some((as_path(set)?, constant.to_json())),
            _ => None,
        },
        _ => None,
    }
}

/// The function and argument of a `timestamp(…)` or `date(…)` call.
fn moment_call(expr: &crate::hir::HExpr) -> Option<(&crate::hir::Builtin, &crate::hir::HExpr)> {
    match expr {
        crate::hir::HExpr::Call(builtin, args) if builtin.parses_moment() => Some((builtin, args.first()?)),
        _ => None,
    }
}

fn as_path(expr: &crate::hir::HExpr) -> Option<FieldPath> {
    match expr {
        crate::hir::HExpr::Field(crate::hir::Base::Root(root), path) => {
            Some(FieldPath { root: *root, path: path.clone() })
        }
        _ => None,
    }
}

/// A value `v` with `source op v` equal to `truth`: the same value where equality
/// satisfies it, otherwise one step above or below (whole numbers and decimals only).
fn related_value(source: &Json, op: crate::hir::CmpOp, truth: bool) -> Option<Json> {
    use crate::hir::CmpOp;
    // `source op v` holds for v equal to source when op is ==, <=, >=.
    let equal_satisfies = matches!(op, CmpOp::Eq | CmpOp::Le | CmpOp::Ge) == truth;
    if equal_satisfies {
        return Some(source.clone());
    }
    // Otherwise v must differ: above source for `source < v` (or not `source >= v`).
    let above = match (op, truth) {
        (CmpOp::Lt, true) | (CmpOp::Ge, false) => true,
        (CmpOp::Gt, true) | (CmpOp::Le, false) => false,
        _ => true,
    };
    let step = if above { 1 } else { -1 };
    match source {
        Json::Number(number) => Some(json!(number.as_i64()?.checked_add(step)?)),
        Json::String(text) => match parse_decimal(text) {
            Ok(fixed) => Some(json!(decimal_text(fixed.checked_add(step)?))),
            Err(_) if op == CmpOp::Eq || op == CmpOp::Ne => Some(json!(format!("{text}-other"))),
            Err(_) => None,
        },
        Json::Bool(flag) => Some(json!(!flag)),
        _ => None,
    }
}

/// For enums, which are ordered by declaration: the variant `v` with `source op v` equal
/// to `truth`, the same one or a neighbour.
fn related_variant(variants: &[String], source: &Json, op: crate::hir::CmpOp, truth: bool) -> Option<Json> {
    use crate::hir::CmpOp;
    let at = variants.iter().position(|variant| Some(variant.as_str()) == source.as_str())?;
    let equal_satisfies = matches!(op, CmpOp::Eq | CmpOp::Le | CmpOp::Ge) == truth;
    let above = matches!((op, truth), (CmpOp::Lt, true) | (CmpOp::Ge, false) | (CmpOp::Ne, true) | (CmpOp::Eq, false));
    let chosen = if equal_satisfies {
        Some(at)
    } else if above {
        at.checked_add(1)
            .filter(|next| *next < variants.len())
            .or_else(|| at.checked_sub(1).filter(|_| op == CmpOp::Ne || op == CmpOp::Eq))
    } else {
        at.checked_sub(1)
    }?;
    variants.get(chosen).map(|variant| json!(variant))
}

/// A string a glob matches: every `*` as `x`, escapes resolved.
fn glob_example(glob: &str) -> String {
    let mut out = String::new();
    let mut chars = glob.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '*' => out.push('x'),
            other => out.push(other),
        }
    }
    out
}

/// The type at a path of nested records.
fn walk(record: &RecordType, path: &[Arc<str>]) -> Option<Type> {
    let (first, rest) = path.split_first()?;
    let field = record.get(first)?;
    if rest.is_empty() {
        return Some(field.ty.clone());
    }
    walk_type(&field.ty, rest)
}

/// The type at `path` inside a value of type `ty`: a record's fields, a map's values.
fn walk_type(ty: &Type, path: &[Arc<str>]) -> Option<Type> {
    match (ty, path.split_first()) {
        (_, None) => Some(ty.clone()),
        (Type::Record(inner), Some(_)) => walk(inner, path),
        (Type::Map(value), Some((_, rest))) => walk_type(value, rest),
        _ => None,
    }
}

fn set_nested(at: &mut Json, path: &[&str], value: Json) -> Option<()> {
    let (first, rest) = path.split_first()?;
    let object = at.as_object_mut()?;
    if rest.is_empty() {
        object.insert(first.to_string(), value);
        return Some(());
    }
    set_nested(object.entry(first.to_string()).or_insert_with(|| json!({})), rest, value)
}

/// A request with every required attribute at a plain value.
fn skeleton(env: &Env, target: &Target) -> Json {
    let mut context = defaults(env, &env.context, &["time"]);
    let _ = set_nested(&mut context, &["time"], json!(TIME));
    let args = env.actions.get(&target.action).map_or_else(|| json!({}), |sig| defaults(env, &sig.params, &[]));
    let signals: Vec<&str> = crate::semantics::env::BEHAVIOR_BUILTINS.iter().map(|(name, _)| *name).collect();
    let mut doc = json!({
        "agent": { "id": "prover-agent", "attrs": defaults(env, &env.agent, &["id"]) },
        "chain": ["sponsor@prover.invalid"],
        "action": target.action,
        "args": args,
        "context": context,
        "behavior": defaults(env, &env.behavior, &signals),
    });
    if let Some(resource) = target.resource.as_ref() {
        let attrs = env.resources.get(resource).map(|record| defaults(env, record, &["id"])).unwrap_or_default();
        let _ =
            set_nested(&mut doc, &["resource"], json!({ "type": resource, "id": "prover-resource", "attrs": attrs }));
    }
    doc
}

/// Plain values for a record's required fields, except `skip`.
fn defaults(env: &Env, record: &RecordType, skip: &[&str]) -> Json {
    let fields: Map<String, Json> = record
        .required()
        .filter(|(name, _)| !skip.contains(&name.as_str()))
        .map(|(name, field)| (name.clone(), default_value(env, &field.ty)))
        .collect();
    Json::Object(fields)
}

fn default_value(env: &Env, ty: &Type) -> Json {
    match ty {
        Type::Bool => json!(false),
        Type::Int => json!(0),
        Type::Decimal => json!("0.0"),
        Type::Duration => json!("0s"),
        Type::Timestamp => json!(TIME),
        Type::Enum(name) => {
            json!(env.enums.get(name).and_then(|variants| variants.first()).cloned().unwrap_or_default())
        }
        Type::Set(_) => json!([]),
        Type::Map(_) => json!({}),
        Type::Record(record) => defaults(env, record, &[]),
        _ => json!("prover"),
    }
}

/// A value a switch constraint allows.
fn key_value(plan: &Plan, constraint: &KeyConstraint, ty: &Type) -> Option<Json> {
    match constraint {
        KeyConstraint::Is(key) => match plan.keys.get(*key as usize)? {
            Key::Str(text) => Some(json!(&**text)),
            Key::Bool(value) => Some(json!(value)),
        },
        KeyConstraint::Not(excluded) => {
            let taken = |candidate: &Key| excluded.iter().any(|key| plan.keys.get(*key as usize) == Some(candidate));
            match ty {
                Type::Bool => {
                    [false, true].into_iter().find(|value| !taken(&Key::Bool(*value))).map(|value| json!(value))
                }
                _ => (0..)
                    .map(|n| format!("prover-{n}"))
                    .find(|text| !taken(&Key::Str(Arc::from(text.as_str()))))
                    .map(Json::String),
            }
        }
    }
}

/// A value inside `(low, high]` on a unit's line, written for the field's type.
fn range_value(env: &Env, unit: &Unit, ty: &Type, low: Option<Position>, high: Option<Position>) -> Option<Json> {
    let inside = |at: Position| low.is_none_or(|low| at > low) && high.is_none_or(|high| at <= high);
    let scale = Position::from(DECIMAL_SCALE);
    match (unit, ty) {
        (Unit::Number, Type::Int) => {
            let candidate = match (low, high) {
                (_, Some(high)) => high.div_euclid(scale),
                (Some(low), None) => low.div_euclid(scale) + 1,
                (None, None) => 0,
            };
            let at = candidate.checked_mul(scale)?;
            inside(at).then(|| json!(i64::try_from(candidate).ok()))
        }
        (Unit::Number, Type::Decimal) => {
            let at = high.or(low.map(|low| low + 1)).unwrap_or(0);
            let fixed = i64::try_from(at).ok()?;
            inside(at).then(|| json!(decimal_text(fixed)))
        }
        (Unit::Duration, Type::Duration) => {
            let at = high.or(low.map(|low| low + 1)).unwrap_or(0);
            let nanos = i64::try_from(at).ok()?;
            inside(at).then(|| json!(duration_text(nanos)))
        }
        (Unit::Timestamp, Type::Timestamp) => {
            let at = high.or(low.map(|low| low + 1)).unwrap_or(0);
            let nanos = i64::try_from(at).ok()?;
            inside(at).then(|| json!(timestamp_text(nanos)))
        }
        (Unit::Ordinal(name), Type::Enum(_)) => {
            let variants = env.enums.get(&**name)?;
            (0..variants.len())
                .find(|ordinal| inside(*ordinal as Position))
                .and_then(|ordinal| variants.get(ordinal))
                .map(|variant| json!(variant))
        }
        _ => None,
    }
}
