//! Host-side modes of colony data: every data directory is 0700 and every
//! file colony creates in one is 0600, so no other local account reads a
//! store's blocks, a node's names or its keys (issue 12). Modes are given
//! at creation (the umask can only narrow them), never set afterwards,
//! so there is no window in which a file is readable by others.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Mode of every directory colony creates for data.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of every file colony creates in a data directory.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// `OpenOptions` that create a file with mode 0600; the caller adds the
/// access and creation flags. An existing file keeps its mode.
pub fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(PRIVATE_FILE_MODE);
    options
}

/// Writes `bytes` to `path` like `std::fs::write` (creating or truncating
/// it), creating a missing file with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?
        .write_all(bytes)
}

/// Makes `dir` a private data directory: creates it with mode 0700 (its
/// missing parents with the default mode: they are not colony's), or, if
/// it exists and group or others have any permission on it, tightens it
/// to 0700 and logs that, so a directory made by an earlier version
/// (0755) stops exposing its files on the next open.
pub fn private_dir(dir: &Path) -> Result<()> {
    let io = |op: &'static str| {
        move |source| Error::Io {
            op,
            path: dir.to_path_buf(),
            offset: None,
            source,
        }
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("create"))?;
    }
    let exists = match DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => e,
        Err(e) => return Err(io("create")(e)),
    };
    let meta = std::fs::metadata(dir).map_err(io("stat"))?;
    if !meta.is_dir() {
        return Err(io("create")(exists));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))
            .map_err(io("chmod"))?;
        tracing::info!(
            dir = %dir.display(),
            "data directory was mode {:o}; tightened to {PRIVATE_DIR_MODE:o}",
            mode & 0o7777
        );
    }
    Ok(())
}

/// Every path under `top` (itself included, symbolic links not followed)
/// that is not as colony makes its data: a directory other than 0700 or a
/// file other than 0600, with its permission bits. An audit: empty when
/// no other account can read anything there.
pub fn not_private(top: &Path) -> std::io::Result<Vec<(PathBuf, u32)>> {
    let meta = std::fs::symlink_metadata(top)?;
    let mode = meta.permissions().mode() & 0o7777;
    let want = if meta.is_dir() {
        PRIVATE_DIR_MODE
    } else {
        PRIVATE_FILE_MODE
    };
    let mut out = Vec::new();
    if mode != want {
        out.push((top.to_path_buf(), mode));
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(top)? {
            out.extend(not_private(&entry?.path())?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn new_directories_and_files_are_private() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("a/data");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("f");
        write_private(&file, b"x").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }

    #[test]
    fn a_loose_existing_directory_is_tightened_and_a_private_one_kept() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("old"), b"kept").unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(std::fs::read(dir.join("old")).unwrap(), b"kept");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let top = tempfile::tempdir().unwrap();
        let file = top.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let before = mode(&file);
        assert!(matches!(
            private_dir(&file),
            Err(Error::Io { op: "create", .. })
        ));
        assert_eq!(
            mode(&file),
            before,
            "a file is never chmodded as a directory"
        );
        assert!(matches!(
            private_dir(&file.join("below")),
            Err(Error::Io { op: "create", .. })
        ));
    }
}
