//! Holes and space: seeking data and holes, allocating, zeroing and
//! punching byte ranges, and the local store's use.
//!
//! A file's holes are its leaves that name no block: ranges never written
//! (a write past the end, a length extended) and leaves of zeros, which
//! are holes whether written or not (venti stores an all-zero block as no
//! block at all, so after a save they would be holes anyway). Holes cost
//! neither local nor venti space, and are found at leaf granularity.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fossil::{Fossil, NodeId, now};

/// What [`Fossil::seek_data`] looks for (lseek's SEEK_DATA, SEEK_HOLE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seek {
    /// The next byte that is not in a hole.
    Data,
    /// The next hole; the end of the file counts as one.
    Hole,
}

/// What [`Fossil::allocate`] does to a byte range (fallocate's modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Allocate {
    /// Makes room for the range: the file grows to cover it unless
    /// `keep_size`. Blocks are allocated as data is written, so there is
    /// nothing else to reserve (mode 0, FALLOC_FL_KEEP_SIZE).
    Reserve {
        /// Leaves the length alone.
        keep_size: bool,
    },
    /// Makes the range read as zeros (holes), growing the file to cover it
    /// unless `keep_size` (FALLOC_FL_ZERO_RANGE).
    Zero {
        /// Leaves the length alone.
        keep_size: bool,
    },
    /// Makes the range within the file a hole; the length never changes
    /// (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE).
    Punch,
}

impl Allocate {
    /// True if the range must read as zeros afterwards.
    pub fn zeroes(self) -> bool {
        !matches!(self, Allocate::Reserve { .. })
    }

    /// True if the length must stay as it is.
    pub fn keeps_size(self) -> bool {
        match self {
            Allocate::Reserve { keep_size } | Allocate::Zero { keep_size } => keep_size,
            Allocate::Punch => true,
        }
    }
}

/// A store's use, for statfs: what `status` calls an environment's local
/// store use, and its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    /// Bytes held: blocks in no block store yet (dirty), and cached copies
    /// of stored blocks.
    pub used: u64,
    /// Of `used`, the cached copies, which are evicted to make room for
    /// writes.
    pub cached: u64,
    /// Bytes the store may hold ([`crate::FossilOptions::local_limit`]).
    pub limit: u64,
}

impl Space {
    /// Bytes held that are in no block store yet.
    pub fn unstored(&self) -> u64 {
        self.used.saturating_sub(self.cached)
    }

    /// Bytes writes may still take: the limit less what cannot be evicted.
    pub fn available(&self) -> u64 {
        self.limit.saturating_sub(self.unstored())
    }
}

impl Fossil {
    /// Where the first data (or hole) at or after `offset` in file `node`
    /// starts; [`Error::PastEnd`] if `offset` is at or past the end, or if
    /// only holes follow it when seeking data.
    pub fn seek_data(&self, node: NodeId, offset: u64, whence: Seek) -> Result<u64> {
        let n = self.live(node)?;
        let st = n.read();
        if st.is_dir() {
            return Err(Error::IsDir);
        }
        st.data
            .seek(offset, whence == Seek::Data)?
            .ok_or(Error::PastEnd)
    }

    /// Applies `how` to bytes `offset..offset + len` of file `node`. What
    /// changes the contents or the length sets mtime and the last modifier
    /// and bumps the qid version.
    pub fn allocate(
        &self,
        node: NodeId,
        offset: u64,
        len: u64,
        how: Allocate,
        user: &str,
    ) -> Result<()> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= crate::entry::MAX_SIZE)
            .ok_or(Error::TooLarge(offset.saturating_add(len)))?;
        let _g = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let n = self.live(node)?;
        let mut st = n.write();
        if st.is_dir() {
            return Err(Error::IsDir);
        }
        let zero = how.zeroes();
        let grow = !how.keeps_size() && end > st.data.size();
        if !zero && !grow {
            return Ok(());
        }
        if zero {
            st.data.punch(offset, len)?;
        }
        if grow {
            st.data.set_size(end)?;
        }
        st.touch(Some(user), now());
        drop(st);
        self.mark_dirty(node);
        Ok(())
    }

    /// The local store's use and limit.
    pub fn space(&self) -> Space {
        let s = self.blocks.stats();
        Space {
            used: s.dirty_bytes + s.clean_bytes,
            cached: s.clean_bytes,
            limit: self.blocks.limit(),
        }
    }
}
