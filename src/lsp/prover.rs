//! Proofs in the background, so typing never waits for the prover.
//!
//! Checking is fast enough to run on every keystroke; proving is not (it compiles the
//! package and builds a decision diagram per (action, resource type)). So when a
//! document is opened or saved and its package checks, the server sends a [`ProofJob`]
//! (the lowered package and the texts it was lowered from) to one worker thread, which
//! proves it as `mandate check` does and sends back [`Proved`]. Jobs that queue up while
//! the worker is busy are collapsed to the newest per package: nobody needs the proofs
//! of a text that has been saved over since.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use crate::diagnostics::{apply_lint_levels, Diagnostic, LintLevel};
use crate::eval::{Limits, PolicySet};
use crate::hir::Hir;
use crate::prove::{check_and_lint, diagnose, ProveOptions};

/// A package to prove.
pub struct ProofJob<K> {
    /// Which package, for the server.
    pub key: K,
    /// Tells a newer job's result from an older one's.
    pub generation: u64,
    pub hir: Arc<Hir>,
    /// The package as a `mandate eval` command names it.
    pub root: String,
    /// The text of each file of the package, by display name, as it was lowered.
    pub texts: Vec<(String, Arc<str>)>,
    pub levels: BTreeMap<String, LintLevel>,
}

/// What proving a package found.
pub struct Proved<K> {
    pub key: K,
    pub generation: u64,
    pub texts: Vec<(String, Arc<str>)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Starts the worker: jobs go in through the returned sender, results come out through
/// `results`. The worker stops when the sender is dropped or `results` is closed.
pub fn spawn<K, E>(results: Sender<E>) -> std::io::Result<Sender<ProofJob<K>>>
where
    K: PartialEq + Send + 'static,
    E: From<Proved<K>> + Send + 'static,
{
    let (jobs, queue) = channel::<ProofJob<K>>();
    std::thread::Builder::new().name("mandate-prover".to_string()).spawn(move || work(&queue, &results))?;
    Ok(jobs)
}

fn work<K: PartialEq, E: From<Proved<K>>>(queue: &Receiver<ProofJob<K>>, results: &Sender<E>) {
    while let Ok(first) = queue.recv() {
        for job in newest_per_package(first, queue) {
            if results.send(E::from(prove(job))).is_err() {
                return;
            }
        }
    }
}

/// The job received and every job waiting behind it, keeping the newest per package.
fn newest_per_package<K: PartialEq>(first: ProofJob<K>, queue: &Receiver<ProofJob<K>>) -> Vec<ProofJob<K>> {
    let mut jobs = vec![first];
    while let Ok(job) = queue.try_recv() {
        jobs.retain(|queued| queued.key != job.key);
        jobs.push(job);
    }
    jobs
}

/// Proves a package as `mandate check` does: every theorem and the prover's lints, as
/// diagnostics with their counterexamples, at the package's lint levels.
pub fn prove<K>(job: ProofJob<K>) -> Proved<K> {
    let set = PolicySet::new(job.hir, Limits::default());
    let (reports, findings) = check_and_lint(&set, &ProveOptions::default());
    let sources = |name: &str| job.texts.iter().find(|(known, _)| known == name).map(|(_, text)| text.clone());
    let found = diagnose::diagnostics(&set, &job.root, &reports, &findings, &sources);
    let diagnostics = apply_lint_levels(found, &job.levels);
    Proved { key: job.key, generation: job.generation, texts: job.texts, diagnostics }
}
