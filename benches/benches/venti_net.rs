//! The venti protocol over loopback: a pipelined `VentiClient` against a
//! `VentiServer`, writing new 8 KiB random blocks and reading them back.
//! Reported per block store (MemStore, and ArenaStore in a fresh directory
//! under `$COLONY_BENCH_DIR`, default `/tmp`) as bytes/s and blocks/s.
//!
//! `cargo bench -p colony-benches --bench venti_net -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_benches::random_block;
use colony_venti::proto::{ServerHandle, VentiClient, VentiServer};
use colony_venti::{ArenaConfig, ArenaStore, BlockStore, BlockType, MemStore, Score};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};

const BLOCK: usize = 8192;
/// Blocks per `write_many`/`read_many` call.
const BATCH: usize = 512;

/// A fresh store, and the directory to remove after it (if on disk).
type Fresh = (Arc<dyn BlockStore>, Option<tempfile::TempDir>);

/// A fresh ArenaStore with 64 MiB arenas (each is reserved on creation).
fn fresh_arena() -> Fresh {
    let base = std::env::var("COLONY_BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    let config = ArenaConfig {
        arena_size: 64 << 20,
        ..ArenaConfig::default()
    };
    let store = ArenaStore::open(dir.path(), config).unwrap();
    (Arc::new(store), Some(dir))
}

/// A server on loopback over a fresh store, and a client connected to it.
struct Setup {
    rt: tokio::runtime::Runtime,
    server: Option<ServerHandle>,
    client: VentiClient,
    _dir: Option<tempfile::TempDir>,
}

impl Setup {
    fn new((store, dir): Fresh) -> Setup {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt
            .block_on(VentiServer::bind("127.0.0.1:0", store))
            .unwrap();
        let client = VentiClient::connect(server.local_addr()).unwrap();
        Setup {
            rt,
            server: Some(server),
            client,
            _dir: dir,
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown());
        }
    }
}

fn blocks(first_seed: u64, n: usize) -> Vec<Vec<u8>> {
    (0..n as u64)
        .map(|i| random_block(first_seed + i, BLOCK))
        .collect()
}

/// Times `iters` batches of new blocks, each written with one `write_many`.
/// Every measurement gets a fresh store, so memory stays bounded.
fn write_new(store: &dyn Fn() -> Fresh, iters: u64, seed: &mut u64) -> Duration {
    let setup = Setup::new(store());
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let batch = blocks(*seed, BATCH);
        *seed += BATCH as u64;
        let reqs: Vec<(BlockType, &[u8])> =
            batch.iter().map(|b| (BlockType::DATA, &b[..])).collect();
        let start = Instant::now();
        let scores = setup.client.write_many(&reqs).unwrap();
        total += start.elapsed();
        assert_eq!(scores.len(), BATCH);
    }
    total
}

fn bench_store(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, store: &dyn Fn() -> Fresh) {
    let mut seed = 1u64 << 40;
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes((BATCH * BLOCK) as u64)),
        ("blocks", Throughput::Elements(BATCH as u64)),
    ] {
        g.throughput(throughput);
        g.bench_function(format!("{name}/write_new_8KiB/{unit}"), |b| {
            b.iter_custom(|iters| write_new(store, iters, &mut seed))
        });
    }

    let setup = Setup::new(store());
    let batch = blocks(7, BATCH);
    let reqs: Vec<(BlockType, &[u8])> = batch.iter().map(|b| (BlockType::DATA, &b[..])).collect();
    let wanted: Vec<(Score, BlockType)> = setup
        .client
        .write_many(&reqs)
        .unwrap()
        .into_iter()
        .map(|s| (s, BlockType::DATA))
        .collect();
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes((BATCH * BLOCK) as u64)),
        ("blocks", Throughput::Elements(BATCH as u64)),
    ] {
        g.throughput(throughput);
        g.bench_function(format!("{name}/read_8KiB/{unit}"), |b| {
            b.iter(|| {
                let got = setup.client.read_many(&wanted);
                assert!(
                    got.iter()
                        .all(|r| r.as_ref().is_ok_and(|d| d.len() == BLOCK))
                );
            })
        });
    }
}

fn venti_net(c: &mut Criterion) {
    let mut g = c.benchmark_group("venti_net");
    g.sample_size(20);
    bench_store(&mut g, "MemStore", &|| (Arc::new(MemStore::new()), None));
    bench_store(&mut g, "ArenaStore", &fresh_arena);
    g.finish();
}

criterion_group!(benches, venti_net);
criterion_main!(benches);
