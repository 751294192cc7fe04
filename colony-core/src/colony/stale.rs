//! Cleaning up after a node (or cpu service) that died: its FUSE mounts
//! under `envs/` (`cpu-envs/`) outlive it, with no server behind them
//! ("Transport endpoint is not connected"), and would make the next spawn
//! of the same name fail on its mount point.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, private_dir};

/// Removes `envs/` leftovers of a node that died: FUSE mounts whose
/// server is gone (detached: a lazy unmount cannot fail on a busy or
/// dead mount), `spawndisk` local stores and mount points. What cannot be
/// removed is reported and left.
pub(crate) fn clear_envs(envs: &Path) -> Result<()> {
    // Mount points go here, mounted so that any id may use them: only a
    // directory that is ours alone keeps other host accounts out.
    private_dir(envs)?;
    for mount in mounts_below(envs)? {
        match nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => tracing::warn!(mount = %mount.display(), "detached a stale mount"),
            Err(e) => tracing::warn!(mount = %mount.display(), "stale mount: {e}"),
        }
    }
    for entry in std::fs::read_dir(envs).map_err(Error::io("read", envs))? {
        let path = entry.map_err(Error::io("read", envs))?.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = removed {
            tracing::warn!(path = %path.display(), "stale environment file: {e}");
        }
    }
    Ok(())
}

/// The mount points strictly below `dir` in this process's mount
/// namespace, deepest first (so each unmount leaves no mount under it).
fn mounts_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let info = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(info).map_err(Error::io("read", info))?;
    let dir = dir.canonicalize().map_err(Error::io("resolve", dir))?;
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(&dir) && *m != dir)
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found.dedup();
    Ok(found)
}

/// A mountinfo field with its octal escapes (`\040` for a space, and tab,
/// newline and backslash likewise) decoded.
fn unescape_mountinfo(field: &str) -> OsString {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            let s = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(s, 8).ok()
        });
        match (b[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo("/a/b"), OsString::from("/a/b"));
        assert_eq!(
            unescape_mountinfo("/d/my\\040env\\011x\\134y"),
            OsString::from("/d/my env\tx\\y")
        );
        // A backslash not followed by three octal digits stays.
        assert_eq!(unescape_mountinfo("/a\\9z\\"), OsString::from("/a\\9z\\"));
    }

    #[test]
    fn nothing_is_mounted_below_a_fresh_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(mounts_below(dir.path()).unwrap(), Vec::<PathBuf>::new());
        // Not below itself: "/" is a mount point, and below nothing.
        assert!(
            !mounts_below(Path::new("/"))
                .unwrap()
                .contains(&PathBuf::from("/"))
        );
    }
}
