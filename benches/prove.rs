//! Proving speed: every theorem, assertion and bound of a generated 1,000-policy package,
//! the prover's lints on it, and `diff` between two 1,000-policy versions. The packages
//! are compiled once, outside the measurement; compiling is measured in `benches/eval.rs`.
//! Figures and commands are in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // bench code may fail loudly

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mandate::eval::{Limits, PolicySet};
use mandate::prove::{check, check_and_lint, diff::diff, ProveOptions};

const SCHEMA: &str = r#"schema {
  agent { team: String, level: Int }
  enum Classification { public, internal, confidential, secret }
  resource Doc { owner: String, class: Classification, tags: Set<String>, size: Int }
  action read, update on Doc
  action share(recipient: String) on Doc
}
task Review(doc: String) { scope { [read, update] on Doc where resource.id == task.doc } ttl 1h delegate depth <= 1 }
task Publish(doc: String) { scope { [read, share] on Doc where resource.id == task.doc } ttl 1h }
assert no_secret_updates_by_juniors: never permit update on Doc when resource.class == secret and agent.level < 1
assert risky_reads_need_review: never permit read on Doc when behavior.risk >= 0.5
bound reviews_do_not_share { when task is Review scope { [read, update] on Doc } }
"#;

/// One of four policy shapes: identity-bound permits, forbids with a tag exception each,
/// escalations on a recipient pattern or a size, and task-bound permits by level.
fn policy(index: usize, changed: bool) -> String {
    let level = if changed && index % 40 == 3 { 2 } else { index % 10 };
    let risk = if changed && index % 100 == 0 { "0.6" } else { "0.5" };
    match index % 4 {
        0 => format!(
            "policy p{index}:\n  permit read on Doc\n  when agent.id == \"a{index}\" and resource.id == \"d{index}\" and behavior.risk < {risk}\n  grant ttl 10m\n"
        ),
        1 => format!(
            "policy p{index}:\n  forbid [read, update] on Doc\n  when resource.class >= confidential and not (\"t{index}\" in resource.tags)\n"
        ),
        2 => format!(
            "policy p{index}:\n  escalate share\n  when args.recipient ends_with \"@x{index}.com\" or resource.size > {index}\n"
        ),
        _ => format!(
            "policy p{index}:\n  permit update on Doc\n  when task is Review and task.doc == resource.id and agent.level >= {level}\n  grant ttl 5m\n"
        ),
    }
}

fn package(count: usize, changed: bool) -> PolicySet {
    let text: String = (0..count).map(|index| policy(index, changed)).collect();
    PolicySet::from_sources(&[("schema.mandate", SCHEMA), ("policies.mandate", &text)], Limits::default())
        .expect("the package checks")
}

fn prove_1000(c: &mut Criterion) {
    let set = package(1_000, false);
    let options = ProveOptions::default();
    let reports = check(&set, &options);
    let unknown = reports.iter().filter(|report| report.verdict.word() == "unknown").count();
    eprintln!("prove/1000_policies: {} reports, {unknown} unknown", reports.len());
    let mut group = c.benchmark_group("prove");
    group.sample_size(10);
    group.bench_function("all_theorems/1000_policies", |b| b.iter(|| black_box(check(&set, &options))));
    group.bench_function("theorems_and_lints/1000_policies", |b| b.iter(|| black_box(check_and_lint(&set, &options))));
    let changed = package(1_000, true);
    let report = diff(&set, &changed, &options);
    eprintln!("diff/1000_policies: {} changes, {} unknown", report.changes.len(), report.unknown.len());
    group.bench_function("diff/1000_policies", |b| b.iter(|| black_box(diff(&set, &changed, &options))));
    group.finish();
}

criterion_group!(benches, prove_1000);
criterion_main!(benches);
