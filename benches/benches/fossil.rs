//! Fossil: opening a snapshot, a cold sequential read of a 256 MiB file
//! from the block store, and writing + saving 100 MiB of dirty data, all
//! over a `MemStore` so the numbers measure the file system, not a disk;
//! and the cold sequential read again through `VentiClient` to a
//! `VentiServer` on loopback (read-ahead keeps many requests in flight).
use std::sync::Arc;

use colony_benches::random_block;
use colony_fossil::fossil::{Fossil, FossilOptions};
use colony_venti::proto::{VentiClient, VentiServer};
use colony_venti::{BlockStore, MemStore, Score};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BIG: usize = 256 << 20;
const DIRTY: usize = 100 << 20;
const CHUNK: usize = 64 << 10;

/// A snapshot holding `/big`, a file of `BIG` random bytes.
fn snapshot(store: &MemStore) -> Score {
    let fs = Fossil::create_empty(Arc::new(store.clone()), FossilOptions::default()).unwrap();
    let f = fs
        .create(fs.root(), b"big", 0o644, "bench")
        .unwrap()
        .qid
        .path;
    for i in 0..BIG / CHUNK {
        let data = random_block(i as u64, CHUNK);
        fs.write(f, (i * CHUNK) as u64, &data, "bench").unwrap();
    }
    fs.save().unwrap()
}

/// Opens the snapshot cold over `store` and reads `/big` in order.
fn read_all(store: Arc<dyn BlockStore>, score: Score) {
    let fs = Fossil::open(store, score, FossilOptions::default()).unwrap();
    let f = fs.lookup(fs.root(), b"big").unwrap().qid.path;
    let mut total = 0;
    loop {
        let got = fs.read(f, total as u64, CHUNK as u32).unwrap();
        if got.is_empty() {
            break;
        }
        total += got.len();
    }
    assert_eq!(total, BIG);
}

fn fossil(c: &mut Criterion) {
    let store = MemStore::new();
    let score = snapshot(&store);
    let mut g = c.benchmark_group("fossil");
    g.sample_size(10);
    g.bench_function("open", |b| {
        b.iter(|| Fossil::open(Arc::new(store.clone()), score, FossilOptions::default()).unwrap())
    });
    g.throughput(Throughput::Bytes(BIG as u64));
    g.bench_function("cold sequential read 256MiB", |b| {
        b.iter(|| read_all(Arc::new(store.clone()), score))
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(VentiServer::bind("127.0.0.1:0", Arc::new(store.clone())))
        .unwrap();
    let client: Arc<dyn BlockStore> = Arc::new(VentiClient::connect(server.local_addr()).unwrap());
    g.bench_function("cold sequential read 256MiB over loopback venti", |b| {
        b.iter(|| read_all(client.clone(), score))
    });
    drop(client);
    rt.block_on(server.shutdown());
    let chunks: Vec<Vec<u8>> = (0..DIRTY / CHUNK)
        .map(|i| random_block(1_000_000 + i as u64, CHUNK))
        .collect();
    g.throughput(Throughput::Bytes(DIRTY as u64));
    g.bench_function("write + save 100MiB", |b| {
        b.iter(|| {
            let fresh = MemStore::new();
            let fs = Fossil::create_empty(Arc::new(fresh), FossilOptions::default()).unwrap();
            let f = fs
                .create(fs.root(), b"out", 0o644, "bench")
                .unwrap()
                .qid
                .path;
            for (i, c) in chunks.iter().enumerate() {
                fs.write(f, (i * CHUNK) as u64, c, "bench").unwrap();
            }
            fs.save().unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, fossil);
criterion_main!(benches);
