//! Checking speed: a whole generated package from scratch, and an incremental re-check
//! after editing one file. Figures and commands are recorded in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mandate::db::{self, Database};
use mandate::package::Loader;

#[path = "generated/mod.rs"]
mod generated;

use generated::{policy, SCHEMA};

/// `files` files of `per_file` policies each, plus the schema.
fn package(files: usize, per_file: usize) -> Vec<(String, String)> {
    let mut sources = vec![("schema.mandate".to_string(), SCHEMA.to_string())];
    for file in 0..files {
        let text: String = (0..per_file).map(|i| policy(file * per_file + i, false)).collect();
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
