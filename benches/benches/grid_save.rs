//! `save` of a real environment that changed 10 MB (issue 6): a node with
//! full sessions (as in `grid_spawn`) spawns the minimal test root for a
//! user, who writes 10 MB of fresh pseudo-random bytes over `/root/big`
//! through the environment's cpu listener (`cat > /root/big`, untimed:
//! the bytes go through the session's FUSE mount into its live fossil),
//! then saves it over the grid RPC under a new name. Timed is the save
//! RPC: the FUSE flush, the fossil snapshot, the store sync and the name
//! minted. Before criterion runs, it prints the median and worst of 20
//! saves and the rate at the median.
//!
//! `cargo bench -p colony-benches --bench grid_save`. Needs root and
//! /dev/fuse; prints why it skips otherwise. `grid` measures the same save
//! of a bare fossil (no FUSE, no session); `cargo bench -p colony-bins
//! --bench split` measures it through a node split in colony-sto and
//! colony-cpu (writes go over 9P to the storage node).

use colony_benches::figures;
use colony_benches::node::{SessionNode, sessions_possible};
use colony_benches::user::User;
use criterion::Criterion;
use tokio::runtime::Runtime;

fn main() {
    if !sessions_possible("grid_save") {
        return;
    }
    let rt = Runtime::new().unwrap();
    let node = SessionNode::start(&rt, env!("CARGO_BIN_EXE_bench-session-helper"));
    let mut user = rt.block_on(User::connect(&node.cred, &node.addr()));
    let mut c = Criterion::default().configure_from_args();
    figures::save_changed(&mut c, "grid_session", &rt, &mut user, "clean.bench.alice");
    c.final_summary();
    node.stop(&rt);
}
