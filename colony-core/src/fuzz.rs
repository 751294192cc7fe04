//! The properties this crate's fuzz targets assert, kept in the library so
//! that `cargo test` replays the committed corpus (`fuzz/corpus/TARGET/`)
//! on stable; see `colony_venti::fuzz` for the pattern.
//!
//! ```
//! colony_core::fuzz::grid_rpc(b"spawn clean.n1");
//! ```

use crate::Limits;
use crate::names::NameRecord;
use crate::names::ndb_io;
use crate::ndb;
use crate::replication::revoked::WireRevoked;
use crate::replication::wire::{
    self, MAX_PEER_REQUEST, MAX_PEER_RESPONSE, PeerRequest, PeerResponse,
};
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

/// `fuzz_targets/peer_wire`: peer frame bodies (version byte first) that
/// decode as a request or a response encode back to a frame that decodes
/// the same, and the name records and revocation lists a response carries
/// that decode encode to records and lists that decode the same.
pub fn peer_wire(data: &[u8]) {
    if let Ok(request) = wire::decode::<PeerRequest>(data, MAX_PEER_REQUEST) {
        let frame = wire::encode(&request, MAX_PEER_REQUEST).expect("a decoded request encodes");
        assert_eq!(
            wire::decode::<PeerRequest>(&frame[4..], MAX_PEER_REQUEST).unwrap(),
            request
        );
    }
    if let Ok(response) = wire::decode::<PeerResponse>(data, MAX_PEER_RESPONSE) {
        let frame = wire::encode(&response, MAX_PEER_RESPONSE).expect("a decoded response encodes");
        assert_eq!(
            wire::decode::<PeerResponse>(&frame[4..], MAX_PEER_RESPONSE).unwrap(),
            response
        );
        if let PeerResponse::Log {
            names,
            entries,
            revoked,
            ..
        } = &response
        {
            if let Some(lists) = revoked
                && let Ok(parsed) = lists.lists()
            {
                assert_eq!(WireRevoked::of(&parsed).lists().unwrap(), parsed);
            }
            for name in names {
                if let Ok(record) = NameRecord::decode(&name.0) {
                    assert_eq!(NameRecord::decode(&record.encode()).unwrap(), record);
                }
            }
            for (block, _) in entries {
                let _ = wire::from_wire(block);
            }
        }
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
