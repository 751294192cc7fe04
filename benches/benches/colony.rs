//! The spawning API's own costs, over `BareRuntime` (no namespace, so no
//! root needed): `scores` of a user with 10,000 names, `spawn` + `boom` of
//! a seed, and `save` of an environment that changed 10 MB (the snapshot
//! and the store sync before the name is minted). As root with
//! `/dev/fuse`, also `spawn` + `boom` of real sessions (fossil open, FUSE
//! mount, namespaces, cpu listener) of the minimal test root.
use std::time::{Duration, Instant};

use colony_benches::random_block;
use colony_core::colony::{BareRuntime, ColonyConfig, EnvRuntime};
use colony_core::identity::{InitOptions, init};
use colony_core::{Colony, NodeId, UserName};
use colony_fossil::{Fossil, FossilOptions};
use colony_ns::session::{LinuxConfig, testroot};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tokio::runtime::Runtime;

const NAMES: u32 = 10_000;
const CHANGED: usize = 10 << 20;

/// A node in `dir` whose admin is alice.
fn config(dir: &std::path::Path) -> ColonyConfig {
    init(
        dir,
        &InitOptions {
            node_id: Some(NodeId::new("bench").unwrap()),
            admin: UserName::new("alice").unwrap(),
            ..InitOptions::default()
        },
    )
    .unwrap();
    ColonyConfig {
        data_dir: dir.to_path_buf(),
        cpu_host: "127.0.0.1".into(),
        helper: LinuxConfig::new(env!("CARGO_BIN_EXE_bench-session-helper")),
        seed: None,
    }
}

/// Spawns and booms the seed of `colony` for its admin.
fn spawn_and_boom<R: EnvRuntime>(b: &mut criterion::Bencher, rt: &Runtime, colony: &Colony<R>) {
    let alice = UserName::new("alice").unwrap();
    let seed = colony.seed_name().unwrap().to_string();
    b.iter(|| {
        rt.block_on(async {
            colony.spawn(&alice, &seed, false).await.unwrap();
            colony.boom(&alice, &seed).await.unwrap();
        })
    })
}

fn sessions(c: &mut Criterion, rt: &Runtime) {
    if !nix::unistd::geteuid().is_root() || !std::path::Path::new("/dev/fuse").exists() {
        eprintln!("colony session bench skipped: sessions need root and /dev/fuse");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let colony = Colony::open(config(dir.path())).unwrap();
    let seed = testroot::snapshot(&*colony.store(), testroot::PROGRAMS).unwrap();
    colony.seed(&UserName::new("alice").unwrap(), seed).unwrap();
    let mut g = c.benchmark_group("colony");
    g.sample_size(20);
    g.bench_function("spawn + boom (session)", |b| spawn_and_boom(b, rt, &colony));
    g.finish();
    rt.block_on(colony.shutdown()).unwrap();
}

fn colony(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let alice = UserName::new("alice").unwrap();
    let colony = Colony::with_runtime(config(dir.path()), BareRuntime).unwrap();
    let seed = Fossil::create_empty(colony.store(), FossilOptions::default())
        .unwrap()
        .save()
        .unwrap();
    colony.seed(&alice, seed).unwrap();
    let names = colony.names();
    for i in 0..NAMES {
        names.mint(&format!("w{i}"), &alice, seed).unwrap();
    }
    let rt = Runtime::new().unwrap();
    let seed_name = colony.seed_name().unwrap().to_string();

    let mut g = c.benchmark_group("colony");
    g.bench_function("scores (10,000 names)", |b| {
        b.iter(|| colony.scores(black_box(&alice), None).unwrap())
    });
    g.bench_function("spawn + boom (bare)", |b| spawn_and_boom(b, &rt, &colony));
    g.throughput(Throughput::Bytes(CHANGED as u64));
    g.sample_size(10);
    let mut n = 0u64;
    rt.block_on(colony.spawn(&alice, &seed_name, false))
        .unwrap();
    let fs = colony.env_fossil(&alice, &seed_name).unwrap();
    g.bench_function("save after writing 10 MB (bare)", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                // Fresh bytes each time, so no block deduplicates (changing
                // only the first bytes would leave every later block one the
                // store already has).
                let bytes = random_block(n, CHANGED);
                let file = fs
                    .create(fs.root(), format!("f{n}").as_bytes(), 0o644, "alice")
                    .unwrap();
                fs.write(file.qid.path, 0, &bytes, "alice").unwrap();
                let start = Instant::now();
                rt.block_on(colony.save(&alice, &seed_name, &format!("s{n}")))
                    .unwrap();
                spent += start.elapsed();
            }
            spent
        })
    });
    g.finish();
    rt.block_on(colony.shutdown()).unwrap();
    sessions(c, &rt);
}

criterion_group!(benches, colony);
criterion_main!(benches);
