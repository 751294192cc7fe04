//! An in-memory [`FileSystem`], for tests and embedding.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::fs::{
    DirEntry, FileSystem, Meta, Nanos, NewFile, NodeId, RenameMode, Seek, SetMeta, Space, Time,
    XattrMode, check_name,
};
use crate::ninep::{DMAPPEND, DMDIR, Qid};
use crate::sparse_bytes::SparseBytes;
use colony_fossil::extension::check_xattr;

/// The largest file MemFs holds, so a write at a huge offset fails cleanly
/// instead of exhausting memory.
pub const MAX_FILE: u64 = 1 << 30;

/// A tree held in memory. Directory entries are listed in the order they
/// were added (cookies are slot numbers, so they stay valid while entries
/// come and go); qid paths are handed out in increasing order. Files have
/// holes, which hold no memory ([`SparseBytes`]).
pub struct MemFs {
    tree: Mutex<Tree>,
}

struct Tree {
    nodes: HashMap<NodeId, Node>,
    root: NodeId,
    next_path: u64,
    /// Removed nodes kept for their holders until forgotten, once
    /// [`FileSystem::keep_removed`] asked for it (`None` before).
    kept: Option<HashMap<NodeId, Node>>,
}

struct Node {
    meta: Meta,
    parent: NodeId,
    body: Body,
    /// Extended attributes, by name.
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// A file's names other than `parent`/`meta.name` (hard links).
    others: Vec<(NodeId, Vec<u8>)>,
}

enum Body {
    File(SparseBytes),
    Dir {
        /// slot -> child, in the order entries were added.
        slots: BTreeMap<u64, NodeId>,
        /// name -> slot.
        names: HashMap<Vec<u8>, u64>,
        next_slot: u64,
    },
}

fn now() -> Time {
    Time::now()
}

impl MemFs {
    /// A file system holding only its root, described by `root` (whose mode
    /// gets DMDIR).
    pub fn new(mut root: Meta) -> Self {
        root.mode |= DMDIR;
        root.qid.ty = Qid::type_of_mode(root.mode);
        root.length = 0;
        root.nlink = 1;
        let path = root.qid.path;
        let node = Node {
            meta: root,
            parent: path,
            body: Body::new_dir(),
            xattrs: BTreeMap::new(),
            others: Vec::new(),
        };
        MemFs {
            tree: Mutex::new(Tree {
                nodes: HashMap::from([(path, node)]),
                root: path,
                next_path: path + 1,
                kept: None,
            }),
        }
    }

    /// An empty tree: a root directory (node 0, times 0) owned by `uid`
    /// and `gid` with permissions `perm`.
    pub fn with_root(uid: &str, gid: &str, perm: u32) -> Self {
        MemFs::new(Meta {
            qid: Qid::default(),
            mode: DMDIR | perm,
            atime: 0,
            mtime: 0,
            length: 0,
            name: "/".into(),
            uid: uid.into(),
            gid: gid.into(),
            ..Meta::default()
        })
    }

    /// Adds a node with exactly the given metadata (qid path included) and,
    /// for a file, contents; for building fixtures such as a copy of a vac
    /// tree. The length is taken from the contents.
    pub fn insert(&self, dir: NodeId, mut meta: Meta, contents: Vec<u8>) -> Result<NodeId> {
        check_name(&meta.name)?;
        let mut tree = self.lock();
        let path = meta.qid.path;
        if tree.nodes.contains_key(&path) {
            return Err(Error::Exists);
        }
        meta.qid.ty = Qid::type_of_mode(meta.mode);
        let body = if meta.is_dir() {
            meta.length = 0;
            Body::new_dir()
        } else {
            meta.length = contents.len() as u64;
            let data = SparseBytes::from_vec(&contents);
            meta.stored = Some(data.held());
            Body::File(data)
        };
        let name = meta.name.clone();
        meta.nlink = 1;
        tree.link(dir, &name, path)?;
        tree.nodes.insert(
            path,
            Node {
                meta,
                parent: dir,
                body,
                xattrs: BTreeMap::new(),
                others: Vec::new(),
            },
        );
        tree.next_path = tree.next_path.max(path + 1);
        Ok(path)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tree> {
        // A panic elsewhere cannot leave the tree half-changed (every change
        // is checked before it is made), so a poisoned lock is still usable.
        self.tree.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Body {
    fn new_dir() -> Self {
        Body::Dir {
            slots: BTreeMap::new(),
            names: HashMap::new(),
            next_slot: 0,
        }
    }
}

impl Tree {
    /// A node in the tree, or removed and kept for its holders.
    fn node(&self, id: NodeId) -> Result<&Node> {
        self.nodes
            .get(&id)
            .or_else(|| self.kept.as_ref()?.get(&id))
            .ok_or(Error::NotFound)
    }

    fn node_mut(&mut self, id: NodeId) -> Result<&mut Node> {
        match self.nodes.get_mut(&id) {
            Some(n) => Ok(n),
            None => self
                .kept
                .as_mut()
                .and_then(|k| k.get_mut(&id))
                .ok_or(Error::NotFound),
        }
    }

    /// [`Error::NotFound`] unless `id` is in the tree (not removed): what
    /// naming operations need.
    fn linked(&self, id: NodeId) -> Result<()> {
        if self.nodes.contains_key(&id) {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Takes a removed node out of the tree (keeping it, if asked to).
    fn drop_node(&mut self, id: NodeId) {
        if let (Some(n), Some(kept)) = (self.nodes.remove(&id), self.kept.as_mut()) {
            kept.insert(id, n);
        }
    }

    fn child(&self, dir: NodeId, name: &[u8]) -> Result<Option<NodeId>> {
        match &self.node(dir)?.body {
            Body::Dir { slots, names, .. } => Ok(names.get(name).map(|s| slots[s])),
            Body::File(_) => Err(Error::NotDir),
        }
    }

    /// Enters `child` under `name` in `dir` (callers record the change).
    fn link(&mut self, dir: NodeId, name: &[u8], child: NodeId) -> Result<()> {
        if self.child(dir, name)?.is_some() {
            return Err(Error::Exists);
        }
        let d = self.node_mut(dir)?;
        if let Body::Dir {
            slots,
            names,
            next_slot,
        } = &mut d.body
        {
            slots.insert(*next_slot, child);
            names.insert(name.to_vec(), *next_slot);
            *next_slot += 1;
        }
        Ok(())
    }

    /// [`Error::BadName`] if `dir` is `node` or below it (a directory
    /// cannot move below itself).
    fn check_move(&self, node: NodeId, dir: NodeId) -> Result<()> {
        let mut up = dir;
        loop {
            if up == node {
                return Err(Error::BadName);
            }
            if up == self.root {
                return Ok(());
            }
            up = self.node(up)?.parent;
        }
    }

    /// Renames `node` to the free name `name` in its own directory,
    /// keeping its slot (the caller records the change of `node`).
    fn rename_within(&mut self, node: NodeId, name: &[u8]) -> Result<()> {
        let n = self.node(node)?;
        let (parent, old) = (n.parent, n.meta.name.clone());
        let p = self.node_mut(parent)?;
        if let Body::Dir { names, .. } = &mut p.body
            && let Some(slot) = names.remove(&old)
        {
            names.insert(name.to_vec(), slot);
        }
        p.touch(None);
        self.node_mut(node)?.meta.name = name.to_vec();
        Ok(())
    }

    /// Moves `node` to the free name `name` of another directory `dir`.
    fn move_across(&mut self, node: NodeId, dir: NodeId, name: &[u8], user: &str) -> Result<Meta> {
        let n = self.node(node)?;
        let (parent, old) = (n.parent, n.meta.name.clone());
        self.unlink(parent, &old)?;
        self.link(dir, name, node)?;
        self.node_mut(dir)?.touch(Some(user));
        let n = self.node_mut(node)?;
        n.parent = dir;
        n.meta.name = name.to_vec();
        n.meta.qid.version = n.meta.qid.version.wrapping_add(1);
        Ok(n.meta.clone())
    }

    /// Makes name `name` of `dir` its file's primary one (`parent`,
    /// `meta.name`), so that node operations act on it. Returns the node.
    fn make_primary(&mut self, dir: NodeId, name: &[u8]) -> Result<NodeId> {
        let id = self.child(dir, name)?.ok_or(Error::NotFound)?;
        let n = self.node_mut(id)?;
        if let Some(i) = n.others.iter().position(|(d, m)| *d == dir && m == name) {
            let primary = (n.parent, std::mem::replace(&mut n.meta.name, name.to_vec()));
            n.others[i] = primary;
            n.parent = dir;
        }
        Ok(id)
    }

    /// Removes `node`'s primary name, and the node unless it has others.
    fn drop_primary(&mut self, node: NodeId) -> Result<()> {
        let n = self.node(node)?;
        let (parent, name) = (n.parent, n.meta.name.clone());
        self.unlink(parent, &name)?;
        let n = self.node_mut(node)?;
        match n.others.pop() {
            Some((dir, name)) => {
                n.parent = dir;
                n.meta.name = name;
                n.meta.nlink -= 1;
                n.changed();
            }
            None => self.drop_node(node),
        }
        Ok(())
    }

    /// Removes the entry `name` from `dir`, which changes.
    fn unlink(&mut self, dir: NodeId, name: &[u8]) -> Result<()> {
        let d = self.node_mut(dir)?;
        if let Body::Dir { slots, names, .. } = &mut d.body
            && let Some(slot) = names.remove(name)
        {
            slots.remove(&slot);
        }
        d.touch(None);
        Ok(())
    }
}

impl Node {
    /// A change of contents: mtime and ctime, and what a file stores.
    fn touch(&mut self, user: Option<&str>) {
        if let Body::File(data) = &self.body {
            self.meta.stored = Some(data.held());
        }
        let t = now();
        self.meta.mtime = t.secs;
        self.meta.nsec.mtime = t.nsec;
        if let Some(user) = user {
            self.meta.muid = user.to_owned();
        }
        self.changed();
    }

    /// A change of metadata: ctime and the version.
    fn changed(&mut self) {
        let t = now();
        self.meta.ctime = t.secs;
        self.meta.nsec.ctime = t.nsec;
        self.meta.qid.version = self.meta.qid.version.wrapping_add(1);
    }

    fn file(&self) -> Result<&SparseBytes> {
        match &self.body {
            Body::File(data) => Ok(data),
            Body::Dir { .. } => Err(Error::IsDir),
        }
    }

    fn file_mut(&mut self) -> Result<&mut SparseBytes> {
        match &mut self.body {
            Body::File(data) => Ok(data),
            Body::Dir { .. } => Err(Error::IsDir),
        }
    }
}

fn set_len(data: &mut SparseBytes, len: u64) -> Result<()> {
    if len > MAX_FILE {
        return Err(Error::TooLarge);
    }
    data.set_len(len);
    Ok(())
}

impl FileSystem for MemFs {
    fn attach(&self, _uname: &str, _aname: &str) -> Result<NodeId> {
        Ok(self.lock().root)
    }

    fn stat(&self, node: NodeId) -> Result<Meta> {
        Ok(self.lock().node(node)?.meta.clone())
    }

    fn lookup(&self, dir: NodeId, name: &[u8]) -> Result<Meta> {
        let tree = self.lock();
        let d = tree.node(dir)?;
        if !d.meta.is_dir() {
            return Err(Error::NotDir);
        }
        let id = if name == b".." {
            d.parent
        } else {
            tree.child(dir, name)?.ok_or(Error::NotFound)?
        };
        let mut meta = tree.node(id)?.meta.clone();
        if name != b".." {
            // A file of several names is shown by the name looked up.
            meta.name = name.to_vec();
        }
        Ok(meta)
    }

    fn parent(&self, node: NodeId) -> Result<Meta> {
        let tree = self.lock();
        let parent = tree.node(node)?.parent;
        Ok(tree.node(parent)?.meta.clone())
    }

    fn read(&self, node: NodeId, offset: u64, count: u32) -> Result<Vec<u8>> {
        Ok(self.lock().node(node)?.file()?.read(offset, count))
    }

    fn write(&self, node: NodeId, offset: u64, data: &[u8], user: &str) -> Result<u32> {
        let count = u32::try_from(data.len()).map_err(|_| Error::TooLarge)?;
        let mut tree = self.lock();
        let n = tree.node_mut(node)?;
        let append = n.meta.mode & DMAPPEND != 0;
        let file = n.file_mut()?;
        let start = if append { file.len() } else { offset };
        let end = start
            .checked_add(data.len() as u64)
            .ok_or(Error::TooLarge)?;
        if end > file.len() {
            set_len(file, end)?;
        }
        file.write(start, data);
        n.meta.length = file.len();
        n.touch(Some(user));
        Ok(count)
    }

    fn create(&self, dir: NodeId, name: &[u8], perm: u32, user: &str) -> Result<Meta> {
        let new = NewFile {
            perm,
            user,
            ..NewFile::default()
        };
        self.make(dir, name, &new)
    }

    fn make(&self, dir: NodeId, name: &[u8], new: &NewFile<'_>) -> Result<Meta> {
        check_name(name)?;
        let mut tree = self.lock();
        tree.linked(dir)?;
        let d = &tree.node(dir)?.meta;
        let (gid, gid_number) = match new.group {
            Some(g) => (g.to_owned(), new.gid_number),
            None => (d.gid.clone(), d.gid_number),
        };
        let path = tree.next_path;
        tree.link(dir, name, path)?;
        tree.node_mut(dir)?.touch(Some(new.user));
        tree.next_path += 1;
        let t = now();
        let meta = Meta {
            qid: Qid {
                ty: Qid::type_of_mode(new.perm),
                version: 0,
                path,
            },
            mode: new.perm,
            atime: t.secs,
            mtime: t.secs,
            length: 0,
            name: name.to_vec(),
            uid: new.user.to_owned(),
            gid,
            muid: new.user.to_owned(),
            ctime: t.secs,
            nsec: Nanos {
                atime: t.nsec,
                mtime: t.nsec,
                ctime: t.nsec,
            },
            uid_number: new.uid_number,
            gid_number,
            special: new.special,
            nlink: 1,
            // A file stores nothing yet.
            stored: (new.perm & DMDIR == 0).then_some(0),
        };
        let body = if new.perm & DMDIR != 0 {
            Body::new_dir()
        } else {
            Body::File(SparseBytes::default())
        };
        tree.nodes.insert(
            path,
            Node {
                meta: meta.clone(),
                parent: dir,
                body,
                xattrs: BTreeMap::new(),
                others: Vec::new(),
            },
        );
        Ok(meta)
    }

    fn keep_removed(&self) -> bool {
        self.lock().kept.get_or_insert_with(HashMap::new);
        true
    }

    fn forget(&self, node: NodeId) {
        if let Some(kept) = self.lock().kept.as_mut() {
            kept.remove(&node);
        }
    }

    fn getxattr(&self, node: NodeId, name: &[u8]) -> Result<Vec<u8>> {
        let tree = self.lock();
        tree.node(node)?
            .xattrs
            .get(name)
            .cloned()
            .ok_or(Error::NoAttr)
    }

    fn listxattr(&self, node: NodeId) -> Result<Vec<Vec<u8>>> {
        Ok(self.lock().node(node)?.xattrs.keys().cloned().collect())
    }

    fn setxattr(&self, node: NodeId, name: &[u8], value: &[u8], mode: XattrMode) -> Result<()> {
        let mut tree = self.lock();
        let n = tree.node_mut(node)?;
        let others = n
            .xattrs
            .iter()
            .filter(|(k, _)| k.as_slice() != name)
            .map(|(k, v)| (k.as_slice(), v.len()));
        check_xattr(others, n.xattrs.contains_key(name), name, value, mode)?;
        n.xattrs.insert(name.to_vec(), value.to_vec());
        n.changed();
        Ok(())
    }

    fn removexattr(&self, node: NodeId, name: &[u8]) -> Result<()> {
        let mut tree = self.lock();
        let n = tree.node_mut(node)?;
        n.xattrs.remove(name).ok_or(Error::NoAttr)?;
        n.changed();
        Ok(())
    }

    /// Replacing and exchanging happen under the tree's one lock, so no
    /// caller ever sees the name missing.
    fn rename_as(
        &self,
        node: NodeId,
        dir: NodeId,
        name: &[u8],
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        check_name(name)?;
        let mut tree = self.lock();
        tree.linked(node)?;
        tree.linked(dir)?;
        let target = tree.child(dir, name)?;
        match (mode, target) {
            (_, Some(t)) if t == node => return Ok(tree.node(node)?.meta.clone()),
            (RenameMode::Exchange, None) => return Err(Error::NotFound),
            (RenameMode::NoReplace, Some(_)) => return Err(Error::Exists),
            (RenameMode::Replace, Some(t)) => {
                let (src, dst) = (tree.node(node)?, tree.node(t)?);
                match (src.meta.is_dir(), dst.meta.is_dir()) {
                    (true, false) => return Err(Error::NotDir),
                    (false, true) => return Err(Error::IsDir),
                    _ => {}
                }
                if matches!(&dst.body, Body::Dir { slots, .. } if !slots.is_empty()) {
                    return Err(Error::NotEmpty);
                }
                tree.check_move(node, dir)?;
                tree.make_primary(dir, name)?;
                tree.drop_primary(t)?;
                // Under the same lock: the name is never missing.
                if tree.node(node)?.parent == dir {
                    tree.rename_within(node, name)?;
                    let n = tree.node_mut(node)?;
                    n.changed();
                    return Ok(n.meta.clone());
                }
                return tree.move_across(node, dir, name, user);
            }
            (RenameMode::Exchange, Some(t)) => {
                tree.make_primary(dir, name)?;
                let (a, b) = (tree.node(node)?, tree.node(t)?);
                let (da, na, db, nb) =
                    (a.parent, a.meta.name.clone(), b.parent, b.meta.name.clone());
                tree.check_move(node, db)?;
                tree.check_move(t, da)?;
                tree.unlink(da, &na)?;
                tree.unlink(db, &nb)?;
                tree.link(da, &na, t)?;
                tree.link(db, &nb, node)?;
                for (id, parent, new_name) in [(node, db, nb), (t, da, na)] {
                    let n = tree.node_mut(id)?;
                    n.parent = parent;
                    n.meta.name = new_name;
                    n.changed();
                }
                return Ok(tree.node(node)?.meta.clone());
            }
            (_, None) => {}
        }
        drop(tree);
        self.rename(node, dir, name, user)
    }

    fn remove(&self, node: NodeId) -> Result<()> {
        let mut tree = self.lock();
        if node == tree.root {
            return Err(Error::RemoveRoot);
        }
        tree.linked(node)?;
        let n = tree.node(node)?;
        if let Body::Dir { slots, .. } = &n.body
            && !slots.is_empty()
        {
            return Err(Error::NotEmpty);
        }
        tree.drop_primary(node)
    }

    fn link(&self, node: NodeId, dir: NodeId, name: &[u8]) -> Result<Meta> {
        check_name(name)?;
        let mut tree = self.lock();
        tree.linked(node)?;
        tree.linked(dir)?;
        if tree.node(node)?.meta.is_dir() {
            return Err(Error::IsDir);
        }
        tree.link(dir, name, node)?;
        tree.node_mut(dir)?.touch(None);
        let n = tree.node_mut(node)?;
        n.others.push((dir, name.to_vec()));
        n.meta.nlink += 1;
        n.changed();
        Ok(n.meta.clone())
    }

    fn unlink(&self, dir: NodeId, name: &[u8]) -> Result<()> {
        let node = self.lock().make_primary(dir, name)?;
        self.remove(node)
    }

    fn rename_at(
        &self,
        (from_dir, from): (NodeId, &[u8]),
        to: (NodeId, &[u8]),
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        let node = self.lock().make_primary(from_dir, from)?;
        self.rename_as(node, to.0, to.1, mode, user)
    }

    fn wstat(&self, node: NodeId, change: &SetMeta, user: &str) -> Result<Meta> {
        let mut tree = self.lock();
        let n = tree.node(node)?;
        let (parent, old_name, is_dir) = (n.parent, n.meta.name.clone(), n.meta.is_dir());
        // Check everything before changing anything: all or nothing.
        if let Some(mode) = change.mode
            && (mode & DMDIR != 0) != is_dir
        {
            return Err(Error::DirBit);
        }
        match change.length {
            Some(len) if is_dir && len != 0 => return Err(Error::DirLength),
            Some(len) if len > MAX_FILE => return Err(Error::TooLarge),
            _ => {}
        }
        let rename = change.name.as_ref().filter(|new| **new != old_name);
        if let Some(new) = rename {
            tree.linked(node)?;
            check_name(new)?;
            if node == tree.root {
                return Err(Error::PermissionDenied);
            }
            if tree.child(parent, new)?.is_some() {
                return Err(Error::Exists);
            }
        }
        if let Some(new) = rename {
            tree.rename_within(node, new)?;
        }
        let n = tree.node_mut(node)?;
        let m = &mut n.meta;
        if let Some(mode) = change.mode {
            m.mode = mode;
            m.qid.ty = Qid::type_of_mode(mode);
        }
        if let Some(uid) = &change.uid {
            m.uid = uid.clone();
        }
        if let Some(n) = change.new_uid_number() {
            m.uid_number = n;
        }
        if let Some(gid) = &change.gid {
            m.gid = gid.clone();
        }
        if let Some(n) = change.new_gid_number() {
            m.gid_number = n;
        }
        if let Some(atime) = change.atime {
            m.atime = atime.secs;
            m.nsec.atime = atime.nsec;
        }
        if let (Some(len), Body::File(data)) = (change.length, &mut n.body) {
            set_len(data, len)?;
            n.meta.length = len;
        }
        // Only a new length modifies the contents (mtime, muid); other
        // changes (chmod, chown, rename, times) leave mtime alone, as on
        // Plan 9 and Unix, but still make a new version.
        if change.length.is_some() {
            n.touch(Some(user));
        } else if !change.is_empty() {
            n.changed();
        }
        // An explicit mtime wins over the one the change itself set.
        if let Some(mtime) = change.mtime {
            n.meta.mtime = mtime.secs;
            n.meta.nsec.mtime = mtime.nsec;
        }
        Ok(n.meta.clone())
    }

    fn rename(&self, node: NodeId, dir: NodeId, name: &[u8], user: &str) -> Result<Meta> {
        check_name(name)?;
        let mut tree = self.lock();
        if node == tree.root {
            return Err(Error::RemoveRoot);
        }
        tree.linked(node)?;
        tree.linked(dir)?;
        if tree.node(node)?.parent == dir {
            drop(tree);
            let change = SetMeta {
                name: Some(name.to_vec()),
                ..SetMeta::default()
            };
            return self.wstat(node, &change, user);
        }
        // Check everything before changing anything: a directory must not
        // move below itself, the target must be a directory with the name
        // free.
        tree.check_move(node, dir)?;
        if tree.child(dir, name)?.is_some() {
            return Err(Error::Exists);
        }
        tree.move_across(node, dir, name, user)
    }

    fn readdir(
        &self,
        dir: NodeId,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry) -> bool,
    ) -> Result<()> {
        let tree = self.lock();
        let Body::Dir { slots, names, .. } = &tree.node(dir)?.body else {
            return Err(Error::NotDir);
        };
        for (&slot, child) in slots.range(cookie..) {
            let n = tree.node(*child)?;
            let mut meta = n.meta.clone();
            if !n.others.is_empty() {
                // Shown by the name in this slot, which may not be primary.
                let name = names.iter().find(|(_, s)| **s == slot);
                meta.name = name.map_or(meta.name, |(name, _)| name.clone());
            }
            let entry = DirEntry {
                meta,
                cookie: slot + 1,
            };
            if !sink(entry) {
                break;
            }
        }
        Ok(())
    }

    fn seek_data(&self, node: NodeId, offset: u64, whence: Seek) -> Result<u64> {
        let tree = self.lock();
        let file = tree.node(node)?.file()?;
        file.seek(offset, whence == Seek::Data)
            .ok_or(Error::PastEnd)
    }

    /// File data held, against the machine's memory, where MemFs keeps it
    /// (unknown if /proc/meminfo cannot be read).
    fn space(&self) -> Option<Space> {
        let used = self
            .lock()
            .nodes
            .values()
            .filter_map(|n| n.file().ok())
            .map(SparseBytes::held)
            .sum();
        Some(Space {
            used,
            cached: 0,
            limit: physical_memory()?,
        })
    }
}

/// The machine's memory in bytes, from /proc/meminfo.
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = info.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    kib.trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?
        .checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs() -> MemFs {
        MemFs::with_root("glenda", "sys", 0o775)
    }

    #[test]
    fn files_are_limited_to_max_file() {
        let fs = fs();
        let f = fs.create(0, b"a", 0o644, "glenda").unwrap();
        assert!(matches!(
            fs.write(f.node(), MAX_FILE, b"x", "bob"),
            Err(Error::TooLarge)
        ));
        let grow = SetMeta {
            length: Some(MAX_FILE + 1),
            ..SetMeta::default()
        };
        assert!(matches!(
            fs.wstat(f.node(), &grow, "bob"),
            Err(Error::TooLarge)
        ));
        assert_eq!(fs.stat(f.node()).unwrap().length, 0);
    }

    #[test]
    fn insert_keeps_given_metadata() {
        let fs = fs();
        let meta = Meta {
            qid: Qid {
                ty: 0,
                version: 0,
                path: 9,
            },
            mode: DMDIR | 0o755,
            atime: 1,
            mtime: 2,
            length: 0,
            name: "d".into(),
            uid: "root".into(),
            gid: "root".into(),
            muid: String::new(),
            ..Meta::default()
        };
        fs.insert(0, meta.clone(), Vec::new()).unwrap();
        let file = Meta {
            qid: Qid {
                ty: 0,
                version: 0,
                path: 10,
            },
            mode: 0o644,
            name: "f".into(),
            ..meta.clone()
        };
        fs.insert(9, file, b"abc".to_vec()).unwrap();
        let got = fs.stat(9).unwrap();
        assert_eq!(
            got,
            Meta {
                qid: Qid {
                    ty: 0x80,
                    version: 0,
                    path: 9
                },
                // One name, whatever the fixture said.
                nlink: 1,
                ..meta
            }
        );
        assert_eq!(fs.stat(10).unwrap().length, 3);
        assert_eq!(fs.create(0, b"next", 0o644, "x").unwrap().qid.path, 11);
        assert!(matches!(
            fs.insert(0, fs.stat(10).unwrap(), vec![]),
            Err(Error::Exists)
        ));
    }
}
