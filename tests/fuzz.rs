//! Runs the fuzz targets of `fuzz/targets.rs` on the stable toolchain: every input of
//! the committed corpus (`fuzz/corpus/TARGET/`), then inputs mutated from it for a
//! bounded time per target.
//!
//! Mutations are the usual byte-level ones (flip, overwrite, insert, delete, duplicate,
//! splice two inputs) plus the insertion of tokens a fuzzer would otherwise take long to
//! find: keywords, operators, JSON punctuation, signed numbers, line terminators. The
//! time per target comes from `MANDATE_FUZZ_SECONDS` (default 1; `.ci/run` gives 15),
//! the seed from `MANDATE_FUZZ_SEED` (default: the clock; printed, so a failure can be
//! replayed). A failing input is written to `target/fuzz-failures/` and named in the
//! failure. `cargo fuzz run TARGET` (nightly) runs the same targets under libFuzzer.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // test code may fail loudly

#[path = "../fuzz/targets.rs"]
mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Tokens worth inserting whole.
const DICTIONARY: &[&str] = &[
    "policy p: permit read on Doc",
    "forbid",
    "escalate",
    "when",
    "unless",
    "and",
    "or",
    "not",
    "task is Work",
    "schema {",
    "}",
    "{",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "==",
    "!=",
    "<=",
    ">",
    "in",
    "has",
    "matches",
    "\"*\"",
    "contains",
    "any(x in resource.labels: x == \"a\")",
    "grant ttl 5m",
    "resource.",
    "agent.",
    "args.",
    "context.time",
    "chain.depth",
    "-0.5",
    "0.0001",
    "922337203685477.5807",
    "106751d",
    "9223372036854775807",
    "\"",
    "\\",
    "\r",
    "\u{2028}",
    "\u{202e}",
    "\u{feff}",
    "//",
    "\n",
    "null",
    "true",
    "\"x\":",
    "{\"a\":1,\"a\":2}",
    "1e400",
    "-0",
    "0.10000000000000001",
    "\"2026-01-05T10:00:00Z\"",
    "\"2262-04-11T23:47:16.854775808Z\"",
    "\"7d99999999\"",
    "\"1.-5\"",
    "[[[[[[[[",
    "]]]]]]]]",
];

/// A small fast generator (xorshift64*); quality is not the point, coverage of choices is.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(input: &[u8], corpus: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let index = rng.below(data.len());
                data[index] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let index = rng.below(data.len());
                data[index] = rng.next() as u8;
            }
            2 => {
                let bytes: Vec<u8> = (0..=rng.below(8)).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            3 if !data.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at.min(end)..end);
            }
            4 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(32)).min(data.len());
                let copy = data[start..end].to_vec();
                data.splice(at..at, copy);
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let start = rng.below(other.len() + 1);
                let end = (start + rng.below(64)).min(other.len());
                data.splice(at..at, other[start..end].iter().copied());
            }
            _ => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())];
                data.splice(at..at, token.bytes());
            }
        }
    }
    data.truncate(64 * 1024);
    data
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .collect();
    files.sort();
    files.iter().map(|path| std::fs::read(path).expect("corpus file")).collect()
}

/// Runs a target on one input; a panic is a failure like a broken property.
fn run(target: targets::Target, input: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| target(input))) {
        Ok(result) => result,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
            .map_or_else(|| "panicked".to_string(), |message| format!("panicked: {message}"))),
    }
}

fn fail(name: &str, input: &[u8], problem: &str) -> ! {
    // Back to the default hook, so that this failure is shown.
    drop(std::panic::take_hook());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
    let path = dir.join(format!("{name}-{hash:016x}"));
    let _ = std::fs::write(&path, input);
    panic!("fuzz target `{name}` failed on {} ({:?}):\n{problem}", path.display(), String::from_utf8_lossy(input));
}

#[test]
fn fuzz_targets_hold_on_the_corpus_and_its_mutations() {
    let seconds: u64 = std::env::var("MANDATE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let seed: u64 = std::env::var("MANDATE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("fuzzing {seconds}s per target, MANDATE_FUZZ_SEED={seed}");
    // Panics are caught and reported with their input; keep their messages off stderr.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for (name, target) in targets::TARGETS {
        let inputs = corpus(name);
        assert!(!inputs.is_empty(), "the corpus of `{name}` is empty");
        for input in &inputs {
            if let Err(problem) = run(*target, input) {
                fail(name, input, &problem);
            }
        }
        let mut rng = Rng(seed ^ (name.len() as u64).wrapping_mul(0x9E37_79B9) | 1);
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut runs = 0usize;
        while Instant::now() < deadline {
            let base = &inputs[rng.below(inputs.len())];
            let input = mutate(base, &inputs, &mut rng);
            if let Err(problem) = run(*target, &input) {
                fail(name, &input, &problem);
            }
            runs += 1;
        }
        eprintln!("{name}: {} corpus inputs, {runs} mutated inputs", inputs.len());
    }
    std::panic::set_hook(quiet);
}
