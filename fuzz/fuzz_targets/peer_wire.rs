//! Fuzzes `colony_core::fuzz::peer_wire` (the property lives in the library so `cargo test`
//! replays the committed corpus).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| colony_core::fuzz::peer_wire(data));
