//! `mandate lsp`: a language server, so editors show what `mandate check` would say
//! while policies are being written, and can navigate them.
//!
//! It keeps one incremental database ([`crate::db`], through the same [`Loader`]
//! `mandate check` uses) for as long as it runs: opening a document loads its package,
//! each edit sets one file's text and checks the package again, which computes again
//! only what the edit affects. The prover runs in the background on open and save.
//! This module sits at the top of the crate, beside the command line; nothing below it
//! knows it exists.
//!
//! - `server` — the loop, the life cycle, and the table of request handlers.
//! - `transport` — framed JSON-RPC over standard input and output, robust to garbage.
//! - `workspace` — open documents, their packages, and publishing diagnostics.
//! - `text` — UTF-16 positions and file URIs.
//! - `diagnostics` — Mandate's diagnostics in the protocol's form.
//! - `prover` — proofs on a worker thread.
//! - `index` — what each name in a file refers to; `hover`, `navigation`,
//!   `completion`, `symbols` and `actions` answer requests from it and the database.
//!
//! [`Loader`]: crate::package::Loader

mod actions;
mod completion;
mod diagnostics;
mod formatting;
mod hover;
pub mod index;
mod navigation;
mod prover;
pub mod server;
mod symbols;
pub mod text;
mod transport;
pub mod workspace;

pub use workspace::Workspace;

/// Serves the protocol over standard input and output; returns the process's exit
/// status (0 after an orderly `shutdown` and `exit`).
pub fn serve_stdio() -> std::io::Result<i32> {
    server::serve(std::io::BufReader::new(std::io::stdin()), std::io::stdout())
}
