//! The runtime: agents get access only through declared tasks.
//!
//! `mandate eval` believes whatever the caller says about who acts, in which task,
//! through which chain. The runtime does not: it keeps a registry ([`store`]) of agents
//! (with public keys only), task instances, the delegation tree of each task and budget
//! totals, and stamps every decision with what the registry says. A caller gives only
//! the action, its arguments, the resource and the context, and proves who it is with a
//! short-lived signed assertion ([`tokens`]).
//!
//! - **Opening** a task validates its parameters against the declaration (types,
//!   defaults, `require`), asks its `open when`, fixes its budgets' limits and deadline,
//!   and issues a task token.
//! - **Delegating** adds a grant under the delegator's, checked against the task's
//!   `delegate` clause, optionally narrowed ([`Narrowing`]); a narrowing may only narrow.
//! - **Deciding** evaluates the policies on the stamped request, then applies the two
//!   ceilings the policies cannot see: the grant's narrowing and the task's budgets,
//!   reserved atomically in the store.
//! - **Ending** a task (completed, revoked, or its agent disabled) ends its whole tree;
//!   the revocation log numbers each ending so that other processes catch up.
//!
//! The server is a thin layer over [`Runtime`], which is `Sync`. Everything here is
//! synchronous except waiting for the journal: [`Runtime::decide_async`] lets an
//! asynchronous service await the audit log's commit instead of holding a thread.

pub mod ceilings;
pub mod journal;
pub mod keys;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
pub mod store;
pub mod tokens;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::eval::decide::scope_text;
use crate::eval::decision::{Decision, Outcome, Reason};
use crate::eval::expr::Evaluator;
use crate::eval::request::{EntityDoc, ResourceDoc, TaskDoc};
use crate::eval::{CallDoc, PolicySet, Request, RequestError, Stamp};
use crate::hir::value::Value;
use crate::hir::Task;
use crate::semantics::suggest::did_you_mean;
use crate::syntax::literal::timestamp_text;
use journal::{Activity, Decided, Event, Journal, Memo, Recording, Signals, StampedRequest};
use keys::{KeyRing, PublicKey};
use store::*;
use tokens::{Actor, Claims};

pub use store::{Narrowing, Store};

const NANOS: i64 = 1_000_000_000;

/// A refusal or failure, as structured JSON: `{"error": {"code", "message", "help"}}`.
/// A runtime call that returns one changed no state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct RuntimeError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Request validation errors, when the parameters or the request did not validate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RequestError>,
}

impl RuntimeError {
    pub fn new(code: &str, message: impl Into<String>) -> RuntimeError {
        RuntimeError { code: code.to_string(), message: message.into(), help: None, errors: Vec::new() }
    }

    pub fn help(mut self, help: impl Into<String>) -> RuntimeError {
        self.help = Some(help.into());
        self
    }

    fn invalid(code: &str, message: impl Into<String>, errors: Vec<RequestError>) -> RuntimeError {
        RuntimeError { errors, ..RuntimeError::new(code, message) }
    }

    /// The JSON form.
    pub fn to_json(&self) -> Json {
        json!({ "error": self })
    }
}

impl From<StoreError> for RuntimeError {
    fn from(error: StoreError) -> RuntimeError {
        let code = match &error {
            StoreError::Exists(_) => "exists",
            StoreError::Missing(_) => "not_found",
            StoreError::NotOpen(_) => "task_not_open",
            StoreError::Corrupt(_) => "store_corrupt",
            StoreError::Backend(_) => "store_error",
        };
        RuntimeError::new(code, error.to_string())
    }
}

impl From<keys::KeyError> for RuntimeError {
    fn from(error: keys::KeyError) -> RuntimeError {
        RuntimeError::new("key_error", error.to_string())
    }
}

impl From<tokens::TokenError> for RuntimeError {
    fn from(error: tokens::TokenError) -> RuntimeError {
        RuntimeError::new(error.code, error.message)
    }
}

/// Who the runtime is to the tokens it issues and the assertions it accepts.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `iss` of task tokens and action credentials.
    pub issuer: String,
    /// `aud` of agents' assertions, task tokens and action credentials.
    pub audience: String,
    /// How stale the cached registry may be before the revocation log is read again:
    /// the longest a revocation made by another process goes unseen.
    pub sync_interval: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            issuer: "mandate".to_string(),
            audience: "mandate".to_string(),
            sync_interval: Duration::from_millis(250),
        }
    }
}

/// What registering an agent takes.
#[derive(Debug, Clone, Default)]
pub struct AgentSpec {
    pub id: String,
    pub sponsor: String,
    pub attrs: serde_json::Map<String, Json>,
    /// Public JWKs.
    pub keys: Vec<Json>,
}

/// An opened task, or a delegation: the grant and the task token for its agent.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub task: TaskRecord,
    pub grant: GrantRecord,
    pub token: String,
}

/// A runtime decision: the policies' decision after the runtime's ceilings, the task and
/// grant it was made under, and on an allow (when asked) the action credential.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeDecision {
    #[serde(flatten)]
    pub decision: Decision,
    pub task_id: String,
    pub grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// The decision's position in the audit log, when the runtime keeps one: the entry
    /// is durable before the decision is returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_seq: Option<u64>,
}

/// A decision made and handed to the journal: returned once the journal holds it, to a
/// thread that waits ([`Deciding::wait`]) or a task that awaits it.
struct Deciding<'a> {
    runtime: &'a Runtime,
    /// Taken when the decision is returned.
    decided: Option<RuntimeDecision>,
    recording: Option<Recording>,
    /// What the behavior signals learn from once the decision is recorded: the holder,
    /// the acting agent, the call as asked and the time.
    learned: Option<(Arc<Held>, &'a str, &'a CallDoc, i64)>,
}

impl Deciding<'_> {
    fn wait(mut self) -> Result<RuntimeDecision, RuntimeError> {
        let recorded = self.recording.take().map(Recording::wait).transpose();
        self.finish(recorded)
    }

    /// The decision with its position in the log; the signals learn from it (what was
    /// asked, the action and resources, not the signals) only once it is recorded.
    fn finish(&mut self, recorded: Result<Option<u64>, RuntimeError>) -> Result<RuntimeDecision, RuntimeError> {
        let log_seq = recorded?;
        let mut decided = self
            .decided
            .take()
            .ok_or_else(|| RuntimeError::new("decision_taken", "this decision was already returned"))?;
        decided.log_seq = log_seq;
        if let Some((held, agent, call, at)) = self.learned.take() {
            for signals in &self.runtime.signals {
                signals.observe(&Activity { agent, task: &held.task, call, at }, decided.decision.decision);
            }
        }
        Ok(decided)
    }
}

impl Future for Deciding<'_> {
    type Output = Result<RuntimeDecision, RuntimeError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let recorded = match this.recording.as_mut() {
            Some(recording) => match Pin::new(recording).poll(context) {
                Poll::Ready(recorded) => recorded.map(Some),
                Poll::Pending => return Poll::Pending,
            },
            None => Ok(None),
        };
        this.recording = None;
        Poll::Ready(this.finish(recorded))
    }
}

/// A task's standing as the cache knows it: open, with each participant's stamp.
struct Held {
    task: TaskRecord,
    grant: GrantRecord,
    /// The acting agent and the task as the registry has them, for the recorded request.
    agent: EntityDoc,
    task_doc: TaskDoc,
    stamp: Stamp,
    /// Each budget's index and limit, as evaluated when the task opened.
    limits: Vec<(u32, Value)>,
    /// What the journal keeps for this holder between decisions.
    memo: Memo,
}

#[derive(Default)]
struct Cache {
    /// By task, then agent: looked up without allocating.
    held: HashMap<String, HashMap<String, Arc<Held>>>,
    last_seq: i64,
}

/// The runtime over a policy set, a store and the runtime's signing keys.
pub struct Runtime {
    set: Arc<PolicySet>,
    store: Arc<dyn Store>,
    keys: KeyRing,
    config: RuntimeConfig,
    journal: Option<Arc<dyn Journal>>,
    signals: Vec<Arc<dyn Signals>>,
    cache: RwLock<Cache>,
    last_sync: RwLock<Instant>,
    /// Set by a store's notification listener: read the revocation log now.
    stale: Arc<AtomicBool>,
}

impl Runtime {
    pub fn new(
        set: Arc<PolicySet>,
        store: Box<dyn Store>,
        keys: KeyRing,
        config: RuntimeConfig,
    ) -> Result<Runtime, RuntimeError> {
        let last_seq = store.revocations_since(0)?.last().map_or(0, |entry| entry.seq);
        Ok(Runtime {
            set,
            store: Arc::from(store),
            keys,
            config,
            journal: None,
            signals: Vec::new(),
            cache: RwLock::new(Cache { held: HashMap::new(), last_seq }),
            last_sync: RwLock::new(Instant::now()),
            stale: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Records every task event and decision in `journal` (the audit log), durably
    /// before the call that made it returns.
    pub fn with_journal(mut self, journal: Arc<dyn Journal>) -> Runtime {
        self.journal = Some(journal);
        self
    }

    /// Takes behavior signals from `signals` (the behavioral profiles, the history
    /// counters) instead of the caller; several sources add up.
    pub fn with_signals(mut self, signals: Arc<dyn Signals>) -> Runtime {
        self.signals.push(signals);
        self
    }

    pub fn policies(&self) -> &PolicySet {
        &self.set
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The store, shared: for the audit log's writer.
    pub fn shared_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    fn record(&self, event: Event<'_>, at: i64) -> Result<Option<u64>, RuntimeError> {
        self.journal.as_ref().map(|journal| journal.record(event, at)).transpose()
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// A flag a notification listener sets when another process revoked something; the
    /// next decision reads the revocation log first.
    pub fn stale_flag(&self) -> Arc<AtomicBool> {
        self.stale.clone()
    }

    /// The JWKS document that verifies every token the runtime issues.
    pub fn jwks(&self) -> Result<Json, RuntimeError> {
        Ok(self.keys.jwks()?)
    }

    // --- agents -------------------------------------------------------------------------

    /// Registers an agent: its attributes must fit the schema's `agent`, it must have a
    /// sponsor and at least one public key.
    pub fn register_agent(&self, spec: AgentSpec, now: i64) -> Result<AgentRecord, RuntimeError> {
        if spec.id.trim().is_empty() || spec.sponsor.trim().is_empty() {
            return Err(RuntimeError::new("invalid_agent", "an agent needs an id and a human sponsor"));
        }
        if spec.keys.is_empty() {
            return Err(RuntimeError::new("invalid_agent", "an agent needs at least one public key")
                .help("make one with `mandate agent keygen` and register its public JWK"));
        }
        for key in &spec.keys {
            PublicKey::from_jwk(key).map_err(|error| RuntimeError::new("invalid_key", error.to_string()))?;
        }
        let entity = EntityDoc { id: spec.id.clone(), attrs: spec.attrs.clone() };
        self.set.stamp(&entity, std::slice::from_ref(&spec.sponsor), None).map_err(|errors| {
            RuntimeError::invalid("invalid_agent", "the agent's attributes do not fit the schema", errors)
        })?;
        let record = AgentRecord {
            id: spec.id,
            sponsor: spec.sponsor,
            attrs: spec.attrs,
            keys: spec.keys,
            disabled: false,
            created: now,
        };
        self.store.add_agent(&record)?;
        Ok(record)
    }

    /// Disables an agent and ends everything it holds: the tasks it opened are revoked,
    /// its delegations (with what it delegated on) too.
    pub fn disable_agent(&self, id: &str, by: &str, reason: &str, now: i64) -> Result<Vec<Revocation>, RuntimeError> {
        let entries = self.store.disable_agent(id, by, reason, now)?;
        self.forget_agent(id);
        self.apply(&entries);
        for entry in &entries {
            let task = self.task(&entry.task)?;
            self.record(Event::Ended { task: &task, revocation: entry }, now)?;
        }
        Ok(entries)
    }

    /// Checks an agent's assertion and spends its `jti`: the agent it proves, or why not.
    pub fn authenticate(&self, assertion: &str, now: i64) -> Result<String, RuntimeError> {
        let claimed = tokens::claimed_agent(assertion)?;
        let agent = self.known_agent(&claimed)?;
        let keys: Vec<PublicKey> = agent.keys.iter().filter_map(|key| PublicKey::from_jwk(key).ok()).collect();
        let verified = tokens::verify_assertion(assertion, &agent.id, &keys, &self.config.audience, now / NANOS)?;
        if !self.store.use_assertion_id(&agent.id, &verified.jti, verified.exp.saturating_mul(NANOS), now)? {
            return Err(RuntimeError::new("replayed_assertion", "this assertion was already used")
                .help("make a fresh assertion, with a new `jti`, for each call"));
        }
        Ok(agent.id)
    }

    fn known_agent(&self, id: &str) -> Result<AgentRecord, RuntimeError> {
        match self.store.agent(id)? {
            None => {
                let known: Vec<String> = self.store.agents()?.into_iter().map(|agent| agent.id).collect();
                let error = RuntimeError::new("unknown_agent", format!("no agent `{id}` is registered"));
                Err(match did_you_mean(id, known.iter().map(String::as_str)) {
                    Some(help) => error.help(help),
                    None => error.help("register it with `mandate agent add`"),
                })
            }
            Some(agent) if agent.disabled => {
                Err(RuntimeError::new("agent_disabled", format!("agent `{id}` is disabled")))
            }
            Some(agent) => Ok(agent),
        }
    }

    // --- tasks --------------------------------------------------------------------------

    /// Opens a task of `kind` for `agent` (authenticated), on behalf of its sponsor.
    /// `ttl` (nanoseconds) may shorten the declared ttl, never lengthen it.
    pub fn open_task(
        &self,
        agent: &str,
        kind: &str,
        params: serde_json::Map<String, Json>,
        ttl: Option<i64>,
        now: i64,
    ) -> Result<Issued, RuntimeError> {
        let record = self.known_agent(agent)?;
        let task = self.task_kind(kind)?;
        let ttl = match (ttl, task.ttl) {
            (Some(asked), _) if asked <= 0 => return Err(RuntimeError::new("invalid_ttl", "a ttl is positive")),
            (Some(asked), Some(declared)) => asked.min(declared),
            (asked, declared) => asked.or(declared).ok_or_else(|| {
                RuntimeError::new("invalid_ttl", format!("task `{kind}` declares no ttl")).help("give one: `--ttl 30m`")
            })?,
        };
        let id = keys::random_id("task")?;
        let deadline = now.saturating_add(ttl);
        let doc = TaskDoc {
            kind: kind.to_string(),
            id: id.clone(),
            start: timestamp_text(now),
            deadline: timestamp_text(deadline),
            params,
        };
        let chain = vec![record.sponsor.clone()];
        let entity = EntityDoc { id: record.id.clone(), attrs: record.attrs.clone() };
        let stamp = self.set.stamp(&entity, &chain, Some(&doc)).map_err(|errors| {
            RuntimeError::invalid("invalid_params", format!("the parameters do not fit task `{kind}`"), errors)
        })?;
        let request = stamp.as_request();
        if !self.holds(&request, &task.require, "require")? {
            return Err(RuntimeError::new(
                "precondition_failed",
                format!("the parameters do not satisfy the `require` of task `{kind}`"),
            ));
        }
        if !self.holds(&request, &task.open, "open when")? {
            return Err(RuntimeError::new(
                "open_refused",
                format!("agent `{agent}` may not open task `{kind}`: its `open when` does not hold"),
            ));
        }
        let limits = ceilings::limits(task, &request, self.set.limits().max_eval_steps)?;
        let params = stamp.task().map(|instance| ceilings::params_json(&instance.params)).unwrap_or_default();
        let task_record = TaskRecord {
            id: id.clone(),
            kind: kind.to_string(),
            params,
            opened_by: record.id.clone(),
            sponsor: record.sponsor.clone(),
            start: now,
            deadline,
            state: TaskState::Open,
            ended_by: None,
            ended_at: None,
            reason: None,
        };
        let grant = GrantRecord {
            id: keys::random_id("grant")?,
            task: id.clone(),
            agent: record.id.clone(),
            parent: None,
            chain,
            narrowing: Narrowing::default(),
            created: now,
            revoked: false,
        };
        let budgets: Vec<BudgetRecord> = limits
            .iter()
            .map(|(index, limit)| BudgetRecord {
                task: id.clone(),
                index: *index,
                limit: ceilings::units(limit).unwrap_or(0),
                spent: 0,
            })
            .collect();
        let token = self.task_token(&task_record, &grant, task, now)?;
        self.store.open_task(&task_record, &grant, &budgets)?;
        self.record(Event::Opened { task: &task_record, grant: &grant }, now)?;
        Ok(Issued { task: task_record, grant, token })
    }

    fn task_kind(&self, kind: &str) -> Result<&Task, RuntimeError> {
        self.set.hir().tasks.get(kind).ok_or_else(|| {
            let error = RuntimeError::new("unknown_task_kind", format!("the policies declare no task `{kind}`"));
            match did_you_mean(kind, self.set.hir().tasks.keys().map(String::as_str)) {
                Some(help) => error.help(help),
                None => error,
            }
        })
    }

    /// Whether a condition of a task declaration holds; an evaluation error refuses.
    fn holds(&self, request: &Request, condition: &crate::hir::HExpr, clause: &str) -> Result<bool, RuntimeError> {
        Evaluator::new(request, self.set.limits().max_eval_steps).truth(condition).map_err(|error| {
            RuntimeError::new("evaluation_error", format!("the task's `{clause}` cannot be evaluated: {error}"))
        })
    }

    /// The task as stored, or why there is none.
    pub fn task(&self, id: &str) -> Result<TaskRecord, RuntimeError> {
        self.store.task(id)?.ok_or_else(|| RuntimeError::new("unknown_task", format!("no task `{id}`")))
    }

    /// Each budget of a task as people read it: the budget as written, its limit, what
    /// has been spent and what remains, in the limit's own type.
    pub fn budget_status(&self, id: &str) -> Result<Vec<Json>, RuntimeError> {
        let record = self.task(id)?;
        let kind = self.task_kind(&record.kind)?;
        let opener = self
            .store
            .agent(&record.opened_by)?
            .ok_or_else(|| RuntimeError::new("unknown_agent", "the opener is gone"))?;
        let entity = EntityDoc { id: opener.id, attrs: opener.attrs };
        let stamp = self.set.stamp(&entity, std::slice::from_ref(&record.sponsor), Some(&task_doc(&record))).map_err(
            |errors| RuntimeError::invalid("stale_registry", "the task no longer fits the policies' schema", errors),
        )?;
        let limits = ceilings::limits(kind, &stamp.as_request(), self.set.limits().max_eval_steps)?;
        let status = self.store.budgets(id)?.into_iter().map(|budget| {
            let like = limits
                .iter()
                .find(|(index, _)| *index == budget.index)
                .map_or(Value::Int(0), |(_, value)| value.clone());
            let text = kind.budgets.get(budget.index as usize).map_or("", |declared| declared.text.as_str());
            json!({
                "budget": text,
                "limit": ceilings::shown(budget.limit, &like),
                "spent": ceilings::shown(budget.spent, &like),
                "remaining": ceilings::shown(budget.limit.saturating_sub(budget.spent), &like),
            })
        });
        Ok(status.collect())
    }

    /// Completes an open task; its whole tree ends.
    pub fn complete(&self, task: &str, by: &str, now: i64) -> Result<Revocation, RuntimeError> {
        self.end(task, TaskState::Completed, by, "completed", now)
    }

    /// Revokes an open task; its whole tree ends, and every token issued for it fails.
    pub fn revoke(&self, task: &str, by: &str, reason: &str, now: i64) -> Result<Revocation, RuntimeError> {
        self.end(task, TaskState::Revoked, by, reason, now)
    }

    fn end(&self, task: &str, state: TaskState, by: &str, reason: &str, now: i64) -> Result<Revocation, RuntimeError> {
        let record = self.task(task)?;
        if record.state != TaskState::Open {
            return Err(ended_error(&record));
        }
        let entry = self.store.end_task(task, state, by, reason, now).map_err(|error| match error {
            StoreError::NotOpen(_) => self.task(task).map(|record| ended_error(&record)).unwrap_or_else(|error| error),
            other => other.into(),
        })?;
        self.apply(std::slice::from_ref(&entry));
        let ended = self.task(task)?;
        self.record(Event::Ended { task: &ended, revocation: &entry }, now)?;
        Ok(entry)
    }

    /// Delegates `task` from `delegator` (authenticated) to `receiver`, narrowed.
    pub fn delegate(
        &self,
        delegator: &str,
        task_id: &str,
        receiver: &str,
        narrowing: Narrowing,
        now: i64,
    ) -> Result<Issued, RuntimeError> {
        let held = self.held_at(task_id, delegator, now)?;
        let task = self.task_kind(&held.task.kind)?;
        let Some(delegation) = &task.delegation else {
            return Err(RuntimeError::new(
                "not_delegable",
                format!("task `{}` may not be delegated: it has no `delegate` clause", task.name),
            ));
        };
        let to = self.known_agent(receiver)?;
        if held.grant.chain.iter().any(|link| link == receiver) || receiver == delegator {
            return Err(RuntimeError::new("delegation_cycle", format!("`{receiver}` is already in this task's chain")));
        }
        let mut chain = held.grant.chain.clone();
        chain.push(delegator.to_string());
        let depth = chain.len().saturating_sub(1) as i64;
        if let Some(max) = delegation.max_depth {
            if depth > max {
                return Err(RuntimeError::new(
                    "delegation_too_deep",
                    format!("task `{}` may be delegated {max} hop(s) deep; this would be {depth}", task.name),
                ));
            }
        }
        let entity = EntityDoc { id: to.id.clone(), attrs: to.attrs.clone() };
        let doc = task_doc(&held.task);
        let stamp = self.set.stamp(&entity, &chain, Some(&doc)).map_err(|errors| {
            RuntimeError::invalid("invalid_delegation", "the delegated request does not validate", errors)
        })?;
        if !self.holds(&stamp.as_request(), &delegation.to, "delegate … to")? {
            return Err(RuntimeError::new(
                "delegation_refused",
                format!("task `{}` may not be delegated to `{receiver}`: its `delegate … to` does not hold", task.name),
            ));
        }
        let narrowed = ceilings::narrow(&self.set, task, &held.grant.narrowing, &narrowing)?;
        let grant = GrantRecord {
            id: keys::random_id("grant")?,
            task: task_id.to_string(),
            agent: receiver.to_string(),
            parent: Some(held.grant.id.clone()),
            chain,
            narrowing: narrowed,
            created: now,
            revoked: false,
        };
        let token = self.task_token(&held.task, &grant, task, now)?;
        self.store.add_grant(&grant).map_err(|error| match error {
            StoreError::Exists(_) => {
                RuntimeError::new("already_delegated", format!("`{receiver}` already holds task `{task_id}`"))
            }
            other => other.into(),
        })?;
        self.record(Event::Delegated { task: &held.task, grant: &grant }, now)?;
        Ok(Issued { task: held.task.clone(), grant, token })
    }

    // --- decisions ----------------------------------------------------------------------

    /// Decides `call` for `agent` (authenticated) in `task`, stamped from the registry.
    /// With `credential`, an allow carries an action credential. With a journal, the
    /// decision returns once the journal holds it.
    pub fn decide(
        &self,
        agent: &str,
        task: &str,
        call: &CallDoc,
        now: i64,
        credential: bool,
    ) -> Result<RuntimeDecision, RuntimeError> {
        self.begin_decision(agent, task, call, now, credential)?.wait()
    }

    /// Decides like [`Runtime::decide`], for asynchronous services: the decision is made
    /// on the polling thread, and the future completes once the journal holds it, without
    /// a thread held while the log commits. Dropped before it completes, the decision may
    /// still be recorded, but is not returned.
    pub async fn decide_async(
        &self,
        agent: &str,
        task: &str,
        call: &CallDoc,
        now: i64,
        credential: bool,
    ) -> Result<RuntimeDecision, RuntimeError> {
        self.begin_decision(agent, task, call, now, credential)?.await
    }

    /// Makes the decision and hands it to the journal.
    fn begin_decision<'a>(
        &'a self,
        agent: &'a str,
        task: &str,
        call: &'a CallDoc,
        now: i64,
        credential: bool,
    ) -> Result<Deciding<'a>, RuntimeError> {
        self.sync_if_stale()?;
        if !self.set.hir().history.is_empty() && self.journal.is_none() {
            return Err(RuntimeError::new(
                "history_needs_log",
                "the schema declares history counters, which the runtime keeps from its audit log, but it has none",
            )
            .help("attach the audit log with `Runtime::with_journal` and the counters with `with_signals(History)`"));
        }
        let held = match self.held_at(task, agent, now) {
            Ok(held) => held,
            Err(error) if ENDED.contains(&error.code.as_str()) => {
                return self.refuse_ended(agent, task, call, error, now).map(|(decided, recording)| Deciding {
                    runtime: self,
                    decided: Some(decided),
                    recording,
                    learned: None,
                });
            }
            Err(error) => return Err(error),
        };
        let stated = self.caller_stated(call);
        let original = call;
        // The call as decided: with the signals computed here, and moved into the
        // journal's request afterwards rather than copied again.
        let mut signalled = None;
        if !self.signals.is_empty() {
            let mut with_signals = call.clone();
            for signals in &self.signals {
                with_signals.behavior.extend(signals.signals(&Activity { agent, task: &held.task, call, at: now }));
            }
            signalled = Some(with_signals);
        }
        let call = signalled.as_ref().unwrap_or(call);
        let prepared = match stated {
            Some(error) => Err(vec![error]),
            None => self.set.prepare_call(&held.stamp, call, now),
        };
        let (mut decision, policy_outcome) = match prepared {
            Ok(request) => {
                let mut decision = self.set.decide(&request);
                let policy_outcome = decision.decision;
                if decision.decision == Outcome::Allow {
                    self.ceilings(&held, &request, &mut decision)?;
                }
                (decision, Some(policy_outcome))
            }
            Err(errors) => (Decision::invalid(errors), None),
        };
        let credential = match (credential, decision.decision) {
            (true, Outcome::Allow) => Some(self.action_credential(&held, call, &decision, now)?),
            _ => None,
        };
        if decision.decision != Outcome::Allow {
            decision.obligations = None;
        }
        let recording = match &self.journal {
            Some(journal) => {
                let call = stamped_call(signalled.unwrap_or_else(|| original.clone()), now);
                let credential = credential.as_ref().map(|(_, jti)| jti.as_str());
                let request = StampedRequest {
                    agent: Some(&held.agent),
                    chain: &held.grant.chain,
                    task: Some(&held.task_doc),
                    call: &call,
                };
                let decided = Decided {
                    task: &held.task,
                    grant: &held.grant,
                    request,
                    policy_outcome,
                    decision: &decision,
                    credential,
                    memo: &held.memo,
                };
                Some(journal.submit(Event::Decided(decided), now)?)
            }
            None => None,
        };
        let grant_id = held.grant.id.clone();
        let credential = credential.map(|(token, _)| token);
        let decided = RuntimeDecision { decision, task_id: task.to_string(), grant_id, credential, log_seq: None };
        Ok(Deciding { runtime: self, decided: Some(decided), recording, learned: Some((held, agent, original, now)) })
    }

    /// What the caller may not state: the clock, which is the runtime's (a call that
    /// states `context.time` could otherwise act in a task that has expired), and the
    /// history counters, which the runtime keeps from its log.
    fn caller_stated(&self, call: &CallDoc) -> Option<RequestError> {
        if call.context.contains_key("time") {
            return Some(RequestError::new(
                "context.time",
                "runtime_clock",
                "`context.time` comes from the runtime's clock, not from the caller",
                Some("leave `context.time` out of the request".to_string()),
            ));
        }
        let counter = self.set.hir().history.iter().find(|counter| call.behavior.contains_key(&counter.name))?;
        Some(RequestError::new(
            &format!("behavior.{}", counter.name),
            "runtime_history",
            format!("`behavior.{}` is a history counter that the runtime keeps from its log", counter.name),
            Some(format!("leave `behavior.{}` out of the request", counter.name)),
        ))
    }

    /// The deny for a call in a task that ended, or through a revoked grant; recorded
    /// like any decision when the agent holds a grant in the task.
    fn refuse_ended(
        &self,
        agent: &str,
        task: &str,
        call: &CallDoc,
        error: RuntimeError,
        now: i64,
    ) -> Result<(RuntimeDecision, Option<Recording>), RuntimeError> {
        let decision = Decision::deny(Reason::new(&error.code, error.message.clone()));
        let mut refused = RuntimeDecision {
            decision,
            task_id: task.to_string(),
            grant_id: String::new(),
            credential: None,
            log_seq: None,
        };
        let Some(journal) = &self.journal else {
            return Ok((refused, None));
        };
        let record = self.task(task)?;
        let Some(grant) = self.store.grants(task)?.into_iter().find(|grant| grant.agent == agent) else {
            return Ok((refused, None));
        };
        let holder = self.store.agent(agent)?.map(|agent| EntityDoc { id: agent.id, attrs: agent.attrs });
        let (task_doc, call) = (task_doc(&record), stamped_call(call.clone(), now));
        let request =
            StampedRequest { agent: holder.as_ref(), chain: &grant.chain, task: Some(&task_doc), call: &call };
        let decided = Decided {
            task: &record,
            grant: &grant,
            request,
            policy_outcome: None,
            decision: &refused.decision,
            credential: None,
            memo: &Memo::default(),
        };
        let recording = journal.submit(Event::Decided(decided), now)?;
        refused.grant_id = grant.id;
        Ok((refused, Some(recording)))
    }

    /// The ceilings after the policies allowed: the grant's narrowing, then the budgets.
    fn ceilings(&self, held: &Held, request: &Request, decision: &mut Decision) -> Result<(), RuntimeError> {
        let steps = self.set.limits().max_eval_steps;
        if let Some((outside, resource)) = ceilings::outside_delegation(&held.grant.narrowing, request, steps) {
            let mut reason = Reason::new("outside_delegated_scope", outside);
            reason.resource = resource;
            deny(decision, reason);
            return Ok(());
        }
        let task = self.task_kind(&held.task.kind)?;
        let amounts = match ceilings::amounts(task, request, steps) {
            Ok(amounts) => amounts,
            Err(message) => {
                deny(decision, Reason::new("budget_invalid", message));
                return Ok(());
            }
        };
        if amounts.is_empty() {
            return Ok(());
        }
        match self.store.reserve(&held.task.id, &amounts)? {
            Reserved::Done => {}
            Reserved::TaskEnded => {
                let record = self.task(&held.task.id)?;
                let error = ended_error(&record);
                deny(decision, Reason::new(&error.code, error.message));
            }
            Reserved::Exhausted(budgets) => {
                let message = ceilings::exhausted_message(task, &held.limits, &budgets, &amounts);
                deny(decision, Reason::new("budget_exhausted", message));
            }
        }
        Ok(())
    }

    /// The cached standing of `agent` in `task`, loading it from the store when needed.
    /// What `agent` holds in `task` at `now`. A task met after its deadline is ended
    /// as expired first (once, whoever meets it first), so that its end is in the store,
    /// in the revocation log and in the audit log like any other.
    fn held_at(&self, task: &str, agent: &str, now: i64) -> Result<Arc<Held>, RuntimeError> {
        let held = self.held(task, agent)?;
        if now < held.task.deadline {
            return Ok(held);
        }
        match self.end(task, TaskState::Expired, "runtime", "its deadline passed", now) {
            Ok(_) => {}
            Err(error) if ENDED.contains(&error.code.as_str()) => {} // another caller ended it first
            Err(error) => return Err(error),
        }
        Err(ended_error(&self.task(task)?))
    }

    fn held(&self, task: &str, agent: &str) -> Result<Arc<Held>, RuntimeError> {
        if let Some(held) = self.cached(task, agent) {
            return Ok(held);
        }
        let record = self.task(task)?;
        if record.state != TaskState::Open {
            return Err(ended_error(&record));
        }
        let grants = self.store.grants(task)?;
        let Some(grant) = grants.iter().find(|grant| grant.agent == agent).cloned() else {
            return Err(RuntimeError::new("not_in_task", format!("agent `{agent}` holds no grant in task `{task}`"))
                .help("the agent that opened the task, or one it was delegated to, may act in it"));
        };
        if grant.revoked {
            return Err(RuntimeError::new(
                "grant_revoked",
                format!("the delegation of task `{task}` to `{agent}` was revoked"),
            ));
        }
        let holder = self.known_agent(agent)?;
        let entity = EntityDoc { id: holder.id, attrs: holder.attrs };
        let stamp = self.set.stamp(&entity, &grant.chain, Some(&task_doc(&record))).map_err(|errors| {
            RuntimeError::invalid("stale_registry", "the registry's record no longer fits the policies' schema", errors)
        })?;
        let kind = self.task_kind(&record.kind)?;
        let limits = ceilings::limits(kind, &stamp.as_request(), self.set.limits().max_eval_steps)?;
        let held = Arc::new(Held {
            task_doc: task_doc(&record),
            task: record,
            grant,
            agent: entity,
            stamp,
            limits,
            memo: Memo::default(),
        });
        if let Ok(mut cache) = self.cache.write() {
            cache.held.entry(task.to_string()).or_default().insert(agent.to_string(), held.clone());
        }
        Ok(held)
    }

    fn cached(&self, task: &str, agent: &str) -> Option<Arc<Held>> {
        self.cache.read().ok()?.held.get(task)?.get(agent).cloned()
    }

    // --- freshness ----------------------------------------------------------------------

    /// Reads the revocation log when the cache is older than the sync interval or a
    /// listener said so.
    fn sync_if_stale(&self) -> Result<(), RuntimeError> {
        let due = self.last_sync.read().map(|last| last.elapsed() >= self.config.sync_interval).unwrap_or(true);
        if due || self.stale.swap(false, Ordering::AcqRel) {
            self.sync()?;
        }
        Ok(())
    }

    /// Applies the revocation log since the last entry seen.
    pub fn sync(&self) -> Result<(), RuntimeError> {
        let since = self.cache.read().map(|cache| cache.last_seq).unwrap_or(0);
        let entries = self.store.revocations_since(since)?;
        self.apply(&entries);
        if let Ok(mut last) = self.last_sync.write() {
            *last = Instant::now();
        }
        Ok(())
    }

    /// Drops what the entries end from the cache; the store has the rest.
    fn apply(&self, entries: &[Revocation]) {
        let Ok(mut cache) = self.cache.write() else { return };
        for entry in entries {
            cache.held.remove(&entry.task);
            cache.last_seq = cache.last_seq.max(entry.seq);
        }
    }

    fn forget_agent(&self, agent: &str) {
        if let Ok(mut cache) = self.cache.write() {
            for holders in cache.held.values_mut() {
                holders.remove(agent);
            }
        }
    }

    // --- credentials --------------------------------------------------------------------

    /// The task token of a grant: the agent, the chain as `act`, the task's scope (and
    /// the grant's narrowing) as `authorization_details`.
    fn task_token(
        &self,
        task: &TaskRecord,
        grant: &GrantRecord,
        declared: &Task,
        now: i64,
    ) -> Result<String, RuntimeError> {
        let budgets: Vec<&str> = declared.budgets.iter().map(|budget| budget.text.as_str()).collect();
        let mut actions: Vec<&str> =
            declared.scope.iter().flat_map(|item| item.targets.iter().map(|t| t.action.as_str())).collect();
        actions.sort_unstable();
        actions.dedup();
        let mut resources: Vec<&str> =
            declared.scope.iter().flat_map(|item| item.targets.iter().filter_map(|t| t.resource.as_deref())).collect();
        resources.sort_unstable();
        resources.dedup();
        let mut detail = json!({
            "type": "mandate_task",
            "task_id": task.id, "task_kind": task.kind,
            "intent": declared.intent,
            "actions": actions, "resource_types": resources,
            "scope": scope_text(&declared.scope),
            "budgets": budgets,
            "params": task.params,
        });
        if !grant.narrowing.is_empty() {
            if let Some(object) = detail.as_object_mut() {
                object.insert("narrowing".to_string(), serde_json::to_value(&grant.narrowing).unwrap_or(Json::Null));
            }
        }
        let claims = self.claims(task, grant, task.deadline, now, vec![detail])?;
        Ok(tokens::sign(&self.keys, &claims)?)
    }

    /// A credential for exactly the allowed action on its resource: the action, the
    /// resource, and a digest of the arguments; it expires with the decision's
    /// obligations (the permits' ttl, never past the task's deadline).
    fn action_credential(
        &self,
        held: &Held,
        call: &CallDoc,
        decision: &Decision,
        now: i64,
    ) -> Result<(String, String), RuntimeError> {
        let expires = decision.obligations.as_ref().map_or(held.task.deadline, |obligations| obligations.expires_at.0);
        let named = |ResourceDoc { ty, id, .. }: &ResourceDoc| json!({"type": ty, "id": id});
        let mut detail = json!({
            "type": "mandate_action",
            "task_id": held.task.id,
            "action": call.action,
            "resource": call.resource.as_ref().map(named),
            "args_digest": ceilings::args_digest(&call.args),
        });
        // An action on several resources: the credential names each of them.
        if let (false, Some(fields)) = (call.resources.is_empty(), detail.as_object_mut()) {
            fields.insert("resources".to_string(), Json::Array(call.resources.iter().map(named).collect()));
        }
        let claims = self.claims(&held.task, &held.grant, expires.min(held.task.deadline), now, vec![detail])?;
        Ok((tokens::sign(&self.keys, &claims)?, claims.jti))
    }

    fn claims(
        &self,
        task: &TaskRecord,
        grant: &GrantRecord,
        expires: i64,
        now: i64,
        details: Vec<Json>,
    ) -> Result<Claims, RuntimeError> {
        Ok(Claims {
            iss: self.config.issuer.clone(),
            sub: grant.agent.clone(),
            aud: self.config.audience.clone(),
            exp: expires / NANOS,
            iat: now / NANOS,
            jti: keys::random_id("jwt")?,
            task_id: task.id.clone(),
            task_kind: task.kind.clone(),
            grant_id: grant.id.clone(),
            act: Actor::from_chain(&grant.chain),
            authorization_details: details,
        })
    }

    /// Verifies a token this runtime issued, and that its task and grant still stand:
    /// once a task ends, every token issued for it fails here.
    pub fn verify_token(&self, token: &str, now: i64) -> Result<Claims, RuntimeError> {
        let claims = tokens::verify_issued(token, &self.keys, &self.config.issuer, &self.config.audience, now / NANOS)?;
        // The grant's standing, from the cache (kept fresh by the revocation log) or else
        // the store: an ended task, a revoked grant or a disabled agent fails here.
        self.sync_if_stale()?;
        let held = self.held_at(&claims.task_id, &claims.sub, now)?;
        if held.grant.id != claims.grant_id {
            return Err(RuntimeError::new(
                "grant_revoked",
                format!("the grant `{}` no longer stands", claims.grant_id),
            ));
        }
        Ok(claims)
    }
}

fn deny(decision: &mut Decision, reason: Reason) {
    decision.decision = Outcome::Deny;
    decision.reasons = vec![reason];
    decision.obligations = None;
}

/// The codes of the errors that say a task, or the caller's grant in it, has ended; a
/// decision refused for one of them is a deny with it as its reason.
pub const ENDED: [&str; 4] = ["task_revoked", "task_completed", "task_expired", "grant_revoked"];

/// The reasons of the runtime's ceilings: the only denies it returns for a request the
/// policies allowed, besides a task that ended meanwhile ([`ENDED`]).
pub const CEILINGS: [&str; 3] = ["outside_delegated_scope", "budget_invalid", "budget_exhausted"];

/// The error for a task that is no longer open: who ended it and why.
fn ended_error(task: &TaskRecord) -> RuntimeError {
    let by = task.ended_by.as_deref().unwrap_or("?");
    let at = task.ended_at.map(timestamp_text).unwrap_or_default();
    match task.state {
        TaskState::Completed => {
            RuntimeError::new("task_completed", format!("task `{}` was completed by {by} at {at}", task.id))
        }
        TaskState::Expired => RuntimeError::new(
            "task_expired",
            format!("task `{}` expired at {}", task.id, timestamp_text(task.deadline)),
        )
        .help("open a new task for the work that remains"),
        _ => RuntimeError::new(
            "task_revoked",
            format!(
                "task revoked: `{}` was revoked by {by} at {at}: {}",
                task.id,
                task.reason.as_deref().unwrap_or("")
            ),
        ),
    }
}

/// The call as decided, stamped with the clock (unless it states the time, which the
/// runtime refuses before deciding).
fn stamped_call(mut call: CallDoc, now: i64) -> CallDoc {
    call.context.entry("time".to_string()).or_insert_with(|| Json::String(timestamp_text(now)));
    call
}

fn task_doc(task: &TaskRecord) -> TaskDoc {
    TaskDoc {
        kind: task.kind.clone(),
        id: task.id.clone(),
        start: timestamp_text(task.start),
        deadline: timestamp_text(task.deadline),
        params: task.params.clone(),
    }
}
