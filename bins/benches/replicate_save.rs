//! Issue 15's figures for a grid of three real `colony up` nodes in a
//! full mesh on loopback ports (made as an operator makes them: `colony
//! init`, `colony node add`, `colony init --join`, `--peer`):
//!
//! - save to spawnable elsewhere: alice writes 20 MB of fresh bytes into
//!   her environment on n1 (through its cpu listener, untimed) and saves
//!   it; timed from the start of the save RPC until the new name is in her
//!   `scores` on n2, and on n3 (each polled over one grid connection, every
//!   millisecond). A name is listed on a node only once every block it
//!   reaches is there, so listed is spawnable. The save alone is printed
//!   beside them.
//! - memory: the peak resident set (VmHWM) of each node's process after
//!   the runs; n2 and n3 run no environment and replicate to and from two
//!   peers each.
//!
//! Afterwards alice spawns the last name on n3 and checks the file's bytes
//! there (untimed). `cargo bench -p colony-bins --bench replicate_save`.
//! Needs root and /dev/fuse; prints why it skips otherwise.

use std::time::{Duration, Instant};

use colony_benches::figures::print;
use colony_benches::node::sessions_possible;
use colony_benches::random_block;
use colony_benches::user::User;
use colony_core::rpc::GridClient;
use colony_ns::session::testroot;
use tokio::runtime::Runtime;

#[path = "../tests/support/mod.rs"]
mod support;
use support::nodes::{MESH, Node, alice_at, grid, start_all};

/// Saves behind each printed median.
const RUNS: usize = 10;
/// Bytes the environment changes before each save.
const CHANGED: usize = 20 << 20;
/// alice's environment on n1.
const ENV: &str = "clean.n1.alice";

/// Polls `scores` at `client` until `name` is listed; returns when.
async fn listed(client: &mut GridClient, name: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let names = client.scores(Some(name)).await.unwrap();
        if names.iter().any(|n| n.name == name) {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{name} never arrived");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The process's peak resident set, in MiB.
fn peak_mib(node: &Node) -> f64 {
    let pid = node.up.as_ref().expect("running").0.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb / 1024.0
}

fn main() {
    if !sessions_possible("replicate_save") {
        return;
    }
    // On disk (not a tmpfs) as a node's store would be.
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let (mut nodes, seed) = grid(tmp.path(), 2);
    // cksum, to check the bytes on n3.
    testroot::build(&seed, &["cksum"]).unwrap();
    start_all(&mut nodes, &seed, &MESH);
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let cred = alice_at(&nodes[0], &nodes[0]).cred("alice");
    let rt = Runtime::new().unwrap();
    let mut user = rt.block_on(User::connect(&cred, &addrs[0]));
    let mut n2 = rt.block_on(GridClient::connect(&cred, &addrs[1])).unwrap();
    let mut n3 = rt.block_on(GridClient::connect(&cred, &addrs[2])).unwrap();
    let target = rt.block_on(user.spawn(ENV));

    let (mut saves, mut at_n2, mut at_n3) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = (String::new(), Vec::new());
    for run in 0..RUNS {
        let bytes = random_block(run as u64 + 1, CHANGED);
        rt.block_on(async {
            user.write(&target, "/root/big", bytes.clone()).await;
            let start = Instant::now();
            let name = user
                .client
                .save(ENV, &format!("s{run}"))
                .await
                .unwrap()
                .name;
            saves.push(start.elapsed());
            let (t2, t3) = tokio::join!(listed(&mut n2, &name), listed(&mut n3, &name));
            at_n2.push(t2 - start);
            at_n3.push(t3 - start);
            last = (name, bytes);
        });
    }
    print("save of 20 MB changed on n1", saves, Some(CHANGED));
    print("save on n1 to listed (spawnable) on n2", at_n2, None);
    print("save on n1 to listed (spawnable) on n3", at_n3, None);
    for (i, node) in nodes.iter().enumerate() {
        eprintln!(
            "n{} peak resident set: {:.1} MiB{}",
            i + 1,
            peak_mib(node),
            if i == 0 {
                " (runs alice's environment)"
            } else {
                ""
            }
        );
    }

    // Spawnable indeed: the last name, on n3, holds the bytes written.
    let (name, bytes) = last;
    let mut at_n3 = rt.block_on(User::connect(&cred, &addrs[2]));
    let there = rt.block_on(at_n3.spawn(&name));
    let sum = rt.block_on(at_n3.output(&there, "cksum < /root/big"));
    let want = {
        let check = tmp.path().join("big");
        std::fs::write(&check, &bytes).unwrap();
        let out = std::process::Command::new("cksum")
            .stdin(std::fs::File::open(&check).unwrap())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        sum, want,
        "{name} on n3 differs from what was written on n1"
    );
    drop((user, at_n3, n2, n3));
    for node in &mut nodes {
        node.stop();
    }
}
