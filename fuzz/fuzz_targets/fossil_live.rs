//! Fuzzes `colony_fossil::fuzz::fossil_live` (the property lives in the library so `cargo test`
//! replays the committed corpus).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| colony_fossil::fuzz::fossil_live(data));
