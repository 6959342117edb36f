//! The prover never says "proved" when a violation exists, and every refutation it
//! prints reproduces.
//!
//! Random packages over a small schema, each with a random assertion and a random bound,
//! are checked by the prover, as are the theorems that raising risk never allows more
//! and that delegation never escalates; then every request over a finite domain (5,184
//! requests: every combination of the attribute values the generator uses, both actions
//! and two chain lengths) is decided by brute force, and for risk and delegation its
//! lower-risk and delegator variants too. A "proved" assertion must have no violating request in the
//! domain; a "refuted" one must come with a counterexample that the evaluator decides as
//! a violation. 100 packages run in the test profile in about thirty seconds; the test also
//! checks that all three verdicts occur, so it cannot pass by always saying "unknown".

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use mandate::compile::formula::Key;
use mandate::eval::expr::Evaluator;
use mandate::eval::{Limits, Outcome, PolicySet, RequestDoc};
use mandate::hir::Target;
use mandate::prove::{check, ProveOptions, Verdict};
use mandate::syntax::ast::Effect;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;

const SCHEMA: &str = r#"schema {
  agent { team: String, level: Int }
  enum Class { public, internal, secret }
  resource Doc { owner: String, class: Class, size: Int, flagged: Bool, price: Decimal }
  action read, update on Doc
}
"#;

const TEAMS: [&str; 3] = ["a", "b", "c"];
const CLASSES: [&str; 3] = ["public", "internal", "secret"];

/// A random condition over the schema, from atoms the prover handles exactly and some
/// it does not.
fn condition() -> impl Strategy<Value = String> {
    conditions(true)
}

/// A condition for a scope, which may not read the behavior signals.
fn scope_condition() -> impl Strategy<Value = String> {
    conditions(false)
}

fn conditions(behavior: bool) -> impl Strategy<Value = String> {
    let mut atoms: Vec<BoxedStrategy<String>> = vec![
        prop::sample::select(TEAMS.to_vec()).prop_map(|t| format!("agent.team == \"{t}\"")).boxed(),
        (0..4i64).prop_map(|n| format!("agent.level >= {n}")).boxed(),
        prop::sample::select(CLASSES.to_vec()).prop_map(|c| format!("resource.class <= {c}")).boxed(),
        (-1..5i64).prop_map(|n| format!("resource.size < {n}")).boxed(),
        // Signed fractions and their neighbours: the domain holds -0.5 and 0.5.
        prop::sample::select(vec!["-0.5", "-0.4999", "-0.0001", "0", "0.0001", "0.5"])
            .prop_map(|bound| format!("resource.price <= {bound}"))
            .boxed(),
        prop::sample::select(vec!["-0.5", "0", "0.5"]).prop_map(|bound| format!("resource.price > {bound}")).boxed(),
        Just("resource.flagged".to_string()).boxed(),
        Just("(task is Work and resource.owner == task.owner)".to_string()).boxed(),
        prop::sample::select(TEAMS.to_vec()).prop_map(|t| format!("resource.owner == \"{t}\"")).boxed(),
        Just("resource.owner == agent.team".to_string()).boxed(),
        Just("action == read".to_string()).boxed(),
        Just("chain.depth > 0".to_string()).boxed(),
        Just("resource.size + agent.level > 3".to_string()).boxed(),
        Just("agent.id == \"x\"".to_string()).boxed(),
        Just("chain.delegator == \"o\"".to_string()).boxed(),
        // Always true, which only the prover sees: the source of `always_applies`.
        (-1..3i64).prop_map(|n| format!("(resource.size < {n} or resource.size >= {n})")).boxed(),
    ];
    if behavior {
        atoms.push(Just("behavior.risk < 0.5".to_string()).boxed());
        atoms.push(Just("behavior.risk > 0.5".to_string()).boxed());
        atoms.push(Just("behavior.novel_resource".to_string()).boxed());
    }
    let atom = prop::strategy::Union::new(atoms);
    combinations(atom)
}

/// Conditions built from atoms with `not`, `and` and `or`, up to three levels deep.
fn combinations(atom: impl Strategy<Value = String> + 'static) -> impl Strategy<Value = String> {
    atom.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| format!("not ({c})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a} or {b})")),
        ]
    })
}

/// A condition a bound's `when` may state: about the agent, the task and the chain only.
fn applies_condition() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        prop::sample::select(TEAMS.to_vec()).prop_map(|t| format!("agent.team == \"{t}\"")),
        (0..4i64).prop_map(|n| format!("agent.level >= {n}")),
        Just("chain.depth > 0".to_string()),
        Just("task is Work".to_string()),
    ];
    atom.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| format!("not ({c})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a} or {b})")),
        ]
    })
}

fn target() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["read", "update", "[read, update]"])
}

fn effect() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["permit", "permit", "forbid", "escalate"])
}

fn package() -> impl Strategy<Value = String> {
    let policy = (effect(), target(), prop::option::of(condition()));
    let bound = (applies_condition(), target(), scope_condition());
    (scope_condition(), prop::collection::vec(policy, 1..5), prop::sample::select(vec!["permit", "escalate", "forbid"]), target(), condition(), bound)
        .prop_map(|(scope, policies, asserted, asserted_target, asserted_condition, (applies, bound_target, inside))| {
            let mut text = format!(
                "{SCHEMA}task Work(owner: String) {{\n  scope {{ [read, update] on Doc where {scope} }}\n  ttl 1h\n  delegate depth <= 1\n}}\n"
            );
            for (index, (effect, target, condition)) in policies.into_iter().enumerate() {
                text.push_str(&format!("policy p{index}: {effect} {target} on Doc"));
                if let Some(condition) = condition {
                    text.push_str(&format!(" when {condition}"));
                }
                if effect == "permit" {
                    text.push_str(" grant ttl 5m");
                }
                text.push('\n');
            }
            text.push_str(&format!("assert checked: never {asserted} {asserted_target} on Doc when {asserted_condition}\n"));
            text.push_str(&format!("bound ceiling {{ when {applies} scope {{ {bound_target} on Doc where {inside} }} }}\n"));
            text
        })
}

/// Every request of the finite domain.
fn domain() -> Vec<RequestDoc> {
    let mut requests = Vec::new();
    for team in TEAMS {
        for level in [0, 2] {
            for class in CLASSES {
                for size in [-1, 3] {
                    for (flagged, price) in [(false, "-0.5"), (true, "-0.5"), (false, "0.5"), (true, "0.5")] {
                        for owner in TEAMS {
                            for task_owner in TEAMS {
                                for action in ["read", "update"] {
                                    for chain in [vec!["s"], vec!["s", "o"]] {
                                        let doc = json!({
                                            "agent": {"id": "x", "attrs": {"team": team, "level": level}},
                                            "chain": chain,
                                            "task": {"kind": "Work", "id": "t", "start": "2026-01-05T09:30:00Z",
                                                     "deadline": "2026-01-05T11:00:00Z", "params": {"owner": task_owner}},
                                            "action": action,
                                            "resource": {"type": "Doc", "id": "d",
                                                         "attrs": {"owner": owner, "class": class, "size": size, "flagged": flagged, "price": price}},
                                            "context": {"time": "2026-01-05T10:00:00Z"}
                                        });
                                        requests.push(serde_json::from_value(doc).expect("request"));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    requests
}

fn violates(effect: Effect, decision: &mandate::eval::Decision) -> bool {
    match effect {
        Effect::Permit => decision.decision == Outcome::Allow,
        Effect::Escalate => decision.decision == Outcome::Escalate,
        Effect::Forbid => decision.reasons.first().is_some_and(|reason| reason.code == "forbidden"),
    }
}

/// Checks an assertion's verdict against brute force: "proved" with no violating request
/// of the domain, "refuted" with a counterexample that reproduces. Returns 0, 1 or 2 for
/// proved, refuted and unknown.
fn assertion_verdict(
    set: &PolicySet,
    effect: Effect,
    verdict: &Verdict,
    violation: Option<&RequestDoc>,
    source: &str,
) -> Result<usize, TestCaseError> {
    Ok(match verdict {
        Verdict::Proved | Verdict::NotApplicable { .. } => {
            prop_assert!(violation.is_none(), "proved, but this request violates it:\n{source}\n{violation:?}");
            0
        }
        Verdict::Refuted { request, .. } => {
            let decision = set.decide_doc(request, false);
            prop_assert!(violates(effect, &decision), "the counterexample does not reproduce:\n{source}");
            1
        }
        Verdict::Unknown { .. } => 2,
    })
}

/// The lints that claim something of every request hold on the whole domain.
fn check_lints(set: &PolicySet, requests: &[RequestDoc], source: &str) -> Result<Vec<&'static str>, TestCaseError> {
    let (_, findings) = mandate::prove::check_and_lint(set, &ProveOptions::default());
    let decisions: Vec<(RequestDoc, mandate::eval::Decision)> =
        requests.iter().map(|doc| (doc.clone(), set.decide_doc(doc, false))).collect();
    let lints = findings.iter().map(|finding| finding.lint).collect();
    for finding in findings {
        let mandate::prove::lint::Subject::Policy(index) = finding.subject else {
            // A task that grants nothing: no request of the domain is allowed.
            let allowed = decisions.iter().find(|(_, decision)| decision.decision == Outcome::Allow);
            prop_assert!(allowed.is_none(), "the task grants {allowed:?}:\n{source}");
            continue;
        };
        let policy = &set.hir().policies[index];
        let name = policy.name.as_str();
        let own = match policy.effect {
            Effect::Permit => Outcome::Allow,
            Effect::Escalate => Outcome::Escalate,
            Effect::Forbid => Outcome::Deny,
        };
        let same = |decision: &mandate::eval::Decision| match policy.effect {
            Effect::Permit => decision.policies.permit.len(),
            Effect::Escalate => decision.policies.escalate.len(),
            Effect::Forbid => decision.policies.forbid.len(),
        };
        let targeted =
            |doc: &RequestDoc| policy.targets.iter().any(|t| Some(t.action.as_str()) == doc.action.as_deref());
        let counter = decisions.iter().find(|(doc, decision)| match finding.lint {
            "never_applies" => decision.policies.matched(name),
            "shadowed" => decision.policies.matched(name) && decision.decision == own,
            "redundant" => decision.policies.matched(name) && same(decision) == 1,
            "always_applies" => targeted(doc) && !decision.policies.matched(name),
            _ => false,
        });
        prop_assert!(counter.is_none(), "lint {} on `{name}` is false:\n{source}\n{counter:?}", finding.lint);
        if let Some(example) = &finding.example {
            prop_assert!(set.decide_doc(example, false).policies.matched(name), "overlap example does not match");
        }
    }
    Ok(lints)
}

#[test]
fn proved_means_no_violation_in_the_whole_domain() {
    let requests = domain();
    assert_eq!(requests.len(), 5_184);
    let counts = std::cell::Cell::new([0usize; 3]);
    let delegation_counts = std::cell::Cell::new([0usize; 3]);
    let lints_seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let count_delegation = |index: usize| {
        let mut current = delegation_counts.get();
        current[index] += 1;
        delegation_counts.set(current);
    };
    let count = |index: usize| {
        let mut current = counts.get();
        current[index] += 1;
        counts.set(current);
    };
    let case = |source: String| -> Result<(), TestCaseError> {
        let set = PolicySet::from_sources(&[("p.mandate", &source)], Limits::default())
            .unwrap_or_else(|error| panic!("generated package does not check:\n{source}\n{}", error.render()));
        let reports = check(&set, &ProveOptions::default());
        lints_seen.borrow_mut().extend(check_lints(&set, &requests, &source)?);
        let by_kind = |kind: &str| reports.iter().find(|report| report.kind == kind).expect("reported");
        let (report, bound_report) = (by_kind("assertion"), by_kind("bound"));
        prop_assert_eq!(
            reports[0].verdict.word(),
            "proved",
            "the compiled graph differs from the policies:\n{}",
            source
        );
        let assertion = &set.hir().assertions[0];
        let bound = &set.hir().bounds[0];
        // A bound is violated by an allow it applies to, outside its scope.
        let bound_violation = requests.iter().find(|doc| {
            let request = set.prepare(doc).expect("valid request");
            if set.decide(&request).decision != Outcome::Allow {
                return false;
            }
            let holds = |expr| Evaluator::new(&request, 100_000).truth(expr).expect("evaluates");
            let target = Target { action: doc.action.clone().unwrap_or_default(), resource: Some("Doc".to_string()) };
            let inside = bound.scope.iter().any(|item| item.targets.contains(&target) && holds(&item.condition));
            holds(&bound.applies) && !inside
        });
        // Risk is restrict-only: no request is refused with low signals and allowed
        // with one or both raised.
        let named = |name: &str| reports.iter().find(|report| report.name == name).expect("theorem reported");
        let risk_report = named("risk is restrict-only");
        prop_assert_eq!(named("intent containment").verdict.word(), "proved", "intent containment:\n{}", source);
        let with_signals = |doc: &RequestDoc, risk: f64, novel: bool| {
            let mut doc = doc.clone();
            doc.behavior.insert("risk".to_string(), json!(risk));
            doc.behavior.insert("novel_resource".to_string(), json!(novel));
            set.decide_doc(&doc, false).decision
        };
        let risk_violation = requests.iter().find(|doc| {
            with_signals(doc, 0.1, false) != Outcome::Allow
                && [(0.9, false), (0.1, true), (0.9, true)]
                    .iter()
                    .any(|(risk, novel)| with_signals(doc, *risk, *novel) == Outcome::Allow)
        });
        match &risk_report.verdict {
            Verdict::Proved | Verdict::NotApplicable { .. } => {
                count(0);
                prop_assert!(
                    risk_violation.is_none(),
                    "risk proved restrict-only, but raising it allows:\n{source}\n{risk_violation:?}"
                );
            }
            Verdict::Refuted { request, contrast, .. } => {
                count(1);
                prop_assert_eq!(set.decide_doc(request, false).decision, Outcome::Allow);
                let contrast = contrast.as_ref().expect("a risk refutation has a contrast");
                prop_assert!(
                    set.decide_doc(&contrast.request, false).decision != Outcome::Allow,
                    "the contrast is allowed:\n{}",
                    source
                );
            }
            Verdict::Unknown { .. } => count(2),
        }
        // Delegation never escalates: no request through one hop is allowed when the
        // delegator's own request (one link fewer, the delegator acting) is not.
        let escalation = requests.iter().find(|doc| {
            if doc.chain.len() < 2 || set.decide_doc(doc, false).decision != Outcome::Allow {
                return false;
            }
            let mut own = (*doc).clone();
            let delegator = own.chain.pop().expect("a link");
            own.agent.as_mut().expect("an agent").id = delegator;
            set.decide_doc(&own, false).decision != Outcome::Allow
        });
        match &named("delegation never escalates").verdict {
            Verdict::Proved | Verdict::NotApplicable { .. } => {
                count_delegation(0);
                prop_assert!(escalation.is_none(), "attenuation proved, but:\n{source}\n{escalation:?}");
            }
            Verdict::Refuted { request, contrast, .. } => {
                count_delegation(1);
                prop_assert_eq!(set.decide_doc(request, false).decision, Outcome::Allow);
                let contrast = contrast.as_ref().expect("an attenuation refutation has a contrast");
                prop_assert_eq!(&contrast.request.chain[..], &request.chain[..request.chain.len() - 1]);
                prop_assert!(
                    set.decide_doc(&contrast.request, false).decision != Outcome::Allow,
                    "the delegator's request is allowed:\n{}",
                    source
                );
            }
            Verdict::Unknown { .. } => count_delegation(2),
        }
        prop_assert_eq!(
            named("delegation within each task's limits").verdict.word(),
            "proved",
            "delegation limits:\n{}",
            source
        );
        match &bound_report.verdict {
            Verdict::Proved | Verdict::NotApplicable { .. } => {
                count(0);
                prop_assert!(
                    bound_violation.is_none(),
                    "bound proved, but this request violates it:\n{source}\n{bound_violation:?}"
                );
            }
            Verdict::Refuted { request, .. } => {
                count(1);
                prop_assert_eq!(
                    set.decide_doc(request, false).decision,
                    Outcome::Allow,
                    "the bound's counterexample does not reproduce:\n{}",
                    source
                );
            }
            Verdict::Unknown { .. } => count(2),
        }
        let violation = requests.iter().find(|doc| {
            let targeted = assertion.targets.iter().any(|target| {
                Some(target.action.as_str()) == doc.action.as_deref() && target.resource.as_deref() == Some("Doc")
            });
            if !targeted {
                return false;
            }
            let request = set.prepare(doc).expect("valid request");
            let decision = set.decide(&request);
            let holds = Evaluator::new(&request, 100_000).truth(&assertion.condition).expect("evaluates");
            holds && violates(assertion.effect, &decision)
        });
        count(assertion_verdict(&set, assertion.effect, &report.verdict, violation, &source)?);
        Ok(())
    };
    // The packages are random: should a round of 100 leave a verdict or a lint unseen,
    // up to two more rounds run before what they covered is asserted.
    const LINTS: [&str; 4] = ["never_applies", "always_applies", "shadowed", "redundant"];
    for _ in 0..3 {
        let mut runner = TestRunner::new(Config { cases: 100, failure_persistence: None, ..Config::default() });
        runner.run(&package(), case).unwrap();
        let delegation = delegation_counts.get();
        let lints = lints_seen.borrow();
        if counts.get().iter().all(|count| *count > 0)
            && delegation[0] > 0
            && delegation[1] > 0
            && LINTS.iter().all(|lint| lints.contains(*lint))
        {
            break;
        }
    }
    let counts = counts.get();
    assert!(counts.iter().all(|count| *count > 0), "proved, refuted, unknown: {counts:?}");
    let delegation = delegation_counts.get();
    assert!(delegation[0] > 0 && delegation[1] > 0, "delegation proved, refuted, unknown: {delegation:?}");
    let lints = lints_seen.borrow();
    for lint in LINTS {
        assert!(lints.contains(lint), "no `{lint}` in up to 300 packages: {lints:?}");
    }
}

/// `mandate diff` against brute force: a version with one policy dropped (dropping a
/// forbid widens, dropping a permit narrows) is compared with the original. Every
/// request of the domain whose decision changes must fall under a reported change of the
/// same kind, `--no-wider` must fire whenever some request becomes allowed, and every
/// example must replay through both versions as reported.
#[test]
fn diff_reports_every_change_the_domain_shows() {
    let requests = domain();
    let seen = std::cell::Cell::new((0usize, 0usize));
    let mut runner = TestRunner::new(Config { cases: 60, failure_persistence: None, ..Config::default() });
    runner
        .run(&(package(), 0usize..4), |(source, dropped)| {
            let mut policies = 0;
            let changed: String = source
                .lines()
                .filter(|line| {
                    let policy = line.starts_with("policy ");
                    policies += usize::from(policy);
                    !(policy && policies == dropped + 1)
                })
                .map(|line| format!("{line}\n"))
                .collect();
            let load = |text: &str| PolicySet::from_sources(&[("p.mandate", text)], Limits::default()).expect("checks");
            let (old, new) = (load(&source), load(&changed));
            let report = mandate::prove::diff::diff(&old, &new, &ProveOptions::default());
            for change in &report.changes {
                if let Some(example) = &change.example {
                    prop_assert_eq!(old.decide_doc(example, false).decision, change.from);
                    prop_assert_eq!(new.decide_doc(example, false).decision, change.to);
                }
            }
            for doc in &requests {
                let (before, after) = (old.decide_doc(doc, false).decision, new.decide_doc(doc, false).decision);
                if before == after {
                    continue;
                }
                let action = doc.action.clone().unwrap_or_default();
                let reported = report
                    .changes
                    .iter()
                    .any(|change| change.action == action && change.from == before && change.to == after);
                prop_assert!(reported, "{before:?} → {after:?} not reported for\n{doc:?}\nold:\n{source}");
                if after == Outcome::Allow {
                    prop_assert!(report.may_widen(), "newly allowed, but --no-wider would pass:\n{source}");
                }
            }
            let (changes, examples) = seen.get();
            let confirmed = report.changes.iter().filter(|change| change.example.is_some()).count();
            seen.set((changes + report.changes.len(), examples + confirmed));
            Ok(())
        })
        .unwrap();
    let (changes, examples) = seen.get();
    assert!(changes > 0 && examples > 0, "changes {changes}, with examples {examples}");
}

/// Translation validation catches a compiler bug: a plan whose switch compares with the
/// wrong constant is refuted by a request the evaluator decides against the policies.
#[test]
fn a_plan_that_disagrees_with_its_policies_is_refuted() {
    let source = "schema { agent { team: String } resource Doc { owner: String } action read on Doc }
task Work() { scope { read on Doc } ttl 1h }
policy team_a_reads: permit read on Doc when agent.team == \"a\" grant ttl 5m
";
    let set = PolicySet::from_sources(&[("p.mandate", source)], Limits::default()).expect("checks");
    let theorem = |set: &PolicySet| {
        check(set, &ProveOptions::default())
            .into_iter()
            .find(|report| report.name == "the compiled graph decides as the policies say")
            .expect("reported")
            .verdict
    };
    assert_eq!(theorem(&set).word(), "proved");
    let mut plan = set.plan().clone();
    let key = plan.keys.iter_mut().find(|key| **key == Key::Str("a".into())).expect("the key \"a\"");
    *key = Key::Str("b".into());
    let tampered = set.with_plan(plan);
    let Verdict::Refuted { request, decision, .. } = theorem(&tampered) else { panic!("not refuted") };
    // The tampered graph allows team b, or refuses team a: either way not what the policy says.
    let team = request.agent.as_ref().unwrap().attrs["team"].as_str().unwrap().to_string();
    assert_eq!(tampered.decide_doc(&request, false).decision, decision.decision);
    assert_eq!(decision.decision == Outcome::Allow, team != "a", "team {team}: {decision:?}");
}

/// Packages of 50 to 80 policies anchored on one attribute (labels, or path patterns),
/// which the compiler builds into index nodes, with a fifth of the conditions (and of the
/// assertions) quantifiers over the labels or built-in string functions, checked like the
/// others against a domain that varies what the anchors read: the graph must be proved to decide as the
/// policies say (translation validation reads index nodes back), every verdict must hold
/// on the domain, and every counterexample must reproduce.
#[test]
fn index_nodes_are_proved_against_the_domain() {
    const SCHEMA: &str = r#"schema {
  resource Doc { owner: String, tags: Set<String>, path: String }
  action read, update on Doc
}
task Work() { scope { [read, update] on Doc } ttl 1h }
"#;
    const PATHS: [&str; 7] = ["/p1/x", "/p2/y.3", "/p12/z", "q/p3", "", "/p3/p1", "/P1/X"];
    let anchor = (any::<bool>(), 0..6usize, 0..4usize).prop_map(|(members, n, form)| match (members, form) {
        (true, 0) => format!("resource.tags contains \"t{n}\""),
        (true, _) => format!("\"t{n}\" in resource.tags"),
        (false, 0) => format!("resource.path starts_with \"/p{n}\""),
        (false, 1) => format!("resource.path ends_with \".{n}\""),
        (false, 2) => format!("resource.path contains \"p{n}\""),
        (false, _) => format!("resource.path matches \"/p{n}/*\""),
    });
    // Quantifiers the compiler rewrites into memberships and dualities, ones it keeps as
    // tests, and the built-in functions: the verdicts must hold all the same.
    let extra = (0..6usize, 0..7usize).prop_map(|(n, form)| match form {
        0 => format!("any(x in resource.tags: x == \"t{n}\")"),
        1 => format!("all(x in resource.tags: x != \"t{n}\")"),
        2 => format!("any(x in resource.tags: not (x in [\"t{n}\", \"t1\"]))"),
        3 => format!("all(x in resource.tags: x in [\"t{n}\", \"t2\"])"),
        4 => format!("len(resource.tags) >= {}", n % 3),
        5 => format!("lower(resource.path) starts_with \"/p{n}\""),
        _ => format!("len(split(resource.path, \"/\")) > {}", n % 3),
    });
    let anchor = prop_oneof![4 => anchor, 1 => extra];
    let policy = (anchor.clone(), prop::sample::select(vec!["permit", "permit", "forbid", "escalate"]), 0..6usize)
        .prop_map(|(anchor, effect, form)| match form {
            0 => format!("{effect} read on Doc unless {anchor}"),
            1 => format!("{effect} [read, update] on Doc when {anchor} and resource.owner == \"a\""),
            2 => format!("{effect} read on Doc when resource.owner == \"b\""),
            _ => format!("{effect} read on Doc when {anchor}"),
        });
    let package = (prop::collection::vec(policy, 50..80), anchor, prop::sample::select(vec!["permit", "escalate"]))
        .prop_map(|(policies, asserted, effect)| {
            let mut text = SCHEMA.to_string();
            for (index, policy) in policies.iter().enumerate() {
                let grant = if policy.starts_with("permit") { " grant ttl 5m" } else { "" };
                text.push_str(&format!("policy p{index}: {policy}{grant}\n"));
            }
            text.push_str(&format!("assert checked: never {effect} read on Doc when {asserted}\n"));
            text
        });
    let mut requests: Vec<RequestDoc> = Vec::new();
    for mask in 0..16u32 {
        let tags: Vec<String> =
            (0..4).filter(|bit| mask & (1 << bit) != 0).map(|bit| format!("t{}", bit + 1)).collect();
        for path in PATHS {
            for owner in ["a", "b"] {
                for action in ["read", "update"] {
                    let doc = json!({
                        "agent": {"id": "x"}, "chain": ["s"],
                        "task": {"kind": "Work", "id": "t", "start": "2026-01-05T09:30:00Z", "deadline": "2026-01-05T10:30:00Z"},
                        "action": action,
                        "resource": {"type": "Doc", "id": "d", "attrs": {"owner": owner, "tags": tags, "path": path}},
                        "context": {"time": "2026-01-05T10:00:00Z"}
                    });
                    requests.push(serde_json::from_value(doc).expect("request"));
                }
            }
        }
    }
    let indexed = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config { cases: 40, failure_persistence: None, ..Config::default() });
    runner
        .run(&package, |source| {
            let set = PolicySet::from_sources(&[("index.mandate", &source)], Limits::default()).expect("checks");
            indexed.set(indexed.get() + usize::from(!set.plan().tables.is_empty()));
            let reports = check(&set, &ProveOptions::default());
            let translation = reports.iter().find(|report| report.name.contains("decides as")).expect("translation");
            prop_assert_eq!(translation.verdict.word(), "proved", "{:?}\n{}", translation.verdict, source);
            let assertion = set.hir().assertions.first().expect("one assertion");
            let violation = requests.iter().find(|doc| {
                let targeted =
                    assertion.targets.iter().any(|target| Some(target.action.as_str()) == doc.action.as_deref());
                let request = set.prepare(doc).expect("valid request");
                let holds = Evaluator::new(&request, 100_000).truth(&assertion.condition).expect("evaluates");
                targeted && holds && violates(assertion.effect, &set.decide(&request))
            });
            let report = reports.iter().find(|report| report.name == "checked").expect("the assertion's report");
            match &report.verdict {
                Verdict::Proved | Verdict::NotApplicable { .. } => {
                    prop_assert!(violation.is_none(), "proved, but violated:\n{source}\n{violation:?}")
                }
                Verdict::Refuted { request, .. } => {
                    prop_assert!(
                        violates(assertion.effect, &set.decide_doc(request, false)),
                        "does not reproduce:\n{source}"
                    )
                }
                Verdict::Unknown { .. } => {}
            }
            check_lints(&set, &requests, &source)?;
            Ok(())
        })
        .unwrap();
    // About three packages in four get index nodes; the cases are random, so the bound
    // leaves room (28 of 40 has been seen) while still failing if indexing stops.
    assert!(indexed.get() >= 20, "only {} of 40 packages have index nodes", indexed.get());
}

/// Tool arguments as tools send them: a set of recipients and an optional one, strings,
/// a date given as a string, task parameters (one optional), and a composite task.
const TOOL_SCHEMA: &str = r#"schema {
  agent { team: String }
  resource Mailbox { owner: String }
  action send(to: Set<String>, cc?: Set<String>, subject: String, due?: String, headers?: Map<String, String>) on Mailbox
}
"#;

/// A condition over [`TOOL_SCHEMA`] for policies and assertions: every task parameter
/// behind the guard that makes it readable.
fn tool_condition() -> impl Strategy<Value = String> {
    let atoms = [
        "(task is Mail and all(x in args.to: x in task.allowed))",
        "(task is Both and all(x in args.to: x in task.allowed))",
        "(task is Mail and args has due and date(args.due) <= task.until)",
        "(task is Notify and args.subject starts_with task.prefix)",
        "(task is Notify and task has note)",
        "any(x in args.to: x == \"b\")",
        "\"a\" in args.to",
        "len(args.to) > 1",
        "(args has cc and args.cc != [])",
        "not (args has cc)",
        "(args has cc and any(x in args.cc: x starts_with \"c\"))",
        "(args has cc and all(x in args.cc: x in args.to))",
        "lower(args.subject) == \"hi\"",
        "args.subject starts_with \"re\"",
        "args.subject < \"m\"",
        "(args has due and date(args.due) <= date(context.time))",
        "(args has due and timestamp(args.due) > context.time + 1h)",
        "resource.owner == agent.team",
        "chain.depth > 0",
        "task is Both",
        "(args has headers and args.headers has \"x\" and args.headers[\"x\"] == agent.team)",
        "(args has headers and \"a\" in values(args.headers))",
        "(args has headers and args.headers has (agent.team))",
    ];
    let atom = prop::sample::select(atoms.to_vec()).prop_map(str::to_string);
    combinations(atom)
}

/// A scope condition for one task kind, over its own parameters.
fn tool_scope(atoms: &'static [&'static str]) -> impl Strategy<Value = String> {
    let atom = prop::sample::select(atoms.to_vec()).prop_map(str::to_string);
    atom.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| format!("not ({c})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a} and {b})")),
        ]
    })
}

fn tool_package() -> impl Strategy<Value = String> {
    let mail = tool_scope(&[
        "all(x in args.to: x in allowed)",
        "not (args has cc)",
        "(args has due and date(args.due) <= until)",
        "len(args.to) <= 1",
        "\"a\" in args.to",
    ]);
    let notify = tool_scope(&[
        "args.subject starts_with prefix",
        "task has note",
        "lower(args.subject) == \"hi\"",
        "args.subject < \"m\"",
    ]);
    let policy = (effect(), prop::option::of(tool_condition()));
    (mail, notify, prop::collection::vec(policy, 1..5), prop::sample::select(vec!["permit", "escalate", "forbid"]), tool_condition())
        .prop_map(|(mail, notify, policies, asserted, condition)| {
            let mut text = format!(
                "{TOOL_SCHEMA}task Mail(allowed: Set<String>, until: Date) {{\n  scope {{ send on Mailbox where {mail} }}\n  ttl 1h\n  delegate depth <= 1\n}}\n\
                 task Notify(prefix: String, note?: String) {{\n  scope {{ send on Mailbox where {notify} }}\n  ttl 30m\n}}\n\
                 task Both = Mail + Notify\n"
            );
            for (index, (effect, condition)) in policies.into_iter().enumerate() {
                text.push_str(&format!("policy p{index}: {effect} send on Mailbox"));
                if let Some(condition) = condition {
                    text.push_str(&format!(" when {condition}"));
                }
                if effect == "permit" {
                    text.push_str(" grant ttl 5m");
                }
                text.push('\n');
            }
            text.push_str(&format!("assert checked: never {asserted} send on Mailbox when {condition}\n"));
            text
        })
}

/// Every request of the tools' domain (4,320): two teams; no, one and two recipients; no,
/// an empty and one cc; three subjects; no due date, a day, a time without an offset and
/// a string that is no date; no headers and one; five task instances (two of `Mail`, two
/// of `Notify`, one of the composite); one and two links.
fn tool_domain() -> Vec<RequestDoc> {
    let tasks = [
        json!({"kind": "Mail", "params": {"allowed": ["a"], "until": "2026-01-04"}}),
        json!({"kind": "Mail", "params": {"allowed": ["a", "b"], "until": "2026-01-06"}}),
        json!({"kind": "Notify", "params": {"prefix": "re"}}),
        json!({"kind": "Notify", "params": {"prefix": "Hi", "note": "x"}}),
        json!({"kind": "Both", "params": {"allowed": ["a"], "until": "2026-01-06", "prefix": "re"}}),
    ];
    let mut requests = Vec::new();
    for team in ["a", "b"] {
        for to in [json!([]), json!(["a"]), json!(["a", "b"])] {
            for cc in [None, Some(json!([])), Some(json!(["c"]))] {
                for subject in ["Hi", "re: x", "zz"] {
                    for due in [None, Some("2026-01-05"), Some("2026-01-05 12:00"), Some("garbage")] {
                        for headers in [None, Some(json!({"x": "a"}))] {
                            for task in &tasks {
                                for chain in [vec!["s"], vec!["s", "o"]] {
                                    let mut args = json!({"to": to, "subject": subject});
                                    if let Some(cc) = &cc {
                                        args["cc"] = cc.clone();
                                    }
                                    if let Some(due) = due {
                                        args["due"] = json!(due);
                                    }
                                    if let Some(headers) = &headers {
                                        args["headers"] = headers.clone();
                                    }
                                    let mut task = task.clone();
                                    task["id"] = json!("t");
                                    task["start"] = json!("2026-01-05T09:45:00Z");
                                    task["deadline"] = json!("2026-01-05T10:10:00Z");
                                    let doc = json!({
                                        "agent": {"id": "x", "attrs": {"team": team}},
                                        "chain": chain,
                                        "task": task,
                                        "action": "send",
                                        "args": args,
                                        "resource": {"type": "Mailbox", "id": "m", "attrs": {"owner": "a"}},
                                        "context": {"time": "2026-01-05T10:00:00Z"}
                                    });
                                    requests.push(serde_json::from_value(doc).expect("request"));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    requests
}

/// The prover over tool arguments, against brute force on [`tool_domain`]: a proved
/// assertion has no violating request, a refuted one replays, the graph decides as the
/// policies say, and a request whose due date is no date is never allowed.
#[test]
fn tool_argument_proofs_hold_in_their_domain() {
    let requests = tool_domain();
    assert_eq!(requests.len(), 4_320);
    let counts = std::cell::Cell::new([0usize; 3]);
    let count = |index: usize| {
        let mut current = counts.get();
        current[index] += 1;
        counts.set(current);
    };
    let invalid = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config { cases: 150, failure_persistence: None, ..Config::default() });
    runner
        .run(&tool_package(), |source| {
            let set = PolicySet::from_sources(&[("p.mandate", &source)], Limits::default())
                .unwrap_or_else(|error| panic!("generated package does not check:\n{source}\n{}", error.render()));
            let reports = check(&set, &ProveOptions::default());
            prop_assert_eq!(reports[0].verdict.word(), "proved", "the compiled graph differs:\n{}", source);
            let named = |name: &str| reports.iter().find(|report| report.name == name).expect("theorem reported");
            prop_assert_eq!(named("intent containment").verdict.word(), "proved", "intent containment:\n{}", source);
            let assertion = &set.hir().assertions[0];
            let mut violation = None;
            for doc in &requests {
                let Ok(request) = set.prepare(doc) else {
                    // Invalid (a due date the policies read that is no date): never allowed.
                    prop_assert_eq!(set.decide_doc(doc, false).decision, Outcome::Deny);
                    invalid.set(invalid.get() + 1);
                    continue;
                };
                let decision = set.decide(&request);
                // An assertion covers the requests its condition holds for; one it cannot
                // read (a due date that no policy reads, so validation let it through, and
                // that is no date) it does not cover.
                let holds = match Evaluator::new(&request, 100_000).truth(&assertion.condition) {
                    Ok(holds) => holds,
                    Err(_) if doc.args.get("due") == Some(&json!("garbage")) => false,
                    Err(error) => panic!("the assertion does not evaluate: {error:?}\n{source}"),
                };
                if holds && violates(assertion.effect, &decision) && violation.is_none() {
                    violation = Some(doc.clone());
                }
            }
            count(assertion_verdict(&set, assertion.effect, &named("checked").verdict, violation.as_ref(), &source)?);
            Ok(())
        })
        .unwrap();
    let counts = counts.get();
    assert!(counts[0] > 0 && counts[1] > 0, "proved, refuted, unknown: {counts:?}");
    assert!(invalid.get() > 0, "no package read a due date that is no date");
}
