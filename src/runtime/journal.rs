//! What the runtime tells the layers above it, and what it asks them.
//!
//! The runtime sits below the audit log and the behavioral profiles, so it does not call
//! them by name: it reports every task event and every decision to a [`Journal`] (the
//! audit log implements it), and before each decision it asks a [`Signals`] source (the
//! profiles implement it) for the behavior signals. Both are optional; without them the
//! runtime decides as before, with the caller's behavior signals.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use serde_json::Value as Json;

use super::store::{GrantRecord, Revocation, TaskRecord};
use super::RuntimeError;
use crate::eval::decision::{Decision, Outcome};
use crate::eval::request::{EntityDoc, TaskDoc};
use crate::eval::{CallDoc, RequestDoc};

/// A decision as the runtime made it, with everything replay needs.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    pub task: &'a TaskRecord,
    pub grant: &'a GrantRecord,
    /// The stamped request: registry, clock and signals filled in. Deciding it again with
    /// the same policies gives `policy_outcome`.
    pub request: StampedRequest<'a>,
    /// What the policies alone decided; `None` when the request did not validate.
    pub policy_outcome: Option<Outcome>,
    /// The decision returned: the policies' after the runtime's ceilings.
    pub decision: &'a Decision,
    /// The `jti` of the action credential issued with an allow.
    pub credential: Option<&'a str>,
    /// Where the journal may keep what it derives from `task`, `grant` and the request's
    /// `agent`, `chain` and `task` between decisions: the runtime gives the same memo
    /// only to decisions in which those are the same (one per holder of a task).
    pub memo: &'a Memo,
}

/// A stamped request by its parts: the holder's agent, chain and task as the runtime
/// keeps them, and the call as decided (its signals and the clock filled in), lent
/// rather than copied into a [`RequestDoc`] for every decision.
#[derive(Debug, Clone, Copy)]
pub struct StampedRequest<'a> {
    pub agent: Option<&'a EntityDoc>,
    pub chain: &'a [String],
    pub task: Option<&'a TaskDoc>,
    pub call: &'a CallDoc,
}

impl StampedRequest<'_> {
    /// The request document these parts make.
    pub fn doc(&self) -> RequestDoc {
        let CallDoc { action, args, resource, resources, context, behavior } = self.call.clone();
        RequestDoc {
            agent: self.agent.cloned(),
            chain: self.chain.to_vec(),
            task: self.task.cloned(),
            action,
            args,
            resource,
            resources,
            context,
            behavior,
        }
    }
}

/// What a journal keeps for one holder of a task, such as the encoded parts of its
/// entries that every decision under it shares. The runtime keeps one with each grant it
/// caches, and drops it with the grant.
#[derive(Default)]
pub struct Memo(OnceLock<Box<dyn Any + Send + Sync>>);

impl Memo {
    /// What was kept, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.get()?.downcast_ref()
    }

    /// Keeps `value` unless something is kept already; what is kept, if it is a `T`.
    pub fn keep<T: Any + Send + Sync>(&self, value: T) -> Option<&T> {
        self.0.get_or_init(|| Box::new(value)).downcast_ref()
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "Memo(kept)" } else { "Memo(empty)" })
    }
}

/// Something that happened in the runtime.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A task was opened, with its root grant.
    Opened {
        task: &'a TaskRecord,
        grant: &'a GrantRecord,
    },
    /// A task was delegated: `grant` is the new one.
    Delegated {
        task: &'a TaskRecord,
        grant: &'a GrantRecord,
    },
    /// A task ended (completed or revoked), or one of its grants was revoked.
    Ended {
        task: &'a TaskRecord,
        revocation: &'a Revocation,
    },
    Decided(Decided<'a>),
}

/// Where the runtime's events are recorded.
pub trait Journal: Send + Sync {
    /// Hands `event` over to be recorded; the [`Recording`] gives its position once it
    /// is durable. An error, now or from the recording, means it was not recorded, and
    /// the runtime refuses to return the decision.
    fn submit(&self, event: Event<'_>, at: i64) -> Result<Recording, RuntimeError>;

    /// Records `event` durably before returning its position.
    fn record(&self, event: Event<'_>, at: i64) -> Result<u64, RuntimeError> {
        self.submit(event, at)?.wait()
    }
}

/// An event being recorded: a thread can wait for it, and an asynchronous caller can
/// await it (a [`Future`]) without holding a thread while the journal commits.
pub struct Recording(Box<dyn Recorded>);

/// What a journal answers a submitted event with.
pub trait Recorded: Send + Sync {
    /// Blocks until the event is recorded; its position.
    fn wait(&self) -> Result<u64, RuntimeError>;
    /// The position if the event is recorded; otherwise `waker` is woken once it is.
    fn poll_recorded(&self, waker: &Waker) -> Poll<Result<u64, RuntimeError>>;
}

impl Recording {
    pub fn new(recorded: Box<dyn Recorded>) -> Recording {
        Recording(recorded)
    }

    /// Blocks until the event is recorded; its position.
    pub fn wait(self) -> Result<u64, RuntimeError> {
        self.0.wait()
    }
}

impl Future for Recording {
    type Output = Result<u64, RuntimeError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_recorded(context.waker())
    }
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recording")
    }
}

/// One call, as the behavioral profiles see it.
#[derive(Debug, Clone, Copy)]
pub struct Activity<'a> {
    pub agent: &'a str,
    pub task: &'a TaskRecord,
    pub call: &'a CallDoc,
    pub at: i64,
}

/// Where the runtime's behavior signals come from.
pub trait Signals: Send + Sync {
    /// The signals for `activity`, before it is decided. They replace the caller's
    /// signals of the same names.
    fn signals(&self, activity: &Activity<'_>) -> serde_json::Map<String, Json>;
    /// Learns from `activity` once it is decided.
    fn observe(&self, activity: &Activity<'_>, outcome: Outcome);
}
