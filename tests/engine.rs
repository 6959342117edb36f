//! The embedding API: thread safety, hot reload, a serializable plan, and limits that
//! deny instead of running away.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use mandate::compile::Plan;
use mandate::eval::{Engine, Limits, Outcome, PolicySet, RequestDoc};

const SCHEMA: &str = r#"schema {
  resource Doc { owner: String, tags: Set<String> }
  action read on Doc
}
task Review(owner: String) {
  scope { read on Doc where resource.owner == task.owner }
  ttl 1h
}
"#;

const PERMIT: &str = "policy readers: permit read on Doc when agent.id == \"a1\" grant ttl 10m";
const FORBID: &str = "policy nobody: forbid read on Doc";

fn request() -> RequestDoc {
    serde_json::from_str(
        r#"{"agent": {"id": "a1"}, "chain": ["alice@example.com"],
            "task": {"kind": "Review", "id": "t1", "start": "2026-11-30T09:00:00Z", "deadline": "2026-11-30T10:00:00Z", "params": {"owner": "bob"}},
            "action": "read", "resource": {"type": "Doc", "id": "d1", "attrs": {"owner": "bob", "tags": ["x", "y"]}},
            "context": {"time": "2026-11-30T09:30:00Z"}}"#,
    )
    .expect("request JSON")
}

fn engine(policies: &str) -> Engine {
    Engine::from_sources(&[("schema.mandate", SCHEMA), ("policies.mandate", policies)]).expect("policies check")
}

fn set(policies: &str, limits: Limits) -> PolicySet {
    PolicySet::from_sources(&[("schema.mandate", SCHEMA), ("policies.mandate", policies)], limits)
        .expect("policies check")
}

#[test]
fn engines_and_policy_sets_are_shareable() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Engine>();
    shareable::<PolicySet>();
    shareable::<Plan>();
}

#[test]
fn replacing_the_policy_set_is_seen_by_every_clone() {
    let engine = engine(PERMIT);
    let clone = engine.clone();
    assert_eq!(clone.decide(&request()).decision, Outcome::Allow);
    engine.replace(set(FORBID, Limits::default()));
    assert_eq!(clone.decide(&request()).decision, Outcome::Deny);
    assert_eq!(clone.decide(&request()).policies.forbid, vec![std::sync::Arc::from("nobody")]);
}

#[test]
fn a_failed_reload_keeps_the_current_policies() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("schema.mandate"), SCHEMA).expect("write");
    std::fs::write(dir.path().join("policies.mandate"), PERMIT).expect("write");
    let engine = Engine::load(dir.path()).expect("loads");
    assert_eq!(engine.decide(&request()).decision, Outcome::Allow);

    std::fs::write(dir.path().join("policies.mandate"), "policy broken: permit read on Doc when agent.idd == \"a1\"")
        .expect("write");
    let error = engine.reload(dir.path()).expect_err("the new policies do not check");
    assert!(error.render().contains("mandate::resolve::unknown_attribute"), "{}", error.render());
    assert_eq!(engine.decide(&request()).decision, Outcome::Allow);

    std::fs::write(dir.path().join("policies.mandate"), FORBID).expect("write");
    engine.reload(dir.path()).expect("reloads");
    assert_eq!(engine.decide(&request()).decision, Outcome::Deny);
}

#[test]
fn decisions_from_many_threads_agree() {
    let engine = engine(PERMIT);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let engine = engine.clone();
            std::thread::spawn(move || (0..200).map(|_| engine.decide(&request()).decision).collect::<Vec<_>>())
        })
        .collect();
    for handle in handles {
        assert!(handle.join().expect("thread").iter().all(|outcome| *outcome == Outcome::Allow));
    }
}

#[test]
fn a_plan_survives_serialization() {
    let original = set(PERMIT, Limits::default());
    let json = serde_json::to_string(original.plan()).expect("serializes");
    let mut plan: Plan = serde_json::from_str(&json).expect("deserializes");
    plan.reindex();
    assert_eq!(serde_json::to_string(&plan).expect("serializes"), json);
    assert_eq!(plan.stats(), original.plan().stats());
}

#[test]
fn the_step_limit_denies_expensive_requests() {
    let policies = "policy quantified: permit read on Doc when all(t in resource.tags: any(u in resource.tags: t != u or t == u)) grant ttl 10m";
    let generous = set(policies, Limits::default());
    assert_eq!(generous.decide_doc(&request(), false).decision, Outcome::Allow);
    let strict = set(policies, Limits { max_eval_steps: 5, ..Limits::default() });
    let decision = strict.decide_doc(&request(), false);
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(decision.reasons[0].code, "evaluation_error");
}

#[test]
fn oversized_and_malformed_requests_are_denied_with_errors() {
    let strict = set(PERMIT, Limits { max_request_bytes: 100, ..Limits::default() });
    let text = serde_json::to_string(&request()).expect("serializes");
    let decision = strict.decide_json(&text, false);
    assert_eq!((decision.decision, decision.errors[0].code.as_str()), (Outcome::Deny, "too_large"));
    let decision = strict.decide_json("{\"action\": ", false);
    assert_eq!((decision.decision, decision.errors[0].code.as_str()), (Outcome::Deny, "malformed_request"));
}

#[test]
fn every_validation_problem_is_reported_with_its_path() {
    let set = set(PERMIT, Limits::default());
    let mut doc = request();
    doc.action = Some("raed".to_string());
    doc.chain.clear();
    doc.resource.as_mut().expect("resource").attrs.insert("ownr".to_string(), serde_json::json!("bob"));
    let decision = set.decide_doc(&doc, false);
    assert_eq!(decision.decision, Outcome::Deny);
    let mut paths: Vec<(&str, &str)> = decision.errors.iter().map(|e| (e.path.as_str(), e.code.as_str())).collect();
    paths.sort();
    assert_eq!(
        paths,
        vec![("action", "unknown_action"), ("chain", "missing_part"), ("resource.attrs.ownr", "unknown_attribute")]
    );
}

#[test]
fn the_builder_makes_the_same_request_as_json() {
    let built = RequestDoc::builder("read")
        .agent("a1")
        .chain(["alice@example.com"])
        .task("Review", "t1", "2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z")
        .param("owner", "bob")
        .resource("Doc", "d1")
        .attr("owner", "bob")
        .attr("tags", serde_json::json!(["x", "y"]))
        .time("2026-11-30T09:30:00Z")
        .build();
    assert_eq!(built, request());
    assert_eq!(engine(PERMIT).decide(&built).decision, Outcome::Allow);
}

#[test]
fn a_tiny_node_budget_splits_diagrams_without_changing_decisions() {
    let policies =
        "policy a: permit read on Doc when agent.id in [\"a1\", \"a2\"] and resource.owner == \"bob\" grant ttl 10m\n\
                    policy b: forbid read on Doc when agent.id == \"a3\"\n\
                    policy c: escalate read on Doc when \"y\" in resource.tags and agent.id == \"a2\"";
    let roomy = set(policies, Limits::default());
    let cramped = set(
        policies,
        Limits { compile: mandate::compile::Options { node_budget: 4, ..Default::default() }, ..Limits::default() },
    );
    let roots = |set: &PolicySet| set.plan().partitions.iter().map(|p| p.roots.len()).sum::<usize>();
    assert!(roots(&cramped) > roots(&roomy), "the budget should split the policies into more diagrams");
    for agent in ["a1", "a2", "a3", "a4"] {
        let mut doc = request();
        doc.agent.as_mut().expect("agent").id = agent.to_string();
        let (expected, actual) = (roomy.decide_doc(&doc, false), cramped.decide_doc(&doc, false));
        assert_eq!(expected, actual, "agent {agent}");
    }
}

/// Every decision fixture decides the same with a budget so small that nearly every
/// policy is compiled on its own, or as a single test of its whole condition.
#[test]
fn decision_fixtures_hold_under_a_tiny_budget() {
    let cramped_limits =
        Limits { compile: mandate::compile::Options { node_budget: 6, ..Default::default() }, ..Limits::default() };
    let mut checked = 0;
    for entry in std::fs::read_dir("tests/fixtures/eval").expect("fixtures").flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read fixture");
        let mut lines = text.lines();
        let header: serde_json::Value = serde_json::from_str(lines.next().expect("header")).expect("JSON");
        let package = std::path::Path::new(header["package"].as_str().expect("package"));
        let roomy = PolicySet::load(package, Limits::default()).expect("checks");
        let cramped = PolicySet::load(package, cramped_limits).expect("checks");
        for line in lines {
            let case: serde_json::Value = serde_json::from_str(line).expect("JSON");
            let doc: RequestDoc = serde_json::from_value(case["request"].clone()).expect("request");
            assert_eq!(roomy.decide_doc(&doc, false), cramped.decide_doc(&doc, false), "{}", case["name"]);
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} cases");
}

/// Inlining copies a function's argument at every use; nested calls that would grow
/// without bound are refused with a diagnostic instead of exhausting memory.
#[test]
fn inlining_that_would_explode_is_refused() {
    let doubling = "fn d(x: Int) -> Int { x + x }\n";
    let nested = format!("{}1{}", "d(".repeat(40), ")".repeat(40));
    let policies = format!("{doubling}policy big: forbid read on Doc when {nested} > 0");
    let error =
        PolicySet::from_sources(&[("schema.mandate", SCHEMA), ("policies.mandate", &policies)], Limits::default())
            .expect_err("too large to inline");
    assert!(error.render().contains("mandate::compile::unsupported"), "{}", error.render());

    let shallow = format!("{doubling}policy small: forbid read on Doc when d(d(1)) > 0");
    PolicySet::from_sources(&[("schema.mandate", SCHEMA), ("policies.mandate", &shallow)], Limits::default())
        .expect("small inlining is fine");
}

/// With the whole compilation's budget spent, every policy is compiled as one test of its
/// condition, and decisions do not change.
#[test]
fn a_spent_total_budget_still_compiles_every_policy() {
    let policies =
        "policy a: permit read on Doc when agent.id in [\"a1\", \"a2\"] and resource.owner == \"bob\" grant ttl 10m\n\
                    policy b: forbid read on Doc when agent.id == \"a3\"";
    let roomy = set(policies, Limits::default());
    let spent = set(
        policies,
        Limits { compile: mandate::compile::Options { node_budget: 1_000, total_budget: 0 }, ..Limits::default() },
    );
    assert!(spent.plan().tests.len() >= 2, "each policy should become a single test");
    for agent in ["a1", "a2", "a3", "a4"] {
        let mut doc = request();
        doc.agent.as_mut().expect("agent").id = agent.to_string();
        assert_eq!(roomy.decide_doc(&doc, false), spent.decide_doc(&doc, false), "agent {agent}");
    }
}

/// A caller cannot stretch a task: its deadline is never past its start plus its ttl.
#[test]
fn the_task_ttl_caps_the_deadline_a_request_claims() {
    let set = set(PERMIT, Limits::default());
    let mut doc = request();
    let task = doc.task.as_mut().expect("task");
    task.deadline = "2262-01-01T00:00:00Z".to_string();
    // Review's ttl is 1h from 09:00, so at 09:30 the credential has 30 minutes at most.
    let decision = set.decide_doc(&doc, false);
    assert_eq!(decision.decision, Outcome::Allow);
    assert_eq!(decision.obligations.expect("obligations").ttl_ms, 10 * 60_000); // milliseconds
    doc.context.insert("time".to_string(), serde_json::json!("2026-11-30T10:30:00Z"));
    let decision = set.decide_doc(&doc, false);
    assert_eq!((decision.decision, decision.reasons[0].code.as_str()), (Outcome::Deny, "task_expired"));

    let mut backwards = request();
    backwards.task.as_mut().expect("task").deadline = "2026-11-30T08:00:00Z".to_string();
    let decision = set.decide_doc(&backwards, false);
    assert_eq!((decision.decision, decision.errors[0].code.as_str()), (Outcome::Deny, "invalid_value"));
}

/// Requests past the limits on maps and on the resources of one request are invalid,
/// at the boundary and beyond it, and never allowed.
#[test]
fn maps_and_resource_lists_past_their_limits_are_invalid() {
    let schema = r#"schema {
  resource Doc { owner: String }
  action merge(labels: Map<String, String>) on Set<Doc>
}
task Tidy() { scope { merge on Doc } ttl 1h }
policy tidy: permit merge on Doc grant ttl 5m
"#;
    let limits = Limits::default();
    let set = PolicySet::from_sources(&[("p.mandate", schema)], limits).expect("checks");
    let request = |labels: usize, docs: usize| -> RequestDoc {
        let labels: serde_json::Map<String, serde_json::Value> =
            (0..labels).map(|i| (format!("k{i}"), serde_json::json!("v"))).collect();
        let docs: Vec<serde_json::Value> = (0..docs)
            .map(|i| serde_json::json!({"type": "Doc", "id": format!("d{i}"), "attrs": {"owner": "x"}}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "agent": {"id": "a"}, "chain": ["s"],
            "task": {"kind": "Tidy", "id": "t", "start": "2026-11-30T09:00:00Z", "deadline": "2026-11-30T10:00:00Z"},
            "action": "merge", "args": {"labels": labels}, "resources": docs,
            "context": {"time": "2026-11-30T09:30:00Z"}
        }))
        .expect("a request")
    };
    let (max_keys, max_resources) = (limits.request.max_set_elements, limits.request.max_resources);
    let code = |doc: &RequestDoc| {
        let decision = set.decide_doc(doc, false);
        (decision.decision, decision.errors.first().map(|error| (error.path.clone(), error.code.clone())))
    };
    assert_eq!(code(&request(max_keys, max_resources)), (Outcome::Allow, None));
    assert_eq!(code(&request(0, 1)), (Outcome::Allow, None));
    let too_many_keys = code(&request(max_keys + 1, 1));
    assert_eq!(too_many_keys, (Outcome::Deny, Some(("args.labels".to_string(), "too_large".to_string()))));
    let too_many_docs = code(&request(1, max_resources + 1));
    assert_eq!(too_many_docs, (Outcome::Deny, Some(("resources".to_string(), "too_large".to_string()))));
}
