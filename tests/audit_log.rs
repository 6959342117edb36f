//! The audit log kept by a running runtime: what its entries hold, that the whole log,
//! its receipts and its replay check out, that each kind of tampering is caught where it
//! happened (`fixtures/audit/tampering.json`), that masking keeps values out without
//! breaking replay, and that a process killed while deciding loses no decision it
//! returned.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

#[path = "support/runtime_suite.rs"]
mod suite;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use mandate::audit::entry::canonical;
use mandate::audit::log::{AuditConfig, AuditLog};
use mandate::audit::merkle;
use mandate::audit::note::{NoteSigner, NoteVerifier};
use mandate::audit::{replay, verify};
use mandate::eval::decision::Outcome;
use mandate::runtime::sqlite::SqliteStore;
use mandate::runtime::store::{Narrowing, Store};
use mandate::runtime::Runtime;
use serde_json::{json, Value as Json};

const ORIGIN: &str = "example.com/mandate/audit";

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[7; 32])).expect("a signer")
}

fn verifier() -> NoteVerifier {
    NoteVerifier::parse(&signer().verifier_key()).expect("a verifier key")
}

fn fresh_path(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("audit-{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// Wraps a runtime with an audit log over its own store.
fn journaled(config: AuditConfig) -> impl FnOnce(Runtime) -> Runtime {
    move |runtime| {
        let log = AuditLog::start(runtime.shared_store(), &suite::policies(), signer(), config).expect("starts");
        runtime.with_journal(Arc::new(log))
    }
}

fn config(every: u64) -> AuditConfig {
    // Checkpoints by count only (after the first, which the interval since none makes
    // due at once): positions in the tampering fixture must not depend on timing.
    let interval = Duration::from_secs(3600);
    AuditConfig {
        origin: ORIGIN.to_string(),
        checkpoint_every: every,
        checkpoint_interval: interval,
        ..AuditConfig::default()
    }
}

/// A runtime whose audit log is kept in the SQLite file at `path` (written with
/// `config`), and a task opened by `triage` for customer acme.
fn journaled_world(path: &Path, config: AuditConfig) -> (suite::World, String) {
    let world = suite::World::new_with(Box::new(SqliteStore::open(path).expect("opens")), journaled(config));
    let task = world.open("triage", json!({"customer": "acme"}));
    (world, task)
}

/// A task opened (entry 0), 19 decisions (allow on odd entries, deny on even ones) and
/// its revocation (entry 20); checkpoints after the first entry (the interval since the
/// last checkpoint, none, has passed), then every 5 entries: at 1, 6, 11, 16 and 21.
fn small_log(name: &str) -> PathBuf {
    let path = fresh_path(name);
    let (world, task) = journaled_world(&path, config(5));
    let now = suite::t0() + suite::MINUTE;
    for round in 1..20 {
        let customer = if round % 2 == 1 { "acme" } else { "globex" };
        let decided = world.runtime.decide("triage", &task, &suite::call("read", customer, json!({})), now, false);
        assert_eq!(decided.expect("decides").log_seq, Some(round));
    }
    world.runtime.revoke(&task, "alice@example.com", "done", now).expect("revokes");
    path
}

#[test]
fn a_running_runtime_keeps_a_log_that_verifies_replays_and_proves_each_entry() {
    let path = small_log("whole");
    let store = SqliteStore::open(&path).expect("opens");
    let verified = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("verifies");
    assert_eq!((verified.entries, verified.checkpoints, verified.uncovered), (21, 5, 0));
    let rows = store.log_rows(0, 100).expect("rows");
    let kinds: Vec<String> = rows
        .iter()
        .map(|row| {
            let entry: Json = serde_json::from_slice(&row.entry).expect("JSON");
            assert_eq!(canonical(&entry).expect("canonical"), row.entry, "entry {} is in RFC 8785 form", row.seq);
            assert_eq!(entry["seq"], row.seq);
            entry["kind"].as_str().expect("a kind").to_string()
        })
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("task_opened"));
    assert_eq!(kinds.last().map(String::as_str), Some("task_revoked"));
    let decision: Json = serde_json::from_slice(&rows[1].entry).expect("JSON");
    assert_eq!(decision["chain"], json!(["alice@example.com", "triage"]));
    assert_eq!(decision["decision"], "allow");
    assert_eq!(decision["policies"]["permit"], json!(["support_does_its_task"]));
    assert!(decision["policy_set"].as_str().is_some_and(|hash| store.bundle(hash).expect("reads").is_some()));
    assert!(decision["request"]["context"]["time"].is_string(), "the clock is in the entry");
    assert!(decision["task"]["params_digest"].as_str().is_some_and(|digest| digest.starts_with("sha256:")));
    let replayed = replay::replay(&store, None, 0, &mut |_| {}).expect("replays");
    assert_eq!((replayed.decisions, replayed.reproduced, replayed.mismatches.len()), (19, 19, 0));
    for seq in [0, 4, 5, 13, 20] {
        let receipt = replay::receipt(&store, seq).expect("a receipt");
        let checkpoint = receipt.verify(&verifier(), Some(ORIGIN)).expect("the receipt verifies");
        assert!(checkpoint.size > seq);
        assert_eq!(receipt.entry, rows[seq as usize].entry);
    }
    let trail = replay::trail(&store, &kinds_task(&rows)).expect("a trail");
    assert_eq!(trail.len(), 21);
}

/// A task met after its deadline ends as expired: one `task_expired` entry, before the
/// first decision refused for it, and none for the later ones; the log still verifies and
/// replays.
#[test]
fn an_expired_task_is_logged_once_when_first_met_after_its_deadline() {
    let path = fresh_path("expired");
    let (world, task) = journaled_world(&path, config(5));
    let deadline = suite::t0() + 30 * suite::MINUTE;
    for late in [deadline, deadline + suite::MINUTE] {
        let decided = world.runtime.decide("triage", &task, &suite::call("read", "acme", json!({})), late, false);
        assert_eq!(decided.expect("decides").decision.reasons[0].code, "task_expired");
    }
    drop(world);
    let store = SqliteStore::open(&path).expect("opens");
    verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("verifies");
    let entries: Vec<Json> = store
        .log_rows(0, 100)
        .expect("rows")
        .iter()
        .map(|row| serde_json::from_slice(&row.entry).expect("JSON"))
        .collect();
    let kinds: Vec<&str> = entries.iter().map(|entry| entry["kind"].as_str().expect("a kind")).collect();
    assert_eq!(kinds, ["task_opened", "task_expired", "decision", "decision"]);
    assert_eq!((entries[1]["cause"].as_str(), entries[1]["by"].as_str()), (Some("expired"), Some("runtime")));
    let replayed = replay::replay(&store, None, 0, &mut |_| {}).expect("replays");
    assert!(replayed.mismatches.is_empty(), "{:?}", replayed.mismatches);
}

fn kinds_task(rows: &[mandate::runtime::store::LogRow]) -> String {
    rows[0].task.clone().expect("a task")
}

/// Applies one tampering of the fixture to the store file at `path`.
fn tamper(path: &Path, op: &str, seq: i64) {
    let db = rusqlite::Connection::open(path).expect("opens");
    let entry = |seq: i64| -> Vec<u8> {
        db.query_row("SELECT entry FROM audit_log WHERE seq = ?1", [seq], |row| row.get(0)).expect("an entry")
    };
    let edited = |seq: i64| -> Vec<u8> {
        let text = String::from_utf8(entry(seq)).expect("text");
        let changed = text.replacen("\"allow\"", "\"deny\"", 1).replacen("\"revoked\"", "\"completed\"", 1);
        assert_ne!(changed, text, "the fixture edits something");
        changed.into_bytes()
    };
    let run = |sql: &str| db.execute_batch(sql).expect("tampers");
    match op {
        "edit" => {
            db.execute("UPDATE audit_log SET entry = ?1 WHERE seq = ?2", rusqlite::params![edited(seq), seq])
                .expect("edits");
        }
        "edit_rehash" => {
            let bytes = edited(seq);
            let leaf = merkle::leaf_hash(&bytes).to_vec();
            db.execute(
                "UPDATE audit_log SET entry = ?1, leaf = ?2 WHERE seq = ?3",
                rusqlite::params![bytes, leaf, seq],
            )
            .expect("edits");
        }
        "delete" => run(&format!("DELETE FROM audit_log WHERE seq = {seq}")),
        "delete_renumber" => run(&format!(
            "DELETE FROM audit_log WHERE seq = {seq}; UPDATE audit_log SET seq = -seq WHERE seq > {seq};
             UPDATE audit_log SET seq = -seq - 1 WHERE seq < 0"
        )),
        "swap" => run(&format!(
            "UPDATE audit_log SET seq = -1 WHERE seq = {seq}; UPDATE audit_log SET seq = {seq} WHERE seq = {seq} + 1;
             UPDATE audit_log SET seq = {seq} + 1 WHERE seq = -1"
        )),
        "truncate" => run(&format!("DELETE FROM audit_log WHERE seq >= {seq}")),
        "forge" => {
            let note: String = db
                .query_row("SELECT note FROM audit_checkpoints WHERE size = ?1", [seq], |row| row.get(0))
                .expect("a note");
            let text = note.split("\n\n").next().expect("a text").to_string() + "\n";
            let forger = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[9; 32])).expect("a signer");
            db.execute(
                "UPDATE audit_checkpoints SET note = ?1 WHERE size = ?2",
                rusqlite::params![forger.sign(&text).expect("signs"), seq],
            )
            .expect("forges");
        }
        "erase_head" => run(&format!("UPDATE audit_log SET head = NULL WHERE seq = {seq}")),
        "move_checkpoint" => run(&format!("UPDATE audit_checkpoints SET size = {seq} - 1 WHERE size = {seq}")),
        "refile" => run(&format!("UPDATE audit_log SET task = 'task_elsewhere' WHERE seq = {seq}")),
        "unindex" => run(&format!("DELETE FROM audit_task WHERE seq = {seq}")),
        "index_refile" => run(&format!("UPDATE audit_task SET task = 'task_elsewhere' WHERE seq = {seq}")),
        "index_forge" => run(&format!("INSERT INTO audit_task (task, seq) VALUES ('task_elsewhere', {seq})")),
        "move_index_bound" => {
            run(&format!("UPDATE audit_log SET indexed = {seq} WHERE seq = (SELECT max(seq) FROM audit_log)"))
        }
        other => panic!("unknown tampering `{other}`"),
    }
}

#[test]
fn every_kind_of_tampering_is_caught_where_it_happened() {
    let original = small_log("original");
    let cases: Vec<Json> =
        serde_json::from_str(include_str!("fixtures/audit/tampering.json")).expect("the fixture reads");
    for case in cases {
        let name = case["name"].as_str().expect("a name");
        let path = fresh_path("tampered");
        std::fs::copy(&original, &path).expect("copies");
        tamper(&path, case["op"].as_str().expect("an op"), case["seq"].as_i64().expect("a seq"));
        let store = SqliteStore::open(&path).expect("opens");
        let failure = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect_err(name);
        assert_eq!(failure.kind, case["kind"], "{name}: {failure}");
        assert_eq!(failure.position, case["position"].as_u64().expect("a position"), "{name}: {failure}");
    }
}

/// A log longer than the verifier reads at a time (2,048 entries, read ahead on another
/// thread): it verifies whole, and a gap, an edit or a lost tail past the first chunk is
/// found where it is.
#[test]
fn a_log_read_in_chunks_is_checked_across_them() {
    let original = fresh_path("chunked");
    let (world, task) = journaled_world(&original, config(1000));
    let now = suite::t0() + suite::MINUTE;
    for _ in 0..2_200 {
        world.runtime.decide("triage", &task, &suite::call("read", "acme", json!({})), now, false).expect("decides");
    }
    drop(world);
    let store = SqliteStore::open(&original).expect("opens");
    let verified = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("verifies");
    assert_eq!((verified.entries, verified.checkpointed), (2_201, 2_201));
    drop(store);
    for (op, seq, kind, position) in [
        ("delete", 2_048, "missing_entry", 2_048),
        ("edit", 2_049, "edited_entry", 2_049),
        ("delete_renumber", 2_047, "reordered_entries", 2_047),
        ("truncate", 2_100, "truncated_log", 2_100),
    ] {
        let path = fresh_path("chunked-tampered");
        std::fs::copy(&original, &path).expect("copies");
        tamper(&path, op, seq);
        let store = SqliteStore::open(&path).expect("opens");
        let failure = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect_err(op);
        assert_eq!((failure.kind, failure.position), (kind, position), "{op}: {failure}");
    }
}

#[test]
fn a_log_checked_with_another_key_or_origin_does_not_verify() {
    let path = small_log("other-key");
    let store = SqliteStore::open(&path).expect("opens");
    // This key's base64 holds a `+`, which a verifier key's parser must not split at.
    let stranger = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[8; 32])).expect("a signer").verifier_key();
    assert_eq!(stranger.matches('+').count(), 3, "{stranger}");
    let failure = verify::verify(&store, &NoteVerifier::parse(&stranger).expect("a key"), None, &mut |_| {})
        .expect_err("another key");
    assert_eq!(failure.kind, "forged_checkpoint");
    let failure =
        verify::verify(&store, &verifier(), Some("example.org/other"), &mut |_| {}).expect_err("another origin");
    assert_eq!(failure.kind, "bad_checkpoint");
}

#[test]
fn a_damaged_store_file_is_reported_not_repaired() {
    let path = small_log("damaged");
    let size = std::fs::metadata(&path).expect("a file").len();
    let damaged = fresh_path("damaged-copy");
    let mut bytes = std::fs::read(&path).expect("reads");
    bytes.truncate((size / 2) as usize);
    std::fs::write(&damaged, &bytes).expect("writes");
    let opened = SqliteStore::open(&damaged);
    if let Ok(store) = opened {
        let verified = verify::verify(&store, &verifier(), None, &mut |_| {});
        assert_eq!(verified.expect_err("not silently fine").kind, "damaged_store");
    }
    assert_eq!(std::fs::read(&damaged).expect("reads").len(), bytes.len(), "nothing was written to it");
}

/// Damaged pages in the middle of the log's table (the check on opening does not read
/// them): the store is refused, or the log does not verify; it never passes.
#[test]
fn damaged_log_pages_never_verify() {
    let path = small_log("damaged-pages");
    let mut bytes = std::fs::read(&path).expect("reads");
    let pages = bytes.len() / 4096;
    for page in bytes.chunks_mut(4096).skip(pages / 2).take(2) {
        for byte in page.iter_mut().skip(100).step_by(11) {
            *byte ^= 0x21;
        }
    }
    let damaged = fresh_path("damaged-pages-copy");
    std::fs::write(&damaged, &bytes).expect("writes");
    if let Ok(store) = SqliteStore::open(&damaged) {
        let verified = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {});
        assert!(verified.is_err(), "a damaged log verified: {verified:?}");
    }
}

/// Three tasks' decisions interleaved, 300 in all: more than two steps of the task index
/// (filled every 128 entries), and some entries after the last step.
fn interleaved_log(name: &str) -> (PathBuf, Vec<String>) {
    let path = fresh_path(name);
    let world = suite::World::new_with(Box::new(SqliteStore::open(&path).expect("opens")), journaled(config(100)));
    let tasks: Vec<String> = (0..3).map(|_| world.open("triage", json!({"customer": "acme"}))).collect();
    let now = suite::t0() + suite::MINUTE;
    for round in 0..300usize {
        // Uneven turns, so the tasks' entries do not fall in a regular pattern.
        let task = &tasks[(round * round + round / 7) % 3];
        world.runtime.decide("triage", task, &suite::call("read", "acme", json!({})), now, false).expect("decides");
    }
    (path, tasks)
}

/// Each task's trail as the store finds it (through the task index, then the entries
/// after its last step) against the entries of that task read in order.
fn assert_trails_whole(store: &SqliteStore, tasks: &[String]) {
    let rows = store.log_rows(0, 10_000).expect("rows");
    for task in tasks {
        let expected: Vec<u64> =
            rows.iter().filter(|row| row.task.as_deref() == Some(task)).map(|row| row.seq).collect();
        let found: Vec<u64> = store.log_rows_of_task(task).expect("a trail").iter().map(|row| row.seq).collect();
        assert_eq!(found, expected, "the trail of {task}");
        assert!(expected.len() > 50, "{task} has entries on both sides of a step");
    }
    assert!(store.log_rows_of_task("task_none").expect("a trail").is_empty());
}

#[test]
fn trails_are_whole_on_both_sides_of_the_task_index_steps() {
    let (path, tasks) = interleaved_log("trails");
    let store = SqliteStore::open(&path).expect("opens");
    assert_trails_whole(&store, &tasks);
    verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("verifies");
}

/// The trails are read through each row's task and the task index, which the hashes do
/// not cover: a row filed under another task, an index row removed, changed or added, or
/// the index's bound moved, would change what `audit show --task` prints, and `verify`
/// finds each where it is.
#[test]
fn a_misfiled_entry_or_a_doctored_task_index_is_caught() {
    let (original, _) = interleaved_log("index-original");
    for (op, seq, position) in [
        ("refile", 10, 10),
        ("refile", 290, 290),
        ("unindex", 100, 100),
        ("index_refile", 60, 60),
        ("index_forge", 70, 70),
        ("move_index_bound", 300, 256),
        ("move_index_bound", 128, 128),
    ] {
        let path = fresh_path("index-tampered");
        std::fs::copy(&original, &path).expect("copies");
        tamper(&path, op, seq);
        let store = SqliteStore::open(&path).expect("opens");
        if op == "unindex" {
            let rows = store.log_rows(seq as u64, 1).expect("rows");
            let task = rows[0].task.clone().expect("a task");
            let trail = store.log_rows_of_task(&task).expect("a trail");
            assert!(trail.iter().all(|row| row.seq != seq as u64), "the trail lost entry {seq}");
        }
        let failure = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect_err(op);
        assert_eq!((failure.kind, failure.position), ("misfiled_entry", position), "{op} {seq}: {failure}");
    }
}

/// The runtime's ceilings may only turn the policies' allow into a deny: replay holds
/// each decision returned to that. A budget's deny reproduces; an entry whose decision
/// says more than its policies did, or whose deny names no ceiling, is reported.
#[test]
fn replay_finds_a_decision_returned_beyond_the_policies() {
    let path = fresh_path("ceilings");
    let (world, task) = journaled_world(&path, config(64));
    let now = suite::t0() + suite::MINUTE;
    let decide = |action: &str, customer: &str, args: Json| {
        world.runtime.decide("triage", &task, &suite::call(action, customer, args), now, false).expect("decides")
    };
    let allowed = decide("refund", "acme", json!({"amount": "60.0"}));
    let exhausted = decide("refund", "acme", json!({"amount": "60.0"}));
    let denied = decide("read", "globex", json!({}));
    assert_eq!(allowed.decision.decision, Outcome::Allow);
    assert_eq!(exhausted.decision.reasons[0].code, "budget_exhausted");
    assert_eq!(denied.decision.decision, Outcome::Deny);
    drop(world);
    let store = SqliteStore::open(&path).expect("opens");
    let replayed = replay::replay(&store, None, 0, &mut |_| {}).expect("replays");
    assert_eq!((replayed.reproduced, replayed.mismatches.len()), (3, 0), "{:?}", replayed.mismatches);
    drop(store);
    for (edited, (seq, from, to)) in [
        (denied.log_seq, "\"decision\":\"deny\"", "\"decision\":\"allow\""),
        (exhausted.log_seq, "\"code\":\"budget_exhausted\"", "\"code\":\"budget_waived\""),
    ]
    .into_iter()
    .enumerate()
    {
        let seq = seq.expect("a position");
        edit_entry(&path, seq, |text| text.replacen(from, to, 1));
        let store = SqliteStore::open(&path).expect("opens");
        let replayed = replay::replay(&store, None, 0, &mut |_| {}).expect("replays");
        assert_eq!(replayed.mismatches.len(), edited + 1, "{:?}", replayed.mismatches);
        let mismatch = replayed.mismatches.iter().find(|mismatch| mismatch.seq == seq).expect("a mismatch");
        assert!(mismatch.why.contains("not the policies'"), "{}", mismatch.why);
    }
}

/// Rewrites the text of entry `seq` in the store file at `path` (its hashes left alone:
/// replay reads what is recorded, `verify` is what checks the hashes).
fn edit_entry(path: &Path, seq: u64, edit: impl Fn(&str) -> String) {
    let db = rusqlite::Connection::open(path).expect("opens");
    let entry: Vec<u8> =
        db.query_row("SELECT entry FROM audit_log WHERE seq = ?1", [seq as i64], |row| row.get(0)).expect("reads");
    let text = String::from_utf8(entry).expect("text");
    let edited = edit(&text);
    assert_ne!(edited, text, "entry {seq} is edited");
    db.execute("UPDATE audit_log SET entry = ?1 WHERE seq = ?2", rusqlite::params![edited.into_bytes(), seq as i64])
        .expect("edits");
}

/// Replaces the first reason's code of an entry's text with `code`.
fn with_first_reason(text: &str, code: &str) -> String {
    let opening = "\"reasons\":[{\"code\":\"";
    let start = text.find(opening).expect("a reason") + opening.len();
    let end = start + text[start..].find('"').expect("the code's end");
    format!("{}{code}{}", &text[..start], &text[end..])
}

/// The runtime's ceilings are derived again from the log: a delegation's narrowing from
/// the entry that made it, a budget from the amounts the task was allowed. A log whose
/// decisions they bear out replays clean; an allow outside the narrowing, an allow that
/// takes a budget past its limit, and a budget's deny the totals do not bear out are
/// each reported at their position.
#[test]
fn replay_derives_the_narrowing_and_the_budgets_again() {
    let path = fresh_path("ceilings-derived");
    let (world, task) = journaled_world(&path, config(64));
    let now = suite::t0() + suite::MINUTE;
    let reads_only = Narrowing { actions: Some(vec!["read".to_string()]), ..Narrowing::default() };
    world.runtime.delegate("triage", &task, "biller", reads_only, now).expect("delegates");
    let decide = |agent: &str, action: &str, args: Json| {
        let decided = world.runtime.decide(agent, &task, &suite::call(action, "acme", args), now, false);
        let decided = decided.expect("decides");
        let reason = decided.decision.reasons.first().map(|reason| reason.code.clone()).unwrap_or_default();
        (decided.log_seq.expect("a position"), decided.decision.decision, reason)
    };
    let read = decide("biller", "read", json!({}));
    let comment = decide("biller", "comment", json!({"text": "x"}));
    let refunds: Vec<_> = ["60.0", "30.0", "20.0", "10.0"]
        .iter()
        .map(|amount| decide("triage", "refund", json!({"amount": amount})))
        .collect();
    assert_eq!(read.1, Outcome::Allow);
    assert_eq!((comment.1, comment.2.as_str()), (Outcome::Deny, "outside_delegated_scope"));
    let outcomes: Vec<_> = refunds.iter().map(|(_, outcome, reason)| (*outcome, reason.as_str())).collect();
    assert_eq!(outcomes[2], (Outcome::Deny, "budget_exhausted"));
    assert!([0, 1, 3].iter().all(|at| outcomes[*at].0 == Outcome::Allow), "{outcomes:?}");
    drop(world);
    let store = SqliteStore::open(&path).expect("opens");
    let replayed = replay::replay(&store, None, 0, &mut |_| {}).expect("replays");
    assert_eq!((replayed.reproduced, replayed.mismatches.len()), (6, 0), "{:?}", replayed.mismatches);
    // From the middle, or one task's trail: what came before is unknown, never a mismatch.
    for from in [comment.0, refunds[2].0] {
        let replayed = replay::replay(&store, None, from, &mut |_| {}).expect("replays");
        assert!(replayed.mismatches.is_empty(), "from {from}: {:?}", replayed.mismatches);
    }
    let replayed = replay::replay(&store, Some(&task), 0, &mut |_| {}).expect("replays");
    assert_eq!((replayed.reproduced, replayed.mismatches.len()), (6, 0), "{:?}", replayed.mismatches);
    drop(store);
    let allowed = |text: &str| text.replacen("\"decision\":\"deny\"", "\"decision\":\"allow\"", 1);
    let exhausted = |text: &str| {
        with_first_reason(&text.replacen("\"decision\":\"allow\"", "\"decision\":\"deny\"", 1), "budget_exhausted")
    };
    type Edit = fn(&str) -> String;
    let cases: [(u64, Edit, Vec<u64>); 3] = [
        // A comment the narrowing keeps from the delegate, recorded as allowed.
        (comment.0, allowed, vec![comment.0]),
        // The refund of 20 recorded as allowed: 110 refunded against a limit of 100.
        (refunds[2].0, allowed, vec![refunds[2].0]),
        // The refund of 30 recorded as exhausting the budget: only 70 was allowed, so
        // neither it nor the refund of 20 is borne out.
        (refunds[1].0, exhausted, vec![refunds[1].0, refunds[2].0]),
    ];
    for (seq, edit, expected) in cases {
        let copy = fresh_path("ceilings-edited");
        std::fs::copy(&path, &copy).expect("copies");
        edit_entry(&copy, seq, edit);
        let store = SqliteStore::open(&copy).expect("opens");
        let replayed = replay::replay(&store, None, 0, &mut |_| {}).expect("replays");
        let found: Vec<u64> = replayed.mismatches.iter().map(|mismatch| mismatch.seq).collect();
        assert_eq!(found, expected, "entry {seq}: {:?}", replayed.mismatches);
    }
}

/// Rewrites a log into layout 3: the head in a table of its own, the task index kept by
/// SQLite on every insert.
fn lower_to_layout_3(path: &Path) {
    let db = rusqlite::Connection::open(path).expect("opens");
    db.execute_batch(
        "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 0), size INTEGER NOT NULL, state BLOB NOT NULL);
         INSERT INTO audit_head (id, size, state) SELECT 0, seq + 1, head FROM audit_log ORDER BY seq DESC LIMIT 1;
         DROP TABLE audit_task;
         ALTER TABLE audit_log DROP COLUMN head;
         ALTER TABLE audit_log DROP COLUMN indexed;
         CREATE INDEX audit_log_task ON audit_log (task, seq);
         PRAGMA user_version = 3;",
    )
    .expect("lowers");
}

/// A log of layout 3 is raised when opened: it verifies to the same root, its trails
/// are whole, and appending goes on from its head. One whose head does not count its
/// entries is refused, unchanged.
#[test]
fn a_log_of_layout_3_is_raised_and_goes_on() {
    let (path, tasks) = interleaved_log("layout-3");
    let before = verify::verify(&SqliteStore::open(&path).expect("opens"), &verifier(), Some(ORIGIN), &mut |_| {})
        .expect("verifies");
    let disagreeing = fresh_path("layout-3-disagreeing");
    lower_to_layout_3(&path);
    std::fs::copy(&path, &disagreeing).expect("copies");
    let store = SqliteStore::open(&path).expect("raises");
    let version: i64 = rusqlite::Connection::open(&path)
        .expect("opens")
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("reads");
    assert_eq!(version, 4);
    assert_trails_whole(&store, &tasks);
    let after = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("verifies");
    assert_eq!((after.entries, after.root), (before.entries, before.root));
    let world = suite::World::attach_with(Box::new(store), journaled(config(100)));
    let now = suite::t0() + suite::MINUTE;
    let decided = world.runtime.decide("triage", &tasks[0], &suite::call("read", "acme", json!({})), now, false);
    assert_eq!(decided.expect("decides").log_seq, Some(before.entries));
    drop(world);
    let store = SqliteStore::open(&path).expect("opens");
    assert_eq!(
        verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("verifies").entries,
        before.entries + 1
    );
    assert_trails_whole(&store, &tasks);

    rusqlite::Connection::open(&disagreeing)
        .expect("opens")
        .execute("UPDATE audit_head SET size = size + 1", [])
        .expect("tampers");
    let message = SqliteStore::open(&disagreeing).err().expect("refused").to_string();
    assert!(message.contains("head counts"), "{message}");
    let version: i64 = rusqlite::Connection::open(&disagreeing)
        .expect("opens")
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("reads");
    assert_eq!(version, 3, "a refused file is left as it was");
}

#[test]
fn masked_fields_leave_their_digest_and_replay_still_reproduces() {
    let path = fresh_path("masked");
    let masked = AuditConfig { masks: vec!["args.text".to_string()], ..config(100) };
    let (world, task) = journaled_world(&path, masked);
    let now = suite::t0() + suite::MINUTE;
    let call = suite::call("comment", "acme", json!({"text": "the customer's home address"}));
    let decided = world.runtime.decide("triage", &task, &call, now, false).expect("decides");
    assert_eq!(decided.decision.decision, Outcome::Allow);
    drop(world);
    let store = SqliteStore::open(&path).expect("opens");
    let rows = store.log_rows(0, 10).expect("rows");
    let entry: Json = serde_json::from_slice(&rows[1].entry).expect("JSON");
    let text = entry["request"]["args"]["text"].as_str().expect("a string");
    assert!(text.starts_with("sha256:"), "{text}");
    assert!(!String::from_utf8_lossy(&rows[1].entry).contains("home address"));
    assert_eq!(entry["masked"], json!([{"path": "args.text", "rule": "args.text"}]));
    let replayed = replay::replay(&store, None, 0, &mut |_| {}).expect("replays");
    assert_eq!((replayed.reproduced, replayed.mismatches.len()), (1, 0));
}

#[test]
fn masking_what_replay_needs_is_refused_when_the_log_starts() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("a store"));
    for (rule, why) in [
        ("resource.customer", "the policies read it"),
        ("args.amount", "only strings"),
        ("args.nothing", "no such attribute"),
        ("resource.id", "identifiers"),
        ("behavior.risk", "no maskable attributes"),
        ("amount", "ROOT.NAME"),
    ] {
        let config = AuditConfig { masks: vec![rule.to_string()], ..AuditConfig::default() };
        let refused = AuditLog::start(store.clone(), &suite::policies(), signer(), config).err().expect(rule);
        assert!(refused.to_string().contains(why), "{rule}: {refused}");
    }
}

#[test]
fn concurrent_decisions_share_commits_and_each_gets_its_own_entry() {
    let path = fresh_path("concurrent");
    let (world, task) = journaled_world(&path, config(64));
    let now = suite::t0() + suite::MINUTE;
    let seqs: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..100)
                        .map(|_| {
                            let call = suite::call("read", "acme", json!({}));
                            world
                                .runtime
                                .decide("triage", &task, &call, now, false)
                                .expect("decides")
                                .log_seq
                                .expect("a seq")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().expect("joins")).collect()
    });
    drop(world);
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=400).collect::<Vec<u64>>(), "every decision has its own position");
    let store = SqliteStore::open(&path).expect("opens");
    let verified = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("verifies");
    assert_eq!(verified.entries, 401);
}

/// Many tasks on two worker threads await their decisions while the log commits: each
/// is returned with its own position, and the entry there holds that decision.
#[test]
fn awaited_decisions_are_returned_once_their_entries_are_committed() {
    let path = fresh_path("awaited");
    let (world, task) = journaled_world(&path, config(64));
    let now = suite::t0() + suite::MINUTE;
    let executor = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("an executor");
    let handles: Vec<_> = (0..16)
        .map(|worker| {
            let (runtime, task) = (world.runtime.clone(), task.clone());
            executor.spawn(async move {
                let mut decided = Vec::new();
                for round in 0..25 {
                    let customer = if (worker + round) % 3 == 0 { "globex" } else { "acme" };
                    let call = suite::call("read", customer, json!({}));
                    let decision = runtime.decide_async("triage", &task, &call, now, false).await.expect("decides");
                    decided.push((decision.log_seq.expect("a seq"), decision.decision.decision, customer));
                }
                decided
            })
        })
        .collect();
    let decided: Vec<(u64, Outcome, &str)> = executor.block_on(async {
        let mut decided = Vec::new();
        for handle in handles {
            decided.extend(handle.await.expect("the task ends"));
        }
        decided
    });
    drop(world);
    let mut seqs: Vec<u64> = decided.iter().map(|(seq, _, _)| *seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=400).collect::<Vec<u64>>(), "every decision has its own position");
    let store = SqliteStore::open(&path).expect("opens");
    let rows = store.log_rows(0, 500).expect("rows");
    for (seq, outcome, customer) in &decided {
        let entry: Json = serde_json::from_slice(&rows[*seq as usize].entry).expect("JSON");
        assert_eq!(entry["decision"], serde_json::to_value(outcome).expect("a word"), "entry {seq}");
        assert_eq!(entry["request"]["resource"]["attrs"]["customer"], *customer, "entry {seq}");
        let expected = if *customer == "acme" { Outcome::Allow } else { Outcome::Deny };
        assert_eq!(*outcome, expected, "entry {seq}");
    }
    let verified = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("verifies");
    assert_eq!(verified.entries, 401);
    let replayed = replay::replay(&store, None, 0, &mut |_| {}).expect("replays");
    assert_eq!((replayed.decisions, replayed.reproduced), (400, 400));
}

/// A decision the log cannot hold is not returned, whether the caller waits or awaits:
/// not when the log has stopped, and not when the writer fails to commit it.
#[test]
fn a_decision_the_log_cannot_hold_is_refused() {
    let path = fresh_path("refused");
    let log = Arc::new(
        AuditLog::start(Arc::new(SqliteStore::open(&path).expect("opens")), &suite::policies(), signer(), config(64))
            .expect("starts"),
    );
    let journal = log.clone();
    let world = suite::World::new_with(Box::new(SqliteStore::open(&path).expect("opens")), move |runtime| {
        runtime.with_journal(journal)
    });
    let task = world.open("triage", json!({"customer": "acme"}));
    let now = suite::t0() + suite::MINUTE;
    let call = suite::call("read", "acme", json!({}));
    let executor = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("an executor");
    let refused = |decided: Result<mandate::runtime::RuntimeDecision, mandate::runtime::RuntimeError>| {
        let error = decided.expect_err("no decision the log does not hold");
        assert_eq!(error.code, "audit_failed", "{error:?}");
        error.message
    };
    // The writer fails: its table is gone.
    rusqlite::Connection::open(&path).expect("opens").execute_batch("DROP TABLE audit_log").expect("drops");
    refused(world.runtime.decide("triage", &task, &call, now, false));
    refused(executor.block_on(world.runtime.decide_async("triage", &task, &call, now, false)));
    // The log has stopped.
    log.close();
    let stopped = refused(executor.block_on(world.runtime.decide_async("triage", &task, &call, now, false)));
    assert!(stopped.contains("closed"), "{stopped}");
    refused(world.runtime.decide("triage", &task, &call, now, false));
}

/// Decides in a loop and prints each decision's position as soon as it is returned,
/// when asked to by [`a_killed_process_loses_no_returned_decision`].
#[test]
fn deciding_loop() {
    let Ok(path) = std::env::var("MANDATE_AUDIT_CRASH_STORE") else { return };
    let store = SqliteStore::open(Path::new(&path)).expect("opens");
    let world = suite::World::new_with(Box::new(store), journaled(config(50)));
    let task = world.open("triage", json!({"customer": "acme"}));
    let now = suite::t0() + suite::MINUTE;
    let mut out = std::io::stdout().lock();
    for round in 0.. {
        let customer = if round % 3 == 0 { "globex" } else { "acme" };
        let decided = world.runtime.decide("triage", &task, &suite::call("read", customer, json!({})), now, false);
        let decided = decided.expect("decides");
        use std::io::Write;
        writeln!(
            out,
            "{} {}",
            decided.log_seq.expect("a seq"),
            serde_json::to_value(decided.decision.decision).expect("a word").as_str().expect("a word")
        )
        .expect("prints");
        out.flush().expect("flushes");
    }
}

#[test]
fn a_killed_process_loses_no_returned_decision() {
    let path = fresh_path("killed");
    let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "deciding_loop", "--nocapture", "--test-threads=1"])
        .env("MANDATE_AUDIT_CRASH_STORE", &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("a pipe");
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>()
    });
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().expect("kills");
    child.wait().expect("waits");
    let printed: Vec<(u64, String)> = reader
        .join()
        .expect("reads")
        .iter()
        .filter_map(|line| {
            let (seq, outcome) = line.split_once(' ')?;
            Some((seq.parse().ok()?, outcome.to_string()))
        })
        .collect();
    assert!(printed.len() > 20, "the loop got somewhere: {} decisions", printed.len());
    let store = SqliteStore::open(&path).expect("opens after the kill");
    let verified = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("the log verifies");
    assert!(verified.entries >= printed.len() as u64);
    for (seq, outcome) in &printed {
        let row = store.log_rows(*seq, 1).expect("rows").into_iter().next().expect("the entry is there");
        let entry: Json = serde_json::from_slice(&row.entry).expect("JSON");
        assert_eq!((row.seq, entry["decision"].as_str().expect("a decision")), (*seq, outcome.as_str()));
    }
}

/// Two runtimes on one PostgreSQL database, as two decision servers: their appends are
/// serialised by the log head's row lock into one log that verifies.
#[cfg(feature = "postgres")]
#[test]
fn two_servers_on_postgres_append_to_one_log() {
    use mandate::runtime::postgres::PostgresStore;
    let server = std::env::var("MANDATE_TEST_POSTGRES").unwrap_or_else(|_| "host=127.0.0.1 user=postgres".to_string());
    let name = format!("mandate_audit_{}", std::process::id());
    let mut admin = ::postgres::Client::connect(&server, ::postgres::NoTls).expect("a PostgreSQL server (run .ci/run)");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drops");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("creates");
    let params = format!("{server} dbname={name}");
    let connect = || Box::new(PostgresStore::connect(&params).expect("connects"));
    let first = suite::World::new_with(connect(), journaled(config(16)));
    let second = suite::World::attach_with(connect(), journaled(config(16)));
    let task = first.open("triage", json!({"customer": "acme"}));
    let now = suite::t0() + suite::MINUTE;
    std::thread::scope(|scope| {
        for world in [&first, &second] {
            let task = &task;
            scope.spawn(move || {
                for _ in 0..60 {
                    let call = suite::call("read", "acme", json!({}));
                    world.runtime.decide("triage", task, &call, now, false).expect("decides");
                }
            });
        }
    });
    drop((first, second));
    let store = PostgresStore::connect(&params).expect("connects");
    let verified = verify::verify(&store, &verifier(), Some(ORIGIN), &mut |_| {}).expect("verifies");
    assert_eq!((verified.entries, verified.uncovered), (121, 0));
    let replayed = replay::replay(&store, None, 0, &mut |_| {}).expect("replays");
    assert_eq!(replayed.reproduced, 120);
    drop(store);
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
