//! The properties this crate's fuzz targets assert, kept in the library so
//! that `cargo test` replays the committed corpus (`fuzz/corpus/TARGET/`)
//! on stable; see `colony_venti::fuzz` for the pattern.
//!
//! ```
//! colony_ns::fuzz::id_table(b"root:x:0:0:root:/root:/bin/sh\n");
//! ```

use crate::cpu::{ClientFrame, ServerFrame};
use crate::fuse::ids::IdTable;
use crate::ninep::linux::{LinuxOp, LinuxReply};
use crate::ninep::{Fcall, Stat};

/// `fuzz_targets/ninep_message`: a 9P frame or a directory read's stat
/// records that decode re-encode to the same bytes; a 9P2000.colony op or
/// reply that decodes survives a round trip (postcard is not canonical, so
/// values are compared).
pub fn ninep_message(data: &[u8]) {
    if let Ok(op) = LinuxOp::decode(data) {
        assert_eq!(LinuxOp::decode(&op.encode().unwrap()).unwrap(), op);
    }
    if let Ok(reply) = LinuxReply::decode(data) {
        assert_eq!(LinuxReply::decode(&reply.encode().unwrap()).unwrap(), reply);
    }
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
}

/// `fuzz_targets/id_table`: passwd/group parsing for the FUSE owner
/// mapping; every name the table holds maps to a number that maps back to
/// a name holding the same number.
pub fn id_table(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t = IdTable::parse(text, "nobody");
    for line in text.lines() {
        let name = line.split(':').next().unwrap_or("");
        let id = t.id(name);
        assert_eq!(t.id(&t.name(id)), id, "{name:?}");
    }
}

/// `fuzz_targets/cpu_frame`: cpu protocol frames that decode survive a
/// round trip (postcard is not canonical, so values are compared, not
/// bytes), and the length-prefixed reader takes any bytes.
pub fn cpu_frame(data: &[u8]) {
    if let Ok(f) = ClientFrame::decode(data) {
        let bytes = f.encode().unwrap();
        assert_eq!(ClientFrame::decode(&bytes[4..]).unwrap(), f);
    }
    if let Ok(f) = ServerFrame::decode(data) {
        let bytes = f.encode().unwrap();
        assert_eq!(ServerFrame::decode(&bytes[4..]).unwrap(), f);
    }
    let _ = crate::frame::read_sync::<ClientFrame, _>(&mut &data[..]);
}
