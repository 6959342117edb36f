//! `cargo fuzz run graph`: the `graph` target of `fuzz/targets.rs` under libFuzzer.

#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(problem) = targets::graph(data) {
        panic!("{problem}");
    }
});
