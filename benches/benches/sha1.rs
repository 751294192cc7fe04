//! The machine's SHA-1 speed on one core: the ceiling for anything that
//! hashes every block.
use colony_benches::random_block;
use colony_venti::Score;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn sha1(c: &mut Criterion) {
    let block = random_block(1, 8192);
    let mut g = c.benchmark_group("sha1");
    g.throughput(Throughput::Bytes(block.len() as u64));
    g.bench_function("8KiB", |b| b.iter(|| Score::of(black_box(&block))));
    g.finish();
}

criterion_group!(benches, sha1);
criterion_main!(benches);
