//! What a sync costs inside a real environment (issue 13 item 7): a node
//! with full sessions (as in `grid_spawn`) spawns the minimal test root
//! for a user, and a shell in it, timing itself with `date +%s%N`:
//!
//! * fsync of a small file: 200 rounds of `echo N > /root/small; sync
//!   /root/small` (each fsync a checkpoint: the changed blocks, a new root,
//!   the store synced and the node's record rewritten), less 200 rounds
//!   with `/bin/true` instead of `sync` (the same fork and exec): the mean
//!   latency of one fsync;
//! * `sync` (sync(2), through the sessions' seccomp supervisor) after
//!   `head -c 100M /dev/urandom > /root/big` (the write timed apart);
//! * `sync` again with nothing changed.
//!
//! `cargo bench -p colony-benches --bench grid_sync`. Needs root and
//! /dev/fuse; prints why it skips otherwise. The store is on disk
//! (`/var/tmp`), so the figures include real fsyncs of its files.

use colony_benches::node::{SessionNode, sessions_possible};
use colony_benches::user::User;
use tokio::runtime::Runtime;

const ROUNDS: u32 = 200;

const SCRIPT: &str = r#"
loop() { i=0; while [ $i -lt ROUNDS ]; do echo $i > /root/small; $1 /root/small; i=$((i+1)); done; }
t0=$(date +%s%N); loop sync; t1=$(date +%s%N); loop /bin/true; t2=$(date +%s%N)
head -c 104857600 /dev/urandom > /root/big; t3=$(date +%s%N)
sync; t4=$(date +%s%N); sync; t5=$(date +%s%N)
echo $((t1-t0)) $((t2-t1)) $((t3-t2)) $((t4-t3)) $((t5-t4))
"#;

fn main() {
    if !sessions_possible("grid_sync") {
        return;
    }
    let rt = Runtime::new().unwrap();
    let node = SessionNode::start(&rt, env!("CARGO_BIN_EXE_bench-session-helper"));
    let mut user = rt.block_on(User::connect(&node.cred, &node.addr()));
    let target = rt.block_on(user.spawn("clean.bench.alice"));
    let script = SCRIPT.replace("ROUNDS", &ROUNDS.to_string());
    let out = rt.block_on(user.output(&target, &script));
    let ns: Vec<f64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    let ms = |n: f64| n / 1e6;
    eprintln!(
        "fsync of a small file: {:.2} ms mean over {ROUNDS} ({:.2} ms a round with fsync, {:.2} ms without)",
        ms(ns[0] - ns[1]) / f64::from(ROUNDS),
        ms(ns[0]) / f64::from(ROUNDS),
        ms(ns[1]) / f64::from(ROUNDS),
    );
    eprintln!(
        "write 100 MiB: {:.0} ms; then sync: {:.0} ms ({:.0} MB/s); sync with nothing changed: {:.1} ms",
        ms(ns[2]),
        ms(ns[3]),
        104.857_6 / (ns[3] / 1e9),
        ms(ns[4]),
    );
    node.stop(&rt);
}
