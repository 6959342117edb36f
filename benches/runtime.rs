//! The runtime's costs. A runtime decision (registry cached in memory, the agent, chain
//! and task stamped from it) beside the bare `PolicySet::decide` of the same request,
//! already validated, and beside validating and deciding the whole request as `eval`
//! does; a decision that reserves budget in the SQLite store; opening and revoking a task
//! on SQLite; verifying a task token. With the `postgres` feature and
//! `MANDATE_TEST_POSTGRES`, also how long a revocation takes to reach a second runtime
//! on the same database. Figures and commands are in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // bench code may fail loudly

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use mandate::eval::{CallDoc, Limits, Outcome, PolicySet, RequestDoc};
use mandate::runtime::keys::{AgentAlgorithm, AgentKey, KeyRing};
use mandate::runtime::sqlite::SqliteStore;
use mandate::runtime::store::Store;
use mandate::runtime::{AgentSpec, Runtime, RuntimeConfig};
use serde_json::json;

const MINUTE: i64 = 60_000_000_000;

fn t0() -> i64 {
    mandate::hir::value::parse_timestamp("2026-12-01T10:00:00Z").expect("a time")
}

fn policies() -> Arc<PolicySet> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runtime");
    Arc::new(PolicySet::load(&path, Limits::default()).expect("checks"))
}

fn store_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("mandate-bench-{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// A runtime with one support agent, `triage`.
fn runtime(store: Box<dyn Store>) -> Runtime {
    let runtime = Runtime::new(policies(), store, KeyRing::ephemeral(t0()).expect("keys"), RuntimeConfig::default())
        .expect("a runtime");
    let key = AgentKey::generate("k", AgentAlgorithm::EdDsa).expect("a key");
    let spec = AgentSpec {
        id: "triage".to_string(),
        sponsor: "alice@example.com".to_string(),
        attrs: json!({"team": "support"}).as_object().cloned().unwrap_or_default(),
        keys: vec![key.public_jwk().expect("jwk")],
    };
    runtime.register_agent(spec, t0()).expect("registers");
    runtime
}

fn open(runtime: &Runtime, limit: &str, now: i64) -> mandate::runtime::Issued {
    let params = json!({"customer": "acme", "limit": limit}).as_object().cloned().unwrap_or_default();
    runtime.open_task("triage", "Support", params, None, now).expect("opens")
}

fn call(action: &str, args: serde_json::Value) -> CallDoc {
    serde_json::from_value(json!({
        "action": action, "args": args,
        "resource": {"type": "Ticket", "id": "T-1", "attrs": {"customer": "acme", "number": "T-1"}},
    }))
    .expect("a call")
}

fn decisions(c: &mut Criterion) {
    let runtime = runtime(Box::new(SqliteStore::open(&store_path("decide")).expect("a store")));
    let task = open(&runtime, "1000.0", t0()).task;
    let now = t0() + MINUTE;
    let read = call("read", json!({}));
    let doc: RequestDoc = serde_json::from_value(json!({
        "agent": {"id": "triage", "attrs": {"team": "support"}},
        "chain": ["alice@example.com"],
        "task": {"kind": "Support", "id": task.id, "start": "2026-12-01T10:00:00Z", "deadline": "2026-12-01T10:30:00Z",
                 "params": {"customer": "acme", "limit": "1000.0"}},
        "action": "read",
        "resource": {"type": "Ticket", "id": "T-1", "attrs": {"customer": "acme", "number": "T-1"}},
        "context": {"time": "2026-12-01T10:01:00Z"},
    }))
    .expect("a request");
    let set = runtime.policies();
    let prepared = set.prepare(&doc).expect("valid");
    assert_eq!(set.decide(&prepared).decision, Outcome::Allow);
    assert_eq!(
        runtime.decide("triage", &task.id, &read, now, false).expect("decides").decision.decision,
        Outcome::Allow
    );

    let mut group = c.benchmark_group("runtime_decide");
    group.bench_function("bare_policyset_decide", |b| b.iter(|| black_box(set.decide(black_box(&prepared)))));
    group.bench_function("eval_validate_and_decide", |b| b.iter(|| black_box(set.decide_doc(black_box(&doc), false))));
    group.bench_function("runtime_decide_cached", |b| {
        b.iter(|| black_box(runtime.decide("triage", &task.id, black_box(&read), now, false).expect("decides")))
    });
    // A refund of 0.0001 against `budget sum(args.amount) on refund <= limit` with a
    // limit of 1000: ten million reservations before the budget runs out, each a write.
    let refund = call("refund", json!({"amount": "0.0001"}));
    let budgeted = open(&runtime, "1000.0", t0()).task.id;
    group.bench_function("runtime_decide_reserving_budget", |b| {
        b.iter(|| {
            let decided = runtime.decide("triage", &budgeted, black_box(&refund), now, false).expect("decides");
            assert_eq!(decided.decision.decision, Outcome::Allow);
        })
    });
    group.finish();
}

fn life_cycle(c: &mut Criterion) {
    let runtime = runtime(Box::new(SqliteStore::open(&store_path("life")).expect("a store")));
    let mut group = c.benchmark_group("task_life_cycle_sqlite");
    group.bench_function("open_task", |b| b.iter(|| black_box(open(&runtime, "100.0", t0()))));
    group.bench_function("revoke_task", |b| {
        b.iter_batched(
            || open(&runtime, "100.0", t0()).task.id,
            |task| runtime.revoke(&task, "alice@example.com", "bench", t0() + MINUTE).expect("revokes"),
            criterion::BatchSize::SmallInput,
        )
    });
    let token = open(&runtime, "100.0", t0()).token;
    group.bench_function("verify_task_token", |b| {
        b.iter(|| black_box(runtime.verify_token(black_box(&token), t0() + MINUTE).expect("verifies")))
    });
    group.finish();
}

#[cfg(feature = "postgres")]
fn revocation_reach(c: &mut Criterion) {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use mandate::runtime::postgres::{listen, PostgresStore};
    let Ok(server) = std::env::var("MANDATE_TEST_POSTGRES") else {
        eprintln!("skipping revocation_reach: set MANDATE_TEST_POSTGRES");
        return;
    };
    let name = format!("mandate_bench_{}", std::process::id());
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).expect("a server");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drops");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("creates");
    let params = format!("{server} dbname={name}");
    let first = runtime(Box::new(PostgresStore::connect(&params).expect("connects")));
    let config = RuntimeConfig { sync_interval: Duration::from_secs(3600), ..RuntimeConfig::default() };
    let second = Runtime::new(
        policies(),
        Box::new(PostgresStore::connect(&params).expect("connects")),
        KeyRing::ephemeral(t0()).expect("keys"),
        config,
    )
    .expect("a runtime");
    let _listener = listen(&params, second.stale_flag()).expect("listens");
    let read = call("read", json!({}));
    let now = t0() + MINUTE;
    let mut group = c.benchmark_group("revocation_reach_postgres");
    group.sample_size(20);
    group.bench_function("revoke_until_second_process_denies", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let task = open(&first, "100.0", t0()).task.id;
                assert_eq!(
                    second.decide("triage", &task, &read, now, false).expect("decides").decision.decision,
                    Outcome::Allow
                );
                let started = Instant::now();
                first.revoke(&task, "alice@example.com", "bench", now).expect("revokes");
                while second.decide("triage", &task, &read, now, false).expect("decides").decision.decision
                    == Outcome::Allow
                {
                    std::thread::sleep(Duration::from_micros(50));
                }
                total += started.elapsed();
                let _ = second.stale_flag().load(Ordering::Acquire);
            }
            total
        })
    });
    group.finish();
    drop((first, second));
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

#[cfg(not(feature = "postgres"))]
fn revocation_reach(_: &mut Criterion) {}

criterion_group!(benches, decisions, life_cycle, revocation_reach);
criterion_main!(benches);
