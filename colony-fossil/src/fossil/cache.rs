//! The write-back block cache of a live file system: clean blocks (copies
//! of venti blocks, evicted by CLOCK under pressure) and dirty leaves
//! (local only, until they are written to venti) share one bounded
//! [`LocalStore`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use colony_venti::{BlockStore, BlockType, Score};

use crate::error::Result;
use crate::local::LocalStore;
use crate::tree::read_block;

/// Counters of the cache, for tests and status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes of dirty blocks (leaves in the local store and pointer blocks
    /// being edited in memory).
    pub dirty_bytes: u64,
    /// Bytes of clean blocks cached in the local store.
    pub clean_bytes: u64,
    /// Highest `dirty_bytes + clean_bytes` seen.
    pub peak_bytes: u64,
    /// Clean blocks evicted.
    pub evictions: u64,
    /// Times dirty blocks were written to venti early, before a save.
    pub early_flushes: u64,
}

struct Clean {
    key: u64,
    len: u64,
    referenced: bool,
}

#[derive(Default)]
struct Index {
    next_key: u64,
    clean: HashMap<(Score, BlockType), Clean>,
    /// CLOCK order of clean blocks.
    clock: VecDeque<(Score, BlockType)>,
    clean_bytes: u64,
    dirty_leaf_bytes: HashMap<u64, u64>,
    evictions: u64,
}

/// The venti store and the local cache in front of it.
pub struct Blocks {
    store: Arc<dyn BlockStore>,
    local: Box<dyn LocalStore>,
    limit: u64,
    index: Mutex<Index>,
    dirty_bytes: AtomicU64,
    peak: AtomicU64,
    early_flushes: AtomicU64,
    /// [`FossilOptions::children_ahead`](crate::FossilOptions::children_ahead).
    children_ahead: bool,
}

impl Blocks {
    /// A cache of at most `limit` bytes over `store`.
    pub fn new(store: Arc<dyn BlockStore>, local: Box<dyn LocalStore>, limit: u64) -> Blocks {
        Blocks {
            store,
            local,
            limit,
            index: Mutex::new(Index::default()),
            dirty_bytes: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            early_flushes: AtomicU64::new(0),
            children_ahead: false,
        }
    }

    /// With `on`, loading a directory's children fetches what a walk of
    /// it reads next ([`FossilOptions::children_ahead`](crate::FossilOptions::children_ahead)).
    pub fn with_children_ahead(mut self, on: bool) -> Blocks {
        self.children_ahead = on;
        self
    }

    /// True if loading a directory's children fetches ahead.
    pub fn children_ahead(&self) -> bool {
        self.children_ahead
    }

    /// The venti store.
    pub fn store(&self) -> &Arc<dyn BlockStore> {
        &self.store
    }

    /// The byte limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counters.
    pub fn stats(&self) -> CacheStats {
        let ix = self.lock();
        CacheStats {
            dirty_bytes: self.dirty_bytes.load(Ordering::Relaxed),
            clean_bytes: ix.clean_bytes,
            peak_bytes: self.peak.load(Ordering::Relaxed),
            evictions: ix.evictions,
            early_flushes: self.early_flushes.load(Ordering::Relaxed),
        }
    }

    /// Bytes of dirty blocks.
    pub fn dirty_bytes(&self) -> u64 {
        self.dirty_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn count_early_flush(&self) {
        self.early_flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// Accounts `n` more dirty bytes held elsewhere (pointer blocks).
    pub(crate) fn add_dirty(&self, n: u64) {
        self.dirty_bytes.fetch_add(n, Ordering::Relaxed);
        let ix = self.lock();
        self.note_peak(&ix);
    }

    /// Accounts `n` fewer dirty bytes.
    pub(crate) fn sub_dirty(&self, n: u64) {
        self.dirty_bytes.fetch_sub(n, Ordering::Relaxed);
    }

    fn note_peak(&self, ix: &Index) {
        let total = ix.clean_bytes + self.dirty_bytes.load(Ordering::Relaxed);
        self.peak.fetch_max(total, Ordering::Relaxed);
    }

    /// Reads block (score, ty), zero-extended to `size`: from the cache if
    /// there, else from venti (which verified it against its score) and
    /// cached.
    pub fn read(&self, score: &Score, ty: BlockType, size: usize) -> Result<Vec<u8>> {
        if score.is_special() {
            let mut v = Vec::new();
            ty.extend(&mut v, size);
            return Ok(v);
        }
        if let Some(data) = self.cached(score, ty, size)? {
            return Ok(data);
        }
        let data = read_block(&*self.store, score, ty, size)?;
        self.insert_clean(*score, ty, ty.truncate(&data))?;
        Ok(data)
    }

    /// Block (score, ty), zero-extended to `size`, if the cache has it.
    pub fn cached(&self, score: &Score, ty: BlockType, size: usize) -> Result<Option<Vec<u8>>> {
        let hit = {
            let mut ix = self.lock();
            ix.clean.get_mut(&(*score, ty)).map(|c| {
                c.referenced = true;
                c.key
            })
        };
        let Some(key) = hit else {
            return Ok(None);
        };
        Ok(self.local.get(key)?.map(|mut data| {
            ty.extend(&mut data, size);
            data
        }))
    }

    /// Fetches the blocks not cached with one [`BlockStore::read_many`]
    /// (a remote store keeps them all in flight, and verifies each) and
    /// caches those that fit their size (the most bytes a reader of
    /// each expects). Failures are dropped: the read that needs such a
    /// block fetches it again and reports why it cannot be had.
    pub fn prefetch(&self, blocks: &[(Score, BlockType, usize)]) {
        let (missing, sizes): (Vec<(Score, BlockType)>, Vec<usize>) = {
            let ix = self.lock();
            blocks
                .iter()
                .filter(|(s, t, _)| !s.is_special() && !ix.clean.contains_key(&(*s, *t)))
                .map(|&(s, t, size)| ((s, t), size))
                .unzip()
        };
        if missing.is_empty() {
            return;
        }
        let got = self.store.read_many(&missing);
        for ((&(score, ty), size), got) in missing.iter().zip(sizes).zip(got) {
            if let Ok(data) = got
                && data.len() <= size
            {
                let _ = self.insert_clean(score, ty, ty.truncate(&data));
            }
        }
    }

    /// Caches a clean block (its stored, truncated bytes).
    fn insert_clean(&self, score: Score, ty: BlockType, data: &[u8]) -> Result<()> {
        let mut ix = self.lock();
        if ix.clean.contains_key(&(score, ty)) || data.len() as u64 > self.limit / 4 {
            return Ok(());
        }
        let key = ix.next_key;
        ix.next_key += 1;
        self.local.put(key, data)?;
        self.add_clean(&mut ix, score, ty, key, data.len() as u64);
        Ok(())
    }

    fn add_clean(&self, ix: &mut Index, score: Score, ty: BlockType, key: u64, len: u64) {
        ix.clean.insert(
            (score, ty),
            Clean {
                key,
                len,
                referenced: false,
            },
        );
        ix.clock.push_back((score, ty));
        ix.clean_bytes += len;
        self.evict(ix);
        self.note_peak(ix);
    }

    /// CLOCK: evicts clean blocks until the cache is within its limit.
    fn evict(&self, ix: &mut Index) {
        let dirty = self.dirty_bytes.load(Ordering::Relaxed);
        while ix.clean_bytes + dirty > self.limit {
            let Some(name) = ix.clock.pop_front() else {
                return;
            };
            let Some(c) = ix.clean.get_mut(&name) else {
                continue;
            };
            if c.referenced {
                c.referenced = false;
                ix.clock.push_back(name);
                continue;
            }
            let c = ix.clean.remove(&name).expect("present");
            ix.clean_bytes -= c.len;
            ix.evictions += 1;
            self.local.remove(c.key);
        }
    }

    /// Stores a new dirty leaf and returns its key.
    pub fn new_dirty(&self, data: &[u8]) -> Result<u64> {
        let key = {
            let mut ix = self.lock();
            ix.next_key += 1;
            ix.next_key - 1
        };
        self.put_dirty(key, data)?;
        Ok(key)
    }

    /// Replaces dirty leaf `key`.
    pub fn put_dirty(&self, key: u64, data: &[u8]) -> Result<()> {
        self.local.put(key, data)?;
        let mut ix = self.lock();
        let old = ix
            .dirty_leaf_bytes
            .insert(key, data.len() as u64)
            .unwrap_or(0);
        self.dirty_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.dirty_bytes.fetch_sub(old, Ordering::Relaxed);
        self.evict(&mut ix);
        self.note_peak(&ix);
        Ok(())
    }

    /// Dirty leaf `key`.
    pub fn get_dirty(&self, key: u64) -> Result<Vec<u8>> {
        self.local.get(key)?.ok_or_else(|| {
            crate::error::Error::format("local store", format!("dirty block {key} is missing"))
        })
    }

    /// Forgets dirty leaf `key`.
    pub fn drop_dirty(&self, key: u64) {
        let mut ix = self.lock();
        if let Some(n) = ix.dirty_leaf_bytes.remove(&key) {
            self.dirty_bytes.fetch_sub(n, Ordering::Relaxed);
        }
        drop(ix);
        self.local.remove(key);
    }

    /// Dirty leaf `key` was written to venti as (score, ty): it stays in
    /// the local store as a clean, evictable copy.
    pub fn dirty_to_clean(&self, key: u64, score: Score, ty: BlockType) {
        let mut ix = self.lock();
        let n = ix.dirty_leaf_bytes.remove(&key).unwrap_or(0);
        self.dirty_bytes.fetch_sub(n, Ordering::Relaxed);
        if score.is_special() || ix.clean.contains_key(&(score, ty)) {
            drop(ix);
            self.local.remove(key);
            return;
        }
        // The local copy may hold trailing zeros past the stored length;
        // readers zero-extend either way.
        self.add_clean(&mut ix, score, ty, key, n);
    }

    /// Writes a block to venti (zero-truncated first); returns its score.
    pub fn write(&self, ty: BlockType, block: &[u8]) -> Result<Score> {
        let data = ty.truncate(block);
        if data.is_empty() {
            return Ok(Score::EMPTY);
        }
        Ok(self.store.write(ty, data)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::MemLocal;
    use colony_venti::MemStore;

    #[test]
    fn clock_evicts_clean_blocks_within_the_limit() {
        let store = MemStore::new();
        let scores: Vec<Score> = (0..10u8)
            .map(|i| store.write(BlockType::DATA, &[i + 1; 1000]).unwrap())
            .collect();
        let b = Blocks::new(Arc::new(store), Box::new(MemLocal::new()), 4000);
        for s in &scores {
            assert_eq!(b.read(s, BlockType::DATA, 1024).unwrap().len(), 1024);
        }
        let st = b.stats();
        assert!(st.clean_bytes <= 4000 && st.evictions >= 6, "{st:?}");
        // A dirty leaf pushes clean blocks out but is never evicted itself.
        let k = b.new_dirty(&[9; 3000]).unwrap();
        assert!(b.stats().clean_bytes <= 1000);
        assert_eq!(b.get_dirty(k).unwrap(), vec![9; 3000]);
        b.dirty_to_clean(k, Score::of(&[9; 3000]), BlockType::DATA);
        assert_eq!(b.dirty_bytes(), 0);
    }
}
