//! The log writer: entries appended with group commit, and signed checkpoints.
//!
//! Deciding threads hand their entries to one writer thread and wait. The writer takes
//! every entry waiting (up to a batch's worth), numbers and chains them, and appends them
//! in one store transaction: one commit for many decisions, and each decision returns only
//! once its entry is committed. The store serialises appends (SQLite's write lock,
//! PostgreSQL's row lock on the log head), so several processes can share one log.
//!
//! Each entry holds `seq` (its position) and `prev` (the hex leaf hash of the entry
//! before it, `null` for the first): besides the Merkle tree, the entries form a hash
//! chain, so a verifier can name the exact entry that was edited. The head keeps the
//! tree's right edge (one hash per perfect subtree), so a checkpoint's root costs a few
//! hashes. A checkpoint is signed every `checkpoint_every` entries, or once
//! `checkpoint_interval` has passed since the last one, whichever comes first.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json};

use super::entry::{self, Bundle, Masking};
use super::merkle::{self, Hash};
use super::note::{Checkpoint, NoteSigner};
use super::AuditError;
use crate::eval::engine::now_nanos;
use crate::eval::PolicySet;
use crate::runtime::journal::{Event, Journal};
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
    /// The most entries one transaction appends.
    pub max_batch: usize,
    /// Masking rules ([`Masking`]): request fields kept only as digests.
    pub masks: Vec<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            origin: "mandate.local/audit".to_string(),
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_millis(1000),
            max_batch: 1024,
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

/// An entry's position fields and the rest, serialised together into canonical form: what
/// [`positioned_bytes`] writes.
#[cfg(test)]
#[derive(serde::Serialize)]
struct Positioned<'a> {
    seq: u64,
    prev: Option<String>,
    #[serde(flatten)]
    fields: &'a Map<String, Json>,
}

struct Pending {
    task: String,
    /// The entry's fields in canonical form, encoded by the caller so that the writer
    /// only splices in the position.
    members: Vec<Member>,
    reply: SyncSender<Result<u64, String>>,
}

/// One member of an entry object in RFC 8785 form: the key as UTF-16 code units (the
/// order members are sorted in), the key's canonical text and the value's.
type Member = (Vec<u16>, Vec<u8>, Vec<u8>);

fn member(key: &str, value: &Json) -> Result<Member, String> {
    let canonical = |value: &Json| serde_json_canonicalizer::to_vec(value).map_err(|error| error.to_string());
    Ok((key.encode_utf16().collect(), canonical(&Json::String(key.to_string()))?, canonical(value)?))
}

/// The fields of an entry as sorted canonical members.
fn encode_members(fields: &Map<String, Json>) -> Result<Vec<Member>, String> {
    let mut members = fields.iter().map(|(key, value)| member(key, value)).collect::<Result<Vec<_>, _>>()?;
    members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(members)
}

/// The canonical text of an entry at `seq` after the leaf `prev`: the same bytes as
/// serialising [`Positioned`] with an RFC 8785 canonicalizer.
fn positioned_bytes(seq: u64, prev: Option<String>, members: &[Member]) -> Result<Vec<u8>, String> {
    let position = [member("seq", &Json::from(seq))?, member("prev", &prev.map_or(Json::Null, Json::String))?];
    let mut all: Vec<&Member> = members.iter().chain(&position).collect();
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let size = all.iter().map(|(_, key, value)| key.len() + value.len() + 2).sum::<usize>() + 2;
    let mut bytes = Vec::with_capacity(size);
    bytes.push(b'{');
    for (index, (_, key, value)) in all.into_iter().enumerate() {
        if index > 0 {
            bytes.push(b',');
        }
        bytes.extend_from_slice(key);
        bytes.push(b':');
        bytes.extend_from_slice(value);
    }
    bytes.push(b'}');
    Ok(bytes)
}

/// The audit log of one runtime: implements the runtime's [`Journal`].
pub struct AuditLog {
    sender: Mutex<Option<Sender<Pending>>>,
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
        let (sender, receiver) = mpsc::channel();
        let writer = Writer { store, signer, config, dirty: false, first_seq: 0 };
        let worker = std::thread::Builder::new()
            .name("mandate-audit".to_string())
            .spawn(move || writer.run(&receiver))
            .map_err(|error| AuditError::Stopped(error.to_string()))?;
        Ok(AuditLog {
            sender: Mutex::new(Some(sender)),
            worker: Mutex::new(Some(worker)),
            policy_set: bundle.hash,
            masking,
            verifier_key,
        })
    }

    /// The content hash of the policy set the entries name.
    pub fn policy_set(&self) -> &str {
        &self.policy_set
    }

    /// The key that verifies the log's checkpoints, to publish.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// Appends `event`; returns its position once it is committed.
    pub fn append(&self, event: Event<'_>, at: i64) -> Result<u64, AuditError> {
        let (task, fields) = entry::draft(&event, at, &self.policy_set, &self.masking)?;
        let members = encode_members(&fields).map_err(AuditError::Encode)?;
        let (reply, answer) = mpsc::sync_channel(1);
        {
            let sender = self.sender.lock().map_err(|_| AuditError::Stopped("poisoned".to_string()))?;
            let sender = sender.as_ref().ok_or_else(|| AuditError::Stopped("closed".to_string()))?;
            sender.send(Pending { task, members, reply }).map_err(|_| AuditError::Stopped("gone".to_string()))?;
        }
        match answer.recv() {
            Ok(result) => result.map_err(AuditError::Stopped),
            Err(_) => Err(AuditError::Stopped("no answer".to_string())),
        }
    }

    /// Stops the writer after the entries already handed over, signing a last checkpoint.
    pub fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
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
    fn record(&self, event: Event<'_>, at: i64) -> Result<u64, RuntimeError> {
        self.append(event, at).map_err(|error| {
            RuntimeError::new("audit_failed", format!("the decision could not be recorded: {error}"))
                .help("nothing is returned that the audit log does not hold; check the store")
        })
    }
}

struct Writer {
    store: Arc<dyn Store>,
    signer: NoteSigner,
    config: AuditConfig,
    /// The log holds entries no checkpoint covers yet.
    dirty: bool,
    /// The position of the first entry of the last batch appended.
    first_seq: u64,
}

impl Writer {
    fn run(mut self, receiver: &Receiver<Pending>) {
        let mut last_checkpoint = Instant::now();
        loop {
            let wait = self.config.checkpoint_interval.saturating_sub(last_checkpoint.elapsed());
            let first = match receiver.recv_timeout(wait.max(Duration::from_millis(1))) {
                Ok(pending) => pending,
                Err(RecvTimeoutError::Timeout) => {
                    // Quiet for a while: sign what came since the last checkpoint.
                    if self.dirty {
                        let _ = self.append(&[], true);
                    }
                    last_checkpoint = Instant::now();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if self.dirty {
                        let _ = self.append(&[], true);
                    }
                    return;
                }
            };
            let mut batch = vec![first];
            while batch.len() < self.config.max_batch.max(1) {
                match receiver.try_recv() {
                    Ok(pending) => batch.push(pending),
                    Err(_) => break,
                }
            }
            let result = self.append(&batch, false);
            if let Ok(true) = result {
                last_checkpoint = Instant::now();
            }
            for (index, pending) in batch.into_iter().enumerate() {
                let answer = match &result {
                    Ok(_) => Ok(self.first_seq + index as u64),
                    Err(error) => Err(error.to_string()),
                };
                let _ = pending.reply.send(answer);
            }
        }
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
                let prev = tree.last_leaf.as_ref().map(merkle::hex);
                let bytes = positioned_bytes(tree.size, prev, &pending.members)
                    .map_err(|error| StoreError::Backend(format!("cannot encode an entry: {error}")))?;
                let leaf = merkle::leaf_hash(&bytes);
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

    use serde_json::json;

    use super::*;

    /// Splicing the position into members encoded apart gives the canonicalizer's bytes,
    /// whatever the keys and values.
    #[test]
    fn spliced_entries_are_the_canonical_form() {
        let entries = [
            json!({"kind": "decision", "time": "2026-12-01T10:00:00Z", "request": {"b": 1, "a": [1.5, 1e21, -0.0]}}),
            json!({"zeta": null, "rate": 0.1, "été": "ü\u{7f}\n\"", "\u{10000}": 1, "\u{ffff}": 2, "A": true}),
            json!({}),
        ];
        for (seq, fields) in entries.iter().enumerate() {
            let fields = fields.as_object().unwrap();
            for prev in [None, Some("ab".repeat(32))] {
                let expected =
                    serde_json_canonicalizer::to_vec(&Positioned { seq: seq as u64, prev: prev.clone(), fields })
                        .unwrap();
                let spliced = positioned_bytes(seq as u64, prev, &encode_members(fields).unwrap()).unwrap();
                assert_eq!(String::from_utf8(spliced).unwrap(), String::from_utf8(expected).unwrap());
            }
        }
    }
}
