//! The ceilings the runtime adds to the policies' decision: task budgets (cumulative
//! limits per task instance) and delegation narrowing.
//!
//! Both need state the policies cannot see from one request: what a task has spent so
//! far, and what its delegator passed on. Amounts are kept in the value's own units, an
//! `Int`, or a `Decimal` in ten-thousandths, so totals are exact.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::store::{BudgetRecord, Narrowing};
use super::RuntimeError;
use crate::eval::expr::Evaluator;
use crate::eval::{PolicySet, Request};
use crate::hir::value::Value;
use crate::hir::{Base, HExpr, Root, Task};
use crate::syntax::literal::{decimal_text, parse_decimal};

/// Each budget's limit, evaluated on the task instance's parameters.
pub fn limits(task: &Task, request: &Request, steps: usize) -> Result<Vec<(u32, Value)>, RuntimeError> {
    let mut limits = Vec::new();
    for (index, budget) in task.budgets.iter().enumerate() {
        let value = Evaluator::new(request, steps).eval(&budget.limit).map_err(|error| {
            RuntimeError::new("budget_invalid", format!("the limit of `{}` cannot be evaluated: {error}", budget.text))
        })?;
        if units(&value).is_none() {
            return Err(RuntimeError::new(
                "budget_invalid",
                format!("the limit of `{}` is {value}, not a number", budget.text),
            ));
        }
        limits.push((index as u32, value));
    }
    Ok(limits)
}

/// A number in its own units; `None` for anything else.
pub fn units(value: &Value) -> Option<i64> {
    match value {
        Value::Int(number) | Value::Decimal(number) => Some(*number),
        _ => None,
    }
}

/// `units` as a value of `like`'s kind, for messages.
pub fn shown(units: i64, like: &Value) -> String {
    match like {
        Value::Decimal(_) => decimal_text(units),
        _ => units.to_string(),
    }
}

/// The amount the request adds to each budget its action counts against. An amount that
/// cannot be evaluated, or is negative, is an error: it would not be a spend.
pub fn amounts(task: &Task, request: &Request, steps: usize) -> Result<Vec<(u32, i64)>, String> {
    let mut amounts = Vec::new();
    for (index, budget) in task.budgets.iter().enumerate() {
        if !budget.actions.iter().any(|action| **action == **request.action()) {
            continue;
        }
        let amount = match &budget.sum {
            None => 1,
            Some(value) => {
                let value = Evaluator::new(request, steps)
                    .eval(value)
                    .map_err(|error| format!("the amount for `{}` cannot be evaluated: {error}", budget.text))?;
                let amount = units(&value)
                    .ok_or_else(|| format!("the amount for `{}` is {value}, not a number", budget.text))?;
                if amount < 0 {
                    return Err(format!(
                        "the amount for `{}` is {value}; a budget counts no negative amounts",
                        budget.text
                    ));
                }
                amount
            }
        };
        amounts.push((index as u32, amount));
    }
    Ok(amounts)
}

/// "task budget exhausted", with what each exhausted budget has left.
pub fn exhausted_message(
    task: &Task,
    limits: &[(u32, Value)],
    budgets: &[BudgetRecord],
    amounts: &[(u32, i64)],
) -> String {
    let parts: Vec<String> = budgets
        .iter()
        .map(|record| {
            let like =
                limits.iter().find(|(index, _)| *index == record.index).map_or(Value::Int(0), |(_, v)| v.clone());
            let text = task.budgets.get(record.index as usize).map_or("budget", |budget| budget.text.as_str());
            let asked = amounts.iter().find(|(index, _)| *index == record.index).map_or(0, |(_, amount)| *amount);
            let remaining = record.limit.saturating_sub(record.spent);
            format!("`{text}`: {} remaining, {} requested", shown(remaining, &like), shown(asked, &like))
        })
        .collect();
    format!("task budget exhausted: {}", parts.join("; "))
}

/// Parameters as JSON, as the registry stores them.
pub fn params_json(params: &BTreeMap<String, Value>) -> serde_json::Map<String, Json> {
    params.iter().map(|(name, value)| (name.clone(), value.to_json())).collect()
}

/// A digest of the arguments: SHA-256 of their JSON with keys in order, base64url.
pub fn args_digest(args: &serde_json::Map<String, Json>) -> String {
    let text = serde_json::to_string(args).unwrap_or_default();
    B64.encode(Sha256::digest(text.as_bytes()))
}

// --- narrowing -----------------------------------------------------------------------------

/// The narrowing a delegation passes on: the delegator's, narrowed by `asked`. Anything
/// `asked` names beyond what the delegator holds widens, and is refused.
pub fn narrow(set: &PolicySet, task: &Task, parent: &Narrowing, asked: &Narrowing) -> Result<Narrowing, RuntimeError> {
    let widens = |what: String| {
        RuntimeError::new("narrowing_widens", format!("the narrowing widens: {what}"))
            .help("a delegator can only pass on a part of what it holds")
    };
    // What a delegate may hold at most: the task's declared narrowing, or else its scope.
    let ceiling = task.delegation.as_ref().and_then(|delegation| delegation.narrow.as_ref()).unwrap_or(&task.scope);
    let scope_actions: Vec<&str> =
        ceiling.iter().flat_map(|item| item.targets.iter().map(|t| t.action.as_str())).collect();
    let scope_resources: Vec<&str> =
        ceiling.iter().flat_map(|item| item.targets.iter().filter_map(|t| t.resource.as_deref())).collect();
    let actions = subset("action", &asked.actions, &parent.actions, &scope_actions).map_err(widens)?;
    let resources = subset("resource type", &asked.resources, &parent.resources, &scope_resources).map_err(widens)?;
    let mut equals = parent.equals.clone();
    for (path, value) in &asked.equals {
        check_path(set, path)?;
        match parent.equals.get(path) {
            Some(held) if held != value => return Err(widens(format!("`{path}` is held as {held}, not {value}"))),
            _ => {
                equals.insert(path.clone(), value.clone());
            }
        }
    }
    Ok(Narrowing { actions, resources, equals })
}

/// The names asked for, each among those held (the parent's, or else the task scope's).
fn subset(
    noun: &str,
    asked: &Option<Vec<String>>,
    held: &Option<Vec<String>>,
    scope: &[&str],
) -> Result<Option<Vec<String>>, String> {
    let Some(asked) = asked else { return Ok(held.clone()) };
    for name in asked {
        let inside = match held {
            Some(held) => held.contains(name),
            None => scope.contains(&name.as_str()),
        };
        if !inside {
            return Err(format!("{noun} `{name}` is not among those the delegator holds"));
        }
    }
    let mut names = asked.clone();
    names.sort();
    names.dedup();
    Ok(Some(names))
}

/// `resource.NAME` or `args.NAME`, with NAME declared by some resource type or action.
fn check_path(set: &PolicySet, path: &str) -> Result<(), RuntimeError> {
    let env = &set.hir().env;
    let declared = match path.split_once('.') {
        Some(("resource", "id")) => true,
        Some(("resource", name)) => env.resources.values().any(|record| record.fields.contains_key(name)),
        Some(("args", name)) => env.actions.values().any(|action| action.params.fields.contains_key(name)),
        _ => false,
    };
    if declared {
        Ok(())
    } else {
        Err(RuntimeError::new("invalid_narrowing", format!("`{path}` names no resource attribute or argument"))
            .help("narrow with `resource.NAME` or `args.NAME`, such as `{\"resource.number\": \"T-1\"}`"))
    }
}

/// Why the request is outside the narrowing, with the id of the resource that is when
/// it is on several (each must be inside); `None` when it is inside.
pub fn outside_delegation(narrowing: &Narrowing, request: &Request, steps: usize) -> Option<(String, Option<String>)> {
    if !request.has_more_resources() {
        return outside_narrowing(narrowing, request, steps).map(|why| (why, None));
    }
    request.each_resource().iter().find_map(|one| {
        let why = outside_narrowing(narrowing, one, steps)?;
        Some((why, one.resource().and_then(|(_, attrs)| attrs.get("id")?.as_str().map(str::to_string))))
    })
}

/// Why the request is outside the narrowing, or `None` when it is inside.
pub fn outside_narrowing(narrowing: &Narrowing, request: &Request, steps: usize) -> Option<String> {
    if let Some(actions) = &narrowing.actions {
        if !actions.iter().any(|action| **action == **request.action()) {
            return Some(format!("outside the delegated scope: `{}` was not delegated", request.action()));
        }
    }
    if let Some(resources) = &narrowing.resources {
        let ty = request.resource().map(|(ty, _)| ty.to_string()).unwrap_or_default();
        if !resources.contains(&ty) {
            return Some(format!("outside the delegated scope: `{ty}` was not delegated"));
        }
    }
    for (path, expected) in &narrowing.equals {
        let (root, name) = match path.split_once('.') {
            Some(("resource", name)) => (Root::Resource, name),
            Some(("args", name)) => (Root::Args, name),
            _ => return Some(format!("outside the delegated scope: `{path}`")),
        };
        let field = HExpr::Field(Base::Root(root), vec![name.into()]);
        let found = Evaluator::new(request, steps).eval(&field).ok();
        if !found.as_ref().is_some_and(|value| same(value, expected)) {
            return Some(format!("outside the delegated scope: `{path}` must be {expected}"));
        }
    }
    None
}

/// Whether a request value equals a narrowing's JSON value, by the value's type.
fn same(value: &Value, expected: &Json) -> bool {
    match value {
        Value::Decimal(fixed) => {
            let text = match expected {
                Json::String(text) => text.clone(),
                Json::Number(number) => number.to_string(),
                _ => return false,
            };
            parse_decimal(&text).is_ok_and(|parsed| parsed == *fixed)
        }
        other => other.to_json() == *expected,
    }
}
