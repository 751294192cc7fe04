//! Moving files: within a directory, across directories, over an existing
//! name (atomically) and exchanging two names.

use serde::{Deserialize, Serialize};

use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::fossil::links::NamesGate;
use crate::fossil::meta::{Meta, SetMeta};
use crate::fossil::{Fossil, NodeId, ROOT, check_name, now};

/// What a rename does when the new name is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RenameMode {
    /// Fail with [`Error::Exists`] (`RENAME_NOREPLACE`; 9P's rule).
    NoReplace,
    /// Replace it, as rename(2) does: a file by a file, an empty directory
    /// by a directory.
    Replace,
    /// Swap the two names (`RENAME_EXCHANGE`); the name must exist.
    Exchange,
}

impl Fossil {
    /// Moves `node` to `name` in directory `dir` (which may be another
    /// directory). [`Error::Exists`] if the name is taken,
    /// [`Error::MoveIntoSelf`] if `dir` is `node` or below it.
    pub fn rename(&self, node: NodeId, dir: NodeId, name: &[u8], user: &str) -> Result<Meta> {
        self.rename_as(node, dir, name, RenameMode::NoReplace, user)
    }

    /// Moves `node` to `name` in `dir`, doing what `mode` says when the
    /// name is taken. Replacing and exchanging hold the gate alone, so no
    /// other operation and no save ever sees a moment in which neither
    /// file has the name (or, exchanging, a name is missing).
    /// [`Error::NotFound`] exchanging with a free name; replacing, a
    /// directory replaces only an empty directory ([`Error::NotEmpty`],
    /// [`Error::NotDir`]) and a file only a file ([`Error::IsDir`]).
    pub fn rename_as(
        &self,
        node: NodeId,
        dir: NodeId,
        name: &[u8],
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        check_name(name)?;
        if node == ROOT {
            return Err(Error::RemoveRoot);
        }
        if mode == RenameMode::NoReplace && self.live(node)?.read().parent == dir {
            // The common case stays a shared-gate metadata change.
            let change = SetMeta {
                name: Some(name.to_vec()),
                ..Default::default()
            };
            return self.wstat(node, &change, user);
        }
        {
            // Moves take the gate alone: no other change runs meanwhile,
            // so the nodes can be locked one at a time.
            let _g = self.gate.write().unwrap_or_else(|p| p.into_inner());
            self.rename_held(node, dir, name, mode, user)?;
        }
        self.stat(node)
    }

    /// [`Fossil::rename_as`] after its checks, with the gate held alone.
    fn rename_held(
        &self,
        node: NodeId,
        dir: NodeId,
        name: &[u8],
        mode: RenameMode,
        user: &str,
    ) -> Result<()> {
        self.check_not_within(dir, node)?;
        let target = match self.lookup(dir, name) {
            Ok(m) => Some(m),
            Err(Error::NotFound) => None,
            Err(e) => return Err(e),
        };
        if target.is_some() {
            // The target's name in `dir` is the one replaced or swapped.
            self.make_primary(dir, name)?;
        }
        let src = self.stat(node)?;
        match (mode, target) {
            (_, Some(t)) if t.node() == node => {}
            (RenameMode::Exchange, None) => return Err(Error::NotFound),
            (RenameMode::NoReplace, Some(_)) => return Err(Error::Exists),
            (RenameMode::Exchange, Some(t)) => self.exchange_held(&src, &t, user)?,
            (RenameMode::Replace, Some(t)) => {
                match (src.is_dir(), t.is_dir()) {
                    (true, false) => return Err(Error::NotDir),
                    (false, true) => return Err(Error::IsDir),
                    _ => {}
                }
                self.remove_held(t.node())?;
                self.move_held(node, dir, name, user)?;
            }
            (_, None) => self.move_held(node, dir, name, user)?,
        }
        Ok(())
    }

    /// Moves name `from` of directory `from_dir` to `name` in `dir` (the
    /// pairs are directory and name), as
    /// [`Fossil::rename_as`] moves a node: for a file of several names,
    /// this one.
    pub fn rename_at(
        &self,
        (from_dir, from): (NodeId, &[u8]),
        (dir, name): (NodeId, &[u8]),
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        check_name(name)?;
        // The target too: replacing a linked file removes one of its names.
        let touches = || {
            Ok(self.name_touches_links(from_dir, from, true)?
                || self.name_touches_links(dir, name, false)?)
        };
        let node = match self.names_gate(touches)? {
            // Neither name is of a file of several: each is its node's.
            NamesGate::Shared(_g) => self.make_primary(from_dir, from)?,
            NamesGate::Alone(_g) => {
                let node = self.make_primary(from_dir, from)?;
                self.rename_held(node, dir, name, mode, user)?;
                return self.stat(node);
            }
        };
        self.rename_as(node, dir, name, mode, user)
    }

    /// [`Error::MoveIntoSelf`] if `dir` is `node` or below it.
    fn check_not_within(&self, dir: NodeId, node: NodeId) -> Result<()> {
        let mut up = dir;
        loop {
            if up == node {
                return Err(Error::MoveIntoSelf);
            }
            if up == ROOT {
                return Ok(());
            }
            up = self.live(up)?.read().parent;
        }
    }

    /// Swaps the names of `a` and `b`, with the gate held alone: `a` steps
    /// aside to a name no file has, `b` takes `a`'s place, `a` takes `b`'s.
    /// A failing step undoes the ones before it.
    fn exchange_held(&self, a: &Meta, b: &Meta, user: &str) -> Result<()> {
        let (da, db) = (self.parent(a.node())?.node(), self.parent(b.node())?.node());
        if a.is_dir() {
            self.check_not_within(db, a.node())?;
        }
        if b.is_dir() {
            self.check_not_within(da, b.node())?;
        }
        let aside = format!(".colony-exchange-{}", a.node());
        self.move_held(a.node(), da, aside.as_bytes(), user)?;
        if let Err(e) = self.move_held(b.node(), da, &a.name, user) {
            let _ = self.move_held(a.node(), da, &a.name, user);
            return Err(e);
        }
        if let Err(e) = self.move_held(a.node(), db, &b.name, user) {
            let _ = self.move_held(b.node(), db, &b.name, user);
            let _ = self.move_held(a.node(), da, &a.name, user);
            return Err(e);
        }
        Ok(())
    }

    /// Moves `node` to the free name `name` in `dir`, with the gate held
    /// alone.
    fn move_held(&self, node: NodeId, dir: NodeId, name: &[u8], user: &str) -> Result<()> {
        let n = self.live(node)?;
        let old_pid = n.read().parent;
        if old_pid == dir {
            let change = SetMeta {
                name: Some(name.to_vec()),
                ..Default::default()
            };
            return self.wstat_held(node, &change, user);
        }
        let nd = self.live(dir)?;
        self.ensure_children(&nd)?;
        if nd.read().children()?.by_name.contains_key(name) {
            return Err(Error::Exists);
        }
        let op = self.live(old_pid)?;
        self.ensure_children(&op)?;
        let old_path = self.path_if_links(node)?;
        let (mut de, is_dir) = {
            let ns = n.read();
            (ns.de.clone(), ns.is_dir())
        };
        let t = now();
        {
            let mut ps = op.write();
            let r = ps.remove_child(&de.elem)?;
            ps.free_slots(&r.de)?;
            ps.touch(Some(user), t);
        }
        let (psize, dsize) = self.geometry();
        {
            let mut ds = nd.write();
            let slot = ds.alloc_slots(is_dir)?;
            // Placeholders: save writes the node's real entries here.
            ds.write_slot(slot, Some(&Entry::empty(psize, dsize, is_dir)))?;
            if is_dir {
                ds.write_slot(slot + 1, Some(&Entry::empty(psize, dsize, false)))?;
            }
            de.elem = name.to_vec();
            de.entry = slot;
            de.mentry = slot + 1;
            de.generation = 0;
            de.mgen = 0;
            ds.insert_child(de.clone())?;
            ds.touch(Some(user), t);
        }
        {
            let mut ns = n.write();
            ns.data.set_generation(0);
            if let Some(m) = ns.meta.as_mut() {
                m.set_generation(0);
            }
            ns.de = de;
            ns.parent = dir;
            // A move is a change, as a rename by wstat is.
            ns.changed(t);
        }
        self.links_renamed(old_path, node)?;
        self.mark_dirty(node);
        self.mark_dirty(old_pid);
        self.mark_dirty(dir);
        Ok(())
    }
}
