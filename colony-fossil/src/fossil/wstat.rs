//! Metadata changes (all or nothing) and renames.

use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::fossil::meta::{DMDIR, Meta, SetMeta, from_plan9};
use crate::fossil::node::NodeState;
use crate::fossil::{Fossil, NodeId, ROOT, check_name, now};

/// Checks `change` against a node; returns the new name if it renames.
fn validate(node: NodeId, st: &NodeState, change: &SetMeta) -> Result<Option<Vec<u8>>> {
    let is_dir = st.is_dir();
    if let Some(m) = change.mode
        && (m & DMDIR != 0) != is_dir
    {
        return Err(Error::DirBit);
    }
    match change.length {
        Some(l) if is_dir && l != 0 => return Err(Error::DirLength),
        Some(l) if l > crate::entry::MAX_SIZE => return Err(Error::TooLarge(l)),
        _ => {}
    }
    let rename = change
        .name
        .as_ref()
        .filter(|n| n.as_bytes() != st.de.elem.as_slice());
    if let Some(n) = rename {
        check_name(n)?;
        if node == ROOT {
            return Err(Error::RemoveRoot);
        }
    }
    Ok(rename.map(|n| n.as_bytes().to_vec()))
}

/// Applies a validated change to a node's state; returns the old name.
fn apply(st: &mut NodeState, change: &SetMeta, user: &str) -> Result<Vec<u8>> {
    if let (Some(l), false) = (change.length, st.is_dir()) {
        st.data.set_size(l)?;
    }
    let old = st.de.elem.clone();
    if let Some(n) = &change.name {
        st.de.elem = n.as_bytes().to_vec();
    }
    if let Some(m) = change.mode {
        st.de.mode = from_plan9(m, st.de.mode);
    }
    if let Some(u) = &change.uid {
        st.de.uid = u.as_bytes().to_vec();
    }
    if let Some(g) = &change.gid {
        st.de.gid = g.as_bytes().to_vec();
    }
    if let Some(a) = change.atime {
        st.de.atime = a;
    }
    // Only a new length modifies the contents (mtime, mid); chmod, chown,
    // rename and times leave mtime alone (as on Plan 9 and Unix: cp -a and
    // tar set times before modes and owners), but still count a change.
    if change.length.is_some() {
        st.touch(Some(user), now());
    } else if !change.is_empty() {
        st.de.mcount = st.de.effective_mcount().wrapping_add(1);
        st.meta_dirty = true;
    }
    // An explicit mtime wins over the one the change itself set.
    if let Some(m) = change.mtime {
        st.de.mtime = m;
    }
    st.meta_dirty = true;
    Ok(old)
}

impl Fossil {
    /// Applies a metadata change, all or nothing: rename within the
    /// parent ([`Error::Exists`] on collision), mode (not DMDIR), times,
    /// owner, group, length. Returns the new metadata.
    pub fn wstat(&self, node: NodeId, change: &SetMeta, user: &str) -> Result<Meta> {
        if change.is_empty() {
            return self.stat(node);
        }
        {
            let _g = self.gate.read().unwrap_or_else(|p| p.into_inner());
            let n = self.live(node)?;
            let pid = n.read().parent;
            if change.name.is_some() && node != ROOT {
                // Renames edit the parent: lock it first.
                let p = self.live(pid)?;
                self.ensure_children(&p)?;
                let mut ps = p.write();
                let mut ns = n.write();
                if ns.removed {
                    return Err(Error::NotFound);
                }
                let rename = validate(node, &ns, change)?;
                if let Some(new) = &rename
                    && ps.children()?.by_name.contains_key(new)
                {
                    return Err(Error::Exists);
                }
                let saved = ns.de.clone();
                let old = apply(&mut ns, change, user)?;
                if rename.is_some() {
                    if let Err(e) = ps.update_child(&old, ns.de.clone()) {
                        ns.de = saved;
                        return Err(e);
                    }
                    ps.touch(None, now());
                }
            } else {
                let mut ns = n.write();
                if ns.removed {
                    return Err(Error::NotFound);
                }
                validate(node, &ns, change)?;
                apply(&mut ns, change, user)?;
            }
            self.mark_dirty(node);
            self.mark_dirty(pid);
            self.after_change()?;
        }
        self.stat(node)
    }

    /// Moves `node` to `name` in directory `dir` (which may be another
    /// directory). [`Error::Exists`] if the name is taken,
    /// [`Error::MoveIntoSelf`] if `dir` is `node` or below it.
    pub fn rename(&self, node: NodeId, dir: NodeId, name: &str, user: &str) -> Result<Meta> {
        check_name(name)?;
        if node == ROOT {
            return Err(Error::RemoveRoot);
        }
        if self.live(node)?.read().parent == dir {
            let change = SetMeta {
                name: Some(name.to_string()),
                ..Default::default()
            };
            return self.wstat(node, &change, user);
        }
        {
            // Moves take the gate alone: no other change runs meanwhile,
            // so the three nodes can be locked one at a time.
            let _g = self.gate.write().unwrap_or_else(|p| p.into_inner());
            let n = self.live(node)?;
            let old_pid = n.read().parent;
            let nd = self.live(dir)?;
            self.ensure_children(&nd)?;
            let mut up = dir;
            loop {
                if up == node {
                    return Err(Error::MoveIntoSelf);
                }
                if up == ROOT {
                    break;
                }
                up = self.live(up)?.read().parent;
            }
            if nd.read().children()?.by_name.contains_key(name.as_bytes()) {
                return Err(Error::Exists);
            }
            let op = self.live(old_pid)?;
            self.ensure_children(&op)?;
            let (mut de, is_dir) = {
                let ns = n.read();
                (ns.de.clone(), ns.is_dir())
            };
            {
                let mut ps = op.write();
                let r = ps.remove_child(&de.elem)?;
                ps.free_slots(&r.de)?;
                ps.touch(Some(user), now());
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
                de.elem = name.as_bytes().to_vec();
                de.entry = slot;
                de.mentry = slot + 1;
                de.generation = 0;
                de.mgen = 0;
                ds.insert_child(de.clone())?;
                ds.touch(Some(user), now());
            }
            {
                let mut ns = n.write();
                ns.data.set_generation(0);
                if let Some(m) = ns.meta.as_mut() {
                    m.set_generation(0);
                }
                // A move is a change, as a rename by wstat is.
                de.mcount = de.effective_mcount().wrapping_add(1);
                ns.de = de;
                ns.parent = dir;
                ns.meta_dirty = true;
            }
            self.mark_dirty(node);
            self.mark_dirty(old_pid);
            self.mark_dirty(dir);
        }
        self.stat(node)
    }
}
