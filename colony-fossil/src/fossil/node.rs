//! One file or directory of a live file system: its metadata and streams,
//! behind a per-node lock.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::cow_tree::CowTree;
use crate::dir_entry::DirEntry;
use crate::fossil::dir::Children;
use crate::fossil::meta::{Meta, Time};
use crate::mode;

/// A loaded node. Nodes are loaded on first use and stay in the node
/// table; their blocks are what the cache bounds.
pub(crate) struct Node {
    /// The node id (vac qid; 0 for the root).
    pub id: u64,
    st: RwLock<NodeState>,
}

/// A node's state.
pub(crate) struct NodeState {
    /// Parent directory's node id (the root's is itself).
    pub parent: u64,
    /// Current metadata; `entry`/`mentry` are its slots in the parent.
    pub de: DirEntry,
    /// True if `de` differs from the record in the parent's meta stream.
    pub meta_dirty: bool,
    /// True once removed: every operation then fails with NotFound.
    pub removed: bool,
    /// A file's data stream, or a directory's dir stream.
    pub data: CowTree,
    /// A directory's meta stream.
    pub meta: Option<CowTree>,
    /// A directory's children, loaded from its meta stream on first use.
    pub children: Option<Children>,
}

impl Node {
    pub fn new(id: u64, st: NodeState) -> Node {
        Node {
            id,
            st: RwLock::new(st),
        }
    }

    /// Shared access (a poisoned lock is still usable: every change is
    /// checked before it is made).
    pub fn read(&self) -> RwLockReadGuard<'_, NodeState> {
        self.st.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Exclusive access.
    pub fn write(&self) -> RwLockWriteGuard<'_, NodeState> {
        self.st.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl NodeState {
    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.de.mode & mode::DIR != 0
    }

    /// Metadata as node `id`, with what a file stores.
    pub fn meta(&self, id: u64) -> Meta {
        let mut m = Meta::of(id, &self.de, self.data.size());
        if !self.is_dir() {
            // Unknown when a pointer block cannot be read: stat still
            // answers (as if the file had no holes), and a read of the
            // file reports the failure.
            m.stored = self.data.stored_bytes().ok();
        }
        m
    }

    /// Records a modification of the contents by `user` at `now`: mtime
    /// and ctime.
    pub fn touch(&mut self, user: Option<&str>, now: Time) {
        self.de.mtime = now.secs;
        let mut n = self.de.nanos();
        n.mtime = now.nsec;
        self.de.set_nanos(n);
        if let Some(u) = user {
            self.de.mid = u.as_bytes().to_vec();
        }
        self.changed(now);
    }

    /// Records a change of metadata at `now`: ctime, and the change count.
    pub fn changed(&mut self, now: Time) {
        self.de.ctime = now.secs;
        let mut n = self.de.nanos();
        n.ctime = now.nsec;
        self.de.set_nanos(n);
        self.de.mcount = self.de.effective_mcount().wrapping_add(1);
        self.meta_dirty = true;
    }
}
