//! Checking speed: a whole generated package from scratch, and an incremental re-check
//! after editing one file. Figures and commands are recorded in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mandate::db::{self, Database};
use mandate::package::Loader;

const SCHEMA: &str = r#"schema {
  agent { team: String, level: Int }
  enum Classification { public, internal, confidential, secret }
  resource Doc { owner: String, class: Classification, tags: Set<String>, size: Int }
  action read, update on Doc
  action share(recipient: String) on Doc
}
task Review(doc: String) { scope { [read, update] on Doc where resource.id == task.doc } ttl 1h }
"#;

/// One of a few realistic policy shapes, numbered so every policy is distinct.
fn policy(index: usize) -> String {
    match index % 4 {
        0 => format!(
            "policy p{index}:\n  permit read on Doc\n  when agent.id == \"a{index}\" and resource.id == \"d{index}\" and behavior.risk < 0.5\n  grant ttl 10m\n"
        ),
        1 => format!(
            "policy p{index}:\n  forbid [read, update] on Doc\n  when resource.class >= confidential and not (\"t{index}\" in resource.tags)\n"
        ),
        2 => format!(
            "policy p{index}:\n  escalate share\n  when args.recipient ends_with \"@x{index}.com\" or resource.size > {index}\n"
        ),
        _ => format!(
            "policy p{index}:\n  permit update on Doc\n  when task is Review and task.doc == resource.id and agent.level >= {}\n  grant ttl 5m\n",
            index % 10
        ),
    }
}

/// `files` files of `per_file` policies each, plus the schema.
fn package(files: usize, per_file: usize) -> Vec<(String, String)> {
    let mut sources = vec![("schema.mandate".to_string(), SCHEMA.to_string())];
    for file in 0..files {
        let text: String = (0..per_file).map(|i| policy(file * per_file + i)).collect();
        sources.push((format!("policies_{file:03}.mandate"), text));
    }
    sources
}

fn check_from_scratch(c: &mut Criterion) {
    let sources = package(1, 10_000);
    let bytes: usize = sources.iter().map(|(_, text)| text.len()).sum();
    eprintln!("check/10k_policies: {bytes} bytes of source");
    c.bench_function("check/10k_policies", |b| {
        b.iter_batched(
            || Loader::new(Database::default()),
            |mut loader| {
                let refs: Vec<(&str, &str)> = sources.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
                let loaded = loader.load_sources(&refs);
                let diagnostics = db::check_package(&loader.db, loaded.package);
                assert!(diagnostics.is_empty(), "{:?}", diagnostics.first());
                black_box(diagnostics)
            },
            BatchSize::PerIteration,
        )
    });
}

fn incremental_recheck(c: &mut Criterion) {
    let sources = package(100, 100);
    let mut loader = Loader::new(Database::default());
    let refs: Vec<(&str, &str)> = sources.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let loaded = loader.load_sources(&refs);
    assert!(db::check_package(&loader.db, loaded.package).is_empty());
    let (edited_path, original) = &sources[50];
    let variants = [original.replace("behavior.risk < 0.5", "behavior.risk < 0.4"), original.clone()];
    let mut turn = 0;
    c.bench_function("check/incremental_edit_1_of_100_files", |b| {
        b.iter(|| {
            turn += 1;
            loader.set_source(edited_path, &variants[turn % 2]);
            let diagnostics = db::check_package(&loader.db, loaded.package);
            assert!(diagnostics.is_empty());
            black_box(diagnostics)
        })
    });
}

criterion_group!(benches, check_from_scratch, incremental_recheck);
criterion_main!(benches);
