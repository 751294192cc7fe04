//! A live directory's children and block-granular editing of its two
//! streams: a child's VtEntry is patched in the one dir-stream block that
//! holds it, its DirEntry in the one MetaBlock that holds it.
//!
//! Readdir order is dir-stream slot order and a cookie is `slot + 1`: a
//! child keeps its slot for life (renames within the directory included),
//! so entries are neither repeated nor skipped while others come and go.
//! Freed slots are reused by later creates. New DirEntries are written as
//! version 8 with the meta stream in the slot right after a directory's
//! dir stream (`mentry = entry + 1`, gen 0), as plan9port vac writes them;
//! existing records keep their version and fields.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::dir::child_entries;
use crate::dir_entry::DirEntry;
use crate::entry::{ENTRY_SIZE, Entry, flags};
use crate::error::{Error, Result};
use crate::fossil::node::NodeState;
use crate::meta_block::{MetaBlock, MetaMagic};
use crate::mode;
use crate::tree::first_leaves;

/// Where a child is recorded in its directory.
#[derive(Clone, Debug)]
pub(crate) struct ChildRef {
    /// Its node id.
    pub qid: u64,
    /// Its DirEntry's `entry` slot (the readdir position).
    pub slot: u32,
    /// The meta-stream block holding its DirEntry.
    pub block: u64,
    /// The DirEntry as stored in that block.
    pub de: DirEntry,
}

/// A directory's children, by name and by slot.
#[derive(Default)]
pub(crate) struct Children {
    pub by_name: HashMap<Vec<u8>, ChildRef>,
    pub by_slot: BTreeMap<u32, Vec<u8>>,
    /// Unused slots below `nslots`.
    free: BTreeSet<u32>,
    /// Entries in the dir stream.
    nslots: u32,
    /// Per meta block: (bytes of room under vac's 80% rule, free index
    /// slots), to pick a block for a new record without reading them all.
    room: Vec<(isize, usize)>,
}

impl Children {
    /// Records `de`, stored in meta block `block`, by name and by slot.
    fn index(&mut self, de: DirEntry, block: u64) {
        self.by_slot.insert(de.entry, de.elem.clone());
        self.by_name.insert(
            de.elem.clone(),
            ChildRef {
                qid: de.qid,
                slot: de.entry,
                block,
                de,
            },
        );
    }
}

/// Leaves of each child fetched ahead: a FUSE read's worth of 8 KiB
/// leaves; the file's own read-ahead takes over from there.
const LEAVES_PER_CHILD: u64 = 16;

fn room_of(mb: &MetaBlock, dsize: u32) -> (isize, usize) {
    let limit = (dsize as usize * 80 / 100) as isize;
    (
        limit - mb.size as isize + mb.free as isize,
        (mb.max_index as usize).saturating_sub(mb.slots.len()),
    )
}

impl NodeState {
    fn meta_tree(&self) -> Result<&crate::cow_tree::CowTree> {
        self.meta.as_ref().ok_or(Error::NotDir)
    }

    fn entries_per_block(&self) -> u32 {
        self.data.dsize() / ENTRY_SIZE as u32
    }

    /// Loads the children from the meta stream (every MetaBlock once).
    pub fn load_children(&mut self) -> Result<()> {
        if self.children.is_some() {
            return Ok(());
        }
        let ahead = self.data.blocks().children_ahead();
        if ahead {
            self.meta_tree()?.prefetch_all();
            self.data.prefetch_all();
        }
        let meta = self.meta_tree()?;
        let dsize = meta.dsize();
        let mut c = Children::default();
        for bn in 0..meta.leaf_count() {
            let mb = MetaBlock::decode(&meta.read_leaf(bn)?).map_err(|e| {
                match meta.leaf_source(bn) {
                    Ok(Ok(score)) => e.in_block(score),
                    _ => e,
                }
            })?;
            c.room.push(room_of(&mb, dsize));
            let named = |e: Error| e.at_path(&crate::name::show(&self.de.elem).to_string());
            for de in child_entries(&mb).map_err(named)? {
                if c.by_name.contains_key(&de.elem) {
                    continue;
                }
                c.index(de, bn);
            }
        }
        let epb = self.entries_per_block() as u64;
        let size = self.data.size();
        let d = self.data.dsize() as u64;
        c.nslots = u32::try_from(size / d * epb + (size % d) / ENTRY_SIZE as u64)
            .map_err(|_| Error::format("VtEntry", "dir stream too large"))?;
        let mut used = BTreeSet::new();
        for r in c.by_name.values() {
            used.insert(r.slot);
            if r.de.mode & mode::DIR != 0 {
                used.insert(r.de.mentry);
            }
        }
        c.free = (0..c.nslots).filter(|s| !used.contains(s)).collect();
        self.children = Some(c);
        if ahead {
            self.fetch_children_ahead();
        }
        Ok(())
    }

    /// Fetches the top block of every child's streams in one batch, then
    /// the first leaves of those one pointer block deep, and the top blocks
    /// of the subdirectories' children, in another: a walk reading each
    /// file then waits for no round trip of its own. Each
    /// batch fills at most an eighth of the cache (a larger directory's
    /// later children are read as they are reached); failures are left
    /// for the reads that need the blocks.
    fn fetch_children_ahead(&self) {
        let blocks = self.data.blocks();
        let epb = self.entries_per_block() as usize;
        let mut tops = Vec::new();
        for bn in 0..self.data.leaf_count() {
            let Ok(leaf) = self.data.read_leaf(bn) else {
                continue;
            };
            tops.extend(
                (0..epb)
                    .filter_map(|i| Entry::decode_at(&leaf, i).ok())
                    .filter(|e| e.is_active())
                    .filter_map(|e| e.check().ok()),
            );
        }
        let top_size = |e: &Entry| if e.depth == 0 { e.dsize } else { e.psize } as usize;
        let mut room = blocks.limit() / 8;
        let want: Vec<_> = tops
            .iter()
            .map(|e| (e.score, e.top_type(), top_size(e)))
            .take_while(|&(_, _, size)| {
                room = room.saturating_sub(size as u64);
                room > 0
            })
            .collect();
        blocks.prefetch(&want);
        let mut room = blocks.limit() / 8;
        let mut leaves = Vec::new();
        for e in tops.iter().filter(|e| e.depth == 1) {
            let max = (room / e.dsize as u64).min(LEAVES_PER_CHILD);
            if max == 0 {
                break;
            }
            // Only what the first batch brought: no read of its own.
            if let Ok(Some(top)) = blocks.cached(&e.score, e.top_type(), top_size(e)) {
                let first = first_leaves(e, &top, max);
                room -= first.len() as u64 * e.dsize as u64;
                leaves.extend(first.into_iter().map(|(s, t)| (s, t, e.dsize as usize)));
            }
        }
        // With them, the top blocks of the subdirectories' children (a
        // walk entering one then waits for one batch, not two), from
        // the subdirectories' dir streams of one block that came first.
        let mut room = blocks.limit() / 8;
        'subdirs: for e in tops.iter().filter(|e| e.dir && e.depth == 0) {
            let Ok(Some(leaf)) = blocks.cached(&e.score, e.top_type(), e.dsize as usize) else {
                continue;
            };
            let streams = (0..e.dsize as usize / ENTRY_SIZE)
                .filter_map(|i| Entry::decode_at(&leaf, i).ok())
                .filter(|g| g.is_active())
                .filter_map(|g| g.check().ok());
            for g in streams {
                let size = top_size(&g);
                if room < size as u64 {
                    break 'subdirs;
                }
                room -= size as u64;
                leaves.push((g.score, g.top_type(), size));
            }
        }
        blocks.prefetch(&leaves);
    }

    /// The loaded children (call [`NodeState::load_children`] first).
    pub fn children(&self) -> Result<&Children> {
        self.children.as_ref().ok_or(Error::NotDir)
    }

    /// Where child `name` is recorded ([`Error::NotFound`] if nowhere).
    pub fn child_ref(&self, name: &[u8]) -> Result<ChildRef> {
        self.children()?
            .by_name
            .get(name)
            .cloned()
            .ok_or(Error::NotFound)
    }

    fn children_mut(&mut self) -> Result<&mut Children> {
        self.children.as_mut().ok_or(Error::NotDir)
    }

    /// VtEntry `slot` of the dir stream.
    pub fn read_slot(&self, slot: u32) -> Result<Entry> {
        let epb = self.entries_per_block();
        let bn = (slot / epb) as u64;
        if bn >= self.data.leaf_count() {
            return Err(Error::format(
                "VtEntry",
                format!("slot {slot} past the dir stream"),
            ));
        }
        let leaf = self.data.read_leaf(bn)?;
        Entry::decode_at(&leaf, (slot % epb) as usize).map_err(|e| {
            match self.data.leaf_source(bn) {
                Ok(Ok(score)) => e.in_block(score),
                _ => e,
            }
        })
    }

    /// Writes VtEntry `slot` (`None`: an inactive, zeroed slot), growing the
    /// dir stream if needed. Entries rewritten here lose Local and
    /// NoArchive, which archives must not carry.
    pub fn write_slot(&mut self, slot: u32, e: Option<&Entry>) -> Result<()> {
        let epb = self.entries_per_block();
        let n = self.children()?.nslots;
        if slot >= n {
            let n = slot + 1;
            let d = self.data.dsize() as u64;
            self.data
                .set_size(d * (n / epb) as u64 + ENTRY_SIZE as u64 * (n % epb) as u64)?;
            let c = self.children_mut()?;
            c.free.extend(c.nslots..slot);
            c.nslots = n;
        }
        let bn = (slot / epb) as u64;
        let mut leaf = self.data.read_leaf(bn)?;
        let at = (slot % epb) as usize * ENTRY_SIZE;
        match e {
            Some(e) => leaf[at..at + ENTRY_SIZE].copy_from_slice(&e.encode()?),
            None => leaf[at..at + ENTRY_SIZE].fill(0),
        }
        for i in 0..epb as usize {
            let f = &mut leaf[i * ENTRY_SIZE + 8];
            if *f & flags::ACTIVE != 0 {
                *f &= !(flags::LOCAL | flags::NO_ARCHIVE);
            }
        }
        self.data.put_leaf(bn, &leaf)
    }

    /// Takes a free slot for a file, or two adjacent ones for a directory.
    pub fn alloc_slots(&mut self, dir: bool) -> Result<u32> {
        let c = self.children_mut()?;
        let pick = if dir {
            c.free.iter().copied().find(|s| c.free.contains(&(s + 1)))
        } else {
            c.free.first().copied()
        };
        let slot = match pick {
            Some(s) => s,
            None if dir && c.free.contains(&(c.nslots.wrapping_sub(1))) => c.nslots - 1,
            None => c.nslots,
        };
        if slot as u64 + 2 > u32::MAX as u64 {
            return Err(Error::Unrepresentable("directory of 2^32 entries".into()));
        }
        c.free.remove(&slot);
        if dir {
            c.free.remove(&(slot + 1));
        }
        Ok(slot)
    }

    /// Returns a child's slots to the free set and zeroes them.
    pub fn free_slots(&mut self, de: &DirEntry) -> Result<()> {
        let dir = de.mode & mode::DIR != 0;
        self.write_slot(de.entry, None)?;
        if dir {
            self.write_slot(de.mentry, None)?;
        }
        let c = self.children_mut()?;
        c.free.insert(de.entry);
        if dir {
            c.free.insert(de.mentry);
        }
        Ok(())
    }

    fn meta_block(&self, bn: u64) -> Result<MetaBlock> {
        let meta = self.meta_tree()?;
        MetaBlock::decode(&meta.read_leaf(bn)?).map_err(|e| match meta.leaf_source(bn) {
            Ok(Ok(score)) => e.in_block(score),
            _ => e,
        })
    }

    fn put_meta_block(&mut self, bn: u64, mb: &MetaBlock) -> Result<()> {
        let dsize = self.meta_tree()?.dsize();
        let room = room_of(mb, dsize);
        let meta = self.meta.as_mut().ok_or(Error::NotDir)?;
        let d = dsize as u64;
        if (bn + 1) * d > meta.size() {
            meta.set_size((bn + 1) * d)?;
        }
        meta.put_leaf(bn, &mb.encode())?;
        let c = self.children_mut()?;
        if c.room.len() <= bn as usize {
            c.room.resize(bn as usize + 1, (0, 0));
        }
        c.room[bn as usize] = room;
        Ok(())
    }

    /// Adds `de` to a MetaBlock with room (a new one if none has) and to
    /// the children.
    pub fn insert_child(&mut self, de: DirEntry) -> Result<()> {
        let n = de.size();
        let dsize = self.meta_tree()?.dsize();
        let candidates: Vec<u64> = self
            .children()?
            .room
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, (bytes, slots))| *bytes >= n as isize && *slots > 0)
            .map(|(i, _)| i as u64)
            .collect();
        let mut placed = None;
        for bn in candidates {
            let mut mb = self.meta_block(bn)?;
            if mb.has_room(n) && mb.search(&de.elem).is_err() {
                mb.insert(&de)?;
                self.put_meta_block(bn, &mb)?;
                placed = Some(bn);
                break;
            }
        }
        let bn = match placed {
            Some(bn) => bn,
            None => {
                let bn = self.meta_tree()?.leaf_count();
                let mut mb = MetaBlock::new(dsize as usize, (dsize / 100) as u16, MetaMagic::New)?;
                mb.insert(&de)?;
                self.put_meta_block(bn, &mb)?;
                bn
            }
        };
        self.children_mut()?.index(de, bn);
        Ok(())
    }

    /// Removes child `name`'s DirEntry (its slots are freed separately).
    pub fn remove_child(&mut self, name: &[u8]) -> Result<ChildRef> {
        let r = self.child_ref(name)?;
        let mut mb = self.meta_block(r.block)?;
        mb.remove(name);
        self.put_meta_block(r.block, &mb)?;
        let c = self.children_mut()?;
        c.by_name.remove(name);
        c.by_slot.remove(&r.slot);
        Ok(r)
    }

    /// Rewrites child `old_name`'s DirEntry as `de` (which may carry a new
    /// name), in place when it fits.
    pub fn update_child(&mut self, old_name: &[u8], de: DirEntry) -> Result<()> {
        let r = self.child_ref(old_name)?;
        if old_name == de.elem.as_slice() {
            let mut mb = self.meta_block(r.block)?;
            if mb.update(&de)? {
                self.put_meta_block(r.block, &mb)?;
                let c = self.children_mut()?;
                let e = c.by_name.get_mut(old_name).expect("present");
                e.de = de;
                return Ok(());
            }
        }
        self.remove_child(old_name)?;
        self.insert_child(de)
    }
}
