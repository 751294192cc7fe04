//! Setup the integration tests share: a user's name and a node's data
//! directory with its users.

use colony_core::identity::{self, InitOptions};
use colony_core::{NodeId, UserName};

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
