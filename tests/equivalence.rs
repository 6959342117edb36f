//! The compiled decision graph gives exactly the decision `docs/semantics.md` defines.
//!
//! The evaluator (`src/eval/`) never interprets policies directly: it walks the decision
//! graph that `src/compile/` builds, which reorders tests, shares them between policies
//! and tests each attribute once. `support/reference.rs` holds an independent reference
//! interpreter, [`reference_decide`], that follows `docs/semantics.md` rule by rule: policy
//! by policy, with its own small recursive evaluator for HIR expressions (it does not
//! call `mandate::eval`). The property test generates random policy packages as Mandate
//! source text over a fixed schema (`support/generate.rs`), random requests drawn from
//! small value pools (so that conditions often match), and checks that the graph and the
//! reference agree on the outcome, the applicable policies, the reason code and the
//! obligations. The `graph` fuzz target runs the same check on fuzzed tapes.
//!
//! Numbers: `compiled_graph_matches_reference` runs 4,000 random packages (two randomly
//! generated tasks and 1 to 6 policies each) with 20 requests each, 80,000 decisions, in
//! about 8 seconds in the test profile. Requests now and then carry extreme integers and
//! decimals, negative fractions and the smallest fraction of each sign, so saturating
//! arithmetic, signs and comparisons at the ends of the 64-bit range are covered too. `generated_cases_reach_every_outcome` checks that
//! the generator reaches every reason code of the combining order, so the property is
//! not vacuous, and the deterministic tests at the end pin down edge cases by name.
//!
//! The reference reads the same HIR as the graph, so it cannot see a lowering mistake;
//! `check_lowering` covers the one lowering rewrite that could hide one (operands the
//! checker skipped become `false`). When the graph and the reference disagree, the
//! failure shows the package, the request and both decisions.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::collections::BTreeMap;

use mandate::eval::decision::{Decision, Outcome};
use mandate::eval::{PolicySet, RequestDoc};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use serde_json::json;

mod support;

use support::generate::{check_case, check_lowering, fixed_tape, load, Gen, Tape, REQUESTS_PER_PACKAGE, SCHEMA};
use support::reference::{compare, glob, reference_decide, sorted_names};

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4000,
        max_shrink_iters: 1000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn compiled_graph_matches_reference(tape in proptest::collection::vec(any::<u8>(), 256..3072).prop_map(Tape)) {
        check_case(&tape.0).map_err(TestCaseError::fail)?;
    }
}

/// The generator reaches every step of the combining order, so the property test above
/// is not vacuous: each reason code comes up, and a fair share of requests is allowed.
#[test]
fn generated_cases_reach_every_outcome() {
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut total = 0;
    let mut with_dead_operands = 0;
    let (mut indexed_packages, mut entries_taken) = (0, 0);
    let packages = 150;
    for seed in 0..packages {
        let tape = fixed_tape(seed, 3072);
        let mut gen = Gen::new(&tape);
        let source = gen.package();
        let set = load(&source);
        if gen.dead_operands {
            with_dead_operands += 1;
        } else {
            check_lowering(set.hir(), &source).unwrap();
        }
        indexed_packages += usize::from(!set.plan().tables.is_empty());
        for _ in 0..REQUESTS_PER_PACKAGE {
            let (doc, now) = gen.request();
            let request = set.prepare_at(&doc, now).expect("a valid request");
            let reference = reference_decide(set.hir(), &request);
            *codes.entry(reference.code.to_string()).or_default() += 1;
            total += 1;
            let walks = set.explain(&request).explanation.unwrap_or_default();
            let taken =
                walks.iter().flat_map(|walk| &walk.steps).filter(|step| step.branch.contains("tests hold")).count();
            entries_taken += taken;
        }
    }
    eprintln!("reference reason codes over {total} generated requests: {codes:?}");
    eprintln!("{with_dead_operands} of {packages} packages have operands the checker skips");
    eprintln!(
        "{indexed_packages} of {packages} packages have index nodes; {entries_taken} index steps let entries through"
    );
    assert!(
        indexed_packages as u64 * 10 >= packages,
        "only {indexed_packages} of {packages} packages have index nodes"
    );
    assert!(entries_taken >= 100, "index entries were taken only {entries_taken} times");
    assert!(
        (packages / 20..packages / 2).contains(&with_dead_operands),
        "{with_dead_operands} of {packages} packages have operands the checker skips"
    );
    for code in [
        "no_task",
        "task_expired",
        "task_not_started",
        "no_applicable_policy",
        "forbidden",
        "preconditions_failed",
        "delegation_exceeded",
        "outside_intent",
        "escalated",
        "permitted",
        "no_permit",
    ] {
        let count = codes.get(code).copied().unwrap_or(0);
        assert!(count * 200 >= total, "only {count} of {total} requests end in `{code}`: {codes:?}");
    }
    assert!(!codes.contains_key("broken"), "the reference hit an impossible state: {codes:?}");
}

// ------------------------------------------------------------------------------------
// Deterministic edge cases
// ------------------------------------------------------------------------------------

const EDGE_PACKAGE: &str = r#"
task Triage(owner: String, level: Int, max_class: Class) {
  require level >= 1
  scope {
    [read, update] on Doc where resource.owner == task.owner,
    [read, update] on Ticket,
  }
  delegate depth <= 1 to agent.team == "support"
}

task Refund(ticket: String, cap: Decimal) {
  require cap > 0.0
  scope { pay on Ticket where resource.number == task.ticket and args.amount <= task.cap }
}

policy owners_read:
  permit read on Doc
  when task is Triage and resource.owner == task.owner
  grant {
    ttl 1h
    tags ["pii", "audit", "pii"]
    message "owner read"
  }

policy small_docs:
  permit [read, update] on Doc
  when resource.size < 10
  grant {
    ttl 45m
    tags ["audit"]
    message "small doc"
  }

policy no_secrets:
  forbid [read, update] on Doc
  when resource.class == secret

policy big_payments:
  escalate pay on Ticket
  when args.amount > 100.0

policy pays:
  permit pay on Ticket
  when task is Refund
  grant ttl 10m

policy us_agents_keep_out:
  forbid read on Ticket
  when agent has region and agent.region == "us"

policy ticket_reads:
  permit read on Ticket
  grant ttl 2m

policy huge_prices:
  forbid update on Doc
  when resource.price * 1000 > 1000000.0

policy huge_docs:
  forbid update on Doc
  when resource.size >= 1000

// `resource is Ticket` rules out the only environment, so the checker never checks
// what follows it; the package must still load, and the policy never applies.
policy never_applies:
  permit read on Doc
  when resource is Ticket and resource.owner == "bob"
  grant ttl 5m

policy exhaustive_search:
  permit update on Ticket
  unless any(a in resource.labels: any(b in resource.labels: any(c in resource.labels: a == "x")))
  grant ttl 1m
"#;

fn edge_set() -> PolicySet {
    load(&format!("{SCHEMA}{EDGE_PACKAGE}"))
}

const START: &str = "2026-11-30T10:00:00Z";
const DEADLINE: &str = "2026-11-30T10:30:00Z";

fn edge_request(task: Option<serde_json::Value>, action: &str, resource: serde_json::Value) -> serde_json::Value {
    let mut doc = json!({
        "agent": { "id": "a1", "attrs": { "team": "support", "name": "alice", "level": 1, "trusted": true } },
        "chain": ["alice"],
        "action": action,
        "resource": resource,
        "context": { "network": "corp", "time": "2026-11-30T10:05:00Z" },
    });
    if let Some(task) = task {
        doc["task"] = task;
    }
    doc
}

fn triage() -> serde_json::Value {
    json!({
        "kind": "Triage", "id": "t1", "start": START, "deadline": DEADLINE,
        "params": { "owner": "alice", "level": 2, "max_class": "secret" },
    })
}

fn doc_resource(class: &str, size: i64) -> serde_json::Value {
    json!({ "type": "Doc", "id": "d1", "attrs": {
        "owner": "alice", "path": "/kb/a", "size": size, "price": "1.0", "class": class,
        "archived": false, "labels": [],
    } })
}

fn ticket_resource(number: &str) -> serde_json::Value {
    json!({ "type": "Ticket", "id": "k1", "attrs": {
        "owner": "bob", "number": number, "size": 1, "price": "1.0", "class": "public", "labels": ["pii"],
    } })
}

/// Decides a request with the graph and the reference, checks they agree and returns
/// the graph's decision.
fn decide_both(set: &PolicySet, doc: serde_json::Value) -> Decision {
    let doc: RequestDoc = serde_json::from_value(doc).expect("a well-formed request document");
    let request = set.prepare_at(&doc, 0).expect("a valid request");
    let reference = reference_decide(set.hir(), &request);
    let actual = set.decide(&request);
    if let Err(problems) = compare(&reference, &actual) {
        panic!("{problems}\n{}", actual.to_text());
    }
    actual
}

fn code(decision: &Decision) -> &str {
    decision.reasons[0].code.as_str()
}

#[test]
fn request_without_a_task_is_denied_no_task() {
    let set = edge_set();
    let decision = decide_both(&set, edge_request(None, "read", doc_resource("public", 1)));
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "no_task");
    assert!(decision.policies.permit.is_empty());
}

#[test]
fn request_after_the_deadline_is_denied_task_expired() {
    let set = edge_set();
    let mut doc = edge_request(Some(triage()), "read", doc_resource("public", 1));
    doc["context"]["time"] = json!("2026-11-30T10:30:00.001Z");
    let decision = decide_both(&set, doc);
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "task_expired");
    // The deadline is exclusive, to the nanosecond: at it, or a microsecond past it, the
    // task has expired; a nanosecond before, it is alive.
    for late in [DEADLINE, "2026-11-30T10:30:00.000001Z", "2026-11-30T10:30:00.000999Z"] {
        let mut doc = edge_request(Some(triage()), "read", doc_resource("public", 1));
        doc["context"]["time"] = json!(late);
        let decision = decide_both(&set, doc);
        assert_eq!(code(&decision), "task_expired", "at {late}");
    }
    let mut doc = edge_request(Some(triage()), "read", doc_resource("public", 1));
    doc["context"]["time"] = json!("2026-11-30T10:29:59.999999999Z");
    let decision = decide_both(&set, doc);
    assert_eq!(decision.decision, Outcome::Allow);
    let obligations = decision.obligations.as_ref().unwrap();
    assert_eq!(obligations.ttl_ms, 0);
    assert_eq!(obligations.expires_at.to_string(), DEADLINE);
}

#[test]
fn forbid_beats_permit_and_both_are_listed() {
    let set = edge_set();
    let decision = decide_both(&set, edge_request(Some(triage()), "read", doc_resource("secret", 1)));
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "forbidden");
    assert_eq!(sorted_names(&decision.policies.forbid), ["no_secrets"]);
    assert_eq!(sorted_names(&decision.policies.permit), ["owners_read", "small_docs"]);
    assert!(decision.obligations.is_none());
}

#[test]
fn escalate_outside_the_task_scope_is_denied_outside_intent() {
    let set = edge_set();
    let refund = json!({
        "kind": "Refund", "id": "t2", "start": START, "deadline": DEADLINE,
        "params": { "ticket": "T-1", "cap": "500.0" },
    });
    let mut doc = edge_request(Some(refund), "pay", ticket_resource("T-2"));
    doc["args"] = json!({ "amount": "250.0" });
    let decision = decide_both(&set, doc.clone());
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "outside_intent");
    assert_eq!(sorted_names(&decision.policies.escalate), ["big_payments"]);
    assert_eq!(sorted_names(&decision.policies.permit), ["pays"]);
    // Inside the scope the same request escalates.
    doc["resource"] = ticket_resource("T-1");
    let decision = decide_both(&set, doc);
    assert_eq!(decision.decision, Outcome::Escalate);
    assert_eq!(code(&decision), "escalated");
}

#[test]
fn ttl_is_clipped_by_the_deadline_and_tags_are_sorted_and_deduplicated() {
    let set = edge_set();
    let mut doc = edge_request(Some(triage()), "read", doc_resource("public", 1));
    doc["context"]["time"] = json!("2026-11-30T10:10:00Z");
    let decision = decide_both(&set, doc);
    assert_eq!(decision.decision, Outcome::Allow);
    let obligations = decision.obligations.expect("an allow carries obligations");
    // The shortest grant is 45m, but only 20m are left before the deadline.
    assert_eq!(obligations.ttl_ms, 20 * 60_000); // milliseconds
    assert_eq!(obligations.expires_at.to_string(), DEADLINE);
    assert_eq!(obligations.tags, ["audit", "pii"]);
    assert_eq!(obligations.messages, ["owner read", "small doc"]);
    // Well before the deadline the shortest grant wins.
    let mut long_task = triage();
    long_task["deadline"] = json!("2026-11-30T12:00:00Z");
    let mut doc = edge_request(Some(long_task), "read", doc_resource("public", 1));
    doc["context"]["time"] = json!(START);
    let obligations = decide_both(&set, doc).obligations.expect("an allow carries obligations");
    assert_eq!(obligations.ttl_ms, 45 * 60_000);
    assert_eq!(obligations.expires_at.to_string(), "2026-11-30T10:45:00Z");
}

#[test]
fn absent_optional_attribute_makes_its_guarded_condition_false() {
    let set = edge_set();
    let doc = edge_request(Some(triage()), "read", ticket_resource("T-1"));
    let decision = decide_both(&set, doc.clone());
    assert_eq!(decision.decision, Outcome::Allow);
    assert!(decision.policies.forbid.is_empty());
    let mut with_region = doc;
    with_region["agent"]["attrs"]["region"] = json!("us");
    let decision = decide_both(&set, with_region);
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "forbidden");
    assert_eq!(sorted_names(&decision.policies.forbid), ["us_agents_keep_out"]);
}

fn doc_priced(price: &str) -> serde_json::Value {
    let mut resource = doc_resource("public", 5);
    resource["attrs"]["price"] = json!(price);
    resource
}

#[test]
fn saturating_arithmetic_keeps_huge_amounts_huge() {
    let set = edge_set();
    // `price * 1000` overflows and saturates to the largest decimal: the forbid applies.
    let decision = decide_both(&set, edge_request(Some(triage()), "update", doc_priced("922337203685477.5807")));
    assert_eq!(code(&decision), "forbidden");
    assert_eq!(sorted_names(&decision.policies.forbid), ["huge_prices"]);
    // Saturating downwards, the smallest decimal stays small.
    let decision = decide_both(&set, edge_request(Some(triage()), "update", doc_priced("-922337203685477.5808")));
    assert_eq!(decision.decision, Outcome::Allow);
    let decision = decide_both(&set, edge_request(Some(triage()), "update", doc_priced("1.0")));
    assert_eq!(decision.decision, Outcome::Allow);
}

#[test]
fn integers_beyond_the_decimal_range_compare_by_value() {
    let set = edge_set();
    for size in [i64::MAX, 922_337_203_685_478, 1000] {
        let decision = decide_both(&set, edge_request(Some(triage()), "update", doc_resource("public", size)));
        assert_eq!(code(&decision), "forbidden", "size {size}");
        assert_eq!(sorted_names(&decision.policies.forbid), ["huge_docs"], "size {size}");
        assert!(decision.policies.permit.is_empty(), "size {size}: `small_docs` needs size < 10");
    }
}

#[test]
fn going_past_the_step_limit_denies_with_an_evaluation_error() {
    let set = edge_set();
    let labels: Vec<String> = (0..120).map(|n| format!("label-{n}")).collect();
    let mut resource = ticket_resource("T-1");
    resource["attrs"]["labels"] = json!(labels);
    // 120³ evaluations of the quantifier body are far more than 1,000,000 steps, and the
    // error names the decision's limit.
    let decision = decide_both(&set, edge_request(Some(triage()), "update", resource));
    assert_eq!(decision.decision, Outcome::Deny);
    assert_eq!(code(&decision), "evaluation_error");
    assert!(decision.reasons[0].message.contains("more than 1000000 steps"), "{}", decision.reasons[0].message);
    // With three labels the same permit applies.
    let decision = decide_both(&set, edge_request(Some(triage()), "update", ticket_resource("T-1")));
    assert_eq!(decision.decision, Outcome::Allow);
    assert_eq!(sorted_names(&decision.policies.permit), ["exhaustive_search"]);
}

#[test]
fn a_guard_that_rules_out_every_environment_loads_and_never_applies() {
    let set = edge_set();
    let mut resource = doc_resource("public", 50);
    resource["attrs"]["owner"] = json!("bob");
    let decision = decide_both(&set, edge_request(Some(triage()), "read", resource));
    // Bob's document is outside the triage task's scope too, the more telling reason.
    assert_eq!(code(&decision), "outside_intent");
    assert!(decision.policies.permit.is_empty());
}

#[test]
fn delegation_beyond_the_task_depth_is_denied() {
    let set = edge_set();
    let mut doc = edge_request(Some(triage()), "read", ticket_resource("T-1"));
    doc["chain"] = json!(["alice", "a2", "a3"]);
    let decision = decide_both(&set, doc.clone());
    assert_eq!(code(&decision), "delegation_exceeded");
    // One hop is allowed, but only to support agents.
    doc["chain"] = json!(["alice", "a2"]);
    assert_eq!(decide_both(&set, doc.clone()).decision, Outcome::Allow);
    doc["agent"]["attrs"]["team"] = json!("ops");
    assert_eq!(code(&decide_both(&set, doc)), "delegation_exceeded");
}

#[test]
fn reference_globs_follow_the_documented_escapes() {
    assert!(glob("T-*", "T-1"));
    assert!(glob("*", ""));
    assert!(!glob("T-\\*", "T-1"));
    assert!(glob("T-\\*", "T-*"));
    assert!(glob("a\\\\b", "a\\b"));
    assert!(glob("*ra*", "draft"));
    assert!(!glob("/kb/*", "/kb"));
}
