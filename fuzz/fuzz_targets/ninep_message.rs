//! 9P frame decoding never panics, and what decodes re-encodes to the same bytes.
#![no_main]
use colony_ns::ninep::{Fcall, Stat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(fcall) = Fcall::decode(data) {
        assert_eq!(fcall.encode().unwrap(), data);
    }
    if let Ok(entries) = Stat::decode_dir(data) {
        let mut again = Vec::new();
        for e in &entries {
            e.encode(&mut again).unwrap();
        }
        assert_eq!(again, data);
    }
});
