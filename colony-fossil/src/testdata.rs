//! The plan9port reference recordings, for tests of this crate and of the
//! crates above it (behind the `testdata` feature; never in a release
//! build). The folder is `testdata/venti` at the workspace root; a
//! missing folder fails the test rather than skipping it.

use std::path::PathBuf;

use colony_venti::{BlockStore, BlockType, MemStore};

/// The tiny vac's root score (`tiny-vac/tiny.vac`).
pub const TINY_SCORE: &str = "16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35";
/// mtime = atime of every file of the tiny tree (2001-02-03T04:05:06Z).
pub const TINY_TIME: u32 = 981_173_106;
/// The ctime vac recorded: the wall clock when it ran.
pub const TINY_CTIME: u32 = 1_795_308_306;

/// The reference folder, checked to exist.
pub fn testdata() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/venti"));
    assert!(p.is_dir(), "testdata missing at {}", p.display());
    p
}

/// The blocks of every Twrite in a recorded venti client-to-server stream
/// (`file` relative to the folder): the version line, then 4-byte framed
/// messages.
pub fn twrites(file: &str) -> Vec<(BlockType, Vec<u8>)> {
    let path = testdata().join(file);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut at = raw.iter().position(|&b| b == b'\n').expect("version line") + 1;
    let mut out = Vec::new();
    while at + 4 <= raw.len() {
        let len = u32::from_be_bytes(raw[at..at + 4].try_into().expect("4 bytes")) as usize;
        let body = &raw[at + 4..at + 4 + len];
        at += 4 + len;
        // Twrite: type 0x0e, tag, block type, 3 pad bytes, data.
        if body[0] == 0x0e {
            let ty = BlockType::from_wire(body[2]).expect("recorded block type");
            out.push((ty, body[6..].to_vec()));
        }
    }
    out
}

/// A store holding the 16 blocks plan9port vac wrote for the tiny tree;
/// its root is [`TINY_SCORE`].
pub fn tiny_store() -> MemStore {
    let store = MemStore::new();
    for (ty, data) in twrites("tiny-vac/tiny-vac.c2s") {
        store.write(ty, &data).expect("memory store write");
    }
    store
}

/// pattern.bin of the tiny tree: byte i = i % 251 for i < 16000, then 4000
/// zeros.
pub fn pattern() -> Vec<u8> {
    let mut v: Vec<u8> = (0..16000u32).map(|i| (i % 251) as u8).collect();
    v.resize(20000, 0);
    v
}
