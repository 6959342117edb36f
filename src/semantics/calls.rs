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
/// `f → g → f`. Linear in the calls (Tarjan's strongly connected components) plus one
/// breadth-first search per recursive function within its component, so long chains of
/// calls cost what they are long.
pub fn recursive_functions(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, String> {
    let mut calls: petgraph::graph::DiGraph<&str, ()> = petgraph::graph::DiGraph::new();
    let mut index: BTreeMap<&str, petgraph::graph::NodeIndex> = BTreeMap::new();
    for (caller, callees) in graph {
        for name in std::iter::once(caller).chain(callees) {
            index.entry(name.as_str()).or_insert_with(|| calls.add_node(name.as_str()));
        }
    }
    for (caller, callees) in graph {
        for callee in callees {
            if let (Some(from), Some(to)) = (index.get(caller.as_str()), index.get(callee.as_str())) {
                calls.update_edge(*from, *to, ());
            }
        }
    }
    let mut recursive = BTreeMap::new();
    for component in petgraph::algo::tarjan_scc(&calls) {
        let members: BTreeSet<&str> = component.iter().filter_map(|node| calls.node_weight(*node).copied()).collect();
        for start in members.iter().filter(|name| !name.is_empty()) {
            if let Some(path) = path_back(graph, start, &members) {
                recursive.insert(start.to_string(), path.join(" → "));
            }
        }
    }
    recursive
}

/// A shortest path of calls from `start` back to itself within `members`, found
/// breadth first with parent links.
fn path_back(graph: &BTreeMap<String, BTreeSet<String>>, start: &str, members: &BTreeSet<&str>) -> Option<Vec<String>> {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                let mut cycle = vec![next.clone()];
                let mut at = node;
                while at != start {
                    cycle.push(at.to_string());
                    at = parent.get(at).copied()?;
                }
                cycle.push(start.to_string());
                cycle.reverse();
                return Some(cycle);
            }
            if members.contains(next.as_str()) && !parent.contains_key(next.as_str()) {
                parent.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}
