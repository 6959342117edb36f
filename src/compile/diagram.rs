//! Builds reduced, shared decision diagrams on a petgraph graph.
//!
//! Each node tests one variable: a switch on an attribute's value, a split of a number
//! line into intervals, or a boolean test. Variables have a fixed order and every path
//! tests them in that order; nodes are hash-consed, so equal subgraphs exist once, and a
//! node whose branches all lead to the same place is never built. Leaves hold sets of
//! rule numbers: the rules that match every request reaching the leaf.
//!
//! Diagrams are combined with `apply` (union of rule sets, and boolean and/or for the
//! conditions of single rules), memoized per pair of nodes, the classic construction of
//! Bryant's BDDs extended to multi-way nodes. A node budget bounds the work.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};

use super::formula::{Atom, Formula, Key, Position, VarKey};

/// The rule number standing for "true" in the diagram of a single condition.
pub const MARK: u32 = u32::MAX;

/// A node during construction. `var` is the variable's position in the order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DNode {
    Leaf(Arc<[u32]>),
    Switch {
        var: u32,
        cases: Vec<(Key, NodeIndex)>,
        default: NodeIndex,
    },
    /// `children[i]` covers values up to `bounds[i]` (after `bounds[i - 1]`); the last
    /// child covers everything above the last bound.
    Interval {
        var: u32,
        bounds: Vec<Position>,
        children: Vec<NodeIndex>,
    },
    Test {
        var: u32,
        then: NodeIndex,
        otherwise: NodeIndex,
    },
}

impl DNode {
    fn var(&self) -> u32 {
        match self {
            DNode::Leaf(_) => u32::MAX,
            DNode::Switch { var, .. } | DNode::Interval { var, .. } | DNode::Test { var, .. } => *var,
        }
    }

    pub fn children(&self) -> Vec<NodeIndex> {
        match self {
            DNode::Leaf(_) => Vec::new(),
            DNode::Switch { cases, default, .. } => {
                cases.iter().map(|(_, child)| *child).chain(std::iter::once(*default)).collect()
            }
            DNode::Interval { children, .. } => children.clone(),
            DNode::Test { then, otherwise, .. } => vec![*then, *otherwise],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Union,
    And,
    Or,
    /// Adds leaf summaries (see [`add_summaries`]).
    Summary,
    /// Keeps the second diagram where the first, a boolean one, is true; empty elsewhere.
    Mask,
}

/// Adds two leaf summaries `[forbids, escalations, permits, gates]`: the three counts
/// saturate at 2 (none, one, several) and the gates, a bit set, unite. An empty leaf
/// counts as all zeros.
pub fn add_summaries(a: &[u32], b: &[u32]) -> Vec<u32> {
    let at = |leaf: &[u32], index: usize| leaf.get(index).copied().unwrap_or(0);
    let mut sum: Vec<u32> = (0..3).map(|index| (at(a, index) + at(b, index)).min(2)).collect();
    sum.push(at(a, 3) | at(b, 3));
    if sum.iter().all(|count| *count == 0) {
        // One form for "nothing matches": the empty leaf.
        sum.clear();
    }
    sum
}

/// Two nodes' variable split into branches, each with the pair of children to combine.
enum Split {
    Switch { var: u32, keys: Vec<Key>, pairs: Vec<(NodeIndex, NodeIndex)>, default: (NodeIndex, NodeIndex) },
    Interval { var: u32, bounds: Vec<Position>, pairs: Vec<(NodeIndex, NodeIndex)> },
    Test { var: u32, then: (NodeIndex, NodeIndex), otherwise: (NodeIndex, NodeIndex) },
}

/// The work budget was used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;

/// A diagram under construction, over one variable order.
pub struct Builder {
    pub graph: StableDiGraph<DNode, ()>,
    unique: HashMap<DNode, NodeIndex>,
    memo: HashMap<(Op, NodeIndex, NodeIndex), NodeIndex>,
    negations: HashMap<NodeIndex, NodeIndex>,
    relabels: HashMap<NodeIndex, NodeIndex>,
    /// The variables in order.
    pub vars: Vec<VarKey>,
    var_index: HashMap<VarKey, u32>,
    pub empty: NodeIndex,
    pub truth: NodeIndex,
    budget: usize,
    /// Space used so far, in cells: one per node, case, bound, child and leaf entry.
    cells: usize,
    /// Most cells before [`OverBudget`] (by default, no limit).
    cell_limit: usize,
    /// Combination steps left before [`OverBudget`]: hash-consing can make `apply` work
    /// without creating nodes, so the node budget alone does not bound the time.
    work_left: usize,
}

/// Which branch of a variable a cofactor keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// A switch value (`None`: a value no case names).
    Key(Option<Key>),
    /// The interval holding this position.
    At(Position),
}

impl Builder {
    pub fn new(vars: Vec<VarKey>, budget: usize) -> Self {
        let var_index = vars.iter().enumerate().map(|(i, var)| (var.clone(), i as u32)).collect();
        let mut builder = Builder {
            graph: StableDiGraph::new(),
            unique: HashMap::default(),
            memo: HashMap::default(),
            negations: HashMap::default(),
            relabels: HashMap::default(),
            vars,
            var_index,
            empty: NodeIndex::new(0),
            truth: NodeIndex::new(0),
            budget,
            cells: 0,
            cell_limit: usize::MAX,
            work_left: usize::MAX,
        };
        builder.empty = builder.insert(DNode::Leaf(Arc::from([])));
        builder.truth = builder.insert(DNode::Leaf(Arc::from([MARK])));
        builder
    }

    /// The space used so far, in cells (see [`Builder::limit_cells`]).
    pub fn cells(&self) -> usize {
        self.cells
    }

    /// Fails with [`OverBudget`] once the diagrams use `limit` cells: one per node, per
    /// switch case, per interval bound and child, and per rule in a leaf. Unlike nodes,
    /// cells grow with what a node holds, so a diagram whose leaves hold many rules each
    /// cannot hide its size.
    pub fn limit_cells(&mut self, limit: usize) {
        self.cell_limit = limit;
    }

    /// Also bounds the combination steps, not only the nodes created.
    pub fn with_work_limit(mut self, steps: usize) -> Self {
        self.work_left = steps;
        self
    }

    /// The position of a variable in the order; a variable not seen before goes last,
    /// which keeps every existing diagram ordered.
    pub fn var_number(&mut self, var: &VarKey) -> u32 {
        if let Some(number) = self.var_index.get(var) {
            return *number;
        }
        let number = self.vars.len() as u32;
        self.vars.push(var.clone());
        self.var_index.insert(var.clone(), number);
        number
    }

    pub fn node(&self, index: NodeIndex) -> Option<&DNode> {
        self.graph.node_weight(index)
    }

    fn insert(&mut self, node: DNode) -> NodeIndex {
        if let Some(existing) = self.unique.get(&node) {
            return *existing;
        }
        let mut children = node.children();
        self.cells = self.cells.saturating_add(1 + children.len()).saturating_add(match &node {
            DNode::Leaf(rules) => rules.len(),
            DNode::Interval { bounds, .. } => bounds.len(),
            DNode::Switch { .. } | DNode::Test { .. } => 0,
        });
        children.sort_unstable();
        children.dedup();
        let index = self.graph.add_node(node.clone());
        for child in children {
            self.graph.add_edge(index, child, ());
        }
        self.unique.insert(node, index);
        index
    }

    /// Hash-conses a node after removing redundant tests.
    fn make(&mut self, node: DNode) -> Result<NodeIndex, OverBudget> {
        let node = match node {
            DNode::Switch { var, mut cases, default } => {
                cases.retain(|(_, child)| *child != default);
                if cases.is_empty() {
                    return Ok(default);
                }
                DNode::Switch { var, cases, default }
            }
            DNode::Interval { var, bounds, children } => {
                let (bounds, children) = merge_equal_neighbours(bounds, children);
                match children.as_slice() {
                    [only] => return Ok(*only),
                    _ => DNode::Interval { var, bounds, children },
                }
            }
            DNode::Test { then, otherwise, .. } if then == otherwise => return Ok(then),
            other => other,
        };
        if self.graph.node_count() >= self.budget || self.cells >= self.cell_limit {
            return Err(OverBudget);
        }
        Ok(self.insert(node))
    }

    /// The diagram of a boolean formula: `truth` where it holds, `empty` elsewhere.
    pub fn formula(&mut self, formula: &Formula) -> Result<NodeIndex, OverBudget> {
        match formula {
            Formula::Const(true) => Ok(self.truth),
            Formula::Const(false) => Ok(self.empty),
            Formula::Atom(atom) => self.atom(atom),
            Formula::Not(inner) => {
                let inner = self.formula(inner)?;
                self.negate(inner)
            }
            Formula::And(..) => self.chain(formula, Op::And),
            Formula::Or(..) => self.chain(formula, Op::Or),
        }
    }

    /// A run of `and`s (or of `or`s), however it is nested, built operand by operand and
    /// combined like a balanced tree: each step joins diagrams of similar size, so a
    /// condition of thousands of clauses costs about the sum of their sizes.
    fn chain(&mut self, formula: &Formula, op: Op) -> Result<NodeIndex, OverBudget> {
        let mut operands = Vec::new();
        let mut pending = vec![formula];
        while let Some(next) = pending.pop() {
            match (next, op) {
                (Formula::And(a, b), Op::And) | (Formula::Or(a, b), Op::Or) => {
                    pending.push(b);
                    pending.push(a);
                }
                (other, _) => operands.push(other),
            }
        }
        let mut built = Vec::with_capacity(operands.len());
        for operand in operands {
            built.push(self.formula(operand)?);
        }
        let combine = if op == Op::And { Builder::and } else { Builder::or };
        self.fold_balanced(built, combine)
    }

    fn atom(&mut self, atom: &Atom) -> Result<NodeIndex, OverBudget> {
        let var = self.var_number(&atom.var());
        let (yes, no) = (self.truth, self.empty);
        match atom {
            Atom::OneOf(_, keys) => {
                let mut cases: Vec<(Key, NodeIndex)> = keys.iter().map(|key| (key.clone(), yes)).collect();
                cases.sort();
                cases.dedup();
                self.make(DNode::Switch { var, cases, default: no })
            }
            Atom::AtMost(_, _, bound) => {
                self.make(DNode::Interval { var, bounds: vec![*bound], children: vec![yes, no] })
            }
            Atom::Test(_) => self.make(DNode::Test { var, then: yes, otherwise: no }),
        }
    }

    /// Swaps `truth` and `empty` in a boolean diagram.
    pub fn negate(&mut self, node: NodeIndex) -> Result<NodeIndex, OverBudget> {
        if node == self.truth {
            return Ok(self.empty);
        }
        if node == self.empty {
            return Ok(self.truth);
        }
        if let Some(done) = self.negations.get(&node) {
            return Ok(*done);
        }
        let result = self.map_children(node, &mut |builder, child| builder.negate(child))?;
        self.negations.insert(node, result);
        Ok(result)
    }

    /// Replaces `truth` by a leaf holding `rule`: the diagram of "rule matches".
    pub fn relabel(&mut self, node: NodeIndex, rule: u32) -> Result<NodeIndex, OverBudget> {
        self.relabel_leaf(node, &[rule])
    }

    /// Replaces `truth` by a leaf holding `contents`.
    pub fn relabel_leaf(&mut self, node: NodeIndex, contents: &[u32]) -> Result<NodeIndex, OverBudget> {
        self.relabels.clear();
        let leaf = self.insert(DNode::Leaf(Arc::from(contents)));
        self.relabel_to(node, leaf)
    }

    /// The position in the order of the variable a node tests (`u32::MAX` for a leaf).
    pub fn top_var(&self, node: NodeIndex) -> u32 {
        self.node(node).map_or(u32::MAX, DNode::var)
    }

    /// A node built directly: the caller guarantees that its children test only later
    /// variables. Reduced and hash-consed like every other node; switch cases are put in
    /// key order.
    pub fn make_node(&mut self, node: DNode) -> Result<NodeIndex, OverBudget> {
        let node = match node {
            DNode::Switch { var, mut cases, default } => {
                cases.sort_by(|a, b| a.0.cmp(&b.0));
                DNode::Switch { var, cases, default }
            }
            other => other,
        };
        self.make(node)
    }

    /// Combines diagrams pairwise like a balanced tree, so that each step joins diagrams
    /// of similar size; the empty leaf for none.
    pub fn fold_balanced(
        &mut self,
        mut layer: Vec<NodeIndex>,
        combine: fn(&mut Builder, NodeIndex, NodeIndex) -> Result<NodeIndex, OverBudget>,
    ) -> Result<NodeIndex, OverBudget> {
        while layer.len() > 1 {
            let mut next = Vec::with_capacity(layer.len().div_ceil(2));
            for pair in layer.chunks(2) {
                next.push(match pair {
                    [a, b] => combine(self, *a, *b)?,
                    [a] => *a,
                    _ => self.empty,
                });
            }
            layer = next;
        }
        Ok(layer.first().copied().unwrap_or(self.empty))
    }

    /// A leaf with these contents.
    pub fn leaf(&mut self, contents: &[u32]) -> NodeIndex {
        self.insert(DNode::Leaf(Arc::from(contents)))
    }

    /// `diagram` where the boolean diagram `condition` holds, the empty leaf elsewhere.
    pub fn mask(&mut self, condition: NodeIndex, diagram: NodeIndex) -> Result<NodeIndex, OverBudget> {
        self.apply(Op::Mask, condition, diagram)
    }

    /// The sum of the leaf summaries of two diagrams (see [`add_summaries`]).
    pub fn add(&mut self, a: NodeIndex, b: NodeIndex) -> Result<NodeIndex, OverBudget> {
        self.apply(Op::Summary, a, b)
    }

    fn relabel_to(&mut self, node: NodeIndex, leaf: NodeIndex) -> Result<NodeIndex, OverBudget> {
        if node == self.truth {
            return Ok(leaf);
        }
        if node == self.empty {
            return Ok(node);
        }
        if let Some(done) = self.relabels.get(&node) {
            return Ok(*done);
        }
        let result = self.map_children(node, &mut |builder, child| builder.relabel_to(child, leaf))?;
        self.relabels.insert(node, result);
        Ok(result)
    }

    fn map_children(
        &mut self,
        node: NodeIndex,
        f: &mut dyn FnMut(&mut Builder, NodeIndex) -> Result<NodeIndex, OverBudget>,
    ) -> Result<NodeIndex, OverBudget> {
        let Some(current) = self.node(node).cloned() else { return Ok(node) };
        let mapped = match current {
            DNode::Leaf(_) => return Ok(node),
            DNode::Switch { var, cases, default } => {
                let mut mapped_cases = Vec::with_capacity(cases.len());
                for (key, child) in cases {
                    mapped_cases.push((key, f(self, child)?));
                }
                DNode::Switch { var, cases: mapped_cases, default: f(self, default)? }
            }
            DNode::Interval { var, bounds, children } => {
                let mut mapped_children = Vec::with_capacity(children.len());
                for child in children {
                    mapped_children.push(f(self, child)?);
                }
                DNode::Interval { var, bounds, children: mapped_children }
            }
            DNode::Test { var, then, otherwise } => {
                DNode::Test { var, then: f(self, then)?, otherwise: f(self, otherwise)? }
            }
        };
        self.make(mapped)
    }

    /// The union of the rule sets of two diagrams.
    pub fn union(&mut self, a: NodeIndex, b: NodeIndex) -> Result<NodeIndex, OverBudget> {
        self.apply(Op::Union, a, b)
    }

    /// Both conditions, on boolean diagrams.
    pub fn and(&mut self, a: NodeIndex, b: NodeIndex) -> Result<NodeIndex, OverBudget> {
        self.apply(Op::And, a, b)
    }

    /// Either condition, on boolean diagrams.
    pub fn or(&mut self, a: NodeIndex, b: NodeIndex) -> Result<NodeIndex, OverBudget> {
        self.apply(Op::Or, a, b)
    }

    /// Replaces every leaf's rule set by `f` of it, reducing as it goes: mapping rule sets
    /// to a few labels (an outcome, true or false) shrinks the diagram to what the labels
    /// distinguish.
    pub fn map_leaves(
        &mut self,
        node: NodeIndex,
        f: &mut dyn FnMut(&[u32]) -> Vec<u32>,
    ) -> Result<NodeIndex, OverBudget> {
        let mut memo = HashMap::default();
        self.map_leaves_with(node, f, &mut memo)
    }

    fn map_leaves_with(
        &mut self,
        node: NodeIndex,
        f: &mut dyn FnMut(&[u32]) -> Vec<u32>,
        memo: &mut HashMap<NodeIndex, NodeIndex>,
    ) -> Result<NodeIndex, OverBudget> {
        if let Some(done) = memo.get(&node) {
            return Ok(*done);
        }
        self.spend_work()?;
        let result = match self.node(node) {
            Some(DNode::Leaf(rules)) => {
                let mapped = f(rules);
                self.insert(DNode::Leaf(Arc::from(mapped)))
            }
            Some(_) => self.map_children(node, &mut |builder, child| builder.map_leaves_with(child, f, memo))?,
            None => node,
        };
        memo.insert(node, result);
        Ok(result)
    }

    /// The diagram with variable `var` fixed to the branch `pick` names: what the
    /// diagram says about the requests whose `var` takes that branch.
    pub fn cofactor(&mut self, node: NodeIndex, var: u32, pick: &Pick) -> Result<NodeIndex, OverBudget> {
        let mut memo = HashMap::default();
        self.cofactor_with(node, var, pick, &mut memo)
    }

    fn cofactor_with(
        &mut self,
        node: NodeIndex,
        var: u32,
        pick: &Pick,
        memo: &mut HashMap<NodeIndex, NodeIndex>,
    ) -> Result<NodeIndex, OverBudget> {
        if let Some(done) = memo.get(&node) {
            return Ok(*done);
        }
        self.spend_work()?;
        let Some(current) = self.node(node).cloned() else { return Ok(node) };
        let result = match current.var().cmp(&var) {
            // Ordered: `var` cannot occur below a later variable or a leaf.
            std::cmp::Ordering::Greater => node,
            std::cmp::Ordering::Equal => match pick {
                // A test is cofactored by its outcome.
                Pick::Key(Some(Key::Bool(outcome))) if matches!(current, DNode::Test { .. }) => {
                    test_child(&current, node, var, *outcome)
                }
                Pick::Key(key) => switch_child(&current, node, var, key.as_ref()),
                Pick::At(position) => interval_child(&current, node, var, Some(*position)),
            },
            std::cmp::Ordering::Less => {
                self.map_children(node, &mut |builder, child| builder.cofactor_with(child, var, pick, memo))?
            }
        };
        memo.insert(node, result);
        Ok(result)
    }

    fn spend_work(&mut self) -> Result<(), OverBudget> {
        self.work_left = self.work_left.checked_sub(1).ok_or(OverBudget)?;
        Ok(())
    }

    fn terminal(&mut self, op: Op, a: NodeIndex, b: NodeIndex) -> Option<NodeIndex> {
        if op == Op::Mask {
            return match (a == self.empty, a == self.truth, b == self.empty) {
                (true, _, _) | (_, _, true) => Some(self.empty),
                (_, true, _) => Some(b),
                _ => None,
            };
        }
        // A diagram added to itself is not itself: counts grow.
        if op == Op::Summary {
            return match (a == self.empty, b == self.empty) {
                (true, _) => Some(b),
                (_, true) => Some(a),
                _ => None,
            };
        }
        if a == b {
            return Some(a);
        }
        match op {
            Op::Summary => None,
            Op::Union | Op::Or if a == self.empty => Some(b),
            Op::Union | Op::Or if b == self.empty => Some(a),
            Op::Or if a == self.truth || b == self.truth => Some(self.truth),
            Op::And if a == self.empty || b == self.empty => Some(self.empty),
            Op::And if a == self.truth => Some(b),
            Op::And if b == self.truth => Some(a),
            _ => None,
        }
    }

    /// Whether `node` decides `op`'s result whatever the other operand is: `false` under
    /// `and` and masking, `true` under `or`.
    fn absorbing(&self, op: Op, node: NodeIndex) -> bool {
        match op {
            Op::And | Op::Mask => node == self.empty,
            Op::Or => node == self.truth,
            Op::Union | Op::Summary => false,
        }
    }

    fn apply(&mut self, op: Op, a: NodeIndex, b: NodeIndex) -> Result<NodeIndex, OverBudget> {
        if let Some(done) = self.terminal(op, a, b) {
            return Ok(done);
        }
        // Masking is the one operation whose operands do not commute.
        let key = if op == Op::Mask { (op, a, b) } else { (op, a.min(b), a.max(b)) };
        if let Some(done) = self.memo.get(&key) {
            return Ok(*done);
        }
        self.spend_work()?;
        let result = self.apply_inner(op, a, b)?;
        self.memo.insert(key, result);
        Ok(result)
    }

    fn apply_inner(&mut self, op: Op, a: NodeIndex, b: NodeIndex) -> Result<NodeIndex, OverBudget> {
        let split = match (self.node(a), self.node(b)) {
            (Some(DNode::Leaf(rules_a)), Some(DNode::Leaf(rules_b))) => {
                let rules = if op == Op::Summary {
                    add_summaries(rules_a, rules_b)
                } else {
                    let mut rules: Vec<u32> = rules_a.iter().chain(rules_b.iter()).copied().collect();
                    rules.sort_unstable();
                    rules.dedup();
                    rules
                };
                return Ok(self.insert(DNode::Leaf(Arc::from(rules))));
            }
            (Some(node_a), Some(node_b)) => self.split(op, (a, node_a), (b, node_b)),
            _ => return Ok(self.empty),
        };
        let combined = match split {
            Split::Switch { var, keys, pairs, default } => {
                let mut cases = Vec::with_capacity(keys.len());
                for (key, (child_a, child_b)) in keys.into_iter().zip(pairs) {
                    cases.push((key, self.apply(op, child_a, child_b)?));
                }
                let default = self.apply(op, default.0, default.1)?;
                DNode::Switch { var, cases, default }
            }
            Split::Interval { var, bounds, pairs } => {
                let mut children = Vec::with_capacity(pairs.len());
                for (child_a, child_b) in pairs {
                    children.push(self.apply(op, child_a, child_b)?);
                }
                DNode::Interval { var, bounds, children }
            }
            Split::Test { var, then, otherwise } => DNode::Test {
                var,
                then: self.apply(op, then.0, then.1)?,
                otherwise: self.apply(op, otherwise.0, otherwise.1)?,
            },
        };
        self.make(combined)
    }

    /// What combining two nodes must combine below them: for the earlier of their
    /// variables, each branch with the child each node takes there. Reading the nodes
    /// in place, without copying them, keeps a small node meeting a large one cheap.
    ///
    /// A branch only one side tests takes the other side's child for the whole range;
    /// where that child decides the result alone (`false` under `and`), the branch
    /// equals its neighbour or the default and is left out, so the work is
    /// proportional to the side that matters.
    fn split(&self, op: Op, (a, node_a): (NodeIndex, &DNode), (b, node_b): (NodeIndex, &DNode)) -> Split {
        let var = node_a.var().min(node_b.var());
        let own = |node: &DNode| node.var() == var;
        let top = if own(node_a) { node_a } else { node_b };
        match top {
            DNode::Switch { .. } => {
                let keys_of = |node| switch_keys(node, var);
                let default = (switch_child(node_a, a, var, None), switch_child(node_b, b, var, None));
                let mut keys: Vec<Key> = match (self.absorbing(op, default.0), self.absorbing(op, default.1)) {
                    (true, true) => {
                        let keys_b = keys_of(node_b);
                        keys_of(node_a).into_iter().filter(|key| keys_b.binary_search(key).is_ok()).cloned().collect()
                    }
                    (true, false) => keys_of(node_a).into_iter().cloned().collect(),
                    (false, true) => keys_of(node_b).into_iter().cloned().collect(),
                    (false, false) => keys_of(node_a).into_iter().chain(keys_of(node_b)).cloned().collect(),
                };
                keys.sort();
                keys.dedup();
                let pairs = keys
                    .iter()
                    .map(|key| (switch_child(node_a, a, var, Some(key)), switch_child(node_b, b, var, Some(key))))
                    .collect();
                Split::Switch { var, keys, pairs, default }
            }
            DNode::Interval { .. } => {
                let (bounds, pairs) =
                    self.merge_segments(op, interval_segments(node_a, &a, var), interval_segments(node_b, &b, var));
                Split::Interval { var, bounds, pairs }
            }
            _ => Split::Test {
                var,
                then: (test_child(node_a, a, var, true), test_child(node_b, b, var, true)),
                otherwise: (test_child(node_a, a, var, false), test_child(node_b, b, var, false)),
            },
        }
    }

    /// The common refinement of two splits of one line into segments, each segment with
    /// the pair of children it takes. Inside a segment whose child decides the result
    /// alone, the other side's bounds are skipped (by binary search).
    fn merge_segments(
        &self,
        op: Op,
        (bounds_a, children_a): (&[Position], &[NodeIndex]),
        (bounds_b, children_b): (&[Position], &[NodeIndex]),
    ) -> (Vec<Position>, Vec<(NodeIndex, NodeIndex)>) {
        let (mut bounds, mut pairs) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0usize, 0usize);
        while let (Some(child_a), Some(child_b)) = (children_a.get(i), children_b.get(j)) {
            pairs.push((*child_a, *child_b));
            let (upper_a, upper_b) = (bounds_a.get(i).copied(), bounds_b.get(j).copied());
            let skip_to = |bounds: &[Position], upper: Position| bounds.partition_point(|bound| *bound <= upper);
            let upper = if self.absorbing(op, *child_a) {
                let Some(upper) = upper_a else { break };
                i += 1;
                j = skip_to(bounds_b, upper);
                upper
            } else if self.absorbing(op, *child_b) {
                let Some(upper) = upper_b else { break };
                j += 1;
                i = skip_to(bounds_a, upper);
                upper
            } else {
                let upper = match (upper_a, upper_b) {
                    (None, None) => break,
                    (Some(x), None) | (None, Some(x)) => x,
                    (Some(x), Some(y)) => x.min(y),
                };
                i += usize::from(upper_a == Some(upper));
                j += usize::from(upper_b == Some(upper));
                upper
            };
            bounds.push(upper);
        }
        (bounds, pairs)
    }

    /// Frees the memo tables between independent constructions.
    pub fn forget(&mut self) {
        self.memo.clear();
        self.negations.clear();
        self.relabels.clear();
    }
}

/// The keys of a switch on `var`; none for a node that does not test it.
fn switch_keys(node: &DNode, var: u32) -> Vec<&Key> {
    match node {
        DNode::Switch { var: own, cases, .. } if *own == var => cases.iter().map(|(key, _)| key).collect(),
        _ => Vec::new(),
    }
}

/// The bounds and children of an interval node on `var`; a node that does not test it
/// is one segment, itself.
fn interval_segments<'n>(node: &'n DNode, index: &'n NodeIndex, var: u32) -> (&'n [Position], &'n [NodeIndex]) {
    match node {
        DNode::Interval { var: own, bounds, children } if *own == var => (bounds, children),
        _ => (&[], std::slice::from_ref(index)),
    }
}

/// The branch of `node` (at `index`) taken when `var` has `key` (`None`: any other value).
fn switch_child(node: &DNode, index: NodeIndex, var: u32, key: Option<&Key>) -> NodeIndex {
    match node {
        DNode::Switch { var: own, cases, default } if *own == var => key
            .and_then(|key| cases.binary_search_by(|(case, _)| case.cmp(key)).ok())
            .and_then(|at| cases.get(at))
            .map_or(*default, |(_, child)| *child),
        _ => index,
    }
}

/// The branch of `node` for the interval ending at `upper` (`None`: above every bound).
fn interval_child(node: &DNode, index: NodeIndex, var: u32, upper: Option<Position>) -> NodeIndex {
    match node {
        DNode::Interval { var: own, bounds, children } if *own == var => {
            let at = match upper {
                Some(upper) => bounds.partition_point(|bound| *bound < upper),
                None => bounds.len(),
            };
            children.get(at).or(children.last()).copied().unwrap_or(index)
        }
        _ => index,
    }
}

fn test_child(node: &DNode, index: NodeIndex, var: u32, outcome: bool) -> NodeIndex {
    match node {
        DNode::Test { var: own, then, otherwise } if *own == var => {
            if outcome {
                *then
            } else {
                *otherwise
            }
        }
        _ => index,
    }
}

/// Drops bounds between neighbouring intervals that lead to the same place.
fn merge_equal_neighbours(bounds: Vec<Position>, children: Vec<NodeIndex>) -> (Vec<Position>, Vec<NodeIndex>) {
    let mut kept_bounds: Vec<Position> = Vec::with_capacity(bounds.len());
    let mut kept_children: Vec<NodeIndex> = Vec::with_capacity(children.len());
    for (position, child) in children.iter().enumerate() {
        if kept_children.last() == Some(child) {
            // The previous interval now reaches up to this one's bound.
            kept_bounds.pop();
        } else {
            kept_children.push(*child);
        }
        if let Some(bound) = bounds.get(position) {
            kept_bounds.push(*bound);
        }
    }
    (kept_bounds, kept_children)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(n: usize) -> NodeIndex {
        NodeIndex::new(n)
    }

    #[test]
    fn merging_intervals_keeps_the_right_bounds() {
        // (..=1] a, (1..=2] a, (2..=3] b, (3..) b  →  (..=2] a, (2..) b
        let (bounds, children) = merge_equal_neighbours(vec![1, 2, 3], vec![index(0), index(0), index(1), index(1)]);
        assert_eq!(bounds, vec![2]);
        assert_eq!(children, vec![index(0), index(1)]);
        // (..=1] a, (1..=2] b, (2..) a  →  unchanged
        let (bounds, children) = merge_equal_neighbours(vec![1, 2], vec![index(0), index(1), index(0)]);
        assert_eq!(bounds, vec![1, 2]);
        assert_eq!(children, vec![index(0), index(1), index(0)]);
    }
}
