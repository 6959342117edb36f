//! Audit proof: the tamper-evident record of the runtime's decisions. This first part is
//! the Merkle tree the log is built on (RFC 6962 / RFC 9162): hashes, inclusion and
//! consistency proofs, and their offline checks. It sits above `runtime` in the
//! pipeline and below the CLI.

pub mod merkle;
