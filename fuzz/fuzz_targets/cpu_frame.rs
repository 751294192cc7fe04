#![no_main]
//! cpu protocol frames: decoding never panics, and what decodes survives a
//! round trip (postcard is not canonical, so values are compared, not bytes).

use colony_ns::cpu::{ClientFrame, ServerFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = ClientFrame::decode(data) {
        let bytes = f.encode().unwrap();
        assert_eq!(ClientFrame::decode(&bytes[4..]).unwrap(), f);
    }
    if let Ok(f) = ServerFrame::decode(data) {
        let bytes = f.encode().unwrap();
        assert_eq!(ServerFrame::decode(&bytes[4..]).unwrap(), f);
    }
    // The length-prefixed reader over the same bytes.
    let _ = colony_ns::frame::read_sync::<ClientFrame, _>(&mut &data[..]);
});
