//! Draws a plan as a Graphviz DOT graph: one cluster per (action, resource type), diamonds
//! for tests, boxes for leaves listing the rules that match there; and the branch labels
//! that explanations, coverage and the prover's paths share, in the author's terms.

use std::fmt::Write;

use super::formula::{Key, Position, Unit};
use super::plan::{FieldKind, Node, Plan};
use crate::hir::value::{decimal_text, timestamp_text};
use crate::syntax::literal::duration_text;

/// Renders the whole plan.
pub fn render(plan: &Plan) -> String {
    let mut out = String::from("digraph mandate {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=10];\n");
    let mut drawn = vec![false; plan.nodes.len()];
    for (index, partition) in plan.partitions.iter().enumerate() {
        let title = match &partition.target.resource {
            Some(resource) => format!("{} on {resource}", partition.target.action),
            None => partition.target.action.clone(),
        };
        let _ = writeln!(out, "  p{index} [shape=plaintext, fontsize=13, label={}];", quote(&title));
        for root in &partition.roots {
            let _ = writeln!(out, "  p{index} -> n{root};");
            draw(plan, *root, &mut drawn, &mut out);
        }
    }
    out.push_str("}\n");
    out
}

fn draw(plan: &Plan, root: u32, drawn: &mut [bool], out: &mut String) {
    let mut stack = vec![root];
    while let Some(index) = stack.pop() {
        match drawn.get_mut(index as usize) {
            Some(seen) if !*seen => *seen = true,
            _ => continue,
        }
        let Some(node) = plan.nodes.get(index as usize) else { continue };
        let _ = writeln!(out, "  n{index} [{}];", node_style(plan, node));
        // A branch no valid request takes is left out, and what only it leads to.
        for (child, label) in edges(plan, node) {
            let Some(label) = label else { continue };
            let _ = writeln!(out, "  n{index} -> n{child} [label={}];", quote(&label));
            stack.push(child);
        }
    }
}

fn node_style(plan: &Plan, node: &Node) -> String {
    match node {
        Node::Leaf { leaf } => {
            let rules = plan.leaves.get(*leaf as usize).map(Vec::as_slice).unwrap_or_default();
            let names: Vec<&str> = rules.iter().filter_map(|r| plan.rules.get(*r as usize)).map(|r| &*r.name).collect();
            let label = if names.is_empty() { "no rule".to_string() } else { names.join("\n") };
            format!("shape=box, style=rounded, label={}", quote(&label))
        }
        Node::Switch { field, .. } | Node::Interval { field, .. } => {
            let name = plan.fields.get(*field as usize).map(|f| f.path.text()).unwrap_or_default();
            format!("shape=ellipse, label={}", quote(&name))
        }
        Node::Test { test, .. } => {
            let text = plan.tests.get(*test as usize).map(ToString::to_string).unwrap_or_default();
            format!("shape=diamond, label={}", quote(&text))
        }
        Node::Fork { .. } => "shape=point, label=\"\"".to_string(),
        Node::Index { field, table, .. } => {
            let name = plan.fields.get(*field as usize).map(|f| f.path.text()).unwrap_or_default();
            let entries = plan.tables.get(*table as usize).map_or(0, |table| table.entries.len());
            format!("shape=folder, label={}", quote(&format!("{name}\nindex of {entries}")))
        }
    }
}

/// A node's children with the label of the branch to each, in branch order; `None` for a
/// branch no valid request takes (see [`segment_text`]).
pub fn edges(plan: &Plan, node: &Node) -> Vec<(u32, Option<String>)> {
    match *node {
        Node::Leaf { .. } => Vec::new(),
        Node::Switch { first, len, default, .. } => {
            let cases = plan.cases.get(first as usize..(first + len) as usize).unwrap_or_default();
            let mut edges: Vec<(u32, Option<String>)> =
                cases.iter().map(|case| (case.child, Some(key_text(plan.keys.get(case.key as usize))))).collect();
            edges.push((default, Some("other".to_string())));
            edges
        }
        Node::Interval { field, first, len, branch } => {
            let bounds = plan.bounds.get(first as usize..(first + len) as usize).unwrap_or_default();
            let children = plan.branches.get(branch as usize..(branch + len + 1) as usize).unwrap_or_default();
            children
                .iter()
                .enumerate()
                .map(|(segment, child)| (*child, segment_text(plan, field, bounds, segment)))
                .collect()
        }
        Node::Test { then, otherwise, .. } => {
            vec![(then, Some("true".to_string())), (otherwise, Some("false".to_string()))]
        }
        Node::Fork { .. } => plan.children(node).into_iter().map(|child| (child, Some("and".to_string()))).collect(),
        Node::Index { table, rest, .. } => {
            let entries = plan.tables.get(table as usize).map(|table| table.entries.as_slice()).unwrap_or_default();
            let tests = entries.iter().map(|entry| {
                let text = plan.tests.get(entry.test as usize).map(ToString::to_string).unwrap_or_default();
                (entry.child, Some(text))
            });
            std::iter::once((rest, Some("always".to_string()))).chain(tests).collect()
        }
    }
}

pub fn key_text(key: Option<&Key>) -> String {
    match key {
        Some(Key::Str(text)) => crate::syntax::print::quote(text),
        Some(Key::Bool(value)) => value.to_string(),
        None => "?".to_string(),
    }
}

/// `< 0.5`, `≥ 5`, `== 0` and the like, for the `segment`-th interval of `bounds` on an
/// interval `field`; for an enum, the values it holds (`== coder`, `in [coder,
/// reviewer]`). `None` when no valid request is in it: an enum range without a value, a
/// whole-number field's range without a whole number (`> 0 and < 1`, a depth below 0).
pub fn segment_text(plan: &Plan, field: u32, bounds: &[Position], segment: usize) -> Option<String> {
    let spec = plan.fields.get(field as usize);
    let unit = match spec.map(|spec| &spec.kind) {
        Some(FieldKind::Interval(unit)) => unit.clone(),
        _ => Unit::Number,
    };
    let mut low = segment.checked_sub(1).and_then(|i| bounds.get(i)).copied();
    let mut high = bounds.get(segment).copied();
    if let Unit::Ordinal(name) = &unit {
        return variants_text(plan, name, low, high);
    }
    let whole = spec.and_then(|spec| plan.whole.get(&spec.path.text()));
    if let (Unit::Number, Some(whole)) = (&unit, whole) {
        match whole.within(low, high)? {
            (Some(least), Some(greatest)) if least == greatest => return Some(format!("== {least}")),
            // A side the field's own range already implies says nothing.
            (least, greatest) => {
                if whole.least.is_some() && least == whole.least {
                    low = None;
                }
                if whole.greatest.is_some() && greatest == whole.greatest {
                    high = None;
                }
            }
        }
    }
    let lower = low.map(|at| above(plan, at, &unit));
    let upper = high.map(|at| at_most(plan, at, &unit));
    Some(match (low, high) {
        (Some(low), Some(high)) if low.checked_add(1) == Some(high) => {
            format!("== {}", position_text(plan, high, &unit))
        }
        _ => match (lower, upper) {
            (None, Some(upper)) => upper,
            (Some(lower), Some(upper)) => format!("{lower} and {upper}"),
            (Some(lower), None) => lower,
            (None, None) => "any".to_string(),
        },
    })
}

/// The values of enum `name` in the interval `(low, high]` of declaration positions.
fn variants_text(plan: &Plan, name: &str, low: Option<Position>, high: Option<Position>) -> Option<String> {
    let Some(variants) = plan.enums.get(name) else { return Some("any".to_string()) };
    let inside: Vec<&String> = variants
        .iter()
        .enumerate()
        .filter(|(at, _)| {
            let at = Position::try_from(*at).unwrap_or(Position::MAX);
            low.is_none_or(|low| at > low) && high.is_none_or(|high| at <= high)
        })
        .map(|(_, variant)| variant)
        .collect();
    match inside.as_slice() {
        [] => None,
        [one] => Some(format!("== {one}")),
        many => Some(format!("in [{}]", many.iter().map(|variant| variant.as_str()).collect::<Vec<_>>().join(", "))),
    }
}

/// Whether a point is the last one before a rounder one: then `x ≤ 0.8999` (how `x <
/// 0.9` is kept in ten-thousandths) reads better as `x < 0.9`, and `x ≤ 0.9999` as
/// `x < 1`. Times and durations round to the millisecond.
fn just_below_whole(at: Position, unit: &Unit) -> Option<Position> {
    let next = at.checked_add(1)?;
    match unit {
        Unit::Number => (trailing_zeros(next) > trailing_zeros(at)).then_some(next),
        Unit::Duration | Unit::Timestamp => {
            (next % Position::from(crate::syntax::literal::NANOS_PER_MILLI) == 0).then_some(next)
        }
        Unit::Ordinal(_) => None,
    }
}

/// How many decimal zeros a number ends with (none for zero).
fn trailing_zeros(mut number: Position) -> u32 {
    let mut zeros = 0;
    while number != 0 && number % 10 == 0 {
        number /= 10;
        zeros += 1;
    }
    zeros
}

fn at_most(plan: &Plan, at: Position, unit: &Unit) -> String {
    match just_below_whole(at, unit) {
        Some(next) => format!("< {}", position_text(plan, next, unit)),
        None => format!("≤ {}", position_text(plan, at, unit)),
    }
}

fn above(plan: &Plan, at: Position, unit: &Unit) -> String {
    match just_below_whole(at, unit) {
        Some(next) => format!("≥ {}", position_text(plan, next, unit)),
        None => format!("> {}", position_text(plan, at, unit)),
    }
}

/// A position on a unit's line, written as a value.
pub fn position_text(plan: &Plan, at: Position, unit: &Unit) -> String {
    let scale = Position::from(crate::hir::value::DECIMAL_SCALE);
    let narrow = |at: Position| i64::try_from(at).ok();
    match unit {
        Unit::Number if at % scale == 0 => (at / scale).to_string(),
        Unit::Number => narrow(at).map_or_else(|| format!("{at}e-4"), decimal_text),
        Unit::Duration => narrow(at).map_or_else(|| format!("{at}ns"), duration_text),
        Unit::Timestamp => narrow(at).map_or_else(|| format!("{at}ns"), timestamp_text),
        Unit::Ordinal(name) => {
            let variant = usize::try_from(at).ok().and_then(|i| plan.enums.get(&**name)?.get(i));
            variant.cloned().unwrap_or_else(|| format!("{name} #{at}"))
        }
    }
}

fn quote(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("\"{escaped}\"")
}
