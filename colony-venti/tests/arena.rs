//! ArenaStore against real files: round trips, dedup, sealing, crash
//! recovery at every torn offset, corruption detection, a full disk, and
//! a model test against MemStore.

mod common;

use common::noise;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use colony_venti::arena::damage::ArenaProblem;
use colony_venti::arena::{Problem, Progress};
use colony_venti::{ArenaConfig, ArenaStore, BlockStore, BlockType, Error, MemStore, Score};
use proptest::prelude::*;

fn cfg() -> ArenaConfig {
    ArenaConfig {
        arena_size: 128 << 10,
        index_bits: 1,
        flush_entries: 64,
        write_buffer: 4096,
        sync_ahead: 16 << 10,
    }
}

/// Every clump goes to the file at once, as a crash test needs.
fn cfg_unbuffered() -> ArenaConfig {
    ArenaConfig {
        write_buffer: 0,
        ..cfg()
    }
}

fn arena_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("arena.{n:08}"))
}

fn len(p: &Path) -> u64 {
    fs::metadata(p).unwrap().len()
}

fn flip(path: &Path, off: u64) {
    let mut b = fs::read(path).unwrap();
    b[off as usize] ^= 0x20;
    fs::write(path, b).unwrap();
}

/// A copy of a store's files in a new directory.
fn copy_of(src: &Path) -> tempfile::TempDir {
    let dst = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dst.path().join(entry.file_name())).unwrap();
    }
    dst
}

fn no_progress() -> impl FnMut(Progress) {
    |_| {}
}

#[test]
fn round_trip_dedup_types_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    let mut blocks = Vec::new();
    for i in 0..300u64 {
        // A mix of compressible and incompressible blocks, some large.
        let mut b = noise(i, 200 + (i as usize * 97) % 3000);
        if i % 3 == 0 {
            b.extend(std::iter::repeat_n(b'z', 5000));
        }
        if i == 7 {
            b = noise(i, colony_venti::MAX_BLOCK);
        }
        let s = store.write(BlockType::DATA, &b).unwrap();
        assert_eq!(s, Score::of(&b));
        blocks.push((s, b));
    }
    assert_eq!(store.write(BlockType::DATA, b"").unwrap(), Score::EMPTY);
    assert!(matches!(
        store.write(BlockType::DATA, &vec![1; colony_venti::MAX_BLOCK + 1]),
        Err(Error::TooLarge { .. })
    ));
    let stats = store.stats();
    assert_eq!(stats.blocks, 300);
    assert!(stats.sealed >= 2, "small arenas fill and seal: {stats:?}");
    assert!(
        stats.stored_bytes < stats.uncompressed_bytes,
        "LZ4 used: {stats:?}"
    );
    // Dedup: no new bytes.
    let before: u64 = (0..stats.arenas as u32)
        .map(|n| len(&arena_path(dir.path(), n)))
        .sum();
    for (_, b) in &blocks {
        store.write(BlockType::DATA, b).unwrap();
    }
    let after: u64 = (0..stats.arenas as u32)
        .map(|n| len(&arena_path(dir.path(), n)))
        .sum();
    assert_eq!(before, after);
    assert_eq!(store.stats().blocks, 300);
    // Type is part of the name.
    let (s0, b0) = &blocks[0];
    assert!(matches!(
        store.read(s0, BlockType::DIR),
        Err(Error::NotFound { .. })
    ));
    store.write(BlockType::DIR, b0).unwrap();
    assert_eq!(&store.read(s0, BlockType::DIR).unwrap(), b0);
    assert_eq!(store.read(&Score::NONE, BlockType::DATA).unwrap(), b"");
    assert!(store.has(&Score::EMPTY, BlockType::ROOT).unwrap());
    store.sync().unwrap();
    let stats = store.stats();
    assert!(stats.index_buckets > 2, "index grew: {stats:?}");
    assert_eq!(stats.index_entries, 301);
    drop(store);

    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    for (s, b) in &blocks {
        assert_eq!(&store.read(s, BlockType::DATA).unwrap(), b);
    }
    let mut seen = Vec::new();
    let report = store.check(&mut |p| seen.push(p)).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
    assert_eq!(seen.last().map(|p| p.done), seen.last().map(|p| p.total));
    assert_eq!(report.clumps, 301);
    assert_eq!(report.index_entries, 301);
    let mut last = Progress { done: 0, total: 1 };
    assert_eq!(store.reindex(&mut |p| last = p).unwrap(), 301);
    assert_eq!(last.done, last.total);
    for (s, b) in &blocks {
        assert_eq!(&store.read(s, BlockType::DATA).unwrap(), b);
    }
}

#[test]
fn torn_tail_at_every_offset_of_the_last_clump() {
    let pristine = tempfile::tempdir().unwrap();
    let store = ArenaStore::open(pristine.path(), cfg_unbuffered()).unwrap();
    let early: Vec<(Score, Vec<u8>)> = (0..20)
        .map(|i| {
            let b = noise(i, 400 + i as usize);
            (store.write(BlockType::DATA, &b).unwrap(), b)
        })
        .collect();
    store.sync().unwrap();
    let arena = arena_path(pristine.path(), 0);
    let start = len(&arena);
    let last = noise(99, 300);
    let last_score = store.write(BlockType::DATA, &last).unwrap();
    std::mem::forget(store);
    let end = len(&arena);
    assert_eq!(end - start, 340);

    for cut in start..=end {
        let work = tempfile::tempdir().unwrap();
        for name in ["arena.00000000", "index"] {
            fs::copy(pristine.path().join(name), work.path().join(name)).unwrap();
        }
        let a = arena_path(work.path(), 0);
        fs::OpenOptions::new()
            .write(true)
            .open(&a)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let store = ArenaStore::open(work.path(), cfg()).unwrap();
        for (s, b) in &early {
            assert_eq!(&store.read(s, BlockType::DATA).unwrap(), b, "cut at {cut}");
        }
        let got = store.read(&last_score, BlockType::DATA);
        if cut == end {
            assert_eq!(got.unwrap(), last);
        } else {
            assert!(
                matches!(got, Err(Error::NotFound { .. })),
                "cut at {cut}: {got:?}"
            );
            assert_eq!(len(&a), start, "torn tail cut");
        }
        let fresh = noise(1000 + cut, 50);
        let s = store.write(BlockType::DATA, &fresh).unwrap();
        store.write(BlockType::DATA, &last).unwrap();
        store.sync().unwrap();
        drop(store);
        let store = ArenaStore::open(work.path(), cfg()).unwrap();
        assert_eq!(store.read(&s, BlockType::DATA).unwrap(), fresh);
        assert_eq!(store.read(&last_score, BlockType::DATA).unwrap(), last);
        let report = store.check(&mut no_progress()).unwrap();
        assert!(report.is_clean(), "cut at {cut}: {:?}", report.problems);
    }
}

/// A store with three blocks; returns the dir, the blocks, and the store.
fn three_blocks() -> (tempfile::TempDir, Vec<(Score, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    let blocks: Vec<(Score, Vec<u8>)> = (0..3)
        .map(|i| {
            let b = noise(i, 1000);
            (store.write(BlockType::DATA, &b).unwrap(), b)
        })
        .collect();
    store.sync().unwrap();
    (dir, blocks)
}

/// Clump offsets: the head is 512 bytes, each 1000-byte clump 1040.
const FIRST: u64 = 512;
const SECOND: u64 = 512 + 1040;

#[test]
fn flipped_clump_data_is_an_error_naming_score_arena_and_offset() {
    let (dir, blocks) = three_blocks();
    let arena = arena_path(dir.path(), 0);
    flip(&arena, SECOND + 40 + 500);
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    match store.read(&blocks[1].0, BlockType::DATA) {
        Err(Error::Corrupt {
            score,
            arena: a,
            offset,
            ..
        }) => {
            assert_eq!(score, blocks[1].0);
            assert_eq!(a, arena);
            assert_eq!(offset, SECOND);
            let text = store
                .read(&blocks[1].0, BlockType::DATA)
                .unwrap_err()
                .to_string();
            assert!(
                text.contains(&score.to_string()) && text.contains("arena.00000000"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.read(&blocks[0].0, BlockType::DATA).unwrap(),
        blocks[0].1
    );
    assert_eq!(
        store.read(&blocks[2].0, BlockType::DATA).unwrap(),
        blocks[2].1
    );
    let report = store.check(&mut no_progress()).unwrap();
    assert_eq!(report.clumps, 2, "the scan resyncs past the damage");
    assert!(
        matches!(
            report.problems.as_slice(),
            [Problem::BadClump { offset, .. }] if *offset == SECOND
        ),
        "{:?}",
        report.problems
    );
}

#[test]
fn flipped_clump_header_is_detected() {
    for byte in [0u64, 4, 7, 15, 31, 37] {
        let (dir, blocks) = three_blocks();
        flip(&arena_path(dir.path(), 0), FIRST + byte);
        let store = ArenaStore::open(dir.path(), cfg()).unwrap();
        assert!(
            matches!(
                store.read(&blocks[0].0, BlockType::DATA),
                Err(Error::Corrupt { offset: FIRST, .. })
            ),
            "header byte {byte}"
        );
        let report = store.check(&mut no_progress()).unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| matches!(p, Problem::BadClump { offset: FIRST, .. })),
            "{:?}",
            report.problems
        );
        assert_eq!(
            store.read(&blocks[2].0, BlockType::DATA).unwrap(),
            blocks[2].1
        );
    }
}

#[test]
fn damaged_index_is_detected_and_rebuilt() {
    let (dir, blocks) = three_blocks();
    let index = dir.path().join("index");
    // Damage every bucket page's first entry (bits = 1: two buckets).
    for page in 1..=2u64 {
        flip(&index, 4096 * page + 8 + 21);
    }
    // Without the saved bloom filter, open reads every bucket: it finds
    // the damage and rebuilds the index.
    fs::remove_file(dir.path().join("bloom")).unwrap();
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    for (s, b) in &blocks {
        assert_eq!(&store.read(s, BlockType::DATA).unwrap(), b);
    }
    assert!(store.check(&mut no_progress()).unwrap().is_clean());

    // Damage under a running store: reads fail cleanly, check reports, reindex repairs.
    let index = dir.path().join("index");
    for page in 1..=2u64 {
        flip(&index, 4096 * page + 8 + 3);
    }
    let errors = blocks
        .iter()
        .filter(|(s, _)| {
            matches!(
                store.read(s, BlockType::DATA),
                Err(Error::IndexCorrupt { .. })
            )
        })
        .count();
    assert!(errors > 0);
    let report = store.check(&mut no_progress()).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Index(_))),
        "{:?}",
        report.problems
    );
    store.reindex(&mut no_progress()).unwrap();
    for (s, b) in &blocks {
        assert_eq!(&store.read(s, BlockType::DATA).unwrap(), b);
    }
    assert!(store.check(&mut no_progress()).unwrap().is_clean());
}

#[test]
fn sealed_arena_checksum_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    for i in 0..200 {
        store.write(BlockType::DATA, &noise(i, 1000)).unwrap();
    }
    store.sync().unwrap();
    assert!(store.stats().sealed >= 1);
    assert!(store.check(&mut no_progress()).unwrap().is_clean());
    drop(store);
    // Damage the head's zero padding: no clump is hurt, but the
    // whole-arena checksum covers it.
    flip(&arena_path(dir.path(), 0), 200);
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    let report = store.check(&mut no_progress()).unwrap();
    assert!(
        matches!(report.problems.as_slice(), [Problem::BadArena { reason, .. }] if reason.contains("checksum")),
        "{:?}",
        report.problems
    );
}

#[test]
fn parallel_writers_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        ArenaStore::open(
            dir.path(),
            ArenaConfig {
                flush_entries: 100,
                ..cfg()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..300u64 {
                    // Threads overlap on half their blocks, racing dedup.
                    let seed = if i % 2 == 0 { i } else { t * 1000 + i };
                    let b = noise(seed, 700);
                    let s = store.write(BlockType::DATA, &b).unwrap();
                    assert_eq!(store.read(&s, BlockType::DATA).unwrap(), b);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    store.sync().unwrap();
    assert!(store.check(&mut no_progress()).unwrap().is_clean());
    assert_eq!(store.stats().index_entries, 150 + 4 * 150);
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Skips (or, under CI, fails) when the test cannot run here.
fn cannot_run(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "tmpfs test cannot run under CI: {why}"
    );
    eprintln!("skipping tmpfs test: {why}");
}

/// A tmpfs of `size` mounted in a temporary directory; unmounted on drop.
struct Mount {
    path: PathBuf,
    _outer: tempfile::TempDir,
}

impl Mount {
    /// The mount, or why there is none (not root, mount refused).
    fn tmpfs(size: &str) -> Result<Mount, &'static str> {
        if !is_root() {
            return Err("not root, cannot mount a tmpfs");
        }
        let outer = tempfile::tempdir().unwrap();
        let path = outer.path().join("mnt");
        fs::create_dir(&path).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            return Err("mount -t tmpfs failed");
        }
        Ok(Mount {
            path,
            _outer: outer,
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

#[test]
fn full_disk_fails_the_write_and_loses_nothing_acknowledged() {
    let mount = match Mount::tmpfs("2m") {
        Ok(m) => m,
        Err(why) => return cannot_run(why),
    };
    let dir = mount.path.join("store");
    let config = ArenaConfig {
        arena_size: 256 << 10,
        index_bits: 2,
        flush_entries: 16,
        write_buffer: 64 << 10,
        sync_ahead: 0,
    };
    let store = ArenaStore::open(&dir, config.clone()).unwrap();
    let mut acked = Vec::new();
    let mut full = None;
    for i in 0..10_000u64 {
        let b = noise(i, 3000);
        match store.write(BlockType::DATA, &b) {
            Ok(s) => acked.push((s, b)),
            Err(e) => {
                full = Some(e);
                break;
            }
        }
        if i % 10 == 9
            && let Err(e) = store.sync()
        {
            full = Some(e);
            break;
        }
    }
    let err = full.expect("a 2 MiB file system fills");
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(acked.len() > 100);
    for (s, b) in &acked {
        assert_eq!(&store.read(s, BlockType::DATA).unwrap(), b);
    }
    // Still full: another write fails the same way and harms nothing.
    assert!(matches!(
        store.write(BlockType::DATA, &noise(1 << 40, 3000)),
        Err(Error::DiskFull { .. })
    ));
    drop(store);
    let store = ArenaStore::open(&dir, config).unwrap();
    for (s, b) in &acked {
        assert_eq!(&store.read(s, BlockType::DATA).unwrap(), b);
    }
    let report = store.check(&mut no_progress()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[derive(Clone, Debug)]
enum Op {
    Write(u8, usize),
    Read(u8, usize),
    Sync,
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let ty = prop::sample::select(vec![1u8, 2, 3, 13]);
    prop_oneof![
        6 => (ty.clone(), 0..40usize).prop_map(|(t, i)| Op::Write(t, i)),
        6 => (ty, 0..40usize).prop_map(|(t, i)| Op::Read(t, i)),
        1 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

/// Block `i` of a pool: varied sizes, some compressible.
fn pool(i: usize) -> Vec<u8> {
    let mut b = noise(i as u64, 1 + i * 397 % 5000);
    if i % 4 == 0 {
        b.extend(std::iter::repeat_n(3u8, 3000));
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn agrees_with_memstore(ops in prop::collection::vec(op(), 1..120), buffered in any::<bool>()) {
        let mut dir = tempfile::tempdir().unwrap();
        let config = ArenaConfig { flush_entries: 7, write_buffer: if buffered { 4096 } else { 0 }, ..cfg() };
        let mut store = ArenaStore::open(dir.path(), config.clone()).unwrap();
        let mut model = MemStore::new();
        // Blocks written, and those made durable by a sync.
        let mut written: Vec<(BlockType, usize)> = Vec::new();
        let mut durable = 0;
        for op in ops {
            match op {
                Op::Write(t, i) => {
                    let ty = BlockType::from_wire(t).unwrap();
                    prop_assert_eq!(store.write(ty, &pool(i)).unwrap(), model.write(ty, &pool(i)).unwrap());
                    written.push((ty, i));
                }
                Op::Read(t, i) => {
                    let ty = BlockType::from_wire(t).unwrap();
                    let s = Score::of(&pool(i));
                    match (store.read(&s, ty), model.read(&s, ty)) {
                        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                        (Err(Error::NotFound { .. }), Err(Error::NotFound { .. })) => {}
                        (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
                    }
                    prop_assert_eq!(store.has(&s, ty).unwrap(), model.has(&s, ty).unwrap());
                }
                Op::Sync => {
                    store.sync().unwrap();
                    durable = written.len();
                }
                Op::Reopen => {
                    drop(store);
                    store = ArenaStore::open(dir.path(), config.clone()).unwrap();
                    durable = written.len();
                }
                Op::Crash => {
                    // The files as a killed process leaves them, opened
                    // from a copy (the leaked store keeps its lock).
                    std::mem::forget(store);
                    dir = copy_of(dir.path());
                    store = ArenaStore::open(dir.path(), config.clone()).unwrap();
                    // Synced blocks survive; later ones may or may not.
                    model = MemStore::new();
                    let mut kept = Vec::new();
                    for (n, &(ty, i)) in written.iter().enumerate() {
                        let has = store.has(&Score::of(&pool(i)), ty).unwrap();
                        prop_assert!(has || n >= durable, "synced block {} lost", n);
                        if has {
                            model.write(ty, &pool(i)).unwrap();
                            kept.push((ty, i));
                        }
                    }
                    prop_assert!(buffered || kept.len() == written.len(), "unbuffered clumps are in the file");
                    written = kept;
                    durable = written.len();
                }
            }
        }
        let report = store.check(&mut |_| {}).unwrap();
        prop_assert!(report.is_clean(), "{:?}", report.problems);
        prop_assert_eq!(store.stats().blocks, model.len() as u64);
    }
}

#[test]
fn bad_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for config in [
        ArenaConfig {
            arena_size: 4096,
            ..cfg()
        },
        ArenaConfig {
            arena_size: 8 << 30,
            ..cfg()
        },
        ArenaConfig {
            index_bits: 40,
            ..cfg()
        },
        ArenaConfig {
            flush_entries: 0,
            ..cfg()
        },
    ] {
        let err = ArenaStore::open(dir.path(), config).err().expect("refused");
        assert!(matches!(err, Error::BadConfig { .. }), "{err}");
        assert!(err.to_string().contains("bad configuration"), "{err}");
    }
}

#[test]
fn missing_arena_is_refused_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    for i in 0..300 {
        store.write(BlockType::DATA, &noise(i, 1000)).unwrap();
    }
    drop(store);
    fs::remove_file(arena_path(dir.path(), 1)).unwrap();
    let err = ArenaStore::open(dir.path(), cfg()).err().expect("refused");
    assert!(
        matches!(
            err,
            Error::BadArena {
                problem: ArenaProblem::Missing(1),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn arenas_prepared_ahead_are_installed_in_turn_and_leftovers_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    let blocks: Vec<Vec<u8>> = (0..400).map(|i| noise(i, 1000)).collect();
    let scores: Vec<Score> = blocks
        .iter()
        .map(|b| store.write(BlockType::DATA, b).unwrap())
        .collect();
    store.sync().unwrap();
    drop(store);
    let names = |dir: &Path| -> Vec<String> {
        let mut n: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("arena."))
            .collect();
        n.sort();
        n
    };
    // 400 KB of clumps in 128 KiB arenas: arenas 0-3, nothing prepared
    // left behind by a clean close.
    let made = names(dir.path());
    assert_eq!(
        made,
        (0..4).map(|n| format!("arena.{n:08}")).collect::<Vec<_>>()
    );
    // A crash while the next arena was being prepared leaves a `.new`.
    fs::write(dir.path().join("arena.00000004.new"), b"half made").unwrap();
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(names(dir.path()), made, "the leftover is removed at open");
    for (s, b) in scores.iter().zip(&blocks) {
        assert_eq!(&store.read(s, BlockType::DATA).unwrap(), b);
    }
    let report = store.check(&mut no_progress()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.arenas, 4);
}

#[test]
fn a_second_open_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    let s = store.write(BlockType::DATA, b"locked").unwrap();
    match ArenaStore::open(dir.path(), cfg()) {
        Err(e @ Error::Locked { .. }) => {
            assert!(e.to_string().contains("locked by another process"), "{e}");
            assert!(matches!(e, Error::Locked { dir: d } if d == dir.path()));
        }
        other => panic!("second open: {:?}", other.map(|_| ())),
    }
    drop(store);
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    assert_eq!(store.read(&s, BlockType::DATA).unwrap(), b"locked");
}

#[test]
fn saved_bloom_skips_the_index_scan_and_a_bad_one_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<(Score, Vec<u8>)> = (0..300)
        .map(|i| (Score::of(&noise(i, 700)), noise(i, 700)))
        .collect();
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    for (_, b) in &blocks[..150] {
        store.write(BlockType::DATA, b).unwrap();
    }
    drop(store);
    let bloom = dir.path().join("bloom");
    assert!(bloom.exists(), "close saves the filter");
    let all_there = |store: &ArenaStore, n: usize| {
        for (s, b) in &blocks[..n] {
            assert_eq!(&store.read(s, BlockType::DATA).unwrap(), b);
        }
        for (s, _) in &blocks[n..] {
            assert!(matches!(
                store.read(s, BlockType::DATA),
                Err(Error::NotFound { .. })
            ));
        }
    };

    // Blocks written after the save (then a crash) reach the filter from
    // the log; the active arena's checksum continues from the saved one,
    // which the seals of the arenas filled next prove.
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    all_there(&store, 150);
    for (_, b) in &blocks[150..200] {
        store.write(BlockType::DATA, b).unwrap();
    }
    store.sync().unwrap();
    std::mem::forget(store);
    let dir = copy_of(dir.path());
    let bloom = dir.path().join("bloom");
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    all_there(&store, 200);
    for (_, b) in &blocks[200..] {
        store.write(BlockType::DATA, b).unwrap();
    }
    assert!(store.stats().sealed >= 1);
    assert!(store.check(&mut no_progress()).unwrap().is_clean());
    drop(store);

    // A damaged, cut or missing file is ignored and rebuilt from the index.
    let good = fs::read(&bloom).unwrap();
    for damage in 0..3 {
        match damage {
            0 => flip(&bloom, 60),
            1 => fs::write(&bloom, &good[..good.len() / 2]).unwrap(),
            _ => fs::remove_file(&bloom).unwrap(),
        }
        let store = ArenaStore::open(dir.path(), cfg()).unwrap();
        all_there(&store, 300);
        drop(store);
        assert_eq!(fs::read(&bloom).unwrap(), good, "saved again at close");
    }

    // The fast path reads no bucket at open: damage shows at the read
    // that meets it, precisely, and reindex repairs it.
    flip(&dir.path().join("index"), 4096 + 8 + 3);
    let store = ArenaStore::open(dir.path(), cfg()).unwrap();
    let errors = blocks
        .iter()
        .filter(|(s, _)| {
            matches!(
                store.read(s, BlockType::DATA),
                Err(Error::IndexCorrupt { .. })
            )
        })
        .count();
    assert!(errors > 0);
    store.reindex(&mut no_progress()).unwrap();
    all_there(&store, 300);
}
