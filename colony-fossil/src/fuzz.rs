//! The properties this crate's fuzz targets assert, kept in the library so
//! that `cargo test` replays the committed corpus (`fuzz/corpus/TARGET/`)
//! on stable; see `colony_venti::fuzz` for the pattern.
//!
//! ```
//! colony_fossil::fuzz::fossil_root(&[0; 300]);
//! ```

use std::sync::Arc;

use colony_venti::{BlockStore, BlockType, MemStore};

use crate::fossil::{Fossil, FossilOptions, NodeId};
use crate::{DirEntry, Entry, MetaBlock, Root};

/// `fuzz_targets/fossil_entry`: a VtEntry that decodes re-encodes and
/// decodes the same.
pub fn fossil_entry(data: &[u8]) {
    if let Ok(e) = Entry::decode(data) {
        let _ = e.check();
        if let Ok(b) = e.encode() {
            assert_eq!(Entry::decode(&b).unwrap(), e);
        }
    }
}

/// `fuzz_targets/fossil_root`: a VtRoot that decodes round-trips.
pub fn fossil_root(data: &[u8]) {
    if let Ok(r) = Root::decode(data) {
        let _ = r.check_vac();
        let b = r.encode().unwrap();
        assert_eq!(Root::decode(&b).unwrap(), r);
    }
}

/// `fuzz_targets/fossil_meta_block`: MetaBlock decoding, listing and
/// lookup never panic, and a decoded block re-encodes stably.
pub fn fossil_meta_block(data: &[u8]) {
    if let Ok(mb) = MetaBlock::decode(data) {
        let _ = mb.entries();
        let _ = mb.lookup(b"hello.txt");
        assert_eq!(
            MetaBlock::decode(&mb.encode()).unwrap().encode(),
            mb.encode()
        );
    }
}

/// `fuzz_targets/fossil_dir_entry`: a DirEntry that decodes re-encodes to
/// the same bytes.
pub fn fossil_dir_entry(data: &[u8]) {
    if let Ok(de) = DirEntry::decode(data) {
        assert_eq!(de.encode().unwrap(), data);
    }
}

/// `fuzz_targets/fossil_live`: a live [`Fossil`] over arbitrary blocks
/// opens, walks, reads, writes and saves without panicking, and never
/// lists a name that cannot name a file (`..`, `a/b`...). The input is
/// blocks as `type[1] len[2] data` (wire type, big-endian length); the
/// last root block is opened.
pub fn fossil_live(data: &[u8]) {
    let store = MemStore::new();
    let mut root = None;
    let mut at = 0;
    while at + 3 <= data.len() {
        let ty = data[at];
        let len = usize::from(u16::from_be_bytes([data[at + 1], data[at + 2]]));
        let body = &data[at + 3..(at + 3 + len).min(data.len())];
        at += 3 + len;
        let Ok(ty) = BlockType::from_wire(ty) else {
            continue;
        };
        if let Ok(s) = store.write(ty, body)
            && ty == BlockType::ROOT
        {
            root = Some(s);
        }
    }
    let Some(root) = root else { return };
    let opts = FossilOptions {
        local_limit: 1 << 20,
        ..FossilOptions::default()
    };
    let Ok(fs) = Fossil::open(Arc::new(store), root, opts) else {
        return;
    };
    let mut budget = 64;
    walk(&fs, fs.root(), 0, &mut budget);
    let _ = fs.create(fs.root(), b"new", 0o644, "f");
    let _ = fs.save();
}

/// Visits at most `budget` nodes, four levels deep, reading and writing
/// every file met.
fn walk(fs: &Fossil, dir: NodeId, depth: usize, budget: &mut usize) {
    let mut kids = Vec::new();
    let _ = fs.readdir(dir, 0, &mut |e| {
        assert!(
            crate::name::check_form(&e.meta.name).is_ok(),
            "listed {:?}",
            crate::name::show(&e.meta.name)
        );
        kids.push(e.meta);
        kids.len() < 32
    });
    for m in kids {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let id = m.qid.path;
        let _ = fs.stat(id);
        let _ = fs.lookup(dir, &m.name);
        if m.is_dir() {
            if depth < 4 {
                walk(fs, id, depth + 1, budget);
            }
        } else {
            let _ = fs.read(id, 0, 1 << 16);
            let _ = fs.read(id, m.length.saturating_sub(10), 100);
            let _ = fs.write(id, m.length / 2, b"fuzz", "f");
        }
    }
}
