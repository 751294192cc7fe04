//! What the client knows of each node: its fids and where it was seen.
//!
//! A node has at most one unopened fid (for walks, stat and wstat) and one
//! open fid per access (read; write, which also reads when opened ORDWR),
//! made on first need. A node met only in a directory listing has no fid
//! yet; it remembers the directory and name, and is walked to from there
//! when first used.
//!
//! Fids cost the server memory, and the trait never says when a node is no
//! longer wanted (only removal ends one), so the fids are a cache: past
//! [`FID_BUDGET`] nodes holding fids, the least recently used half that can
//! be walked to again (those seen under a name) give theirs up. Where a
//! node was seen is kept regardless, so it stays reachable by id. (A file
//! created without write permission for the connection's user can be
//! written only through the fid its create opened, as on Plan 9: once that
//! fid is given up, writing it is refused.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::client::fids::Fid;
use crate::fs::NodeId;

/// How many nodes may hold fids before the least recently used give
/// theirs up.
pub(crate) const FID_BUDGET: usize = 8192;

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
    seen: Option<(NodeId, Vec<u8>)>,
    /// When its fids were last used (a tick of [`Table::clock`]).
    used: u64,
}

impl Node {
    fn has_fids(&self) -> bool {
        self.walk.is_some() || self.read.is_some() || self.write.is_some()
    }
}

struct Table {
    map: HashMap<NodeId, Node>,
    /// Counts uses, for least-recently-used eviction.
    clock: u64,
    /// Nodes holding at least one fid.
    holding: usize,
    budget: usize,
}

impl Table {
    /// The node, marked used now.
    fn touch(&mut self, node: NodeId) -> &mut Node {
        self.clock += 1;
        let n = self.map.entry(node).or_default();
        n.used = self.clock;
        n
    }

    /// Stores a fid in the slot `slot` picks unless it is taken; returns
    /// the one kept. Counts the node as holding fids and evicts if the
    /// budget is exceeded.
    fn keep<T>(
        &mut self,
        node: NodeId,
        fid: T,
        slot: impl FnOnce(&mut Node) -> &mut Option<Arc<T>>,
    ) -> Arc<T> {
        let n = self.touch(node);
        let had = n.has_fids();
        let kept = slot(n).get_or_insert_with(|| Arc::new(fid)).clone();
        if !had {
            self.holding += 1;
            if self.holding > self.budget {
                self.evict(node);
            }
        }
        kept
    }

    /// Takes the fids of the least recently used half of the nodes that
    /// can be walked to again (never `keep`, just used). Calls still using
    /// a fid keep it alive until they finish; then it is clunked.
    fn evict(&mut self, keep: NodeId) {
        let mut candidates: Vec<(u64, NodeId)> = self
            .map
            .iter()
            .filter(|(id, n)| **id != keep && n.has_fids() && n.seen.is_some())
            .map(|(id, n)| (n.used, *id))
            .collect();
        candidates.sort_unstable();
        for (_, id) in candidates.into_iter().take(self.budget / 2) {
            if let Some(n) = self.map.get_mut(&id) {
                n.walk = None;
                n.read = None;
                n.write = None;
                self.holding -= 1;
            }
        }
    }
}

/// Every node the client has met.
pub(crate) struct Nodes {
    table: Mutex<Table>,
}

impl Default for Nodes {
    fn default() -> Self {
        Nodes::with_budget(FID_BUDGET)
    }
}

impl Nodes {
    /// A table where at most `budget` nodes hold fids (plus those that
    /// cannot be walked to again).
    pub fn with_budget(budget: usize) -> Self {
        Nodes {
            table: Mutex::new(Table {
                map: HashMap::new(),
                clock: 0,
                holding: 0,
                budget: budget.max(2),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node's unopened fid, if it has one.
    pub fn walk_fid(&self, node: NodeId) -> Option<Arc<Fid>> {
        let mut t = self.lock();
        t.map.get(&node)?.walk.as_ref()?;
        t.touch(node).walk.clone()
    }

    /// Keeps `fid` as the node's unopened fid unless another call made one
    /// meanwhile; returns the one kept (a surplus `fid` is clunked).
    pub fn keep_walk_fid(&self, node: NodeId, fid: Fid) -> Arc<Fid> {
        self.lock().keep(node, fid, |n| &mut n.walk)
    }

    /// An open fid that can do `access`: for reading, a read fid or an
    /// ORDWR write fid.
    pub fn open_fid(&self, node: NodeId, access: Access) -> Option<Arc<OpenFid>> {
        let mut t = self.lock();
        let n = t.map.get(&node)?;
        let found = match access {
            Access::Write => n.write.clone(),
            Access::Read => n
                .read
                .clone()
                .or_else(|| n.write.clone().filter(|w| w.reads)),
        };
        if found.is_some() {
            t.touch(node);
        }
        found
    }

    /// Keeps an open fid for `access` unless another call made one
    /// meanwhile; returns the one kept.
    pub fn keep_open_fid(&self, node: NodeId, access: Access, fid: OpenFid) -> Arc<OpenFid> {
        self.lock().keep(node, fid, |n| match access {
            Access::Read => &mut n.read,
            Access::Write => &mut n.write,
        })
    }

    /// Records that `node` is `name` in `dir`.
    pub fn seen(&self, node: NodeId, dir: NodeId, name: &[u8]) {
        let mut t = self.lock();
        let n = t.map.entry(node).or_default();
        match &mut n.seen {
            Some((d, s)) if *d == dir && s == name => {}
            seen => *seen = Some((dir, name.to_vec())),
        }
    }

    /// Where `node` was last seen.
    pub fn where_seen(&self, node: NodeId) -> Option<(NodeId, Vec<u8>)> {
        self.lock().map.get(&node)?.seen.clone()
    }

    /// `node` is no longer `name` in `dir` (removed, or replaced by a
    /// rename): it keeps its fids, which no longer go for lack of a name
    /// to walk to it by again.
    pub fn unseen(&self, node: NodeId, dir: NodeId, name: &[u8]) {
        let mut t = self.lock();
        if let Some(n) = t.map.get_mut(&node)
            && n.seen.as_ref().is_some_and(|(d, s)| *d == dir && s == name)
        {
            n.seen = None;
        }
    }

    /// Forgets a removed node; its fids are clunked once no call uses them.
    pub fn forget(&self, node: NodeId) {
        let mut t = self.lock();
        if t.map.remove(&node).is_some_and(|n| n.has_fids()) {
            t.holding -= 1;
        }
    }

    /// How many nodes hold fids now.
    #[cfg(test)]
    pub fn holding(&self) -> usize {
        self.lock().holding
    }
}
