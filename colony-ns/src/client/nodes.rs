//! What the client knows of each node: its fids and where it was seen.
//!
//! A node has at most one unopened fid (for walks, stat and wstat) and one
//! open fid per access (read; write, which also reads when opened ORDWR),
//! made on first need and kept until the node is removed. A node met only
//! in a directory listing has no fid yet; it remembers the directory and
//! name, and is walked to from there when first used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::client::fids::Fid;
use crate::fs::NodeId;

/// A fid opened for I/O, with what its Ropen said.
pub(crate) struct OpenFid {
    pub fid: Fid,
    /// The most bytes one Tread or Twrite may carry on it.
    pub iounit: u32,
    /// Opened ORDWR (a write fid that reads too).
    pub reads: bool,
    /// An append-only file: writes land at the end, so they go one by one.
    pub append: bool,
}

/// The access an open fid is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

#[derive(Default)]
struct Node {
    walk: Option<Arc<Fid>>,
    read: Option<Arc<OpenFid>>,
    write: Option<Arc<OpenFid>>,
    /// The directory and name it was last seen under.
    seen: Option<(NodeId, String)>,
}

/// Every node the client has met.
#[derive(Default)]
pub(crate) struct Nodes {
    map: Mutex<HashMap<NodeId, Node>>,
}

impl Nodes {
    fn lock(&self) -> MutexGuard<'_, HashMap<NodeId, Node>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node's unopened fid, if it has one.
    pub fn walk_fid(&self, node: NodeId) -> Option<Arc<Fid>> {
        self.lock().get(&node)?.walk.clone()
    }

    /// Keeps `fid` as the node's unopened fid unless another call made one
    /// meanwhile; returns the one kept (a surplus `fid` is clunked).
    pub fn keep_walk_fid(&self, node: NodeId, fid: Fid) -> Arc<Fid> {
        self.lock()
            .entry(node)
            .or_default()
            .walk
            .get_or_insert_with(|| Arc::new(fid))
            .clone()
    }

    /// An open fid that can do `access`: for reading, a read fid or an
    /// ORDWR write fid.
    pub fn open_fid(&self, node: NodeId, access: Access) -> Option<Arc<OpenFid>> {
        let map = self.lock();
        let n = map.get(&node)?;
        match access {
            Access::Write => n.write.clone(),
            Access::Read => n
                .read
                .clone()
                .or_else(|| n.write.clone().filter(|w| w.reads)),
        }
    }

    /// Keeps an open fid for `access` unless another call made one
    /// meanwhile; returns the one kept.
    pub fn keep_open_fid(&self, node: NodeId, access: Access, fid: OpenFid) -> Arc<OpenFid> {
        let mut map = self.lock();
        let n = map.entry(node).or_default();
        let slot = match access {
            Access::Read => &mut n.read,
            Access::Write => &mut n.write,
        };
        slot.get_or_insert_with(|| Arc::new(fid)).clone()
    }

    /// Records that `node` is `name` in `dir`.
    pub fn seen(&self, node: NodeId, dir: NodeId, name: &str) {
        let mut map = self.lock();
        let n = map.entry(node).or_default();
        match &mut n.seen {
            Some((d, s)) if *d == dir && s == name => {}
            seen => *seen = Some((dir, name.to_owned())),
        }
    }

    /// Where `node` was last seen.
    pub fn where_seen(&self, node: NodeId) -> Option<(NodeId, String)> {
        self.lock().get(&node)?.seen.clone()
    }

    /// Forgets a removed node; its fids are clunked once no call uses them.
    pub fn forget(&self, node: NodeId) {
        self.lock().remove(&node);
    }
}
