//! Reaches a decision: checks the task instance, walks the partition's diagrams and
//! combines the rules found at their leaves (forbid > escalate > permit > default deny,
//! with the task's checks as a ceiling).

use std::collections::BTreeSet;

use std::collections::HashMap;
use std::sync::Arc;

use super::decision::{CredentialScope, Decision, Instant, Matched, Obligations, Outcome, Reason, Step, Walk};
use super::expr::{root_value, EvalError, Evaluator};
use super::request::Request;
use crate::compile::dot::{key_text, segment_text};
use crate::compile::formula::{position, Position};
use crate::compile::plan::{Branch, FieldKind, Gate, Node, Plan, Probe, RuleKind};
use crate::hir::value::{timestamp_text, Value};
use crate::hir::{Hir, ScopeItem, Target};
use crate::syntax::ast::Effect;

/// What deciding needs from the package besides the graph, prepared once when a policy
/// set is built.
#[derive(Debug, Default)]
pub struct Tables {
    /// By rule number: the text of the permit's `grant scope`, if it has one.
    grants: Vec<Option<Arc<[String]>>>,
    /// By task kind: the text of the task's scope.
    tasks: HashMap<String, Arc<[String]>>,
}

impl Tables {
    pub fn new(plan: &Plan, hir: &Hir) -> Self {
        let grants = plan
            .rules
            .iter()
            .map(|rule| match &rule.kind {
                RuleKind::Policy { grant, .. } => grant.scope.as_deref().map(|items| Arc::from(scope_text(items))),
                RuleKind::Gate(_) => None,
            })
            .collect();
        let tasks = hir.tasks.iter().map(|(name, task)| (name.clone(), Arc::from(scope_text(&task.scope)))).collect();
        Tables { grants, tasks }
    }
}

/// Decides a validated request. `explain` records the path through the graph.
///
/// A task instance is valid from its start, inclusive, to its deadline, exclusive: a
/// request made at the deadline is too late.
pub fn decide(plan: &Plan, texts: &Tables, request: &Request, max_steps: usize, explain: bool) -> Decision {
    let Some(task) = &request.task else {
        return Decision::deny(Reason::new(
            "no_task",
            "the request names no task; every action must happen inside a declared task",
        ));
    };
    let now = request.time();
    if now >= task.deadline {
        let message = format!("task `{}` expired at {}", task.id, timestamp_text(task.deadline));
        return Decision::deny(Reason::new("task_expired", message));
    }
    if now < task.start {
        let message = format!("task `{}` starts at {}", task.id, timestamp_text(task.start));
        return Decision::deny(Reason::new("task_not_started", message));
    }
    let resource = request.resource.as_ref().map(|(resource, _)| &**resource);
    let Some(partition) = plan.partition(&request.action, resource) else {
        let target = Target { action: request.action.to_string(), resource: resource.map(str::to_string) };
        return Decision::deny(Reason::new(
            "no_applicable_policy",
            format!("no policy applies to {}", target_text(&target)),
        ));
    };
    let target = &partition.target;
    let mut probe = RequestProbe::new(request, plan, max_steps, explain);
    let mut matched: Vec<u32> = Vec::new();
    let mut walks = Vec::new();
    let mut reached = Vec::new();
    for (index, root) in partition.roots.iter().enumerate() {
        reached.clear();
        let result = plan.walk(*root, &mut probe, &mut reached);
        let diagram = if (index as u32) < partition.gate_roots { "task checks" } else { "policies" };
        let steps = std::mem::take(&mut probe.steps);
        let visited = std::mem::take(&mut probe.visited);
        match result {
            Ok(()) => {
                matched.extend(&reached);
                if explain {
                    let names =
                        reached.iter().filter_map(|r| plan.rules.get(*r as usize)).map(|r| r.name.clone()).collect();
                    walks.push(Walk { diagram: diagram.to_string(), steps, matched: names, visited });
                }
            }
            Err(error) => {
                let mut decision = Decision::deny(Reason::new("evaluation_error", error));
                decision.explanation = explain.then_some(walks);
                return decision;
            }
        }
    }
    matched.sort_unstable();
    matched.dedup();
    let mut decision = combine(plan, texts, request, target, &matched);
    decision.explanation = explain.then_some(walks);
    decision
}

/// Policy names for a reason's message: the first few, and how many more (the decision
/// lists them all).
fn quoted_names(names: &[Arc<str>]) -> String {
    const SHOWN: usize = 5;
    let mut text = String::with_capacity(names.iter().take(SHOWN).map(|name| name.len() + 4).sum::<usize>() + 16);
    for (index, name) in names.iter().take(SHOWN).enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        text.push('`');
        text.push_str(name);
        text.push('`');
    }
    if let Some(more) = names.len().checked_sub(SHOWN).filter(|more| *more > 0) {
        text.push_str(" and ");
        text.push_str(&more.to_string());
        text.push_str(" more");
    }
    text
}

fn target_text(target: &Target) -> String {
    match &target.resource {
        Some(resource) => format!("`{}` on `{resource}`", target.action),
        None => format!("`{}`", target.action),
    }
}

/// Applies the combining rules to the matched rules (sorted, without repeats).
fn combine(plan: &Plan, texts: &Tables, request: &Request, target: &Target, matched: &[u32]) -> Decision {
    let mut policies = Matched::default();
    let mut permits = Vec::new();
    let mut gates = BTreeSet::new();
    let (mut forbid_messages, mut escalate_messages) = (Vec::new(), Vec::new());
    for (number, rule) in matched.iter().filter_map(|r| plan.rules.get(*r as usize).map(|rule| (*r, rule))) {
        match &rule.kind {
            RuleKind::Gate(gate) => {
                gates.insert(*gate);
            }
            RuleKind::Policy { effect: Effect::Forbid, message, .. } => {
                policies.forbid.push(rule.name.clone());
                forbid_messages.extend(message.iter().map(|text| text.to_string()));
            }
            RuleKind::Policy { effect: Effect::Escalate, message, .. } => {
                policies.escalate.push(rule.name.clone());
                escalate_messages.extend(message.iter().map(|text| text.to_string()));
            }
            RuleKind::Policy { effect: Effect::Permit, grant, .. } => {
                policies.permit.push(rule.name.clone());
                permits.push((number, &rule.name, grant));
            }
        }
    }
    let kind = request.task.as_ref().map(|task| task.kind.to_string()).unwrap_or_default();
    let quoted = |names: &[Arc<str>]| quoted_names(names);
    let found = Found {
        forbid: !policies.forbid.is_empty(),
        escalate: !policies.escalate.is_empty(),
        permit: !permits.is_empty(),
        gates: &gates,
    };
    let (outcome, code) = found.combine();
    let message = match code {
        "forbidden" => format!("forbidden by {}", quoted(&policies.forbid)),
        "preconditions_failed" => format!("the parameters of task `{kind}` do not satisfy its `require`"),
        "delegation_exceeded" => format!("the delegation chain goes beyond what task `{kind}` allows"),
        "outside_intent" => {
            format!("outside declared intent: task `{kind}` does not cover {} here", target_text(target))
        }
        "escalated" => {
            let verb = if policies.escalate.len() == 1 { "requires" } else { "require" };
            format!("{} {verb} human approval", quoted(&policies.escalate))
        }
        "permitted" => format!("permitted by {}", quoted(&policies.permit)),
        _ => "no policy permits this request".to_string(),
    };
    let mut reason = Reason::new(code, message);
    reason.messages = match code {
        "forbidden" => forbid_messages,
        "escalated" => escalate_messages,
        _ => Vec::new(),
    };
    let mut seen = BTreeSet::new();
    reason.messages.retain(|message| seen.insert(message.clone()));
    let obligations = (outcome == Outcome::Allow).then(|| obligations(texts, request, &permits));
    Decision { decision: outcome, policies, reasons: vec![reason], obligations, errors: Vec::new(), explanation: None }
}

/// What the rules at the leaves say, for combining.
pub struct Found<'a> {
    pub forbid: bool,
    pub escalate: bool,
    pub permit: bool,
    pub gates: &'a BTreeSet<Gate>,
}

impl Found<'_> {
    /// The combining order of `docs/semantics.md`: the outcome and its reason code.
    pub fn combine(&self) -> (Outcome, &'static str) {
        if self.forbid {
            (Outcome::Deny, "forbidden")
        } else if !self.gates.contains(&Gate::TaskValid) {
            (Outcome::Deny, "preconditions_failed")
        } else if !self.gates.contains(&Gate::DelegationAllowed) {
            (Outcome::Deny, "delegation_exceeded")
        } else if !self.gates.contains(&Gate::InScope) {
            // With or without a permit: outside the task's scope is the more telling
            // reason, and nothing outside it can be allowed.
            (Outcome::Deny, "outside_intent")
        } else if self.escalate {
            (Outcome::Escalate, "escalated")
        } else if self.permit {
            (Outcome::Allow, "permitted")
        } else {
            (Outcome::Deny, "no_permit")
        }
    }

    /// What a set of matched rules says.
    pub fn of<'g>(plan: &Plan, rules: &[u32], gates: &'g mut BTreeSet<Gate>) -> Found<'g> {
        let (mut forbid, mut escalate, mut permit) = (false, false, false);
        for rule in rules.iter().filter_map(|r| plan.rules.get(*r as usize)) {
            match &rule.kind {
                RuleKind::Gate(gate) => {
                    gates.insert(*gate);
                }
                RuleKind::Policy { effect: Effect::Forbid, .. } => forbid = true,
                RuleKind::Policy { effect: Effect::Escalate, .. } => escalate = true,
                RuleKind::Policy { effect: Effect::Permit, .. } => permit = true,
            }
        }
        Found { forbid, escalate, permit, gates }
    }
}

/// A permit that applied: its rule number, name and grant.
type Permit<'a> = (u32, &'a Arc<str>, &'a crate::hir::Grant);

fn obligations(texts: &Tables, request: &Request, permits: &[Permit<'_>]) -> Obligations {
    let now = request.time();
    let task = request.task.as_ref();
    let remaining = task.map_or(0, |task| task.deadline.saturating_sub(now)).max(0);
    let ttl = permits.iter().filter_map(|(_, _, grant)| grant.ttl).min().map_or(remaining, |ttl| ttl.min(remaining));
    let mut tags: Vec<String> = permits.iter().flat_map(|(_, _, grant)| grant.tags.iter().cloned()).collect();
    tags.sort();
    tags.dedup();
    let task_scope = task.and_then(|task| texts.tasks.get(&*task.kind)).cloned().unwrap_or_else(|| Arc::from([]));
    Obligations {
        ttl_ms: ttl / crate::syntax::literal::NANOS_PER_MILLI,
        expires_at: Instant(now.saturating_add(ttl)),
        tags,
        messages: permits.iter().filter_map(|(_, _, grant)| grant.message.clone()).collect(),
        scopes: permits
            .iter()
            .map(|(number, name, _)| {
                let granted = texts.grants.get(*number as usize).cloned().flatten();
                CredentialScope {
                    policy: (*name).clone(),
                    whole_task: granted.is_none(),
                    scope: granted.unwrap_or_else(|| task_scope.clone()),
                }
            })
            .collect(),
    }
}

/// A scope as text, one entry per item: `` `read` on `Doc` where … ``.
pub fn scope_text(items: &[ScopeItem]) -> Vec<String> {
    items
        .iter()
        .map(|item| {
            let targets: Vec<String> = item.targets.iter().map(target_text).collect();
            match &item.condition {
                crate::hir::HExpr::Const(Value::Bool(true)) => targets.join(", "),
                condition => format!("{} where {condition}", targets.join(", ")),
            }
        })
        .collect()
}

/// Answers the graph's questions about one request, caching attribute reads.
struct RequestProbe<'a> {
    request: &'a Request,
    values: Vec<Option<Option<Value>>>,
    steps_left: usize,
    /// The decision's step limit, for the error that reports it.
    max_steps: usize,
    explain: bool,
    steps: Vec<Step>,
    visited: Vec<(u32, usize)>,
    last_test: Option<bool>,
}

impl<'a> RequestProbe<'a> {
    fn new(request: &'a Request, plan: &Plan, max_steps: usize, explain: bool) -> Self {
        RequestProbe {
            request,
            values: vec![None; plan.fields.len()],
            steps_left: max_steps,
            max_steps,
            explain,
            steps: Vec::new(),
            visited: Vec::new(),
            last_test: None,
        }
    }

    fn value(&mut self, plan: &Plan, field: u32) -> Option<Value> {
        if let Some(Some(cached)) = self.values.get(field as usize) {
            return cached.clone();
        }
        let spec = plan.fields.get(field as usize)?;
        let value = root_value(self.request, spec.path.root, &spec.path.path).and_then(|(mut value, rest)| {
            for step in rest {
                value = match value {
                    Value::Record(fields) => fields.get(&**step)?.clone(),
                    Value::Timestamp(nanos) => Value::Int(crate::hir::value::timestamp_field(nanos, step)?),
                    _ => return None,
                };
            }
            Some(value)
        });
        if let Some(slot) = self.values.get_mut(field as usize) {
            *slot = Some(value.clone());
        }
        value
    }
}

impl Probe for RequestProbe<'_> {
    fn key(&mut self, plan: &Plan, field: u32) -> Result<Option<u32>, String> {
        let Some(value) = self.value(plan, field) else { return Ok(None) };
        match value {
            Value::String(_) | Value::Bool(_) => Ok(plan.value_key(&value)),
            other => Err(self.wrong_kind(plan, field, &other)),
        }
    }

    fn position(&mut self, plan: &Plan, field: u32) -> Result<Option<Position>, String> {
        let Some(value) = self.value(plan, field) else { return Ok(None) };
        let expected = match plan.fields.get(field as usize).map(|spec| &spec.kind) {
            Some(FieldKind::Interval(unit)) => unit,
            _ => return Err(self.wrong_kind(plan, field, &value)),
        };
        match position(&value) {
            Some((unit, at)) if unit == *expected => Ok(Some(at)),
            _ => Err(self.wrong_kind(plan, field, &value)),
        }
    }

    fn test(&mut self, plan: &Plan, test: u32) -> Result<bool, String> {
        let expr = plan.tests.get(test as usize).ok_or("test out of range")?;
        let mut evaluator = Evaluator::new(self.request, self.steps_left);
        let outcome = evaluator.truth(expr).map_err(|error| match error {
            // The evaluator was given the steps left; the limit is the decision's.
            EvalError::Limit(_) => format!("while evaluating `{expr}`: {}", EvalError::Limit(self.max_steps)),
            other => format!("while evaluating `{expr}`: {other}"),
        });
        self.steps_left = self.steps_left.saturating_sub(evaluator.steps_taken());
        self.last_test = outcome.as_ref().ok().copied();
        outcome
    }

    fn value(&mut self, plan: &Plan, field: u32) -> Option<Value> {
        RequestProbe::value(self, plan, field)
    }

    fn indexed(&mut self, plan: &Plan, node: u32, entries: &[u32]) {
        if !self.explain {
            return;
        }
        let Some(Node::Index { field, table, .. }) = plan.nodes.get(node as usize).copied() else { return };
        let table = plan.tables.get(table as usize);
        let tests: Vec<String> = entries
            .iter()
            .filter_map(|entry| table?.entries.get(*entry as usize))
            .filter_map(|entry| plan.tests.get(entry.test as usize))
            .map(ToString::to_string)
            .collect();
        let total = table.map_or(0, |table| table.entries.len());
        self.steps.push(Step {
            test: plan.fields.get(field as usize).map(|f| f.path.text()).unwrap_or_default(),
            saw: self.seen(field),
            branch: match tests.as_slice() {
                [] => format!("none of the {total} indexed tests holds"),
                _ => format!("{} of the {total} indexed tests hold: {}", tests.len(), tests.join("; ")),
            },
        });
    }

    fn visited(&mut self, plan: &Plan, node: u32, branch: Branch) {
        if !self.explain {
            return;
        }
        let Some(node_ref) = plan.nodes.get(node as usize) else { return };
        if let Some(index) = branch_index(plan, node_ref, branch) {
            self.visited.push((node, index));
        }
        let node = node_ref;
        let step = match *node {
            Node::Leaf { .. } | Node::Fork { .. } | Node::Index { .. } => return,
            Node::Switch { field, .. } => Step {
                test: plan.fields.get(field as usize).map(|f| f.path.text()).unwrap_or_default(),
                saw: self.seen(field),
                branch: match branch {
                    Branch::Case(key) => format!("== {}", key_text(plan.keys.get(key as usize))),
                    _ => "none of the values the policies name".to_string(),
                },
            },
            Node::Interval { field, first, len, .. } => {
                let bounds = plan.bounds.get(first as usize..(first + len) as usize).unwrap_or_default();
                let segment = match branch {
                    Branch::Interval(segment) => segment,
                    _ => 0,
                };
                Step {
                    test: plan.fields.get(field as usize).map(|f| f.path.text()).unwrap_or_default(),
                    saw: self.seen(field),
                    branch: segment_text(plan, field, bounds, segment).unwrap_or_else(|| "no value".to_string()),
                }
            }
            Node::Test { test, .. } => Step {
                test: plan.tests.get(test as usize).map(ToString::to_string).unwrap_or_default(),
                saw: self.last_test.map_or("an error".to_string(), |outcome| outcome.to_string()),
                branch: if branch == Branch::Then { "holds".to_string() } else { "does not hold".to_string() },
            },
        };
        self.steps.push(step);
    }
}

/// The number of the branch taken out of `node`, as [`crate::compile::dot::edges`]
/// lists them: a switch's cases then its default, an interval's segments, a test's
/// `true` then `false`.
fn branch_index(plan: &Plan, node: &Node, branch: Branch) -> Option<usize> {
    match (*node, branch) {
        (Node::Switch { first, len, .. }, Branch::Case(key)) => {
            let cases = plan.cases.get(first as usize..(first + len) as usize)?;
            cases.iter().position(|case| case.key == key)
        }
        (Node::Switch { len, .. }, Branch::Default) => Some(len as usize),
        (Node::Interval { .. }, Branch::Interval(segment)) => Some(segment),
        (Node::Test { .. }, Branch::Then) => Some(0),
        (Node::Test { .. }, Branch::Otherwise) => Some(1),
        _ => None,
    }
}

impl RequestProbe<'_> {
    fn wrong_kind(&self, plan: &Plan, field: u32, value: &Value) -> String {
        let name = plan.fields.get(field as usize).map(|spec| spec.path.text()).unwrap_or_default();
        format!("`{name}` holds {value}, which the policies do not compare it as")
    }

    fn seen(&self, field: u32) -> String {
        match self.values.get(field as usize) {
            Some(Some(Some(value))) => value.to_string(),
            _ => "absent".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reason names up to five policies, then says how many more there are.
    #[test]
    fn reasons_name_five_policies_and_count_the_rest() {
        let names = |count: usize| -> Vec<Arc<str>> { (1..=count).map(|at| Arc::from(format!("p{at}"))).collect() };
        assert_eq!(quoted_names(&names(0)), "");
        assert_eq!(quoted_names(&names(1)), "`p1`");
        assert_eq!(quoted_names(&names(5)), "`p1`, `p2`, `p3`, `p4`, `p5`");
        assert_eq!(quoted_names(&names(7)), "`p1`, `p2`, `p3`, `p4`, `p5` and 2 more");
    }
}
