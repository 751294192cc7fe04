//! [`Cursor`]: how far this node has pulled from one peer, persisted as
//! `replication/<node-id>.cursor` in the data directory.
//!
//! The file is one line, `LOG NAMES`: the peer's log position and the
//! number of its next record. It is written (to a temporary file, synced,
//! renamed over, the directory synced) only after the blocks and names up
//! to it are durable here, so a crash at any moment resumes from a cursor
//! whose data is all here; what is pulled again is written again, which
//! changes nothing.

use std::path::{Path, PathBuf};

use colony_venti::arena::LogPos;

use crate::error::{Error, Result};
use crate::node::NodeId;

/// The folder of cursors (and the status file) in a data directory.
pub const REPLICATION_DIR: &str = "replication";

/// A position in a peer's log and in its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The peer's log position pulled up to.
    pub log: LogPos,
    /// The number of the peer's next record to pull.
    pub names: u64,
}

/// Where the cursor for `peer` is kept.
pub fn cursor_path(data_dir: &Path, peer: &NodeId) -> PathBuf {
    data_dir
        .join(REPLICATION_DIR)
        .join(format!("{peer}.cursor"))
}

impl Cursor {
    /// The cursor saved for `peer`, or the start if none was.
    pub fn load(data_dir: &Path, peer: &NodeId) -> Result<Cursor> {
        let path = cursor_path(data_dir, peer);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cursor::default()),
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        let bad = || Error::BadCursor {
            path: path.clone(),
            text: text.clone(),
        };
        let mut words = text.split_whitespace();
        let (Some(log), Some(names), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad());
        };
        Ok(Cursor {
            log: log.parse().map_err(|_| bad())?,
            names: names.parse().map_err(|_| bad())?,
        })
    }

    /// Saves the cursor for `peer`, durably and atomically.
    pub fn store(&self, data_dir: &Path, peer: &NodeId) -> Result<()> {
        let dir = data_dir.join(REPLICATION_DIR);
        crate::error::private_dir(&dir)?;
        let text = format!("{} {}\n", self.log, self.names);
        crate::durable::replace_file(&dir, &format!("{peer}.cursor"), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let peer = NodeId::new("n2").unwrap();
        assert_eq!(Cursor::load(dir.path(), &peer).unwrap(), Cursor::default());
        let c = Cursor {
            log: (3 << 32) | 4096,
            names: 17,
        };
        c.store(dir.path(), &peer).unwrap();
        assert_eq!(Cursor::load(dir.path(), &peer).unwrap(), c);
        let moved = Cursor { log: 5, names: 18 };
        moved.store(dir.path(), &peer).unwrap();
        assert_eq!(Cursor::load(dir.path(), &peer).unwrap(), moved);
        // Only the cursor is left in the folder, no temporary file.
        let files: Vec<_> = std::fs::read_dir(dir.path().join(REPLICATION_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, vec!["n2.cursor"]);
        for bad in ["", "1", "1 2 3", "x 2", "1 -2"] {
            std::fs::write(cursor_path(dir.path(), &peer), bad).unwrap();
            assert!(
                matches!(
                    Cursor::load(dir.path(), &peer),
                    Err(Error::BadCursor { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
