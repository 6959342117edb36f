//! The audit proofs' costs: reading and verifying a decision receipt offline (signature
//! of the checkpoint, then the inclusion path) in a log of a million entries, and the
//! Merkle root of 100,000 entries; deciding with the audit log and behavioral profiles on
//! (1, 4, 8, 16, 24 and 32 calling threads; 16, 32 and 64 asynchronous tasks on one
//! worker thread per core but one, and 32 on one per core; group commit, SQLite), with latency percentiles printed; verifying a whole log of
//! 100,000 runtime entries, in the library and as `mandate audit verify`. Figures and
//! commands are in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // bench code may fail loudly

use std::hint::black_box;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mandate::audit::log::{AuditConfig, AuditLog};
use mandate::audit::merkle::{inclusion_proof, leaf_hash, root, Hash};
use mandate::audit::note::{Checkpoint, NoteSigner, NoteVerifier};
use mandate::audit::receipt::Receipt;
use mandate::audit::verify::verify;
use mandate::eval::{CallDoc, Limits, Outcome, PolicySet};
use mandate::runtime::keys::{AgentAlgorithm, AgentKey, KeyRing};
use mandate::runtime::sqlite::SqliteStore;
use mandate::runtime::{AgentSpec, Runtime, RuntimeConfig};
use serde_json::json;

fn entries(count: u32) -> Vec<Hash> {
    (0..count).map(|i| leaf_hash(format!("{{\"seq\":{i},\"decision\":\"allow\"}}").as_bytes())).collect()
}

fn receipts(c: &mut Criterion) {
    let leaves = entries(1_000_000);
    let signer = NoteSigner::new("mandate.example/audit", ed25519_dalek::SigningKey::from_bytes(&[3; 32])).unwrap();
    let checkpoint =
        Checkpoint { origin: "mandate.example/audit".to_string(), size: leaves.len() as u64, root: root(&leaves) };
    let index = 765_432u64;
    let receipt = Receipt {
        entry: format!("{{\"seq\":{index},\"decision\":\"allow\"}}").into_bytes(),
        index,
        proof: inclusion_proof(index, &leaves).unwrap(),
        checkpoint: signer.sign(&checkpoint.to_text()).unwrap(),
    };
    let text = receipt.to_text();
    let key = NoteVerifier::parse(&signer.verifier_key()).unwrap();
    Receipt::parse(&text).unwrap().verify(&key, None).unwrap();
    let mut group = c.benchmark_group("audit");
    group.bench_function("verify_receipt_1m_log", |b| {
        b.iter(|| Receipt::parse(black_box(&text)).unwrap().verify(&key, None).unwrap())
    });
    let hundred_thousand = &leaves[..100_000];
    group.bench_function("merkle_root_100k", |b| b.iter(|| root(black_box(hundred_thousand))));
    group.finish();
}

fn t0() -> i64 {
    mandate::hir::value::parse_timestamp("2026-12-01T10:00:00Z").expect("a time")
}

fn signer() -> NoteSigner {
    NoteSigner::new("mandate.example/audit", ed25519_dalek::SigningKey::from_bytes(&[3; 32])).unwrap()
}

/// A SQLite file (and its WAL and shared-memory files), removed when dropped so runs
/// leave nothing behind.
struct BenchFile(PathBuf);

impl BenchFile {
    fn new(name: &str) -> BenchFile {
        let file =
            BenchFile(std::env::temp_dir().join(format!("mandate-bench-audit-{name}-{}.db", std::process::id())));
        file.remove();
        file
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for BenchFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A runtime with the audit log and behavioral profiles on, on a fresh SQLite file, with
/// one agent and one open task.
fn journaled_runtime(name: &str) -> (Runtime, String, BenchFile) {
    let file = BenchFile::new(name);
    let path = file.0.clone();
    let set = Arc::new(
        PolicySet::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runtime"), Limits::default())
            .unwrap(),
    );
    let store = Box::new(SqliteStore::open(&path).unwrap());
    let runtime =
        Runtime::new(set.clone(), store, KeyRing::ephemeral(t0()).unwrap(), RuntimeConfig::default()).unwrap();
    let log = AuditLog::start(runtime.shared_store(), &set, signer(), AuditConfig::default()).unwrap();
    let profiles = mandate::behavior::Profiles::new(mandate::behavior::BehaviorConfig::default());
    let runtime = runtime.with_journal(Arc::new(log)).with_signals(Arc::new(profiles));
    let key = AgentKey::generate("k", AgentAlgorithm::EdDsa).unwrap();
    let spec = AgentSpec {
        id: "triage".to_string(),
        sponsor: "alice@example.com".to_string(),
        attrs: json!({"team": "support"}).as_object().cloned().unwrap_or_default(),
        keys: vec![key.public_jwk().unwrap()],
    };
    runtime.register_agent(spec, t0()).unwrap();
    let params = json!({"customer": "acme"}).as_object().cloned().unwrap_or_default();
    let task = runtime.open_task("triage", "Support", params, None, t0()).unwrap().task.id;
    (runtime, task, file)
}

fn read_call() -> CallDoc {
    serde_json::from_value(json!({
        "action": "read",
        "resource": {"type": "Ticket", "id": "T-1", "attrs": {"customer": "acme", "number": "T-1"}},
    }))
    .unwrap()
}

/// The CPU time this process has used (every thread, user and system), where the
/// system says (`/proc/self/stat`, in clock ticks of 10 ms).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// `total` decisions by `threads` threads at once, each taking the next decision to make
/// from a shared count, so that they all stay busy until the last few decisions (no
/// thread is left deciding alone at the end); each one's latency is pushed to
/// `latencies`.
fn decide_concurrently(
    runtime: &Runtime,
    task: &str,
    total: u64,
    threads: u64,
    latencies: &mut Vec<Duration>,
) -> Duration {
    let call = read_call();
    let now = t0() + 60_000_000_000;
    let remaining = AtomicU64::new(total);
    let take = || remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1)).is_ok();
    let started = Instant::now();
    let measured: Vec<Vec<Duration>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    std::iter::from_fn(|| take().then_some(()))
                        .map(|()| {
                            let began = Instant::now();
                            let decided = runtime.decide("triage", task, &call, now, false).unwrap();
                            assert_eq!(decided.decision.decision, Outcome::Allow);
                            began.elapsed()
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    latencies.extend(measured.into_iter().flatten());
    elapsed
}

fn percentile(latencies: &mut [Duration], fraction: f64) -> Duration {
    latencies.sort_unstable();
    let at = ((latencies.len() as f64 * fraction) as usize).min(latencies.len().saturating_sub(1));
    latencies.get(at).copied().unwrap_or_default()
}

/// `total` decisions by `tasks` asynchronous tasks at once on a runtime with one worker
/// thread per core, each taking the next decision to make from a shared count and
/// awaiting the log's commit without holding its thread; each one's latency (from the
/// call until its decision is returned) is pushed to `latencies`.
fn decide_asynchronously(
    executor: &tokio::runtime::Runtime,
    runtime: &Arc<Runtime>,
    task: &str,
    total: u64,
    tasks: u64,
    latencies: &mut Vec<Duration>,
) -> Duration {
    let call = Arc::new(read_call());
    let now = t0() + 60_000_000_000;
    let remaining = Arc::new(AtomicU64::new(total));
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (runtime, task, call, remaining) = (runtime.clone(), task.to_string(), call.clone(), remaining.clone());
            executor.spawn(async move {
                let mut measured = Vec::new();
                while remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1)).is_ok() {
                    let began = Instant::now();
                    let decided = runtime.decide_async("triage", &task, &call, now, false).await.unwrap();
                    assert_eq!(decided.decision.decision, Outcome::Allow);
                    measured.push(began.elapsed());
                }
                measured
            })
        })
        .collect();
    let measured: Vec<Vec<Duration>> = executor.block_on(futures_of(handles)).into_iter().map(Result::unwrap).collect();
    let elapsed = started.elapsed();
    latencies.extend(measured.into_iter().flatten());
    elapsed
}

/// Every handle's result, in order.
async fn futures_of<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await);
    }
    results
}

/// Benchmarks `decide` (`total` decisions, pushing each latency, returning the wall
/// time) as `name`, and prints the latency percentiles and the CPU time per decision.
fn measure_decisions(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut decide: impl FnMut(u64, &mut Vec<Duration>) -> Duration,
) {
    let mut latencies = Vec::new();
    let mut cpu = Duration::ZERO;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let before = process_cpu();
            let elapsed = decide(iters, &mut latencies);
            cpu += process_cpu().zip(before).map(|(after, before)| after - before).unwrap_or_default();
            elapsed
        })
    });
    let (p50, p99) = (percentile(&mut latencies, 0.50), percentile(&mut latencies, 0.99));
    let per_decision = cpu / latencies.len().max(1) as u32;
    eprintln!("{name}: {} decisions, p50 {p50:?}, p99 {p99:?}, CPU {per_decision:?} per decision", latencies.len());
}

fn audited_decisions(c: &mut Criterion) {
    let (runtime, task, _file) = journaled_runtime("decide");
    let runtime = Arc::new(runtime);
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(1));
    for threads in [1u64, 4, 8, 16, 24, 32] {
        measure_decisions(&mut group, &format!("decide_with_audit_{threads}_threads"), |iters, latencies| {
            decide_concurrently(&runtime, &task, iters.max(threads), threads, latencies)
        });
    }
    // One core left to the log's writer (the deployment docs/audit.md advises), then
    // every core deciding, the writer competing with them.
    let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
    let leaving_one = cores.saturating_sub(1).max(1);
    for (workers, tasks) in [(leaving_one, 16u64), (leaving_one, 32), (leaving_one, 64), (cores, 32)] {
        let executor = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).build().unwrap();
        let name = format!("decide_async_with_audit_{tasks}_tasks_{workers}_workers");
        measure_decisions(&mut group, &name, |iters, latencies| {
            decide_asynchronously(&executor, &runtime, &task, iters.max(tasks), tasks, latencies)
        });
    }
    group.finish();
}

fn log_verification(c: &mut Criterion) {
    let (runtime, task, file) = journaled_runtime("verify");
    let entries = 100_000u64;
    decide_concurrently(&runtime, &task, entries, 4, &mut Vec::new());
    drop(runtime);
    let store = SqliteStore::open(&file.0).unwrap();
    let key = NoteVerifier::parse(&signer().verifier_key()).unwrap();
    let verified = verify(&store, &key, None, &mut |_| {}).unwrap();
    assert_eq!(verified.entries, entries + 1);
    let mut group = c.benchmark_group("audit");
    group.sample_size(10);
    group.throughput(Throughput::Elements(verified.entries));
    group.bench_function("verify_log_100k_entries", |b| b.iter(|| verify(&store, &key, None, &mut |_| {}).unwrap()));
    // The same as a user runs it: the command line opens the store (with SQLite's
    // integrity check), reads the key and verifies.
    let key = signer().verifier_key();
    group.bench_function("cli_verify_log_100k_entries", |b| {
        b.iter(|| {
            let run = std::process::Command::new(env!("CARGO_BIN_EXE_mandate"))
                .args(["audit", "verify", "--key", &key, "--store"])
                .arg(&file.0)
                .output()
                .unwrap();
            assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        })
    });
    group.finish();
}

criterion_group!(benches, receipts, audited_decisions, log_verification);
criterion_main!(benches);
