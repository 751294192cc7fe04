//! Sparse files: holes cost no space, locally or in venti; seeking data and
//! holes; allocating, zeroing and punching ranges; the local store's use.

use std::sync::Arc;

use colony_fossil::Error;
use colony_fossil::fossil::{Allocate, DMDIR, Fossil, FossilOptions, NodeId, Seek};
use colony_venti::MemStore;

const GIB: u64 = 1 << 30;
/// The leaf size of a new tree (FossilOptions' default block size).
const LEAF: u64 = 8192;
/// Its pointer block size.
const PSIZE: u64 = 8180;

/// A new tree holding one empty file, saved; the file's node.
fn one_file(store: &MemStore) -> (Fossil, NodeId) {
    let fs = Fossil::create_empty(Arc::new(store.clone()), FossilOptions::default()).unwrap();
    let f = fs.create(fs.root(), b"f", 0o644, "ann").unwrap().qid.path;
    fs.save().unwrap();
    (fs, f)
}

fn all_zero(fs: &Fossil, f: NodeId, offset: u64, count: u32) -> bool {
    let data = fs.read(f, offset, count).unwrap();
    data.len() == count as usize && data.iter().all(|&b| b == 0)
}

#[test]
fn a_byte_at_one_gib_costs_a_few_blocks() {
    let store = MemStore::new();
    let (fs, f) = one_file(&store);
    fs.write(f, GIB, b"x", "ann").unwrap();
    // Locally: the one-byte leaf (stored without its trailing zeros) and
    // the pointer blocks of its path, not 128 Ki leaves.
    assert_eq!(fs.space().unstored(), 3 * PSIZE + 1);
    let before = store.len();
    let score = fs.save().unwrap();
    // In venti: the leaf, the file's two pointer blocks, and what any
    // change of the one file writes (the root directory's entry and meta
    // blocks, the top block, the root).
    assert_eq!(store.len() - before, 7);
    assert_eq!(fs.space().unstored(), 0);
    let fs = Fossil::open(Arc::new(store), score, FossilOptions::default()).unwrap();
    let f = fs.lookup(fs.root(), b"f").unwrap().qid.path;
    assert_eq!(fs.stat(f).unwrap().length, GIB + 1);
    assert!(all_zero(&fs, f, 0, 1 << 20));
    assert!(all_zero(&fs, f, GIB / 2 - 5, 1 << 20));
    assert_eq!(fs.read(f, GIB - 3, 100).unwrap(), b"\0\0\0x");
    assert_eq!(fs.seek_data(f, 0, Seek::Data).unwrap(), GIB);
    assert_eq!(fs.seek_data(f, 0, Seek::Hole).unwrap(), 0);
    assert_eq!(fs.seek_data(f, GIB, Seek::Hole).unwrap(), GIB + 1);
    assert!(matches!(
        fs.seek_data(f, GIB + 1, Seek::Data),
        Err(Error::PastEnd)
    ));
}

#[test]
fn a_length_extended_is_a_hole() {
    let store = MemStore::new();
    let (fs, f) = one_file(&store);
    fs.write(f, 0, b"head", "ann").unwrap();
    fs.truncate(f, 10 * GIB, "ann").unwrap();
    assert!(fs.space().unstored() < 5 * LEAF, "{:?}", fs.space());
    let before = store.len();
    fs.save().unwrap();
    // The head leaf, three pointer blocks, the four blocks of any change.
    assert_eq!(store.len() - before, 8);
    assert!(all_zero(&fs, f, 7 * GIB, 1 << 16));
    assert_eq!(fs.seek_data(f, 0, Seek::Hole).unwrap(), LEAF);
    assert!(matches!(fs.seek_data(f, 1, Seek::Data), Ok(1)));
    assert!(matches!(
        fs.seek_data(f, LEAF, Seek::Data),
        Err(Error::PastEnd)
    ));
}

#[test]
fn zeros_written_are_holes() {
    let store = MemStore::new();
    let (fs, f) = one_file(&store);
    fs.write(f, 0, &vec![0; 4 * LEAF as usize], "ann").unwrap();
    fs.write(f, 4 * LEAF, b"tail", "ann").unwrap();
    assert_eq!(fs.seek_data(f, 0, Seek::Data).unwrap(), 4 * LEAF);
    assert!(fs.space().unstored() < 2 * LEAF, "{:?}", fs.space());
}

#[test]
fn allocate_reserves_zeroes_and_punches() {
    let store = MemStore::new();
    let (fs, f) = one_file(&store);
    let data: Vec<u8> = (0..8 * LEAF).map(|i| (i % 251) as u8 + 1).collect();
    fs.write(f, 0, &data, "ann").unwrap();
    let full = fs.space().unstored();
    let v0 = fs.stat(f).unwrap().qid.version;

    // Punch leaves 2..4 and half of leaf 5: two leaves freed.
    fs.allocate(f, 2 * LEAF, 3 * LEAF + LEAF / 2, Allocate::Punch, "bob")
        .unwrap();
    let m = fs.stat(f).unwrap();
    assert_eq!((m.length, m.muid.as_str()), (8 * LEAF, "bob"));
    assert!(m.qid.version > v0);
    assert!(all_zero(&fs, f, 2 * LEAF, (3 * LEAF + LEAF / 2) as u32));
    let rest = fs.read(f, 5 * LEAF + LEAF / 2, 100).unwrap();
    assert_eq!(rest, data[(5 * LEAF + LEAF / 2) as usize..][..100]);
    assert_eq!(fs.seek_data(f, 0, Seek::Hole).unwrap(), 2 * LEAF);
    assert_eq!(fs.seek_data(f, 2 * LEAF, Seek::Data).unwrap(), 5 * LEAF);
    assert!(fs.space().unstored() <= full - 3 * LEAF, "{:?}", fs.space());

    // Punching past the end changes nothing.
    fs.allocate(f, 9 * LEAF, LEAF, Allocate::Punch, "bob")
        .unwrap();
    assert_eq!(fs.stat(f).unwrap().length, 8 * LEAF);

    // Reserve: grows unless keep_size, never changes the contents.
    fs.allocate(f, 0, 4, Allocate::Reserve { keep_size: false }, "bob")
        .unwrap();
    assert_eq!(fs.read(f, 0, 4).unwrap(), data[..4]);
    fs.allocate(
        f,
        0,
        20 * LEAF,
        Allocate::Reserve { keep_size: true },
        "bob",
    )
    .unwrap();
    assert_eq!(fs.stat(f).unwrap().length, 8 * LEAF);
    fs.allocate(
        f,
        0,
        10 * LEAF,
        Allocate::Reserve { keep_size: false },
        "bob",
    )
    .unwrap();
    assert_eq!(fs.stat(f).unwrap().length, 10 * LEAF);
    assert_eq!(fs.seek_data(f, 8 * LEAF, Seek::Hole).unwrap(), 8 * LEAF);

    // Zero: the range reads as zeros; the file grows unless keep_size.
    fs.allocate(f, 1, 10, Allocate::Zero { keep_size: true }, "bob")
        .unwrap();
    assert_eq!(
        fs.read(f, 0, 12).unwrap(),
        [&data[..1], &[0; 10], &data[11..12]].concat()
    );
    fs.allocate(
        f,
        6 * LEAF,
        6 * LEAF,
        Allocate::Zero { keep_size: true },
        "bob",
    )
    .unwrap();
    assert_eq!(fs.stat(f).unwrap().length, 10 * LEAF);
    assert!(matches!(
        fs.seek_data(f, 6 * LEAF, Seek::Data),
        Err(Error::PastEnd)
    ));
    fs.allocate(
        f,
        6 * LEAF,
        6 * LEAF,
        Allocate::Zero { keep_size: false },
        "bob",
    )
    .unwrap();
    assert_eq!(fs.stat(f).unwrap().length, 12 * LEAF);

    // What survives a save and a reopen.
    let score = fs.save().unwrap();
    let fs = Fossil::open(Arc::new(store), score, FossilOptions::default()).unwrap();
    let f = fs.lookup(fs.root(), b"f").unwrap().qid.path;
    assert_eq!(fs.stat(f).unwrap().length, 12 * LEAF);
    assert_eq!(fs.seek_data(f, 0, Seek::Hole).unwrap(), 2 * LEAF);
    assert_eq!(fs.seek_data(f, 2 * LEAF, Seek::Data).unwrap(), 5 * LEAF);
    assert_eq!(fs.seek_data(f, 5 * LEAF, Seek::Hole).unwrap(), 6 * LEAF);
}

#[test]
fn bad_ranges_and_directories_are_refused() {
    let store = MemStore::new();
    let (fs, f) = one_file(&store);
    let d = fs
        .create(fs.root(), b"d", DMDIR | 0o755, "ann")
        .unwrap()
        .qid
        .path;
    assert!(matches!(
        fs.allocate(f, u64::MAX, 2, Allocate::Punch, "ann"),
        Err(Error::TooLarge(_))
    ));
    assert!(matches!(
        fs.allocate(f, 1 << 48, 0, Allocate::Reserve { keep_size: false }, "ann"),
        Err(Error::TooLarge(_))
    ));
    assert!(matches!(
        fs.allocate(d, 0, 1, Allocate::Punch, "ann"),
        Err(Error::IsDir)
    ));
    assert!(matches!(fs.seek_data(d, 0, Seek::Data), Err(Error::IsDir)));
    // An empty file has neither data nor holes to find.
    assert!(matches!(
        fs.seek_data(f, 0, Seek::Hole),
        Err(Error::PastEnd)
    ));
    assert!(matches!(
        fs.seek_data(f, 0, Seek::Data),
        Err(Error::PastEnd)
    ));
}

#[test]
fn space_reports_dirty_bytes_and_the_limit() {
    let store = MemStore::new();
    let options = FossilOptions {
        local_limit: 64 << 20,
        ..FossilOptions::default()
    };
    let fs = Fossil::create_empty(Arc::new(store), options).unwrap();
    let f = fs.create(fs.root(), b"f", 0o644, "ann").unwrap().qid.path;
    let before = fs.space();
    assert_eq!(before.limit, 64 << 20);
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 + 1).collect();
    fs.write(f, 0, &data, "ann").unwrap();
    let after = fs.space();
    assert!(
        after.used >= before.used + (1 << 20),
        "{before:?} {after:?}"
    );
    fs.save().unwrap();
    // Saved: what was written is cached, evictable, available to writes.
    let saved = fs.space();
    assert_eq!(saved.unstored(), 0);
    assert!(saved.cached >= 1 << 20, "{saved:?}");
    assert_eq!(saved.available(), saved.limit);
}
