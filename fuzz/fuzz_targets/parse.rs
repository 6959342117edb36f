//! `cargo fuzz run parse`: the `parse` target of `fuzz/targets.rs` under libFuzzer.

#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(problem) = targets::parse(data) {
        panic!("{problem}");
    }
});
