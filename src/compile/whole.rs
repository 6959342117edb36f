//! Which interval fields hold whole numbers, and between which bounds.
//!
//! The graph puts integers and decimals on one fixed-point line, so `x > 0` and `x >= 1`
//! leave a range between them, `0 < x < 1`, that no integer is in; and a chain's depth is
//! never negative. A request that validates carries an integer in an `Int` attribute, a
//! depth of at least 0 and calendar fields in their ranges, so such ranges hold no valid
//! request. The graph's drawings, the explanations and the prover's paths leave them out
//! and write the rest in the author's terms (`== 1` rather than `> 0 and ≤ 1`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::formula::Position;
use crate::hir::value::DECIMAL_SCALE;
use crate::semantics::env::{Env, TASK_BUILTINS};
use crate::semantics::types::{RecordType, Type};

/// The whole numbers a field may hold: at least `least`, at most `greatest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Whole {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub least: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greatest: Option<i64>,
}

impl Whole {
    /// The whole numbers in `(low, high]`, a segment between two fixed-point bounds and
    /// within the field's own: `None` when there is none.
    pub fn within(&self, low: Option<Position>, high: Option<Position>) -> Option<(Option<i64>, Option<i64>)> {
        let scale = Position::from(DECIMAL_SCALE);
        let narrow = |at: Position| i64::try_from(at).ok();
        let least = match (low.and_then(|low| narrow(low.div_euclid(scale) + 1)), self.least) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let greatest = match (high.and_then(|high| narrow(high.div_euclid(scale))), self.greatest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (least, greatest) {
            (Some(least), Some(greatest)) if least > greatest => None,
            range => Some(range),
        }
    }
}

/// The calendar fields of a timestamp and their ranges, in UTC.
const CALENDAR: [(&str, Option<i64>, Option<i64>); 7] = [
    ("year", None, None),
    ("month", Some(1), Some(12)),
    ("day", Some(1), Some(31)),
    ("hour", Some(0), Some(23)),
    ("minute", Some(0), Some(59)),
    ("second", Some(0), Some(59)),
    ("weekday", Some(1), Some(7)),
];

/// How deep records are followed; deeper paths are simply not known to be whole.
const DEEPEST: usize = 8;

/// Every request path that holds a whole number in every declaration it may stand for,
/// by its text (`chain.depth`, `resource.pages`, `context.time.hour`). A path that is
/// whole for one resource type (or action, or task kind) and not for another is left out.
pub fn whole_fields(env: &Env) -> BTreeMap<String, Whole> {
    let mut found: BTreeMap<String, Option<Whole>> = BTreeMap::new();
    found.insert("chain.depth".to_string(), Some(Whole { least: Some(0), greatest: None }));
    for (root, record) in [("agent", &env.agent), ("context", &env.context), ("behavior", &env.behavior)] {
        walk_record(root, record, 0, &mut found);
    }
    for record in env.resources.values() {
        walk_record("resource", record, 0, &mut found);
    }
    for action in env.actions.values() {
        walk_record("args", &action.params, 0, &mut found);
    }
    for task in env.tasks.values() {
        for (name, ty) in
            TASK_BUILTINS.iter().map(|(name, ty)| (*name, ty)).chain(task.params.iter().map(|(n, t)| (n.as_str(), t)))
        {
            walk_type(&format!("task.{name}"), ty, 0, &mut found);
        }
    }
    found.into_iter().filter_map(|(path, whole)| Some((path, whole?))).collect()
}

fn walk_record(prefix: &str, record: &RecordType, depth: usize, found: &mut BTreeMap<String, Option<Whole>>) {
    for (name, field) in &record.fields {
        walk_type(&format!("{prefix}.{name}"), &field.ty, depth, found);
    }
}

/// Records what a path of type `ty` holds: whole (with bounds) or not, and what the
/// paths below it hold.
fn walk_type(path: &str, ty: &Type, depth: usize, found: &mut BTreeMap<String, Option<Whole>>) {
    match ty {
        Type::Int => note(found, path, Some(Whole::default())),
        Type::Timestamp => {
            note(found, path, None);
            for (part, least, greatest) in CALENDAR {
                note(found, &format!("{path}.{part}"), Some(Whole { least, greatest }));
            }
        }
        Type::Record(record) if depth < DEEPEST => walk_record(path, record, depth + 1, found),
        _ => note(found, path, None),
    }
}

/// A path is whole only if every declaration it stands for says so alike.
fn note(found: &mut BTreeMap<String, Option<Whole>>, path: &str, whole: Option<Whole>) {
    found
        .entry(path.to_string())
        .and_modify(|known| {
            if *known != whole {
                *known = None;
            }
        })
        .or_insert(whole);
}
