//! Mandate: a policy engine for AI agents.
//!
//! Policies are written in the Mandate language, parsed ([`syntax`]), resolved and
//! type-checked against their schema ([`semantics`]) inside an incremental database
//! ([`db`]). See `ARCHITECTURE.md` for the map of the code.

#![forbid(unsafe_code)]

#[cfg(feature = "runtime")]
pub mod audit;
#[cfg(feature = "runtime")]
pub mod behavior;
pub mod compile;
pub mod db;
pub mod diagnostics;
pub mod eval;
pub mod format;
pub mod hir;
#[cfg(feature = "lsp")]
pub mod lsp;
pub mod package;
pub mod prove;
pub mod report;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod semantics;
pub mod stdlib;
pub mod syntax;
