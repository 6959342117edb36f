//! One (action, resource type) pair's decision as a single reduced diagram, for proving.
//!
//! The evaluator walks a partition's task checks and its policies as separate diagrams
//! and unites the rules found at their leaves. The prover builds the same rules, from the
//! same conditions, into *one* diagram over one variable order, so that every question
//! becomes a diagram operation: the requests a claim rules out are `condition ∧ the
//! outcome is bad`, computed by memoized `apply`, and an empty result is a proof. The cost
//! follows the size of the diagrams, not the number of paths through them.
//!
//! In an ordered diagram a path tests each variable once, so a path is consistent unless a
//! finite domain (task kinds, booleans, enum values) has no value left on it; [`Paths`]
//! prunes those branches. Tests stay free booleans: a path may need tests that no request
//! satisfies together, so every path is a candidate until a concrete request built for it
//! replays as claimed.
//!
//! Work is bounded by a node budget and a step budget; running out is reported as "budget
//! exceeded", never as a proof.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use petgraph::stable_graph::NodeIndex;

use super::{Constraints, KeyConstraint, ProveOptions};
use crate::compile::diagram::{add_summaries, Builder, DNode, OverBudget, Pick, MARK};
use crate::compile::formula::{formula, Atom, FieldPath, Formula, Key, Position, Unit, VarKey};
use crate::compile::plan::{FieldKind, FieldSpec, Gate, Node, Plan, RuleKind};
use crate::compile::{self};
use crate::eval::decide::Found;
use crate::eval::decision::Outcome;
use crate::eval::PolicySet;
use crate::hir::{CmpOp, HExpr, Target};
use crate::syntax::ast::Effect;

/// The decision diagram of one pair, and room to build more diagrams over the same
/// variables.
///
/// Its leaves do not hold the matching rules themselves (the sets of forbids a request
/// can match number in the billions for a few dozen forbids) but what combining needs of
/// them: how many forbids, escalations and permits match (none, one, several) and which
/// task checks pass. That is at most 216 distinct leaves, whatever the number of rules.
pub struct Analysis<'a> {
    set: &'a PolicySet,
    pub target: Target,
    builder: Builder,
    /// Leaves hold summaries `[forbids, escalations, permits, gates]`.
    summary: NodeIndex,
    /// Whether any policy targets the pair; if none does, every request on it is denied.
    covered: bool,
    /// Diagrams derived from the summary, by what they select.
    derived: HashMap<Selection, NodeIndex>,
    /// The compiled graph's diagrams for the pair, rebuilt here (once asked for).
    compiled: Option<NodeIndex>,
    /// The requests the package's own forbids match (once asked for).
    package_forbids: Option<NodeIndex>,
}

/// A boolean diagram derived from the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Selection {
    /// Requests whose outcome is this one.
    Outcome(Outcome),
    /// Requests matched by exactly one policy of this effect.
    Alone(Effect),
}

impl<'a> Analysis<'a> {
    /// Builds the pair's decision diagram with the rules of `set`.
    pub fn new(set: &'a PolicySet, target: &Target, options: &ProveOptions) -> Result<Self, OverBudget> {
        let inputs = rule_formulas(set, target);
        let covered = !inputs.is_empty();
        let vars = compile::variable_order(inputs.iter().map(|(_, formula)| formula));
        let mut builder = Builder::new(vars, options.max_nodes).with_work_limit(options.max_work);
        let summary = summarize(&mut builder, &inputs)?;
        Ok(Analysis {
            set,
            target: target.clone(),
            builder,
            summary,
            covered,
            derived: HashMap::new(),
            compiled: None,
            package_forbids: None,
        })
    }

    /// The summary diagram built from the policies' conditions.
    pub fn summary(&self) -> NodeIndex {
        self.summary
    }

    /// The diagrams the evaluator walks for the pair, read back from the frozen plan and
    /// rebuilt over this builder's variables with summary leaves. Diagrams are canonical
    /// (reduced, ordered, hash-consed), so if the compiler is right this is the very
    /// node [`Analysis::summary`] is.
    pub fn compiled(&mut self) -> Result<NodeIndex, OverBudget> {
        if let Some(done) = self.compiled {
            return Ok(done);
        }
        let plan = self.set.plan();
        let mut total = self.builder.empty;
        if let Some(partition) = plan.partition(&self.target.action, self.target.resource.as_deref()) {
            let mut memo = HashMap::new();
            for root in &partition.roots {
                let diagram = self.thaw(plan, *root, &mut memo)?;
                total = self.builder.add(total, diagram)?;
            }
        }
        self.compiled = Some(total);
        Ok(total)
    }

    /// A frozen node whose variable comes before its children's in this builder's order
    /// (the usual case: both orders come from the same formulas) is rebuilt as the same
    /// node; `None` when it cannot be.
    fn thaw_directly(
        &mut self,
        plan: &Plan,
        node: u32,
        memo: &mut HashMap<u32, NodeIndex>,
    ) -> Result<Option<NodeIndex>, OverBudget> {
        let Some(frozen) = plan.nodes.get(node as usize).copied() else { return Ok(None) };
        let (var, children) = match frozen {
            Node::Switch { field, .. } => {
                let Some(spec) = plan.fields.get(field as usize) else { return Ok(None) };
                (self.builder.var_number(&VarKey::Switch(spec.path.clone())), plan.children(&frozen))
            }
            Node::Interval { field, .. } => {
                let Some(FieldSpec { path, kind: FieldKind::Interval(unit) }) = plan.fields.get(field as usize) else {
                    return Ok(None);
                };
                (self.builder.var_number(&VarKey::Interval(path.clone(), unit.clone())), plan.children(&frozen))
            }
            Node::Test { test, then, otherwise } => {
                let Some(expr) = plan.tests.get(test as usize) else { return Ok(None) };
                // Only a test the analysis also keeps whole.
                let Formula::Atom(Atom::Test(kept)) = formula(expr, &self.target) else { return Ok(None) };
                (self.builder.var_number(&VarKey::Test(kept)), vec![then, otherwise])
            }
            Node::Leaf { .. } | Node::Fork { .. } | Node::Index { .. } => return Ok(None),
        };
        let mut thawed = Vec::with_capacity(children.len());
        for child in children {
            thawed.push(self.thaw(plan, child, memo)?);
        }
        if thawed.iter().any(|child| self.builder.top_var(*child) <= var) {
            return Ok(None);
        }
        let rebuilt = match frozen {
            Node::Switch { first, len, .. } => {
                let cases = plan.cases.get(first as usize..(first + len) as usize).unwrap_or_default();
                let keys: Option<Vec<Key>> =
                    cases.iter().map(|case| plan.keys.get(case.key as usize).cloned()).collect();
                let Some((default, cases_thawed)) = thawed.split_last() else { return Ok(None) };
                let Some(keys) = keys else { return Ok(None) };
                DNode::Switch {
                    var,
                    cases: keys.into_iter().zip(cases_thawed.iter().copied()).collect(),
                    default: *default,
                }
            }
            Node::Interval { first, len, .. } => {
                let bounds = plan.bounds.get(first as usize..(first + len) as usize).unwrap_or_default().to_vec();
                DNode::Interval { var, bounds, children: thawed }
            }
            _ => match thawed.as_slice() {
                [then, otherwise] => DNode::Test { var, then: *then, otherwise: *otherwise },
                _ => return Ok(None),
            },
        };
        self.builder.make_node(rebuilt).map(Some)
    }

    /// One frozen node as a diagram, however the orders differ: each branch's condition
    /// masks its child, and the branches are added up. A switch's, interval's or test's
    /// branches exclude each other; a fork's and an index node's overlap, but the rules
    /// below them are disjoint (each rule is compiled into one of them), so adding their
    /// summaries gives the union the walk takes.
    fn thaw_by_branches(
        &mut self,
        plan: &Plan,
        node: u32,
        memo: &mut HashMap<u32, NodeIndex>,
    ) -> Result<NodeIndex, OverBudget> {
        if let Some(Node::Leaf { leaf }) = plan.nodes.get(node as usize) {
            let rules = plan.leaves.get(*leaf as usize).map(Vec::as_slice).unwrap_or_default();
            let summary = rules.iter().fold(Vec::new(), |sum, rule| add_summaries(&sum, &rule_summary(plan, *rule)));
            return Ok(self.builder.leaf(&summary));
        }
        let mut parts = Vec::new();
        for (condition, child) in branch_conditions(plan, node, &self.target) {
            let condition = self.builder.formula(&condition)?;
            let child = self.thaw(plan, child, memo)?;
            parts.push(self.builder.mask(condition, child)?);
        }
        // Added like a balanced tree: an index node's thousand entries cost about as
        // much as their sizes, not their count squared.
        self.builder.fold_balanced(parts, Builder::add)
    }

    /// One frozen node as a diagram.
    fn thaw(&mut self, plan: &Plan, node: u32, memo: &mut HashMap<u32, NodeIndex>) -> Result<NodeIndex, OverBudget> {
        if let Some(done) = memo.get(&node) {
            return Ok(*done);
        }
        let result = match self.thaw_directly(plan, node, memo)? {
            Some(direct) => direct,
            None => self.thaw_by_branches(plan, node, memo)?,
        };
        memo.insert(node, result);
        Ok(result)
    }

    pub fn set(&self) -> &'a PolicySet {
        self.set
    }

    /// The diagram of another policy set's decisions on the same pair, over the same
    /// variables: both versions in one builder, for comparing them.
    pub fn summary_of(&mut self, other: &PolicySet) -> Result<NodeIndex, OverBudget> {
        let inputs = rule_formulas(other, &self.target);
        summarize(&mut self.builder, &inputs)
    }

    /// A boolean diagram: true where the decision's outcome and reason code satisfy
    /// `keep`.
    pub fn decided(&mut self, keep: impl Fn(Outcome, &str) -> bool) -> Result<NodeIndex, OverBudget> {
        let covered = self.covered;
        self.decided_in(self.summary, covered, keep)
    }

    /// Like [`Analysis::decided`], for a summary diagram of this or another version.
    pub fn decided_in(
        &mut self,
        summary: NodeIndex,
        covered: bool,
        keep: impl Fn(Outcome, &str) -> bool,
    ) -> Result<NodeIndex, OverBudget> {
        let mut label = |leaf: &[u32]| {
            let (outcome, code) = outcome_of(covered, leaf);
            if keep(outcome, code) {
                vec![MARK]
            } else {
                Vec::new()
            }
        };
        self.builder.map_leaves(summary, &mut label)
    }

    /// The requests whose outcome is `outcome` (computed once).
    pub fn outcome_is(&mut self, outcome: Outcome) -> Result<NodeIndex, OverBudget> {
        self.selection(Selection::Outcome(outcome))
    }

    /// The requests exactly one policy of `effect` matches (computed once).
    pub fn matched_once(&mut self, effect: Effect) -> Result<NodeIndex, OverBudget> {
        self.selection(Selection::Alone(effect))
    }

    /// The requests some forbid of the package itself matches, the standard library's
    /// guardrails left out (computed once).
    pub fn forbidden_by_package(&mut self) -> Result<NodeIndex, OverBudget> {
        if let Some(done) = self.package_forbids {
            return Ok(done);
        }
        let target = self.target.clone();
        let forbids: Vec<HExpr> = self
            .set
            .hir()
            .policies
            .iter()
            .filter(|policy| policy.effect == Effect::Forbid && policy.targets.contains(&target))
            .filter(|policy| !policy.origin.file.starts_with("<std>"))
            .map(|policy| policy.condition.clone())
            .collect();
        let mut layer = Vec::with_capacity(forbids.len());
        for condition in &forbids {
            layer.push(self.condition(condition)?);
        }
        let node = self.builder.fold_balanced(layer, Builder::or)?;
        self.package_forbids = Some(node);
        Ok(node)
    }

    fn selection(&mut self, selection: Selection) -> Result<NodeIndex, OverBudget> {
        if let Some(done) = self.derived.get(&selection) {
            return Ok(*done);
        }
        let covered = self.covered;
        let mut label = |leaf: &[u32]| {
            let count = |effect: Effect| leaf.get(effect_slot(effect)).copied().unwrap_or(0);
            let selected = match selection {
                Selection::Outcome(outcome) => outcome_of(covered, leaf).0 == outcome,
                Selection::Alone(effect) => count(effect) == 1,
            };
            if selected {
                vec![MARK]
            } else {
                Vec::new()
            }
        };
        let node = self.builder.map_leaves(self.summary, &mut label)?;
        self.derived.insert(selection, node);
        Ok(node)
    }

    /// Whether the pair has policies (else every request on it is denied).
    pub fn covered(&self) -> bool {
        self.covered
    }

    /// The boolean diagram of a condition over requests on the pair.
    pub fn condition(&mut self, condition: &HExpr) -> Result<NodeIndex, OverBudget> {
        self.builder.formula(&formula(condition, &self.target))
    }

    pub fn and(&mut self, a: NodeIndex, b: NodeIndex) -> Result<NodeIndex, OverBudget> {
        self.builder.and(a, b)
    }

    pub fn or(&mut self, a: NodeIndex, b: NodeIndex) -> Result<NodeIndex, OverBudget> {
        self.builder.or(a, b)
    }

    pub fn not(&mut self, a: NodeIndex) -> Result<NodeIndex, OverBudget> {
        self.builder.negate(a)
    }

    /// `node` with the variable `var` fixed to one branch.
    pub fn cofactor(&mut self, node: NodeIndex, var: u32, pick: &Pick) -> Result<NodeIndex, OverBudget> {
        self.builder.cofactor(node, var, pick)
    }

    pub fn is_false(&self, node: NodeIndex) -> bool {
        node == self.builder.empty
    }

    /// The variables the diagram below `root` tests, by position in the order.
    pub fn vars_below(&self, root: NodeIndex) -> BTreeSet<u32> {
        let mut vars = BTreeSet::new();
        self.visit(root, &mut |node| {
            if let DNode::Switch { var, .. } | DNode::Interval { var, .. } | DNode::Test { var, .. } = node {
                vars.insert(*var);
            }
        });
        vars
    }

    pub fn var(&self, number: u32) -> Option<&VarKey> {
        self.builder.vars.get(number as usize)
    }

    /// The bounds the diagram below `root` splits an interval variable at, sorted.
    pub fn bounds_of(&self, root: NodeIndex, var: u32) -> Vec<Position> {
        let mut bounds = BTreeSet::new();
        self.visit(root, &mut |node| {
            if let DNode::Interval { var: own, bounds: own_bounds, .. } = node {
                if *own == var {
                    bounds.extend(own_bounds.iter().copied());
                }
            }
        });
        bounds.into_iter().collect()
    }

    fn visit(&self, root: NodeIndex, f: &mut dyn FnMut(&DNode)) {
        let mut seen = BTreeSet::new();
        let mut stack = vec![root];
        while let Some(index) = stack.pop() {
            if !seen.insert(index) {
                continue;
            }
            if let Some(node) = self.builder.node(index) {
                f(node);
                stack.extend(node.children());
            }
        }
    }

    /// The feasible paths to the true leaves of a boolean diagram, frozen into a small
    /// plan of their own. `extra` variables get field numbers there even if the diagram
    /// no longer tests them, so constraints on them can be added to a path.
    pub fn paths(&self, root: NodeIndex, extra: &[u32]) -> Paths<'a> {
        let mut plan = Plan::default();
        plan.enums = self.set.hir().env.enums.clone();
        plan.whole = self.set.plan().whole.clone();
        for var in extra.iter().filter_map(|var| self.var(*var)) {
            match var {
                VarKey::Switch(path) => {
                    plan.field_number(path, FieldKind::Switch);
                    plan.key_number(&Key::Bool(false));
                    plan.key_number(&Key::Bool(true));
                }
                VarKey::Interval(path, unit) => {
                    plan.field_number(path, FieldKind::Interval(unit.clone()));
                }
                VarKey::Test(_) => {}
            }
        }
        // Freezing numbers fields, keys and tests as it goes: lookups by them work
        // without a reindex (which only the evaluator's value lookups need).
        let root = plan.freeze(&self.builder, root);
        Paths::new(self.set, plan, root)
    }
}

/// The rules `set` compiles for `target`, each as its formula and the summary leaf of
/// one match: the task checks, then the policies that target the pair. None if no policy
/// does.
fn rule_formulas(set: &PolicySet, target: &Target) -> Vec<(Vec<u32>, Formula)> {
    let (hir, plan) = (set.hir(), set.plan());
    if plan.partition(&target.action, target.resource.as_deref()).is_none() {
        return Vec::new();
    }
    let mut inputs = Vec::new();
    for (number, rule) in plan.rules.iter().enumerate() {
        let (condition, leaf) = match &rule.kind {
            RuleKind::Gate(gate) => (compile::gate_condition(*gate, hir, target), vec![0, 0, 0, gate_bit(*gate)]),
            RuleKind::Policy { effect, .. } => match hir.policies.get(number) {
                Some(policy) if policy.targets.contains(target) => {
                    let mut leaf = vec![0, 0, 0, 0];
                    if let Some(count) = leaf.get_mut(effect_slot(*effect)) {
                        *count = 1;
                    }
                    (policy.condition.clone(), leaf)
                }
                _ => continue,
            },
        };
        inputs.push((leaf, formula(&condition, target)));
    }
    inputs
}

/// A frozen inner node's branches, each as the condition under which a request takes
/// it and the child it leads to. A test is split as the analysis splits conditions, so
/// a policy compiled as one test of its whole condition compares equal to its atoms.
fn branch_conditions(plan: &Plan, node: u32, target: &Target) -> Vec<(Formula, u32)> {
    let mut branches = Vec::new();
    match plan.nodes.get(node as usize).copied() {
        Some(Node::Switch { field, first, len, default }) => {
            let Some(path) = plan.fields.get(field as usize).map(|spec| spec.path.clone()) else { return branches };
            let cases = plan.cases.get(first as usize..(first + len) as usize).unwrap_or_default();
            let keys: Vec<Key> = cases.iter().filter_map(|case| plan.keys.get(case.key as usize).cloned()).collect();
            for (case, key) in cases.iter().zip(&keys) {
                branches.push((Formula::Atom(Atom::OneOf(path.clone(), vec![key.clone()])), case.child));
            }
            branches.push((Formula::negate(Formula::Atom(Atom::OneOf(path, keys))), default));
        }
        Some(Node::Interval { field, first, len, branch }) => {
            let Some(FieldSpec { path, kind: FieldKind::Interval(unit) }) = plan.fields.get(field as usize) else {
                return branches;
            };
            let bounds = plan.bounds.get(first as usize..(first + len) as usize).unwrap_or_default();
            let at_most = |bound: Position| Formula::Atom(Atom::AtMost(path.clone(), unit.clone(), bound));
            for segment in 0..=bounds.len() {
                let above =
                    segment.checked_sub(1).and_then(|i| bounds.get(i)).map(|low| Formula::negate(at_most(*low)));
                let below = bounds.get(segment).map(|high| at_most(*high));
                let condition =
                    Formula::and(above.unwrap_or(Formula::Const(true)), below.unwrap_or(Formula::Const(true)));
                if let Some(child) = plan.branches.get(branch as usize + segment) {
                    branches.push((condition, *child));
                }
            }
        }
        Some(Node::Test { test, then, otherwise }) => {
            if let Some(expr) = plan.tests.get(test as usize) {
                let holds = formula(expr, target);
                branches.push((Formula::negate(holds.clone()), otherwise));
                branches.push((holds, then));
            }
        }
        Some(node @ Node::Fork { .. }) => {
            branches.extend(plan.children(&node).into_iter().map(|child| (Formula::Const(true), child)));
        }
        Some(Node::Index { table, rest, .. }) => {
            branches.push((Formula::Const(true), rest));
            for entry in plan.tables.get(table as usize).map(|table| table.entries.as_slice()).unwrap_or_default() {
                if let Some(anchor) = plan.tests.get(entry.test as usize) {
                    branches.push((formula(anchor, target), entry.child));
                }
            }
        }
        Some(Node::Leaf { .. }) | None => {}
    }
    branches
}

/// The summary leaf of one match of a rule of the plan.
fn rule_summary(plan: &Plan, rule: u32) -> Vec<u32> {
    match plan.rules.get(rule as usize).map(|rule| &rule.kind) {
        Some(RuleKind::Gate(gate)) => vec![0, 0, 0, gate_bit(*gate)],
        Some(RuleKind::Policy { effect, .. }) => {
            let mut leaf = vec![0, 0, 0, 0];
            if let Some(count) = leaf.get_mut(effect_slot(*effect)) {
                *count = 1;
            }
            leaf
        }
        None => Vec::new(),
    }
}

/// The sum of the rules' summaries, added pairwise like a balanced tree.
fn summarize(builder: &mut Builder, inputs: &[(Vec<u32>, Formula)]) -> Result<NodeIndex, OverBudget> {
    let mut layer = Vec::with_capacity(inputs.len());
    for (leaf, formula) in inputs {
        let holds = builder.formula(formula)?;
        layer.push(builder.relabel_leaf(holds, leaf)?);
    }
    builder.fold_balanced(layer, Builder::add)
}

fn effect_slot(effect: Effect) -> usize {
    match effect {
        Effect::Forbid => 0,
        Effect::Escalate => 1,
        Effect::Permit => 2,
    }
}

fn gate_bit(gate: Gate) -> u32 {
    match gate {
        Gate::InScope => 1,
        Gate::TaskValid => 2,
        Gate::DelegationAllowed => 4,
    }
}

/// The outcome and reason code of a summary leaf, by the evaluator's combining order.
fn outcome_of(covered: bool, leaf: &[u32]) -> (Outcome, &'static str) {
    if !covered {
        return (Outcome::Deny, "no_applicable_policy");
    }
    let at = |index: usize| leaf.get(index).copied().unwrap_or(0);
    let gates: BTreeSet<Gate> =
        crate::compile::plan::GATES.into_iter().filter(|gate| at(3) & gate_bit(*gate) != 0).collect();
    Found { forbid: at(0) > 0, escalate: at(1) > 0, permit: at(2) > 0, gates: &gates }.combine()
}

/// Most nodes one walk over a diagram's paths visits.
pub const MOST_PATH_STEPS: usize = 1_000_000;

/// Whether some `x` in `a` and `y` in `b` (each (least, greatest), `None` unbounded)
/// satisfy `x op y`.
fn can_compare(op: CmpOp, a: (Option<Position>, Option<Position>), b: (Option<Position>, Option<Position>)) -> bool {
    let at_most = |x: Option<Position>, y: Option<Position>| match (x, y) {
        (Some(x), Some(y)) => x <= y,
        _ => true,
    };
    let below = |x: Option<Position>, y: Option<Position>| match (x, y) {
        (Some(x), Some(y)) => x < y,
        _ => true,
    };
    let empty = |(least, greatest): (Option<Position>, Option<Position>)| !at_most(least, greatest);
    if empty(a) || empty(b) {
        return false;
    }
    match op {
        CmpOp::Le => at_most(a.0, b.1),
        CmpOp::Lt => below(a.0, b.1),
        CmpOp::Ge => at_most(b.0, a.1),
        CmpOp::Gt => below(b.0, a.1),
        CmpOp::Eq => at_most(a.0, b.1) && at_most(b.0, a.1),
        CmpOp::Ne => !(a.0.is_some() && a.0 == a.1 && a.0 == b.0 && b.0 == b.1),
    }
}

/// What taking one branch says about the request.
#[derive(Debug, Clone)]
enum Fact {
    Key(u32, KeyConstraint),
    Range(u32, Option<Position>, Option<Position>),
    Test(u32, bool),
}

/// What a fact replaced, to put back when the walk leaves its branch.
enum Undo {
    Key(u32, Option<KeyConstraint>),
    Range(u32, Option<(Option<Position>, Option<Position>)>),
    Test(u32, Option<bool>),
}

impl Fact {
    fn apply(self, constraints: &mut Constraints) -> Undo {
        match self {
            Fact::Key(field, constraint) => Undo::Key(field, constraints.keys.insert(field, constraint)),
            Fact::Range(field, low, high) => Undo::Range(field, constraints.ranges.insert(field, (low, high))),
            Fact::Test(test, outcome) => Undo::Test(test, constraints.tests.insert(test, outcome)),
        }
    }
}

impl Undo {
    fn apply(self, constraints: &mut Constraints) {
        fn restore<K: Ord, V>(map: &mut std::collections::BTreeMap<K, V>, key: K, before: Option<V>) {
            match before {
                Some(value) => {
                    map.insert(key, value);
                }
                None => {
                    map.remove(&key);
                }
            }
        }
        match self {
            Undo::Key(field, before) => restore(&mut constraints.keys, field, before),
            Undo::Range(field, before) => restore(&mut constraints.ranges, field, before),
            Undo::Test(test, before) => restore(&mut constraints.tests, test, before),
        }
    }
}

/// A node being walked: its feasible branches, the next one to take, and how to undo
/// the branch taken last.
struct Frame {
    branches: Vec<(u32, Fact)>,
    next: usize,
    undo: Option<Undo>,
}

/// The feasible paths of a frozen boolean diagram.
pub struct Paths<'a> {
    set: &'a PolicySet,
    pub plan: Plan,
    root: u32,
    /// By node: whether a feasible path leads from it to a true leaf.
    alive: Vec<bool>,
    /// By node: how many feasible paths lead from it to a true leaf (saturating).
    count: Vec<u128>,
}

impl<'a> Paths<'a> {
    fn new(set: &'a PolicySet, plan: Plan, root: u32) -> Self {
        let mut paths = Paths { set, plan, root, alive: Vec::new(), count: Vec::new() };
        // Children come before parents in the arena.
        for index in 0..paths.plan.nodes.len() {
            let (alive, count) = match paths.plan.nodes.get(index) {
                Some(Node::Leaf { leaf }) => {
                    let marked = paths.plan.leaves.get(*leaf as usize).is_some_and(|rules| rules.contains(&MARK));
                    (marked, u128::from(marked))
                }
                Some(node) => {
                    let branches = paths.branches(node);
                    let alive = branches.iter().any(|(child, _)| paths.alive.get(*child as usize) == Some(&true));
                    let count = branches.iter().fold(0u128, |sum, (child, _)| {
                        sum.saturating_add(paths.count.get(*child as usize).copied().unwrap_or(0))
                    });
                    (alive, count)
                }
                None => (false, 0),
            };
            paths.alive.push(alive);
            paths.count.push(count);
        }
        paths
    }

    /// Whether no feasible path reaches a true leaf: nothing the diagram stands for can
    /// happen, even with tests free.
    pub fn is_empty(&self) -> bool {
        self.alive.get(self.root as usize) != Some(&true)
    }

    pub fn count(&self) -> u128 {
        self.count.get(self.root as usize).copied().unwrap_or(0)
    }

    /// Calls `visit` with each feasible path to a true leaf, depth first, until it breaks.
    /// A complete path whose constraints contradict a comparison between two attributes
    /// it needs (`a <= b` with `a` above every value `b` may take) is skipped. Returns
    /// whether every path was seen: false if `visit` broke off or the walk took more than
    /// [`MOST_PATH_STEPS`] steps.
    pub fn each(&self, visit: &mut dyn FnMut(&Plan, &Constraints) -> ControlFlow<()>) -> bool {
        // Depth first with one set of constraints, undoing each branch's fact on the way
        // back: a path costs its length, not its length squared.
        let mut constraints = Constraints::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut steps = 0usize;
        match self.plan.nodes.get(self.root as usize) {
            _ if self.is_empty() => return true,
            Some(Node::Leaf { .. }) => {
                return !(self.related_consistently(&constraints) && visit(&self.plan, &constraints).is_break());
            }
            Some(node) => stack.push(Frame { branches: self.branches(node), next: 0, undo: None }),
            None => return true,
        }
        while let Some(frame) = stack.last_mut() {
            if let Some(undo) = frame.undo.take() {
                undo.apply(&mut constraints);
            }
            let Some((child, fact)) = frame.branches.get(frame.next).cloned() else {
                stack.pop();
                continue;
            };
            frame.next += 1;
            steps += 1;
            if steps > MOST_PATH_STEPS {
                return false;
            }
            if self.alive.get(child as usize) != Some(&true) {
                continue;
            }
            frame.undo = Some(fact.apply(&mut constraints));
            match self.plan.nodes.get(child as usize) {
                Some(Node::Leaf { .. })
                    if self.related_consistently(&constraints) && visit(&self.plan, &constraints).is_break() =>
                {
                    return false;
                }
                Some(Node::Leaf { .. }) | None => {}
                Some(node) => stack.push(Frame { branches: self.branches(node), next: 0, undo: None }),
            }
        }
        true
    }

    /// Whether every test on the path that compares two interval attributes can hold
    /// given the ranges the path puts them in. Values on a line are whole positions, so
    /// `a <= b` needs the least value `a` may take to be at most the greatest of `b`.
    fn related_consistently(&self, constraints: &Constraints) -> bool {
        constraints.tests.iter().all(|(test, outcome)| {
            let Some(HExpr::Cmp(op, a, b)) = self.plan.tests.get(*test as usize) else { return true };
            let (Some(a), Some(b)) = (self.line_of(a, constraints), self.line_of(b, constraints)) else { return true };
            let op = if *outcome { *op } else { op.negated() };
            can_compare(op, a, b)
        })
    }

    /// The whole positions an interval attribute may take on a path: (least, greatest),
    /// `None` for unbounded.
    fn line_of(&self, expr: &HExpr, constraints: &Constraints) -> Option<(Option<Position>, Option<Position>)> {
        let HExpr::Field(crate::hir::Base::Root(root), path) = expr else { return None };
        let path = FieldPath { root: *root, path: path.clone() };
        // One line per attribute: a task parameter compared on two lines (its type
        // differs between task kinds) is not pruned.
        let mut lines = self
            .plan
            .fields
            .iter()
            .enumerate()
            .filter(|(_, spec)| spec.path == path && matches!(spec.kind, FieldKind::Interval(_)));
        let (number, spec) = lines.next()?;
        if lines.next().is_some() {
            return None;
        }
        let (low, high) = constraints.ranges.get(&(number as u32)).copied().unwrap_or((None, None));
        let (mut least, mut greatest) = (low.map(|low| low + 1), high);
        if let FieldKind::Interval(Unit::Ordinal(name)) = &spec.kind {
            let count = self.set.hir().env.enums.get(&**name).map_or(0, Vec::len) as Position;
            least = Some(least.map_or(0, |least| least.max(0)));
            greatest = Some(greatest.map_or(count - 1, |greatest| greatest.min(count - 1)));
        }
        Some((least, greatest))
    }

    /// A node's feasible branches: a default only if some value is left for it, an
    /// interval only if it holds a value of the field's type.
    fn branches(&self, node: &Node) -> Vec<(u32, Fact)> {
        let plan = &self.plan;
        match *node {
            Node::Leaf { .. } => Vec::new(),
            Node::Switch { field, first, len, default } => {
                let cases = plan.cases.get(first as usize..(first + len) as usize).unwrap_or_default();
                let mut branches: Vec<(u32, Fact)> =
                    cases.iter().map(|case| (case.child, Fact::Key(field, KeyConstraint::Is(case.key)))).collect();
                let excluded: BTreeSet<u32> = cases.iter().map(|case| case.key).collect();
                if self.has_other_value(field, &excluded) {
                    branches.push((default, Fact::Key(field, KeyConstraint::Not(excluded))));
                }
                branches
            }
            Node::Interval { field, first, len, branch } => {
                let bounds = plan.bounds.get(first as usize..(first + len) as usize).unwrap_or_default();
                (0..=bounds.len())
                    .filter_map(|segment| {
                        let low = segment.checked_sub(1).and_then(|i| bounds.get(i)).copied();
                        let high = bounds.get(segment).copied();
                        let child = plan.branches.get(branch as usize + segment).copied()?;
                        self.range_has_value(field, low, high).then_some((child, Fact::Range(field, low, high)))
                    })
                    .collect()
            }
            Node::Test { test, then, otherwise } => {
                vec![(then, Fact::Test(test, true)), (otherwise, Fact::Test(test, false))]
            }
            // The prover's own diagrams never hold forks or index nodes.
            Node::Fork { .. } | Node::Index { .. } => Vec::new(),
        }
    }

    /// Whether a switch field has a value outside `excluded`. Task kinds and booleans
    /// have finite domains; strings always have another value.
    fn has_other_value(&self, field: u32, excluded: &BTreeSet<u32>) -> bool {
        let keys: Vec<&Key> = excluded.iter().filter_map(|key| self.plan.keys.get(*key as usize)).collect();
        let is_kind = self.plan.fields.get(field as usize).is_some_and(|spec| spec.path == FieldPath::task_kind());
        if is_kind {
            return self
                .set
                .hir()
                .env
                .tasks
                .keys()
                .any(|kind| !keys.iter().any(|key| **key == Key::Str(std::sync::Arc::from(kind.as_str()))));
        }
        keys.iter().filter(|key| matches!(key, Key::Bool(_))).count() < 2
    }

    fn range_has_value(&self, field: u32, low: Option<Position>, high: Option<Position>) -> bool {
        let spec = self.plan.fields.get(field as usize);
        // A whole-number field (an `Int` attribute, a calendar field) has a value only
        // where the range holds a whole number within the field's own bounds.
        let whole = spec.and_then(|spec| match spec.kind {
            FieldKind::Interval(Unit::Number) => self.plan.whole.get(&spec.path.text()),
            _ => None,
        });
        if whole.is_some_and(|whole| whole.within(low, high).is_none()) {
            return false;
        }
        let is_depth = spec.is_some_and(|spec| spec.path.text() == "chain.depth");
        if is_depth {
            // A valid request's chain has 1 to `max_chain` links: depth 0 to max_chain - 1.
            let scale = Position::from(crate::hir::value::DECIMAL_SCALE);
            let deepest = self.set.limits().request.max_chain.saturating_sub(1) as Position * scale;
            let least = low.map_or(0, |low| (low.div_euclid(scale) + 1).max(0) * scale);
            return least <= deepest && high.is_none_or(|high| least <= high);
        }
        let Some(FieldKind::Interval(Unit::Ordinal(name))) = spec.map(|spec| &spec.kind) else {
            return true;
        };
        let count = self.set.hir().env.enums.get(&**name).map_or(0, Vec::len) as Position;
        (0..count).any(|at| low.is_none_or(|low| at > low) && high.is_none_or(|high| at <= high))
    }

    /// The number of a field in this plan, if it has one.
    pub fn field(&self, spec: &FieldSpec) -> Option<u32> {
        self.plan.fields.iter().position(|own| own == spec).map(|at| at as u32)
    }
}

/// A path's constraints as readable conditions, one per attribute or test:
/// `agent.team == "support"`, `args.amount > 1000 and args.amount ≤ 10000`,
/// `not (resource.owner == agent.id)`.
pub fn path_text(plan: &Plan, constraints: &Constraints) -> Vec<String> {
    use crate::compile::dot::{key_text, segment_text};
    let mut parts = Vec::new();
    for (field, constraint) in &constraints.keys {
        let Some(spec) = plan.fields.get(*field as usize) else { continue };
        let is_kind = spec.path == FieldPath::task_kind();
        let name = spec.path.text();
        let key = |number: &u32| plan.keys.get(*number as usize);
        parts.push(match (constraint, is_kind) {
            (KeyConstraint::Is(number), true) => format!("task is {}", key_name(key(number))),
            (KeyConstraint::Is(number), false) => match key(number) {
                Some(Key::Bool(true)) => name,
                Some(Key::Bool(false)) => format!("not {name}"),
                other => format!("{name} == {}", key_text(other)),
            },
            (KeyConstraint::Not(excluded), true) => {
                let names: Vec<String> = excluded.iter().map(|number| key_name(key(number))).collect();
                format!("task is none of {}", names.join(", "))
            }
            (KeyConstraint::Not(excluded), false) => {
                let values: Vec<String> = excluded.iter().map(|number| key_text(key(number))).collect();
                match values.as_slice() {
                    [only] => format!("{name} != {only}"),
                    _ => format!("{name} not in [{}]", values.join(", ")),
                }
            }
        });
    }
    for (field, (low, high)) in &constraints.ranges {
        let Some(spec) = plan.fields.get(*field as usize) else { continue };
        let FieldKind::Interval(_) = &spec.kind else { continue };
        let bounds: Vec<Position> = low.iter().chain(high.iter()).copied().collect();
        let segment = usize::from(low.is_some());
        let name = spec.path.text();
        let Some(text) = segment_text(plan, *field, &bounds, segment) else { continue };
        if text != "any" {
            parts.push(format!("{name} {}", text.replace(" and ", &format!(" and {name} "))));
        }
    }
    for (test, outcome) in &constraints.tests {
        let Some(expr) = plan.tests.get(*test as usize) else { continue };
        parts.push(match (outcome, expr) {
            (true, _) => format!("{expr}"),
            // A comparison kept as a test reads best with its operator turned.
            (false, HExpr::Cmp(op, a, b)) => format!("{}", HExpr::Cmp(op.negated(), a.clone(), b.clone())),
            (false, _) => format!("not ({expr})"),
        });
    }
    parts
}

fn key_name(key: Option<&Key>) -> String {
    match key {
        Some(Key::Str(text)) => text.to_string(),
        Some(Key::Bool(flag)) => flag.to_string(),
        None => "?".to_string(),
    }
}
