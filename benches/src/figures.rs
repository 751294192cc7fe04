//! Issue 6's figures for a user at a node with full sessions: `spawn` to
//! shell prompt, and `save` of an environment that changed 10 MB. Each is
//! first printed as the median and worst of [`RUNS`] runs, then measured
//! by criterion.

use std::time::Duration;

use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;

use crate::random_block;
use crate::user::User;

/// Runs behind each printed median and worst.
pub const RUNS: usize = 20;

/// Bytes an environment changes before each save.
pub const CHANGED: usize = 10 << 20;

/// Prints the median and worst of `times` for `what`, with the rate when
/// each moved `bytes`.
pub fn print(what: &str, mut times: Vec<Duration>, bytes: Option<usize>) {
    times.sort();
    let (median, worst) = (times[times.len() / 2], times[times.len() - 1]);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let rate = bytes
        .map(|b| {
            format!(
                " ({:.1} MB/s at the median)",
                b as f64 / 1e6 / median.as_secs_f64()
            )
        })
        .unwrap_or_default();
    eprintln!(
        "{what}, {} runs: median {:.1} ms, worst {:.1} ms{rate}",
        times.len(),
        ms(median),
        ms(worst)
    );
}

/// `spawn` of `env` to its shell prompt (boom untimed), in criterion
/// group `group`.
pub fn spawn_to_prompt(c: &mut Criterion, group: &str, rt: &Runtime, user: &mut User, env: &str) {
    let times = (0..RUNS)
        .map(|_| rt.block_on(user.spawn_to_prompt(env)))
        .collect();
    print(&format!("{group}: spawn to shell prompt"), times, None);
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.bench_function("spawn to shell prompt", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(user.spawn_to_prompt(env)))
                .sum()
        })
    });
    g.finish();
}

/// `save` of `env` after [`CHANGED`] fresh bytes were written into it
/// through its cpu listener (the write is not timed), in criterion group
/// `group`. Every save has new bytes over the whole file, so all of it is
/// dirty and none of it is in the store yet, and mints a new name.
pub fn save_changed(c: &mut Criterion, group: &str, rt: &Runtime, user: &mut User, env: &str) {
    let target = rt.block_on(user.spawn(env));
    let mut round = 0u64;
    let mut change_and_save = || {
        round += 1;
        rt.block_on(async {
            user.write(&target, "/root/big", random_block(round, CHANGED))
                .await;
            user.save(env, &format!("s{round}")).await
        })
    };
    let times = (0..RUNS).map(|_| change_and_save()).collect();
    print(
        &format!("{group}: save of 10 MB changed"),
        times,
        Some(CHANGED),
    );
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.throughput(Throughput::Bytes(CHANGED as u64));
    g.bench_function("save (10 MB changed)", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| change_and_save()).sum())
    });
    g.finish();
    rt.block_on(user.client.boom(env)).unwrap();
}
