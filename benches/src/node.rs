//! The nodes the grid benches run against: a data directory as `colony
//! init --node NODE` and `colony adduser alice` make it, and a node with
//! full sessions (a FUSE-mounted fossil, a Linux session and a cpu
//! listener per environment) seeded with the minimal test root, serving
//! the grid over loopback as `colony up` does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use colony_core::colony::{Colony, ColonyConfig};
use colony_core::identity::{self, InitOptions};
use colony_core::rpc::GridServer;
use colony_core::{NodeId, UserName};
use colony_ns::session::{LinuxConfig, testroot};
use tokio::runtime::Runtime;

/// The user the benches act as.
pub const USER: &str = "alice";

/// Makes `dir` the data directory of node `node` with the user [`USER`];
/// returns that user's credential file.
pub fn init(dir: &Path, node: &str) -> PathBuf {
    identity::init(
        dir,
        &InitOptions {
            node_id: Some(NodeId::new(node).unwrap()),
            ..InitOptions::default()
        },
    )
    .unwrap();
    identity::adduser(dir, &UserName::new(USER).unwrap()).unwrap()
}

/// Whether full sessions can run here (root and `/dev/fuse`); says why
/// `bench` is skipped when not.
pub fn sessions_possible(bench: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let fuse = Path::new("/dev/fuse").exists();
    if !(root && fuse) {
        eprintln!(
            "{bench} bench skipped: needs root and /dev/fuse (root: {root}, /dev/fuse: {fuse})"
        );
    }
    root && fuse
}

/// Node `bench` with full sessions, serving the grid on a loopback port;
/// [`USER`] may spawn its seed `clean.bench`.
pub struct SessionNode {
    // On disk (not a tmpfs) as a node's store would be.
    _dir: tempfile::TempDir,
    colony: Arc<Colony>,
    server: GridServer,
    /// [`USER`]'s credential file.
    pub cred: PathBuf,
}

impl SessionNode {
    /// Starts the node; sessions run `helper` (a binary calling
    /// `colony_ns::session::helper_main`).
    pub fn start(rt: &Runtime, helper: &str) -> SessionNode {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let cred = init(dir.path(), "bench");
        // The node's limits file, to measure other settings than the
        // defaults (e.g. `limits network=none`).
        if let Ok(limits) = std::env::var("COLONY_BENCH_LIMITS") {
            std::fs::write(dir.path().join(colony_core::limits::LIMITS_FILE), limits).unwrap();
        }
        let config = ColonyConfig {
            data_dir: dir.path().to_path_buf(),
            cpu_host: "127.0.0.1".into(),
            helper: LinuxConfig::new(helper),
            seed: None,
        };
        let colony = Arc::new(Colony::open(config).unwrap());
        let tree = dir.path().join("seed-tree");
        testroot::build(&tree, testroot::PROGRAMS).unwrap();
        // coreutils' sync, for `grid_sync`.
        testroot::build(&tree, &["sync"]).unwrap();
        let score = testroot::import(colony.store().as_ref(), &tree).unwrap();
        colony.store().sync().unwrap();
        colony
            .seed(&UserName::new("admin").unwrap(), score)
            .unwrap();
        colony.grant_seed(&UserName::new(USER).unwrap()).unwrap();
        let server = rt
            .block_on(GridServer::bind("127.0.0.1:0", colony.clone()))
            .unwrap();
        SessionNode {
            _dir: dir,
            colony,
            server,
            cred,
        }
    }

    /// The grid server's address.
    pub fn addr(&self) -> String {
        self.server.local_addr().to_string()
    }

    /// Stops serving and booms what still runs.
    pub fn stop(self, rt: &Runtime) {
        rt.block_on(async {
            self.server.shutdown().await;
            self.colony.shutdown().await.unwrap();
        });
    }
}
