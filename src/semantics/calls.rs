//! Which functions call which: for the non-recursion rule and the unused-function lint.

use std::collections::{BTreeMap, BTreeSet};

use crate::syntax::ast::{Expr, ExprKind, File, Item};

/// For each function of the file, the names it calls; calls made by other declarations
/// are listed under the empty name.
pub fn collect(file: &File) -> BTreeMap<String, BTreeSet<String>> {
    let mut calls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for item in &file.items {
        let caller = match item {
            Item::Function(function) => function.name.name.clone(),
            _ => String::new(),
        };
        let callees = calls.entry(caller).or_default();
        for expr in item.exprs() {
            called_names(expr, callees);
        }
    }
    calls
}

fn called_names(expr: &Expr, into: &mut BTreeSet<String>) {
    if let ExprKind::Call(callee, _) = &expr.kind {
        if let Some(name) = callee.last() {
            into.insert(name.name.clone());
        }
    }
    for child in expr.kind.children() {
        called_names(child, into);
    }
}

/// The functions that can reach themselves, each with one cycle through it written as
/// `f → g → f`.
pub fn recursive_functions(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, String> {
    let mut recursive = BTreeMap::new();
    for start in graph.keys().filter(|name| !name.is_empty()) {
        if let Some(path) = path_back(graph, start) {
            recursive.insert(start.clone(), path.join(" → "));
        }
    }
    recursive
}

/// A path of calls from `start` back to itself, found by depth-first search.
fn path_back(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack: Vec<(String, Vec<String>)> = vec![(start.to_string(), vec![start.to_string()])];
    let mut visited: BTreeSet<String> = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if visited.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}
