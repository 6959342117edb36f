//! The fuzz targets, shared by the `cargo fuzz` binaries in `fuzz_targets/` (libFuzzer,
//! nightly) and the corpus runner in `tests/fuzz.rs` (stable, run by `.ci/run`).
//!
//! Each target takes arbitrary bytes and returns an error only when a property is broken;
//! a panic is a failure too. The properties:
//! - `parse`: parsing never fails or panics, and a file that parses without diagnostics
//!   prints (canonically) to text that parses to the same tree;
//! - `request`: no request text panics the reader, validator or evaluator; one that does
//!   not validate is denied with errors; every decision is the reference interpreter's;
//! - `check`: the whole `mandate check` pipeline (parse, resolve, type-check, lower,
//!   compile, prove, lint) never panics, and every counterexample the prover prints
//!   reproduces through the evaluator;
//! - `graph`: a package and requests generated from the bytes are decided by the compiled
//!   graph exactly as by the reference interpreter (differential).

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::{Arc, OnceLock};

use mandate::eval::{Limits, Outcome, PolicySet};
use mandate::prove::{ProveOptions, Verdict};

/// A target: bytes in, a broken property out.
pub type Target = fn(&[u8]) -> Result<(), String>;

/// Every target, by name, for the runner.
pub const TARGETS: &[(&str, Target)] = &[("parse", parse), ("request", request), ("check", check), ("graph", graph)];

pub fn parse(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else { return Ok(()) };
    let file: Arc<str> = Arc::from("fuzz.mandate");
    let (tree, diagnostics) = mandate::syntax::parse(text, &file);
    if !diagnostics.is_empty() {
        return Ok(());
    }
    let printed = mandate::syntax::print::print_file(&tree);
    let (again, problems) = mandate::syntax::parse(&printed, &file);
    if !problems.is_empty() {
        return Err(format!("the printed form does not parse:\n{printed}\n{problems:?}"));
    }
    let (before, after) = (mandate::syntax::print::outline(&tree), mandate::syntax::print::outline(&again));
    if before != after {
        return Err(format!("printing changed the tree:\n{before}\n---\n{after}"));
    }
    Ok(())
}

/// The package requests are decided against: every value type, optional attributes,
/// records, sets, enums, arguments, task parameters and signals.
const REQUEST_PACKAGE: &str = r#"schema {
  agent { team: String, level: Int, trusted: Bool, region?: String }
  enum Class { public, internal, confidential, secret }
  record Place { country: String, city?: String }
  resource Doc { owner: String, class: Class, size: Int, price: Decimal, labels: Set<String>, place: Place, created: Timestamp, keep: Duration }
  action read on Doc
  action share(to: String, amount: Decimal, expires: Duration, tags: Set<String>) on Doc
  context { network: String }
  behavior { failures: Int }
}
task Work(owner: String, cap: Decimal, until: Timestamp) {
  require cap >= 0
  scope { [read, share] on Doc where resource.owner == owner and resource.class <= confidential }
  ttl 1h
  delegate depth <= 2 to agent.trusted
}
policy reads: permit read on Doc when agent.team == "a" and resource.size < 100 grant ttl 5m
policy shares: permit share on Doc
  when task is Work and args.amount <= task.cap and args.amount > -0.5 and args.expires <= 7d
    and "ok" in args.tags and resource.place.country == "DE"
  grant ttl 1m
policy risky: escalate * on Doc when behavior.risk > 0.8 or behavior.failures > 3
policy late: forbid * on Doc when task is Work and context.time > task.until or resource.created > context.time
policy secrets: forbid * on Doc when resource.class == secret and not (agent has region)
"#;

fn request_set() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        PolicySet::from_sources(&[("fuzz.mandate", REQUEST_PACKAGE)], Limits::default())
            .unwrap_or_else(|error| panic!("the request fuzz package checks: {}", error.render()))
    })
}

pub fn request(data: &[u8]) -> Result<(), String> {
    let set = request_set();
    let Ok(text) = std::str::from_utf8(data) else { return Ok(()) };
    let decision = set.decide_json(text, false);
    let Ok(doc) = mandate::eval::request::parse_doc(text) else {
        return expect_invalid(&decision, text);
    };
    let Ok(request) = set.prepare_at(&doc, 0) else {
        return expect_invalid(&decision, text);
    };
    let request = match doc.context.contains_key("time") {
        true => request,
        // Without a time, the reading above used "now"; decide the same request again.
        false => return Ok(()),
    };
    let reference = support::reference::reference_decide(set.hir(), &request);
    let graph = set.decide(&request);
    support::reference::compare(&reference, &graph).map_err(|problems| format!("{problems}\nrequest: {text}"))
}

fn expect_invalid(decision: &mandate::eval::Decision, text: &str) -> Result<(), String> {
    if decision.decision == Outcome::Deny && !decision.errors.is_empty() {
        Ok(())
    } else {
        Err(format!("a request that does not validate was decided {:?}: {text}", decision.decision))
    }
}

pub fn check(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else { return Ok(()) };
    let (_, diagnostics) = mandate::package::check_sources(&[("fuzz.mandate", text)]);
    if diagnostics.iter().any(mandate::diagnostics::Diagnostic::is_error) {
        return Ok(());
    }
    let Ok(set) = PolicySet::from_sources(&[("fuzz.mandate", text)], Limits::default()) else {
        return Ok(());
    };
    let options = ProveOptions { max_witness_attempts: 20, ..ProveOptions::with_budget(20_000) };
    let (reports, _) = mandate::prove::check_and_lint(&set, &options);
    for report in &reports {
        if let Verdict::Refuted { request, decision, .. } = &report.verdict {
            let replayed = set.decide_doc(request, false);
            if replayed.decision != decision.decision {
                return Err(format!(
                    "the counterexample of {} `{}` does not reproduce: {:?} then {:?}\n{text}",
                    report.kind, report.name, decision.decision, replayed.decision
                ));
            }
        }
    }
    Ok(())
}

pub fn graph(data: &[u8]) -> Result<(), String> {
    support::generate::check_case(data)
}
