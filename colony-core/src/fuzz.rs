//! The properties this crate's fuzz targets assert, kept in the library so
//! that `cargo test` replays the committed corpus (`fuzz/corpus/TARGET/`)
//! on stable; see `colony_venti::fuzz` for the pattern.
//!
//! ```
//! colony_core::fuzz::grid_rpc(b"spawn clean.n1");
//! ```

use crate::Limits;
use crate::names::ndb_io;
use crate::ndb;
use crate::rpc::{Request, Response};

/// `fuzz_targets/grid_rpc`: grid RPC requests and responses that decode
/// encode and decode to the same message, and a command line that parses
/// prints back to one that parses the same.
pub fn grid_rpc(data: &[u8]) {
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
}

/// `fuzz_targets/ndb_records`: Plan 9 ndb text, scorenames records and the
/// limits file that parse write back to text that parses the same.
pub fn ndb_records(data: &[u8]) {
    if let Ok(entries) = ndb::parse(data) {
        for entry in &entries {
            if let Ok(text) = entry.encode() {
                let back = ndb::parse(text.as_bytes()).expect("encoded ndb parses");
                assert_eq!(back.len(), 1);
                assert_eq!(back[0].tuples, entry.tuples);
            }
        }
    }
    if let Ok(records) = ndb_io::import(data) {
        let text = ndb_io::export(&records);
        assert_eq!(
            ndb_io::import(text.as_bytes()).expect("export imports"),
            records
        );
    }
    if let Ok(limits) = Limits::decode(data) {
        assert_eq!(Limits::decode(limits.encode().as_bytes()).unwrap(), limits);
    }
}
