//! Read-ahead: sequential reads fetch the next leaves in batches through
//! `BlockStore::read_many`, never past the end of the file, always return
//! the right bytes, and a leaf that cannot be fetched fails only the read
//! that needs it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use colony_fossil::fossil::{Fossil, FossilOptions, NodeId};
use colony_venti::{BlockStore, BlockType, Error, MemStore, Score};

/// Records what reaches the store, and hides one block as if lost.
struct Recording {
    inner: MemStore,
    hidden: Mutex<Option<Score>>,
    /// Every (score, type) asked for, in order.
    asked: Mutex<Vec<Score>>,
    /// Sizes of the `read_many` batches.
    batches: Mutex<Vec<usize>>,
}

impl BlockStore for Recording {
    fn read(&self, s: &Score, t: BlockType) -> colony_venti::Result<Vec<u8>> {
        self.asked.lock().unwrap().push(*s);
        if *self.hidden.lock().unwrap() == Some(*s) {
            return Err(Error::NotFound { score: *s, ty: t });
        }
        self.inner.read(s, t)
    }
    fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<colony_venti::Result<Vec<u8>>> {
        self.batches.lock().unwrap().push(blocks.len());
        blocks.iter().map(|(s, t)| self.read(s, *t)).collect()
    }
    fn write(&self, t: BlockType, d: &[u8]) -> colony_venti::Result<Score> {
        self.inner.write(t, d)
    }
    fn has(&self, s: &Score, t: BlockType) -> colony_venti::Result<bool> {
        self.inner.has(s, t)
    }
    fn sync(&self) -> colony_venti::Result<()> {
        Ok(())
    }
}

const LEAVES: u64 = 300;
const DSIZE: usize = 8192;
/// The file ends inside its last leaf.
const SIZE: usize = LEAVES as usize * DSIZE - 1000;

/// Byte `i` of the file: every leaf differs, so a wrong leaf shows.
fn content() -> Vec<u8> {
    (0..SIZE)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ (i / DSIZE) as u8)
        .collect()
}

/// A saved file system holding `/f`, opened cold over a recording store.
fn cold_file() -> (Arc<Recording>, Fossil, NodeId) {
    let mem = MemStore::new();
    let fs = Fossil::create_empty(Arc::new(mem.clone()), FossilOptions::default()).unwrap();
    let f = fs
        .create(fs.root(), b"f", 0o644, "glenda")
        .unwrap()
        .qid
        .path;
    fs.write(f, 0, &content(), "glenda").unwrap();
    let root = fs.save().unwrap();
    drop(fs);
    let store = Arc::new(Recording {
        inner: mem,
        hidden: Mutex::new(None),
        asked: Mutex::new(Vec::new()),
        batches: Mutex::new(Vec::new()),
    });
    let fs = Fossil::open(store.clone(), root, FossilOptions::default()).unwrap();
    let f = fs.lookup(fs.root(), b"f").unwrap().qid.path;
    (store, fs, f)
}

/// The scores of the file's leaves (stored zero-truncated).
fn leaf_scores() -> HashSet<Score> {
    let c = content();
    c.chunks(DSIZE)
        .map(|l| Score::of(BlockType::DATA.truncate(l)))
        .collect()
}

#[test]
fn sequential_reads_fetch_ahead_in_batches_and_stop_at_the_end() {
    let want = content();
    for chunk in [DSIZE, 3000, 64 << 10] {
        let (store, fs, f) = cold_file();
        store.asked.lock().unwrap().clear();
        let mut got = Vec::new();
        loop {
            let b = fs.read(f, got.len() as u64, chunk as u32).unwrap();
            if b.is_empty() {
                break;
            }
            got.extend_from_slice(&b);
        }
        assert!(got == want, "chunk {chunk}: wrong bytes");
        let batches = store.batches.lock().unwrap().clone();
        assert!(
            batches.iter().any(|&n| n >= 32),
            "chunk {chunk}: batches {batches:?}"
        );
        // Nothing past the end: every data block asked for is a leaf of
        // the file, and each was fetched once.
        let leaves = leaf_scores();
        let asked: Vec<Score> = store
            .asked
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|s| leaves.contains(s))
            .collect();
        let distinct: HashSet<Score> = asked.iter().copied().collect();
        assert_eq!(distinct.len(), LEAVES as usize, "chunk {chunk}");
        assert_eq!(asked.len(), LEAVES as usize, "chunk {chunk}: refetched");
    }
}

#[test]
fn a_missing_prefetched_leaf_fails_only_the_read_that_needs_it() {
    let want = content();
    let (store, fs, f) = cold_file();
    let lost = 100usize;
    *store.hidden.lock().unwrap() = Some(Score::of(
        BlockType::DATA.truncate(&want[lost * DSIZE..(lost + 1) * DSIZE]),
    ));
    for bn in 0..LEAVES as usize {
        let got = fs.read(f, (bn * DSIZE) as u64, DSIZE as u32);
        if bn == lost {
            assert!(got.is_err(), "leaf {bn} read despite its block being lost");
        } else {
            let end = ((bn + 1) * DSIZE).min(SIZE);
            assert!(got.unwrap() == want[bn * DSIZE..end], "leaf {bn}");
        }
    }
    // Random reads (not sequential) still return the right bytes.
    for &at in &[5000usize, 2_000_000, 17, SIZE - 10] {
        let end = (at + 20_000).min(SIZE);
        if (at / DSIZE..=(end - 1) / DSIZE).contains(&lost) {
            continue;
        }
        assert!(fs.read(f, at as u64, 20_000).unwrap() == want[at..end]);
    }
}
