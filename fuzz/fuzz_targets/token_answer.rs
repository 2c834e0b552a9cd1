//! `rotgen::fuzz::token_answer` under libFuzzer (see src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rotgen::fuzz::token_answer(data));
