//! The [`BlockStore`] conformance suite: what every store must do, as
//! public functions that panic on a violation, so any crate's store runs
//! the same checks (in the manner of object_store's `integration.rs`).
//!
//! Each check takes a store that holds nothing yet (blocks made here are
//! seeded by the check's name, so checks may also share one store).
//! [`block_store_conformance!`](crate::block_store_conformance) makes one
//! `#[test]` per check for a store constructor:
//!
//! ```
//! mod mem {
//!     colony_venti::block_store_conformance!(Box::new(colony_venti::MemStore::new()));
//! }
//! # fn main() {}
//! ```
//!
//! Two checks need more: [`synced_blocks_survive_reopening`] takes a
//! constructor, [`failures_underneath_are_errors`] a store layered over a
//! [`FailingStore`].

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::block_type::BlockType;
use crate::error::{Error, Result};
use crate::score::Score;
use crate::store::{BlockStore, MAX_BLOCK};

/// Incompressible bytes (xorshift) of length `len`, different for every
/// `seed`.
pub fn block(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn assert_not_found(r: Result<Vec<u8>>, score: Score, ty: BlockType) {
    match r {
        Err(Error::NotFound { score: s, ty: t }) => {
            assert_eq!((s, t), (score, ty), "NotFound names another block")
        }
        Err(e) => panic!("{score}/{ty:?}: want NotFound, got the error {e}"),
        Ok(b) => panic!("{score}/{ty:?}: want NotFound, got {} bytes", b.len()),
    }
}

/// A written block reads back, `has` sees it, and `sync` succeeds before
/// and after.
pub fn write_read_has_sync(store: &dyn BlockStore) {
    store.sync().expect("sync of an empty store");
    let b = block(1, 1000);
    let s = store.write(BlockType::DATA, &b).expect("write");
    assert_eq!(s, Score::of(&b), "the score is the block's SHA-1");
    assert_eq!(store.read(&s, BlockType::DATA).expect("read"), b);
    assert!(store.has(&s, BlockType::DATA).expect("has"));
    store.sync().expect("sync");
    assert_eq!(store.read(&s, BlockType::DATA).expect("read after sync"), b);
}

/// A score never written is [`Error::NotFound`] naming it, and `has` says
/// false (not an error).
pub fn absent_scores_are_not_found(store: &dyn BlockStore) {
    for len in [1, 20, 8000] {
        let s = Score::of(&block(2, len));
        assert_not_found(store.read(&s, BlockType::DATA), s, BlockType::DATA);
        assert!(
            !store
                .has(&s, BlockType::DATA)
                .expect("has of an absent block")
        );
    }
}

/// A read for a reader that hashes the block itself gives what `read`
/// gives: the block, [`Error::NotFound`] naming an absent one or another
/// type, and the special scores as empty.
pub fn unhashed_reads_agree_with_read(store: &dyn BlockStore) {
    let b = block(9, 5000);
    let s = store.write(BlockType::DIR, &b).expect("write");
    assert_eq!(store.read_unhashed(&s, BlockType::DIR).expect("read"), b);
    assert_not_found(store.read_unhashed(&s, BlockType::DATA), s, BlockType::DATA);
    let absent = Score::of(&block(10, 5000));
    assert_not_found(
        store.read_unhashed(&absent, BlockType::DIR),
        absent,
        BlockType::DIR,
    );
    for score in [Score::EMPTY, Score::NONE] {
        assert_eq!(
            store.read_unhashed(&score, BlockType::DATA).expect("read"),
            b""
        );
    }
}

/// The type is part of a block's name: a block written as one type is
/// absent as every other.
pub fn types_are_part_of_the_name(store: &dyn BlockStore) {
    let b = block(3, 300);
    let s = store.write(BlockType::DIR, &b).expect("write");
    let others = [
        BlockType::DATA,
        BlockType::ROOT,
        BlockType::pointer(1).expect("depth 1"),
        BlockType::pointer(BlockType::MAX_DEPTH).expect("deepest"),
    ];
    for ty in others {
        assert_not_found(store.read(&s, ty), s, ty);
        assert!(!store.has(&s, ty).expect("has"), "{ty:?} is absent");
    }
    // The same bytes as a second type are a second block.
    assert_eq!(store.write(BlockType::DATA, &b).expect("write"), s);
    assert_eq!(store.read(&s, BlockType::DATA).expect("read"), b);
    assert_eq!(store.read(&s, BlockType::DIR).expect("read"), b);
}

/// The empty block is never stored yet always there: writing it gives
/// [`Score::EMPTY`], and both special scores read as empty as any type.
pub fn the_empty_block_is_always_there(store: &dyn BlockStore) {
    assert_eq!(
        store.write(BlockType::DATA, b"").expect("write"),
        Score::EMPTY
    );
    for score in [Score::EMPTY, Score::NONE] {
        for ty in [BlockType::DATA, BlockType::DIR, BlockType::ROOT] {
            assert_eq!(store.read(&score, ty).expect("read"), b"");
            assert!(store.has(&score, ty).expect("has"));
        }
    }
}

/// [`MAX_BLOCK`] bytes are stored and read back; one more is
/// [`Error::TooLarge`] and stores nothing.
pub fn the_largest_block_and_one_over(store: &dyn BlockStore) {
    let big = block(4, MAX_BLOCK);
    let s = store
        .write(BlockType::DATA, &big)
        .expect("a MAX_BLOCK write");
    assert_eq!(store.read(&s, BlockType::DATA).expect("read"), big);
    let over = block(5, MAX_BLOCK + 1);
    match store.write(BlockType::DATA, &over) {
        Err(Error::TooLarge { size, max }) => assert_eq!((size, max), (MAX_BLOCK + 1, MAX_BLOCK)),
        other => panic!("want TooLarge, got {other:?}"),
    }
    let s = Score::of(&over);
    assert_not_found(store.read(&s, BlockType::DATA), s, BlockType::DATA);
}

/// Writing a block again returns the same score and keeps it readable.
pub fn duplicates_return_the_same_score(store: &dyn BlockStore) {
    let b = block(6, 4096);
    let first = store.write(BlockType::DATA, &b).expect("write");
    for _ in 0..3 {
        assert_eq!(store.write(BlockType::DATA, &b).expect("rewrite"), first);
    }
    store.sync().expect("sync");
    assert_eq!(store.write(BlockType::DATA, &b).expect("rewrite"), first);
    assert_eq!(store.read(&first, BlockType::DATA).expect("read"), b);
}

/// `read_many` answers every request in order, each as `read` would:
/// present, absent, special and repeated names mixed.
pub fn read_many_answers_in_order(store: &dyn BlockStore) {
    let blocks: Vec<Vec<u8>> = (0..40)
        .map(|i| block(700 + i, 10 + 97 * i as usize))
        .collect();
    let mut asks = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let s = Score::of(b);
        if i % 3 != 0 {
            store.write(BlockType::DATA, b).expect("write");
        }
        asks.push((s, BlockType::DATA));
        if i % 7 == 0 {
            asks.push((Score::EMPTY, BlockType::DIR));
            asks.push((s, BlockType::DIR));
        }
    }
    let repeated = asks[1];
    asks.push(repeated);
    let got = store.read_many(&asks);
    assert_eq!(got.len(), asks.len(), "one result per request");
    for ((s, ty), r) in asks.iter().zip(got) {
        if s.is_special() {
            assert_eq!(r.expect("special"), b"");
        } else if *ty == BlockType::DATA && store.has(s, *ty).expect("has") {
            assert_eq!(Score::of(&r.expect("present")), *s);
        } else {
            assert_not_found(r, *s, *ty);
        }
    }
    assert!(store.read_many(&[]).is_empty());
}

/// Eight threads write overlapping sets of blocks (every block is written
/// by two threads) and read each back at once; afterwards every block is
/// there exactly as written.
pub fn concurrent_writers(store: &dyn BlockStore) {
    const THREADS: u64 = 8;
    const EACH: u64 = 60;
    let made = |i: u64| block(10_000 + i, 1 + (i as usize * 1543) % 20_000);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                // Thread t writes its own range and its neighbour's.
                for i in (t * EACH..(t + 2) * EACH).map(|i| i % (THREADS * EACH)) {
                    let b = made(i);
                    let s = store.write(BlockType::DATA, &b).expect("concurrent write");
                    assert_eq!(s, Score::of(&b));
                    assert_eq!(store.read(&s, BlockType::DATA).expect("read own write"), b);
                }
            });
        }
    });
    store.sync().expect("sync");
    let asks: Vec<_> = (0..THREADS * EACH)
        .map(|i| (Score::of(&made(i)), BlockType::DATA))
        .collect();
    for (i, r) in store.read_many(&asks).into_iter().enumerate() {
        assert_eq!(r.expect("every block is there"), made(i as u64));
    }
}

/// Every block acknowledged before a returned `sync` is in the store
/// `reopen` gives after the first is dropped (the same files, the same
/// server, or a clone sharing the blocks).
pub fn synced_blocks_survive_reopening(open: &dyn Fn() -> Box<dyn BlockStore>) {
    let blocks: Vec<Vec<u8>> = (0..50)
        .map(|i| block(900 + i, 100 + 331 * i as usize))
        .collect();
    let store = open();
    let scores: Vec<Score> = blocks
        .iter()
        .map(|b| store.write(BlockType::DATA, b).expect("write"))
        .collect();
    store.sync().expect("sync");
    drop(store);
    let store = open();
    for (s, b) in scores.iter().zip(&blocks) {
        assert_eq!(&store.read(s, BlockType::DATA).expect("a synced block"), b);
    }
}

/// A store every operation of which fails with an I/O error (`sync` only
/// while [`FailingStore::syncs_fail`] is set, as it is at first): what a
/// store layered over another ([`VentiClient`](crate::proto::VentiClient)
/// over a server's store, a cache) must report rather than hide.
pub struct FailingStore {
    /// Whether `sync` fails too.
    pub syncs_fail: AtomicBool,
}

impl Default for FailingStore {
    fn default() -> FailingStore {
        FailingStore {
            syncs_fail: AtomicBool::new(true),
        }
    }
}

impl FailingStore {
    fn fail<T>(op: &'static str) -> Result<T> {
        Err(Error::Io {
            op,
            path: "failing-store".into(),
            offset: None,
            source: io::Error::other("injected failure"),
        })
    }
}

impl BlockStore for FailingStore {
    fn read(&self, _: &Score, _: BlockType) -> Result<Vec<u8>> {
        FailingStore::fail("read")
    }
    fn write(&self, _: BlockType, _: &[u8]) -> Result<Score> {
        FailingStore::fail("write")
    }
    fn has(&self, _: &Score, _: BlockType) -> Result<bool> {
        FailingStore::fail("has")
    }
    fn sync(&self) -> Result<()> {
        if self.syncs_fail.load(Ordering::SeqCst) {
            return FailingStore::fail("sync");
        }
        Ok(())
    }
}

/// `store`, layered over `under`, reports every failure as an error: a
/// failed read is not [`Error::NotFound`], a failed `has` is not "absent",
/// a failed write or sync is not success (a failed write is an error from
/// the write or, for a store that streams writes, from the next sync).
pub fn failures_underneath_are_errors(store: &dyn BlockStore, under: &FailingStore) {
    let b = block(7, 500);
    let s = Score::of(&b);
    match store.read(&s, BlockType::DATA) {
        Err(Error::NotFound { .. }) => panic!("a failed read is not NotFound"),
        Err(_) => {}
        Ok(_) => panic!("a failed read returned data"),
    }
    for r in store.read_many(&[(s, BlockType::DATA), (s, BlockType::DIR)]) {
        assert!(
            matches!(r, Err(ref e) if !matches!(e, Error::NotFound { .. })),
            "a failed read_many: {r:?}"
        );
    }
    under.syncs_fail.store(false, Ordering::SeqCst);
    let wrote = store.write(BlockType::DATA, &b);
    let synced = store.sync();
    assert!(
        wrote.is_err() || synced.is_err(),
        "a failed write is reported by it or by the next sync"
    );
    under.syncs_fail.store(true, Ordering::SeqCst);
    assert!(store.sync().is_err(), "a failed sync");
    let has = store.has(&s, BlockType::DATA);
    assert!(has.is_err(), "a failed has is not an answer: {has:?}");
}

/// One `#[test]` per single-store check of [`conformance`](self), each on
/// a fresh store from `$make`: an expression, evaluated per test, giving
/// something that dereferences to the store (a `Box`, an `Arc`, or a guard
/// that also holds what the store needs, such as its directory). Invoke
/// it inside a module named for the store.
#[macro_export]
macro_rules! block_store_conformance {
    ($make:expr) => {
        $crate::block_store_conformance!(
            @each $make;
            write_read_has_sync,
            absent_scores_are_not_found,
            unhashed_reads_agree_with_read,
            types_are_part_of_the_name,
            the_empty_block_is_always_there,
            the_largest_block_and_one_over,
            duplicates_return_the_same_score,
            read_many_answers_in_order,
            concurrent_writers,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {$(
        #[test]
        fn $check() {
            let store = $make;
            $crate::conformance::$check(&*store);
        }
    )*};
}
