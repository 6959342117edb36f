//! The log writer: entries appended with group commit, and signed checkpoints.
//!
//! Deciding threads encode their entries, queue them for one writer thread and wait. The
//! writer takes every entry waiting (at most one per deciding thread), numbers and chains
//! them, and appends them in one store transaction: one commit for many decisions, and
//! each decision returns only once its entry is committed. The store serialises appends (SQLite's write lock,
//! PostgreSQL's row lock on the log head), so several processes can share one log.
//!
//! Each entry holds `seq` (its position) and `prev` (the hex leaf hash of the entry
//! before it, `null` for the first): besides the Merkle tree, the entries form a hash
//! chain, so a verifier can name the exact entry that was edited. The head keeps the
//! tree's right edge (one hash per perfect subtree), so a checkpoint's root costs a few
//! hashes. A checkpoint is signed every `checkpoint_every` entries, or once
//! `checkpoint_interval` has passed since the last one, whichever comes first.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::canonical;
use super::entry::{self, Bundle, Masking};
use super::merkle::{self, Hash};
use super::note::{Checkpoint, NoteSigner};
use super::AuditError;
use crate::eval::engine::now_nanos;
use crate::eval::PolicySet;
use crate::runtime::journal::{Event, Journal, Recorded, Recording};
use crate::runtime::store::{CheckpointRow, LogBatch, LogHead, LogRow, Store, StoreError};
use crate::runtime::RuntimeError;

/// How the log is written.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The checkpoints' origin: the log's name, such as `example.com/mandate/audit`.
    pub origin: String,
    /// Sign a checkpoint after this many entries.
    pub checkpoint_every: u64,
    /// … or once this long has passed since the last checkpoint, if entries came since.
    pub checkpoint_interval: Duration,
    /// Masking rules ([`Masking`]): request fields kept only as digests.
    pub masks: Vec<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            origin: "mandate.local/audit".to_string(),
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_millis(1000),
            masks: Vec::new(),
        }
    }
}

/// The tree's running state, kept in the log head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeState {
    pub size: u64,
    /// The leaf hash of the last entry.
    pub last_leaf: Option<Hash>,
    /// The perfect subtrees' roots, largest (leftmost) first: one per bit set in `size`.
    pub frontier: Vec<Hash>,
    pub checkpoint_size: u64,
    pub checkpoint_at: i64,
}

impl TreeState {
    /// Reads a head; a head that does not decode is a damaged store.
    pub fn decode(head: &LogHead) -> Result<TreeState, StoreError> {
        if head.size == 0 && head.state.is_empty() {
            return Ok(TreeState::default());
        }
        let damaged = || StoreError::Corrupt(format!("the audit log head (size {}) does not decode", head.size));
        let bits = head.size.count_ones() as usize;
        if head.state.len() != 48 + 32 * bits {
            return Err(damaged());
        }
        let (fixed, rest) = head.state.split_at(48);
        let hash = |bytes: &[u8]| <Hash>::try_from(bytes).map_err(|_| damaged());
        let number = |bytes: &[u8]| <[u8; 8]>::try_from(bytes).map_err(|_| damaged());
        Ok(TreeState {
            size: head.size,
            last_leaf: Some(hash(fixed.get(..32).ok_or_else(damaged)?)?),
            checkpoint_size: u64::from_be_bytes(number(fixed.get(32..40).ok_or_else(damaged)?)?),
            checkpoint_at: i64::from_be_bytes(number(fixed.get(40..48).ok_or_else(damaged)?)?),
            frontier: rest.chunks(32).map(hash).collect::<Result<_, _>>()?,
        })
    }

    pub fn encode(&self) -> LogHead {
        let mut state = Vec::with_capacity(48 + 32 * self.frontier.len());
        state.extend_from_slice(&self.last_leaf.unwrap_or_default());
        state.extend_from_slice(&self.checkpoint_size.to_be_bytes());
        state.extend_from_slice(&self.checkpoint_at.to_be_bytes());
        for hash in &self.frontier {
            state.extend_from_slice(hash);
        }
        LogHead { size: self.size, state }
    }

    /// Adds a leaf to the right edge.
    pub fn push(&mut self, leaf: Hash) {
        self.frontier.push(leaf);
        let mut size = self.size;
        while size & 1 == 1 {
            let (Some(right), Some(left)) = (self.frontier.pop(), self.frontier.pop()) else { break };
            self.frontier.push(merkle::node_hash(&left, &right));
            size >>= 1;
        }
        self.size += 1;
        self.last_leaf = Some(leaf);
    }

    /// The tree's root (RFC 6962 §2.1): the right edge folded from the right.
    pub fn root(&self) -> Hash {
        let mut hashes = self.frontier.iter().rev();
        let Some(last) = hashes.next() else { return merkle::empty_root() };
        hashes.fold(*last, |right, left| merkle::node_hash(left, &right))
    }
}

struct Pending {
    task: String,
    /// The entry's fields in canonical form, encoded by the caller so that the writer
    /// only splices in the position.
    encoded: Encoded,
    /// Where the writer answers.
    slot: Arc<Slot>,
}

/// One caller's answer: its entry's position, or why it was not appended; the bell its
/// batch is woken by, for a thread waiting; and the waker of a task awaiting it.
struct Slot {
    outcome: OnceLock<Result<u64, String>>,
    bell: Arc<Bell>,
    waker: Mutex<Option<Waker>>,
}

impl Pending {
    /// Answers the caller (only the first answer counts) and wakes it if it is a task;
    /// a waiting thread wakes when its batch's bell rings.
    fn answer(&self, outcome: Result<u64, String>) {
        let _ = self.slot.outcome.set(outcome);
        let waker = self.slot.waker.lock().ok().and_then(|mut waker| waker.take());
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A submitted entry, as the runtime waits for it.
struct Answer(Arc<Slot>);

impl Recorded for Answer {
    fn wait(&self) -> Result<u64, RuntimeError> {
        self.0.bell.wait_for(&self.0).map_err(|error| not_recorded(&AuditError::Stopped(error)))
    }

    /// The waker is kept before the answer is looked at again: the writer sets the answer
    /// before it takes the waker, so one of the two sees the other.
    fn poll_recorded(&self, waker: &Waker) -> Poll<Result<u64, RuntimeError>> {
        let answered = |slot: &Slot| {
            slot.outcome.get().map(|outcome| outcome.clone().map_err(|error| not_recorded(&AuditError::Stopped(error))))
        };
        if let Some(outcome) = answered(&self.0) {
            return Poll::Ready(outcome);
        }
        if let Ok(mut kept) = self.0.waker.lock() {
            match kept.as_mut() {
                Some(kept) => kept.clone_from(waker),
                None => *kept = Some(waker.clone()),
            }
        }
        answered(&self.0).map_or(Poll::Pending, Poll::Ready)
    }
}

/// An entry dropped unanswered (its batch failed to be taken, or the writer stopped
/// while holding it) fails its caller rather than leaving it waiting.
impl Drop for Pending {
    fn drop(&mut self) {
        if self.slot.outcome.get().is_none() {
            self.answer(Err("the writer stopped before appending the entry".to_string()));
            self.slot.bell.ring();
        }
    }
}

/// What a batch's callers wait on: a count that the writer advances, and wakes every
/// thread waiting on, once the batch is answered (one futex wake for the batch). The
/// batches alternate between two bells, so that ringing one does not wake the callers
/// already queued for the next batch.
#[derive(Default)]
struct Bell(AtomicU32);

impl Bell {
    fn ring(&self) {
        self.0.fetch_add(1, Ordering::Release);
        atomic_wait::wake_all(&self.0);
    }

    /// Waits until `slot` is answered.
    fn wait_for(&self, slot: &Slot) -> Result<u64, String> {
        loop {
            let rung = self.0.load(Ordering::Acquire);
            if let Some(outcome) = slot.outcome.get() {
                return outcome.clone();
            }
            atomic_wait::wait(&self.0, rung);
        }
    }
}

/// What the deciding threads and the writer share: the entries waiting for the next
/// batch, and the bells their batches are woken by.
#[derive(Default)]
struct Handoff {
    queue: Mutex<Queue>,
    arrived: Condvar,
    bells: [Arc<Bell>; 2],
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Pending>,
    /// How many batches have been taken: the waiting entries are the next one's.
    taken: u64,
    /// No more entries are taken.
    closed: bool,
}

impl Handoff {
    /// Queues an entry for the next batch; where its position will be answered.
    fn submit(&self, task: String, encoded: Encoded) -> Result<Arc<Slot>, AuditError> {
        let mut queue = self.queue.lock().map_err(|_| AuditError::Stopped("poisoned".to_string()))?;
        if queue.closed {
            return Err(AuditError::Stopped("closed".to_string()));
        }
        let bell = self.bells.get((queue.taken % 2) as usize).cloned().unwrap_or_default();
        let slot = Arc::new(Slot { outcome: OnceLock::new(), bell, waker: Mutex::new(None) });
        queue.waiting.push(Pending { task, encoded, slot: slot.clone() });
        if queue.waiting.len() == 1 {
            self.arrived.notify_one();
        }
        Ok(slot)
    }

    /// Waits up to `wait` for entries and takes them all.
    fn take(&self, wait: Duration) -> Taken {
        let Ok(mut queue) = self.queue.lock() else { return Taken::Closed };
        if queue.waiting.is_empty() && !queue.closed {
            queue = match self.arrived.wait_timeout(queue, wait) {
                Ok((queue, _)) => queue,
                Err(_) => return Taken::Closed,
            };
        }
        match (queue.waiting.is_empty(), queue.closed) {
            (false, _) => {
                queue.taken += 1;
                Taken::Batch(std::mem::take(&mut queue.waiting))
            }
            (true, false) => Taken::Nothing,
            (true, true) => Taken::Closed,
        }
    }

    /// Takes no more entries; with `drain`, fails those still waiting (dropping them
    /// answers their callers).
    fn close(&self, drain: bool) {
        let waiting = match self.queue.lock() {
            Ok(mut queue) => {
                queue.closed = true;
                if drain {
                    std::mem::take(&mut queue.waiting)
                } else {
                    Vec::new()
                }
            }
            Err(_) => Vec::new(),
        };
        drop(waiting);
        self.arrived.notify_all();
    }
}

enum Taken {
    Batch(Vec<Pending>),
    Nothing,
    Closed,
}

/// An entry's fields in RFC 8785 form: the comma-separated members that sort before
/// `prev`, between `prev` and `seq`, and after `seq`, one after another in one buffer.
/// Members are sorted by name, so the position fields always fall at these two places.
#[derive(Debug, Default)]
struct Encoded {
    text: Vec<u8>,
    /// Where the members after `prev`, and those after `seq`, begin.
    after_prev: usize,
    after_seq: usize,
    /// The leaf hash of the entry's first bytes (up to `"prev":`), which do not depend
    /// on its position: the deciding thread hashes them, so that the writer only hashes
    /// the rest.
    prefix: merkle::LeafHasher,
}

impl Encoded {
    /// The draft's members, sorted and split around the position fields.
    fn of(draft: &entry::Draft) -> Result<Encoded, String> {
        let mut members: Vec<(&str, &[u8])> = draft.members.iter().collect();
        members.sort_unstable_by(|a, b| canonical::utf16_order(a.0, b.0));
        if let Some((key, _)) = members.iter().find(|(key, _)| matches!(*key, "prev" | "seq")) {
            return Err(format!("`{key}` is a field the log writes itself"));
        }
        let before = |position: &str| members.partition_point(|(key, _)| canonical::utf16_order(key, position).is_lt());
        let (prev_at, seq_at) = (before("prev"), before("seq"));
        let size: usize = members.iter().map(|(key, bytes)| key.len() + bytes.len() + 4).sum();
        let mut text = Vec::with_capacity(size);
        let run = |range: std::ops::Range<usize>, text: &mut Vec<u8>| {
            canonical::write_members(members.get(range).unwrap_or_default().iter().copied(), text);
            text.len()
        };
        let after_prev = run(0..prev_at, &mut text);
        let after_seq = run(prev_at..seq_at, &mut text);
        run(seq_at..members.len(), &mut text);
        // The bytes `positioned_bytes` begins with: `{`, the members before `prev`, the
        // comma after them if there are any, and `"prev":`.
        let mut prefix = merkle::LeafHasher::new();
        prefix.update(b"{");
        if after_prev > 0 {
            prefix.update(text.get(..after_prev).unwrap_or_default());
            prefix.update(b",");
        }
        prefix.update(PREV);
        Ok(Encoded { text, after_prev, after_seq, prefix })
    }

    /// The length of the bytes [`Encoded::prefix`] has hashed.
    fn prefix_len(&self) -> usize {
        1 + self.after_prev + usize::from(self.after_prev > 0) + PREV.len()
    }

    /// The leaf hash of this entry as positioned in `bytes`.
    fn leaf(&self, bytes: &[u8]) -> Hash {
        let mut hasher = self.prefix.clone();
        hasher.update(bytes.get(self.prefix_len()..).unwrap_or_default());
        hasher.finish()
    }

    /// The three runs of members, each without a leading or trailing comma.
    fn parts(&self) -> [&[u8]; 3] {
        let text = self.text.as_slice();
        [
            text.get(..self.after_prev).unwrap_or_default(),
            text.get(self.after_prev..self.after_seq).unwrap_or_default(),
            text.get(self.after_seq..).unwrap_or_default(),
        ]
    }
}

/// The canonical text of an entry at `seq` after the leaf `prev`: the same bytes as
/// serialising the fields with `seq` and `prev` added by an RFC 8785 canonicalizer.
fn positioned_bytes(seq: u64, prev: Option<&Hash>, encoded: &Encoded) -> Result<Vec<u8>, String> {
    let [before_prev, before_seq, after_seq] = encoded.parts();
    let mut bytes = Vec::with_capacity(encoded.text.len() + 110);
    bytes.push(b'{');
    append_members(&mut bytes, before_prev);
    append_members(&mut bytes, PREV);
    match prev {
        Some(leaf) => {
            bytes.push(b'"');
            merkle::write_hex(leaf, &mut bytes);
            bytes.push(b'"');
        }
        None => bytes.extend_from_slice(b"null"),
    }
    append_members(&mut bytes, before_seq);
    append_members(&mut bytes, b"\"seq\":");
    canonical::write_number(&seq.into(), &mut bytes)?;
    append_members(&mut bytes, after_seq);
    bytes.push(b'}');
    Ok(bytes)
}

/// The name of the position field that follows the members an entry's deciding thread
/// hashes.
const PREV: &[u8] = b"\"prev\":";

/// Appends a run of members to an object being written (after `{`), with the comma
/// that separates it from the members before it.
fn append_members(object: &mut Vec<u8>, members: &[u8]) {
    if members.is_empty() {
        return;
    }
    if object.len() > 1 {
        object.push(b',');
    }
    object.extend_from_slice(members);
}

/// The audit log of one runtime: implements the runtime's [`Journal`].
pub struct AuditLog {
    handoff: Arc<Handoff>,
    worker: Mutex<Option<JoinHandle<()>>>,
    policy_set: String,
    masking: Masking,
    verifier_key: String,
}

impl AuditLog {
    /// Starts the log for decisions by `set`: checks the masking rules against it, keeps
    /// its bundle, and starts the writer.
    pub fn start(
        store: Arc<dyn Store>,
        set: &PolicySet,
        signer: NoteSigner,
        config: AuditConfig,
    ) -> Result<AuditLog, AuditError> {
        let masking = Masking::new(set, &config.masks)?;
        let bundle = Bundle::of(set)?;
        store.put_bundle(&bundle.hash, &bundle.bytes)?;
        TreeState::decode(&store.log_head()?)?;
        let verifier_key = signer.verifier_key();
        let handoff = Arc::new(Handoff::default());
        let writer = Writer { store, signer, config, dirty: false, first_seq: 0, handoff: handoff.clone() };
        let worker = std::thread::Builder::new()
            .name("mandate-audit".to_string())
            .spawn(move || writer.run())
            .map_err(|error| AuditError::Stopped(error.to_string()))?;
        Ok(AuditLog { handoff, worker: Mutex::new(Some(worker)), policy_set: bundle.hash, masking, verifier_key })
    }

    /// The content hash of the policy set the entries name.
    pub fn policy_set(&self) -> &str {
        &self.policy_set
    }

    /// The key that verifies the log's checkpoints, to publish.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// Encodes `event` and queues it for the writer.
    fn hand_over(&self, event: Event<'_>, at: i64) -> Result<Arc<Slot>, AuditError> {
        let draft = entry::draft(&event, at, &self.policy_set, &self.masking)?;
        let encoded = Encoded::of(&draft).map_err(AuditError::Encode)?;
        let entry::Draft { task, members } = draft;
        members.recycle();
        self.handoff.submit(task, encoded)
    }

    /// Stops the writer after the entries already handed over, signing a last checkpoint.
    pub fn close(&self) {
        self.handoff.close(false);
        if let Some(worker) = self.worker.lock().ok().and_then(|mut worker| worker.take()) {
            let _ = worker.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

impl Journal for AuditLog {
    fn submit(&self, event: Event<'_>, at: i64) -> Result<Recording, RuntimeError> {
        let slot = self.hand_over(event, at).map_err(|error| not_recorded(&error))?;
        Ok(Recording::new(Box::new(Answer(slot))))
    }
}

/// Why the runtime refuses a decision the log does not hold.
fn not_recorded(error: &AuditError) -> RuntimeError {
    RuntimeError::new("audit_failed", format!("the decision could not be recorded: {error}"))
        .help("nothing is returned that the audit log does not hold; check the store")
}

struct Writer {
    store: Arc<dyn Store>,
    signer: NoteSigner,
    config: AuditConfig,
    /// The log holds entries no checkpoint covers yet.
    dirty: bool,
    /// The position of the first entry of the last batch appended.
    first_seq: u64,
    handoff: Arc<Handoff>,
}

impl Writer {
    /// Appends whatever is waiting, batch after batch: while one batch is being
    /// committed, the next one gathers. Signs a checkpoint when the log has been quiet
    /// for the checkpoint interval, and a last one when it closes.
    fn run(mut self) {
        let mut last_checkpoint = Instant::now();
        loop {
            let wait = self.config.checkpoint_interval.saturating_sub(last_checkpoint.elapsed());
            match self.handoff.take(wait.max(Duration::from_millis(1))) {
                Taken::Batch(batch) => {
                    let result = self.append(&batch, false);
                    if let Ok(true) = result {
                        last_checkpoint = Instant::now();
                    }
                    for (index, pending) in batch.iter().enumerate() {
                        pending.answer(match &result {
                            Ok(_) => Ok(self.first_seq + index as u64),
                            Err(error) => Err(error.to_string()),
                        });
                    }
                    if let Some(first) = batch.first() {
                        first.slot.bell.ring();
                    }
                }
                Taken::Nothing => {
                    if last_checkpoint.elapsed() >= self.config.checkpoint_interval {
                        // Quiet for a while: sign what came since the last checkpoint.
                        if self.dirty {
                            let _ = self.append(&[], true);
                        }
                        last_checkpoint = Instant::now();
                    }
                }
                Taken::Closed => {
                    if self.dirty {
                        let _ = self.append(&[], true);
                    }
                    return;
                }
            }
        }
    }
}

/// Closes the queue when the writer stops, however it stops, so that no caller waits
/// for a batch that will never be appended.
impl Drop for Writer {
    fn drop(&mut self) {
        self.handoff.close(true);
    }
}

impl Writer {
    /// Appends `batch` in one transaction, with a checkpoint when one is due: after
    /// `checkpoint_every` entries, or `checkpoint_interval` after the last (by the head's
    /// clock, shared by every process), or when `force`d; never for no new entries.
    /// `Ok(true)` when it signed one.
    fn append(&mut self, batch: &[Pending], force: bool) -> Result<bool, StoreError> {
        let mut signed = false;
        let mut first = 0;
        let mut dirty = self.dirty;
        let (signer, config) = (&self.signer, &self.config);
        let interval = i64::try_from(config.checkpoint_interval.as_nanos()).unwrap_or(i64::MAX);
        self.store.log_append(&mut |head| {
            let mut tree = TreeState::decode(head)?;
            first = tree.size;
            let mut rows = Vec::with_capacity(batch.len());
            for pending in batch {
                let bytes = positioned_bytes(tree.size, tree.last_leaf.as_ref(), &pending.encoded)
                    .map_err(|error| StoreError::Backend(format!("cannot encode an entry: {error}")))?;
                let leaf = pending.encoded.leaf(&bytes);
                rows.push(LogRow {
                    seq: tree.size,
                    task: Some(pending.task.clone()),
                    leaf: leaf.to_vec(),
                    entry: bytes,
                });
                tree.push(leaf);
            }
            let uncovered = tree.size - tree.checkpoint_size;
            let now = now_nanos();
            let due =
                force || uncovered >= config.checkpoint_every || now.saturating_sub(tree.checkpoint_at) >= interval;
            let checkpoint = if uncovered > 0 && due {
                let text = Checkpoint { origin: config.origin.clone(), size: tree.size, root: tree.root() }.to_text();
                let note = signer.sign(&text).map_err(|error| StoreError::Backend(error.to_string()))?;
                tree.checkpoint_size = tree.size;
                tree.checkpoint_at = now;
                signed = true;
                Some(CheckpointRow { size: tree.size, at: now, note })
            } else {
                signed = false;
                None
            };
            dirty = tree.size > tree.checkpoint_size;
            Ok(LogBatch { rows, head: tree.encode(), checkpoint })
        })?;
        self.first_seq = first;
        self.dirty = dirty;
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

    use serde_json::{json, Map, Value as Json};

    use super::*;

    /// An entry's position fields and the rest, serialised together by the reference
    /// canonicalizer: what [`positioned_bytes`] must write.
    #[derive(serde::Serialize)]
    struct Positioned<'a> {
        seq: u64,
        prev: Option<String>,
        #[serde(flatten)]
        fields: &'a Map<String, Json>,
    }

    /// A draft of `fields`, with its `request` (if any) encoded already, as decisions'
    /// drafts are.
    fn draft_of(fields: &Map<String, Json>) -> entry::Draft {
        let mut fields = fields.clone();
        let request = fields.remove("request").map(|request| canonical::encode(&request).unwrap());
        let mut members = canonical::members(&fields).unwrap();
        if let Some(request) = request {
            members.push("request", &request);
        }
        entry::Draft { task: "t".to_string(), members }
    }

    /// Splicing the position into members encoded apart gives the canonicalizer's bytes,
    /// whatever the keys and values, and its leaf hash, begun by the deciding thread and
    /// finished by the writer, is the hash of those bytes.
    #[test]
    fn spliced_entries_are_the_canonical_form() {
        let entries = [
            json!({"kind": "decision", "time": "2026-12-01T10:00:00Z", "request": {"b": 1, "a": [1.5, 1e21, -0.0]}}),
            json!({"zeta": null, "rate": 0.1, "été": "ü\u{7f}\n\"", "\u{10000}": 1, "\u{ffff}": 2, "A": true}),
            json!({"pre": 1, "prevx": 2, "r": 3, "se": 4, "seqa": 5, "a": 6, "Z": 7}),
            json!({"prev0": 1}),
            json!({"z": 1}),
            json!({}),
        ];
        for (seq, fields) in entries.iter().enumerate() {
            let fields = fields.as_object().unwrap();
            for prev in [None, Some("ab".repeat(32))] {
                let expected =
                    serde_json_canonicalizer::to_vec(&Positioned { seq: seq as u64, prev: prev.clone(), fields })
                        .unwrap();
                let leaf = prev.as_ref().map(|_| [0xab; 32]);
                let encoded = Encoded::of(&draft_of(fields)).unwrap();
                let spliced = positioned_bytes(seq as u64, leaf.as_ref(), &encoded).unwrap();
                assert_eq!(encoded.leaf(&spliced), merkle::leaf_hash(&expected), "hashed in two parts");
                assert_eq!(String::from_utf8(spliced).unwrap(), String::from_utf8(expected).unwrap());
            }
        }
    }

    /// A caller whose entry is taken but never answered (its writer stopped with it)
    /// is failed, not left waiting; a closed log takes nothing more.
    #[test]
    fn an_entry_dropped_unanswered_fails_its_caller() {
        let handoff = Arc::new(Handoff::default());
        let caller = {
            let handoff = handoff.clone();
            std::thread::spawn(move || Answer(handoff.submit("t".to_string(), Encoded::default()).unwrap()).wait())
        };
        let batch = loop {
            if let Taken::Batch(batch) = handoff.take(Duration::from_millis(100)) {
                break batch;
            }
        };
        assert_eq!(batch.len(), 1);
        drop(batch);
        let error = caller.join().unwrap().unwrap_err();
        assert_eq!(error.code, "audit_failed");
        assert!(error.message.contains("stopped before appending"), "{error:?}");
        handoff.close(true);
        assert!(handoff.submit("t".to_string(), Encoded::default()).is_err());
    }

    /// Counts its wakes.
    struct Woken(AtomicU32);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A task awaiting an entry is woken once it is answered, by the writer or by the
    /// entry dropped unanswered, and then finds the answer.
    #[test]
    fn an_awaiting_task_is_woken_by_its_answer() {
        let handoff = Handoff::default();
        let woken = Arc::new(Woken(AtomicU32::new(0)));
        let waker = Waker::from(woken.clone());
        let answers: Vec<Answer> =
            (0..2).map(|_| Answer(handoff.submit("t".to_string(), Encoded::default()).unwrap())).collect();
        for answer in &answers {
            assert!(answer.poll_recorded(&waker).is_pending());
        }
        let Taken::Batch(batch) = handoff.take(Duration::from_millis(100)) else { panic!("a batch") };
        batch[0].answer(Ok(7));
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert!(matches!(answers[0].poll_recorded(&waker), Poll::Ready(Ok(7))));
        assert!(answers[1].poll_recorded(&waker).is_pending());
        drop(batch);
        assert_eq!(woken.0.load(Ordering::SeqCst), 2);
        let Poll::Ready(Err(error)) = answers[1].poll_recorded(&waker) else { panic!("an answer") };
        assert!(error.message.contains("stopped before appending"), "{error:?}");
    }

    /// The position fields are the log's: an entry that states them is refused, not
    /// written with two `seq` members.
    #[test]
    fn entries_cannot_state_their_position() {
        for field in ["seq", "prev"] {
            let fields = json!({field: 1, "kind": "decision"});
            let error = Encoded::of(&draft_of(fields.as_object().unwrap())).unwrap_err();
            assert!(error.contains(field), "{error}");
        }
    }
}
