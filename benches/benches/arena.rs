//! ArenaStore speed: new writes, duplicate writes and reads of 8 KiB random
//! blocks (two threads, in process, no sync in the timed loop), and index
//! lookups with 1 M and 10 M blocks stored.
//!
//! The lookup stores hold tiny blocks (8 bytes each: the block number) so
//! that 10 M blocks fit on disk (480 MB of log instead of 80 GB); the index
//! is the same as for large blocks. They are built once under
//! `$COLONY_BENCH_DIR/colony-arena-bench-*` and reused by later runs.
//!
//! Opening the 1 M store is timed with and without its saved bloom filter.
//!
//! `COLONY_BENCH_DIR` (default `/tmp`) picks the file system. Sustained
//! writes to a disk-backed one are bounded by the device once the kernel
//! starts writeback; `/dev/shm` (tmpfs) measures the store alone.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use colony_benches::random_block;
use colony_venti::{ArenaConfig, ArenaStore, BlockStore, BlockType, Score};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const BLOCK: usize = 8192;
const THREADS: u64 = 2;
const POOL: usize = 1024;

fn bench_dir() -> String {
    std::env::var("COLONY_BENCH_DIR").unwrap_or_else(|_| "/tmp".into())
}

fn pool() -> Arc<Vec<Vec<u8>>> {
    Arc::new((0..POOL as u64).map(|i| random_block(i, BLOCK)).collect())
}

/// One operation: `op(thread, i)`.
type Op = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Runs `iters` operations split over two threads; `op(thread, i)` does
/// one. Returns the wall time.
fn parallel(iters: u64, op: Op) -> Duration {
    let start = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let op = op.clone();
            std::thread::spawn(move || {
                for i in (t..iters).step_by(THREADS as usize) {
                    op(t, i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("bench thread");
    }
    start.elapsed()
}

/// Registers `name` twice: once counting bytes, once counting blocks.
/// `sample(iters)` runs one timed sample of `iters` operations.
fn both(c: &mut Criterion, name: &str, sample: impl Fn(u64) -> Duration + Clone) {
    for (group, tp) in [
        ("arena_bytes", Throughput::Bytes(BLOCK as u64)),
        ("arena_blocks", Throughput::Elements(1)),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(tp);
        // Writes are not a steady cost: every 2^18 blocks the index is
        // flushed and every 512 MiB an arena is sealed. Linear sampling's
        // slope then depends on which samples those land in; equal samples
        // average them in.
        g.sampling_mode(SamplingMode::Flat);
        let sample = sample.clone();
        g.bench_function(name, move |b| b.iter_custom(&sample));
        g.finish();
    }
}

/// Bytes of new blocks a store takes before the new-write bench starts
/// another. This VM reports free pages to its host ("Free page reporting
/// enabled" at boot): once writes have run through the pages the guest
/// still holds, every new page faults in at the host and tmpfs writes fall
/// from about 3 GB/s to 500 MB/s, `dd` included. A store left to grow
/// measures that, not itself. Replacing it happens between samples,
/// untimed; every sample still crosses index flushes and arena seals as a
/// growing store does.
const FRESH_BYTES: u64 = 1 << 30;

/// The store new writes go to, replaced once it holds [`FRESH_BYTES`].
#[derive(Default)]
struct Fresh {
    store: Option<(tempfile::TempDir, Arc<ArenaStore>)>,
    written: u64,
}

impl Fresh {
    /// The store for a sample of `iters` new blocks.
    fn store_for(&mut self, iters: u64) -> Arc<ArenaStore> {
        let bytes = iters * BLOCK as u64;
        if self.store.is_none() || self.written + bytes > FRESH_BYTES {
            self.store = None;
            let dir = tempfile::tempdir_in(bench_dir()).expect("temp dir");
            let store = ArenaStore::open(dir.path(), ArenaConfig::default()).expect("open");
            self.store = Some((dir, Arc::new(store)));
            self.written = 0;
        }
        self.written += bytes;
        self.store.as_ref().expect("just made").1.clone()
    }
}

fn block_ops(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(bench_dir()).expect("temp dir");
    let store = Arc::new(ArenaStore::open(dir.path(), ArenaConfig::default()).expect("open"));
    let pool = pool();

    // New writes: each block is a pool block with a unique counter in its
    // first eight bytes, so every write is new.
    let counter = Arc::new(AtomicU64::new(1 << 40));
    let fresh = Arc::new(Mutex::new(Fresh::default()));
    {
        let pool = pool.clone();
        both(c, "write_new", move |iters| {
            let store = fresh
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .store_for(iters);
            let (pool, counter) = (pool.clone(), counter.clone());
            parallel(
                iters,
                Arc::new(move |_, i| {
                    let mut b = pool[i as usize % POOL].clone();
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    b[..8].copy_from_slice(&n.to_le_bytes());
                    store.write(BlockType::DATA, &b).expect("write");
                }),
            )
        });
    }

    // Duplicates: the pool, already stored.
    for b in pool.iter() {
        store.write(BlockType::DATA, b).expect("write");
    }
    store.sync().expect("sync");
    {
        let (store, pool) = (store.clone(), pool.clone());
        let op: Op = Arc::new(move |_, i| {
            store
                .write(BlockType::DATA, &pool[i as usize % POOL])
                .expect("write");
        });
        both(c, "write_duplicate", move |iters| {
            parallel(iters, op.clone())
        });
    }

    // Reads of 64 Ki stored blocks (512 MiB) in a scattered order.
    let scores: Arc<Vec<Score>> = Arc::new(
        (0..65536u64)
            .map(|i| {
                let mut b = pool[i as usize % POOL].clone();
                b[..8].copy_from_slice(&(i + (1 << 50)).to_le_bytes());
                store.write(BlockType::DATA, &b).expect("write")
            })
            .collect(),
    );
    store.sync().expect("sync");
    {
        let (store, scores) = (store.clone(), scores.clone());
        let op: Op = Arc::new(move |_, i| {
            let s = &scores[(i.wrapping_mul(0x9E37_79B9) % scores.len() as u64) as usize];
            store.read(s, BlockType::DATA).expect("read");
        });
        both(c, "read", move |iters| parallel(iters, op.clone()));
    }
    eprintln!("8 KiB store: {:?}", store.stats());
}

/// The store of `n` tiny blocks, built once and kept under /tmp.
fn lookup_store(n: u64) -> ArenaStore {
    let dir = format!("{}/colony-arena-bench-{n}", bench_dir());
    let config = ArenaConfig {
        flush_entries: 1 << 22,
        ..ArenaConfig::default()
    };
    let store = ArenaStore::open(&dir, config).expect("open");
    if store.stats().blocks < n {
        let start = Instant::now();
        for i in store.stats().blocks..n {
            store
                .write(BlockType::DATA, &i.to_le_bytes())
                .expect("write");
        }
        store.sync().expect("sync");
        eprintln!("built {dir} in {:?}", start.elapsed());
    }
    store
}

fn lookups(c: &mut Criterion) {
    for n in [1_000_000u64, 10_000_000] {
        // Built on first use, so a filter that skips these builds nothing.
        let store = std::cell::OnceCell::new();
        let store = || {
            store.get_or_init(|| {
                let store = lookup_store(n);
                let s = store.stats();
                eprintln!(
                    "{n} blocks: index {} buckets, load {:.2}, bloom {} bytes, pending table {} bytes",
                    s.index_buckets, s.index_load, s.bloom_bytes, s.pending_bytes
                );
                store
            })
        };
        let mut g = c.benchmark_group(format!("arena_lookup_{n}"));
        g.throughput(Throughput::Elements(1));
        let mut i = 0u64;
        g.bench_function("present", |b| {
            let store = store();
            b.iter(|| {
                i = i.wrapping_add(0x9E37_79B9) % n;
                assert!(
                    store
                        .has(&Score::of(&i.to_le_bytes()), BlockType::DATA)
                        .expect("has")
                );
            })
        });
        g.bench_function("absent", |b| {
            let store = store();
            b.iter(|| {
                i += 1;
                assert!(
                    !store
                        .has(&Score::of(&(n + i).to_le_bytes()), BlockType::DATA)
                        .expect("has")
                );
            })
        });
        g.finish();
    }
}

/// Opening the store of 1 M tiny blocks after a clean close: with the
/// saved bloom filter, and with it removed (the filter is rebuilt from the
/// whole index and the active arena is checksummed from its start, as
/// every open did before the filter was saved).
fn open(c: &mut Criterion) {
    let n = 1_000_000u64;
    let dir = std::cell::OnceCell::new();
    let dir = || {
        dir.get_or_init(|| {
            drop(lookup_store(n));
            format!("{}/colony-arena-bench-{n}", bench_dir())
        })
    };
    let config = ArenaConfig::default;
    let mut g = c.benchmark_group(format!("arena_open_{n}"));
    g.sample_size(10);
    g.bench_function("saved_bloom", |b| {
        let dir = dir();
        // One store at a time (the lock); each is closed outside the timing.
        b.iter_batched(
            || (),
            |()| ArenaStore::open(dir, config()).expect("open"),
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("rebuilt_bloom", |b| {
        let dir = dir();
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(format!("{dir}/bloom"));
            },
            |()| ArenaStore::open(dir, config()).expect("open"),
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, block_ops, lookups, open);
criterion_main!(benches);
