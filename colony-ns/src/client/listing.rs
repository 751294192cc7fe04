//! Directory listings for [`FileSystem::readdir`] over 9P.
//!
//! A 9P directory is read sequentially from offset 0 on an open fid, so
//! there is no cookie to resume at. A readdir from cookie 0 reads the whole
//! directory into a snapshot; the cookies it hands out name the snapshot
//! (high 32 bits) and a position in it (low 32 bits), and later calls with
//! those cookies continue from the snapshot. So a listing in progress sees
//! neither repeats nor skips however the directory changes, and shows the
//! directory as it was when the listing began.
//!
//! Only the latest [`KEEP`] snapshots are kept. A cookie whose snapshot is
//! gone continues at the same position of a fresh read: entries added or
//! removed before that position meanwhile shift it, so one may repeat or be
//! skipped (the limit of resuming 9P directory reads).
//!
//! [`FileSystem::readdir`]: crate::fs::FileSystem::readdir

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fs::{Meta, NodeId};

/// How many snapshots are kept for listings in progress.
pub(crate) const KEEP: usize = 64;

struct Snapshot {
    id: u32,
    dir: NodeId,
    entries: Arc<Vec<Meta>>,
}

#[derive(Default)]
struct State {
    last_id: u32,
    recent: VecDeque<Snapshot>,
}

/// The snapshots of listings in progress.
#[derive(Default)]
pub(crate) struct Listings {
    state: Mutex<State>,
}

/// The cookie after the first `position` entries of snapshot `id`.
pub(crate) fn cookie(id: u32, position: usize) -> u64 {
    (u64::from(id) << 32) | position as u64
}

/// A cookie's snapshot and position (cookie 0: none, the start).
pub(crate) fn split(cookie: u64) -> (u32, usize) {
    ((cookie >> 32) as u32, (cookie & 0xFFFF_FFFF) as usize)
}

impl Listings {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a fresh listing of `dir`; returns its id (never 0).
    pub fn add(&self, dir: NodeId, entries: Arc<Vec<Meta>>) -> u32 {
        let mut state = self.lock();
        state.last_id = state.last_id.checked_add(1).unwrap_or(1);
        let id = state.last_id;
        if state.recent.len() == KEEP {
            state.recent.pop_front();
        }
        state.recent.push_back(Snapshot { id, dir, entries });
        id
    }

    /// The snapshot `id` of `dir`, if it is still kept.
    pub fn get(&self, dir: NodeId, id: u32) -> Option<Arc<Vec<Meta>>> {
        self.lock()
            .recent
            .iter()
            .find(|s| s.id == id && s.dir == dir)
            .map(|s| s.entries.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_name_snapshot_and_position() {
        assert_eq!(split(cookie(7, 3)), (7, 3));
        assert_eq!(split(0), (0, 0));
        assert_ne!(cookie(1, 0), 0, "a snapshot's start is not the start");
    }

    #[test]
    fn old_snapshots_are_dropped() {
        let l = Listings::default();
        let first = l.add(1, Arc::new(vec![]));
        assert!(l.get(1, first).is_some());
        assert!(l.get(2, first).is_none(), "another directory's cookie");
        for _ in 0..KEEP {
            l.add(1, Arc::new(vec![]));
        }
        assert!(l.get(1, first).is_none());
    }
}
