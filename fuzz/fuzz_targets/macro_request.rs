//! `rotgen::fuzz::macro_request` under libFuzzer (see src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rotgen::fuzz::macro_request(data));
