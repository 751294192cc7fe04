#![no_main]
//! VtEntry decoding: never panics; what decodes re-encodes and decodes the same.

use colony_fossil::Entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Entry::decode(data) {
        let _ = e.check();
        if let Ok(b) = e.encode() {
            assert_eq!(Entry::decode(&b).unwrap(), e);
        }
    }
});
