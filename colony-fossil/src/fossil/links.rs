//! Hard links ([`crate::extension`]'s Link and LinkTable records).
//!
//! Every name of a linked file is a whole vac entry; the live file system
//! keeps one node per group (its id is the group id) whose `parent` and
//! `de` are one of its names, the primary. The link table lists every
//! group's names as paths from the root; it is what lets a save rewrite
//! every copy, even in directories not loaded since the open, and it is
//! kept current by link, unlink and every rename (a directory's rewrites
//! the paths below it). A group that falls to one name leaves the table.
//! Changes that read or rewrite those paths hold the gate alone
//! ([`Fossil::names_gate`]), so that no other rename moves them meanwhile.

use std::collections::BTreeMap;
use std::sync::{RwLockReadGuard, RwLockWriteGuard};

use crate::cow_tree::CowTree;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::extension::TableAt;
use crate::fossil::dir::ChildRef;
use crate::fossil::meta::Meta;
use crate::fossil::{Fossil, NodeId, ROOT, check_name, now};

/// Group id -> paths of its names.
#[derive(Default)]
pub(crate) struct LinkTable {
    groups: BTreeMap<u64, Vec<Vec<u8>>>,
    /// True if it differs from the saved table.
    pub changed: bool,
}

impl LinkTable {
    /// The table of these groups (group id, paths), leaving out those of
    /// fewer than two names.
    pub fn of_groups(groups: impl IntoIterator<Item = (u64, Vec<Vec<u8>>)>) -> LinkTable {
        LinkTable {
            groups: groups.into_iter().filter(|(_, p)| p.len() > 1).collect(),
            changed: true,
        }
    }

    /// The table's stream encoding (see [`crate::extension`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (g, paths) in &self.groups {
            out.extend_from_slice(&g.to_be_bytes());
            out.extend_from_slice(&(paths.len() as u32).to_be_bytes());
            for p in paths {
                out.extend_from_slice(&(p.len() as u32).to_be_bytes());
                out.extend_from_slice(p);
            }
        }
        out
    }

    /// Decodes a table stream; every group must have two names or more.
    pub fn decode(mut b: &[u8]) -> Result<LinkTable> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
            if b.len() < n {
                return Err(Error::format("link table", "truncated"));
            }
            let (h, t) = b.split_at(n);
            *b = t;
            Ok(h)
        }
        let u32_of = |x: &[u8]| u32::from_be_bytes(x.try_into().expect("4 bytes")) as usize;
        let mut t = LinkTable::default();
        while !b.is_empty() {
            let g = u64::from_be_bytes(take(&mut b, 8)?.try_into().expect("8 bytes"));
            let n = u32_of(take(&mut b, 4)?);
            if n < 2 {
                return Err(Error::format(
                    "link table",
                    format!("group {g} of {n} names"),
                ));
            }
            let mut paths = Vec::new();
            for _ in 0..n {
                let len = u32_of(take(&mut b, 4)?);
                let p = take(&mut b, len)?.to_vec();
                if p.is_empty() || p.split(|&c| c == b'/').any(|e| e.is_empty()) {
                    return Err(Error::format("link table", "empty path element"));
                }
                paths.push(p);
            }
            if t.groups.insert(g, paths).is_some() {
                return Err(Error::format("link table", format!("group {g} twice")));
            }
        }
        Ok(t)
    }

    /// How many names group `g` has (1 if it is not in the table).
    pub fn count(&self, g: u64) -> u32 {
        self.groups.get(&g).map_or(1, |p| p.len() as u32)
    }

    /// The paths of group `g`'s names (none if not in the table).
    pub fn paths(&self, g: u64) -> Vec<Vec<u8>> {
        self.groups.get(&g).cloned().unwrap_or_default()
    }

    /// True if no file has two names.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Adds name `new` to the group of the file at `existing`.
    fn add(&mut self, g: u64, existing: Vec<u8>, new: Vec<u8>) {
        let paths = self.groups.entry(g).or_insert_with(|| vec![existing]);
        paths.push(new);
        self.changed = true;
    }

    /// Forgets name `path` of group `g`; returns the names left (a group
    /// left with one name leaves the table).
    fn remove(&mut self, g: u64, path: &[u8]) -> usize {
        let Some(paths) = self.groups.get_mut(&g) else {
            return 0;
        };
        paths.retain(|p| p != path);
        let left = paths.len();
        if left < 2 {
            self.groups.remove(&g);
        }
        self.changed = true;
        left
    }

    /// A name moved from `old` to `new`: the path itself, and every path
    /// below it (a directory's).
    pub fn renamed(&mut self, old: &[u8], new: &[u8]) {
        for p in self.groups.values_mut().flatten() {
            if p.as_slice() == old {
                *p = new.to_vec();
                self.changed = true;
            } else if p.starts_with(old) && p.get(old.len()) == Some(&b'/') {
                let mut n = new.to_vec();
                n.extend_from_slice(&p[old.len()..]);
                *p = n;
                self.changed = true;
            }
        }
    }
}

/// The gate as a change of names holds it ([`Fossil::names_gate`]).
pub(crate) enum NamesGate<'a> {
    /// Shared with other changes.
    Shared(RwLockReadGuard<'a, ()>),
    /// Alone.
    Alone(RwLockWriteGuard<'a, ()>),
}

/// `dir`'s path joined with `name`.
pub(crate) fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut p = dir.to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

impl Fossil {
    pub(crate) fn lock_links(&self) -> std::sync::MutexGuard<'_, LinkTable> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The gate for a change of names: alone if `touches` (asked under
    /// the shared gate, and only while some file has several names) says
    /// the change reads or rewrites paths the link table keeps, since
    /// another such change could alter them meanwhile; else shared. (Only
    /// link, which holds the gate alone, makes a file linked, so what
    /// `touches` finds under the shared gate stays true.)
    pub(crate) fn names_gate(
        &self,
        touches: impl FnOnce() -> Result<bool>,
    ) -> Result<NamesGate<'_>> {
        let shared = self.gate.read().unwrap_or_else(|p| p.into_inner());
        if self.lock_links().is_empty() || !touches()? {
            return Ok(NamesGate::Shared(shared));
        }
        drop(shared);
        Ok(NamesGate::Alone(
            self.gate.write().unwrap_or_else(|p| p.into_inner()),
        ))
    }

    /// Whether node `node` has several names, or (with `dirs`) is a
    /// directory, whose renames rewrite the paths below it.
    pub(crate) fn node_touches_links(&self, node: NodeId, dirs: bool) -> Result<bool> {
        let n = self.live(node)?;
        let st = n.read();
        Ok(st.de.link().is_some() || dirs && st.is_dir())
    }

    /// [`Fossil::node_touches_links`] of the file `name` in `dir` (false
    /// if there is none).
    pub(crate) fn name_touches_links(&self, dir: NodeId, name: &[u8], dirs: bool) -> Result<bool> {
        let d = self.live(dir)?;
        self.ensure_children(&d)?;
        let r = match d.read().child_ref(name) {
            Ok(r) => r,
            Err(Error::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        // A node not loaded is as its directory records it.
        match self.loaded(r.qid) {
            Some(_) => self.node_touches_links(r.qid, dirs),
            None => Ok(r.de.link().is_some() || dirs && r.de.mode & crate::mode::DIR != 0),
        }
    }

    /// Reads the link table `/`'s DirEntry points at.
    pub(crate) fn load_links(&self, at: Option<TableAt>) -> Result<()> {
        let Some((score, size, depth)) = at else {
            return Ok(());
        };
        let (psize, dsize) = self.geometry();
        let e = Entry {
            score,
            size,
            depth,
            ..Entry::empty(psize, dsize, false)
        };
        let len =
            usize::try_from(size).map_err(|_| Error::format("link table", "larger than memory"))?;
        let bytes = CowTree::open(self.blocks.clone(), e)?.read(0, len)?;
        *self.lock_links() = LinkTable::decode(&bytes)?;
        Ok(())
    }

    /// Writes the link table if it changed since the last save: returns
    /// where it is now (`Some(None)`: nowhere, it is empty), or `None` if
    /// `/` keeps the record it has.
    pub(crate) fn save_links(&self) -> Result<Option<Option<TableAt>>> {
        let mut t = self.lock_links();
        if !t.changed {
            return Ok(None);
        }
        let at = if t.is_empty() {
            None
        } else {
            let (psize, dsize) = self.geometry();
            let mut tree = CowTree::empty(self.blocks.clone(), psize, dsize, false)?;
            tree.write(0, &t.encode())?;
            let e = tree.flush()?;
            Some((e.score, e.size, e.depth))
        };
        t.changed = false;
        Ok(Some(at))
    }

    /// The path of directory (or primary name of) `node` from the root.
    pub(crate) fn path_of(&self, node: NodeId) -> Result<Vec<u8>> {
        let mut elems = Vec::new();
        let mut at = node;
        while at != ROOT {
            let n = self.node(at)?;
            let st = n.read();
            elems.push(st.de.elem.clone());
            at = st.parent;
            if elems.len() > 1 << 20 {
                return Err(Error::format(
                    "tree",
                    "parent chain does not reach the root",
                ));
            }
        }
        elems.reverse();
        Ok(elems.join(&b'/'))
    }

    /// The directory holding `path`'s last element, and that child.
    pub(crate) fn resolve(&self, path: &[u8]) -> Result<(NodeId, ChildRef)> {
        let mut elems: Vec<&[u8]> = path.split(|&c| c == b'/').collect();
        let last = elems.pop().ok_or(Error::NotFound)?;
        let mut dir = ROOT;
        for e in elems {
            let d = self.live(dir)?;
            self.ensure_children(&d)?;
            let st = d.read();
            dir = self.child_of(&st, dir, e)?.id;
        }
        let d = self.live(dir)?;
        self.ensure_children(&d)?;
        let r = d.read().child_ref(last)?;
        Ok((dir, r))
    }

    /// The locations (directory, child record) of `node`'s names other
    /// than its primary one.
    pub(crate) fn other_names(&self, node: NodeId) -> Result<Vec<(NodeId, ChildRef)>> {
        let paths = self.lock_links().paths(node);
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let primary = self.path_of(node)?;
        paths
            .iter()
            .filter(|p| **p != primary)
            .map(|p| self.resolve(p))
            .collect()
    }

    /// `node`'s path before a rename, if any file has several names (the
    /// table then needs the rename, see [`Fossil::links_renamed`]).
    pub(crate) fn path_if_links(&self, node: NodeId) -> Result<Option<Vec<u8>>> {
        if self.lock_links().is_empty() {
            return Ok(None);
        }
        self.path_of(node).map(Some)
    }

    /// After `node` was renamed from `old` (from
    /// [`Fossil::path_if_links`]): the table follows.
    pub(crate) fn links_renamed(&self, old: Option<Vec<u8>>, node: NodeId) -> Result<()> {
        if let Some(old) = old {
            let new = self.path_of(node)?;
            self.lock_links().renamed(&old, &new);
        }
        Ok(())
    }

    /// `node`'s metadata as its name `name` shows it, with its link count.
    pub(crate) fn meta_named(&self, st: &crate::fossil::node::NodeState, id: NodeId) -> Meta {
        let mut m = st.meta(id);
        if st.de.link().is_some() {
            m.nlink = self.lock_links().count(id);
        }
        m
    }

    /// Gives file `node` the new name `name` in `dir` (link(2)): a second
    /// vac entry sharing its contents. [`Error::IsDir`] for a directory
    /// (Linux's EPERM), [`Error::Exists`] if the name is taken.
    pub fn link(&self, node: NodeId, dir: NodeId, name: &[u8]) -> Result<Meta> {
        check_name(name)?;
        // Alone: the paths read here must not change before they are kept.
        let _g = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let n = self.live(node)?;
        if n.read().is_dir() {
            return Err(Error::IsDir);
        }
        let d = self.live(dir)?;
        self.ensure_children(&d)?;
        let existing = self.path_of(node)?;
        let new = join(&self.path_of(dir)?, name);
        let (psize, dsize) = self.geometry();
        let t = now();
        let mut de = n.read().de.clone();
        de.set_link(Some(node));
        {
            let mut ds = d.write();
            if ds.removed {
                return Err(Error::NotFound);
            }
            if ds.children()?.by_name.contains_key(name) {
                return Err(Error::Exists);
            }
            let slot = ds.alloc_slots(false)?;
            // A placeholder: save writes the file's entry into every name.
            ds.write_slot(slot, Some(&Entry::empty(psize, dsize, false)))?;
            de.elem = name.to_vec();
            de.entry = slot;
            de.mentry = slot + 1;
            de.generation = 0;
            de.mgen = 0;
            ds.insert_child(de)?;
            ds.touch(None, t);
        }
        let pid = {
            let mut st = n.write();
            st.de.set_link(Some(node));
            st.changed(t);
            st.parent
        };
        self.lock_links().add(node, existing, new);
        self.mark_dirty(node);
        self.mark_dirty(pid);
        self.mark_dirty(dir);
        self.stat(node)
    }

    /// Makes name `name` in `dir` the primary name of the file it names
    /// (a no-op for files of one name), so that operations on the node
    /// act on that name. Returns the node.
    pub(crate) fn make_primary(&self, dir: NodeId, name: &[u8]) -> Result<NodeId> {
        let d = self.live(dir)?;
        self.ensure_children(&d)?;
        let (r, n) = {
            let st = d.read();
            let r = st.child_ref(name)?;
            (r, self.child_of(&st, dir, name)?)
        };
        let mut st = n.write();
        if st.de.link().is_some() && (st.parent != dir || st.de.elem != name) {
            st.parent = dir;
            take_location(&mut st.de, &r);
        }
        Ok(n.id)
    }

    /// Forgets `node`'s primary name `path` (already taken out of its
    /// directory) if it has others: another becomes primary. Returns false
    /// if the name was its last.
    pub(crate) fn unlink_primary(&self, node: NodeId, path: &[u8]) -> Result<bool> {
        let n = self.live(node)?;
        let paths = self.lock_links().paths(node);
        let rest: Vec<&Vec<u8>> = paths.iter().filter(|p| p.as_slice() != path).collect();
        let Some(next) = rest.first() else {
            return Ok(false);
        };
        let (pid, r) = self.resolve(next)?;
        self.lock_links().remove(node, path);
        let mut st = n.write();
        st.parent = pid;
        take_location(&mut st.de, &r);
        if rest.len() == 1 {
            st.de.set_link(None);
        }
        st.changed(now());
        drop(st);
        self.mark_dirty(node);
        self.mark_dirty(pid);
        Ok(true)
    }
}

/// Takes the location fields of a name's DirEntry into a node's.
pub(crate) fn take_location(de: &mut crate::DirEntry, r: &ChildRef) {
    de.elem = r.de.elem.clone();
    de.entry = r.de.entry;
    de.mentry = r.de.mentry;
    de.generation = r.de.generation;
    de.mgen = r.de.mgen;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn path() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::collection::vec(1u8..=255, 1..6), 1..4).prop_map(|elems| {
            elems
                .into_iter()
                .map(|e| {
                    e.into_iter()
                        .map(|c| if c == b'/' { b'x' } else { c })
                        .collect()
                })
                .collect::<Vec<Vec<u8>>>()
                .join(&b'/')
        })
    }

    proptest! {
        #[test]
        fn tables_round_trip(groups in prop::collection::btree_map(
            any::<u64>(), prop::collection::vec(path(), 2..5), 0..6)) {
            let t = LinkTable::of_groups(groups.clone());
            let back = LinkTable::decode(&t.encode()).unwrap();
            prop_assert_eq!(back.groups, groups);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(b in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = LinkTable::decode(&b);
        }
    }

    #[test]
    fn malformed_tables_are_refused() {
        let t = LinkTable::of_groups([(7, vec![b"a".to_vec(), b"b/c".to_vec()])]);
        let good = t.encode();
        let fails = |b: &[u8], why: &str| {
            let e = LinkTable::decode(b).err().expect(why).to_string();
            assert!(e.contains(why), "{e} lacks {why}");
        };
        fails(&good[..good.len() - 1], "truncated");
        let mut one = 7u64.to_be_bytes().to_vec();
        one.extend_from_slice(&1u32.to_be_bytes());
        one.extend_from_slice(&1u32.to_be_bytes());
        one.push(b'a');
        fails(&one, "group 7 of 1 names");
        let twice = [good.clone(), good.clone()].concat();
        fails(&twice, "group 7 twice");
        let mut empty_elem = good.clone();
        let at = empty_elem.len() - 3; // "b/c" -> "b//"
        empty_elem[at + 2] = b'/';
        fails(&empty_elem, "empty path element");
    }

    #[test]
    fn renames_rewrite_paths_and_those_below() {
        let mut t = LinkTable::of_groups([
            (1, vec![b"a/f".to_vec(), b"ab/g".to_vec()]),
            (2, vec![b"a".to_vec(), b"x/a/b/h".to_vec()]),
        ]);
        t.renamed(b"a", b"z");
        assert_eq!(t.paths(1), vec![b"z/f".to_vec(), b"ab/g".to_vec()]);
        assert_eq!(t.paths(2), vec![b"z".to_vec(), b"x/a/b/h".to_vec()]);
        assert_eq!(t.remove(1, b"z/f"), 1);
        assert_eq!(t.count(1), 1, "a group of one name leaves the table");
    }
}
