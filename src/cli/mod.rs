//! Command groups of the `mandate` binary that live apart from `main.rs`.

#[cfg(feature = "runtime")]
pub mod audit;
pub mod fmt;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod testing;
