//! `Fossil`: a live copy-on-write file system over a [`BlockStore`], a
//! write-back cache over venti.
//!
//! * Opening a snapshot reads its root block and nothing else; the rest of
//!   the tree loads on first use, one node at a time (a node is one file
//!   or directory, named by its vac qid; the root is node 0).
//! * Every block is clean (it has a score in venti; the local copy may be
//!   evicted) or dirty (local only). Dirty leaves live in a bounded local
//!   store ([`crate::local`]); when dirty blocks reach its limit, whole
//!   dirty streams are written to venti early and become clean, so a small
//!   local store never limits how much can be written.
//! * [`Fossil::save`] writes what changed since the last save, bottom-up,
//!   and returns a new `vac:` root whose `prev` is the previous root.
//!
//! For colony-ns's `FileSystem` adapter the methods map one to one:
//! `attach` → [`Fossil::root`], and `stat`, `lookup`, `parent`, `read`,
//! `write`, `create`, `remove`, `wstat`, `rename`, `readdir`, `symlink`,
//! `readlink`, `link`, `unlink` and `rename_at` (hard links: see `links.rs`)
//! have the same names and semantics, and [`Meta`], [`SetMeta`],
//! [`Qid`] and [`DirItem`] are the trait's own types (Plan 9 mode bits,
//! u32 times, qid path/version/type). Errors map by variant: [`Error::NotFound`],
//! [`Error::Exists`], [`Error::NotDir`], [`Error::IsDir`],
//! [`Error::NotEmpty`], [`Error::BadName`], [`Error::DirBit`],
//! [`Error::DirLength`], [`Error::RemoveRoot`], [`Error::NotSymlink`];
//! anything else (damaged or missing blocks, store failures) is the
//! storage's own error, whose text names the block's score.
//!
//! Locking: a per-node `RwLock` (readers share it), a node table behind a
//! `RwLock` held only for map lookups, and a gate that mutating operations
//! share and `save` (and cross-directory renames) take alone, so a save
//! sees a consistent tree. Where two node locks are held, the parent's is
//! taken first.

mod cache;
mod create;
mod dir;
mod file;
pub(crate) mod links;
mod meta;
mod node;
mod relief;
mod rename;
mod save;
mod sparse;
mod wstat;
mod xattr;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use colony_venti::{BlockStore, Score};

use crate::archive::{Archive, read_root};
use crate::cow_tree::CowTree;
use crate::dir_entry::DirEntry;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::local::{FileLocal, LocalStore, MemLocal};
use crate::mode;
use crate::root::Root;

pub use cache::{Blocks, CacheStats};
pub use meta::{
    DMAPPEND, DMDEVICE, DMDIR, DMEXCL, DMNAMEDPIPE, DMSETGID, DMSETUID, DMSETVTX, DMSYMLINK,
    DirItem, Meta, NewFile, Qid, SetMeta, Time, from_plan9, to_plan9,
};
pub use rename::RenameMode;
pub use sparse::{Allocate, Seek, Space};

use node::{Node, NodeState};

/// A node id: the file's vac qid (the qid path a server reports).
pub type NodeId = u64;

/// The root's node id.
pub const ROOT: NodeId = 0;

/// Where the local store keeps blocks.
#[derive(Clone, Debug, Default)]
pub enum LocalKind {
    /// In memory.
    #[default]
    Memory,
    /// In a file at this path, created (truncated) on open and removed on
    /// drop (`spawndisk`).
    File(PathBuf),
}

/// Options of [`Fossil::open`] and [`Fossil::create_empty`].
#[derive(Clone, Debug)]
pub struct FossilOptions {
    /// Bytes the local store may hold (dirty plus cached clean blocks).
    pub local_limit: u64,
    /// Where the local store is.
    pub local: LocalKind,
    /// Block size of a new empty tree (an opened tree keeps its own).
    pub block_size: u32,
    /// Owner and group of a new empty tree's root.
    pub owner: String,
    /// When a directory's children are loaded, fetch what a walk of it
    /// reads next in a few batches: its streams' leaves, the top block of
    /// every child's streams and the first leaves of its small files.
    /// For a remote store, where each block read alone costs a round
    /// trip; off by default, so an open stays lazy (one block) and a
    /// lookup reads only its path.
    pub children_ahead: bool,
}

impl Default for FossilOptions {
    fn default() -> Self {
        FossilOptions {
            local_limit: 100 << 20,
            local: LocalKind::Memory,
            block_size: 8192,
            owner: "adm".into(),
            children_ahead: false,
        }
    }
}

/// What the last save (or the open) left: the snapshot changes build on.
struct Snapshot {
    /// The current root score (`None` for a new tree never saved).
    score: Option<Score>,
    /// Its root block.
    root: Root,
    /// The "parent" meta stream holding `/`'s DirEntry, as saved.
    parent_meta: Option<Entry>,
    /// `/`'s DirEntry as saved.
    root_de: Option<DirEntry>,
}

/// A live file system. See the module documentation.
pub struct Fossil {
    blocks: Arc<Blocks>,
    nodes: RwLock<HashMap<NodeId, Arc<Node>>>,
    /// Serializes loading the root.
    root_load: Mutex<()>,
    /// Shared by mutating operations, exclusive for save.
    gate: RwLock<()>,
    /// Nodes changed since the last save.
    dirty: Mutex<HashSet<NodeId>>,
    snap: Mutex<Snapshot>,
    /// The next qid to hand out, once known.
    next_qid: Mutex<Option<u64>>,
    /// Every name of every file that has more than one.
    links: Mutex<links::LinkTable>,
    /// Removed nodes stay readable and writable by id until
    /// [`Fossil::forget`] (see [`Fossil::keep_removed`]).
    keep_removed: std::sync::atomic::AtomicBool,
    /// The relief thread's mailbox (see [`Fossil::relieve_in_background`]).
    relief: Arc<relief::Relief>,
}

/// Now, as the file system keeps times.
pub(crate) fn now() -> Time {
    Time::now()
}

fn local_store(options: &FossilOptions) -> Result<Box<dyn LocalStore>> {
    Ok(match &options.local {
        LocalKind::Memory => Box::new(MemLocal::new()),
        LocalKind::File(p) => Box::new(FileLocal::create(p)?),
    })
}

/// A name a file may be given ([`crate::name::check`]), else
/// [`Error::BadName`] saying why not.
pub fn check_name(name: &[u8]) -> Result<()> {
    crate::name::check(name).map_err(|fault| Error::BadName {
        name: name.to_vec(),
        fault,
    })
}

impl Fossil {
    /// Opens the snapshot `root`: reads its root block and nothing else.
    pub fn open(store: Arc<dyn BlockStore>, root: Score, options: FossilOptions) -> Result<Fossil> {
        let r = read_root(&*store, &root)?;
        let blocks = Blocks::new(store, local_store(&options)?, options.local_limit)
            .with_children_ahead(options.children_ahead);
        Ok(Fossil::with(
            blocks,
            Snapshot {
                score: Some(root),
                root: r,
                parent_meta: None,
                root_de: None,
            },
        ))
    }

    /// A new tree holding only an empty root directory owned by
    /// `options.owner`. Nothing is written until [`Fossil::save`].
    pub fn create_empty(store: Arc<dyn BlockStore>, options: FossilOptions) -> Result<Fossil> {
        let bs = options.block_size;
        if !(512..=colony_venti::MAX_BLOCK as u32).contains(&bs) {
            return Err(Error::Unrepresentable(format!("block size {bs}")));
        }
        let blocks = Blocks::new(store, local_store(&options)?, options.local_limit)
            .with_children_ahead(options.children_ahead);
        let fs = Fossil::with(
            blocks,
            Snapshot {
                score: None,
                root: Root::vac(Score::EMPTY, bs),
                parent_meta: None,
                root_de: None,
            },
        );
        let de = DirEntry::root(options.owner.as_bytes(), now().secs, mode::DIR | 0o775);
        let (psize, dsize) = fs.geometry();
        let mut st = NodeState {
            parent: ROOT,
            de,
            meta_dirty: true,
            removed: false,
            data: CowTree::empty(fs.blocks.clone(), psize, dsize, true)?,
            meta: Some(CowTree::empty(fs.blocks.clone(), psize, dsize, false)?),
            children: None,
        };
        st.load_children()?;
        fs.insert_node(Node::new(ROOT, st));
        *fs.qids() = Some(1);
        fs.mark_dirty(ROOT);
        Ok(fs)
    }

    fn with(blocks: Blocks, snap: Snapshot) -> Fossil {
        Fossil {
            blocks: Arc::new(blocks),
            nodes: RwLock::new(HashMap::new()),
            root_load: Mutex::new(()),
            gate: RwLock::new(()),
            dirty: Mutex::new(HashSet::new()),
            snap: Mutex::new(snap),
            next_qid: Mutex::new(None),
            links: Mutex::new(links::LinkTable::default()),
            keep_removed: std::sync::atomic::AtomicBool::new(false),
            relief: Arc::default(),
        }
    }

    /// The block cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.blocks.stats()
    }

    /// The root score this tree was opened from or last saved to (`None`
    /// for a new tree never saved).
    pub fn score(&self) -> Option<Score> {
        self.lock_snap().score
    }

    /// The root's node id.
    pub fn root(&self) -> NodeId {
        ROOT
    }

    fn lock_snap(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.snap.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn qids(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.next_qid.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pointer and leaf sizes of new streams: vac's geometry for the
    /// tree's block size.
    fn geometry(&self) -> (u32, u32) {
        let bs = self.lock_snap().root.block_size;
        (bs / 20 * 20, bs)
    }

    fn mark_dirty(&self, id: NodeId) {
        self.dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
    }

    fn insert_node(&self, node: Node) -> Arc<Node> {
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        nodes
            .entry(node.id)
            .or_insert_with(|| Arc::new(node))
            .clone()
    }

    fn loaded(&self, id: NodeId) -> Option<Arc<Node>> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Node `id`, loading the root on first use. Other nodes are loaded
    /// by lookup or readdir before a caller can know their ids.
    fn node(&self, id: NodeId) -> Result<Arc<Node>> {
        if let Some(n) = self.loaded(id) {
            return Ok(n);
        }
        if id != ROOT {
            return Err(Error::NotFound);
        }
        let _g = self.root_load.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = self.loaded(id) {
            return Ok(n);
        }
        let (root, score) = {
            let s = self.lock_snap();
            (s.root.clone(), s.score.unwrap_or(Score::NONE))
        };
        let a = Archive::from_root(&**self.blocks.store(), root)
            .map_err(|e| e.at_path("/").in_block(score))?;
        let mut st = NodeState {
            parent: ROOT,
            de: a.root_entry.clone(),
            meta_dirty: false,
            removed: false,
            data: CowTree::open(self.blocks.clone(), a.dir)?,
            meta: Some(CowTree::open(self.blocks.clone(), a.meta)?),
            children: None,
        };
        st.de.qid = ROOT;
        {
            let mut s = self.lock_snap();
            s.parent_meta = Some(a.parent_meta);
            s.root_de = Some(a.root_entry.clone());
        }
        self.load_links(a.root_entry.link_table())
            .map_err(|e| e.at_path("/"))?;
        if let Some((_, max)) = a.root_entry.qid_space() {
            let mut q = self.qids();
            if q.is_none() {
                *q = Some(max + 1);
            }
        }
        Ok(self.insert_node(Node::new(ROOT, st)))
    }

    /// From now on, a removed file stays readable and writable by its
    /// node id (its data going nowhere) until [`Fossil::forget`], as an
    /// unlinked inode does while a kernel holds it: what a FUSE mount
    /// needs (the kernel may open a file it looked up just before another
    /// process removed or renamed over it, and reads and writes files
    /// unlinked while open). Others would only accumulate removed nodes.
    pub fn keep_removed(&self) {
        self.keep_removed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Drops a removed node kept by [`Fossil::keep_removed`]; nothing
    /// for a node that is not removed.
    pub fn forget(&self, node: NodeId) {
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        if nodes.get(&node).is_some_and(|n| n.read().removed) {
            nodes.remove(&node);
        }
    }

    /// A live (not removed) node.
    fn live(&self, id: NodeId) -> Result<Arc<Node>> {
        let n = self.node(id)?;
        if n.read().removed {
            return Err(Error::NotFound);
        }
        Ok(n)
    }

    /// Loads a directory's children if needed.
    fn ensure_children(&self, dir: &Node) -> Result<()> {
        {
            let st = dir.read();
            if !st.is_dir() {
                return Err(Error::NotDir);
            }
            if st.children.is_some() {
                return Ok(());
            }
        }
        dir.write().load_children()
    }

    /// The child of `dir` (children loaded, state `st`) named `name`,
    /// loading its node on first use.
    fn child_of(&self, st: &NodeState, dir: NodeId, name: &[u8]) -> Result<Arc<Node>> {
        let r = st.child_ref(name)?;
        if let Some(n) = self.loaded(r.qid) {
            return Ok(n);
        }
        let path = crate::name::show(name).to_string();
        let load = || -> Result<NodeState> {
            let is_dir = r.de.mode & mode::DIR != 0;
            let get = |slot: u32, generation: u32, want_dir: bool| -> Result<Entry> {
                let e = st.read_slot(slot)?;
                if !e.is_active() || e.generation != generation {
                    return Err(Error::format(
                        "DirEntry",
                        format!("entry {slot} has been removed"),
                    ));
                }
                if e.dir != want_dir {
                    return Err(Error::format(
                        "DirEntry",
                        format!("entry {slot}: Dir flag does not match the mode"),
                    ));
                }
                Ok(e)
            };
            let data = CowTree::open(self.blocks.clone(), get(r.slot, r.de.generation, is_dir)?)?;
            let meta = if is_dir {
                Some(CowTree::open(
                    self.blocks.clone(),
                    get(r.de.mentry, r.de.mgen, false)?,
                )?)
            } else {
                None
            };
            Ok(NodeState {
                parent: dir,
                de: r.de.clone(),
                meta_dirty: false,
                removed: false,
                data,
                meta,
                children: None,
            })
        };
        let st = load().map_err(|e| e.at_path(&path))?;
        Ok(self.insert_node(Node::new(r.qid, st)))
    }

    /// A node's metadata.
    pub fn stat(&self, node: NodeId) -> Result<Meta> {
        let n = self.node(node)?;
        let st = n.read();
        Ok(self.meta_named(&st, node))
    }

    /// Entry `name` of directory `dir` ("..": the parent, the root's being
    /// itself; ".": the directory).
    pub fn lookup(&self, dir: NodeId, name: &[u8]) -> Result<Meta> {
        let d = self.live(dir)?;
        if !d.read().is_dir() {
            return Err(Error::NotDir);
        }
        match name {
            b".." => return self.parent(dir),
            b"." => return self.stat(dir),
            _ => {}
        }
        self.ensure_children(&d)?;
        let child = {
            let st = d.read();
            self.child_of(&st, dir, name)?
        };
        let st = child.read();
        let mut m = self.meta_named(&st, child.id);
        // A file of several names is shown by the name looked up.
        m.name = name.to_vec();
        Ok(m)
    }

    /// The directory holding `node` (the root's is the root).
    pub fn parent(&self, node: NodeId) -> Result<Meta> {
        let p = self.live(node)?.read().parent;
        self.stat(p)
    }

    /// Calls `sink` with the entries of `dir` after `cookie` (0: from the
    /// start) in slot order, until it returns false or entries run out.
    /// No lock is held while `sink` runs.
    pub fn readdir(
        &self,
        dir: NodeId,
        cookie: u64,
        sink: &mut dyn FnMut(DirItem) -> bool,
    ) -> Result<()> {
        const BATCH: usize = 64;
        let d = self.live(dir)?;
        self.ensure_children(&d)?;
        let mut from = cookie;
        loop {
            let batch = {
                let st = d.read();
                let c = st.children()?;
                let start = u32::try_from(from).unwrap_or(u32::MAX);
                let names: Vec<(u32, Vec<u8>)> = c
                    .by_slot
                    .range(start..)
                    .take(BATCH)
                    .map(|(s, n)| (*s, n.clone()))
                    .collect();
                let mut out = Vec::with_capacity(names.len());
                for (slot, name) in names {
                    let n = self.child_of(&st, dir, &name)?;
                    let mut meta = self.meta_named(&n.read(), n.id);
                    meta.name = name;
                    out.push(DirItem {
                        meta,
                        cookie: slot as u64 + 1,
                    });
                }
                out
            };
            let Some(last) = batch.last().map(|i| i.cookie) else {
                return Ok(());
            };
            let full = batch.len() == BATCH;
            for item in batch {
                if !sink(item) {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
            from = last;
        }
    }

    /// Up to `count` bytes of file `node` at `offset`.
    pub fn read(&self, node: NodeId, offset: u64, count: u32) -> Result<Vec<u8>> {
        let n = self.node(node)?;
        let st = n.read();
        if st.is_dir() {
            return Err(Error::IsDir);
        }
        st.data.read(offset, count as usize)
    }

    /// A symbolic link's target.
    pub fn readlink(&self, node: NodeId) -> Result<Vec<u8>> {
        let n = self.live(node)?;
        let st = n.read();
        if st.de.mode & mode::LINK == 0 {
            return Err(Error::NotSymlink);
        }
        let len = usize::try_from(st.data.size())
            .ok()
            .filter(|&l| l <= 1 << 20)
            .ok_or_else(|| Error::format("symlink", "target longer than 1 MiB"))?;
        st.data.read(0, len)
    }
}
