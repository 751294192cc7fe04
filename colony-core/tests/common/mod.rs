//! Setup the integration tests share: a user's name, a node's data
//! directory with its users, and the node opened with bare environments.

use std::path::Path;
use std::sync::Arc;

use colony_core::colony::{BareRuntime, Colony, ColonyConfig};
use colony_core::identity::{self, InitOptions};
use colony_core::{NodeId, UserName};
use colony_ns::session::LinuxConfig;

/// `name` as a user name.
pub fn user(name: &str) -> UserName {
    UserName::new(name).unwrap()
}

/// A new grid's node `n1` in a fresh data directory: its admin `admin`
/// and credentials for `users`.
pub fn node(users: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        node_id: Some(NodeId::new("n1").unwrap()),
        ..InitOptions::default()
    };
    identity::init(dir.path(), &options).unwrap();
    for u in users {
        identity::adduser(dir.path(), &user(u)).unwrap();
    }
    dir
}

/// The node initialised in `dir`, opened with bare environments (live
/// fossils, no sessions: its session helper is never run).
#[allow(dead_code, reason = "colony.rs and split.rs open no bare node")]
pub fn bare(dir: &Path) -> Arc<Colony<BareRuntime>> {
    let config = ColonyConfig {
        data_dir: dir.to_path_buf(),
        cpu_host: "127.0.0.1".into(),
        helper: LinuxConfig::new("/nonexistent/colony-session-helper"),
        seed: None,
    };
    Arc::new(Colony::with_runtime(config, BareRuntime).unwrap())
}
