//! Fuzzes `colony_fossil::fuzz::fossil_dir_entry` (the property lives in the library so `cargo test`
//! replays the committed corpus).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| colony_fossil::fuzz::fossil_dir_entry(data));
