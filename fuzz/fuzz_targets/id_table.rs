//! Fuzzes `colony_ns::fuzz::id_table` (the property lives in the library so `cargo test`
//! replays the committed corpus).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| colony_ns::fuzz::id_table(data));
