//! Behavioral baselines in a running runtime: the seed's own story
//! (`fixtures/behavior/reporting_stream.jsonl` against `examples/baselines`). A reporting
//! agent reads three datasets and writes one dashboard, every minute; a fourth dataset
//! is new but of a familiar kind and stays allowed; then it touches a credentials store,
//! its risk rises past the example policy's 0.8, and the decision escalates. The
//! profiles are learned again from the audit log by a new process, to the same signals.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use mandate::audit::log::{AuditConfig, AuditLog};
use mandate::audit::note::NoteSigner;
use mandate::behavior::history::History;
use mandate::behavior::{BehaviorConfig, Profiles};
use mandate::eval::{CallDoc, Limits, PolicySet};
use mandate::runtime::keys::{AgentAlgorithm, AgentKey, KeyRing};
use mandate::runtime::sqlite::SqliteStore;
use mandate::runtime::{AgentSpec, Runtime, RuntimeConfig};
use serde_json::{json, Value as Json};

const NANOS: i64 = 1_000_000_000;

fn t0() -> i64 {
    mandate::hir::value::parse_timestamp("2026-12-01T09:00:00Z").expect("a time")
}

fn policies() -> Arc<PolicySet> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/baselines");
    Arc::new(PolicySet::load(&path, Limits::default()).expect("the example checks"))
}

fn stream() -> Vec<Json> {
    include_str!("fixtures/behavior/reporting_stream.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect()
}

fn call_of(event: &Json) -> CallDoc {
    serde_json::from_value(json!({"action": event["action"], "resource": event["resource"]})).expect("a call")
}

/// A runtime over the example with an audit log and profiles, one agent, one task.
fn runtime(profiles: Arc<Profiles>) -> (Runtime, String) {
    let set = policies();
    let store = Box::new(SqliteStore::in_memory().expect("a store"));
    let runtime = Runtime::new(set.clone(), store, KeyRing::ephemeral(t0()).expect("keys"), RuntimeConfig::default())
        .expect("a runtime");
    let signer = NoteSigner::new("example.com/audit", SigningKey::from_bytes(&[5; 32])).expect("a signer");
    let log = AuditLog::start(runtime.shared_store(), &set, signer, AuditConfig::default()).expect("a log");
    let runtime = runtime.with_journal(Arc::new(log)).with_signals(profiles);
    {
        let key = AgentKey::generate("k", AgentAlgorithm::EdDsa).expect("a key");
        let spec = AgentSpec {
            id: "reporter-1".to_string(),
            sponsor: "gina@example.com".to_string(),
            attrs: json!({"team": "growth"}).as_object().cloned().unwrap_or_default(),
            keys: vec![key.public_jwk().expect("a jwk")],
        };
        runtime.register_agent(spec, t0()).expect("registers");
    }
    let params = json!({"team": "growth"}).as_object().cloned().unwrap_or_default();
    let task = runtime.open_task("reporter-1", "WeeklyReport", params, None, t0()).expect("opens").task.id;
    (runtime, task)
}

#[test]
fn a_reporting_agent_touching_a_credentials_store_escalates() {
    let profiles = Arc::new(Profiles::new(BehaviorConfig::default()));
    let (runtime, task) = runtime(profiles.clone());
    let store = runtime.shared_store();
    let events = stream();
    let (last, routine) = events.split_last().expect("a stream");
    for (index, event) in routine.iter().enumerate() {
        let at = t0() + event["at_seconds"].as_i64().expect("a time") * NANOS;
        let call = call_of(event);
        let reading = profiles.reading("reporter-1", "WeeklyReport", &call, at);
        assert_eq!(reading.warming_up, index < 20, "event {index}: warm-up lasts 20 allowed calls");
        let decided = runtime.decide("reporter-1", &task, &call, at, false).expect("decides");
        assert_eq!(json!(decided.decision.decision), event["expect"], "event {index}: {reading:?}");
        if event.get("note").is_some() {
            assert!(reading.novel_resource && !reading.novel_action, "a new dataset is a new resource: {reading:?}");
            assert!(reading.risk > 0.3 && reading.risk < 0.8, "but of a familiar kind: {reading:?}");
        }
    }
    let at = t0() + last["at_seconds"].as_i64().expect("a time") * NANOS;
    let call = call_of(last);
    let reading = profiles.reading("reporter-1", "WeeklyReport", &call, at);
    assert!(reading.novel_resource && reading.novel_class && !reading.warming_up, "{reading:?}");
    assert!(reading.risk > 0.8, "{reading:?}");
    assert!(reading.rate_z.abs() < 2.0, "a steady rate is no signal: {reading:?}");
    // A caller cannot state its own risk away: the profile's signals replace the caller's.
    let mut hiding = call.clone();
    hiding.behavior.insert("risk".to_string(), json!(0.0));
    let decided = runtime.decide("reporter-1", &task, &hiding, at, false).expect("decides");
    assert_eq!(json!(decided.decision.decision), last["expect"]);
    assert_eq!(decided.decision.policies.escalate.first().map(|name| &**name), Some("unusual_for_this_agent"));
    // A burst of calls raises rate_z and, with it, risk.
    let burst = call_of(&routine[0]);
    let mut burst_reading = reading;
    for step in 1..=60 {
        let at = at + step * NANOS / 10;
        burst_reading = profiles.reading("reporter-1", "WeeklyReport", &burst, at);
        runtime.decide("reporter-1", &task, &burst, at, false).expect("decides");
    }
    assert!(burst_reading.rate_z > 4.0 && burst_reading.risk > 0.3, "{burst_reading:?}");
    drop(runtime);

    // The next process learns the same profile from the audit log.
    let fresh = Profiles::new(BehaviorConfig::default());
    let learned = fresh.learn_from_log(&*store).expect("learns");
    assert_eq!(learned, events.len() as u64 + 60);
    let later = at + 3600 * NANOS;
    assert_eq!(
        fresh.reading("reporter-1", "WeeklyReport", &call, later),
        profiles.reading("reporter-1", "WeeklyReport", &call, later),
        "the log holds everything the profile learned"
    );
}

#[test]
fn signals_of_an_unknown_agent_say_warming_up_and_nothing_else() {
    let profiles = Profiles::new(BehaviorConfig::default());
    let call = call_of(&stream()[0]);
    let reading = profiles.reading("nobody", "WeeklyReport", &call, t0());
    assert!(reading.warming_up && !reading.novel_action && !reading.novel_resource);
    assert_eq!((reading.risk, reading.rate_z), (0.0, 0.0));
    assert_eq!(
        Json::Object(reading.to_json()),
        json!({"warming_up": true, "novel_action": false, "novel_resource": false, "rate_z": 0.0, "risk": 0.0})
    );
}

// --- History counters -------------------------------------------------------------------

/// A runtime over `examples/payments`, whose `behavior.paid_today` adds up each agent's
/// payments of the last 24 hours, with the audit log and the history counters on `store`.
fn payments_runtime(store: &Path) -> Runtime {
    history_runtime("examples/payments", store)
}

/// A runtime deciding by the package at `package` (from the crate's root), with its
/// audit log and history counters on.
fn history_runtime(package: &str, store: &Path) -> Runtime {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(package);
    let set = Arc::new(PolicySet::load(&path, Limits::default()).expect("the example checks"));
    let store = Box::new(SqliteStore::open(store).expect("opens"));
    let runtime = Runtime::new(set.clone(), store, KeyRing::ephemeral(t0()).expect("keys"), RuntimeConfig::default())
        .expect("a runtime");
    let signer = NoteSigner::new("example.com/audit", SigningKey::from_bytes(&[5; 32])).expect("a signer");
    let log = AuditLog::start(runtime.shared_store(), &set, signer, AuditConfig::default()).expect("a log");
    let history = History::new(set, runtime.shared_store()).expect("the example declares a counter");
    runtime.with_journal(Arc::new(log)).with_signals(Arc::new(history))
}

fn register_payer(runtime: &Runtime, id: &str) {
    let key = AgentKey::generate("k", AgentAlgorithm::EdDsa).expect("a key");
    let spec = AgentSpec {
        id: id.to_string(),
        sponsor: "fiona@example.com".to_string(),
        attrs: json!({"team": "finance-ops", "daily_limit": "2500.0"}).as_object().cloned().unwrap_or_default(),
        keys: vec![key.public_jwk().expect("a jwk")],
    };
    runtime.register_agent(spec, t0()).expect("registers");
}

fn open_invoice(runtime: &Runtime, agent: &str, invoice: &str, at: i64) -> String {
    let params = json!({"invoice": invoice, "payee": "DE89370400440532013000", "amount": "2000.0"});
    let params = params.as_object().cloned().unwrap_or_default();
    runtime.open_task(agent, "PayInvoice", params, None, at).expect("opens").task.id
}

fn payment(amount: &str) -> CallDoc {
    serde_json::from_value(json!({
        "action": "send_money",
        "args": {"recipient": "DE89370400440532013000", "amount": amount},
        "resource": {"type": "Account", "id": "acc-1", "attrs": {
            "iban": "DE75512108001245126199", "currency": "EUR", "balance": "250000.0",
            "frozen": false, "approved_payees": ["DE89370400440532013000"]}},
    }))
    .expect("a call")
}

#[test]
fn an_agents_payments_of_the_last_day_count_across_its_tasks_and_outlive_the_process() {
    let dir = tempfile::tempdir().expect("a folder");
    let store = dir.path().join("runtime.db");
    let runtime = payments_runtime(&store);
    register_payer(&runtime, "pay-bot-1");
    register_payer(&runtime, "pay-bot-2");
    let first = open_invoice(&runtime, "pay-bot-1", "INV-1", t0());
    let outcome = |runtime: &Runtime, agent: &str, task: &str, amount: &str, at: i64| {
        let decided = runtime.decide(agent, task, &payment(amount), at, false).expect("decides");
        (decided.decision.decision.word().to_string(), decided.decision.reasons.first().map(|r| r.code.clone()))
    };
    // 900 + 900 in one task: 1,800 of pay-bot-1's 2,500.
    assert_eq!(outcome(&runtime, "pay-bot-1", &first, "900.0", t0() + NANOS).0, "allow");
    assert_eq!(outcome(&runtime, "pay-bot-1", &first, "900.0", t0() + 2 * NANOS).0, "allow");
    // Another task of the same agent: 1,800 + 800 is over the limit, so a human decides;
    // 700 is exactly at it, and a denied or escalated payment adds nothing.
    let second = open_invoice(&runtime, "pay-bot-1", "INV-2", t0() + 3 * NANOS);
    assert_eq!(outcome(&runtime, "pay-bot-1", &second, "800.0", t0() + 4 * NANOS).0, "escalate");
    assert_eq!(outcome(&runtime, "pay-bot-1", &second, "700.0", t0() + 5 * NANOS).0, "allow");
    assert_eq!(outcome(&runtime, "pay-bot-1", &second, "0.01", t0() + 6 * NANOS).0, "escalate");
    // Another agent's counter is its own.
    let other = open_invoice(&runtime, "pay-bot-2", "INV-3", t0() + 7 * NANOS);
    assert_eq!(outcome(&runtime, "pay-bot-2", &other, "900.0", t0() + 8 * NANOS).0, "allow");
    // The caller cannot state a counter.
    let mut stated = payment("1.0");
    stated.behavior.insert("paid_today".to_string(), json!("0.0"));
    let refused = runtime.decide("pay-bot-1", &second, &stated, t0() + 9 * NANOS, false).expect("decides");
    assert_eq!(refused.decision.decision.word(), "deny");
    assert_eq!(refused.decision.errors.first().map(|error| error.code.as_str()), Some("runtime_history"));
    drop(runtime);

    // A new process on the same store reads the counters back from the log.
    let restarted = payments_runtime(&store);
    let third = open_invoice(&restarted, "pay-bot-1", "INV-4", t0() + 10 * NANOS);
    assert_eq!(outcome(&restarted, "pay-bot-1", &third, "0.01", t0() + 11 * NANOS).0, "escalate");
    // A day after the first payments, they have left the window: 700 remains.
    let day = 24 * 3600 * NANOS;
    let fourth = open_invoice(&restarted, "pay-bot-1", "INV-5", t0() + 2 * NANOS + day);
    assert_eq!(outcome(&restarted, "pay-bot-1", &fourth, "900.0", t0() + 2 * NANOS + day + 1).0, "allow");
    let fifth = open_invoice(&restarted, "pay-bot-1", "INV-6", t0() + 3 * NANOS + day);
    assert_eq!(outcome(&restarted, "pay-bot-1", &fifth, "900.0", t0() + 4 * NANOS + day).0, "allow");
    // 700 + 900 + 900 = 2,500: at the limit; one cent more escalates.
    assert_eq!(outcome(&restarted, "pay-bot-1", &fifth, "0.01", t0() + 4 * NANOS + day + 1).0, "escalate");
}

/// A counter never falls: an allowed negative adjustment adds nothing to the net, so
/// 90, then -50, then 20 is over 100 (the net stays 90), not 60.
#[test]
fn a_negative_amount_makes_no_room_under_a_summed_counter() {
    let dir = tempfile::tempdir().expect("a folder");
    let runtime = history_runtime("tests/fixtures/behavior/net_ceiling", &dir.path().join("runtime.db"));
    let key = AgentKey::generate("k", AgentAlgorithm::EdDsa).expect("a key");
    let attrs = json!({"team": "ledger"}).as_object().cloned().unwrap_or_default();
    let spec = AgentSpec {
        id: "ledger-bot".to_string(),
        sponsor: "li@example.com".to_string(),
        attrs,
        keys: vec![key.public_jwk().expect("a jwk")],
    };
    runtime.register_agent(spec, t0()).expect("registers");
    let params = json!({"ledger": "L-1"}).as_object().cloned().unwrap_or_default();
    let task = runtime.open_task("ledger-bot", "Adjust", params, None, t0()).expect("opens").task.id;
    let adjust = |amount: &str, at: i64| {
        let call: CallDoc = serde_json::from_value(json!({
            "action": "adjust",
            "args": {"amount": amount},
            "resource": {"type": "Ledger", "id": "L-1", "attrs": {"currency": "EUR"}},
        }))
        .expect("a call");
        runtime.decide("ledger-bot", &task, &call, at, false).expect("decides").decision.decision.word().to_string()
    };
    assert_eq!(adjust("90.0", t0() + NANOS), "allow");
    assert_eq!(adjust("-50.0", t0() + 2 * NANOS), "allow");
    assert_eq!(adjust("20.0", t0() + 3 * NANOS), "escalate");
    assert_eq!(adjust("10.0", t0() + 4 * NANOS), "allow", "90 + 10 is at the ceiling, not over it");
}

#[test]
fn a_runtime_without_an_audit_log_refuses_to_decide_with_history_counters() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/payments");
    let set = Arc::new(PolicySet::load(&path, Limits::default()).expect("the example checks"));
    let store = Box::new(SqliteStore::in_memory().expect("a store"));
    let runtime =
        Runtime::new(set, store, KeyRing::ephemeral(t0()).expect("keys"), RuntimeConfig::default()).expect("a runtime");
    register_payer(&runtime, "pay-bot-1");
    let task = open_invoice(&runtime, "pay-bot-1", "INV-1", t0());
    let error = runtime.decide("pay-bot-1", &task, &payment("1.0"), t0() + NANOS, false).expect_err("refuses");
    assert_eq!(error.code, "history_needs_log");
}
