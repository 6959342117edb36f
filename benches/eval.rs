//! Decision speed. Generated policy sets of 10 to 10,000 identity-bound permits, one
//! matching and one non-matching request each; the policy shapes of `generated/shapes.rs`
//! (patterns, prefixes, limits, set membership and a mix) at 10 to 10,000 policies, each
//! with a matching request; a realistic package with a full request; compiling 10,000
//! policies; and the JSON Lines batch path. Figures and commands are in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // bench code may fail loudly

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use mandate::db;
use mandate::eval::{Limits, Outcome, PolicySet, RequestDoc};
use mandate::package::Loader;

#[path = "generated/shapes.rs"]
mod shapes;

const SCHEMA: &str = r#"schema {
  resource Doc { owner: String }
  action read on Doc
}
task Review(doc: String) {
  scope { read on Doc }
  ttl 1h
}
"#;

/// `count` policies of the form the issue names.
fn policies(count: usize) -> String {
    let mut text = String::from(SCHEMA);
    for i in 0..count {
        text.push_str(&format!(
            "policy p{i}: permit read on Doc when agent.id == \"a{i}\" and resource.id == \"d{i}\" and behavior.risk < 0.5 grant ttl 10m\n"
        ));
    }
    text
}

fn request(agent: usize, resource: usize) -> String {
    format!(
        r#"{{"agent": {{"id": "a{agent}"}}, "chain": ["alice@example.com"],
            "task": {{"kind": "Review", "id": "t1", "start": "2026-11-30T09:00:00Z", "deadline": "2026-11-30T10:00:00Z", "params": {{"doc": "d{resource}"}}}},
            "action": "read", "resource": {{"type": "Doc", "id": "d{resource}", "attrs": {{"owner": "bob"}}}},
            "context": {{"time": "2026-11-30T09:30:00Z"}}, "behavior": {{"risk": 0.2}}}}"#
    )
}

fn compiled(count: usize) -> PolicySet {
    PolicySet::from_sources(&[("policies.mandate", &policies(count))], Limits::default()).expect("policies check")
}

fn prepared(set: &PolicySet, text: &str) -> mandate::eval::Request {
    let doc: RequestDoc = serde_json::from_str(text).expect("request JSON");
    set.prepare(&doc).expect("valid request")
}

fn decide_by_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for count in [10, 100, 1_000, 10_000] {
        let set = compiled(count);
        let target = count / 2;
        let matching = prepared(&set, &request(target, target));
        let other = prepared(&set, &request(target, (target + 1) % count));
        assert_eq!(set.decide(&matching).decision, Outcome::Allow);
        assert_eq!(set.decide(&other).decision, Outcome::Deny);
        group.bench_with_input(BenchmarkId::new("matching", count), &matching, |b, request| {
            b.iter(|| black_box(set.decide(request)))
        });
        group.bench_with_input(BenchmarkId::new("non_matching", count), &other, |b, request| {
            b.iter(|| black_box(set.decide(request)))
        });
    }
    group.finish();
}

fn realistic(c: &mut Criterion) {
    let set = PolicySet::load(std::path::Path::new("examples/support"), Limits::default()).expect("example checks");
    let text = r#"{
      "agent": {"id": "agent-7", "attrs": {"team": "support", "sponsor": "alice@example.com"}},
      "chain": ["alice@example.com", "orchestrator-1"],
      "task": {"kind": "SupportEscalation", "id": "task-1", "start": "2026-11-30T09:55:00Z",
               "deadline": "2026-11-30T10:10:00Z", "params": {"ticket": "T-1042", "customer": "acme"}},
      "action": "read",
      "resource": {"type": "Table", "id": "billing.subscriptions",
                   "attrs": {"database": "billing", "name": "subscriptions", "class": "internal", "customer": "acme"}},
      "context": {"time": "2026-11-30T10:00:00Z"},
      "behavior": {"risk": 0.1, "novel_resource": false, "novel_action": false, "rate_z": 0.3}
    }"#;
    let request = prepared(&set, text);
    assert_eq!(set.decide(&request).decision, Outcome::Allow);
    c.bench_function("decide/realistic_support_package", |b| b.iter(|| black_box(set.decide(&request))));
}

fn compile_ten_thousand(c: &mut Criterion) {
    let source = policies(10_000);
    let mut loader = Loader::default();
    let loaded = loader.load_sources(&[("policies.mandate", &source)]);
    let hir = db::package_hir(&loader.db, loaded.package).clone().expect("checks");
    let set = PolicySet::new(hir.clone(), Limits::default());
    let stats = set.plan().stats();
    let serialized = serde_json::to_vec(set.plan()).expect("serializes").len();
    eprintln!(
        "compile/10k_policies: {} nodes, depth {}, {} leaves, plan about {} bytes in memory, {} bytes as JSON",
        stats.nodes,
        stats.depth,
        stats.leaves,
        set.plan().memory_bytes(),
        serialized
    );
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("10k_policies", |b| {
        b.iter_batched(|| hir.clone(), |hir| black_box(PolicySet::new(hir, Limits::default())), BatchSize::LargeInput)
    });
    group.finish();
}

fn batch_json_lines(c: &mut Criterion) {
    let set = compiled(1_000);
    let lines: Vec<String> =
        (0..1_000).map(|i| request(i, if i % 2 == 0 { i } else { (i + 7) % 1_000 }).replace('\n', " ")).collect();
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("json_lines_1k_policies", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(lines.len() * 200);
            for line in &lines {
                let decision = set.decide_json(line, false);
                serde_json::to_writer(&mut out, &decision).expect("serialize");
                out.push(b'\n');
            }
            black_box(out)
        })
    });
    group.finish();
}

/// Each shape at each size: the load time and the nodes a matching decision walks are
/// printed once (the walk from the explanation, which does not vary between runs); the
/// decision is measured.
fn decide_by_shape(c: &mut Criterion) {
    let mut group = c.benchmark_group("shape");
    for shape in shapes::SHAPES {
        for count in [10, 100, 1_000, 10_000] {
            let source = shapes::shape_package(shape, count);
            let started = std::time::Instant::now();
            let set = PolicySet::from_sources(&[("shape.mandate", &source)], Limits::default()).expect("checks");
            let loaded = started.elapsed();
            let request = prepared(&set, &shapes::shape_request(shape, count / 2, 8));
            let explained = set.explain(&request);
            assert_eq!(explained.decision, Outcome::Allow, "{shape}/{count}: {}", explained.to_text());
            let walked: usize = explained.explanation.iter().flatten().map(|walk| walk.steps.len()).sum();
            let stats = set.plan().stats();
            eprintln!(
                "shape/{shape}/{count}: loaded in {loaded:?}; {walked} nodes walked; {} nodes, at most {} nodes and {} diagrams walked",
                stats.nodes, stats.walk_nodes, stats.walk_diagrams
            );
            group.bench_with_input(BenchmarkId::new(shape, count), &request, |b, request| {
                b.iter(|| black_box(set.decide(request)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decide_by_size, decide_by_shape, realistic, compile_ten_thousand, batch_json_lines);
criterion_main!(benches);
