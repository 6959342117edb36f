//! The runtime against real stores: the shared suite (`support/runtime_suite.rs`) on an
//! SQLite file and, with the `postgres` feature, on a PostgreSQL database of its own;
//! then what only the embedded store has to show: a corrupted, truncated or damaged file
//! is refused, committed pages reach the file in the background, and a process killed
//! in the middle of a workload leaves the file consistent.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

#[path = "support/runtime_suite.rs"]
mod suite;

use std::path::PathBuf;

use mandate::runtime::sqlite::SqliteStore;
use mandate::runtime::store::{Store, StoreError, TaskState};
use serde_json::json;

/// Generates one test per suite case, each on a fresh store from `$fresh`.
macro_rules! suite_on {
    ($fresh:path) => {
        suite_on!($fresh; assertions, ed25519_algorithm_name, registration, opening, decisions, budgets,
            concurrent_budget, delegation, revocation, disabling, tokens_verify);
    };
    ($fresh:path; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let fresh = $fresh(stringify!($case));
                crate::suite::$case(fresh.store());
            }
        )*
    };
}

/// A fresh SQLite file under the target's temporary folder.
fn sqlite_path(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("runtime-{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

mod sqlite {
    use super::*;

    pub struct Fresh(PathBuf);

    impl Fresh {
        pub fn store(&self) -> Box<dyn Store> {
            Box::new(SqliteStore::open(&self.0).expect("opens"))
        }
    }

    pub fn fresh(name: &str) -> Fresh {
        Fresh(sqlite_path(name))
    }

    suite_on!(fresh);
}

#[cfg(feature = "postgres")]
mod postgres {
    use mandate::eval::Outcome;
    use mandate::runtime::postgres::PostgresStore;

    use super::*;

    /// The server the suite uses: `MANDATE_TEST_POSTGRES`, or the local one `.ci/run`
    /// starts.
    pub fn server() -> String {
        std::env::var("MANDATE_TEST_POSTGRES").unwrap_or_else(|_| "host=127.0.0.1 user=postgres".to_string())
    }

    /// A database of its own, dropped when the case ends.
    pub struct Fresh {
        name: String,
    }

    impl Fresh {
        pub fn params(&self) -> String {
            format!("{} dbname={}", server(), self.name)
        }

        pub fn store(&self) -> Box<dyn Store> {
            Box::new(PostgresStore::connect(&self.params()).expect("connects"))
        }
    }

    impl Drop for Fresh {
        fn drop(&mut self) {
            if let Ok(mut admin) = ::postgres::Client::connect(&server(), ::postgres::NoTls) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
            }
        }
    }

    pub fn fresh(case: &str) -> Fresh {
        let name = format!("mandate_test_{}_{}", case, std::process::id());
        let mut admin = ::postgres::Client::connect(&server(), ::postgres::NoTls)
            .expect("a PostgreSQL server (set MANDATE_TEST_POSTGRES, or run .ci/run, which starts one)");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drops");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("creates");
        Fresh { name }
    }

    suite_on!(fresh);

    /// Two runtimes on one database, as two processes would be: a revocation by one is
    /// seen by the other, woken by NOTIFY, without waiting for its poll.
    #[test]
    fn a_revocation_reaches_another_process() {
        let fresh = fresh("two_processes");
        let first = suite::World::new(fresh.store());
        let task = first.open("triage", json!({"customer": "acme"}));
        let ring = mandate::runtime::keys::KeyRing::ephemeral(suite::t0()).expect("keys");
        let config = mandate::runtime::RuntimeConfig {
            sync_interval: std::time::Duration::from_secs(3600),
            ..mandate::runtime::RuntimeConfig::default()
        };
        let second = mandate::runtime::Runtime::new(suite::policies(), fresh.store(), ring, config).expect("a runtime");
        let _listener = mandate::runtime::postgres::listen(&fresh.params(), second.stale_flag()).expect("listens");
        let read = suite::call("read", "acme", json!({}));
        let now = suite::t0() + suite::MINUTE;
        let decide = || second.decide("triage", &task, &read, now, false).expect("decides").decision.decision;
        assert_eq!(decide(), Outcome::Allow, "the second process caches the task");
        first.runtime.revoke(&task, "alice@example.com", "stop", now).expect("revokes");
        let waited = std::time::Instant::now();
        while !second.stale_flag().load(std::sync::atomic::Ordering::Acquire) {
            assert!(waited.elapsed() < std::time::Duration::from_secs(10), "no notification arrived");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(decide(), Outcome::Deny);
    }
}

#[test]
fn a_corrupted_store_is_refused() {
    let path = sqlite_path("corrupted");
    let garbage = b"this is not a database, but it is long enough to look like a header of one".repeat(100);
    std::fs::write(&path, &garbage).expect("writes");
    refused_unchanged(&path);
}

/// Opens the store at `path`, which must be refused as corrupt and left as it was; the
/// reason.
fn refused_unchanged(path: &std::path::Path) -> String {
    let before = std::fs::read(path).expect("reads");
    let error = SqliteStore::open(path).err().expect("refused");
    assert_eq!(std::fs::read(path).expect("reads"), before, "nothing was written to it");
    match error {
        StoreError::Corrupt(message) => message,
        other => panic!("not refused as corrupt: {other}"),
    }
}

/// A store file with some pages of data in it, closed (its log checkpointed).
fn filled_store(name: &str) -> PathBuf {
    let path = sqlite_path(name);
    let store = SqliteStore::open(&path).expect("opens");
    for index in 0..40 {
        store.put_bundle(&format!("bundle-{index}"), &vec![b'x'; 8192]).expect("writes");
    }
    drop(store);
    path
}

/// A copy cut short is refused by its header alone (which states more pages than the
/// file holds), and the opening writes nothing; the message says what is wrong.
#[test]
fn a_truncated_store_is_refused_by_its_header() {
    let path = filled_store("truncated");
    let mut bytes = std::fs::read(&path).expect("reads");
    assert!(bytes.len() > 300_000, "{} bytes", bytes.len());
    bytes.truncate(bytes.len() - 4096);
    std::fs::write(&path, &bytes).expect("writes");
    let message = refused_unchanged(&path);
    assert!(message.contains("truncated"), "{message}");
    for (at, garbage, says) in [(16usize, [0u8, 3], "page size"), (0, *b"PK", "not a SQLite database")] {
        let mut bad = bytes.clone();
        bad[at..at + 2].copy_from_slice(&garbage);
        std::fs::write(&path, &bad).expect("writes");
        let message = refused_unchanged(&path);
        assert!(message.contains(says), "{message}");
    }
}

/// A file of a newer layout is refused, unchanged; one of the previous layout is
/// raised to this build's.
#[test]
fn layout_versions_are_checked_and_raised() {
    let path = filled_store("versions");
    let set_version = |version: i64| {
        let db = rusqlite::Connection::open(&path).expect("opens");
        db.pragma_update(None, "user_version", version).expect("sets");
    };
    let version = || -> i64 {
        let db = rusqlite::Connection::open(&path).expect("opens");
        db.query_row("PRAGMA user_version", [], |row| row.get(0)).expect("reads")
    };
    set_version(99);
    let message = refused_unchanged(&path);
    assert!(message.contains("newer"), "{message}");
    set_version(2);
    drop(SqliteStore::open(&path).expect("opens"));
    assert_eq!(version(), 4);
}

/// A damaged page in a table other than the audit log is found by the check on
/// opening.
#[test]
fn a_damaged_table_is_refused_when_opened() {
    let path = filled_store("damaged-table");
    let mut bytes = std::fs::read(&path).expect("reads");
    // Every page after the schema's, but the first bytes of each (their headers) are
    // left alone so that only the checks of the tables' contents can tell.
    for page in bytes.chunks_mut(4096).skip(1) {
        for byte in page.iter_mut().skip(8).step_by(7) {
            *byte ^= 0x5a;
        }
    }
    std::fs::write(&path, &bytes).expect("writes");
    refused_unchanged(&path);
}

/// While a store is open, what is committed reaches the database file itself (not
/// only its write-ahead log) without any further write: the background checkpoint.
#[test]
fn committed_pages_reach_the_file_in_the_background() {
    let path = sqlite_path("background-checkpoint");
    let store = SqliteStore::open(&path).expect("opens");
    let before = std::fs::metadata(&path).expect("a file").len();
    for index in 0..20 {
        store.put_bundle(&format!("bundle-{index}"), &vec![b'x'; 8192]).expect("writes");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&path).expect("a file").len() < before + 20 * 8192 {
        assert!(std::time::Instant::now() < deadline, "the log was not copied into the file");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(store);
}

/// The workload the crash test kills: open tasks, spend their budgets, revoke them, in
/// a loop, against the store at `path`.
fn workload(path: &std::path::Path, rounds: usize) {
    let store = SqliteStore::open(path).expect("opens");
    let registered = !store.agents().expect("agents").is_empty();
    let world = match registered {
        true => suite::World::attach(Box::new(store)),
        false => suite::World::new(Box::new(store)),
    };
    let now = suite::t0() + suite::MINUTE;
    for _ in 0..rounds {
        let task = world.open("triage", json!({"customer": "acme", "limit": "30.0"}));
        for _ in 0..4 {
            let call = suite::call("refund", "acme", json!({"amount": "10.0"}));
            world.runtime.decide("triage", &task, &call, now, false).expect("decides");
        }
        world.runtime.revoke(&task, "alice@example.com", "done", now).expect("revokes");
    }
}

/// What must hold of any store file, whenever a process stopped writing it.
fn assert_consistent(path: &std::path::Path) {
    let store = SqliteStore::open(path).expect("opens after the crash");
    let tasks = store.tasks().expect("tasks");
    let log = store.revocations_since(0).expect("log");
    for task in &tasks {
        let grants = store.grants(&task.id).expect("grants");
        assert!(grants.iter().any(|grant| grant.parent.is_none()), "task {} has its root grant", task.id);
        for budget in store.budgets(&task.id).expect("budgets") {
            assert!(budget.spent <= budget.limit, "{budget:?}");
        }
        let logged = log.iter().any(|entry| entry.task == task.id);
        assert_eq!(task.state != TaskState::Open, logged, "task {} is ended exactly when its end is logged", task.id);
    }
}

/// Runs the workload when asked to by [`a_killed_process_leaves_the_store_consistent`],
/// in a child process; otherwise, a short run of it in this process.
#[test]
fn crash_workload() {
    match std::env::var("MANDATE_CRASH_STORE") {
        Ok(path) => workload(std::path::Path::new(&path), usize::MAX),
        Err(_) => {
            let path = sqlite_path("workload");
            workload(&path, 5);
            assert_consistent(&path);
            assert_eq!(SqliteStore::open(&path).expect("opens").tasks().expect("tasks").len(), 5);
        }
    }
}

#[test]
fn a_killed_process_leaves_the_store_consistent() {
    let path = sqlite_path("killed");
    for round in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "crash_workload", "--nocapture"])
            .env("MANDATE_CRASH_STORE", &path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawns");
        std::thread::sleep(std::time::Duration::from_millis(400 + 150 * round));
        let early = child.try_wait().expect("polls");
        assert!(early.is_none(), "the workload ran until it was killed, not {early:?}");
        child.kill().expect("kills");
        child.wait().expect("waits");
        assert_consistent(&path);
    }
    let store = SqliteStore::open(&path).expect("opens");
    assert!(!store.tasks().expect("tasks").is_empty(), "the workload got somewhere before it was killed");
}

/// `jsonwebtoken` 12 panics at run time unless exactly one crypto backend is compiled in
/// (feature unification can add a second): signing and verifying with both algorithms
/// the runtime uses would panic here if this build had none, or two.
#[test]
fn the_jwt_library_has_exactly_one_crypto_backend() {
    use mandate::runtime::keys::{AgentAlgorithm, AgentKey, PublicKey};
    use mandate::runtime::tokens::{make_assertion, verify_assertion};
    for algorithm in [AgentAlgorithm::EdDsa, AgentAlgorithm::Es256] {
        let key = AgentKey::generate("k", algorithm).expect("a key");
        let token = make_assertion(&key, "a", "mandate", 1_800_000_000, 60).expect("signs");
        let public = PublicKey::from_jwk(&key.public_jwk().expect("jwk")).expect("reads");
        let verified = verify_assertion(&token, "a", &[public], "mandate", 1_800_000_010).expect("verifies");
        assert_eq!(verified.agent, "a");
    }
}

/// The runtime's key file: created readable by its owner only, refused when others may
/// read it, and rotated with the previous key kept for verifying.
#[test]
fn the_key_file_is_private_and_rotates_with_overlap() {
    use std::os::unix::fs::PermissionsExt;

    use mandate::runtime::keys::KeyRing;
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime-keys.json");
    let _ = std::fs::remove_file(&path);
    let mut ring = KeyRing::load_or_create(&path, suite::t0()).expect("creates");
    let mode = std::fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let first = ring.current().expect("a key").kid.clone();
    let second = ring.rotate(suite::t0()).expect("rotates");
    let third = ring.rotate(suite::t0()).expect("rotates");
    let kids: Vec<String> = KeyRing::load(&path).expect("loads").keys().iter().map(|key| key.kid.clone()).collect();
    assert_eq!(kids, vec![second.clone(), third.clone()], "the current key and the one before it");
    assert!(ring.find(&first).is_none());
    let jwks = ring.jwks().expect("jwks");
    assert_eq!(jwks["keys"][0]["kid"], third.as_str(), "newest first");
    assert!(jwks["keys"][0].get("d").is_none(), "the JWKS holds public keys only");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let exposed = KeyRing::load(&path).expect_err("refused");
    assert!(exposed.to_string().contains("0600"), "{exposed}");
}
