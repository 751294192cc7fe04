//! The marker file that says "this directory holds colony data": every
//! block store and node data directory has one, so that seeding a root
//! file system (and a person looking around) leaves them out wherever
//! they are.

use std::path::Path;

use crate::{Error, Result};

/// The marker's file name, inside the directory it marks.
pub const DATA_MARKER: &str = ".colony-data";

const TEXT: &str = "This directory holds colony data (block store arenas, names, keys).\n\
Seeding a snapshot from a file system leaves it out.\n";

/// Marks `dir` (which must exist) as colony data, unless it is already.
pub fn mark_data_dir(dir: &Path) -> Result<()> {
    let marker = dir.join(DATA_MARKER);
    if marker.exists() {
        return Ok(());
    }
    crate::private::write_private(&marker, TEXT.as_bytes()).map_err(|source| Error::Io {
        op: "write",
        path: marker,
        offset: None,
        source,
    })
}

/// Whether `dir` is marked as colony data.
pub fn is_data_dir(dir: &Path) -> bool {
    dir.join(DATA_MARKER).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_directory_is_recognised_and_marking_twice_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_data_dir(dir.path()));
        mark_data_dir(dir.path()).unwrap();
        mark_data_dir(dir.path()).unwrap();
        assert!(is_data_dir(dir.path()));
        assert!(mark_data_dir(&dir.path().join("missing")).is_err());
    }
}
