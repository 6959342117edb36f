//! The shared store: PostgreSQL, for several runtime processes over one state.
//!
//! The same tables and rules as the SQLite store. Each changing method is one
//! transaction; reservations lock the task's row (shared) and each budget row
//! (exclusive), so concurrent reservations from any number of processes are serialised
//! per budget and a reservation never races the task's revocation. Each revocation also
//! sends a `NOTIFY mandate_revocations` with its sequence number when it commits:
//! [`listen`] wakes other processes at once, and since a notification is never replayed
//! to a process that was not listening, they also poll the log by sequence number.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Row, Transaction};

use super::store::*;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY, sponsor TEXT NOT NULL, attrs TEXT NOT NULL, keys TEXT NOT NULL,
  disabled BOOLEAN NOT NULL DEFAULT FALSE, created BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, params TEXT NOT NULL, opened_by TEXT NOT NULL,
  sponsor TEXT NOT NULL, start BIGINT NOT NULL, deadline BIGINT NOT NULL, state TEXT NOT NULL,
  ended_by TEXT, ended_at BIGINT, reason TEXT);
CREATE TABLE IF NOT EXISTS grants (
  id TEXT PRIMARY KEY, task TEXT NOT NULL REFERENCES tasks(id), agent TEXT NOT NULL, parent TEXT,
  chain TEXT NOT NULL, narrowing TEXT NOT NULL, created BIGINT NOT NULL,
  revoked BOOLEAN NOT NULL DEFAULT FALSE, UNIQUE (task, agent));
CREATE TABLE IF NOT EXISTS budgets (
  task TEXT NOT NULL REFERENCES tasks(id), idx INTEGER NOT NULL, lim BIGINT NOT NULL,
  spent BIGINT NOT NULL, PRIMARY KEY (task, idx));
CREATE TABLE IF NOT EXISTS assertion_ids (
  agent TEXT NOT NULL, jti TEXT NOT NULL, expires BIGINT NOT NULL, PRIMARY KEY (agent, jti));
CREATE TABLE IF NOT EXISTS revocations (
  seq BIGSERIAL PRIMARY KEY, task TEXT NOT NULL, grant_id TEXT, kind TEXT NOT NULL,
  by TEXT NOT NULL, reason TEXT NOT NULL, at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_log (
  seq BIGINT PRIMARY KEY, task TEXT, leaf BYTEA NOT NULL, entry BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS audit_log_task ON audit_log (task, seq);
CREATE TABLE IF NOT EXISTS audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 0), size BIGINT NOT NULL, state BYTEA NOT NULL);
INSERT INTO audit_head (id, size, state) VALUES (0, 0, '') ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  size BIGINT PRIMARY KEY, at BIGINT NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_bundles (hash TEXT PRIMARY KEY, bundle BYTEA NOT NULL);
";

/// The channel revocations are announced on.
pub const CHANNEL: &str = "mandate_revocations";

/// A runtime store in a PostgreSQL database.
pub struct PostgresStore {
    client: Mutex<Client>,
}

impl PostgresStore {
    /// Connects (`host=… user=… dbname=…` or a `postgresql://` URL) and creates the
    /// tables when they do not exist.
    pub fn connect(params: &str) -> Result<PostgresStore, StoreError> {
        let mut client = Client::connect(params, NoTls).map_err(backend)?;
        // Concurrent first runs may race to create the tables; one lock orders them.
        let mut transaction = client.transaction().map_err(backend)?;
        transaction.execute("SELECT pg_advisory_xact_lock(7276)", &[]).map_err(backend)?;
        transaction.batch_execute(SCHEMA).map_err(backend)?;
        transaction.commit().map_err(backend)?;
        Ok(PostgresStore { client: Mutex::new(client) })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Client>, StoreError> {
        self.client.lock().map_err(|_| StoreError::Backend("a thread panicked holding the store".to_string()))
    }

    fn write<T>(&self, body: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut client = self.lock()?;
        let mut transaction = client.transaction().map_err(backend)?;
        let value = body(&mut transaction)?;
        transaction.commit().map_err(backend)?;
        Ok(value)
    }

    fn read<T>(&self, body: impl FnOnce(&mut Client) -> Result<T, StoreError>) -> Result<T, StoreError> {
        body(&mut *self.lock()?)
    }
}

/// Listens for revocations on a connection of its own and sets `stale` on each, until
/// the connection fails. Runs on its own thread.
pub fn listen(params: &str, stale: Arc<AtomicBool>) -> Result<std::thread::JoinHandle<()>, StoreError> {
    let mut client = Client::connect(params, NoTls).map_err(backend)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(backend)?;
    Ok(std::thread::spawn(move || {
        let mut notifications = client.notifications();
        let mut waiting = notifications.blocking_iter();
        while let Ok(Some(_)) = waiting.next() {
            stale.store(true, Ordering::Release);
        }
    }))
}

fn backend(error: postgres::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Backend(error.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, column: usize) -> Result<T, StoreError> {
    row.try_get(column).map_err(|error| StoreError::Corrupt(error.to_string()))
}

const AGENT_COLUMNS: &str = "id, sponsor, attrs, keys, disabled, created";
const TASK_COLUMNS: &str = "id, kind, params, opened_by, sponsor, start, deadline, state, ended_by, ended_at, reason";
const GRANT_COLUMNS: &str = "id, task, agent, parent, chain, narrowing, created, revoked";
const REVOCATION_COLUMNS: &str = "seq, task, grant_id, kind, by, reason, at";

fn agent_row(row: &Row) -> Result<AgentRecord, StoreError> {
    Ok(AgentRecord {
        id: get(row, 0)?,
        sponsor: get(row, 1)?,
        attrs: from_json(get(row, 2)?)?,
        keys: from_json(get(row, 3)?)?,
        disabled: get(row, 4)?,
        created: get(row, 5)?,
    })
}

fn task_row(row: &Row) -> Result<TaskRecord, StoreError> {
    let state: &str = get(row, 7)?;
    Ok(TaskRecord {
        id: get(row, 0)?,
        kind: get(row, 1)?,
        params: from_json(get(row, 2)?)?,
        opened_by: get(row, 3)?,
        sponsor: get(row, 4)?,
        start: get(row, 5)?,
        deadline: get(row, 6)?,
        state: TaskState::from_word(state).ok_or_else(|| StoreError::Corrupt(format!("task state `{state}`")))?,
        ended_by: get(row, 8)?,
        ended_at: get(row, 9)?,
        reason: get(row, 10)?,
    })
}

fn grant_row(row: &Row) -> Result<GrantRecord, StoreError> {
    Ok(GrantRecord {
        id: get(row, 0)?,
        task: get(row, 1)?,
        agent: get(row, 2)?,
        parent: get(row, 3)?,
        chain: from_json(get(row, 4)?)?,
        narrowing: from_json(get(row, 5)?)?,
        created: get(row, 6)?,
        revoked: get(row, 7)?,
    })
}

fn revocation_row(row: &Row) -> Result<Revocation, StoreError> {
    Ok(Revocation {
        seq: get(row, 0)?,
        task: get(row, 1)?,
        grant: get(row, 2)?,
        kind: get(row, 3)?,
        by: get(row, 4)?,
        reason: get(row, 5)?,
        at: get(row, 6)?,
    })
}

fn log(
    transaction: &mut Transaction<'_>,
    task: &str,
    grant: Option<&str>,
    kind: &str,
    by: &str,
    reason: &str,
    at: i64,
) -> Result<Revocation, StoreError> {
    let row = transaction
        .query_one(
            "INSERT INTO revocations (task, grant_id, kind, by, reason, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
            &[&task, &grant, &kind, &by, &reason, &at],
        )
        .map_err(backend)?;
    let seq: i64 = get(&row, 0)?;
    transaction.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()]).map_err(backend)?;
    let (task, grant, kind, by, reason) =
        (task.to_string(), grant.map(str::to_string), kind.to_string(), by.to_string(), reason.to_string());
    Ok(Revocation { seq, task, grant, kind, by, reason, at })
}

fn end_open_task(
    transaction: &mut Transaction<'_>,
    id: &str,
    state: TaskState,
    kind: &str,
    by: &str,
    reason: &str,
    at: i64,
) -> Result<Revocation, StoreError> {
    let changed = transaction
        .execute(
            "UPDATE tasks SET state = $2, ended_by = $3, ended_at = $4, reason = $5 WHERE id = $1 AND state = 'open'",
            &[&id, &state.word(), &by, &at, &reason],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotOpen(id.to_string()));
    }
    log(transaction, id, None, kind, by, reason, at)
}

fn insert_grant(transaction: &mut Transaction<'_>, grant: &GrantRecord) -> Result<(), StoreError> {
    let inserted = transaction
        .execute(
            &format!(
                "INSERT INTO grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
            ),
            &[
                &grant.id,
                &grant.task,
                &grant.agent,
                &grant.parent,
                &to_json(&grant.chain)?,
                &to_json(&grant.narrowing)?,
                &grant.created,
                &grant.revoked,
            ],
        )
        .map_err(backend)?;
    if inserted == 0 {
        return Err(StoreError::Exists(format!("{} in task {}", grant.agent, grant.task)));
    }
    Ok(())
}

impl Store for PostgresStore {
    fn add_agent(&self, agent: &AgentRecord) -> Result<(), StoreError> {
        self.write(|transaction| {
            let inserted = transaction
                .execute(
                    &format!(
                        "INSERT INTO agents ({AGENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
                    ),
                    &[
                        &agent.id,
                        &agent.sponsor,
                        &to_json(&agent.attrs)?,
                        &to_json(&agent.keys)?,
                        &agent.disabled,
                        &agent.created,
                    ],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Exists(agent.id.clone()));
            }
            Ok(())
        })
    }

    fn agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
        self.read(|client| {
            let row = client
                .query_opt(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"), &[&id])
                .map_err(backend)?;
            row.as_ref().map(agent_row).transpose()
        })
    }

    fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        self.read(|client| {
            let rows =
                client.query(&format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id"), &[]).map_err(backend)?;
            rows.iter().map(agent_row).collect()
        })
    }

    fn disable_agent(&self, id: &str, by: &str, reason: &str, at: i64) -> Result<Vec<Revocation>, StoreError> {
        self.write(|transaction| {
            let changed =
                transaction.execute("UPDATE agents SET disabled = TRUE WHERE id = $1", &[&id]).map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::Missing(id.to_string()));
            }
            let mut entries = Vec::new();
            let opened = transaction
                .query("SELECT id FROM tasks WHERE opened_by = $1 AND state = 'open' ORDER BY start FOR UPDATE", &[&id])
                .map_err(backend)?;
            for row in &opened {
                let task: String = get(row, 0)?;
                entries.push(end_open_task(transaction, &task, TaskState::Revoked, "agent_disabled", by, reason, at)?);
            }
            let held = transaction
                .query(
                    "SELECT g.id, g.task FROM grants g JOIN tasks t ON t.id = g.task
                     WHERE g.agent = $1 AND g.parent IS NOT NULL AND NOT g.revoked AND t.state = 'open'",
                    &[&id],
                )
                .map_err(backend)?;
            for row in &held {
                let (grant, task): (String, String) = (get(row, 0)?, get(row, 1)?);
                let rows = transaction
                    .query(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE task = $1"), &[&task])
                    .map_err(backend)?;
                let grants: Vec<GrantRecord> = rows.iter().map(grant_row).collect::<Result<_, _>>()?;
                for revoked in subtree(&grants, &grant) {
                    transaction
                        .execute("UPDATE grants SET revoked = TRUE WHERE id = $1", &[&revoked])
                        .map_err(backend)?;
                }
                entries.push(log(transaction, &task, Some(&grant), "agent_disabled", by, reason, at)?);
            }
            Ok(entries)
        })
    }

    fn use_assertion_id(&self, agent: &str, jti: &str, expires: i64, now: i64) -> Result<bool, StoreError> {
        self.write(|transaction| {
            transaction.execute("DELETE FROM assertion_ids WHERE expires < $1", &[&now]).map_err(backend)?;
            let inserted = transaction
                .execute(
                    "INSERT INTO assertion_ids (agent, jti, expires) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&agent, &jti, &expires],
                )
                .map_err(backend)?;
            Ok(inserted == 1)
        })
    }

    fn open_task(&self, task: &TaskRecord, root: &GrantRecord, budgets: &[BudgetRecord]) -> Result<(), StoreError> {
        self.write(|transaction| {
            let inserted = transaction
                .execute(
                    &format!(
                        "INSERT INTO tasks ({TASK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"
                    ),
                    &[
                        &task.id,
                        &task.kind,
                        &to_json(&task.params)?,
                        &task.opened_by,
                        &task.sponsor,
                        &task.start,
                        &task.deadline,
                        &task.state.word(),
                        &task.ended_by,
                        &task.ended_at,
                        &task.reason,
                    ],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Exists(task.id.clone()));
            }
            insert_grant(transaction, root)?;
            for budget in budgets {
                let index = budget.index as i32;
                transaction
                    .execute(
                        "INSERT INTO budgets (task, idx, lim, spent) VALUES ($1, $2, $3, $4)",
                        &[&budget.task, &index, &budget.limit, &budget.spent],
                    )
                    .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.read(|client| {
            let row = client
                .query_opt(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"), &[&id])
                .map_err(backend)?;
            row.as_ref().map(task_row).transpose()
        })
    }

    fn tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.read(|client| {
            let rows =
                client.query(&format!("SELECT {TASK_COLUMNS} FROM tasks ORDER BY start, id"), &[]).map_err(backend)?;
            rows.iter().map(task_row).collect()
        })
    }

    fn end_task(&self, id: &str, state: TaskState, by: &str, reason: &str, at: i64) -> Result<Revocation, StoreError> {
        self.write(|transaction| end_open_task(transaction, id, state, state.word(), by, reason, at))
    }

    fn add_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        self.write(|transaction| {
            let state = transaction
                .query_opt("SELECT state FROM tasks WHERE id = $1 FOR SHARE", &[&grant.task])
                .map_err(backend)?;
            let open = match &state {
                Some(row) => get::<&str>(row, 0)? == "open",
                None => false,
            };
            if !open {
                return Err(StoreError::NotOpen(grant.task.clone()));
            }
            if let Some(parent) = &grant.parent {
                let standing = transaction
                    .query_opt("SELECT NOT revoked FROM grants WHERE id = $1 FOR SHARE", &[parent])
                    .map_err(backend)?;
                let standing = match &standing {
                    Some(row) => get::<bool>(row, 0)?,
                    None => false,
                };
                if !standing {
                    return Err(StoreError::Missing(parent.clone()));
                }
            }
            insert_grant(transaction, grant)
        })
    }

    fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError> {
        self.read(|client| {
            let row = client
                .query_opt(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1"), &[&id])
                .map_err(backend)?;
            row.as_ref().map(grant_row).transpose()
        })
    }

    fn grants(&self, task: &str) -> Result<Vec<GrantRecord>, StoreError> {
        self.read(|client| {
            let rows = client
                .query(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE task = $1 ORDER BY created, id"), &[&task])
                .map_err(backend)?;
            rows.iter().map(grant_row).collect()
        })
    }

    fn budgets(&self, task: &str) -> Result<Vec<BudgetRecord>, StoreError> {
        self.read(|client| {
            let rows = client
                .query("SELECT task, idx, lim, spent FROM budgets WHERE task = $1 ORDER BY idx", &[&task])
                .map_err(backend)?;
            rows.iter()
                .map(|row| {
                    let index: i32 = get(row, 1)?;
                    Ok(BudgetRecord {
                        task: get(row, 0)?,
                        index: index as u32,
                        limit: get(row, 2)?,
                        spent: get(row, 3)?,
                    })
                })
                .collect()
        })
    }

    fn reserve(&self, task: &str, amounts: &[(u32, i64)]) -> Result<Reserved, StoreError> {
        let mut client = self.lock()?;
        let mut transaction = client.transaction().map_err(backend)?;
        let state =
            transaction.query_opt("SELECT state FROM tasks WHERE id = $1 FOR SHARE", &[&task]).map_err(backend)?;
        let open = match &state {
            Some(row) => get::<&str>(row, 0)? == "open",
            None => false,
        };
        if !open {
            return Ok(Reserved::TaskEnded);
        }
        let mut exhausted = Vec::new();
        let mut ordered = amounts.to_vec();
        // One lock order for every transaction, so concurrent reservations never deadlock.
        ordered.sort_unstable();
        for (index, amount) in ordered {
            let signed = index as i32;
            let row = transaction
                .query_one("SELECT lim, spent FROM budgets WHERE task = $1 AND idx = $2 FOR UPDATE", &[&task, &signed])
                .map_err(backend)?;
            let (limit, spent): (i64, i64) = (get(&row, 0)?, get(&row, 1)?);
            match spent.checked_add(amount) {
                Some(total) if total <= limit => {
                    transaction
                        .execute(
                            "UPDATE budgets SET spent = $3 WHERE task = $1 AND idx = $2",
                            &[&task, &signed, &total],
                        )
                        .map_err(backend)?;
                }
                _ => exhausted.push(BudgetRecord { task: task.to_string(), index, limit, spent }),
            }
        }
        if !exhausted.is_empty() {
            transaction.rollback().map_err(backend)?;
            return Ok(Reserved::Exhausted(exhausted));
        }
        transaction.commit().map_err(backend)?;
        Ok(Reserved::Done)
    }

    fn revocations_since(&self, seq: i64) -> Result<Vec<Revocation>, StoreError> {
        self.read(|client| {
            let rows = client
                .query(&format!("SELECT {REVOCATION_COLUMNS} FROM revocations WHERE seq > $1 ORDER BY seq"), &[&seq])
                .map_err(backend)?;
            rows.iter().map(revocation_row).collect()
        })
    }

    /// The head's row lock is the log's sequencer: one append at a time, across
    /// every process sharing the database.
    fn log_append(&self, seal: &mut Seal<'_>) -> Result<(), StoreError> {
        self.write(|transaction| {
            let row = transaction
                .query_one("SELECT size, state FROM audit_head WHERE id = 0 FOR UPDATE", &[])
                .map_err(backend)?;
            let head = head_row(&row)?;
            let batch = seal(&head)?;
            let insert = transaction
                .prepare("INSERT INTO audit_log (seq, task, leaf, entry) VALUES ($1, $2, $3, $4)")
                .map_err(backend)?;
            for row in &batch.rows {
                transaction
                    .execute(&insert, &[&(row.seq as i64), &row.task, &row.leaf, &row.entry])
                    .map_err(backend)?;
            }
            transaction
                .execute(
                    "UPDATE audit_head SET size = $1, state = $2 WHERE id = 0",
                    &[&(batch.head.size as i64), &batch.head.state],
                )
                .map_err(backend)?;
            if let Some(checkpoint) = &batch.checkpoint {
                transaction
                    .execute(
                        "INSERT INTO audit_checkpoints (size, at, note) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        &[&(checkpoint.size as i64), &checkpoint.at, &checkpoint.note],
                    )
                    .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn log_head(&self) -> Result<LogHead, StoreError> {
        self.read(|client| {
            let row = client.query_one("SELECT size, state FROM audit_head WHERE id = 0", &[]).map_err(backend)?;
            head_row(&row)
        })
    }

    fn log_rows(&self, from: u64, limit: usize) -> Result<Vec<LogRow>, StoreError> {
        self.read(|client| {
            let rows = client
                .query(
                    "SELECT seq, task, leaf, entry FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2",
                    &[&(from as i64), &(limit as i64)],
                )
                .map_err(backend)?;
            rows.iter().map(log_row).collect()
        })
    }

    fn log_rows_of_task(&self, task: &str) -> Result<Vec<LogRow>, StoreError> {
        self.read(|client| {
            let rows = client
                .query("SELECT seq, task, leaf, entry FROM audit_log WHERE task = $1 ORDER BY seq", &[&task])
                .map_err(backend)?;
            rows.iter().map(log_row).collect()
        })
    }

    fn log_checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        self.read(|client| {
            let rows =
                client.query("SELECT size, at, note FROM audit_checkpoints ORDER BY size", &[]).map_err(backend)?;
            rows.iter()
                .map(|row| Ok(CheckpointRow { size: get::<i64>(row, 0)? as u64, at: get(row, 1)?, note: get(row, 2)? }))
                .collect()
        })
    }

    fn put_bundle(&self, hash: &str, bundle: &[u8]) -> Result<(), StoreError> {
        self.write(|transaction| {
            transaction
                .execute(
                    "INSERT INTO audit_bundles (hash, bundle) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&hash, &bundle],
                )
                .map_err(backend)?;
            Ok(())
        })
    }

    fn bundle(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|client| {
            let row =
                client.query_opt("SELECT bundle FROM audit_bundles WHERE hash = $1", &[&hash]).map_err(backend)?;
            row.map(|row| get(&row, 0)).transpose()
        })
    }
}

fn log_row(row: &Row) -> Result<LogRow, StoreError> {
    Ok(LogRow { seq: get::<i64>(row, 0)? as u64, task: get(row, 1)?, leaf: get(row, 2)?, entry: get(row, 3)? })
}

fn head_row(row: &Row) -> Result<LogHead, StoreError> {
    Ok(LogHead { size: get::<i64>(row, 0)? as u64, state: get(row, 1)? })
}
