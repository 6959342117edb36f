//! Proving speed: every theorem, assertion and bound of a generated 1,000-policy package,
//! the prover's lints on it, and `diff` between two 1,000-policy versions. The packages
//! are compiled once, outside the measurement; compiling is measured in `benches/eval.rs`.
//! Figures and commands are in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // bench code may fail loudly

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mandate::eval::{Limits, PolicySet};
use mandate::prove::{check, check_and_lint, diff::diff, ProveOptions};

#[path = "generated/mod.rs"]
mod generated;

#[path = "generated/shapes.rs"]
mod shapes;

use generated::{policy, SCHEMA};

/// A second task, two assertions and a bound besides the shared schema.
const DECLARATIONS: &str = r#"
task Publish(doc: String) { scope { [read, share] on Doc where resource.id == task.doc } ttl 1h }
assert no_secret_updates_by_juniors: never permit update on Doc when resource.class == secret and agent.level < 1
assert risky_reads_need_review: never permit read on Doc when behavior.risk >= 0.5
bound reviews_do_not_share { when task is Review scope { [read, update] on Doc } }
"#;

fn package(count: usize, changed: bool) -> PolicySet {
    let text: String = (0..count).map(|index| policy(index, changed)).collect();
    let schema = format!("{SCHEMA}{DECLARATIONS}");
    PolicySet::from_sources(&[("schema.mandate", &schema), ("policies.mandate", &text)], Limits::default())
        .expect("the package checks")
}

fn prove_1000(c: &mut Criterion) {
    let set = package(1_000, false);
    let options = ProveOptions::default();
    let reports = check(&set, &options);
    let unknown = reports.iter().filter(|report| report.verdict.word() == "unknown").count();
    let translation = reports.iter().find(|report| report.kind == "theorem").map(|report| report.elapsed);
    eprintln!(
        "prove/1000_policies: {} reports, {unknown} unknown; compiled graph of {} nodes, read back and compared in {translation:?}",
        reports.len(),
        set.plan().stats().nodes
    );
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

/// Every theorem for 1,000 policies of each shape of `generated/shapes.rs`, which the
/// graph indexes; the verdicts are printed once (none may be "budget exceeded").
fn prove_shapes(c: &mut Criterion) {
    let mut group = c.benchmark_group("prove_shape");
    group.sample_size(10);
    let options = ProveOptions::default();
    for shape in shapes::SHAPES {
        let source = format!("{}{}", shapes::shape_package(shape, 1_000), shapes::SHAPE_GUARD);
        let set = PolicySet::from_sources(&[("shape.mandate", &source)], Limits::default()).expect("checks");
        let reports = check(&set, &options);
        let count = |word: &str| reports.iter().filter(|report| report.verdict.word() == word).count();
        let budget = reports.iter().filter(|r| format!("{:?}", r.verdict).contains("budget exceeded")).count();
        eprintln!(
            "prove_shape/{shape}/1000: {} proved, {} refuted, {} unknown, {budget} over budget",
            count("proved"),
            count("refuted"),
            count("unknown")
        );
        group.bench_function(format!("{shape}/1000"), |b| b.iter(|| black_box(check(&set, &options))));
    }
    group.finish();
}

criterion_group!(benches, prove_1000, prove_shapes);
criterion_main!(benches);
