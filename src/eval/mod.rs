//! Evaluation: requests in, decisions out.
//!
//! **API boundary:** [`Engine`], [`PolicySet`], [`RequestDoc`], [`Request`] and
//! [`Decision`] are the embedding surface; see `examples/embed.rs` and
//! `docs/embedding.md`. **Architecture invariant:** evaluation never panics and never
//! allows on bad input: an invalid request, a missing task or an evaluation error is a
//! deny with a reason.

pub mod coverage;
pub mod decide;
pub mod decision;
pub mod engine;
pub mod expr;
mod json;
pub mod request;
pub mod tests;

pub use decision::{Decision, Outcome};
pub use engine::{Engine, Limits, LoadError, PolicySet};
pub use request::{CallDoc, Request, RequestDoc, RequestError, Stamp};
