//! unvac's read-ahead across a tree: the output is byte for byte the
//! tree archived, the bytes fetched ahead stay under the cap asked for,
//! and a store that answers slowly (as a remote one does) gets many
//! directories' blocks asked for at once rather than one round trip after
//! another.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use colony_fossil::unvac::{self, UnvacOptions};
use colony_fossil::vac::{self, VacOptions};
use colony_fossil::walk_ahead::LEAVES_AHEAD;
use colony_venti::{BlockStore, BlockType, MemStore, Score};

/// `n` bytes that differ from file to file.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// 24 directories two deep of 20 small files each, a few empty
/// directories, a file of the same contents in six of them, and two files
/// of several hundred leaves.
fn make_tree(root: &Path) -> std::path::PathBuf {
    let t = root.join("tree");
    for d in 0..6u32 {
        for e in 0..4u32 {
            let dir = t.join(format!("d{d}/e{e}"));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..20u32 {
                let seed = d * 1000 + e * 100 + f;
                let len = (seed as usize * 769) % 30_000;
                std::fs::write(dir.join(format!("f{f}")), bytes(len, seed)).unwrap();
            }
        }
        std::fs::create_dir_all(t.join(format!("d{d}/empty"))).unwrap();
        // The same contents in every directory: blocks asked for again.
        std::fs::write(t.join(format!("d{d}/LICENSE")), bytes(5000, 1)).unwrap();
    }
    std::fs::write(t.join("d0/big"), bytes(3 << 20, 7)).unwrap();
    std::fs::write(t.join("d5/big"), bytes(5 << 20, 8)).unwrap();
    t
}

/// Every file and directory under `a` and `b`, the same, byte for byte.
fn assert_same(a: &Path, b: &Path) -> usize {
    let mut checked = 0;
    let mut names: Vec<_> = std::fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut theirs: Vec<_> = std::fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    theirs.sort();
    assert_eq!(names, theirs, "entries of {}", b.display());
    for n in names {
        let (pa, pb) = (a.join(&n), b.join(&n));
        if pa.is_dir() {
            checked += assert_same(&pa, &pb);
        } else {
            assert!(
                std::fs::read(&pa).unwrap() == std::fs::read(&pb).unwrap(),
                "{} differs",
                pb.display()
            );
            checked += 1;
        }
    }
    checked
}

/// A store that takes `delay` per call, as a round trip does, and counts
/// the calls that reach it and the most at once.
struct Slow {
    inner: MemStore,
    delay: Duration,
    calls: AtomicUsize,
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Slow {
    fn call<T>(&self, f: impl FnOnce() -> T) -> T {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        let out = f();
        self.now.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

impl BlockStore for Slow {
    fn read(&self, s: &Score, t: BlockType) -> colony_venti::Result<Vec<u8>> {
        self.call(|| self.inner.read(s, t))
    }
    fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<colony_venti::Result<Vec<u8>>> {
        self.call(|| blocks.iter().map(|(s, t)| self.inner.read(s, *t)).collect())
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

#[test]
fn output_is_exact_and_read_ahead_stays_under_its_cap() {
    let src = tempfile::tempdir().unwrap();
    let tree = make_tree(src.path());
    let store = MemStore::new();
    let score = vac::import_path(&store, &tree, &VacOptions::default(), &mut |_| {})
        .unwrap()
        .score;
    for cap in [0, 64 << 10, 1 << 20, 64 << 20] {
        let out = tempfile::tempdir().unwrap();
        let options = UnvacOptions {
            read_ahead: cap,
            ..UnvacOptions::default()
        };
        let done = unvac::export(&store, &score, out.path(), &options, &mut |_| {}).unwrap();
        assert!(done.errors.is_empty(), "{:?}", done.errors);
        assert_eq!(
            assert_same(&tree, &out.path().join("tree")),
            24 * 20 + 6 + 2
        );
        // Besides the cap, the file being written may have its next
        // batch of leaves in flight; the cap may be passed by one block
        // alone when nothing else is held.
        let dsize = VacOptions::default().block_size as usize;
        let bound = cap.max(colony_venti::MAX_BLOCK) + LEAVES_AHEAD as usize * dsize;
        assert!(
            done.read_ahead_peak <= bound,
            "cap {cap}: {} bytes ahead, bound {bound}",
            done.read_ahead_peak
        );
        assert!(done.read_ahead_peak > 0, "cap {cap}: nothing read ahead");
    }
}

#[test]
fn a_slow_store_gets_directories_in_batches() {
    let src = tempfile::tempdir().unwrap();
    let tree = make_tree(src.path());
    let slow = Slow {
        inner: MemStore::new(),
        delay: Duration::from_millis(2),
        calls: AtomicUsize::new(0),
        now: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    };
    let score = vac::import_path(&slow.inner, &tree, &VacOptions::default(), &mut |_| {})
        .unwrap()
        .score;
    let out = tempfile::tempdir().unwrap();
    let done = unvac::export(
        &slow,
        &score,
        out.path(),
        &UnvacOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(done.errors.is_empty(), "{:?}", done.errors);
    assert_same(&tree, &out.path().join("tree"));
    // 488 files in 33 directories: a batch per directory, not a round
    // trip per file, and several directories at once.
    let calls = slow.calls.load(Ordering::Relaxed);
    assert!(calls < 200, "{calls} calls to the store");
    let most = slow.most.load(Ordering::Relaxed);
    assert!(most >= 2, "at most {most} calls at once");
}
