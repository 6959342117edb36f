//! The embedded store: one SQLite file in WAL mode, the runtime's default.
//!
//! Each changing method runs in one `BEGIN IMMEDIATE` transaction, which takes the
//! database's write lock before it reads: two processes (or threads) reserving the last
//! unit of a budget are serialised, and a process killed mid-transaction leaves the file
//! as it was before that transaction. The file is checked when it is opened (its header
//! against its length, and SQLite's `quick_check` of every table but the ever-growing
//! audit log, whose pages are checked as they are read), so a truncated, corrupted or
//! foreign file is refused with [`StoreError::Corrupt`] before anything is written to
//! it. A background thread copies the write-ahead log back into the file, so that
//! commits do not stop to do it.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::store::*;

/// The layout version, in `PRAGMA user_version`. Version 3 added the `expired` task
/// state, which builds of version 2 cannot read: they refuse a version-3 file as newer
/// than they are instead of failing on its first expired task. Version 4 keeps the audit
/// log's head in the row of its last entry and the log's task index in a table filled
/// in steps ([`TASK_INDEX_STEP`]), so that an append writes only the pages its entries
/// fill. Files of versions 2 and 3 are raised to 4 when opened ([`raise_audit_log`]).
const VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY, sponsor TEXT NOT NULL, attrs TEXT NOT NULL, keys TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, params TEXT NOT NULL, opened_by TEXT NOT NULL,
  sponsor TEXT NOT NULL, start INTEGER NOT NULL, deadline INTEGER NOT NULL, state TEXT NOT NULL,
  ended_by TEXT, ended_at INTEGER, reason TEXT);
CREATE TABLE IF NOT EXISTS grants (
  id TEXT PRIMARY KEY, task TEXT NOT NULL REFERENCES tasks(id), agent TEXT NOT NULL, parent TEXT,
  chain TEXT NOT NULL, narrowing TEXT NOT NULL, created INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0, UNIQUE (task, agent));
CREATE TABLE IF NOT EXISTS budgets (
  task TEXT NOT NULL REFERENCES tasks(id), idx INTEGER NOT NULL, lim INTEGER NOT NULL,
  spent INTEGER NOT NULL, PRIMARY KEY (task, idx));
CREATE TABLE IF NOT EXISTS assertion_ids (
  agent TEXT NOT NULL, jti TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (agent, jti));
CREATE TABLE IF NOT EXISTS revocations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL, grant_id TEXT, kind TEXT NOT NULL,
  by TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY, task TEXT, leaf BLOB NOT NULL, entry BLOB NOT NULL, head BLOB, indexed INTEGER);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  size INTEGER PRIMARY KEY, at INTEGER NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_bundles (hash TEXT PRIMARY KEY, bundle BLOB NOT NULL);
";

/// The audit log's task index (layout 4), created with the other tables and by
/// [`raise_audit_log`].
const AUDIT_TASK_TABLE: &str = "
CREATE TABLE IF NOT EXISTS audit_task (
  task TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (task, seq)) WITHOUT ROWID;
";

/// A runtime store in one SQLite file.
pub struct SqliteStore {
    connection: Mutex<Connection>,
    /// For a file: copies the write-ahead log back into the file in the background.
    checkpointer: Option<Checkpointer>,
}

impl SqliteStore {
    /// Opens the store at `path`, creating it (and its tables) when it does not exist.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        check_header(path)?;
        let connection = Connection::open(path).map_err(corrupt)?;
        let mut store = Self::prepare(connection)?;
        store.checkpointer = Checkpointer::start(path);
        Ok(store)
    }

    /// A store that lives in memory only, for tests and one-shot runs.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::prepare(Connection::open_in_memory().map_err(backend)?)
    }

    fn prepare(connection: Connection) -> Result<SqliteStore, StoreError> {
        connection.busy_timeout(Duration::from_secs(10)).map_err(backend)?;
        check_tables(&connection)?;
        let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(corrupt)?;
        if version > VERSION {
            return Err(StoreError::Corrupt(format!("layout version {version} is newer than this build's {VERSION}")));
        }
        connection.pragma_update(None, "journal_mode", "WAL").map_err(corrupt)?;
        connection.pragma_update(None, "synchronous", "NORMAL").map_err(backend)?;
        connection.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES).map_err(backend)?;
        connection.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
        raise_audit_log(&connection)?;
        connection.execute_batch(SCHEMA).map_err(corrupt)?;
        connection.execute_batch(AUDIT_TASK_TABLE).map_err(corrupt)?;
        if version != VERSION {
            connection.pragma_update(None, "user_version", VERSION).map_err(backend)?;
        }
        Ok(SqliteStore { connection: Mutex::new(connection), checkpointer: None })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.connection.lock().map_err(|_| StoreError::Backend("a thread panicked holding the store".to_string()))
    }

    /// Runs `body` in one write transaction; it commits only when `body` succeeds.
    fn write<T>(&self, body: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
        let value = body(&transaction)?;
        transaction.commit().map_err(backend)?;
        Ok(value)
    }
}

/// The length of a SQLite file's header, and what it starts with.
const HEADER: usize = 100;
const MAGIC: &[u8] = b"SQLite format 3\0";

/// Refuses a file that is not a SQLite database, or that is shorter than its header
/// says (a truncated copy), before SQLite opens it. Reading the header is constant
/// work, whatever the file's size. While a write-ahead log lies beside the file, the
/// file may legitimately be shorter (a checkpoint was cut short), so its length is
/// checked only without one.
fn check_header(path: &Path) -> Result<(), StoreError> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(StoreError::Backend(format!("cannot read {}: {error}", path.display()))),
    };
    let length = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    if length == 0 {
        return Ok(());
    }
    let mut header = [0u8; HEADER];
    let not_sqlite = || StoreError::Corrupt(format!("{} is not a SQLite database (no SQLite header)", path.display()));
    std::io::Read::read_exact(&mut file, &mut header).map_err(|_| not_sqlite())?;
    if !header.starts_with(MAGIC) {
        return Err(not_sqlite());
    }
    let number =
        |at: usize| header.get(at..at + 4).and_then(|bytes| <[u8; 4]>::try_from(bytes).ok()).map(u32::from_be_bytes);
    let page_size = match header.get(16..18) {
        Some([0, 1]) => 65_536,
        Some(&[high, low]) => u64::from(u16::from_be_bytes([high, low])),
        _ => 0,
    };
    if !page_size.is_power_of_two() || !(512..=65_536).contains(&page_size) {
        return Err(StoreError::Corrupt(format!("{}: its header states a page size of {page_size}", path.display())));
    }
    let pages = u64::from(number(28).unwrap_or(0));
    // The header's page count holds only while it was written with the change counter.
    let counted = number(24).is_some() && number(24) == number(92) && pages > 0;
    let mut wal_path = path.as_os_str().to_owned();
    wal_path.push("-wal");
    let wal = std::fs::metadata(&wal_path).is_ok_and(|metadata| metadata.len() > 0);
    if counted && !wal && length < pages * page_size {
        return Err(StoreError::Corrupt(format!(
            "{} holds {length} bytes, but its header counts {pages} pages of {page_size} bytes: the file was truncated",
            path.display()
        )));
    }
    Ok(())
}

/// SQLite's own integrity check (`quick_check`) of every table but the audit log and its
/// task index, and of their indexes. These two grow without end, so checking them would
/// make every opening cost as much as reading the whole log; their pages are checked as
/// they are read instead, which `mandate audit verify` does for all of the log's (a
/// damaged page is a `damaged_store` failure there), and appending reads the pages it
/// changes.
fn check_tables(connection: &Connection) -> Result<(), StoreError> {
    let tables: Vec<String> = connection
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT IN ('audit_log', 'audit_task') ORDER BY name",
        )
        .and_then(|mut statement| statement.query_map([], |row| row.get(0))?.collect())
        .map_err(corrupt)?;
    for table in tables {
        let check: String = connection
            .query_row("SELECT quick_check FROM pragma_quick_check(?1)", [&table], |row| row.get(0))
            .map_err(corrupt)?;
        if check != "ok" {
            return Err(StoreError::Corrupt(format!("table {table}: {check}")));
        }
    }
    Ok(())
}

/// How often the write-ahead log is copied back into the file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the write-ahead log back into the database file on its own thread and
/// connection (SQLite's `PASSIVE` checkpoint, which never blocks a writer), so that a
/// commit does not stop to do it. The writer's own checkpoint
/// ([`WRITER_CHECKPOINT_PAGES`]) lets the log start over under sustained load.
struct Checkpointer {
    /// Dropped to stop it.
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts it for the file at `path`; without it (a second connection cannot be
    /// opened), the writer checkpoints as SQLite does by default.
    fn start(path: &Path) -> Option<Checkpointer> {
        let connection = Connection::open(path).ok()?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("mandate-checkpoint".to_string())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    // Busy (another checkpoint runs) or failed: retried at the next interval.
                    let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok()?;
        Some(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

/// After how many pages in the write-ahead log a commit checkpoints it itself (SQLite's
/// `wal_autocheckpoint`; 1 GiB of 4 KiB pages), so that the log starts over.
///
/// The checkpointer keeps the database file current, but only the writer can let the log
/// start over: a checkpoint on another connection always finds pages newer than those
/// it copied, and one that waits for the writer (`RESTART`) holds the write lock while
/// it copies and syncs. The writer's own checkpoint syncs the log and the file while
/// commits wait for it, 50 to 100 ms when the disk is busy. Whenever the writer pauses,
/// the checkpointer copies everything and the next commit starts the log over by itself;
/// only under sustained load does the log grow to this bound, which decides how often
/// commits stop: at 64 MiB, several times a second.
const WRITER_CHECKPOINT_PAGES: i64 = 262_144;

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The checkpointer stops (and closes its connection) before the writer's connection
/// closes, so that the last connection checkpoints the log and removes it.
impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpointer.take();
    }
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn corrupt(error: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Backend(error.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text)
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error)))
}

fn agent_row(row: &Row<'_>) -> rusqlite::Result<AgentRecord> {
    Ok(AgentRecord {
        id: row.get(0)?,
        sponsor: row.get(1)?,
        attrs: from_json(&row.get::<_, String>(2)?)?,
        keys: from_json(&row.get::<_, String>(3)?)?,
        disabled: row.get(4)?,
        created: row.get(5)?,
    })
}

const AGENT_COLUMNS: &str = "id, sponsor, attrs, keys, disabled, created";
const TASK_COLUMNS: &str = "id, kind, params, opened_by, sponsor, start, deadline, state, ended_by, ended_at, reason";
const GRANT_COLUMNS: &str = "id, task, agent, parent, chain, narrowing, created, revoked";
const REVOCATION_COLUMNS: &str = "seq, task, grant_id, kind, by, reason, at";

fn task_row(row: &Row<'_>) -> rusqlite::Result<TaskRecord> {
    let state: String = row.get(7)?;
    Ok(TaskRecord {
        id: row.get(0)?,
        kind: row.get(1)?,
        params: from_json(&row.get::<_, String>(2)?)?,
        opened_by: row.get(3)?,
        sponsor: row.get(4)?,
        start: row.get(5)?,
        deadline: row.get(6)?,
        state: TaskState::from_word(&state).ok_or(rusqlite::Error::InvalidColumnType(
            7,
            "state".to_string(),
            rusqlite::types::Type::Text,
        ))?,
        ended_by: row.get(8)?,
        ended_at: row.get(9)?,
        reason: row.get(10)?,
    })
}

fn grant_row(row: &Row<'_>) -> rusqlite::Result<GrantRecord> {
    Ok(GrantRecord {
        id: row.get(0)?,
        task: row.get(1)?,
        agent: row.get(2)?,
        parent: row.get(3)?,
        chain: from_json(&row.get::<_, String>(4)?)?,
        narrowing: from_json(&row.get::<_, String>(5)?)?,
        created: row.get(6)?,
        revoked: row.get(7)?,
    })
}

fn revocation_row(row: &Row<'_>) -> rusqlite::Result<Revocation> {
    Ok(Revocation {
        seq: row.get(0)?,
        task: row.get(1)?,
        grant: row.get(2)?,
        kind: row.get(3)?,
        by: row.get(4)?,
        reason: row.get(5)?,
        at: row.get(6)?,
    })
}

/// Appends to the revocation log inside `transaction`.
fn log(
    transaction: &Transaction<'_>,
    task: &str,
    grant: Option<&str>,
    kind: &str,
    by: &str,
    reason: &str,
    at: i64,
) -> Result<Revocation, StoreError> {
    transaction
        .execute(
            "INSERT INTO revocations (task, grant_id, kind, by, reason, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![task, grant, kind, by, reason, at],
        )
        .map_err(backend)?;
    let seq = transaction.last_insert_rowid();
    let (task, grant, kind, by, reason) =
        (task.to_string(), grant.map(str::to_string), kind.to_string(), by.to_string(), reason.to_string());
    Ok(Revocation { seq, task, grant, kind, by, reason, at })
}

fn end_open_task(
    transaction: &Transaction<'_>,
    id: &str,
    state: TaskState,
    kind: &str,
    by: &str,
    reason: &str,
    at: i64,
) -> Result<Revocation, StoreError> {
    let changed = transaction
        .execute(
            "UPDATE tasks SET state = ?2, ended_by = ?3, ended_at = ?4, reason = ?5 WHERE id = ?1 AND state = 'open'",
            params![id, state.word(), by, at, reason],
        )
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::NotOpen(id.to_string()));
    }
    log(transaction, id, None, kind, by, reason, at)
}

fn task_grants(transaction: &Transaction<'_>, task: &str) -> Result<Vec<GrantRecord>, StoreError> {
    let mut statement =
        transaction.prepare(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE task = ?1")).map_err(backend)?;
    let rows = statement.query_map([task], grant_row).map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(corrupt)
}

impl Store for SqliteStore {
    fn add_agent(&self, agent: &AgentRecord) -> Result<(), StoreError> {
        self.write(|transaction| {
            let exists: bool = transaction
                .query_row("SELECT EXISTS (SELECT 1 FROM agents WHERE id = ?1)", [&agent.id], |row| row.get(0))
                .map_err(backend)?;
            if exists {
                return Err(StoreError::Exists(agent.id.clone()));
            }
            transaction
                .execute(
                    &format!("INSERT INTO agents ({AGENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                    params![
                        agent.id,
                        agent.sponsor,
                        to_json(&agent.attrs)?,
                        to_json(&agent.keys)?,
                        agent.disabled,
                        agent.created
                    ],
                )
                .map_err(backend)?;
            Ok(())
        })
    }

    fn agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
        let connection = self.lock()?;
        connection
            .query_row(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1"), [id], agent_row)
            .optional()
            .map_err(corrupt)
    }

    fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let connection = self.lock()?;
        let mut statement =
            connection.prepare(&format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id")).map_err(backend)?;
        let rows = statement.query_map([], agent_row).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(corrupt)
    }

    fn disable_agent(&self, id: &str, by: &str, reason: &str, at: i64) -> Result<Vec<Revocation>, StoreError> {
        self.write(|transaction| {
            let changed = transaction.execute("UPDATE agents SET disabled = 1 WHERE id = ?1", [id]).map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::Missing(id.to_string()));
            }
            let mut log_entries = Vec::new();
            let opened: Vec<String> = {
                let mut statement = transaction
                    .prepare("SELECT id FROM tasks WHERE opened_by = ?1 AND state = 'open' ORDER BY start")
                    .map_err(backend)?;
                let rows = statement.query_map([id], |row| row.get(0)).map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(corrupt)?
            };
            for task in &opened {
                log_entries.push(end_open_task(
                    transaction,
                    task,
                    TaskState::Revoked,
                    "agent_disabled",
                    by,
                    reason,
                    at,
                )?);
            }
            let held: Vec<(String, String)> = {
                let mut statement = transaction
                    .prepare(
                        "SELECT g.id, g.task FROM grants g JOIN tasks t ON t.id = g.task
                         WHERE g.agent = ?1 AND g.parent IS NOT NULL AND g.revoked = 0 AND t.state = 'open'",
                    )
                    .map_err(backend)?;
                let rows = statement.query_map([id], |row| Ok((row.get(0)?, row.get(1)?))).map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(corrupt)?
            };
            for (grant, task) in &held {
                let grants = task_grants(transaction, task)?;
                for revoked in subtree(&grants, grant) {
                    transaction.execute("UPDATE grants SET revoked = 1 WHERE id = ?1", [&revoked]).map_err(backend)?;
                }
                log_entries.push(log(transaction, task, Some(grant), "agent_disabled", by, reason, at)?);
            }
            Ok(log_entries)
        })
    }

    fn use_assertion_id(&self, agent: &str, jti: &str, expires: i64, now: i64) -> Result<bool, StoreError> {
        self.write(|transaction| {
            transaction.execute("DELETE FROM assertion_ids WHERE expires < ?1", [now]).map_err(backend)?;
            let inserted = transaction
                .execute(
                    "INSERT OR IGNORE INTO assertion_ids (agent, jti, expires) VALUES (?1, ?2, ?3)",
                    params![agent, jti, expires],
                )
                .map_err(backend)?;
            Ok(inserted == 1)
        })
    }

    fn open_task(&self, task: &TaskRecord, root: &GrantRecord, budgets: &[BudgetRecord]) -> Result<(), StoreError> {
        self.write(|transaction| {
            transaction
                .execute(
                    &format!(
                        "INSERT INTO tasks ({TASK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                    ),
                    params![
                        task.id,
                        task.kind,
                        to_json(&task.params)?,
                        task.opened_by,
                        task.sponsor,
                        task.start,
                        task.deadline,
                        task.state.word(),
                        task.ended_by,
                        task.ended_at,
                        task.reason
                    ],
                )
                .map_err(|error| match error {
                    rusqlite::Error::SqliteFailure(code, _)
                        if code.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        StoreError::Exists(task.id.clone())
                    }
                    other => backend(other),
                })?;
            insert_grant(transaction, root)?;
            for budget in budgets {
                transaction
                    .execute(
                        "INSERT INTO budgets (task, idx, lim, spent) VALUES (?1, ?2, ?3, ?4)",
                        params![budget.task, budget.index, budget.limit, budget.spent],
                    )
                    .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let connection = self.lock()?;
        connection
            .query_row(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"), [id], task_row)
            .optional()
            .map_err(corrupt)
    }

    fn tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let connection = self.lock()?;
        let mut statement =
            connection.prepare(&format!("SELECT {TASK_COLUMNS} FROM tasks ORDER BY start, id")).map_err(backend)?;
        let rows = statement.query_map([], task_row).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(corrupt)
    }

    fn end_task(&self, id: &str, state: TaskState, by: &str, reason: &str, at: i64) -> Result<Revocation, StoreError> {
        self.write(|transaction| end_open_task(transaction, id, state, state.word(), by, reason, at))
    }

    fn add_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        self.write(|transaction| {
            let open: Option<String> = transaction
                .query_row("SELECT state FROM tasks WHERE id = ?1", [&grant.task], |row| row.get(0))
                .optional()
                .map_err(backend)?;
            if open.as_deref() != Some("open") {
                return Err(StoreError::NotOpen(grant.task.clone()));
            }
            if let Some(parent) = &grant.parent {
                let standing: Option<bool> = transaction
                    .query_row("SELECT revoked = 0 FROM grants WHERE id = ?1", [parent], |row| row.get(0))
                    .optional()
                    .map_err(backend)?;
                if standing != Some(true) {
                    return Err(StoreError::Missing(parent.clone()));
                }
            }
            insert_grant(transaction, grant)
        })
    }

    fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError> {
        let connection = self.lock()?;
        connection
            .query_row(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?1"), [id], grant_row)
            .optional()
            .map_err(corrupt)
    }

    fn grants(&self, task: &str) -> Result<Vec<GrantRecord>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE task = ?1 ORDER BY created, id"))
            .map_err(backend)?;
        let rows = statement.query_map([task], grant_row).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(corrupt)
    }

    fn budgets(&self, task: &str) -> Result<Vec<BudgetRecord>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare("SELECT task, idx, lim, spent FROM budgets WHERE task = ?1 ORDER BY idx")
            .map_err(backend)?;
        let rows = statement
            .query_map([task], |row| {
                Ok(BudgetRecord { task: row.get(0)?, index: row.get(1)?, limit: row.get(2)?, spent: row.get(3)? })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(corrupt)
    }

    fn reserve(&self, task: &str, amounts: &[(u32, i64)]) -> Result<Reserved, StoreError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
        let state: Option<String> = transaction
            .query_row("SELECT state FROM tasks WHERE id = ?1", [task], |row| row.get(0))
            .optional()
            .map_err(backend)?;
        if state.as_deref() != Some("open") {
            return Ok(Reserved::TaskEnded);
        }
        let mut exhausted = Vec::new();
        for (index, amount) in amounts {
            let (limit, spent): (i64, i64) = transaction
                .query_row("SELECT lim, spent FROM budgets WHERE task = ?1 AND idx = ?2", params![task, index], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .map_err(backend)?;
            match spent.checked_add(*amount) {
                Some(total) if total <= limit => {
                    transaction
                        .execute(
                            "UPDATE budgets SET spent = ?3 WHERE task = ?1 AND idx = ?2",
                            params![task, index, total],
                        )
                        .map_err(backend)?;
                }
                _ => exhausted.push(BudgetRecord { task: task.to_string(), index: *index, limit, spent }),
            }
        }
        if !exhausted.is_empty() {
            // Dropping the transaction rolls back what was added before the refusal.
            return Ok(Reserved::Exhausted(exhausted));
        }
        transaction.commit().map_err(backend)?;
        Ok(Reserved::Done)
    }

    fn revocations_since(&self, seq: i64) -> Result<Vec<Revocation>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare(&format!("SELECT {REVOCATION_COLUMNS} FROM revocations WHERE seq > ?1 ORDER BY seq"))
            .map_err(backend)?;
        let rows = statement.query_map([seq], revocation_row).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(corrupt)
    }

    fn log_append(&self, seal: &mut Seal<'_>) -> Result<(), StoreError> {
        self.write(|transaction| {
            let tail = log_tail(transaction)?;
            let batch = seal(&tail.head)?;
            let size = batch.head.size;
            let indexed = if size.saturating_sub(tail.indexed) >= TASK_INDEX_STEP { size } else { tail.indexed };
            append_rows(transaction, &batch, indexed)?;
            if batch.rows.is_empty() && batch.head != tail.head {
                set_head(transaction, &batch.head, indexed)?;
            }
            if indexed != tail.indexed {
                transaction
                    .prepare_cached(
                        "INSERT OR IGNORE INTO audit_task (task, seq)
                         SELECT task, seq FROM audit_log WHERE seq >= ?1 AND seq < ?2 AND task IS NOT NULL",
                    )
                    .and_then(|mut statement| statement.execute(params![tail.indexed as i64, indexed as i64]))
                    .map_err(backend)?;
            }
            if let Some(checkpoint) = &batch.checkpoint {
                transaction
                    .prepare_cached("INSERT OR IGNORE INTO audit_checkpoints (size, at, note) VALUES (?1, ?2, ?3)")
                    .and_then(|mut statement| {
                        statement.execute(params![checkpoint.size as i64, checkpoint.at, checkpoint.note])
                    })
                    .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn log_head(&self) -> Result<LogHead, StoreError> {
        Ok(log_tail(&*self.lock()?)?.head)
    }

    fn log_rows(&self, from: u64, limit: usize) -> Result<Vec<LogRow>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare_cached("SELECT seq, task, leaf, entry FROM audit_log WHERE seq >= ?1 ORDER BY seq LIMIT ?2")
            .map_err(corrupt)?;
        let rows = statement.query_map(params![from as i64, limit as i64], log_row).map_err(corrupt)?;
        rows.collect::<Result<_, _>>().map_err(corrupt)
    }

    fn log_rows_of_task(&self, task: &str) -> Result<Vec<LogRow>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare_cached(
                "WITH mark (mark) AS (SELECT coalesce((SELECT indexed FROM audit_log ORDER BY seq DESC LIMIT 1), 0))
                 SELECT seq, task, leaf, entry FROM audit_log
                 WHERE seq IN (SELECT seq FROM audit_task WHERE task = ?1) AND task = ?1 AND seq < (SELECT mark FROM mark)
                 UNION ALL
                 SELECT seq, task, leaf, entry FROM audit_log WHERE seq >= (SELECT mark FROM mark) AND task = ?1
                 ORDER BY seq",
            )
            .map_err(corrupt)?;
        let rows = statement.query_map(params![task], log_row).map_err(corrupt)?;
        rows.collect::<Result<_, _>>().map_err(corrupt)
    }

    fn log_task_index(&self, each: &mut dyn FnMut(&str, u64)) -> Result<Option<u64>, StoreError> {
        let mut connection = self.lock()?;
        // One read transaction: the bound and the rows are of the same moment.
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Deferred).map_err(backend)?;
        let bound = index_bound(&transaction)?;
        let mut statement = transaction.prepare("SELECT task, seq FROM audit_task").map_err(corrupt)?;
        let mut rows = statement.query([]).map_err(corrupt)?;
        while let Some(row) = rows.next().map_err(corrupt)? {
            let task = row.get_ref(0).and_then(|task| Ok(task.as_str()?)).map_err(corrupt)?;
            let seq = u64::try_from(row.get::<_, i64>(1).map_err(corrupt)?)
                .map_err(|_| StoreError::Corrupt("the audit log's task index names a negative position".to_string()))?;
            each(task, seq);
        }
        Ok(Some(bound))
    }

    fn log_task_index_fault(&self) -> Result<Option<u64>, StoreError> {
        let connection = self.lock()?;
        let bound = index_bound(&connection)?;
        let first: Option<i64> = connection
            .query_row(
                "SELECT min(seq) FROM (
                   SELECT seq FROM audit_log l WHERE seq < ?1 AND task IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM audit_task t WHERE t.task = l.task AND t.seq = l.seq)
                   UNION ALL
                   SELECT seq FROM audit_task t WHERE seq >= ?1
                     OR NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.seq = t.seq AND l.task = t.task))",
                [bound as i64],
                |row| row.get(0),
            )
            .map_err(corrupt)?;
        Ok(first.map(|seq| u64::try_from(seq).unwrap_or(0)))
    }

    fn log_checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        let connection = self.lock()?;
        let mut statement =
            connection.prepare_cached("SELECT size, at, note FROM audit_checkpoints ORDER BY size").map_err(corrupt)?;
        let rows = statement
            .query_map([], |row| {
                Ok(CheckpointRow { size: row.get::<_, i64>(0)? as u64, at: row.get(1)?, note: row.get(2)? })
            })
            .map_err(corrupt)?;
        rows.collect::<Result<_, _>>().map_err(corrupt)
    }

    fn put_bundle(&self, hash: &str, bundle: &[u8]) -> Result<(), StoreError> {
        self.write(|transaction| {
            transaction
                .execute("INSERT OR IGNORE INTO audit_bundles (hash, bundle) VALUES (?1, ?2)", params![hash, bundle])
                .map_err(backend)?;
            Ok(())
        })
    }

    fn bundle(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.lock()?
            .query_row("SELECT bundle FROM audit_bundles WHERE hash = ?1", params![hash], |row| row.get(0))
            .optional()
            .map_err(corrupt)
    }
}

/// Every this many entries, an append adds the entries since the last step to the
/// log's task index (`audit_task`), instead of each append adding its own: an index page
/// is written once per step rather than once per commit. The entries after the last step
/// (the head row's `indexed` says where it was) are found by reading them.
const TASK_INDEX_STEP: u64 = 128;

/// The log's head and how many of its entries the task index holds, as the row of its
/// last entry keeps them.
#[derive(Default)]
struct Tail {
    head: LogHead,
    indexed: u64,
}

fn log_tail(connection: &Connection) -> Result<Tail, StoreError> {
    let last = connection
        .prepare_cached("SELECT seq, head, indexed FROM audit_log ORDER BY seq DESC LIMIT 1")
        .and_then(|mut statement| {
            statement
                .query_row([], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, Option<Vec<u8>>>(1)?, row.get::<_, Option<i64>>(2)?))
                })
                .optional()
        })
        .map_err(corrupt)?;
    let Some((seq, head, indexed)) = last else { return Ok(Tail::default()) };
    let (Ok(seq), Some(state)) = (u64::try_from(seq), head) else {
        return Err(StoreError::Corrupt(format!(
            "the audit log's last entry ({seq}) does not hold the log's head: entries after it were removed, or its head was erased"
        )));
    };
    let size = seq + 1;
    let indexed = indexed.and_then(|indexed| u64::try_from(indexed).ok()).unwrap_or(0).min(size);
    Ok(Tail { head: LogHead { size, state }, indexed })
}

/// The position below which the task index covers the log, as its last entry says.
fn index_bound(connection: &Connection) -> Result<u64, StoreError> {
    let indexed: Option<Option<i64>> = connection
        .query_row("SELECT indexed FROM audit_log ORDER BY seq DESC LIMIT 1", [], |row| row.get(0))
        .optional()
        .map_err(corrupt)?;
    Ok(indexed.flatten().and_then(|indexed| u64::try_from(indexed).ok()).unwrap_or(0))
}

/// Inserts a batch's entries, its last one with the log's new head.
fn append_rows(transaction: &Transaction<'_>, batch: &LogBatch, indexed: u64) -> Result<(), StoreError> {
    let Some((last, before)) = batch.rows.split_last() else { return Ok(()) };
    if last.seq + 1 != batch.head.size {
        return Err(StoreError::Backend(format!(
            "a batch ending at entry {} cannot leave a head of {} entries",
            last.seq, batch.head.size
        )));
    }
    let mut insert = transaction
        .prepare_cached("INSERT INTO audit_log (seq, task, leaf, entry, head, indexed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .map_err(backend)?;
    for row in before {
        insert
            .execute(params![row.seq as i64, row.task, row.leaf, row.entry, None::<&[u8]>, None::<i64>])
            .map_err(backend)?;
    }
    insert
        .execute(params![last.seq as i64, last.task, last.leaf, last.entry, batch.head.state, indexed as i64])
        .map_err(backend)?;
    Ok(())
}

/// Rewrites the head in the last entry's row: a checkpoint signed with no new entries.
fn set_head(transaction: &Transaction<'_>, head: &LogHead, indexed: u64) -> Result<(), StoreError> {
    let last = head
        .size
        .checked_sub(1)
        .ok_or_else(|| StoreError::Backend("an empty log has no head to change".to_string()))?;
    let changed = transaction
        .prepare_cached("UPDATE audit_log SET head = ?1, indexed = ?2 WHERE seq = ?3")
        .and_then(|mut statement| statement.execute(params![head.state, indexed as i64, last as i64]))
        .map_err(backend)?;
    if changed != 1 {
        return Err(StoreError::Corrupt(format!("the audit log's last entry ({last}) is missing")));
    }
    Ok(())
}

/// Raises an audit log of layout 2 or 3 (a head table, an index maintained by every
/// insert) to layout 4 in one transaction: the head moves into the last entry's row and
/// the task index is built whole. A head that does not count the entries stored is
/// refused, not carried over.
fn raise_audit_log(connection: &Connection) -> Result<(), StoreError> {
    let transaction = Transaction::new_unchecked(connection, TransactionBehavior::Immediate).map_err(backend)?;
    let columns: Vec<String> = transaction
        .prepare("SELECT name FROM pragma_table_info('audit_log')")
        .and_then(|mut statement| statement.query_map([], |row| row.get(0))?.collect())
        .map_err(corrupt)?;
    if columns.is_empty() || columns.iter().any(|name| name == "head") {
        return Ok(());
    }
    let stored: Option<i64> =
        transaction.query_row("SELECT max(seq) FROM audit_log", [], |row| row.get(0)).map_err(corrupt)?;
    let counted: Option<i64> = transaction
        .query_row("SELECT size FROM audit_head WHERE id = 0", [], |row| row.get(0))
        .optional()
        .map_err(corrupt)?;
    let counted = counted.unwrap_or(0);
    if stored.map_or(0, |last| last + 1) != counted {
        return Err(StoreError::Corrupt(format!(
            "the audit log's head counts {counted} entries but its last stored entry is {}: \
             verify it with a build of layout 3 before this one raises it",
            stored.map_or("none".to_string(), |last| last.to_string())
        )));
    }
    transaction.execute_batch(AUDIT_TASK_TABLE).map_err(backend)?;
    transaction
        .execute_batch(
            "ALTER TABLE audit_log ADD COLUMN head BLOB;
             ALTER TABLE audit_log ADD COLUMN indexed INTEGER;
             INSERT INTO audit_task (task, seq) SELECT task, seq FROM audit_log WHERE task IS NOT NULL;
             UPDATE audit_log SET head = (SELECT state FROM audit_head WHERE id = 0), indexed = seq + 1
               WHERE seq = (SELECT max(seq) FROM audit_log);
             DROP INDEX IF EXISTS audit_log_task;
             DROP TABLE audit_head;",
        )
        .map_err(backend)?;
    transaction.commit().map_err(backend)
}

fn log_row(row: &Row<'_>) -> rusqlite::Result<LogRow> {
    Ok(LogRow { seq: row.get::<_, i64>(0)? as u64, task: row.get(1)?, leaf: row.get(2)?, entry: row.get(3)? })
}

fn insert_grant(transaction: &Transaction<'_>, grant: &GrantRecord) -> Result<(), StoreError> {
    transaction
        .execute(
            &format!("INSERT INTO grants ({GRANT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![
                grant.id,
                grant.task,
                grant.agent,
                grant.parent,
                to_json(&grant.chain)?,
                to_json(&grant.narrowing)?,
                grant.created,
                grant.revoked
            ],
        )
        .map_err(|error| match error {
            rusqlite::Error::SqliteFailure(code, _) if code.code == rusqlite::ErrorCode::ConstraintViolation => {
                StoreError::Exists(format!("{} in task {}", grant.agent, grant.task))
            }
            other => backend(other),
        })?;
    Ok(())
}
