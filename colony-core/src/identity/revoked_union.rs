//! A peer's revocation lists merged into this node's files (issue 15,
//! one identity). The lists only grow: the union of ours and theirs, as
//! scorenames merge. A file that gains a line is replaced atomically
//! (written aside, synced, renamed over, the directory synced), so a
//! crash leaves the old list or the new one, never half of it; the
//! directory's watcher ([`Revocations`](super::revocations::Revocations))
//! sees the rename and the revocation bites at once.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use super::revocations::{REVOKED_NODES_FILE, Revoked};
use super::revoked::REVOKED_FILE;
use crate::error::{Error, Result};

/// Adds to `data_dir`'s lists what `theirs` has and they lack; returns
/// what was added (empty: no file was written). A list that does not
/// parse is an error and is left as it is.
pub fn union_into(data_dir: &Path, theirs: &Revoked) -> Result<Revoked> {
    loop {
        let before = texts(data_dir)?;
        let ours = Revoked::load(data_dir)?;
        let added = Revoked {
            users: theirs.users.difference(&ours.users).cloned().collect(),
            nodes: theirs.nodes.difference(&ours.nodes).cloned().collect(),
        };
        let mut writes = Vec::new();
        if !added.users.is_empty() {
            writes.push(write_aside(
                data_dir,
                REVOKED_FILE,
                &union(&ours.users, &theirs.users),
            )?);
        }
        if !added.nodes.is_empty() {
            writes.push(write_aside(
                data_dir,
                REVOKED_NODES_FILE,
                &union(&ours.nodes, &theirs.nodes),
            )?);
        }
        // Renaming over a list edited since we read it (an operator's
        // `echo bob >> revoked-users`) would lose that edit: read again.
        if texts(data_dir)? != before {
            for (tmp, _) in writes {
                let _ = std::fs::remove_file(tmp);
            }
            continue;
        }
        for (tmp, path) in &writes {
            std::fs::rename(tmp, path).map_err(Error::io("rename", path))?;
        }
        if !writes.is_empty() {
            crate::durable::sync_dir(data_dir)?;
        }
        return Ok(added);
    }
}

fn union<'a, T: Ord>(a: &'a BTreeSet<T>, b: &'a BTreeSet<T>) -> BTreeSet<&'a T> {
    a.union(b).collect()
}

/// The text of both lists ("" for a missing one).
fn texts(data_dir: &Path) -> Result<[String; 2]> {
    let read = |file: &str| {
        let path = data_dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(Error::io("read", &path)(e)),
        }
    };
    Ok([read(REVOKED_FILE)?, read(REVOKED_NODES_FILE)?])
}

/// Writes `lines`, one a line, to a synced file beside `data_dir/file`
/// (a dot name: the watcher follows only the lists' own names); returns
/// (that file, `data_dir/file`) for the rename.
fn write_aside<T: Display>(
    data_dir: &Path,
    file: &str,
    lines: &BTreeSet<&T>,
) -> Result<(PathBuf, PathBuf)> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let tmp = crate::durable::write_aside(data_dir, file, text.as_bytes())?;
    Ok((tmp, data_dir.join(file)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeId;
    use crate::user::UserName;

    fn lists(users: &[&str], nodes: &[&str]) -> Revoked {
        Revoked {
            users: users.iter().map(|u| UserName::new(u).unwrap()).collect(),
            nodes: nodes.iter().map(|n| NodeId::new(n).unwrap()).collect(),
        }
    }

    #[test]
    fn the_union_grows_only_and_writes_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(REVOKED_FILE), "zed\nbob\n").unwrap();
        let added = union_into(dir.path(), &lists(&["bob", "carol"], &["n9"])).unwrap();
        assert_eq!(added, lists(&["carol"], &["n9"]));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(REVOKED_FILE)).unwrap(),
            "bob\ncarol\nzed\n"
        );
        assert_eq!(
            Revoked::load(dir.path()).unwrap(),
            lists(&["bob", "carol", "zed"], &["n9"])
        );
        // Theirs a subset of ours: nothing written, nothing removed.
        let before = std::fs::metadata(dir.path().join(REVOKED_NODES_FILE))
            .unwrap()
            .modified()
            .unwrap();
        let added = union_into(dir.path(), &lists(&["bob"], &[])).unwrap();
        assert!(added.is_empty());
        assert_eq!(
            std::fs::metadata(dir.path().join(REVOKED_NODES_FILE))
                .unwrap()
                .modified()
                .unwrap(),
            before
        );
        assert_eq!(
            Revoked::load(dir.path()).unwrap(),
            lists(&["bob", "carol", "zed"], &["n9"])
        );
        assert!(!dir.path().join(".revoked-users.tmp").exists());
    }
}
