//! A copy-on-write stream: a pointer tree (spec §4.2) whose unchanged
//! blocks stay in venti, named by score, and whose changed blocks are held
//! locally until [`CowTree::flush`] writes them bottom-up.
//!
//! Changed blocks form an overlay keyed by (height, index): the block at
//! height `h` with index `i` covers leaves `[i·F^h, (i+1)·F^h)`. Leaves
//! (height 0) live in the local store ([`Blocks`]); pointer blocks being
//! edited are held as score arrays. The overlay is closed upwards: every
//! ancestor of an overlay block is in the overlay too, so a flush only has
//! to write the overlay, children first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use colony_venti::{BlockType, Score};

use crate::entry::{Entry, flags};
use crate::error::{Error, Result};
use crate::fossil::Blocks;
use crate::tree::{fanout, leaves};

/// One stream being read and edited.
pub struct CowTree {
    blocks: Arc<Blocks>,
    generation: u32,
    psize: u32,
    dsize: u32,
    dir: bool,
    depth: u8,
    size: u64,
    /// Score of the top block when it is not in the overlay.
    top: Score,
    /// Dirty leaves: leaf number -> local key.
    leaves: HashMap<u64, u64>,
    /// Pointer blocks being edited: (height >= 1, index) -> slots.
    ptrs: HashMap<(u8, u64), Vec<Score>>,
    /// Last clean pointer block read at each height, for sequential reads.
    memo: Mutex<Vec<Option<Memo>>>,
    /// Sequential-read detection and the prefetch window.
    ahead: Mutex<ReadAhead>,
    /// Known: past `size`, the last leaf holds zeros and no leaf or
    /// pointer slot is set. True for a new stream and after any
    /// [`CowTree::set_size`] (which clears what lies past the end); an
    /// opened stream's last blocks are not trusted until then.
    zero_past_end: bool,
    /// [`CowTree::stored_bytes`] once counted, [`UNKNOWN`] until then and
    /// after any change of leaves or size.
    stored: AtomicU64,
}

/// Not counted yet ([`CowTree::stored`]).
const UNKNOWN: u64 = u64::MAX;

/// Leaves prefetched when a sequential read starts; the window doubles on
/// each sequential read up to [`MAX_AHEAD`].
const MIN_AHEAD: u64 = 8;
/// Most leaves prefetched ahead of a sequential reader.
const MAX_AHEAD: u64 = 64;

/// Read-ahead state: where the last read ended and what is fetched.
#[derive(Default)]
struct ReadAhead {
    /// The leaf after the last one read.
    next: u64,
    /// Leaves ahead of the reader to keep fetched (0: not sequential).
    window: u64,
    /// Leaves below this were fetched (or were read) already.
    fetched_to: u64,
}

/// A clean pointer block kept for the next read: its score and bytes.
type Memo = (Score, Arc<Vec<u8>>);

impl CowTree {
    /// The stream an active entry describes (checked as libventi does).
    pub fn open(blocks: Arc<Blocks>, entry: Entry) -> Result<CowTree> {
        let e = entry.check()?;
        if e.psize > crate::entry::MAX_READ_BLOCK
            || e.dsize > crate::entry::MAX_READ_BLOCK
            || fanout(e.psize) < 2
        {
            return Err(Error::format(
                "VtEntry",
                format!("block sizes {}/{} out of range", e.psize, e.dsize),
            ));
        }
        Ok(CowTree {
            blocks,
            generation: e.generation,
            psize: e.psize,
            dsize: e.dsize,
            dir: e.dir,
            depth: e.depth,
            size: e.size,
            top: e.score,
            leaves: HashMap::new(),
            ptrs: HashMap::new(),
            memo: Mutex::new(vec![None; 8]),
            ahead: Mutex::new(ReadAhead::default()),
            zero_past_end: false,
            stored: AtomicU64::new(UNKNOWN),
        })
    }

    /// A new empty stream.
    pub fn empty(blocks: Arc<Blocks>, psize: u32, dsize: u32, dir: bool) -> Result<CowTree> {
        let mut t = CowTree::open(blocks, Entry::empty(psize, dsize, dir))?;
        t.zero_past_end = true;
        Ok(t)
    }

    /// Logical length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Leaf size.
    pub fn dsize(&self) -> u32 {
        self.dsize
    }

    /// Number of leaves.
    pub fn leaf_count(&self) -> u64 {
        leaves(self.size, self.dsize)
    }

    /// True if some block is not in venti yet.
    pub fn is_dirty(&self) -> bool {
        !self.leaves.is_empty() || !self.ptrs.is_empty()
    }

    /// The entry of a clean tree (`None` while blocks are dirty).
    pub fn entry(&self) -> Option<Entry> {
        (!self.is_dirty()).then_some(Entry {
            generation: self.generation,
            psize: self.psize,
            dsize: self.dsize,
            dir: self.dir,
            depth: self.depth,
            flags: flags::ACTIVE,
            size: self.size,
            score: self.top,
        })
    }

    /// Sets the generation written into the entry.
    pub fn set_generation(&mut self, g: u32) {
        self.generation = g;
    }

    fn fan(&self) -> u64 {
        fanout(self.psize)
    }

    /// Leaves covered by one block at height `h`.
    fn span(&self, h: u8) -> u64 {
        self.fan().saturating_pow(h as u32)
    }

    fn leaf_type(&self) -> BlockType {
        if self.dir {
            BlockType::DIR
        } else {
            BlockType::DATA
        }
    }

    fn ptr_type(h: u8) -> Result<BlockType> {
        BlockType::pointer(h).ok_or_else(|| Error::Unrepresentable("stream deeper than 7".into()))
    }

    /// A clean pointer block at height `h`, through the per-height memo.
    fn ptr_block(&self, h: u8, score: &Score) -> Result<Arc<Vec<u8>>> {
        let lock = || self.memo.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, b)) = &lock()[h as usize]
            && s == score
        {
            return Ok(b.clone());
        }
        // No lock is held while the block is fetched.
        let b = Arc::new(
            self.blocks
                .read(score, Self::ptr_type(h)?, self.psize as usize)?,
        );
        lock()[h as usize] = Some((*score, b.clone()));
        Ok(b)
    }

    /// Where leaf `bn` is: `Ok(Err(key))` for a dirty leaf, `Ok(Ok(score))`
    /// for a clean one ([`Score::EMPTY`] inside a zero subtree). A prefetch
    /// can resolve the next leaves' scores with this and warm the cache.
    pub fn leaf_source(&self, bn: u64) -> Result<std::result::Result<Score, u64>> {
        if let Some(&key) = self.leaves.get(&bn) {
            return Ok(Err(key));
        }
        if bn >= self.span(self.depth) {
            return Ok(Ok(Score::EMPTY));
        }
        let f = self.fan();
        let mut score = self.top;
        for h in (1..=self.depth).rev() {
            let slot = ((bn / self.span(h - 1)) % f) as usize;
            if let Some(slots) = self.ptrs.get(&(h, bn / self.span(h))) {
                score = slots[slot];
                continue;
            }
            if score.is_special() {
                return Ok(Ok(Score::EMPTY));
            }
            let block = self.ptr_block(h, &score)?;
            score = Score::from_slice(&block[slot * Score::SIZE..]);
        }
        Ok(Ok(score))
    }

    /// Leaf `bn`, `dsize` bytes (zeros past the end).
    pub fn read_leaf(&self, bn: u64) -> Result<Vec<u8>> {
        match self.leaf_source(bn)? {
            Err(key) => {
                let mut v = self.blocks.get_dirty(key)?;
                v.resize(self.dsize as usize, 0);
                Ok(v)
            }
            Ok(score) => self
                .blocks
                .read(&score, self.leaf_type(), self.dsize as usize),
        }
    }

    /// The leaves to fetch ahead of a read of leaves `first..=last`: all of
    /// them, plus a window past them that grows while reads are sequential
    /// (a read starting at the leaf after the previous one, or at that
    /// leaf's predecessor when reads are not leaf-aligned). Refills once
    /// half the window is used, so one `read_many` covers many leaves.
    fn ahead_range(&self, first: u64, last: u64) -> std::ops::Range<u64> {
        let mut ra = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
        let sequential = first == ra.next || first + 1 == ra.next;
        ra.next = last + 1;
        if !sequential {
            ra.window = 0;
            ra.fetched_to = last + 1;
            return first..last + 1;
        }
        ra.window = (ra.window * 2).clamp(MIN_AHEAD, MAX_AHEAD);
        let to = (last + 1 + ra.window).min(self.leaf_count());
        if ra.fetched_to >= (last + 1 + ra.window / 2).min(to) {
            return 0..0;
        }
        let from = ra.fetched_to.max(first);
        ra.fetched_to = to;
        from..to
    }

    /// Warms the cache with the clean leaves in `range` (one batch from
    /// venti). Errors are left for the read that needs the leaf.
    fn prefetch(&self, range: std::ops::Range<u64>) {
        if range.end - range.start < 2 {
            return;
        }
        let mut want = Vec::new();
        for bn in range {
            match self.leaf_source(bn) {
                Ok(Ok(score)) if !score.is_special() => {
                    want.push((score, self.leaf_type(), self.dsize as usize))
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.blocks.prefetch(&want);
    }

    /// Warms the cache with every clean leaf (one batch from venti).
    pub fn prefetch_all(&self) {
        self.prefetch(0..self.leaf_count());
    }

    /// The cache this stream reads through.
    pub fn blocks(&self) -> &Blocks {
        &self.blocks
    }

    /// Up to `count` bytes at `offset`.
    pub fn read(&self, offset: u64, count: usize) -> Result<Vec<u8>> {
        let end = offset.saturating_add(count as u64).min(self.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let d = self.dsize as u64;
        if end > offset {
            self.prefetch(self.ahead_range(offset / d, (end - 1) / d));
        }
        let mut at = offset;
        while at < end {
            let leaf = self.read_leaf(at / d)?;
            let from = (at % d) as usize;
            let n = ((end - at) as usize).min(d as usize - from);
            out.extend_from_slice(&leaf[from..from + n]);
            at += n as u64;
        }
        Ok(out)
    }

    /// Writes `data` at `offset`, growing the stream as needed.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= crate::entry::MAX_SIZE)
            .ok_or(Error::TooLarge(offset.saturating_add(data.len() as u64)))?;
        if end > self.size {
            self.set_size(end)?;
        }
        let d = self.dsize as u64;
        let mut at = offset;
        let mut src = data;
        while !src.is_empty() {
            let bn = at / d;
            let from = (at % d) as usize;
            let n = src.len().min(d as usize - from);
            let mut leaf = if n == d as usize {
                Vec::with_capacity(n)
            } else {
                self.read_leaf(bn)?
            };
            if n == d as usize {
                leaf.extend_from_slice(&src[..n]);
            } else {
                leaf[from..from + n].copy_from_slice(&src[..n]);
            }
            self.put_leaf(bn, &leaf)?;
            at += n as u64;
            src = &src[n..];
        }
        Ok(())
    }

    /// Replaces leaf `bn` (which must lie within the stream's size). A
    /// leaf of zeros becomes a hole, and a leaf's trailing zeros are not
    /// stored: zeros cost no local space, as they cost no venti space.
    pub fn put_leaf(&mut self, bn: u64, leaf: &[u8]) -> Result<()> {
        self.stored.store(UNKNOWN, Ordering::Relaxed);
        let leaf = self.leaf_type().truncate(leaf);
        if leaf.is_empty() {
            return self.punch_leaf(bn);
        }
        self.ensure_depth(bn)?;
        if self.depth > 0 {
            let f = self.fan();
            self.materialize(1, bn / f)?;
        }
        match self.leaves.get(&bn) {
            Some(&key) => self.blocks.put_dirty(key, leaf)?,
            None => {
                let key = self.blocks.new_dirty(leaf)?;
                self.leaves.insert(bn, key);
            }
        }
        Ok(())
    }

    /// Makes leaf `bn` a hole: its dirty copy is dropped and its slot
    /// names no block.
    fn punch_leaf(&mut self, bn: u64) -> Result<()> {
        self.stored.store(UNKNOWN, Ordering::Relaxed);
        match self.leaves.remove(&bn) {
            Some(key) => self.blocks.drop_dirty(key),
            None if self.leaf_source(bn)? == Ok(Score::EMPTY) => return Ok(()),
            None => {}
        }
        if self.depth == 0 {
            self.top = Score::EMPTY;
            return Ok(());
        }
        let f = self.fan();
        self.materialize(1, bn / f)?;
        let slots = self.ptrs.get_mut(&(1, bn / f)).expect("materialized");
        slots[(bn % f) as usize] = Score::EMPTY;
        Ok(())
    }

    /// Whether leaf `bn` holds data, and the first leaf past it whose state
    /// may differ: a hole's extent is the whole empty subtree holding it,
    /// so a search skips a large hole in a few steps.
    fn extent(&self, bn: u64) -> Result<(bool, u64)> {
        if self.leaves.contains_key(&bn) {
            return Ok((true, bn + 1));
        }
        if bn >= self.span(self.depth) {
            return Ok((false, u64::MAX));
        }
        let f = self.fan();
        let mut score = self.top;
        for h in (1..=self.depth).rev() {
            let idx = bn / self.span(h);
            let slot = ((bn / self.span(h - 1)) % f) as usize;
            // The overlay is closed upwards: below a pointer block not in
            // it, nothing is dirty, so an empty score is a whole hole.
            if let Some(slots) = self.ptrs.get(&(h, idx)) {
                score = slots[slot];
                continue;
            }
            if score.is_special() {
                return Ok((false, (idx + 1).saturating_mul(self.span(h))));
            }
            let block = self.ptr_block(h, &score)?;
            score = Score::from_slice(&block[slot * Score::SIZE..]);
        }
        Ok((!score.is_special(), bn + 1))
    }

    /// Where the first data (`data`) or hole (`!data`) at or after `offset`
    /// starts, at leaf granularity; the end of the stream counts as a hole.
    /// `None` if `offset` is at or past the end, or no data follows it.
    pub fn seek(&self, offset: u64, data: bool) -> Result<Option<u64>> {
        if offset >= self.size {
            return Ok(None);
        }
        let d = self.dsize as u64;
        let n = self.leaf_count();
        let mut bn = offset / d;
        while bn < n {
            let (has, end) = self.extent(bn)?;
            if has == data {
                return Ok(Some(offset.max(bn * d)));
            }
            bn = end;
        }
        Ok((!data).then_some(self.size))
    }

    /// Bytes of the stream that are not in holes, at leaf granularity (the
    /// last leaf counts up to the end only): what the stream stores. Counted
    /// from the pointer blocks, skipping each hole's whole subtree, then
    /// kept until the leaves or the size change.
    pub fn stored_bytes(&self) -> Result<u64> {
        let known = self.stored.load(Ordering::Relaxed);
        if known != UNKNOWN {
            return Ok(known);
        }
        let n = self.leaf_count();
        let d = self.dsize as u64;
        let mut bytes = self.data_leaves(self.depth, 0, self.top)? * d;
        if n > 0 && self.extent(n - 1)?.0 {
            bytes -= n * d - self.size;
        }
        self.stored.store(bytes, Ordering::Relaxed);
        Ok(bytes)
    }

    /// How many of the stream's leaves below block (`h`, `idx`) hold data;
    /// `score` names the block when it is not in the overlay.
    fn data_leaves(&self, h: u8, idx: u64, score: Score) -> Result<u64> {
        let n = self.leaf_count();
        if h == 0 {
            let data = self.leaves.contains_key(&idx) || !score.is_special();
            return Ok(u64::from(idx < n && data));
        }
        let read;
        let slots = match self.ptrs.get(&(h, idx)) {
            Some(slots) => slots.as_slice(),
            // The overlay is closed upwards: nothing below is dirty.
            None if score.is_special() => return Ok(0),
            None => {
                let block = self.ptr_block(h, &score)?;
                read = block
                    .chunks_exact(Score::SIZE)
                    .take(self.fan() as usize)
                    .map(Score::from_slice)
                    .collect::<Vec<_>>();
                read.as_slice()
            }
        };
        let mut count = 0;
        for (i, &child) in slots.iter().enumerate() {
            let cidx = idx * self.fan() + i as u64;
            if cidx.saturating_mul(self.span(h - 1)) >= n {
                break;
            }
            count += self.data_leaves(h - 1, cidx, child)?;
        }
        Ok(count)
    }

    /// Makes bytes `offset..offset + len` (within the stream) read as
    /// zeros, freeing the leaves wholly inside: they become holes.
    pub fn punch(&mut self, offset: u64, len: u64) -> Result<()> {
        let end = offset.saturating_add(len).min(self.size);
        let d = self.dsize as u64;
        let mut at = offset;
        while let Some(from) = self.seek(at, true)?.filter(|&f| f < end) {
            let bn = from / d;
            let start = bn * d;
            let to = end.min(start + d);
            // Bytes past the size are zeros already.
            if from == start && (to == start + d || to == self.size) {
                self.punch_leaf(bn)?;
            } else {
                let mut leaf = self.read_leaf(bn)?;
                leaf[(from - start) as usize..(to - start) as usize].fill(0);
                self.put_leaf(bn, &leaf)?;
            }
            at = to;
        }
        Ok(())
    }

    /// Grows the tree until it has room for leaf `bn`.
    fn ensure_depth(&mut self, bn: u64) -> Result<()> {
        while self.span(self.depth) <= bn {
            let h = self.depth + 1;
            Self::ptr_type(h)?;
            let mut slots = vec![Score::EMPTY; self.fan() as usize];
            slots[0] = self.top;
            self.ptrs.insert((h, 0), slots);
            self.blocks.add_dirty(self.psize as u64);
            self.depth = h;
        }
        Ok(())
    }

    /// Brings pointer block (h, idx) and its ancestors into the overlay.
    fn materialize(&mut self, h: u8, idx: u64) -> Result<()> {
        if self.ptrs.contains_key(&(h, idx)) {
            return Ok(());
        }
        let f = self.fan();
        let score = if h == self.depth {
            self.top
        } else {
            self.materialize(h + 1, idx / f)?;
            self.ptrs[&(h + 1, idx / f)][(idx % f) as usize]
        };
        let block = self.ptr_block(h, &score)?;
        let slots = block
            .chunks_exact(Score::SIZE)
            .take(f as usize)
            .map(Score::from_slice)
            .collect();
        self.ptrs.insert((h, idx), slots);
        self.blocks.add_dirty(self.psize as u64);
        Ok(())
    }

    /// Truncates or extends (with zeros) to `new` bytes.
    pub fn set_size(&mut self, new: u64) -> Result<()> {
        self.stored.store(UNKNOWN, Ordering::Relaxed);
        if new > crate::entry::MAX_SIZE {
            return Err(Error::TooLarge(new));
        }
        if new >= self.size && self.zero_past_end {
            // Growing a stream known to hold nothing past its end (every
            // append): no leaf or pointer needs clearing.
            self.size = new;
            if new > 0 {
                self.ensure_depth(leaves(new, self.dsize) - 1)?;
            }
            return Ok(());
        }
        let keep = self.size.min(new);
        let d = self.dsize as u64;
        // Bytes past the kept length in its last leaf must read as zeros
        // from now on, whatever the old stream held there.
        if keep % d != 0 {
            let bn = keep / d;
            let mut leaf = self.read_leaf(bn)?;
            let from = (keep % d) as usize;
            if leaf[from..].iter().any(|&b| b != 0) {
                leaf[from..].fill(0);
                self.put_leaf(bn, &leaf)?;
            }
        }
        self.clear_from(keep.div_ceil(d))?;
        self.size = new;
        if new > 0 {
            self.ensure_depth(leaves(new, self.dsize) - 1)?;
        }
        self.zero_past_end = true;
        Ok(())
    }

    /// Makes leaves `n..` zero (absent).
    fn clear_from(&mut self, n: u64) -> Result<()> {
        if n == 0 {
            self.discard();
            self.depth = 0;
            self.top = Score::EMPTY;
            return Ok(());
        }
        if n >= self.span(self.depth) {
            return Ok(());
        }
        let blocks = self.blocks.clone();
        self.leaves.retain(|&bn, &mut key| {
            let keep = bn < n;
            if !keep {
                blocks.drop_dirty(key);
            }
            keep
        });
        let spans: Vec<u64> = (0..=self.depth).map(|h| self.span(h)).collect();
        let psize = self.psize as u64;
        self.ptrs.retain(|&(h, idx), _| {
            let keep = idx.saturating_mul(spans[h as usize]) < n;
            if !keep {
                blocks.sub_dirty(psize);
            }
            keep
        });
        let f = self.fan();
        for h in (1..=self.depth).rev() {
            let idx = n / spans[h as usize];
            if idx * spans[h as usize] == n {
                continue; // wholly cleared through its parent's slot
            }
            self.materialize(h, idx)?;
            let first = n.div_ceil(spans[h as usize - 1]) - idx * f;
            let slots = self.ptrs.get_mut(&(h, idx)).expect("materialized");
            for s in slots.iter_mut().skip(first as usize) {
                *s = Score::EMPTY;
            }
        }
        Ok(())
    }

    /// Writes every dirty block to venti, children before parents, and
    /// returns the stream's new entry. Flushed leaves stay cached clean.
    pub fn flush(&mut self) -> Result<Entry> {
        let f = self.fan();
        let lt = self.leaf_type();
        let mut leaves: Vec<(u64, u64)> = self.leaves.iter().map(|(&b, &k)| (b, k)).collect();
        leaves.sort_unstable();
        for (bn, key) in leaves {
            let data = self.blocks.get_dirty(key)?;
            let score = self.blocks.write(lt, &data)?;
            if self.depth == 0 {
                self.top = score;
            } else {
                self.ptrs
                    .get_mut(&(1, bn / f))
                    .ok_or_else(|| Error::format("pointer tree", "dirty leaf without parent"))?
                    [(bn % f) as usize] = score;
            }
            self.leaves.remove(&bn);
            self.blocks.dirty_to_clean(key, score, lt);
        }
        let mut ptrs: Vec<(u8, u64)> = self.ptrs.keys().copied().collect();
        ptrs.sort_unstable();
        for (h, idx) in ptrs {
            let slots = &self.ptrs[&(h, idx)];
            let mut block = Vec::with_capacity(slots.len() * Score::SIZE);
            for s in slots {
                block.extend_from_slice(&s.0);
            }
            let score = self.blocks.write(Self::ptr_type(h)?, &block)?;
            if h == self.depth {
                self.top = score;
            } else {
                self.ptrs
                    .get_mut(&(h + 1, idx / f))
                    .ok_or_else(|| Error::format("pointer tree", "dirty block without parent"))?
                    [(idx % f) as usize] = score;
            }
            self.ptrs.remove(&(h, idx));
            self.blocks.sub_dirty(self.psize as u64);
        }
        Ok(self.entry().expect("flushed"))
    }

    /// Drops every dirty block.
    fn discard(&mut self) {
        for (_, key) in self.leaves.drain() {
            self.blocks.drop_dirty(key);
        }
        let n = self.ptrs.len() as u64;
        self.ptrs.clear();
        self.blocks.sub_dirty(n * self.psize as u64);
    }
}

impl Drop for CowTree {
    fn drop(&mut self) {
        self.discard();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::MemLocal;
    use crate::tree::TreeReader;
    use colony_venti::{BlockStore, MemStore};
    use proptest::prelude::*;

    fn blocks(store: &MemStore) -> Arc<Blocks> {
        Arc::new(Blocks::new(
            Arc::new(store.clone()),
            Box::new(MemLocal::new()),
            1 << 20,
        ))
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(u64, Vec<u8>),
        Size(u64),
        Punch(u64, u64),
        Flush,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..20000, prop::collection::vec(1u8..=255, 1..1500))
                .prop_map(|(o, d)| Op::Write(o, d)),
            // Zeros, which must become holes where they fill a leaf.
            (0u64..20000, 1usize..1500).prop_map(|(o, n)| Op::Write(o, vec![0; n])),
            (0u64..22000).prop_map(Op::Size),
            (0u64..22000, 0u64..5000).prop_map(|(o, n)| Op::Punch(o, n)),
            Just(Op::Flush),
        ]
    }

    /// What `CowTree::seek` must answer for `model` with 256-byte leaves:
    /// a leaf holds data exactly when it holds a byte that is not zero.
    fn model_seek(model: &[u8], offset: u64, data: bool) -> Option<u64> {
        let len = model.len() as u64;
        if offset >= len {
            return None;
        }
        let mut bn = offset / 256;
        while bn * 256 < len {
            let leaf = &model[(bn * 256) as usize..len.min((bn + 1) * 256) as usize];
            if leaf.iter().any(|&b| b != 0) == data {
                return Some(offset.max(bn * 256));
            }
            bn += 1;
        }
        (!data).then_some(len)
    }

    /// What `CowTree::stored_bytes` must answer for `model` with 256-byte
    /// leaves: the bytes of the leaves that hold data.
    fn model_stored(model: &[u8]) -> u64 {
        model
            .chunks(256)
            .filter(|leaf| leaf.iter().any(|&b| b != 0))
            .map(|leaf| leaf.len() as u64)
            .sum()
    }

    proptest! {
        // Small blocks (fan-out 12) force deep trees, growth and clearing.
        #[test]
        fn matches_a_vec(ops in prop::collection::vec(op(), 1..25)) {
            let store = MemStore::new();
            let b = blocks(&store);
            let mut t = CowTree::empty(b.clone(), 256, 256, false).unwrap();
            let mut model: Vec<u8> = Vec::new();
            for op in ops {
                match op {
                    Op::Write(o, d) => {
                        t.write(o, &d).unwrap();
                        let end = o as usize + d.len();
                        if model.len() < end { model.resize(end, 0); }
                        model[o as usize..end].copy_from_slice(&d);
                    }
                    Op::Size(n) => { t.set_size(n).unwrap(); model.resize(n as usize, 0); }
                    Op::Punch(o, n) => {
                        t.punch(o, n).unwrap();
                        let end = model.len().min((o + n) as usize);
                        if (o as usize) < end { model[o as usize..end].fill(0); }
                    }
                    Op::Flush => { t.flush().unwrap(); }
                }
                prop_assert_eq!(t.read(0, 1 << 20).unwrap(), model.clone());
                prop_assert_eq!(t.stored_bytes().unwrap(), model_stored(&model));
                for at in (0..model.len() as u64 + 300).step_by(97) {
                    prop_assert_eq!(t.seek(at, true).unwrap(), model_seek(&model, at, true));
                    prop_assert_eq!(t.seek(at, false).unwrap(), model_seek(&model, at, false));
                }
            }
            let e = t.flush().unwrap();
            prop_assert_eq!(b.dirty_bytes(), 0);
            let reopened = CowTree::open(b.clone(), e).unwrap();
            prop_assert_eq!(reopened.stored_bytes().unwrap(), model_stored(&model));
            let mut r = TreeReader::new(&store, e).unwrap();
            prop_assert_eq!(r.read_all().unwrap(), model);
        }
    }

    #[test]
    fn unchanged_blocks_are_not_rewritten() {
        let store = MemStore::new();
        let b = blocks(&store);
        let mut t = CowTree::empty(b.clone(), 8180, 8192, false).unwrap();
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8 + 1).collect();
        t.write(0, &data).unwrap();
        let e = t.flush().unwrap();
        let before = store.len();
        let mut t = CowTree::open(b, e).unwrap();
        t.write(4_000_000, b"x").unwrap();
        t.flush().unwrap();
        // One leaf, one height-1 pointer block, the top.
        assert_eq!(store.len() - before, 3);
        assert!(store.read(&e.score, BlockType::pointer(2).unwrap()).is_ok());
    }
}
