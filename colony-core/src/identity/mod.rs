//! Identity is a certificate: the grid's private CA, node and user
//! credentials, and the mutual-TLS configurations built from them
//! (rustls with the ring provider; certificates made with rcgen).
//!
//! A data directory after [`init`]:
//!
//! ```text
//! node-id              the node id (see crate::node)
//! ca/ca.crt, ca.key    the grid CA
//! node.cred            the node's credential (CN = node id)
//!                      (a node made by init_join has ca/ca.crt only)
//! users/NAME.cred      one credential per user, mode 0600
//! revoked-users        revoked user names, one a line (optional)
//! revoked-nodes        revoked node ids, one a line (optional)
//! ```
//!
//! The directory and those in it are mode 0700, every file 0600 (given
//! at creation): holding a credential file is being its user.
//!
//! A certificate's common name is the identity and its organisational
//! unit says whether that is a user or a node ([`Identity`]). User names
//! follow [`UserName`]'s grammar (`[a-z0-9_-]`, 1 to 32, exact match).
//! There are no passwords: holding a credential file is being the user.

mod ca;
mod credential;
mod join;
mod peer;
pub mod revocations;
pub mod revoked;
pub mod revoked_union;
mod tls;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result, private_dir};
use crate::node::{NODE_ID_FILE, NodeId};
use crate::user::UserName;

pub use ca::{CA_CERT, CA_KEY, Ca, Validity};
pub use credential::Credential;
pub use join::{JoinFile, init_join, node_add, verify_node};
pub use peer::{Identity, NODE_UNIT, USER_UNIT};
pub use tls::{client_config, provider, server_config};

/// The node's credential file in a data directory.
pub const NODE_CRED: &str = "node.cred";
/// The folder of user credential files in a data directory.
pub const USERS_DIR: &str = "users";

/// Choices for [`init`].
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The node id; a random one when `None`.
    pub node_id: Option<NodeId>,
    /// Host names and addresses the node certificate is valid for, beside
    /// the node id, `localhost`, 127.0.0.1 and ::1.
    pub hostnames: Vec<String>,
    /// The first user, who administers the grid.
    pub admin: UserName,
}

impl Default for InitOptions {
    fn default() -> InitOptions {
        InitOptions {
            node_id: None,
            hostnames: Vec::new(),
            admin: UserName::new("admin").expect("valid user name"),
        }
    }
}

/// What [`init`] made.
#[derive(Clone, Debug)]
pub struct Initialised {
    /// The new node's id.
    pub node: NodeId,
    /// The admin user's credential file.
    pub admin_credential: PathBuf,
}

/// Sets up a new grid in `data_dir` (created if missing): node id, CA,
/// the node's credential (valid 10 years) and the admin's (1 year).
/// Refuses a directory that already has a node id.
pub fn init(data_dir: &Path, options: &InitOptions) -> Result<Initialised> {
    start_data_dir(data_dir)?;
    let node = match &options.node_id {
        Some(id) => id.clone(),
        None => NodeId::generate()?,
    };
    let ca = Ca::create(data_dir, &node)?;
    ca.issue_node(&node, &options.hostnames, Validity::days(10 * 365))?
        .create(&data_dir.join(NODE_CRED))?;
    let admin_credential = adduser(data_dir, &options.admin)?;
    // Written last: its presence means the directory is complete.
    node.store(data_dir)?;
    Ok(Initialised {
        node,
        admin_credential,
    })
}

/// Creates `data_dir` and its users folder, private and marked as colony
/// data; refuses a directory that already has a node id.
pub(crate) fn start_data_dir(data_dir: &Path) -> Result<()> {
    if data_dir.join(NODE_ID_FILE).exists() {
        return Err(Error::AlreadyInitialised(data_dir.to_path_buf()));
    }
    // Private: the CA key and every credential live here (issue 12).
    for dir in [data_dir.to_path_buf(), data_dir.join(USERS_DIR)] {
        private_dir(&dir)?;
    }
    colony_venti::mark_data_dir(data_dir).map_err(Error::data_dir(data_dir))
}

/// Issues a credential for `user`, valid for a year, and writes it to
/// `data_dir/users/NAME.cred` (mode 0600). Returns that path.
pub fn adduser(data_dir: &Path, user: &UserName) -> Result<PathBuf> {
    adduser_valid(data_dir, user, Validity::days(365))
}

/// [`adduser`] with an explicit validity period.
pub fn adduser_valid(data_dir: &Path, user: &UserName, validity: Validity) -> Result<PathBuf> {
    let path = user_credential(data_dir, user);
    if path.exists() {
        return Err(Error::UserExists(user.to_string()));
    }
    Ca::load(data_dir)?
        .issue_user(user, validity)?
        .create(&path)
}

/// Where `user`'s credential file is kept.
pub fn user_credential(data_dir: &Path, user: &UserName) -> PathBuf {
    data_dir.join(USERS_DIR).join(format!("{user}.cred"))
}

/// Writes a new file with `mode`, refusing to replace one.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(Error::io("create", path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(Error::io("write", path))?;
    Ok(path.to_path_buf())
}
