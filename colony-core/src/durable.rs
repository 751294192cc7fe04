//! Files the node replaces whole: written beside their final name as
//! `.NAME.tmp` (mode 0600), synced, renamed over, and the directory
//! synced, so a crash at any moment leaves the old file or the new one,
//! never a mix. A `.NAME.tmp` a crash left behind is garbage its reader
//! may remove.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Replaces `dir/name` with `bytes`, durably when this returns.
pub(crate) fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = write_aside(dir, name, bytes)?;
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
    sync_dir(dir)
}

/// Writes `bytes` to `dir/.name.tmp`, synced, and returns that path: the
/// first half of [`replace_file`], for callers that check something
/// before they rename.
pub(crate) fn write_aside(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = colony_venti::private::private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(Error::io("create", &tmp))?;
    f.write_all(bytes).map_err(Error::io("write", &tmp))?;
    f.sync_all().map_err(Error::io("fsync", &tmp))?;
    Ok(tmp)
}

/// Makes `dir`'s entries (a rename, a removal) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync", dir))
}
