//! Fids: the client's handles on files, owned by the server per connection.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::fs::NodeId;

/// Where a directory read continues: the 9P byte offset the next read must
/// ask for, and the file system's cookie for the entry after the last sent.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DirCursor {
    pub offset: u64,
    pub cookie: u64,
}

/// What an open fid remembers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Open {
    /// OREAD, OWRITE, ORDWR or OEXEC.
    pub access: u8,
    /// ORCLOSE: remove the file at clunk.
    pub rclose: bool,
    /// This fid holds the file's exclusive-use (DMEXCL) lock.
    pub excl: bool,
    /// For a directory, where reading continues; `None` for a file.
    pub dir: Option<DirCursor>,
}

/// One fid.
#[derive(Debug, Clone)]
pub(crate) struct Fid {
    /// The file it refers to.
    pub node: NodeId,
    /// The user who attached (shared by the fids walked from its attach).
    pub uname: Arc<str>,
    /// Set once opened.
    pub open: Option<Open>,
    /// The directory and name a walk or create reached it by, so that a
    /// file of several names (hard links) is removed by that name.
    pub named: Option<(NodeId, Vec<u8>)>,
}

/// A fid shared between the requests that use it.
pub(crate) type FidRef = Arc<Mutex<Fid>>;

/// Locks a fid; a poisoned fid is still consistent (changes are made after
/// the file-system call they depend on succeeded).
pub(crate) fn lock(fid: &FidRef) -> MutexGuard<'_, Fid> {
    fid.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fids of one connection.
pub(crate) struct FidTable {
    fids: Mutex<HashMap<u32, FidRef>>,
    /// The most fids held at once.
    max: usize,
}

impl FidTable {
    /// An empty table holding at most `max` fids.
    pub fn new(max: usize) -> FidTable {
        FidTable {
            fids: Mutex::default(),
            max,
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<u32, FidRef>> {
        self.fids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fid, or [`Error::UnknownFid`].
    pub fn get(&self, fid: u32) -> Result<FidRef> {
        self.map().get(&fid).cloned().ok_or(Error::UnknownFid)
    }

    /// Whether the number is taken.
    pub fn contains(&self, fid: u32) -> bool {
        self.map().contains_key(&fid)
    }

    /// Fails with [`Error::TooManyFids`] if no fid can be added.
    pub fn check_room(&self) -> Result<()> {
        if self.map().len() >= self.max {
            return Err(Error::TooManyFids { max: self.max });
        }
        Ok(())
    }

    /// Adds a new fid; [`Error::FidInUse`] if the number is taken,
    /// [`Error::TooManyFids`] if the table is full.
    pub fn insert(&self, fid: u32, value: Fid) -> Result<()> {
        let mut map = self.map();
        if map.len() >= self.max {
            return Err(Error::TooManyFids { max: self.max });
        }
        match map.entry(fid) {
            Entry::Occupied(_) => Err(Error::FidInUse),
            Entry::Vacant(v) => {
                v.insert(Arc::new(Mutex::new(value)));
                Ok(())
            }
        }
    }

    /// Sets a fid, replacing what it referred to (a walk with newfid = fid).
    pub fn replace(&self, fid: u32, value: Fid) {
        self.map().insert(fid, Arc::new(Mutex::new(value)));
    }

    /// Takes a fid out of the table.
    pub fn remove(&self, fid: u32) -> Result<FidRef> {
        self.map().remove(&fid).ok_or(Error::UnknownFid)
    }

    /// Takes every fid out (Tversion, or the connection ended).
    pub fn drain(&self) -> Vec<FidRef> {
        self.map().drain().map(|(_, f)| f).collect()
    }
}
