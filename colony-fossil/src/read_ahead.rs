//! [`ReadAhead`]: a walk's read-ahead over a block store. The walker
//! names the blocks it will need next ([`ReadAhead::fetch`]: one
//! [`BlockStore::read_many`], so a remote store has them all in flight at
//! once) and reads them later through the usual [`BlockStore`] calls,
//! which hand a held block over without a copy or a round trip.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use colony_venti::{BlockStore, BlockType, Result, Score};

/// Most bytes of blocks held at once (a walk fetches the next batch of
/// children while a subdirectory's own batches come in); the oldest go
/// first.
const MAX_HELD: usize = 64 << 20;

/// A block store that serves blocks fetched ahead, once each.
pub struct ReadAhead<'a, S: BlockStore + ?Sized> {
    store: &'a S,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    blocks: HashMap<(Score, BlockType), Vec<u8>>,
    /// Keys in the order fetched (some already read), for eviction.
    order: VecDeque<(Score, BlockType)>,
    /// Bytes of `blocks`.
    bytes: usize,
}

impl<'a, S: BlockStore + ?Sized> ReadAhead<'a, S> {
    /// Nothing held yet.
    pub fn new(store: &'a S) -> ReadAhead<'a, S> {
        ReadAhead {
            store,
            held: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fetches `blocks` not held yet, in one batch, and holds them until
    /// read. A block that fails is not held: the read that needs it asks
    /// again and gets the error.
    pub fn fetch(&self, blocks: &[(Score, BlockType)]) {
        let want: Vec<(Score, BlockType)> = {
            let held = self.lock();
            let mut seen = HashSet::new();
            blocks
                .iter()
                .filter(|&&(s, t)| !s.is_special() && !held.blocks.contains_key(&(s, t)))
                .filter(|&&key| seen.insert(key))
                .copied()
                .collect()
        };
        if want.is_empty() {
            return;
        }
        let got = self.store.read_many(&want);
        let mut held = self.lock();
        for (key, data) in want.into_iter().zip(got) {
            if let Ok(data) = data {
                held.bytes += data.len();
                if let Some(old) = held.blocks.insert(key, data) {
                    held.bytes -= old.len();
                }
                held.order.push_back(key);
            }
        }
        while held.bytes > MAX_HELD {
            let old = held.order.pop_front().expect("every held key is in order");
            if let Some(data) = held.blocks.remove(&old) {
                held.bytes -= data.len();
            }
        }
        if held.order.len() > 2 * held.blocks.len() + 1024 {
            // Forget the keys of blocks already read.
            let Held { blocks, order, .. } = &mut *held;
            order.retain(|k| blocks.contains_key(k));
        }
    }

    /// Runs `f` on block `key` if it is held, leaving it held.
    pub fn peek<T>(&self, key: &(Score, BlockType), f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.lock().blocks.get(key).map(|b| f(b))
    }

    fn take(&self, score: &Score, ty: BlockType) -> Option<Vec<u8>> {
        let mut held = self.lock();
        let data = held.blocks.remove(&(*score, ty))?;
        held.bytes -= data.len();
        Some(data)
    }
}

impl<S: BlockStore + ?Sized> BlockStore for ReadAhead<'_, S> {
    fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        match self.take(score, ty) {
            Some(data) => Ok(data),
            None => self.store.read(score, ty),
        }
    }

    fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<Result<Vec<u8>>> {
        let mut out: Vec<Option<Result<Vec<u8>>>> = blocks
            .iter()
            .map(|(s, t)| self.take(s, *t).map(Ok))
            .collect();
        let missing: Vec<usize> = (0..blocks.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let want: Vec<(Score, BlockType)> = missing.iter().map(|&i| blocks[i]).collect();
            for (i, got) in missing.into_iter().zip(self.store.read_many(&want)) {
                out[i] = Some(got);
            }
        }
        out.into_iter()
            .map(|r| r.expect("every block answered"))
            .collect()
    }

    fn write(&self, ty: BlockType, data: &[u8]) -> Result<Score> {
        self.store.write(ty, data)
    }

    fn has(&self, score: &Score, ty: BlockType) -> Result<bool> {
        if self.lock().blocks.contains_key(&(*score, ty)) {
            return Ok(true);
        }
        self.store.has(score, ty)
    }

    fn sync(&self) -> Result<()> {
        self.store.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_venti::MemStore;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the calls that reach the store.
    struct Counting(MemStore, AtomicUsize);

    impl BlockStore for Counting {
        fn read(&self, s: &Score, t: BlockType) -> Result<Vec<u8>> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.read(s, t)
        }
        fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<Result<Vec<u8>>> {
            self.1.fetch_add(1, Ordering::Relaxed);
            blocks.iter().map(|(s, t)| self.0.read(s, *t)).collect()
        }
        fn write(&self, t: BlockType, d: &[u8]) -> Result<Score> {
            self.0.write(t, d)
        }
        fn has(&self, s: &Score, t: BlockType) -> Result<bool> {
            self.0.has(s, t)
        }
        fn sync(&self) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fetched_blocks_are_served_once_without_the_store() {
        let store = Counting(MemStore::new(), AtomicUsize::new(0));
        let a = store.write(BlockType::DATA, b"a").unwrap();
        let b = store.write(BlockType::DATA, b"b").unwrap();
        let absent = Score::of(b"absent");
        let ahead = ReadAhead::new(&store);
        ahead.fetch(&[
            (a, BlockType::DATA),
            (b, BlockType::DATA),
            (a, BlockType::DATA),
            (absent, BlockType::DATA),
        ]);
        assert_eq!(store.1.load(Ordering::Relaxed), 1, "one batch");
        assert_eq!(ahead.read(&a, BlockType::DATA).unwrap(), b"a");
        let got = ahead.read_many(&[(b, BlockType::DATA), (a, BlockType::DATA)]);
        assert_eq!(got[0].as_ref().unwrap(), b"b");
        assert_eq!(
            got[1].as_ref().unwrap(),
            b"a",
            "taken blocks come from the store"
        );
        assert_eq!(store.1.load(Ordering::Relaxed), 2);
        assert!(
            ahead.read(&absent, BlockType::DATA).is_err(),
            "failures are asked again"
        );
        assert!(
            ahead.read(&a, BlockType::DIR).is_err(),
            "type is part of the key"
        );
    }

    #[test]
    fn holds_at_most_the_cap() {
        let store = MemStore::new();
        const SIZE: usize = 32 << 10;
        let n = MAX_HELD / SIZE;
        let blocks: Vec<(Score, BlockType)> = (0..n as u32 + 10)
            .map(|i| {
                let mut b = vec![1u8; SIZE];
                b[..4].copy_from_slice(&i.to_be_bytes());
                (store.write(BlockType::DATA, &b).unwrap(), BlockType::DATA)
            })
            .collect();
        let ahead = ReadAhead::new(&store);
        ahead.fetch(&blocks);
        assert_eq!(ahead.lock().blocks.len(), n);
        assert_eq!(ahead.lock().bytes, MAX_HELD);
        assert!(
            !ahead.lock().blocks.contains_key(&blocks[0]),
            "oldest out first"
        );
        ahead.read(&blocks[20].0, BlockType::DATA).unwrap();
        assert_eq!(
            ahead.lock().bytes,
            MAX_HELD - SIZE,
            "a block read is let go"
        );
    }
}
