//! Audit proof: the tamper-evident record of the runtime's decisions. So far, the Merkle
//! tree the log is built on (RFC 6962 / RFC 9162: hashes, inclusion and consistency
//! proofs, their offline checks), the signed checkpoints that publish its state (C2SP
//! `signed-note`, `tlog-checkpoint`) and the receipts that prove one entry offline (C2SP
//! `tlog-proof`). The log store and its runtime hook come next. It sits above `runtime`
//! in the pipeline and below the CLI.

pub mod merkle;
pub mod note;
pub mod receipt;
