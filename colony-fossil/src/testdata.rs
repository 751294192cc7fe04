//! The plan9port reference recordings, for tests of this crate and of the
//! crates above it (behind the `testdata` feature; never in a release
//! build). The folder is `testdata/venti` at the workspace root; a
//! missing folder fails the test rather than skipping it.

use std::path::PathBuf;

use colony_venti::{BlockStore, BlockType, MemStore, Score};

use crate::{DirEntry, Entry, MetaBlock, MetaMagic, Root, TreeWriter, mode};

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

/// What [`hostile_archive`] writes: the root holds the file `ok` ("fine")
/// and the directory `d`; `d` holds the file `good` ("good"). The hostile
/// entry is a directory named `name` holding the file `escaped`
/// ("gotcha"), in `/` or in `/d` (`nested`). Made with the crate's own
/// encoders, as a hostile writer would, since the live file system
/// refuses such names.
pub fn hostile_archive<S: BlockStore + ?Sized>(store: &S, name: &[u8], nested: bool) -> Score {
    enum Node {
        File(&'static [u8]),
        Dir(Vec<(Vec<u8>, Node)>),
    }
    let trap = || {
        (
            name.to_vec(),
            Node::Dir(vec![(b"escaped".to_vec(), Node::File(b"gotcha"))]),
        )
    };
    let mut d = vec![(b"good".to_vec(), Node::File(b"good"))];
    let mut root = vec![(b"ok".to_vec(), Node::File(b"fine"))];
    if nested {
        d.push(trap());
    } else {
        root.push(trap());
    }
    root.push((b"d".to_vec(), Node::Dir(d)));

    fn stream<S: BlockStore + ?Sized>(store: &S, data: &[u8], dir: bool) -> Entry {
        let mut w = TreeWriter::new(store, 8160, 8192, dir);
        w.push_leaf(data).expect("store write");
        w.finish(data.len() as u64).expect("store write").0
    }
    fn meta_stream<S: BlockStore + ?Sized>(store: &S, des: &[DirEntry]) -> Entry {
        let mut mb = MetaBlock::new(8192, 81, MetaMagic::New).expect("valid geometry");
        for de in des {
            mb.insert(de).expect("room for a few entries");
        }
        let mut w = TreeWriter::new(store, 8160, 8192, false);
        w.push_leaf(&mb.encode()).expect("store write");
        w.finish(8192).expect("store write").0
    }
    fn child(elem: &[u8], entry: u32, qid: u64, mode: u32) -> DirEntry {
        DirEntry {
            elem: elem.to_vec(),
            entry,
            mentry: entry + 1,
            qid,
            ..DirEntry::root(b"glenda", TINY_TIME, mode)
        }
    }
    // A directory's (dir stream, meta stream).
    fn write_dir<S: BlockStore + ?Sized>(
        store: &S,
        children: &[(Vec<u8>, Node)],
        qid: &mut u64,
    ) -> (Entry, Entry) {
        let mut slots = Vec::new();
        let mut des = Vec::new();
        for (elem, node) in children {
            *qid += 1;
            let entry = u32::try_from(slots.len()).expect("few slots");
            match node {
                Node::File(data) => {
                    slots.push(stream(store, data, false));
                    des.push(child(elem, entry, *qid, 0o644));
                }
                Node::Dir(kids) => {
                    let me = *qid;
                    let (dir, meta) = write_dir(store, kids, qid);
                    slots.extend([dir, meta]);
                    des.push(child(elem, entry, me, mode::DIR | 0o755));
                }
            }
        }
        let mut block = Vec::new();
        for e in slots {
            block.extend_from_slice(&e.encode().expect("valid entry"));
        }
        (stream(store, &block, true), meta_stream(store, &des))
    }
    let mut qid = 0;
    let (dir, meta) = write_dir(store, &root, &mut qid);
    let mut slash = DirEntry::root(b"glenda", TINY_TIME, mode::DIR | 0o755);
    slash.set_qid_space(0, qid + 1);
    let parent_meta = meta_stream(store, &[slash]);
    let mut top = Vec::new();
    for e in [dir, meta, parent_meta] {
        top.extend_from_slice(&e.encode().expect("valid entry"));
    }
    let top = store.write(BlockType::DIR, &top).expect("store write");
    store
        .write(
            BlockType::ROOT,
            &Root::vac(top, 8192).encode().expect("valid root"),
        )
        .expect("store write")
}
