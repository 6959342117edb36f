//! Whole commands at scale, timed as a user runs them: `mandate check` (proofs and lints
//! included), `mandate prove`, and loading (`mandate graph --format stats`, which parses,
//! checks, lowers and compiles), on generated packages of the shapes that used to blow up:
//! - 10,000 one-line permits;
//! - 1,000 tasks, each with a scope that reads one of its parameters and a threshold;
//! - 10,000 escalations on two crossing thresholds;
//! - one policy with 10,000 `!=` clauses;
//! - a chain of 1,000 one-line functions;
//! - a chain of 3,000 `use` imports;
//! - 10,000 policies of each shape of `generated/shapes.rs` (patterns, prefixes, limits,
//!   set membership, a mix), which compile into index nodes.
//!
//! Each shape is written once to `target/scale-shapes/NAME/p/` (kept, so that peak memory
//! can be measured on the same files with `/usr/bin/time`); each measurement runs the
//! release binary on it. Figures and the commands are in `BENCHMARKS.md`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // bench code may fail loudly

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "generated/shapes.rs"]
mod shapes;

const SCHEMA: &str = "schema {
  agent { team: String }
  resource Doc { owner: String, size: Int }
  action read on Doc
  action refund(amount: Decimal) on Doc
}
";

const TASK: &str = "task T(owner: String) { scope { read on Doc, refund on Doc } ttl 1h }\n";

/// Each shape: its name and its files (path, text).
fn shapes() -> Vec<(&'static str, Vec<(String, String)>)> {
    let mut permits = format!("{SCHEMA}{TASK}");
    for i in 0..10_000 {
        let _ = writeln!(permits, "policy p{i}: permit read on Doc when agent.id == \"a{i}\" grant ttl 5m");
    }
    let mut tasks = SCHEMA.to_string();
    for i in 0..1_000 {
        let _ = writeln!(
            tasks,
            "task T{i}(owner: String) {{ scope {{ read on Doc where resource.owner == owner and resource.size < {i} }} ttl 1h }}"
        );
    }
    tasks.push_str("policy p: permit read on Doc when agent.team == \"x\" grant ttl 5m\n");
    let mut crossing = format!("{SCHEMA}{TASK}");
    for i in 0..10_000 {
        let _ = writeln!(
            crossing,
            "policy e{i}: escalate refund on Doc when args.amount > {i} and resource.size < {}",
            10_000 - i
        );
    }
    crossing.push_str("policy p: permit refund on Doc when agent.team == \"x\" grant ttl 5m\n");
    let mut clauses = format!("{SCHEMA}{TASK}policy big: permit read on Doc\n");
    for i in 0..10_000 {
        let _ = writeln!(clauses, "  when agent.team != \"t{i}\"");
    }
    clauses.push_str("  grant ttl 5m\n");
    let mut functions = format!("{SCHEMA}{TASK}fn f0(x: String) -> Bool {{ x == \"a\" }}\n");
    for i in 1..1_000 {
        let _ = writeln!(functions, "fn f{i}(x: String) -> Bool {{ f{}(x) }}", i - 1);
    }
    functions.push_str("policy p: permit read on Doc when f999(agent.team) grant ttl 5m\n");
    let mut imports = vec![(
        "p/main.mandate".to_string(),
        format!("{SCHEMA}{TASK}use \"lib/m0.mandate\"\npolicy p: permit read on Doc when agent.team == \"x\" grant ttl 5m\n"),
    )];
    for i in 0..3_000 {
        let next = if i + 1 < 3_000 { format!("use \"m{}.mandate\"\n", i + 1) } else { String::new() };
        imports.push((format!("p/lib/m{i}.mandate"), format!("{next}fn g{i}() -> Bool {{ true }}\n")));
    }
    let one = |text: String| vec![("p/policies.mandate".to_string(), text)];
    let mut all = vec![
        ("permits_10k", one(permits)),
        ("tasks_1k", one(tasks)),
        ("crossing_10k", one(crossing)),
        ("clauses_10k", one(clauses)),
        ("functions_1k", one(functions)),
        ("imports_3k", imports),
    ];
    for (name, shape) in [
        ("patterns_10k", "patterns"),
        ("prefixes_10k", "prefixes"),
        ("limits_10k", "limits"),
        ("members_10k", "members"),
        ("mixed_10k", "mixed"),
    ] {
        all.push((name, one(shapes::shape_package(shape, 10_000))));
    }
    all
}

fn write(dir: &Path, files: &[(String, String)]) {
    for (path, text) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("folders");
        std::fs::write(full, text).expect("write");
    }
}

/// Runs a command, which must succeed: every package here checks, and proves without a
/// refutation that would fail `prove` (the task scopes' permit is wider than some scopes,
/// which `prove` reports without failing).
fn run(dir: &Path, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_mandate")).args(args).current_dir(dir).output().expect("run mandate");
    assert_eq!(output.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&output.stdout));
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("cli");
    group.sample_size(10);
    let shapes_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scale-shapes");
    for (name, files) in shapes() {
        let dir = shapes_dir.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir, &files);
        run(&dir, &["check", "p"]);
        for (command, args) in [
            ("check", vec!["check", "p"]),
            ("prove", vec!["prove", "p"]),
            ("load", vec!["graph", "p", "--format", "stats"]),
        ] {
            group.bench_function(format!("{command}/{name}"), |b| b.iter(|| run(&dir, &args)));
        }
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
