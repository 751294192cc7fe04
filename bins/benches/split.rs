//! Issue 6's figures through a node split in two processes, the real
//! `colony-cpu` and `colony-sto --seed` (the minimal test root) binaries
//! on one data directory over loopback (which is why this bench lives in
//! this package: benches only find their own package's binaries):
//!
//! - `spawn` to shell prompt: colony-sto has colony-cpu root a session in
//!   the environment's fossil over 9P on mutual TLS; the user opens its
//!   shell on a terminal through its cpu listener and waits for the
//!   prompt (boom untimed), as `grid_spawn` does against one process.
//! - `save` of 10 MB changed: the user writes 10 MB of fresh bytes into
//!   the environment (FUSE on the cpu, 9P over TLS to the fossil on the
//!   storage node; untimed), then saves it under a new name, as
//!   `grid_save` does against one process.
//!
//! Each prints the median and worst of 20 before criterion measures it.
//! `cargo bench -p colony-bins --bench split`. Needs root and /dev/fuse;
//! prints why it skips otherwise.

use colony_benches::figures;
use colony_benches::node::{self, sessions_possible};
use colony_benches::user::User;
use colony_ns::session::testroot;
use criterion::Criterion;
use tokio::runtime::Runtime;

#[path = "../tests/support/mod.rs"]
mod support;
use support::grid::stop;
use support::split::Split;

const ENV: &str = "clean.bench.alice";

fn main() {
    if !sessions_possible("split") {
        return;
    }
    // On disk (not a tmpfs) as a node's store would be.
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let seed = tmp.path().join("seed");
    testroot::build(&seed, testroot::PROGRAMS).unwrap();
    let data = tmp.path().join("node");
    let cred = node::init(&data, "bench");
    let split = Split::new(data);
    let cpu = split.start_cpu();
    let (sto, _) = split.start_sto(Some(&seed));

    let rt = Runtime::new().unwrap();
    let mut user = rt.block_on(User::connect(&cred, &split.grid.addr));
    let mut c = Criterion::default().configure_from_args();
    figures::spawn_to_prompt(&mut c, "split", &rt, &mut user, ENV);
    figures::save_changed(&mut c, "split", &rt, &mut user, ENV);
    c.final_summary();
    drop(user);
    stop(sto);
    stop(cpu);
}
