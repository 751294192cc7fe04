//! Holes and space through FUSE: lseek's SEEK_DATA and SEEK_HOLE (the
//! kernel answers the other whences itself), fallocate, and statfs, each
//! in terms of the [`FileSystem`](crate::FileSystem) trait.

use fuser::{Errno, INodeNo, ReplyStatfs, Request};
use nix::fcntl::FallocateFlags as F;
use nix::unistd::Whence;

use crate::fs::{Allocate, Seek};
use crate::fuse::adapter::Adapter;
use crate::fuse::names::NAME_MAX;

/// The unit statfs counts blocks in.
const STATFS_BLOCK: u64 = 4096;

/// What statfs reports of a file system that cannot say (a 9P2000 client:
/// the protocol has no statfs): 1 TiB, all free, as sshfs reports a server
/// without its statvfs extension, so programs that check for free space
/// before writing (apt) still work.
const UNKNOWN_SIZE: u64 = 1 << 40;

/// fallocate's `mode` as an [`Allocate`]: plain, FALLOC_FL_KEEP_SIZE,
/// FALLOC_FL_PUNCH_HOLE with FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE (with
/// or without it). EOPNOTSUPP for anything else (collapsing, inserting,
/// unsharing ranges), as a file system without them answers.
pub(crate) fn allocation(mode: i32) -> Result<Allocate, Errno> {
    let flags = F::from_bits(mode).ok_or(Errno::EOPNOTSUPP)?;
    let keep_size = flags.contains(F::FALLOC_FL_KEEP_SIZE);
    let how = flags - F::FALLOC_FL_KEEP_SIZE;
    if how.is_empty() {
        Ok(Allocate::Reserve { keep_size })
    } else if how == F::FALLOC_FL_ZERO_RANGE {
        Ok(Allocate::Zero { keep_size })
    } else if how == F::FALLOC_FL_PUNCH_HOLE && keep_size {
        Ok(Allocate::Punch)
    } else {
        Err(Errno::EOPNOTSUPP)
    }
}

/// lseek's `whence` as a [`Seek`]: only SEEK_DATA and SEEK_HOLE reach a
/// FUSE file system.
fn seek_of(whence: i32) -> Result<Seek, Errno> {
    match whence {
        w if w == Whence::SeekData as i32 => Ok(Seek::Data),
        w if w == Whence::SeekHole as i32 => Ok(Seek::Hole),
        _ => Err(Errno::EINVAL),
    }
}

impl Adapter {
    /// Where lseek(`offset`, `whence`) on inode `ino` lands.
    pub(crate) fn seek(&self, ino: INodeNo, offset: i64, whence: i32) -> Result<i64, Errno> {
        let whence = seek_of(whence)?;
        // A negative offset is before any data or hole.
        let offset = u64::try_from(offset).map_err(|_| enxio())?;
        let at = self.fs.seek_data(self.node(ino), offset, whence)?;
        i64::try_from(at).map_err(|_| Errno::EOVERFLOW)
    }

    /// fallocate(`mode`, `offset`, `length`) on inode `ino`, for the
    /// request's user.
    pub(crate) fn allocate_range(
        &self,
        req: &Request,
        ino: INodeNo,
        offset: u64,
        length: u64,
        mode: i32,
    ) -> Result<(), Errno> {
        let how = allocation(mode)?;
        let user = self.user(req);
        Ok(self
            .fs
            .allocate(self.node(ino), offset, length, how, &user)?)
    }

    /// statfs: the file system's limit, what it holds and what writes may
    /// still take ([`Space::available`](crate::fs::Space::available): cached copies make way), in 4 KiB
    /// blocks; [`UNKNOWN_SIZE`] free if it does not know them. So `df`
    /// shows as used what `status` shows, and as available what can be
    /// written. No inode counts: files cost only the space they use (zero
    /// inodes, as btrfs reports).
    pub(crate) fn reply_statfs(&self, reply: ReplyStatfs) {
        let [blocks, free, avail] = match self.fs.space() {
            Some(s) => [s.limit, s.limit.saturating_sub(s.used), s.available()],
            None => [UNKNOWN_SIZE; 3],
        }
        .map(|b| b / STATFS_BLOCK);
        let bsize = STATFS_BLOCK as u32;
        reply.statfs(blocks, free, avail, 0, 0, bsize, NAME_MAX as u32, bsize);
    }
}

/// ENXIO: no data or hole there.
fn enxio() -> Errno {
    Errno::from_i32(nix::errno::Errno::ENXIO as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallocate_modes_map_or_are_refused() {
        let keep = F::FALLOC_FL_KEEP_SIZE.bits();
        let punch = F::FALLOC_FL_PUNCH_HOLE.bits();
        let zero = F::FALLOC_FL_ZERO_RANGE.bits();
        let ok = [
            (0, Allocate::Reserve { keep_size: false }),
            (keep, Allocate::Reserve { keep_size: true }),
            (punch | keep, Allocate::Punch),
            (zero, Allocate::Zero { keep_size: false }),
            (zero | keep, Allocate::Zero { keep_size: true }),
        ];
        for (mode, want) in ok {
            assert_eq!(allocation(mode), Ok(want), "mode {mode:#x}");
        }
        let refused = [
            punch,
            punch | zero | keep,
            F::FALLOC_FL_COLLAPSE_RANGE.bits(),
            F::FALLOC_FL_INSERT_RANGE.bits(),
            F::FALLOC_FL_UNSHARE_RANGE.bits() | keep,
            0x80, // FALLOC_FL_WRITE_ZEROES, newer than nix
        ];
        for mode in refused {
            assert_eq!(allocation(mode), Err(Errno::EOPNOTSUPP), "mode {mode:#x}");
        }
        assert_eq!(seek_of(3), Ok(Seek::Data));
        assert_eq!(seek_of(4), Ok(Seek::Hole));
        assert_eq!(seek_of(0), Err(Errno::EINVAL));
    }
}
