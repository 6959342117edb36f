//! Audit proof: the tamper-evident record of the runtime's decisions.
//!
//! Every task event and decision the runtime makes becomes an entry ([`entry`]) of one
//! append-only log kept in the runtime's store ([`log`]): a Merkle tree in the RFC 6962 /
//! RFC 9162 form ([`merkle`]) whose entries are also hash-chained, published by signed
//! checkpoints (C2SP `signed-note`, `tlog-checkpoint`: [`note`]). Anyone can check it
//! offline: the whole log ([`verify`]), one entry by its receipt (C2SP `tlog-proof`:
//! [`receipt`]), or every decision again against the policy bundle that made it
//! ([`replay`]), with the runtime's ceilings derived again from the log ([`ceilings`]).
//! It sits above `runtime` (it implements the runtime's
//! [`Journal`](crate::runtime::journal::Journal)) and below the CLI.

pub mod canonical;
pub mod ceilings;
pub mod entry;
pub mod log;
pub mod merkle;
pub mod note;
pub mod receipt;
pub mod replay;
pub mod verify;

use crate::runtime::store::StoreError;

/// Why the audit log could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Masking(String),
    #[error("cannot encode an entry: {0}")]
    Encode(String),
    #[error("{0}")]
    Bundle(String),
    /// What was asked for is not in the log (yet).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit log's writer has stopped: {0}")]
    Stopped(String),
}
