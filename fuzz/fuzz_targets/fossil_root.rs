#![no_main]
//! VtRoot decoding: never panics; what decodes round-trips.

use colony_fossil::Root;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Root::decode(data) {
        let _ = r.check_vac();
        let b = r.encode().unwrap();
        assert_eq!(Root::decode(&b).unwrap(), r);
    }
});
