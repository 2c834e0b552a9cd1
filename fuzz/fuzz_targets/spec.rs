//! `rotgen::fuzz::spec` under libFuzzer (see src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rotgen::fuzz::spec(data));
