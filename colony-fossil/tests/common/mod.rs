//! Shared test helpers: the plan9port recordings and the tiny tree.
#![allow(dead_code)]

use std::path::PathBuf;

use colony_fossil::source::{MemSource, Meta};
use colony_venti::{BlockType, MemStore};

pub fn testdata() -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/venti"
    ));
    assert!(p.is_dir(), "testdata missing at {}", p.display());
    p
}

/// The blocks of every Twrite in a recorded client-to-server stream.
pub fn twrites(file: &str) -> Vec<(BlockType, Vec<u8>)> {
    let raw = std::fs::read(testdata().join(file)).unwrap();
    let mut at = raw.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut out = Vec::new();
    while at + 4 <= raw.len() {
        let len = u32::from_be_bytes(raw[at..at + 4].try_into().unwrap()) as usize;
        let body = &raw[at + 4..at + 4 + len];
        at += 4 + len;
        if body[0] == 0x0e {
            out.push((BlockType::from_wire(body[2]).unwrap(), body[6..].to_vec()));
        }
    }
    out
}

/// A store holding the blocks plan9port vac wrote for the tiny tree.
pub fn tiny_store() -> MemStore {
    let store = MemStore::new();
    for (ty, data) in twrites("tiny-vac/tiny-vac.c2s") {
        colony_venti::BlockStore::write(&store, ty, &data).unwrap();
    }
    store
}

pub const TINY_SCORE: &str = "16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35";
pub const TINY_TIME: u32 = 981173106;
pub const TINY_CTIME: u32 = 1795308306;

pub fn pattern() -> Vec<u8> {
    let mut v: Vec<u8> = (0..16000u32).map(|i| (i % 251) as u8).collect();
    v.resize(20000, 0);
    v
}

pub fn root_meta(perm: u32) -> Meta {
    Meta {
        perm,
        uid: "root".into(),
        gid: "root".into(),
        mtime: TINY_TIME,
        atime: TINY_TIME,
    }
}

/// The tiny tree of the README, in the order plan9port vac visited it.
pub fn tiny_source() -> MemSource {
    let mut s = MemSource::new("tiny", root_meta(0o755));
    s.file("empty.txt", b"", root_meta(0o644)).unwrap();
    s.file("hello.txt", b"hello, world\n", root_meta(0o644))
        .unwrap();
    s.dir("sub", root_meta(0o755)).unwrap();
    s.file("sub/nested.txt", b"nested\n", root_meta(0o644))
        .unwrap();
    s.file("pattern.bin", &pattern(), root_meta(0o644)).unwrap();
    s
}

/// The visiting order of the capture machine, by name.
pub const TINY_ORDER: [&str; 5] = ["empty.txt", "hello.txt", "sub", "nested.txt", "pattern.bin"];
