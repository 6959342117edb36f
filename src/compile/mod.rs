//! Compiles a package's HIR into one decision graph, frozen into a [`Plan`].
//!
//! **Strategy.** The graph is partitioned by (action, resource type): a request's action
//! and resource type pick its partition in one hash lookup, and only the policies that
//! target that pair are compiled into it. Within a partition, the task checks (scope,
//! preconditions, delegation limits) form one diagram and the policies another; a
//! request walks both and unites the rules at the two leaves it reaches. Evaluation cost
//! is therefore the depth of two diagrams, whatever the number of policies.
//!
//! **Variable order.** The task's kind comes first: every request has exactly one, every
//! task check names one, so the task checks split into one small diagram per kind
//! instead of multiplying together. Then attributes compared with constants, those with
//! the most distinct constants earliest (they split the policies fastest); then
//! attributes of task parameters; then the remaining boolean tests in the order they are
//! written. Testing the kind before anything that reads a parameter, and writing order
//! for tests, keeps every test behind the guards (`has`, `task is`) that make it safe to
//! evaluate.
//!
//! **Budget.** Each diagram may create at most [`Options::node_budget`] nodes, and at
//! most a multiple of the size of its policies' formulas, so that a group whose leaves
//! multiply (each policy testing something of its own) fails early. A group of policies
//! that would exceed it is split in two and compiled as two diagrams (both walked at run
//! time); a single policy that alone exceeds it is compiled as one test of
//! its whole condition. All diagrams together, failed attempts included, may create at
//! most [`Options::total_budget`] nodes; once that is spent, every remaining policy is
//! compiled as one test. Compilation therefore always ends, in work bounded by the
//! budgets, and never drops a policy.

pub mod diagram;
pub mod dot;
pub mod formula;
pub mod index;
pub mod plan;
pub mod whole;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use self::diagram::{Builder, OverBudget};
use self::formula::{formula, Atom, FieldPath, Formula, VarKey};
use self::index::{IndexEntry, IndexKind, IndexTable};
pub use self::plan::Plan;
use self::plan::{Gate, Rule, RuleKind, GATES};
use crate::hir::{CmpOp, HExpr, Hir, Root, ScopeItem, Target, Task, Value};
use petgraph::stable_graph::NodeIndex;

/// Limits on compilation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Most nodes one diagram may create before its policies are split.
    pub node_budget: usize,
    /// Most nodes the whole compilation may create, counting failed attempts. Once it is
    /// spent, every remaining policy is compiled as one test of its whole condition.
    pub total_budget: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { node_budget: 1_000_000, total_budget: 20_000_000 }
    }
}

/// The nodes compilation may still create.
struct Budget {
    per_diagram: usize,
    left: usize,
}

impl Budget {
    /// The budget for the next diagram.
    fn next(&self) -> usize {
        self.per_diagram.min(self.left)
    }

    fn spend(&mut self, nodes: usize) {
        self.left = self.left.saturating_sub(nodes);
    }
}

/// A rule to compile: its number in the plan, its condition, and the formula for it.
#[derive(Clone)]
struct RuleInput {
    rule: u32,
    condition: HExpr,
    formula: Formula,
}

/// Compiles a lowered package.
pub fn compile(hir: &Hir, options: &Options) -> Plan {
    let mut plan = Plan::default();
    plan.enums = hir.env.enums.clone();
    plan.whole = whole::whole_fields(&hir.env);
    for policy in &hir.policies {
        plan.rules.push(Rule {
            name: policy.name.as_str().into(),
            kind: RuleKind::Policy {
                effect: policy.effect,
                grant: policy.grant.clone(),
                message: policy.message.clone(),
                origin: policy.origin.clone(),
            },
        });
    }
    let first_gate = plan.rules.len() as u32;
    for gate in GATES {
        plan.rules.push(Rule { name: gate_name(gate).into(), kind: RuleKind::Gate(gate) });
    }
    let mut partitions: BTreeMap<&Target, Vec<usize>> = BTreeMap::new();
    for (index, policy) in hir.policies.iter().enumerate() {
        for target in &policy.targets {
            partitions.entry(target).or_default().push(index);
        }
    }
    let mut budget = Budget { per_diagram: options.node_budget, left: options.total_budget };
    for (target, policies) in partitions {
        let gates: Vec<RuleInput> = GATES
            .iter()
            .enumerate()
            .map(|(offset, gate)| {
                let condition = gate_condition(*gate, hir, target);
                RuleInput { rule: first_gate + offset as u32, formula: formula(&condition, target), condition }
            })
            .collect();
        let rules: Vec<RuleInput> = policies
            .iter()
            .filter_map(|index| hir.policies.get(*index).map(|policy| (index, policy)))
            .map(|(index, policy)| RuleInput {
                rule: *index as u32,
                formula: formula(&policy.condition, target),
                condition: policy.condition.clone(),
            })
            .collect();
        let mut roots = compile_rules(&mut plan, &gates, &mut budget);
        let gate_roots = roots.len() as u32;
        roots.extend(compile_rules(&mut plan, &rules, &mut budget));
        plan.add_partition(target.clone(), roots, gate_roots);
    }
    plan.reindex();
    plan
}

/// Compiles one more condition into an existing plan, as rule number `rule`, for the
/// requests on `target`; returns the roots of its diagrams. The prover uses this to lay a
/// condition over the graph that runs, sharing its fields, keys and tests.
pub fn compile_condition(
    plan: &mut Plan,
    target: &Target,
    condition: &HExpr,
    rule: u32,
    options: &Options,
) -> Vec<u32> {
    let input = RuleInput { rule, formula: formula(condition, target), condition: condition.clone() };
    let mut budget = Budget { per_diagram: options.node_budget, left: options.total_budget };
    let roots = compile_group(plan, std::slice::from_ref(&input), &mut budget);
    plan.reindex();
    roots
}

pub fn gate_name(gate: Gate) -> &'static str {
    match gate {
        Gate::InScope => "inside the task's scope",
        Gate::TaskValid => "task preconditions hold",
        Gate::DelegationAllowed => "delegation within the task's limits",
    }
}

/// The condition a gate checks for requests on `target`, over every task kind.
pub fn gate_condition(gate: Gate, hir: &Hir, target: &Target) -> HExpr {
    hir.tasks.values().fold(HExpr::FALSE, |any, task| {
        let holds = match gate {
            Gate::InScope => in_scope(task, target),
            Gate::TaskValid => task.require.clone(),
            Gate::DelegationAllowed => delegation_allowed(task, target),
        };
        HExpr::or(any, HExpr::and(HExpr::TaskIs(task.name.as_str().into()), holds))
    })
}

fn in_scope(task: &Task, target: &Target) -> HExpr {
    within_items(&task.scope, target)
}

/// Some item naming the pair holds.
fn within_items(items: &[ScopeItem], target: &Target) -> HExpr {
    items
        .iter()
        .filter(|item| item.targets.contains(target))
        .fold(HExpr::FALSE, |any, item| HExpr::or(any, item.condition.clone()))
}

fn delegation_allowed(task: &Task, target: &Target) -> HExpr {
    let depth = || HExpr::field(Root::Chain, &["depth"]);
    let cmp = |op, limit| HExpr::Cmp(op, Box::new(depth()), Box::new(HExpr::Const(Value::Int(limit))));
    match &task.delegation {
        None => cmp(CmpOp::Eq, 0),
        Some(delegation) => {
            let within_depth = delegation.max_depth.map_or(HExpr::TRUE, |limit| cmp(CmpOp::Le, limit));
            let receiver_allowed = HExpr::or(cmp(CmpOp::Eq, 0), delegation.to.clone());
            let narrowed = match &delegation.narrow {
                Some(items) => HExpr::or(cmp(CmpOp::Eq, 0), within_items(items, target)),
                None => HExpr::TRUE,
            };
            HExpr::and(HExpr::and(within_depth, receiver_allowed), narrowed)
        }
    }
}

/// The fewest rules anchored on one attribute (see [`index`]) that make an index node.
const INDEX_MIN: usize = 16;

/// Compiles rules into an index node, when enough of them are anchored on one
/// attribute, or else into diagrams; returns the roots.
fn compile_rules(plan: &mut Plan, rules: &[RuleInput], budget: &mut Budget) -> Vec<u32> {
    match index_field(rules) {
        Some((field, kind)) => vec![compile_index(plan, rules, &field, kind, budget)],
        None => compile_group(plan, rules, budget),
    }
}

/// The attribute (and kind of index) the most rules are anchored on, if that is at
/// least [`INDEX_MIN`]; ties go to the first in attribute order.
fn index_field(rules: &[RuleInput]) -> Option<(FieldPath, IndexKind)> {
    let mut counts: BTreeMap<(FieldPath, IndexKind), usize> = BTreeMap::new();
    for rule in rules {
        for anchor in index::anchors(&rule.formula) {
            *counts.entry(anchor).or_default() += 1;
        }
    }
    let best = counts.values().copied().max().filter(|count| *count >= INDEX_MIN)?;
    counts.into_iter().find(|(_, count)| *count == best).map(|(anchor, _)| anchor)
}

/// An index node over `field`: the rules anchored on it, grouped by anchor, each group
/// compiled (without its anchor) below the anchor's entry; the others below `rest`.
fn compile_index(plan: &mut Plan, rules: &[RuleInput], field: &FieldPath, kind: IndexKind, budget: &mut Budget) -> u32 {
    let mut anchored: BTreeMap<HExpr, Vec<RuleInput>> = BTreeMap::new();
    let mut rest = Vec::new();
    for rule in rules {
        match index::take_anchor(&rule.formula, field, kind) {
            Some((test, residual)) => {
                anchored.entry(test).or_default().push(RuleInput { formula: residual, ..rule.clone() })
            }
            None => rest.push(rule.clone()),
        }
    }
    let mut entries = Vec::with_capacity(anchored.len());
    for (test, group) in anchored {
        let child = match group.as_slice() {
            // A rule that is its anchor alone needs no diagram below the entry.
            [only] if only.formula == Formula::Const(true) => plan.add_leaf(&[only.rule]),
            _ => {
                let roots = compile_rules(plan, &group, budget);
                plan.add_fork(&roots)
            }
        };
        entries.push(IndexEntry { test: plan.test_number(&test), child });
    }
    let rest_roots = compile_rules(plan, &rest, budget);
    let rest = plan.add_fork(&rest_roots);
    plan.add_index(field, IndexTable::new(kind, entries), rest)
}

/// Compiles rules into as few diagrams as the budgets allow; returns their roots.
///
/// Each rule is built alone, then the diagrams are united pairwise, level by level, like
/// a balanced tree. A union that would grow past its share of the budget (a multiple of
/// the size of the formulas it unites, see [`growth_cap`], and never past the budget
/// per diagram) is abandoned and its two halves are kept as diagrams of their own. So
/// nothing built is built twice, the work is bounded by the budgets, and a group whose
/// leaves multiply (each rule testing something of its own, thresholds that cross)
/// stops growing early instead of being retried in halves.
fn compile_group(plan: &mut Plan, rules: &[RuleInput], budget: &mut Budget) -> Vec<u32> {
    if rules.is_empty() {
        return Vec::new();
    }
    if budget.next() == 0 {
        return rules.iter().flat_map(|rule| compile_whole(plan, rule)).collect();
    }
    let vars = variable_order(rules.iter().map(|rule| &rule.formula));
    let mut builder = Builder::new(vars, usize::MAX);
    let mut whole = Vec::new();
    let mut layer: Vec<(NodeIndex, usize)> = Vec::with_capacity(rules.len());
    for rule in rules {
        let atoms = atom_count(&rule.formula);
        let built = within(&mut builder, budget, atoms, |builder| {
            let condition = builder.formula(&rule.formula)?;
            builder.relabel(condition, rule.rule)
        });
        builder.forget();
        match built {
            Some(diagram) => layer.push((diagram, atoms)),
            None => whole.push(rule),
        }
    }
    let mut finished = Vec::new();
    while layer.len() > 1 {
        let mut next = Vec::with_capacity(layer.len().div_ceil(2));
        for pair in layer.chunks(2) {
            match pair {
                [(a, atoms_a), (b, atoms_b)] => {
                    let atoms = atoms_a + atoms_b;
                    match within(&mut builder, budget, atoms, |builder| builder.union(*a, *b)) {
                        Some(united) => next.push((united, atoms)),
                        None => finished.extend([*a, *b]),
                    }
                }
                [single] => next.push(*single),
                _ => {}
            }
        }
        layer = next;
    }
    finished.extend(layer.into_iter().map(|(diagram, _)| diagram));
    let mut roots = plan.freeze_all(&builder, &finished);
    roots.extend(whole.into_iter().flat_map(|rule| compile_whole(plan, rule)));
    roots
}

/// Runs one construction with room for [`growth_cap`] of `atoms` more cells (and no
/// more than the budgets allow); `None` if it needs more.
fn within(
    builder: &mut Builder,
    budget: &mut Budget,
    atoms: usize,
    build: impl FnOnce(&mut Builder) -> Result<NodeIndex, OverBudget>,
) -> Option<NodeIndex> {
    let before = builder.cells();
    builder.limit_cells(before.saturating_add(growth_cap(atoms).min(budget.next())));
    let built = build(builder);
    budget.spend(builder.cells() - before);
    built.ok()
}

/// How many more cells a construction over formulas of `atoms` atoms may use: a
/// multiple of their size. Rules that share their tests (identity permits on one
/// switch, thresholds on one number) unite in about the sum of their sizes; rules that
/// each test something of their own multiply their leaves, one subset of matching rules
/// per leaf, and exceed it early and cheaply.
fn growth_cap(atoms: usize) -> usize {
    const GROWTH: usize = 64;
    const FLOOR: usize = 2_000;
    atoms.max(1).saturating_mul(GROWTH).max(FLOOR)
}

fn atom_count(formula: &Formula) -> usize {
    let mut atoms = Vec::new();
    formula.atoms(&mut atoms);
    atoms.len()
}

/// Compiles a rule as one test of its whole condition. The diagram has four nodes
/// whatever the budget, so it is built without one: a rule is never dropped for want of
/// room.
fn compile_whole(plan: &mut Plan, rule: &RuleInput) -> Option<u32> {
    let single = Formula::Atom(Atom::Test(rule.condition.clone()));
    let mut builder = Builder::new(variable_order([&single]), usize::MAX);
    build(&mut builder, [(rule.rule, &single)]).ok().map(|root| plan.freeze(&builder, root))
}

/// The union of the rules' diagrams, combined pairwise like a balanced tree so that
/// each merge is between diagrams of similar size.
pub(crate) fn build<'a>(
    builder: &mut Builder,
    rules: impl IntoIterator<Item = (u32, &'a Formula)>,
) -> Result<petgraph::stable_graph::NodeIndex, OverBudget> {
    let mut layer = Vec::new();
    for (rule, formula) in rules {
        let condition = builder.formula(formula)?;
        layer.push(builder.relabel(condition, rule)?);
        builder.forget();
    }
    builder.fold_balanced(layer, Builder::union)
}

/// Orders the variables the formulas test (see the module documentation).
pub(crate) fn variable_order<'a>(formulas: impl IntoIterator<Item = &'a Formula>) -> Vec<VarKey> {
    #[derive(Default)]
    struct Use {
        first: usize,
        count: usize,
        distinct: BTreeSet<String>,
    }
    let mut uses: HashMap<VarKey, Use> = HashMap::new();
    let mut seen = 0;
    for formula in formulas {
        let mut atoms = Vec::new();
        formula.atoms(&mut atoms);
        for atom in atoms {
            seen += 1;
            let entry = uses.entry(atom.var()).or_insert_with(|| Use { first: seen, ..Use::default() });
            entry.count += 1;
            match atom {
                Atom::OneOf(_, keys) => entry.distinct.extend(keys.iter().map(|key| format!("{key:?}"))),
                Atom::AtMost(_, _, bound) => {
                    entry.distinct.insert(bound.to_string());
                }
                Atom::Test(_) => {}
            }
        }
    }
    let rank = |var: &VarKey| -> (u8, std::cmp::Reverse<usize>, std::cmp::Reverse<usize>, usize) {
        let entry = uses.get(var);
        let (first, count, distinct) = entry.map_or((0, 0, 0), |u| (u.first, u.count, u.distinct.len()));
        let group = match var {
            VarKey::Switch(path) | VarKey::Interval(path, _) if *path == FieldPath::task_kind() => 0,
            VarKey::Switch(path) | VarKey::Interval(path, _) if path.reads_task_params() => 2,
            VarKey::Switch(_) | VarKey::Interval(..) => 1,
            VarKey::Test(_) => 3,
        };
        if group == 3 {
            (group, std::cmp::Reverse(0), std::cmp::Reverse(0), first)
        } else {
            (group, std::cmp::Reverse(distinct), std::cmp::Reverse(count), first)
        }
    };
    let mut vars: Vec<VarKey> = uses.keys().cloned().collect();
    vars.sort_by_cached_key(|var| (rank(var), var.clone()));
    vars
}

/// Numbers about a compiled plan, for `mandate graph`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub partitions: usize,
    pub rules: usize,
    pub nodes: usize,
    pub leaves: usize,
    pub depth: usize,
    pub fields: usize,
    pub tests: usize,
    /// Nodes reached from more than one parent: subgraphs stored once and shared.
    pub shared_nodes: usize,
    /// Nodes the same graph would have as a tree, without sharing.
    pub tree_nodes: u128,
    /// The most nodes a decision walks, when each index node it meets lets one entry
    /// through (each further entry adds its own walk).
    pub walk_nodes: usize,
    /// The most diagrams a decision walks (a partition's roots, and the branches of its
    /// forks), on the same terms.
    pub walk_diagrams: usize,
}

impl Plan {
    /// Approximate heap size of the plan's arena and tables, in bytes.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let leaves: usize = self.leaves.iter().map(|leaf| size_of::<Vec<u32>>() + leaf.len() * 4).sum();
        let keys: usize = self.keys.iter().map(|key| size_of::<formula::Key>() + format!("{key:?}").len()).sum();
        self.nodes.len() * size_of::<plan::Node>()
            + self.cases.len() * size_of::<plan::Case>()
            + self.bounds.len() * size_of::<formula::Position>()
            + self.branches.len() * size_of::<u32>()
            + leaves
            + keys
            + self.tests.len() * 256
            + self.rules.len() * 256
    }

    pub fn stats(&self) -> Stats {
        let mut parents = vec![0usize; self.nodes.len()];
        let mut tree = vec![0u128; self.nodes.len()];
        for (index, node) in self.nodes.iter().enumerate() {
            let children = self.children(node);
            let size = children
                .iter()
                .fold(1u128, |sum, child| sum.saturating_add(tree.get(*child as usize).copied().unwrap_or(0)));
            if let Some(slot) = tree.get_mut(index) {
                *slot = size;
            }
            for child in children {
                if let Some(count) = parents.get_mut(child as usize) {
                    *count += 1;
                }
            }
        }
        let (walk_nodes, walk_diagrams) = self.worst_walk();
        let roots = self.partitions.iter().flat_map(|p| &p.roots);
        Stats {
            partitions: self.partitions.len(),
            rules: self.rules.len(),
            nodes: self.nodes.len(),
            leaves: self.leaves.len(),
            depth: self.depth(),
            fields: self.fields.len(),
            tests: self.tests.len(),
            shared_nodes: parents.iter().filter(|count| **count > 1).count(),
            tree_nodes: roots
                .fold(0u128, |sum, root| sum.saturating_add(tree.get(*root as usize).copied().unwrap_or(0))),
            walk_nodes,
            walk_diagrams,
        }
    }

    /// The most nodes and diagrams a decision walks: one path through each diagram, every
    /// branch of a fork, and the rest and one entry of an index node.
    fn worst_walk(&self) -> (usize, usize) {
        let mut cost = vec![(0usize, 0usize); self.nodes.len()];
        // Children come before parents in the arena.
        for (index, node) in self.nodes.iter().enumerate() {
            let of = |child: u32| cost.get(child as usize).copied().unwrap_or((0, 0));
            let deepest =
                |children: &[u32]| children.iter().map(|c| of(*c)).fold((0, 0), |a, b| (a.0.max(b.0), a.1.max(b.1)));
            let walked = match node {
                plan::Node::Leaf { .. } => (1, 1),
                plan::Node::Fork { .. } => {
                    self.children(node).iter().map(|c| of(*c)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
                }
                plan::Node::Index { rest, .. } => {
                    let entries: Vec<u32> = self.children(node).into_iter().skip(1).collect();
                    let (rest, entry) = (of(*rest), deepest(&entries));
                    (1 + rest.0 + entry.0, rest.1 + entry.1)
                }
                _ => {
                    let (nodes, diagrams) = deepest(&self.children(node));
                    (1 + nodes, diagrams.max(1))
                }
            };
            if let Some(slot) = cost.get_mut(index) {
                *slot = walked;
            }
        }
        self.partitions
            .iter()
            .map(|partition| {
                partition
                    .roots
                    .iter()
                    .filter_map(|root| cost.get(*root as usize))
                    .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
            })
            .fold((0, 0), |a, b| (a.0.max(b.0), a.1.max(b.1)))
    }
}
