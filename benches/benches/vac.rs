//! vac import and unvac export speed: 32 MiB in 8 files, into and out of a
//! `MemStore`, so the numbers measure the vac code and hashing, not a disk.
use colony_benches::random_block;
use colony_fossil::source::{MemSource, Meta};
use colony_fossil::unvac::{self, UnvacOptions};
use colony_fossil::vac::{self, VacOptions};
use colony_venti::MemStore;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const FILES: usize = 8;
const FILE_SIZE: usize = 4 << 20;

fn source() -> MemSource {
    let meta = Meta {
        perm: 0o644,
        uid: "u".into(),
        gid: "g".into(),
        mtime: 1,
        atime: 1,
    };
    let mut s = MemSource::new("top", meta.clone());
    for i in 0..FILES {
        s.file(
            &format!("f{i}"),
            &random_block(i as u64, FILE_SIZE),
            meta.clone(),
        )
        .unwrap();
    }
    s
}

fn vac(c: &mut Criterion) {
    let src = source();
    let mut g = c.benchmark_group("vac");
    g.throughput(Throughput::Bytes((FILES * FILE_SIZE) as u64));
    g.sample_size(10);
    g.bench_function("import 32MiB into MemStore", |b| {
        b.iter(|| {
            let store = MemStore::new();
            vac::import(&store, &src, &VacOptions::default(), &mut |_| {}).unwrap()
        })
    });
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("top");
    std::fs::create_dir(&top).unwrap();
    for i in 0..FILES {
        std::fs::write(top.join(format!("f{i}")), random_block(i as u64, FILE_SIZE)).unwrap();
    }
    g.bench_function("import 32MiB from a temp dir", |b| {
        b.iter(|| {
            let store = MemStore::new();
            vac::import_path(&store, &top, &VacOptions::default(), &mut |_| {}).unwrap()
        })
    });
    let store = MemStore::new();
    let score = vac::import(&store, &src, &VacOptions::default(), &mut |_| {})
        .unwrap()
        .score;
    g.bench_function("export 32MiB to a temp dir", |b| {
        b.iter(|| {
            let dest = tempfile::tempdir().unwrap();
            unvac::export(
                &store,
                &score,
                dest.path(),
                &UnvacOptions::default(),
                &mut |_| {},
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, vac);
criterion_main!(benches);
