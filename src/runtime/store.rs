//! The runtime's state and the one interface both stores implement.
//!
//! Everything the runtime knows lives behind [`Store`]: registered agents and their
//! public keys, task instances, the grants of a task's delegation tree, budget totals,
//! assertion ids already used, and the revocation log. Every method that changes state
//! is one transaction: it happens entirely or not at all, and a method that refuses
//! (an ended task, an exhausted budget) changes nothing. The embedded SQLite store
//! ([`super::sqlite`]) is the default; the PostgreSQL store lets several processes share
//! one state.

use serde::{Deserialize, Serialize};

/// Times in records are nanoseconds since the epoch, written as RFC 3339 text.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::hir::value::parse_timestamp;
    use crate::syntax::literal::timestamp_text;

    pub fn serialize<S: Serializer>(nanos: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&timestamp_text(*nanos))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        parse_timestamp(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(nanos: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
            match nanos {
                Some(nanos) => super::serialize(nanos, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|text| parse_timestamp(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// A registered agent. Only public keys are stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub id: String,
    /// The human the agent acts for: the head of every chain it starts.
    pub sponsor: String,
    /// Its `agent.*` attributes, validated against the package's schema.
    pub attrs: serde_json::Map<String, serde_json::Value>,
    /// Public keys as JWKs (OKP Ed25519 or EC P-256), each with its `kid`.
    pub keys: Vec<serde_json::Value>,
    pub disabled: bool,
    /// Nanoseconds since the epoch.
    #[serde(with = "rfc3339")]
    pub created: i64,
}

/// How a task instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Open,
    Completed,
    Revoked,
    /// Its deadline passed: recorded by the runtime the first time it meets the task
    /// after its deadline.
    Expired,
}

impl TaskState {
    pub fn word(self) -> &'static str {
        match self {
            TaskState::Open => "open",
            TaskState::Completed => "completed",
            TaskState::Revoked => "revoked",
            TaskState::Expired => "expired",
        }
    }

    pub fn from_word(word: &str) -> Option<TaskState> {
        match word {
            "open" => Some(TaskState::Open),
            "completed" => Some(TaskState::Completed),
            "revoked" => Some(TaskState::Revoked),
            "expired" => Some(TaskState::Expired),
            _ => None,
        }
    }
}

/// A task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub kind: String,
    /// As validated, defaults filled in.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The agent that opened it.
    pub opened_by: String,
    pub sponsor: String,
    /// Nanoseconds since the epoch.
    #[serde(with = "rfc3339")]
    pub start: i64,
    #[serde(with = "rfc3339")]
    pub deadline: i64,
    pub state: TaskState,
    /// Who completed or revoked it, when and why.
    pub ended_by: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub ended_at: Option<i64>,
    pub reason: Option<String>,
}

/// What a delegator passes on: a subset of its own actions and resource types, and
/// attribute values the requests must have. `None` in a field keeps the delegator's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Narrowing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// `"resource.number": "T-1"` or `"args.recipient": "bob@example.com"`: the requests
    /// must carry exactly these values.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub equals: serde_json::Map<String, serde_json::Value>,
}

impl Narrowing {
    pub fn is_empty(&self) -> bool {
        self.actions.is_none() && self.resources.is_none() && self.equals.is_empty()
    }
}

/// One agent's hold on a task: the root grant of the agent that opened it, or a
/// delegation. Grants form a tree under the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub id: String,
    pub task: String,
    pub agent: String,
    /// The grant it was delegated from; `None` for the root.
    pub parent: Option<String>,
    /// The principals above the agent, sponsor first (the request's `chain`).
    pub chain: Vec<String>,
    /// The effective narrowing: the delegator's, narrowed further.
    pub narrowing: Narrowing,
    #[serde(with = "rfc3339")]
    pub created: i64,
    /// Set when the grant was revoked on its own (its delegator's subtree), apart from
    /// its task ending.
    pub revoked: bool,
}

/// A budget of one task instance: its limit, fixed when it opened, and what has been
/// reserved, both in the value's units (an `Int`, or a `Decimal` in ten-thousandths).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRecord {
    pub task: String,
    /// The budget's position among its task kind's budgets.
    pub index: u32,
    pub limit: i64,
    pub spent: i64,
}

/// An entry of the revocation log, numbered in the order revocations happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub seq: i64,
    /// The task that ended, or whose grant was revoked.
    pub task: String,
    /// The grant revoked with its subtree; `None` when the whole task ended.
    pub grant: Option<String>,
    /// `completed`, `revoked`, `expired` or `agent_disabled`.
    pub kind: String,
    pub by: String,
    pub reason: String,
    #[serde(with = "rfc3339")]
    pub at: i64,
}

/// The outcome of reserving amounts against a task's budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// Every amount was added.
    Done,
    /// Nothing was added: these budgets (index, limit, spent) would go past their limits.
    Exhausted(Vec<BudgetRecord>),
    /// Nothing was added: the task is no longer open.
    TaskEnded,
}

/// The audit log's head: how many entries it holds, and the log's own running state
/// (opaque to the store: the audit module reads and writes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogHead {
    pub size: u64,
    pub state: Vec<u8>,
}

/// One audit log entry as stored: its position, the task it belongs to (for trails),
/// its leaf hash and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    pub seq: u64,
    pub task: Option<String>,
    pub leaf: Vec<u8>,
    pub entry: Vec<u8>,
}

/// A signed checkpoint of the log at `size` entries, written at `at` (nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub size: u64,
    pub at: i64,
    pub note: String,
}

/// What one append writes, in one transaction: entries, the new head, and perhaps a
/// checkpoint.
#[derive(Debug, Clone, Default)]
pub struct LogBatch {
    pub rows: Vec<LogRow>,
    pub head: LogHead,
    pub checkpoint: Option<CheckpointRow>,
}

/// Builds a batch from the head it appends to; runs inside the append's transaction.
pub type Seal<'a> = dyn FnMut(&LogHead) -> Result<LogBatch, StoreError> + 'a;

/// A store failure. Refusals that are part of the runtime's rules are values, not
/// errors; these are the store's own.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("`{0}` already exists")]
    Exists(String),
    #[error("`{0}` does not exist")]
    Missing(String),
    #[error("the task `{0}` is not open")]
    NotOpen(String),
    #[error("the store is corrupt or unreadable: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Backend(String),
}

/// The runtime's state. Implementations make each changing method one transaction.
pub trait Store: Send + Sync {
    fn add_agent(&self, agent: &AgentRecord) -> Result<(), StoreError>;
    fn agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError>;
    fn agents(&self) -> Result<Vec<AgentRecord>, StoreError>;
    /// Disables the agent and, in the same transaction, ends every open task it opened
    /// and revokes every grant it holds elsewhere, with their subtrees. Returns the log
    /// entries written.
    fn disable_agent(&self, id: &str, by: &str, reason: &str, at: i64) -> Result<Vec<Revocation>, StoreError>;

    /// Records an assertion id; `false` when it was seen before (a replay). Ids whose
    /// expiry has passed are forgotten: their assertions are refused as expired anyway.
    fn use_assertion_id(&self, agent: &str, jti: &str, expires: i64, now: i64) -> Result<bool, StoreError>;

    /// Creates a task instance with its root grant and budgets.
    fn open_task(&self, task: &TaskRecord, root: &GrantRecord, budgets: &[BudgetRecord]) -> Result<(), StoreError>;
    fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError>;
    fn tasks(&self) -> Result<Vec<TaskRecord>, StoreError>;
    /// Ends an open task (`Completed` or `Revoked`) and logs it; `NotOpen` otherwise.
    fn end_task(&self, id: &str, state: TaskState, by: &str, reason: &str, at: i64) -> Result<Revocation, StoreError>;

    /// Adds a delegated grant, if its task is open and its parent grant still stands.
    fn add_grant(&self, grant: &GrantRecord) -> Result<(), StoreError>;
    fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError>;
    fn grants(&self, task: &str) -> Result<Vec<GrantRecord>, StoreError>;

    fn budgets(&self, task: &str) -> Result<Vec<BudgetRecord>, StoreError>;
    /// Adds every `(budget index, amount)` to its total, all or none: none when any total
    /// would pass its limit or the task is not open.
    fn reserve(&self, task: &str, amounts: &[(u32, i64)]) -> Result<Reserved, StoreError>;

    /// The revocation log after `seq`, in order.
    fn revocations_since(&self, seq: i64) -> Result<Vec<Revocation>, StoreError>;

    // --- the audit log: entries are opaque bytes here; `audit` gives them meaning ---

    /// Appends to the audit log under its lock: reads the head, lets `seal` build the
    /// batch from it, and writes the batch and the new head in one transaction. Appends
    /// from any number of threads or processes are serialised.
    fn log_append(&self, seal: &mut Seal<'_>) -> Result<(), StoreError>;
    fn log_head(&self) -> Result<LogHead, StoreError>;
    /// Up to `limit` entries from position `from` on, in order of position.
    fn log_rows(&self, from: u64, limit: usize) -> Result<Vec<LogRow>, StoreError>;
    /// The entries of one task, in order of position.
    fn log_rows_of_task(&self, task: &str) -> Result<Vec<LogRow>, StoreError>;
    /// Every checkpoint, in order of size.
    fn log_checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError>;
    /// For a store that keeps the log's task index (behind [`Store::log_rows_of_task`])
    /// apart from the entries: the position below which the index covers the log, with
    /// `each` called for every `(task, position)` the index holds, all read at one moment.
    /// `None` for a store whose database keeps the index with the entries itself.
    fn log_task_index(&self, each: &mut dyn FnMut(&str, u64)) -> Result<Option<u64>, StoreError> {
        let _ = each;
        Ok(None)
    }
    /// The first position where that index and the entries' tasks disagree: an entry it
    /// lacks, or a row naming an entry not of that task or past the index's bound.
    fn log_task_index_fault(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
    /// Keeps a policy bundle by its content hash (once: a hash already kept is left alone).
    fn put_bundle(&self, hash: &str, bundle: &[u8]) -> Result<(), StoreError>;
    fn bundle(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The grants to revoke with `root`: it and everything delegated from it, in `grants`.
pub fn subtree(grants: &[GrantRecord], root: &str) -> Vec<String> {
    let mut found = vec![root.to_string()];
    let mut index = 0;
    while let Some(parent) = found.get(index).cloned() {
        for grant in grants.iter().filter(|grant| grant.parent.as_deref() == Some(parent.as_str())) {
            if !found.contains(&grant.id) {
                found.push(grant.id.clone());
            }
        }
        index += 1;
    }
    found
}
