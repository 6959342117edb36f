//! The frozen decision graph: an immutable, serializable arena that the evaluator walks.
//!
//! Construction happens on a petgraph graph (`diagram`); freezing copies the reachable
//! nodes into flat vectors indexed by `u32`, children before parents, so the hot path
//! reads contiguous memory and never follows a pointer. A switch's cases are sorted by
//! value number for binary search; an interval node's bounds are sorted too.

use rustc_hash::FxHashMap as HashMap;

use petgraph::stable_graph::NodeIndex;
use petgraph::visit::DfsPostOrder;
use serde::{Deserialize, Serialize};

use super::diagram::{Builder, DNode};
use super::formula::{FieldPath, Key, Position, Unit, VarKey};
use super::index::{IndexKind, IndexTable};
use crate::hir::{Grant, HExpr, Origin, Target};
use crate::syntax::ast::Effect;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FieldKind {
    Switch,
    Interval(Unit),
    /// Read whole by an index node.
    Index(IndexKind),
}

/// A request attribute the graph branches on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldSpec {
    pub path: FieldPath,
    pub kind: FieldKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    Leaf {
        leaf: u32,
    },
    /// `cases[first..first + len]`, sorted by key number; any other value goes to `default`.
    Switch {
        field: u32,
        first: u32,
        len: u32,
        default: u32,
    },
    /// `bounds[first..first + len]` sorted, with `len + 1` children at `branches[branch..]`.
    Interval {
        field: u32,
        first: u32,
        len: u32,
        branch: u32,
    },
    Test {
        test: u32,
        then: u32,
        otherwise: u32,
    },
    /// Every child in `forks[first..first + len]` is walked, and the rules they reach are
    /// united.
    Fork {
        first: u32,
        len: u32,
    },
    /// `tables[table]`'s entries whose anchor holds for the field's value are walked, and
    /// `rest` always; the rules they reach are united (see [`super::index`]).
    Index {
        field: u32,
        table: u32,
        rest: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub key: u32,
    pub child: u32,
}

/// The checks a request must pass besides the policies, compiled into the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// The request is inside its task's declared scope.
    InScope,
    /// The task instance satisfies its `require` preconditions.
    TaskValid,
    /// The delegation chain respects the task's `delegate` limits.
    DelegationAllowed,
}

pub const GATES: [Gate; 3] = [Gate::InScope, Gate::TaskValid, Gate::DelegationAllowed];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleKind {
    Policy {
        effect: Effect,
        grant: Grant,
        /// The policy's `message`, which a forbid's or an escalation's reason carries.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<std::sync::Arc<str>>,
        origin: Origin,
    },
    Gate(Gate),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub name: std::sync::Arc<str>,
    pub kind: RuleKind,
}

/// The graph for one (action, resource type) pair: one or more roots whose leaves are
/// united. The task checks form one root; the policies form one, or more if the budget
/// split them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub target: Target,
    pub roots: Vec<u32>,
    /// The first `gate_roots` roots are the task checks; the rest are the policies.
    pub gate_roots: u32,
}

/// The compiled policy set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Plan {
    pub fields: Vec<FieldSpec>,
    pub tests: Vec<HExpr>,
    pub keys: Vec<Key>,
    pub nodes: Vec<Node>,
    pub cases: Vec<Case>,
    pub bounds: Vec<Position>,
    pub branches: Vec<u32>,
    pub leaves: Vec<Vec<u32>>,
    pub forks: Vec<u32>,
    pub tables: Vec<IndexTable>,
    pub rules: Vec<Rule>,
    pub partitions: Vec<Partition>,
    /// Enum values by position, to show interval bounds on enums by name.
    pub enums: std::collections::BTreeMap<String, Vec<String>>,
    /// Interval fields that hold whole numbers, by path text: ranges without one are
    /// shown as impossible.
    #[serde(default)]
    pub whole: std::collections::BTreeMap<String, super::whole::Whole>,
    #[serde(skip)]
    lookups: Lookups,
}

/// Lookup tables rebuilt after deserializing.
#[derive(Debug, Clone, Default)]
struct Lookups {
    keys: HashMap<Key, u32>,
    /// Switch values that are strings, by text, for lookups that borrow the request's.
    string_keys: rustc_hash::FxHashMap<std::sync::Arc<str>, u32>,
    bool_keys: [Option<u32>; 2],
    /// Partitions by action, then resource type.
    partitions: rustc_hash::FxHashMap<String, Vec<(Option<String>, u32)>>,
    fields: HashMap<FieldSpec, u32>,
    tests: HashMap<HExpr, u32>,
    leaves: HashMap<Vec<u32>, u32>,
}

/// The number of `item` in `items`, adding it if it is new.
fn intern<T: Clone + Eq + std::hash::Hash>(items: &mut Vec<T>, numbers: &mut HashMap<T, u32>, item: &T) -> u32 {
    if let Some(number) = numbers.get(item) {
        return *number;
    }
    let number = items.len() as u32;
    items.push(item.clone());
    numbers.insert(item.clone(), number);
    number
}

/// How the walker learns about the request.
pub trait Probe {
    /// The key number of a switch field's value; `None` for a value no case names or an
    /// absent attribute. A value of another kind than the field's is an error.
    fn key(&mut self, plan: &Plan, field: u32) -> Result<Option<u32>, String>;
    /// An interval field's position on its line; `None` when the attribute is absent. A
    /// value of another kind than the field's is an error: it must never be taken for
    /// an absent one.
    fn position(&mut self, plan: &Plan, field: u32) -> Result<Option<Position>, String>;
    /// The outcome of a test expression.
    fn test(&mut self, plan: &Plan, test: u32) -> Result<bool, String>;
    /// A field's whole value, for an index node; `None` when it is absent.
    fn value(&mut self, plan: &Plan, field: u32) -> Option<crate::hir::Value>;
    /// Called for every node visited, with the branch taken (for explanations).
    fn visited(&mut self, _plan: &Plan, _node: u32, _branch: Branch) {}
    /// Called for every index node visited, with the entries whose anchor held.
    fn indexed(&mut self, _plan: &Plan, _node: u32, _entries: &[u32]) {}
}

/// Which way the walk left a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    Case(u32),
    Default,
    Interval(usize),
    Then,
    Otherwise,
    Leaf,
}

impl Plan {
    /// Rebuilds the lookup tables; call after deserializing.
    pub fn reindex(&mut self) {
        let mut partitions: rustc_hash::FxHashMap<String, Vec<(Option<String>, u32)>> = Default::default();
        for (i, partition) in self.partitions.iter().enumerate() {
            let entry = partitions.entry(partition.target.action.clone()).or_default();
            entry.push((partition.target.resource.clone(), i as u32));
        }
        let mut string_keys = rustc_hash::FxHashMap::default();
        let mut bool_keys = [None, None];
        for (i, key) in self.keys.iter().enumerate() {
            match key {
                Key::Str(text) => {
                    string_keys.insert(text.clone(), i as u32);
                }
                Key::Bool(value) => {
                    if let Some(slot) = bool_keys.get_mut(usize::from(*value)) {
                        *slot = Some(i as u32);
                    }
                }
            }
        }
        for table in &mut self.tables {
            table.rebuild(&self.tests);
        }
        self.lookups = Lookups {
            keys: self.keys.iter().enumerate().map(|(i, key)| (key.clone(), i as u32)).collect(),
            string_keys,
            bool_keys,
            partitions,
            fields: self.fields.iter().enumerate().map(|(i, f)| (f.clone(), i as u32)).collect(),
            tests: self.tests.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect(),
            leaves: self.leaves.iter().enumerate().map(|(i, l)| (l.clone(), i as u32)).collect(),
        };
    }

    pub fn key_id(&self, key: &Key) -> Option<u32> {
        self.lookups.keys.get(key).copied()
    }

    /// The key number of a request value, without building a key.
    pub fn value_key(&self, value: &crate::hir::Value) -> Option<u32> {
        match value {
            crate::hir::Value::String(text) => self.lookups.string_keys.get(&**text).copied(),
            crate::hir::Value::Bool(flag) => self.lookups.bool_keys.get(usize::from(*flag)).copied().flatten(),
            _ => None,
        }
    }

    /// The partition for an action on a resource type.
    pub fn partition(&self, action: &str, resource: Option<&str>) -> Option<&Partition> {
        let candidates = self.lookups.partitions.get(action)?;
        let (_, index) = candidates.iter().find(|(ty, _)| ty.as_deref() == resource)?;
        self.partitions.get(*index as usize)
    }

    /// Walks from `root` to the leaves the request reaches (one, unless forks and index
    /// nodes lead to several) and adds their rules to `matched`.
    pub fn walk<P: Probe>(&self, root: u32, probe: &mut P, matched: &mut Vec<u32>) -> Result<(), String> {
        let mut pending = vec![root];
        while let Some(start) = pending.pop() {
            self.walk_path(start, probe, matched, &mut pending)?;
        }
        Ok(())
    }

    /// Follows one path from `start`; the other branches a fork or an index node opens
    /// go to `pending`.
    fn walk_path<P: Probe>(
        &self,
        start: u32,
        probe: &mut P,
        matched: &mut Vec<u32>,
        pending: &mut Vec<u32>,
    ) -> Result<(), String> {
        let mut at = start;
        loop {
            let node = self.nodes.get(at as usize).ok_or("node out of range")?;
            let (next, branch) = match *node {
                Node::Leaf { leaf } => {
                    probe.visited(self, at, Branch::Leaf);
                    matched.extend(self.leaves.get(leaf as usize).map(Vec::as_slice).unwrap_or_default());
                    return Ok(());
                }
                Node::Fork { first, len } => {
                    pending.extend(
                        self.forks.get(first as usize..(first + len) as usize).unwrap_or_default().iter().rev(),
                    );
                    return Ok(());
                }
                Node::Index { field, table, rest } => {
                    let table = self.tables.get(table as usize).ok_or("index out of range")?;
                    let value = probe.value(self, field);
                    let entries = table.matching(value.as_ref()).map_err(|problem| {
                        let name = self.fields.get(field as usize).map(|spec| spec.path.text()).unwrap_or_default();
                        format!("`{name}` {problem}")
                    })?;
                    probe.indexed(self, at, &entries);
                    pending.extend(
                        entries.iter().rev().filter_map(|entry| table.entries.get(*entry as usize)).map(|e| e.child),
                    );
                    at = rest;
                    continue;
                }
                Node::Switch { field, first, len, default } => {
                    let cases = self.cases.get(first as usize..(first + len) as usize).unwrap_or_default();
                    let found = probe
                        .key(self, field)?
                        .and_then(|key| cases.binary_search_by_key(&key, |case| case.key).ok())
                        .and_then(|i| cases.get(i));
                    match found {
                        Some(case) => (case.child, Branch::Case(case.key)),
                        None => (default, Branch::Default),
                    }
                }
                Node::Interval { field, first, len, branch } => {
                    let bounds = self.bounds.get(first as usize..(first + len) as usize).unwrap_or_default();
                    // An absent attribute can take any branch: the checker proved that no
                    // rule depends on it there (see `compile`'s variable order).
                    let segment = probe.position(self, field)?.map_or(0, |at| bounds.partition_point(|b| *b < at));
                    let child = self.branches.get(branch as usize + segment).copied().ok_or("branch out of range")?;
                    (child, Branch::Interval(segment))
                }
                Node::Test { test, then, otherwise } => {
                    if probe.test(self, test)? {
                        (then, Branch::Then)
                    } else {
                        (otherwise, Branch::Otherwise)
                    }
                }
            };
            probe.visited(self, at, branch);
            at = next;
        }
    }

    /// Adds a node that walks every one of `roots` (none: the empty leaf; one: itself).
    pub(crate) fn add_fork(&mut self, roots: &[u32]) -> u32 {
        match roots {
            [] => self.add_leaf(&[]),
            [only] => *only,
            _ => {
                let first = self.forks.len() as u32;
                self.forks.extend(roots);
                self.push_node(Node::Fork { first, len: roots.len() as u32 })
            }
        }
    }

    /// Adds an index node over `field`; its children are already in the arena.
    pub(crate) fn add_index(&mut self, field: &FieldPath, table: IndexTable, rest: u32) -> u32 {
        let field = self.field_number(field, FieldKind::Index(table.kind));
        let number = self.tables.len() as u32;
        self.tables.push(table);
        self.push_node(Node::Index { field, table: number, rest })
    }

    /// Adds a leaf node holding `rules`.
    pub(crate) fn add_leaf(&mut self, rules: &[u32]) -> u32 {
        let leaf = self.leaf_number(rules);
        self.push_node(Node::Leaf { leaf })
    }

    fn push_node(&mut self, node: Node) -> u32 {
        self.nodes.push(node);
        self.nodes.len() as u32 - 1
    }

    /// The longest path from a root to a leaf, in nodes.
    pub fn depth(&self) -> usize {
        let mut depth = vec![0usize; self.nodes.len()];
        // Children come before parents in the arena.
        for (index, node) in self.nodes.iter().enumerate() {
            let deepest_child = self.children(node).iter().map(|c| depth.get(*c as usize).copied().unwrap_or(0)).max();
            if let Some(slot) = depth.get_mut(index) {
                *slot = 1 + deepest_child.unwrap_or(0);
            }
        }
        self.partitions
            .iter()
            .flat_map(|p| &p.roots)
            .map(|r| depth.get(*r as usize).copied().unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    pub fn children(&self, node: &Node) -> Vec<u32> {
        match *node {
            Node::Leaf { .. } => Vec::new(),
            Node::Switch { first, len, default, .. } => self
                .cases
                .get(first as usize..(first + len) as usize)
                .unwrap_or_default()
                .iter()
                .map(|case| case.child)
                .chain(std::iter::once(default))
                .collect(),
            Node::Interval { len, branch, .. } => {
                self.branches.get(branch as usize..(branch + len + 1) as usize).unwrap_or_default().to_vec()
            }
            Node::Test { then, otherwise, .. } => vec![then, otherwise],
            Node::Fork { first, len } => {
                self.forks.get(first as usize..(first + len) as usize).unwrap_or_default().to_vec()
            }
            Node::Index { table, rest, .. } => {
                let entries = self.tables.get(table as usize).map(|table| table.entries.as_slice()).unwrap_or_default();
                std::iter::once(rest).chain(entries.iter().map(|entry| entry.child)).collect()
            }
        }
    }

    pub(crate) fn key_number(&mut self, key: &Key) -> u32 {
        intern(&mut self.keys, &mut self.lookups.keys, key)
    }

    pub(crate) fn field_number(&mut self, path: &FieldPath, kind: FieldKind) -> u32 {
        intern(&mut self.fields, &mut self.lookups.fields, &FieldSpec { path: path.clone(), kind })
    }

    pub(crate) fn test_number(&mut self, expr: &HExpr) -> u32 {
        intern(&mut self.tests, &mut self.lookups.tests, expr)
    }

    fn leaf_number(&mut self, rules: &[u32]) -> u32 {
        intern(&mut self.leaves, &mut self.lookups.leaves, &rules.to_vec())
    }

    /// Adds a partition; call [`Plan::reindex`] once all are added.
    pub fn add_partition(&mut self, target: Target, roots: Vec<u32>, gate_roots: u32) {
        self.partitions.push(Partition { target, roots, gate_roots });
    }

    /// Copies the diagram below `root` into the arena, children before parents, and
    /// returns its arena index.
    pub fn freeze(&mut self, builder: &Builder, root: NodeIndex) -> u32 {
        self.freeze_all(builder, &[root]).first().copied().unwrap_or(0)
    }

    /// Copies several diagrams of one builder into the arena, sharing the nodes they
    /// share (one walk, each node visited once); returns their arena indexes in order.
    pub fn freeze_all(&mut self, builder: &Builder, roots: &[NodeIndex]) -> Vec<u32> {
        let mut frozen: HashMap<NodeIndex, u32> = HashMap::default();
        let Some(first) = roots.first() else { return Vec::new() };
        let mut walk = DfsPostOrder::new(&builder.graph, *first);
        for root in roots {
            walk.move_to(*root);
            while let Some(index) = walk.next(&builder.graph) {
                let Some(node) = builder.node(index) else { continue };
                let node = self.freeze_node(builder, node, &frozen);
                frozen.insert(index, self.nodes.len() as u32);
                self.nodes.push(node);
            }
        }
        roots.iter().map(|root| frozen.get(root).copied().unwrap_or(0)).collect()
    }

    fn freeze_node(&mut self, builder: &Builder, node: &DNode, arena: &HashMap<NodeIndex, u32>) -> Node {
        let child = |index: &NodeIndex| arena.get(index).copied().unwrap_or(0);
        let var = |position: &u32| builder.vars.get(*position as usize);
        match node {
            DNode::Leaf(rules) => Node::Leaf { leaf: self.leaf_number(rules) },
            DNode::Switch { var: position, cases, default } => {
                let field = match var(position) {
                    Some(VarKey::Switch(path)) => self.field_number(path, FieldKind::Switch),
                    _ => 0,
                };
                let mut numbered: Vec<Case> = cases
                    .iter()
                    .map(|(key, target)| Case { key: self.key_number(key), child: child(target) })
                    .collect();
                numbered.sort_by_key(|case| case.key);
                let first = self.cases.len() as u32;
                self.cases.extend(&numbered);
                Node::Switch { field, first, len: numbered.len() as u32, default: child(default) }
            }
            DNode::Interval { var: position, bounds, children } => {
                let field = match var(position) {
                    Some(VarKey::Interval(path, unit)) => self.field_number(path, FieldKind::Interval(unit.clone())),
                    _ => 0,
                };
                let first = self.bounds.len() as u32;
                self.bounds.extend(bounds);
                let branch = self.branches.len() as u32;
                self.branches.extend(children.iter().map(child));
                Node::Interval { field, first, len: bounds.len() as u32, branch }
            }
            DNode::Test { var: position, then, otherwise } => {
                let test = match var(position) {
                    Some(VarKey::Test(expr)) => self.test_number(expr),
                    _ => 0,
                };
                Node::Test { test, then: child(then), otherwise: child(otherwise) }
            }
        }
    }
}
