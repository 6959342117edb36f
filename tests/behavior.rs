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
