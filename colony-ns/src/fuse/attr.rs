//! Node ids to FUSE inode numbers, and [`Meta`] to what `stat` shows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo};

use crate::fs::{Meta, NodeId, Special};
use crate::fuse::ids::IdMap;
use crate::ninep::{DMDIR, DMNAMEDPIPE, DMSETGID, DMSETUID, DMSETVTX, DMSYMLINK};

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

/// The kind of file a node is.
pub(crate) fn kind(meta: &Meta) -> FileType {
    match meta.special {
        Some(Special::Socket) => FileType::Socket,
        Some(Special::CharDevice(_)) => FileType::CharDevice,
        Some(Special::BlockDevice(_)) => FileType::BlockDevice,
        None if meta.mode & DMDIR != 0 => FileType::Directory,
        None if meta.mode & DMSYMLINK != 0 => FileType::Symlink,
        None if meta.mode & DMNAMEDPIPE != 0 => FileType::NamedPipe,
        None => FileType::RegularFile,
    }
}

fn time(secs: u32, nsec: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs.into(), nsec)
}

/// A device number as the file system keeps it (glibc's `dev_t`) from the
/// kernel's 32-bit FUSE encoding (`new_encode_dev`).
pub(crate) fn rdev_from_fuse(rdev: u32) -> u64 {
    let major = (rdev & 0xfff00) >> 8;
    let minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    nix::sys::stat::makedev(major.into(), minor.into())
}

/// A device number in the kernel's 32-bit FUSE encoding; numbers beyond
/// it (majors over 4095, minors over 2^20) show as 0.
pub(crate) fn rdev_to_fuse(rdev: u64) -> u32 {
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    if major > 0xfff || minor > 0xfffff {
        return 0;
    }
    ((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)) as u32
}

/// What `stat` shows for a node: the numeric owner where the file system
/// records one, else the owner's name mapped by `ids`. Directories show
/// one link (as btrfs does; tools read it as "count unknown"): counting
/// subdirectories would cost a directory scan per stat.
pub(crate) fn file_attr(meta: &Meta, inodes: &Inodes, ids: &IdMap) -> Result<FileAttr, Errno> {
    let mtime = time(meta.mtime, meta.nsec.mtime);
    let rdev = match meta.special {
        Some(Special::CharDevice(r) | Special::BlockDevice(r)) => rdev_to_fuse(r),
        _ => 0,
    };
    Ok(FileAttr {
        ino: inodes.ino(meta.node())?,
        size: meta.length,
        // What the file stores: holes cost nothing, as on tmpfs or ext4.
        blocks: meta.stored.unwrap_or(meta.length).div_ceil(512),
        atime: time(meta.atime, meta.nsec.atime),
        mtime,
        ctime: time(meta.ctime, meta.nsec.ctime),
        crtime: mtime,
        kind: kind(meta),
        perm: unix_perm(meta.mode),
        nlink: meta.nlink.max(1),
        uid: ids.uid_of(meta),
        gid: ids.gid_of(meta),
        rdev,
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
    fn device_numbers_round_trip_through_the_fuse_encoding() {
        use nix::sys::stat::makedev;
        for (major, minor) in [(1, 3), (8, 0), (4095, 0xfffff), (0, 0), (259, 65536)] {
            let dev = makedev(major, minor);
            assert_eq!(rdev_from_fuse(rdev_to_fuse(dev)), dev, "{major}:{minor}");
        }
        // /dev/null is 1:3, encoded 0x103 by the kernel.
        assert_eq!(rdev_to_fuse(makedev(1, 3)), 0x103);
        assert_eq!(rdev_to_fuse(makedev(4096, 0)), 0);
    }
}
