#![no_main]
//! DirEntry decoding: never panics; what decodes re-encodes to the same bytes.

use colony_fossil::DirEntry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(de) = DirEntry::decode(data) {
        assert_eq!(de.encode().unwrap(), data);
    }
});
