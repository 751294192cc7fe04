//! Saving: writing what changed since the last save to venti, bottom-up,
//! and early flushes when dirty blocks reach the local store's limit.
//!
//! Save takes the gate alone, then visits the changed nodes deepest
//! first. For each it flushes its streams (only the blocks that changed,
//! with their pointer paths), patches its VtEntries into the one
//! dir-stream block of its parent that holds them and, if its metadata
//! changed, its DirEntry into the one MetaBlock that holds it; the parent
//! then counts as changed. At the root it writes `/`'s DirEntry with
//! QidSpace (only if it changed), the 3-entry top block, and a VtRoot whose
//! `prev` is the previous root, then syncs the store. The output is the
//! vac layout, DirEntries version 8 for new files (existing records keep
//! their version), entries with Local cleared.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use colony_venti::{BlockType, Score};

use crate::entry::{ENTRY_SIZE, Entry, flags};
use crate::error::{Error, Result};
use crate::fossil::{Fossil, NodeId, ROOT};
use crate::meta_block::{MetaBlock, MetaMagic};
use crate::root::Root;

impl Fossil {
    /// Writes the blocks changed since the open or the last save and
    /// returns the new root score. Saving with nothing changed returns
    /// the same score and writes nothing.
    pub fn save(&self) -> Result<Score> {
        let _g = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let dirty: Vec<NodeId> = self
            .dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        let qmax = self.qids().map(|n| n.saturating_sub(1));
        {
            let s = self.lock_snap();
            let qids_same = match (&s.root_de, qmax) {
                (_, None) => true,
                (Some(de), Some(q)) => de.qid_space().is_some_and(|(_, m)| m == q),
                (None, Some(_)) => false,
            };
            if let Some(score) = s.score
                && dirty.is_empty()
                && qids_same
            {
                return Ok(score);
            }
        }
        let root = self.node(ROOT)?;
        let mut heap: BinaryHeap<(usize, Reverse<NodeId>)> = BinaryHeap::new();
        let mut queued = HashSet::new();
        for id in dirty {
            // A removed node (kept for its holders, or already forgotten)
            // and the directory it left, if that is gone too, are nowhere
            // to save to.
            let gone = self.loaded(id).is_none_or(|n| n.read().removed);
            if id != ROOT && !gone && queued.insert(id) {
                heap.push((self.save_depth(id)?, Reverse(id)));
            }
        }
        // Deepest first: a file of several names counts at its deepest
        // name, so every directory it is written into (all shallower) is
        // visited after it.
        while let Some((depth, Reverse(id))) = heap.pop() {
            let parents = self.save_node(id)?;
            let one = parents.len() == 1;
            for pid in parents {
                if pid != ROOT && queued.insert(pid) {
                    // A node of one name is one level below its directory.
                    let d = if one { depth - 1 } else { self.depth_of(pid)? };
                    heap.push((d, Reverse(pid)));
                }
            }
        }
        let links = self.save_links()?;
        let (rdir, rmeta, mut rde) = {
            let mut st = root.write();
            if let Some(at) = links {
                st.de.set_link_table(at);
            }
            let d = st.data.flush()?;
            let m = st.meta.as_mut().ok_or(Error::NotDir)?.flush()?;
            st.meta_dirty = false;
            (d, m, st.de.clone())
        };
        let mut snap = self.lock_snap();
        let offset = rde.qid_space().map_or(0, |(o, _)| o);
        rde.set_qid_space(offset, qmax.unwrap_or(0));
        let (psize, dsize) = {
            let bs = snap.root.block_size;
            (bs / 20 * 20, bs)
        };
        let pmeta = match (&snap.parent_meta, &snap.root_de) {
            (Some(e), Some(de)) if *de == rde => *e,
            _ => {
                let mut mb = MetaBlock::new(dsize as usize, (dsize / 100) as u16, MetaMagic::New)?;
                mb.insert(&rde)?;
                let score = self.blocks.write(BlockType::DATA, &mb.encode())?;
                Entry {
                    size: dsize as u64,
                    score,
                    ..Entry::empty(psize, dsize, false)
                }
            }
        };
        let mut top = Vec::with_capacity(3 * ENTRY_SIZE);
        for mut e in [rdir, rmeta, pmeta] {
            e.flags &= !(flags::LOCAL | flags::NO_ARCHIVE);
            top.extend_from_slice(&e.encode()?);
        }
        let top_score = self.blocks.write(BlockType::DIR, &top)?;
        let r = Root {
            score: top_score,
            block_size: snap.root.block_size,
            prev: snap.score.unwrap_or(Score::NONE),
            ..snap.root.clone()
        };
        let r = Root {
            kind: b"vac".to_vec(),
            ..r
        };
        let score = self.blocks.store().write(BlockType::ROOT, &r.encode()?)?;
        self.blocks.store().sync()?;
        snap.score = Some(score);
        snap.root = r;
        snap.parent_meta = Some(pmeta);
        snap.root_de = Some(rde);
        self.dirty.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(score)
    }

    /// Levels between `id` and the root.
    fn depth_of(&self, id: NodeId) -> Result<usize> {
        let mut d = 0;
        let mut at = id;
        while at != ROOT {
            at = self.node(at)?.read().parent;
            d += 1;
            if d > 1 << 20 {
                return Err(Error::format(
                    "tree",
                    "parent chain does not reach the root",
                ));
            }
        }
        Ok(d)
    }

    /// The depth `id` is saved at: its deepest name's.
    fn save_depth(&self, id: NodeId) -> Result<usize> {
        let names = self.lock_links().paths(id);
        let deepest = names
            .iter()
            .map(|p| p.iter().filter(|&&c| c == b'/').count() + 1)
            .max();
        Ok(self.depth_of(id)?.max(deepest.unwrap_or(0)))
    }

    /// Flushes one node and records it in the directory of each of its
    /// names. Returns those directories (none if the node is gone).
    fn save_node(&self, id: NodeId) -> Result<Vec<NodeId>> {
        let Some(n) = self.loaded(id) else {
            return Ok(Vec::new());
        };
        let (pid, entry, mentry, de, meta_dirty) = {
            let mut st = n.write();
            if st.removed {
                return Ok(Vec::new());
            }
            let e = st.data.flush()?;
            let m = match st.meta.as_mut() {
                Some(t) => Some(t.flush()?),
                None => None,
            };
            let md = std::mem::replace(&mut st.meta_dirty, false);
            (st.parent, e, m, st.de.clone(), md)
        };
        let mut parents = vec![pid];
        for (dir, r) in self.other_names(id)? {
            let mut e = entry;
            e.generation = r.de.generation;
            let d = self.node(dir)?;
            let mut ds = d.write();
            ds.write_slot(r.slot, Some(&e))?;
            if meta_dirty {
                let mut copy = de.clone();
                super::links::take_location(&mut copy, &r);
                ds.update_child(&r.de.elem, copy)?;
            }
            parents.push(dir);
        }
        let p = self.node(pid)?;
        let mut ps = p.write();
        let mut e = entry;
        e.generation = de.generation;
        ps.write_slot(de.entry, Some(&e))?;
        if let Some(mut m) = mentry {
            m.generation = de.mgen;
            ps.write_slot(de.mentry, Some(&m))?;
        }
        if meta_dirty {
            let name = de.elem.clone();
            ps.update_child(&name, de)?;
        }
        Ok(parents)
    }

    /// When dirty blocks pass 3/4 of the local limit, writes whole dirty
    /// streams to venti until they are under 1/4: they become clean (and
    /// evictable); the nodes stay changed, for the next save to record.
    pub(crate) fn relieve_pressure(&self) -> Result<()> {
        let limit = self.blocks.limit();
        if self.blocks.dirty_bytes() <= limit / 4 * 3 {
            return Ok(());
        }
        let ids: Vec<NodeId> = self
            .dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        for id in ids {
            if self.blocks.dirty_bytes() <= limit / 4 {
                break;
            }
            let Some(n) = self.loaded(id) else { continue };
            let mut st = n.write();
            if st.removed {
                continue;
            }
            if st.data.is_dirty() {
                st.data.flush()?;
            }
            if let Some(m) = st.meta.as_mut()
                && m.is_dirty()
            {
                m.flush()?;
            }
        }
        self.blocks.count_early_flush();
        Ok(())
    }
}
