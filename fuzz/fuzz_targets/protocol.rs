//! One request line, as a Session hands it to the parser: every promise of
//! `pmx_protocol::fuzz::exercise` (a parsed request round-trips, an error reply is typed
//! and keeps a readable id, nothing panics).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    pmx_protocol::fuzz::exercise(line);
});
