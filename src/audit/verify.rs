//! Checking a whole log: `mandate audit verify`.
//!
//! The verifier trusts nothing the store says about itself. It reads every entry in
//! order and checks that each is at its own position (`seq`), that it chains to the entry
//! before it (`prev`), and that its stored leaf hash is its own; it recomputes the Merkle
//! tree as it goes, and at each checkpoint's size compares the root with the one the
//! checkpoint signs. Every checkpoint's signature is checked first. Since every root is
//! recomputed from one sequence of entries, the checkpoints are consistent with one
//! another exactly when they all match. A log shorter than its last checkpoint (or than
//! its own head) has lost its tail.
//!
//! The trails (`audit show --task`) are read through the task each entry's row is filed
//! under and, in a store that keeps it apart, a task index; neither is covered by the
//! hashes. So the verifier also checks that each row is filed under the task its entry
//! names, and that the index holds exactly the entries below its bound: both sides are
//! summed as a multiset of `(task, position)` under a hash keyed afresh for each run
//! (which a forger cannot aim at), and the first place they disagree is looked up only
//! when the sums differ.
//!
//! The first failure is reported with its kind and position, and nothing after it is
//! trusted.

use std::borrow::Cow;
use std::hash::{BuildHasher, RandomState};
use std::sync::mpsc::{Receiver, SyncSender};

use serde::{Deserialize, Serialize};

use super::log::TreeState;
use super::merkle::{self, Hash};
use super::note::{Checkpoint, NoteVerifier};
use crate::runtime::store::{LogRow, Store, StoreError};

/// How many entries are read from the store at a time.
const CHUNK: usize = 2048;

/// What a log that verifies holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub entries: u64,
    pub checkpoints: usize,
    /// The last checkpoint's size, and entries after it (not covered by any signature yet).
    pub checkpointed: u64,
    pub uncovered: u64,
    pub root: String,
}

/// Why a log does not verify, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{kind} at {position}: {message}")]
pub struct Failure {
    /// `edited_entry`, `missing_entry`, `reordered_entries`, `truncated_log`,
    /// `forged_checkpoint`, `bad_checkpoint`, `misfiled_entry` or `damaged_store`.
    pub kind: &'static str,
    /// The entry position (or, for a checkpoint, its size) where it fails.
    pub position: u64,
    pub message: String,
}

fn fail(kind: &'static str, position: u64, message: String) -> Failure {
    Failure { kind, position, message }
}

fn damaged(error: StoreError) -> Failure {
    fail("damaged_store", 0, error.to_string())
}

/// The fields of an entry the verifier reads; the rest is hashed, not parsed.
#[derive(Deserialize)]
struct Position<'a> {
    seq: u64,
    #[serde(borrow)]
    prev: Option<Cow<'a, str>>,
    #[serde(borrow)]
    task: Option<TaskOf<'a>>,
}

/// The task an entry names.
#[derive(Deserialize)]
struct TaskOf<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// A multiset of `(task, position)` pairs, as a count and a sum of keyed hashes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Filed {
    count: u64,
    sum: u64,
}

impl Filed {
    fn add(&mut self, key: &RandomState, task: &str, seq: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(key.hash_one((task, seq)));
    }
}

/// The task index as the store holds it: its bound, and what it files below it.
struct TaskIndex {
    bound: u64,
    filed: Filed,
}

/// Verifies the whole log in `store` against the log's key (and `origin`, when given).
/// `progress` is called with the number of entries read so far.
///
/// One thread reads the entries and hashes them while this one checks them, so reading
/// the store and checking overlap.
pub fn verify(
    store: &dyn Store,
    key: &NoteVerifier,
    origin: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> Result<Verified, Failure> {
    let checkpoints = signed_checkpoints(store, key, origin)?;
    // Only the head's size is read: its running state is the writer's, not evidence. A
    // head that cannot be read is reported after the entries are checked, so that a
    // removed tail is found against the checkpoints, where it began, when they cover it.
    let head = store.log_head();
    let head_size = head.as_ref().map_or(0, |head| head.size);
    let key = RandomState::new();
    let index = task_index(store, &key);
    let bound = index.as_ref().ok().and_then(Option::as_ref).map_or(0, |index| index.bound);
    let mut filed = Filed::default();
    let verified = std::thread::scope(|scope| {
        let (sender, chunks) = std::sync::mpsc::sync_channel(2);
        scope.spawn(move || read_ahead(store, &sender));
        check_chunks(chunks, &checkpoints, head_size, progress, &mut |task, seq| {
            if seq < bound {
                filed.add(&key, task, seq);
            }
        })
    })?;
    let at_end = |error: StoreError| fail("damaged_store", verified.entries, error.to_string());
    head.map_err(at_end)?;
    match index.map_err(at_end)? {
        Some(index) if index.filed != filed => Err(misindexed(store, &index, verified.entries)),
        _ => Ok(verified),
    }
}

/// The store's task index, read whole and summed; `None` when the store keeps none apart.
fn task_index(store: &dyn Store, key: &RandomState) -> Result<Option<TaskIndex>, StoreError> {
    let mut filed = Filed::default();
    let bound = store.log_task_index(&mut |task, seq| filed.add(key, task, seq))?;
    Ok(bound.map(|bound| TaskIndex { bound, filed }))
}

/// The failure for a task index that does not hold exactly the entries below its bound,
/// at the first position where they disagree.
fn misindexed(store: &dyn Store, index: &TaskIndex, entries: u64) -> Failure {
    let position = match store.log_task_index_fault() {
        Ok(position) => position.unwrap_or(index.bound.min(entries)),
        Err(error) => return fail("damaged_store", entries, error.to_string()),
    };
    fail(
        "misfiled_entry",
        position,
        format!(
            "the task index behind `audit show --task` does not hold exactly the entries below {} from entry {position} on: rows were removed from it, added to it or changed, or its bound was moved",
            index.bound
        ),
    )
}

/// Entries as read, each with the leaf hash of its bytes.
type Chunk = Result<Vec<(LogRow, Hash)>, StoreError>;

/// Reads the log in order, a chunk at a time, hashing each entry, until it ends, the
/// store fails, or the checker stops listening.
fn read_ahead(store: &dyn Store, chunks: &SyncSender<Chunk>) {
    let mut from = 0;
    loop {
        let rows = match store.log_rows(from, CHUNK) {
            Ok(rows) => rows,
            Err(error) => {
                let _ = chunks.send(Err(error));
                return;
            }
        };
        let full = rows.len() == CHUNK;
        let Some(next) = rows.last().map(|row| row.seq + 1) else { return };
        let hashed = rows.into_iter().map(|row| {
            let leaf = merkle::leaf_hash(&row.entry);
            (row, leaf)
        });
        if chunks.send(Ok(hashed.collect())).is_err() || !full {
            return;
        }
        from = next;
    }
}

/// Checks the entries as they come: positions, links, leaf hashes, and each
/// checkpoint's root at its size; then that nothing a checkpoint or the head counts is
/// missing at the end.
fn check_chunks(
    chunks: Receiver<Chunk>,
    checkpoints: &[Checkpoint],
    head_size: u64,
    progress: &mut dyn FnMut(u64),
    file: &mut dyn FnMut(&str, u64),
) -> Result<Verified, Failure> {
    let mut tree = TreeState::default();
    let mut next_checkpoint = checkpoints.iter().peekable();
    let mut covered_from = 0;
    for chunk in chunks {
        for (row, leaf) in chunk.map_err(damaged)? {
            let at = tree.size;
            if row.seq != at {
                return Err(fail(
                    "missing_entry",
                    at,
                    format!("entry {at} is missing: the next stored entry is {}", row.seq),
                ));
            }
            check_entry(at, &row, &leaf, tree.last_leaf.as_ref())?;
            if let Some(task) = &row.task {
                file(task, at);
            }
            tree.push(leaf);
            while let Some(checkpoint) = next_checkpoint.next_if(|checkpoint| checkpoint.size == tree.size) {
                if checkpoint.root != tree.root() {
                    return Err(fail(
                        "edited_entry",
                        covered_from,
                        format!(
                            "the checkpoint at size {} signs another tree: an entry from {covered_from} to {} was changed",
                            checkpoint.size,
                            checkpoint.size - 1
                        ),
                    ));
                }
                covered_from = checkpoint.size;
            }
        }
        progress(tree.size);
    }
    if let Some(checkpoint) = next_checkpoint.next() {
        return Err(fail(
            "truncated_log",
            tree.size,
            format!(
                "the log ends after {} entries, but a checkpoint signs {}: its tail was removed",
                tree.size, checkpoint.size
            ),
        ));
    }
    if head_size > tree.size {
        return Err(fail(
            "truncated_log",
            tree.size,
            format!("the log ends after {} entries, but its head says {head_size}: its tail was removed", tree.size),
        ));
    }
    Ok(Verified {
        entries: tree.size,
        checkpoints: checkpoints.len(),
        checkpointed: covered_from,
        uncovered: tree.size - covered_from,
        root: merkle::hex(&tree.root()),
    })
}

/// Every checkpoint, its signature checked, in order of size.
fn signed_checkpoints(store: &dyn Store, key: &NoteVerifier, origin: Option<&str>) -> Result<Vec<Checkpoint>, Failure> {
    let rows = store.log_checkpoints().map_err(damaged)?;
    let mut checkpoints: Vec<Checkpoint> = Vec::with_capacity(rows.len());
    for row in rows {
        let text = key.open(&row.note).map_err(|error| {
            fail("forged_checkpoint", row.size, format!("the checkpoint at size {}: {error}", row.size))
        })?;
        let checkpoint = Checkpoint::parse(text).map_err(|error| {
            fail("bad_checkpoint", row.size, format!("the checkpoint at size {}: {error}", row.size))
        })?;
        if checkpoint.size != row.size {
            return Err(fail(
                "forged_checkpoint",
                row.size,
                format!("the checkpoint stored at size {} signs size {}", row.size, checkpoint.size),
            ));
        }
        let expected = origin.or_else(|| checkpoints.first().map(|first| first.origin.as_str()));
        if let Some(expected) = expected.filter(|expected| *expected != checkpoint.origin) {
            return Err(fail(
                "bad_checkpoint",
                row.size,
                format!("the checkpoint at size {} is of log `{}`, not `{expected}`", row.size, checkpoint.origin),
            ));
        }
        checkpoints.push(checkpoint);
    }
    Ok(checkpoints)
}

/// One entry's own checks: its position, its link to the entry before, that its stored
/// leaf hash is `leaf`, the hash of its bytes, and that its row is filed under the task
/// it names.
fn check_entry(at: u64, row: &LogRow, leaf: &Hash, previous: Option<&Hash>) -> Result<(), Failure> {
    let position: Position = serde_json::from_slice(&row.entry)
        .map_err(|error| fail("edited_entry", at, format!("entry {at} is not a log entry: {error}")))?;
    if position.seq != at {
        return Err(fail(
            "reordered_entries",
            at,
            format!("the entry at position {at} says it is entry {}: entries were moved or renumbered", position.seq),
        ));
    }
    if position.prev.as_deref() != previous.map(merkle::hex).as_deref() {
        let before = at.saturating_sub(1);
        return Err(fail(
            "edited_entry",
            before,
            format!("entry {at} does not follow the entry before it: entry {before} was changed, or entries before {at} were removed or reordered"),
        ));
    }
    if row.leaf.as_slice() != leaf.as_slice() {
        return Err(fail(
            "edited_entry",
            at,
            format!("entry {at} does not have the hash it was written with: it was changed"),
        ));
    }
    let named = position.task.as_ref().map(|task| task.id.as_ref());
    if row.task.as_deref() != named {
        let quoted = |task: Option<&str>| task.map_or("no task".to_string(), |task| format!("task `{task}`"));
        return Err(fail(
            "misfiled_entry",
            at,
            format!(
                "entry {at} is filed under {} but names {}: its row was changed, and `audit show --task` would show it in the wrong trail",
                quoted(row.task.as_deref()),
                quoted(named)
            ),
        ));
    }
    Ok(())
}
