//! Scorenames on redb: a durable mint (one write transaction each), exact
//! lookups in 10,000 names, one user's names, and importing a 10,000-name
//! spawngrid file.
use colony_core::names::{RedbNames, ndb_io};
use colony_core::{Name, NodeId, Score, ScoreNames, UserName};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const NAMES: u32 = 10_000;

fn filled(dir: &std::path::Path) -> ScoreNames<RedbNames> {
    let names = ScoreNames::new(
        RedbNames::open(&dir.join("names.redb")).unwrap(),
        NodeId::new("bench").unwrap(),
    );
    let records: Vec<_> = ndb_io::import(spawngrid_file().as_bytes()).unwrap();
    names.merge(&records).unwrap();
    names
}

/// A Plan 9 scorenames file of NAMES records over 100 users.
fn spawngrid_file() -> String {
    (0..NAMES)
        .map(|i| {
            format!(
                "scorename=work{i}.{} rootscore=vac:{} user=user{}\n\n",
                100 + i % 99,
                Score::of(&i.to_le_bytes()),
                i % 100
            )
        })
        .collect()
}

fn scorenames(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let names = filled(dir.path());
    let owner = UserName::new("user7").unwrap();
    let mut g = c.benchmark_group("scorenames");
    let mut n = 0u64;
    g.bench_function("mint (durable)", |b| {
        b.iter(|| {
            n += 1;
            names
                .mint(&format!("m{n}"), &owner, Score::of(&n.to_le_bytes()))
                .unwrap()
        })
    });
    let name = Name::parse(&format!("work4242.{}", 100 + 4242 % 99)).unwrap();
    assert!(names.get(&name).unwrap().is_some());
    g.bench_function("get of 10k", |b| {
        b.iter(|| names.get(black_box(&name)).unwrap())
    });
    g.bench_function("owned_by (100 names)", |b| {
        b.iter(|| {
            names
                .owned_by(black_box(&UserName::new("user42").unwrap()))
                .unwrap()
        })
    });
    let file = spawngrid_file();
    g.throughput(Throughput::Elements(u64::from(NAMES)));
    g.bench_function("ndb import 10k", |b| {
        b.iter(|| ndb_io::import(black_box(file.as_bytes())).unwrap())
    });
    g.finish();
}

criterion_group!(benches, scorenames);
criterion_main!(benches);
