//! Pointer trees (spec §4.2): geometry, a bottom-up writer and a reader
//! that zero-extends short blocks and treats zero-score subtrees as zeros.
//!
//! These are the building blocks of every stream: file data, dir streams
//! of entries and meta streams of MetaBlocks.

use std::ops::Range;

use colony_venti::{BlockStore, BlockType, Score};

use crate::entry::{Entry, flags};
use crate::error::{Error, Result};

/// Pointer fan-out of a `psize`: scores per pointer block.
pub fn fanout(psize: u32) -> u64 {
    (psize / Score::SIZE as u32) as u64
}

/// Number of leaves a stream of `size` bytes has.
pub fn leaves(size: u64, dsize: u32) -> u64 {
    size.div_ceil(dsize as u64)
}

/// The first `max` leaves of stream `e` of depth 1, read from its top
/// (pointer) block `top`: what a reader of the whole stream asks for next,
/// so a walk can fetch them with the top blocks of other streams. Zero
/// subtrees and slots past `top`'s bytes are left out; other depths have
/// none here.
pub fn first_leaves(e: &Entry, top: &[u8], max: u64) -> Vec<(Score, BlockType)> {
    if e.depth != 1 {
        return Vec::new();
    }
    let n = leaves(e.size, e.dsize).min(max) as usize;
    top.chunks_exact(Score::SIZE)
        .take(n)
        .map(Score::from_slice)
        .filter(|s| !s.is_special())
        .map(|s| (s, e.leaf_type()))
        .collect()
}

/// Minimum depth of a stream of `size` bytes (libventi's `sizetodepth`).
/// A fan-out below 2 makes every multi-leaf size impossible: the result is
/// then larger than any valid depth.
pub fn depth_for(size: u64, psize: u32, dsize: u32) -> u32 {
    if dsize == 0 {
        return u32::MAX;
    }
    let f = fanout(psize);
    let mut n = leaves(size, dsize);
    let mut d = 0;
    while n > 1 {
        if f < 2 {
            return u32::MAX;
        }
        n = n.div_ceil(f);
        d += 1;
    }
    d
}

/// The pointer slots leading to leaf `bn` in a tree of `depth` levels,
/// from the top block down (libventi's `mkindices`, reversed): slot
/// `(bn / F^(h-1)) mod F` at height `h`. Fails if `bn` needs more levels.
pub fn path_to_leaf(bn: u64, psize: u32, depth: u8) -> Result<Vec<usize>> {
    let f = fanout(psize).max(1);
    let mut slots = Vec::with_capacity(depth as usize);
    let mut rest = bn;
    for _ in 0..depth {
        slots.push((rest % f) as usize);
        rest /= f;
    }
    if rest != 0 {
        return Err(Error::format(
            "pointer tree",
            format!("leaf {bn} needs more than {depth} levels"),
        ));
    }
    slots.reverse();
    Ok(slots)
}

/// What a writer did, for counting and progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Blocks handed to the store.
    pub blocks: u64,
    /// Bytes handed to the store (after zero truncation).
    pub bytes: u64,
    /// Blocks not sent because the store already had them.
    pub skipped: u64,
}

/// Zero-truncates `block` for `ty`, and stores it unless it is empty (the
/// zero score) or `skip_existing` finds it already stored.
pub fn put_block<S: BlockStore + ?Sized>(
    store: &S,
    ty: BlockType,
    block: &[u8],
    skip_existing: bool,
    stats: &mut WriteStats,
) -> Result<Score> {
    let data = ty.truncate(block);
    if data.is_empty() {
        return Ok(Score::EMPTY);
    }
    if skip_existing {
        let score = Score::of(data);
        if store.has(&score, ty)? {
            stats.skipped += 1;
            return Ok(score);
        }
    }
    stats.blocks += 1;
    stats.bytes += data.len() as u64;
    Ok(store.write(ty, data)?)
}

/// Builds one stream bottom-up: push leaves in order, then `finish`.
/// Only one partial pointer block per level is held in memory.
pub struct TreeWriter<'a, S: BlockStore + ?Sized> {
    store: &'a S,
    psize: u32,
    dsize: u32,
    dir: bool,
    skip_existing: bool,
    /// `levels[h]` holds the scores of the pending pointer block at height
    /// `h + 1`.
    levels: Vec<Vec<u8>>,
    leaves: u64,
    stats: WriteStats,
}

impl<'a, S: BlockStore + ?Sized> TreeWriter<'a, S> {
    /// A writer for a stream with this geometry; `dir` streams have entry
    /// leaves.
    pub fn new(store: &'a S, psize: u32, dsize: u32, dir: bool) -> TreeWriter<'a, S> {
        TreeWriter {
            store,
            psize,
            dsize,
            dir,
            skip_existing: false,
            levels: vec![Vec::new()],
            leaves: 0,
            stats: WriteStats::default(),
        }
    }

    /// Checks the store before each write and skips blocks it has.
    pub fn skip_existing(mut self, yes: bool) -> Self {
        self.skip_existing = yes;
        self
    }

    /// Appends the next leaf (at most `dsize` bytes; shorter means the rest
    /// is zero).
    pub fn push_leaf(&mut self, leaf: &[u8]) -> Result<()> {
        if leaf.len() > self.dsize as usize {
            return Err(Error::format(
                "pointer tree",
                format!("leaf of {} bytes, dsize {}", leaf.len(), self.dsize),
            ));
        }
        let ty = if self.dir {
            BlockType::DIR
        } else {
            BlockType::DATA
        };
        let score = put_block(self.store, ty, leaf, self.skip_existing, &mut self.stats)?;
        self.push_leaf_score(score)
    }

    /// Appends a leaf already stored (or [`Score::EMPTY`] for zeros).
    pub fn push_leaf_score(&mut self, score: Score) -> Result<()> {
        self.leaves += 1;
        self.push_score(0, score)
    }

    fn push_score(&mut self, h: usize, score: Score) -> Result<()> {
        if h >= self.levels.len() {
            self.levels.push(Vec::new());
        }
        self.levels[h].extend_from_slice(&score.0);
        if self.levels[h].len() as u64 >= fanout(self.psize) * Score::SIZE as u64 {
            self.flush_level(h)?;
        }
        Ok(())
    }

    fn flush_level(&mut self, h: usize) -> Result<()> {
        let ty = BlockType::pointer(h as u8 + 1)
            .ok_or_else(|| Error::Unrepresentable("stream deeper than 7 levels".into()))?;
        let block = std::mem::take(&mut self.levels[h]);
        let score = put_block(self.store, ty, &block, self.skip_existing, &mut self.stats)?;
        self.push_score(h + 1, score)
    }

    /// Completes the tree for a stream of logical length `size` (which
    /// must need exactly the leaves pushed) and returns its active entry.
    pub fn finish(mut self, size: u64) -> Result<(Entry, WriteStats)> {
        if leaves(size, self.dsize) != self.leaves {
            return Err(Error::format(
                "pointer tree",
                format!(
                    "size {size} needs {} leaves, got {}",
                    leaves(size, self.dsize),
                    self.leaves
                ),
            ));
        }
        let depth = depth_for(size, self.psize, self.dsize);
        if depth > BlockType::MAX_DEPTH as u32 {
            return Err(Error::Unrepresentable(format!(
                "stream of {size} bytes is too deep"
            )));
        }
        let depth = depth as usize;
        for h in 0..depth {
            if h < self.levels.len() && !self.levels[h].is_empty() {
                self.flush_level(h)?;
            }
        }
        let top = self.levels.get(depth).map_or(&[][..], |l| &l[..]);
        let score = match top.len() {
            0 => Score::EMPTY,
            20 => Score::from_slice(top),
            n => {
                return Err(Error::format(
                    "pointer tree",
                    format!("{} scores left at the top", n / 20),
                ));
            }
        };
        let entry = Entry {
            generation: 0,
            psize: self.psize,
            dsize: self.dsize,
            dir: self.dir,
            depth: depth as u8,
            flags: flags::ACTIVE,
            size,
            score,
        };
        Ok((entry, self.stats))
    }
}

/// Reads a block of `ty` expected to be `size` bytes: short-circuits the
/// zero scores, checks the size, and zero-extends (§1.4). Errors name the
/// block's score. The hash is the store's to verify, once, where the
/// block crosses into trust ([`BlockStore::read`]: the venti client on
/// the network's side, the arena store on the disk's): hashing it again
/// here would cost a third SHA-1 of every remote block.
pub fn read_block<S: BlockStore + ?Sized>(
    store: &S,
    score: &Score,
    ty: BlockType,
    size: usize,
) -> Result<Vec<u8>> {
    if score.is_special() {
        return check_block(score, ty, size, Ok(Vec::new()));
    }
    check_block(score, ty, size, store.read(score, ty))
}

/// [`read_block`]'s checks on a block the store gave back.
fn check_block(
    score: &Score,
    ty: BlockType,
    size: usize,
    got: colony_venti::Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let mut data = check_stored(score, size, got)?;
    ty.extend(&mut data, size);
    Ok(data)
}

/// [`check_block`] but for the zero-extension: the block as stored.
fn check_stored(score: &Score, size: usize, got: colony_venti::Result<Vec<u8>>) -> Result<Vec<u8>> {
    let data = got.map_err(|e| Error::from(e).in_block(*score))?;
    if data.len() > size {
        return Err(Error::format(
            "pointer tree",
            format!("block of {} bytes where at most {size} fit", data.len()),
        )
        .in_block(*score));
    }
    Ok(data)
}

/// Random access to the leaves of one stream. Keeps the last pointer block
/// read at each height, so sequential reads fetch each pointer block once.
pub struct TreeReader<'a, S: BlockStore + ?Sized> {
    store: &'a S,
    entry: Entry,
    /// `path[h]` = (score, bytes) of the last pointer block read at height
    /// `h + 1`.
    path: Vec<Option<(Score, Vec<u8>)>>,
}

impl<'a, S: BlockStore + ?Sized> TreeReader<'a, S> {
    /// A reader for an active entry; checks it as libventi does.
    pub fn new(store: &'a S, entry: Entry) -> Result<TreeReader<'a, S>> {
        let entry = entry.check()?;
        Ok(TreeReader {
            store,
            entry,
            path: vec![None; entry.depth as usize],
        })
    }

    /// The stream's entry (after the legacy fix-up).
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// Number of leaves.
    pub fn leaves(&self) -> u64 {
        leaves(self.entry.size, self.entry.dsize)
    }

    /// Score of leaf `bn` ([`Score::EMPTY`] inside a zero subtree).
    pub fn leaf_score(&mut self, bn: u64) -> Result<Score> {
        let e = self.entry;
        if bn >= self.leaves() {
            return Err(Error::format(
                "pointer tree",
                format!("leaf {bn} past the end ({} leaves)", self.leaves()),
            ));
        }
        let slots = path_to_leaf(bn, e.psize, e.depth)?;
        let mut score = e.score;
        for (i, slot) in slots.into_iter().enumerate() {
            let h = e.depth as usize - i;
            if score.is_special() {
                return Ok(Score::EMPTY);
            }
            let cached = matches!(&self.path[h - 1], Some((s, _)) if *s == score);
            if !cached {
                let ty = BlockType::pointer(h as u8).expect("depth checked");
                let block = read_block(self.store, &score, ty, e.psize as usize)?;
                self.path[h - 1] = Some((score, block));
            }
            let (_, block) = self.path[h - 1].as_ref().expect("just filled");
            score = Score::from_slice(&block[slot * Score::SIZE..]);
        }
        Ok(score)
    }

    /// Leaf `bn`, zero-extended to `dsize`.
    pub fn read_leaf(&mut self, bn: u64) -> Result<Vec<u8>> {
        let score = self.leaf_score(bn)?;
        read_block(
            self.store,
            &score,
            self.entry.leaf_type(),
            self.entry.dsize as usize,
        )
    }

    /// Leaves `range` with their scores, as stored (venti trims trailing
    /// zeros: the caller zero-extends, or writes only what is there),
    /// fetched with one [`BlockStore::read_many`] so a remote store has
    /// them all in flight at once. A leaf inside a zero subtree (a
    /// special score) is fetched from nowhere and comes back empty, for
    /// the caller to make a hole or zeros of.
    pub fn read_leaves(&mut self, range: Range<u64>) -> Result<Vec<(Score, Vec<u8>)>> {
        let ty = self.entry.leaf_type();
        let size = self.entry.dsize as usize;
        let scores = range
            .map(|bn| self.leaf_score(bn))
            .collect::<Result<Vec<Score>>>()?;
        let want: Vec<(Score, BlockType)> = scores
            .iter()
            .filter(|s| !s.is_special())
            .map(|s| (*s, ty))
            .collect();
        let mut got = self.store.read_many(&want).into_iter();
        scores
            .into_iter()
            .map(|score| {
                if score.is_special() {
                    return Ok((score, Vec::new()));
                }
                let data = got.next().expect("one result per block asked");
                Ok((score, check_stored(&score, size, data)?))
            })
            .collect()
    }

    /// The whole stream, exactly `size` bytes. For small streams (dirs and
    /// meta streams); files are read a batch of leaves at a time.
    pub fn read_all(&mut self) -> Result<Vec<u8>> {
        let (ty, dsize) = (self.entry.leaf_type(), self.entry.dsize as usize);
        let mut out = Vec::new();
        for (_, mut leaf) in self.read_leaves(0..self.leaves())? {
            ty.extend(&mut leaf, dsize);
            out.extend_from_slice(&leaf);
        }
        out.truncate(self.entry.size as usize);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_venti::MemStore;
    use proptest::prelude::*;

    #[test]
    fn geometry() {
        assert_eq!(depth_for(0, 8180, 8192), 0);
        assert_eq!(depth_for(8192, 8180, 8192), 0);
        assert_eq!(depth_for(20000, 8180, 8192), 1);
        assert_eq!(depth_for(5_000_000, 8180, 8192), 2);
        assert_eq!(depth_for(409 * 8192, 8180, 8192), 1);
        assert_eq!(depth_for(409 * 8192 + 1, 8180, 8192), 2);
        assert_eq!(path_to_leaf(0, 8180, 0).unwrap(), Vec::<usize>::new());
        assert_eq!(path_to_leaf(610, 8180, 2).unwrap(), vec![1, 201]);
        assert!(path_to_leaf(1, 8180, 0).is_err());
        assert!(path_to_leaf(409 * 409, 8180, 2).is_err());
    }

    #[test]
    fn first_leaves_of_a_one_level_stream() {
        let store = MemStore::new();
        let mut w = TreeWriter::new(&store, 8180, 8192, false);
        let leaves: Vec<Score> = [1u8, 0, 3]
            .iter()
            .map(|&b| {
                w.push_leaf(&[b; 8192]).unwrap();
                if b == 0 {
                    Score::EMPTY
                } else {
                    Score::of(&[b; 8192])
                }
            })
            .collect();
        let (e, _) = w.finish(3 * 8192).unwrap();
        assert_eq!(e.depth, 1);
        let top = store.read(&e.score, e.top_type()).unwrap();
        let data = |s: Score| (s, BlockType::DATA);
        assert_eq!(
            first_leaves(&e, &top, 10),
            vec![data(leaves[0]), data(leaves[2])],
            "the zero leaf is left out"
        );
        assert_eq!(first_leaves(&e, &top, 1), vec![data(leaves[0])]);
        let flat = Entry { depth: 0, ..e };
        assert!(first_leaves(&flat, &top, 10).is_empty());
    }

    #[test]
    fn five_megabytes_as_observed() {
        // §4.2: 611 leaves, 2 height-1 pointer blocks, one 40-byte top.
        let store = MemStore::new();
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8 + 1).collect();
        let mut w = TreeWriter::new(&store, 8180, 8192, false);
        for c in data.chunks(8192) {
            w.push_leaf(c).unwrap();
        }
        let (e, _) = w.finish(data.len() as u64).unwrap();
        assert_eq!(e.depth, 2);
        let top = store
            .read(&e.score, BlockType::pointer(2).unwrap())
            .unwrap();
        assert_eq!(top.len(), 40);
        let mut r = TreeReader::new(&store, e).unwrap();
        assert_eq!(r.read_all().unwrap(), data);
    }

    #[test]
    fn missing_and_corrupt_blocks_name_the_score() {
        let store = MemStore::new();
        let mut w = TreeWriter::new(&store, 8180, 8192, false);
        w.push_leaf(&[1; 8192]).unwrap();
        w.push_leaf(&[2; 10]).unwrap();
        let (e, _) = w.finish(8202).unwrap();
        let empty = MemStore::new();
        let err = TreeReader::new(&empty, e).unwrap().read_all().unwrap_err();
        assert!(err.to_string().contains(&e.score.to_string()), "{err}");
        let mut r = TreeReader::new(&store, e).unwrap();
        assert!(r.read_leaf(2).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(len in 0usize..6000, zero_every in 1usize..5, psize in 40u32..200) {
            // Small blocks force deep trees; every few leaves is all zero.
            let dsize = 256u32;
            let psize = psize.max(256);
            let data: Vec<u8> = (0..len).map(|i| if (i / 256) % zero_every == 0 { 0 } else { i as u8 | 1 }).collect();
            let store = MemStore::new();
            let mut w = TreeWriter::new(&store, psize, dsize, false);
            for c in data.chunks(dsize as usize) { w.push_leaf(c).unwrap(); }
            let (e, _) = w.finish(len as u64).unwrap();
            prop_assert_eq!(e.depth as u32, depth_for(len as u64, psize, dsize));
            let mut r = TreeReader::new(&store, e).unwrap();
            prop_assert_eq!(r.read_all().unwrap(), data);
        }
    }
}
