//! Metadata changes (all or nothing) and renames.

use crate::error::{Error, Result};
use crate::fossil::links::NamesGate;
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
    let rename = change.name.as_ref().filter(|n| **n != st.de.elem);
    if let Some(n) = rename {
        check_name(n)?;
        if node == ROOT {
            return Err(Error::RemoveRoot);
        }
    }
    Ok(rename.cloned())
}

/// Applies a validated change to a node's state; returns the old name.
fn apply(st: &mut NodeState, change: &SetMeta, user: &str) -> Result<Vec<u8>> {
    if let (Some(l), false) = (change.length, st.is_dir()) {
        st.data.set_size(l)?;
    }
    let old = st.de.elem.clone();
    if let Some(n) = &change.name {
        st.de.elem = n.clone();
    }
    if let Some(m) = change.mode {
        st.de.mode = from_plan9(m, st.de.mode);
    }
    if let Some(u) = &change.uid {
        st.de.uid = u.as_bytes().to_vec();
    }
    if let Some(n) = change.new_uid_number() {
        st.de.set_uid_number(n);
    }
    if let Some(g) = &change.gid {
        st.de.gid = g.as_bytes().to_vec();
    }
    if let Some(n) = change.new_gid_number() {
        st.de.set_gid_number(n);
    }
    let t = now();
    // Only a new length modifies the contents (mtime, mid); chmod, chown,
    // rename and times leave mtime alone (as on Plan 9 and Unix: cp -a and
    // tar set times before modes and owners), but change ctime.
    if change.length.is_some() {
        st.touch(Some(user), t);
    } else if !change.is_empty() {
        st.changed(t);
    }
    // Explicit times win over the ones the change itself set.
    let mut nanos = st.de.nanos();
    if let Some(a) = change.atime {
        st.de.atime = a.secs;
        nanos.atime = a.nsec;
    }
    if let Some(m) = change.mtime {
        st.de.mtime = m.secs;
        nanos.mtime = m.nsec;
    }
    st.de.set_nanos(nanos);
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
            let _g = match change.name {
                Some(_) => self.names_gate(|| self.node_touches_links(node, true))?,
                None => NamesGate::Shared(self.gate.read().unwrap_or_else(|p| p.into_inner())),
            };
            self.wstat_held(node, change, user)?;
            self.after_change()?;
        }
        self.stat(node)
    }

    /// [`Fossil::wstat`] with the gate held (shared or alone).
    pub(crate) fn wstat_held(&self, node: NodeId, change: &SetMeta, user: &str) -> Result<()> {
        let n = self.node(node)?;
        let pid = n.read().parent;
        if change.name.is_some() && node != ROOT {
            let old_path = self.path_if_links(node)?;
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
                drop((ps, ns));
                self.links_renamed(old_path, node)?;
            }
        } else {
            // A removed node kept for its holders takes changes too.
            let mut ns = n.write();
            validate(node, &ns, change)?;
            apply(&mut ns, change, user)?;
        }
        self.mark_dirty(node);
        self.mark_dirty(pid);
        Ok(())
    }
}
