//! The grid RPC over loopback mutual TLS, against a Colony whose
//! environments are bare live fossils (real arena store and names):
//! `scores` of a user with 10,000 names, and `save` of an environment in
//! which 10 MB changed since it was spawned.
//!
//! `cargo bench -p colony-benches --bench grid`. Spawn to shell prompt
//! and save through full sessions are measured by `grid_spawn` and
//! `grid_save` (need root and FUSE).

use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_benches::{node, random_block};
use colony_core::colony::{BareRuntime, Colony};
use colony_core::rpc::{GridClient, GridServer};
use colony_core::{Score, UserName};
use colony_fossil::{Fossil, FossilOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

const NAMES: u32 = 10_000;
const CHANGED: usize = 10 << 20;

struct Node {
    _dir: tempfile::TempDir,
    colony: Arc<Colony<BareRuntime>>,
    _server: GridServer,
    client: GridClient,
}

/// Node `bench` with user `alice`, who owns the seed and NAMES more names.
fn node(rt: &Runtime) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let cred = node::init(dir.path(), "bench");
    let alice = UserName::new(node::USER).unwrap();
    std::fs::write(
        dir.path().join("limits"),
        "limits sessions-per-user=100 sessions-per-node=100\n",
    )
    .unwrap();
    let colony = Arc::new(Colony::open_bare(dir.path()).unwrap());
    let fs = Fossil::create_empty(colony.store(), FossilOptions::default()).unwrap();
    let seed = fs.save().unwrap();
    colony.store().sync().unwrap();
    colony.seed(&UserName::new("admin").unwrap(), seed).unwrap();
    colony.grant_seed(&alice).unwrap();
    for i in 0..NAMES {
        colony
            .names()
            .mint(&format!("work{i}"), &alice, Score::of(&i.to_le_bytes()))
            .unwrap();
    }
    let (server, client) = rt.block_on(async {
        let server = GridServer::bind("127.0.0.1:0", colony.clone())
            .await
            .unwrap();
        let client = GridClient::connect(&cred, &server.local_addr().to_string())
            .await
            .unwrap();
        (server, client)
    });
    Node {
        _dir: dir,
        colony,
        _server: server,
        client,
    }
}

fn grid(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let mut n = node(&rt);
    let mut g = c.benchmark_group("grid");
    g.sample_size(20);
    g.throughput(Throughput::Elements(NAMES as u64 + 1));
    g.bench_function("scores (10,000 names)", |b| {
        b.iter(|| {
            let names = rt.block_on(n.client.scores(None)).unwrap();
            assert_eq!(names.len(), NAMES as usize + 1);
        })
    });

    let alice = UserName::new("alice").unwrap();
    let env = "clean.bench.alice";
    rt.block_on(n.client.spawn(env, false)).unwrap();
    let fs = n.colony.env_fossil(&alice, env).unwrap();
    let file = fs
        .create(fs.root(), b"data", 0o644, "alice")
        .unwrap()
        .qid
        .path;
    let mut round = 0u64;
    g.throughput(Throughput::Bytes(CHANGED as u64));
    g.bench_function("save (10 MB changed)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                // New bytes over the same 10 MB each round: all of it is
                // dirty again.
                for (i, chunk) in random_block(round, CHANGED).chunks(1 << 20).enumerate() {
                    fs.write(file, (i << 20) as u64, chunk, "alice").unwrap();
                }
                let start = Instant::now();
                rt.block_on(n.client.save(env, &format!("s{round}")))
                    .unwrap();
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, grid);
criterion_main!(benches);
