//! Grid RPC frames: decoding never panics, whatever decodes encodes and
//! decodes to the same message (requests and responses), and a command
//! line that parses prints back to one that parses the same.
#![no_main]

use colony_core::rpc::{Request, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        let bytes = request.encode().expect("a decoded request encodes");
        assert_eq!(Request::decode(&bytes).unwrap(), request);
    }
    if let Ok(response) = Response::decode(data) {
        let bytes = response.encode().expect("a decoded response encodes");
        assert_eq!(Response::decode(&bytes).unwrap(), response);
        let _ = response.to_string();
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(request) = Request::parse(text)
    {
        assert_eq!(Request::parse(&request.to_string()).unwrap(), request);
    }
});
