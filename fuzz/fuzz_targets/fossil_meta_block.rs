#![no_main]
//! MetaBlock decoding, listing and lookup: never panic.

use colony_fossil::MetaBlock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mb) = MetaBlock::decode(data) {
        let _ = mb.entries();
        let _ = mb.lookup(b"hello.txt");
        assert_eq!(MetaBlock::decode(&mb.encode()).unwrap().encode(), mb.encode());
    }
});
