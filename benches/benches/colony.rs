//! The spawning API's own costs, over `BareRuntime` (no namespace, so no
//! root needed; the session's start-up is measured in `session.rs`):
//! `scores` of a user with 10,000 names, `spawn` + `boom` of a seed, and
//! `save` of an environment that changed 10 MB (the snapshot and the
//! store sync before the name is minted).
use std::time::{Duration, Instant};

use colony_core::colony::{BareRuntime, ColonyConfig};
use colony_core::identity::{InitOptions, init};
use colony_core::{Colony, NodeId, UserName};
use colony_fossil::{Fossil, FossilOptions};
use colony_ns::session::LinuxConfig;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const NAMES: u32 = 10_000;
const CHANGED: usize = 10 << 20;

fn colony(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let alice = UserName::new("alice").unwrap();
    init(
        dir.path(),
        &InitOptions {
            node_id: Some(NodeId::new("bench").unwrap()),
            admin: alice.clone(),
            ..InitOptions::default()
        },
    )
    .unwrap();
    let config = ColonyConfig {
        data_dir: dir.path().to_path_buf(),
        cpu_host: "127.0.0.1".into(),
        helper: LinuxConfig::new("/nonexistent"),
        seed: None,
    };
    let colony = Colony::with_runtime(config, BareRuntime).unwrap();
    let seed = Fossil::create_empty(colony.store(), FossilOptions::default())
        .unwrap()
        .save()
        .unwrap();
    colony.seed(&alice, seed).unwrap();
    let names = colony.names();
    for i in 0..NAMES {
        names.mint(&format!("w{i}"), &alice, seed).unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let seed_name = colony.seed_name().unwrap().to_string();

    let mut g = c.benchmark_group("colony");
    g.bench_function("scores (10,000 names)", |b| {
        b.iter(|| colony.scores(black_box(&alice), None).unwrap())
    });
    g.bench_function("spawn + boom (bare)", |b| {
        b.iter(|| {
            rt.block_on(async {
                colony.spawn(&alice, &seed_name, false).await.unwrap();
                colony.boom(&alice, &seed_name).await.unwrap();
            })
        })
    });
    g.throughput(Throughput::Bytes(CHANGED as u64));
    g.sample_size(10);
    let data: Vec<u8> = (0..CHANGED).map(|i| (i * 7 % 251) as u8).collect();
    let mut n = 0u64;
    rt.block_on(colony.spawn(&alice, &seed_name, false))
        .unwrap();
    let fs = colony.env_fossil(&alice, &seed_name).unwrap();
    g.bench_function("save after writing 10 MB (bare)", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                // Distinct bytes each time, so nothing deduplicates.
                let mut bytes = data.clone();
                bytes[..8].copy_from_slice(&n.to_le_bytes());
                let file = fs
                    .create(fs.root(), &format!("f{n}"), 0o644, "alice")
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
}

criterion_group!(benches, colony);
criterion_main!(benches);
