//! Node ids to FUSE inode numbers, and [`Meta`] to what `stat` shows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo};

use crate::fs::{Meta, NodeId};
use crate::fuse::ids::IdMap;
use crate::ninep::{DMDIR, DMSETGID, DMSETUID, DMSETVTX, DMSYMLINK};

/// `st_blksize`: large, so `cp`, `tar` and stdio move big chunks per call.
const BLKSIZE: u32 = 128 * 1024;

/// FUSE numbers the root inode 1; the file system's root may be any node.
/// Shifting every node id by the same amount is a bijection that needs no
/// table: node ids are unique for the file system's life, so an inode
/// number never comes to mean another file and FORGET has nothing to free.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inodes {
    root: NodeId,
}

impl Inodes {
    pub(crate) fn new(root: NodeId) -> Self {
        Inodes { root }
    }

    /// The inode of a node; EOVERFLOW for the one node that would be inode
    /// 0 (which FUSE reserves).
    pub(crate) fn ino(&self, node: NodeId) -> Result<INodeNo, Errno> {
        match node.wrapping_sub(self.root).wrapping_add(1) {
            0 => Err(Errno::from_i32(nix::errno::Errno::EOVERFLOW as i32)),
            ino => Ok(INodeNo(ino)),
        }
    }

    /// The node of an inode.
    pub(crate) fn node(&self, ino: INodeNo) -> NodeId {
        ino.0.wrapping_sub(1).wrapping_add(self.root)
    }
}

/// The Unix permission bits (with set-id and sticky) of a mode word.
pub(crate) fn unix_perm(mode: u32) -> u16 {
    let mut p = mode & 0o777;
    for (dm, unix) in SPECIAL {
        if mode & dm != 0 {
            p |= unix;
        }
    }
    p as u16
}

/// A mode word's permission part for Unix permission bits.
pub(crate) fn dm_perm(perm: u32) -> u32 {
    let mut m = perm & 0o777;
    for (dm, unix) in SPECIAL {
        if perm & unix != 0 {
            m |= dm;
        }
    }
    m
}

/// All the bits [`dm_perm`] produces: what chmod replaces.
pub(crate) const PERM_BITS: u32 = 0o777 | DMSETUID | DMSETGID | DMSETVTX;

const SPECIAL: [(u32, u32); 3] = [(DMSETUID, 0o4000), (DMSETGID, 0o2000), (DMSETVTX, 0o1000)];

/// The kind of file a mode word describes.
pub(crate) fn kind(mode: u32) -> FileType {
    if mode & DMDIR != 0 {
        FileType::Directory
    } else if mode & DMSYMLINK != 0 {
        FileType::Symlink
    } else {
        FileType::RegularFile
    }
}

fn time(secs: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.into())
}

/// What `stat` shows for a node. The file system keeps no change time, so
/// ctime is mtime. Directories show one link (as btrfs does; tools read it
/// as "count unknown"): counting subdirectories would cost a directory scan
/// per stat.
pub(crate) fn file_attr(meta: &Meta, inodes: &Inodes, ids: &IdMap) -> Result<FileAttr, Errno> {
    let mtime = time(meta.mtime);
    Ok(FileAttr {
        ino: inodes.ino(meta.node())?,
        size: meta.length,
        blocks: meta.length.div_ceil(512),
        atime: time(meta.atime),
        mtime,
        ctime: mtime,
        crtime: mtime,
        kind: kind(meta.mode),
        perm: unix_perm(meta.mode),
        nlink: 1,
        uid: ids.uid(&meta.uid),
        gid: ids.gid(&meta.gid),
        rdev: 0,
        blksize: BLKSIZE,
        flags: 0,
    })
}

/// The attributes of a negative entry (inode 0): only the inode counts.
pub(crate) fn negative_entry() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: BLKSIZE,
        flags: 0,
    }
}

/// The attributes of inode `ino` once its node is gone: no links left.
pub(crate) fn gone(ino: INodeNo) -> FileAttr {
    FileAttr {
        ino,
        ..negative_entry()
    }
}

/// Seconds since the epoch as the file system stores them: clamped to
/// 1970..2106, the range of its 32-bit times (as ext4 clamps to its own).
pub(crate) fn secs(t: SystemTime) -> u32 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_mapping_is_a_bijection_rooted_at_one() {
        for root in [0, 7, u64::MAX] {
            let m = Inodes::new(root);
            assert_eq!(m.ino(root).unwrap(), INodeNo(1));
            for node in [0, 1, 2, 1000, u64::MAX - 1] {
                if let Ok(ino) = m.ino(node) {
                    assert_eq!(m.node(ino), node);
                }
            }
            assert!(m.ino(root.wrapping_sub(1)).is_err());
        }
    }

    #[test]
    fn permission_bits_round_trip() {
        for perm in [0o644, 0o4755, 0o2750, 0o1777, 0o7000, 0] {
            assert_eq!(u32::from(unix_perm(dm_perm(perm))), perm);
        }
        assert_eq!(dm_perm(0o4755), DMSETUID | 0o755);
        assert_eq!(unix_perm(DMDIR | DMSETVTX | 0o777), 0o1777);
    }

    #[test]
    fn times_clamp_to_32_bits() {
        assert_eq!(secs(UNIX_EPOCH + Duration::from_secs(5)), 5);
        assert_eq!(secs(UNIX_EPOCH - Duration::from_secs(5)), 0);
        assert_eq!(secs(UNIX_EPOCH + Duration::from_secs(1 << 40)), u32::MAX);
    }
}
