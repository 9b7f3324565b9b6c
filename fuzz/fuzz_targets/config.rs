//! The config reader under libFuzzer: any bytes as an ecosystem file. The checks (no
//! panic, every error at a line and column) are `pmx_config::fuzz_entry`'s, shared with
//! the bounded run in `config/tests/fuzz.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pmx_config::fuzz_entry(data));
