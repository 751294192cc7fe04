//! Files the node replaces whole: written beside their final name as
//! `.NAME.tmp` (mode 0600), synced, renamed over, and the directory
//! synced, so a crash at any moment leaves the old file or the new one,
//! never a mix. A `.NAME.tmp` a crash left behind is garbage its reader
//! may remove.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Replaces `dir/name` with `bytes`, durably when this returns.
pub(crate) fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = colony_venti::private::private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(Error::io("create", &tmp))?;
    f.write_all(bytes).map_err(Error::io("write", &tmp))?;
    f.sync_all().map_err(Error::io("fsync", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
    sync_dir(dir)
}

/// Makes `dir`'s entries (a rename, a removal) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync", dir))
}
