//! Creating and removing files, directories and symlinks.

use colony_venti::Score;

use crate::archive::Archive;
use crate::cow_tree::CowTree;
use crate::dir::{Child, DirReader};
use crate::dir_entry::DirEntry;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::extension::Nanos;
use crate::fossil::meta::{DMDIR, DMSYMLINK, Meta, NewFile, from_plan9};
use crate::fossil::node::{Node, NodeState};
use crate::fossil::{Fossil, NodeId, ROOT, check_name, now};

impl Fossil {
    /// Creates `name` in `dir` with Plan 9 mode `perm` (DMDIR: a
    /// directory; DMSYMLINK: a symlink), owner `user`, the directory's
    /// group, and the next qid. [`Error::Exists`] if the name is taken.
    pub fn create(&self, dir: NodeId, name: &[u8], perm: u32, user: &str) -> Result<Meta> {
        self.make(
            dir,
            name,
            &NewFile {
                perm,
                user,
                ..NewFile::default()
            },
        )
    }

    /// Creates `name` in `dir` as `new` says (any kind of file, any
    /// owner), with the next qid. [`Error::Exists`] if the name is taken.
    pub fn make(&self, dir: NodeId, name: &[u8], new: &NewFile<'_>) -> Result<Meta> {
        check_name(name)?;
        let _g = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let d = self.live(dir)?;
        self.ensure_children(&d)?;
        let qid = self.alloc_qid()?;
        let is_dir = new.perm & DMDIR != 0;
        let (psize, dsize) = self.geometry();
        let t = now();
        let user = new.user;
        let node = {
            let mut st = d.write();
            if st.removed {
                return Err(Error::NotFound);
            }
            if st.children()?.by_name.contains_key(name) {
                return Err(Error::Exists);
            }
            let slot = st.alloc_slots(is_dir)?;
            let mut de = DirEntry {
                version: 8,
                elem: name.to_vec(),
                entry: slot,
                generation: 0,
                mentry: slot + 1,
                mgen: 0,
                qid,
                v7_score: None,
                uid: user.as_bytes().to_vec(),
                gid: new
                    .group
                    .map_or_else(|| st.de.gid.clone(), |g| g.as_bytes().to_vec()),
                mid: user.as_bytes().to_vec(),
                mtime: t.secs,
                mcount: 0,
                ctime: t.secs,
                atime: t.secs,
                mode: from_plan9(new.perm, 0),
                records: Vec::new(),
            };
            de.set_uid_number(new.uid_number);
            de.set_gid_number(match new.group {
                Some(_) => new.gid_number,
                None => st.de.gid_number(),
            });
            de.set_nanos(Nanos {
                atime: t.nsec,
                mtime: t.nsec,
                ctime: t.nsec,
            });
            de.set_special(new.special);
            st.write_slot(slot, Some(&Entry::empty(psize, dsize, is_dir)))?;
            if is_dir {
                st.write_slot(slot + 1, Some(&Entry::empty(psize, dsize, false)))?;
            }
            st.insert_child(de.clone())?;
            st.touch(Some(user), t);
            let mut child = NodeState {
                parent: dir,
                de,
                meta_dirty: false,
                removed: false,
                data: CowTree::empty(self.blocks.clone(), psize, dsize, is_dir)?,
                meta: if is_dir {
                    Some(CowTree::empty(self.blocks.clone(), psize, dsize, false)?)
                } else {
                    None
                },
                children: None,
            };
            if is_dir {
                child.load_children()?;
            }
            self.insert_node(Node::new(qid, child))
        };
        self.mark_dirty(dir);
        self.mark_dirty(qid);
        let st = node.read();
        Ok(st.meta(qid))
    }

    /// Creates a symbolic link `name` in `dir` pointing at `target`.
    pub fn symlink(&self, dir: NodeId, name: &[u8], target: &[u8], user: &str) -> Result<Meta> {
        let m = self.create(dir, name, DMSYMLINK | 0o777, user)?;
        self.write(m.qid.path, 0, target, user)?;
        self.stat(m.qid.path)
    }

    /// Removes a file or an empty directory.
    pub fn remove(&self, node: NodeId) -> Result<()> {
        if node == ROOT {
            return Err(Error::RemoveRoot);
        }
        let _g = self.names_gate(|| self.node_touches_links(node, false))?;
        self.remove_held(node)
    }

    /// Removes name `name` of `dir`: the file itself unless it has other
    /// names (unlink(2)), or an empty directory.
    pub fn unlink(&self, dir: NodeId, name: &[u8]) -> Result<()> {
        let _g = self.names_gate(|| self.name_touches_links(dir, name, false))?;
        let node = self.make_primary(dir, name)?;
        self.remove_held(node)
    }

    /// [`Fossil::remove`] of a node other than the root, with the gate
    /// held (shared or alone): its primary name, and the node with it
    /// unless it has others.
    pub(crate) fn remove_held(&self, node: NodeId) -> Result<()> {
        let n = self.live(node)?;
        let (pid, linked) = {
            let st = n.read();
            (st.parent, st.de.link().is_some())
        };
        let path = if linked {
            Some(self.path_of(node)?)
        } else {
            None
        };
        let p = self.live(pid)?;
        self.ensure_children(&p)?;
        {
            let mut ps = p.write();
            let mut ns = n.write();
            if ns.removed {
                return Err(Error::NotFound);
            }
            if ns.is_dir() {
                ns.load_children()?;
                if !ns.children()?.by_name.is_empty() {
                    return Err(Error::NotEmpty);
                }
            }
            let name = ns.de.elem.clone();
            let r = ps.remove_child(&name)?;
            ps.free_slots(&r.de)?;
            ps.touch(None, now());
            ns.removed = !linked;
        }
        self.mark_dirty(pid);
        if let Some(path) = path {
            if self.unlink_primary(node, &path)? {
                return Ok(());
            }
            n.write().removed = true;
        }
        if !self.keep_removed.load(std::sync::atomic::Ordering::Relaxed) {
            self.nodes
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&node);
        }
        self.dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&node);
        Ok(())
    }

    /// The next qid. Trees whose root carries no QidSpace record learn
    /// the largest qid in use by walking the opened snapshot once.
    pub(crate) fn alloc_qid(&self) -> Result<u64> {
        self.node(ROOT)?;
        {
            let mut q = self.qids();
            if let Some(n) = *q {
                *q = Some(n + 1);
                return Ok(n);
            }
        }
        let max = self.snapshot_max_qid()?;
        let mut q = self.qids();
        let n = q.unwrap_or(max + 1);
        *q = Some(n + 1);
        Ok(n)
    }

    fn snapshot_max_qid(&self) -> Result<u64> {
        fn walk<S: colony_venti::BlockStore + ?Sized>(
            store: &S,
            dir: &DirReader<'_, S>,
            max: &mut u64,
        ) -> Result<()> {
            for de in dir.list()? {
                *max = (*max).max(de.qid);
                if let Child::Dir { dir, meta } = dir.open(&de)? {
                    walk(store, &DirReader::new(store, dir, meta), max)?;
                }
            }
            Ok(())
        }
        let root = self.lock_snap().root.clone();
        if root.score == Score::EMPTY {
            return Ok(0);
        }
        let store = &**self.blocks.store();
        let a = Archive::from_root(store, root)?;
        let mut max = a.root_entry.qid;
        walk(store, &a.root_dir(store), &mut max)?;
        Ok(max)
    }
}
