//! `spawn` to shell prompt through the grid (issue 6: target < 200 ms
//! median): a GridClient asks a node with full sessions (a FUSE-mounted
//! fossil of the minimal test root, a Linux session, a cpu listener, all
//! in this process as `colony up` runs them) to spawn, then opens the
//! environment's shell on a terminal through the cpu client, as `gridorc
//! spawn NAME` followed by `gridorc attach NAME` does, and waits for the
//! `# ` prompt. Boom is not timed. Before criterion runs, it prints the
//! median and worst of 20.
//!
//! `cargo bench -p colony-benches --bench grid_spawn`. Needs root and
//! /dev/fuse; prints why it skips otherwise. The same through a node split
//! in colony-sto and colony-cpu: `cargo bench -p colony-bins --bench split`.

use colony_benches::figures;
use colony_benches::node::{SessionNode, sessions_possible};
use colony_benches::user::User;
use criterion::Criterion;
use tokio::runtime::Runtime;

fn main() {
    if !sessions_possible("grid_spawn") {
        return;
    }
    let rt = Runtime::new().unwrap();
    let node = SessionNode::start(&rt, env!("CARGO_BIN_EXE_bench-session-helper"));
    let mut user = rt.block_on(User::connect(&node.cred, &node.addr()));
    let mut c = Criterion::default().configure_from_args();
    figures::spawn_to_prompt(&mut c, "grid", &rt, &mut user, "clean.bench.alice");
    c.final_summary();
    node.stop(&rt);
}
