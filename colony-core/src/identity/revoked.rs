//! The revoked-users list: a text file in the data directory, one user
//! name a line. A server refuses any client certificate naming a listed
//! user, whatever its validity dates; the list is followed live
//! ([`Revocations`](super::revocations::Revocations)) and replicated to
//! the grid's other nodes ([`crate::replication::revoked`]).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::user::UserName;

/// The file in a data directory.
pub const REVOKED_FILE: &str = "revoked-users";

/// Reads the list (empty if the file does not exist). A line that is not
/// a user name is an error, not silently skipped.
pub fn load(data_dir: &Path) -> Result<BTreeSet<UserName>> {
    let path = data_dir.join(REVOKED_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    text.lines()
        .filter(|l| !l.is_empty())
        .map(UserName::new)
        .collect()
}

/// Adds `user` to the list (a no-op if already there).
pub fn revoke(data_dir: &Path, user: &UserName) -> Result<()> {
    if load(data_dir)?.contains(user) {
        return Ok(());
    }
    let path = data_dir.join(REVOKED_FILE);
    let mut f = colony_venti::private::private_file()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    writeln!(f, "{user}")
        .and_then(|()| f.sync_all())
        .map_err(Error::io("write", &path))
}
