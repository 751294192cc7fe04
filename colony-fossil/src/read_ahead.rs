//! [`ReadAhead`]: a walk's read-ahead over a block store, bounded in
//! bytes. Fetchers name the blocks the walk will need (one
//! [`BlockStore::read_many`] per batch, so a remote store has them all in
//! flight at once), each tagged with the walk's [`Pos`] that will read
//! it; the walker reads them later through the usual [`BlockStore`]
//! calls, which hand a held block over without a copy or a round trip.
//!
//! The bound: fetches that ask for room ([`Room::Wait`], the read-ahead
//! across a tree) wait while the bytes held and in flight reach the cap,
//! and a block the walk has gone past ([`ReadAhead::advance`]) is let
//! go, so blocks nobody will read cannot fill the cap. A block in flight
//! counts as the most bytes it can have, held blocks as what they have.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard};

use colony_venti::{BlockStore, BlockType, Result, Score};

/// Where a walk is: the child indexes from the root down, so that the
/// order of positions is the order of a depth-first walk (a directory
/// before its children, its children in order, all before its next
/// sibling).
pub type Pos = Vec<u32>;

/// A block, as the store names it.
pub type Key = (Score, BlockType);

/// One block to fetch ahead: its name, the most bytes it can have, and
/// where the walk reads it.
#[derive(Clone, Debug)]
pub struct Want {
    /// The block.
    pub key: Key,
    /// Most bytes it can have (charged while in flight).
    pub most: usize,
    /// The walk's position that reads it.
    pub tag: Pos,
}

/// Whether a fetch waits for room under the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    /// Fetch ahead only while under the cap, waiting for the walk to
    /// take blocks (or go past them) when full.
    Wait,
    /// Fetch at once: what the walk reads next (a file's next batch of
    /// leaves), so waiting on later read-ahead would stall it.
    Now,
}

/// A block store that serves blocks fetched ahead, as many times as they
/// were asked for (a tree often holds files of the same contents), then
/// lets them go.
pub struct ReadAhead<'a, S: BlockStore + ?Sized> {
    store: &'a S,
    cap: usize,
    held: Mutex<Held>,
    /// Signalled when blocks land, are taken or let go, and on stop.
    changed: Condvar,
}

/// A block fetched ahead: held, or in flight.
struct Ahead<T> {
    /// The block, or its charge while in flight.
    data: T,
    /// The last position that reads it.
    tag: Pos,
    /// How many times it was asked for: the walk reads it that many
    /// times (files of the same contents), each read but the last
    /// taking a copy.
    wants: u32,
}

#[derive(Default)]
struct Held {
    blocks: HashMap<Key, Ahead<Vec<u8>>>,
    /// The held keys by tag, to let go of those the walk has passed.
    by_tag: BTreeSet<(Pos, Key)>,
    /// Blocks asked for and not yet answered, with their charge.
    flying: HashMap<Key, Ahead<usize>>,
    /// Bytes of `blocks`.
    bytes: usize,
    /// Charge of `flying`.
    flying_bytes: usize,
    /// Most of `bytes + flying_bytes` seen at once.
    peak: usize,
    /// The walk's position: blocks tagged before it are let go.
    passed: Pos,
    /// No more fetching ahead: the walk is over.
    stopped: bool,
    /// Threads waiting on `changed` (none: no need to signal it).
    waiting: usize,
}

impl Held {
    fn in_use(&self) -> usize {
        self.bytes + self.flying_bytes
    }

    fn take(&mut self, key: &Key) -> Option<Vec<u8>> {
        let kept = self.blocks.get_mut(key)?;
        if kept.wants > 1 {
            kept.wants -= 1;
            return Some(kept.data.clone());
        }
        let kept = self.blocks.remove(key).expect("just found");
        self.bytes -= kept.data.len();
        self.by_tag.remove(&(kept.tag, *key));
        Some(kept.data)
    }

    /// Counts one more want of a block held or in flight, read at `tag`;
    /// false if it is neither.
    fn want_again(&mut self, key: &Key, tag: &Pos) -> bool {
        if let Some(f) = self.flying.get_mut(key) {
            f.wants += 1;
            f.tag = f.tag.clone().max(tag.clone());
            return true;
        }
        let Some(kept) = self.blocks.get_mut(key) else {
            return false;
        };
        kept.wants += 1;
        if *tag > kept.tag {
            let old = std::mem::replace(&mut kept.tag, tag.clone());
            self.by_tag.remove(&(old, *key));
            self.by_tag.insert((tag.clone(), *key));
        }
        true
    }
}

impl<'a, S: BlockStore + ?Sized> ReadAhead<'a, S> {
    /// Nothing held yet; fetches that wait for room keep the bytes held
    /// and in flight under `cap` (one block may go over it alone).
    pub fn new(store: &'a S, cap: usize) -> ReadAhead<'a, S> {
        ReadAhead {
            store,
            cap,
            held: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'g>(&self, mut g: MutexGuard<'g, Held>) -> MutexGuard<'g, Held> {
        g.waiting += 1;
        let mut g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner());
        g.waiting -= 1;
        g
    }

    /// Unlocks, signalling `changed` if anyone waits on it: most reads
    /// find nobody waiting, and a signal is a system call.
    fn wake(&self, g: MutexGuard<'_, Held>) {
        let waiting = g.waiting > 0;
        drop(g);
        if waiting {
            self.changed.notify_all();
        }
    }

    /// Most bytes held and in flight at once so far.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    /// The walk is at `pos`: blocks tagged before it will not be read
    /// and are let go, and no more are fetched for them.
    pub fn advance(&self, pos: &[u32]) {
        let mut held = self.lock();
        held.passed = pos.to_vec();
        while let Some((tag, key)) = held.by_tag.first().cloned() {
            if tag.as_slice() >= pos {
                break;
            }
            held.take(&key);
        }
        self.wake(held);
    }

    /// Ends fetching ahead: fetches waiting for room return at once.
    pub fn stop(&self) {
        let mut held = self.lock();
        held.stopped = true;
        self.wake(held);
    }

    /// Whether the walk has gone past `pos`.
    pub fn passed(&self, pos: &[u32]) -> bool {
        self.lock().passed.as_slice() > pos
    }

    /// Fetches the blocks of `wants` not held or in flight yet, and holds
    /// them until read or passed. A block that fails is not held: the
    /// read that needs it asks again and gets the error.
    pub fn fetch(&self, wants: &[Want], room: Room) {
        let mut rest = wants.iter().filter(|w| !w.key.0.is_special()).peekable();
        let fits = |held: &Held, w: &Want| {
            room == Room::Now || held.in_use() == 0 || held.in_use() + w.most <= self.cap
        };
        while let Some(&first) = rest.peek() {
            let mut held = self.lock();
            while !held.stopped && !fits(&held, first) {
                held = self.wait(held);
            }
            if held.stopped && room == Room::Wait {
                return;
            }
            let mut batch = Vec::new();
            while let Some(w) = rest.next_if(|w| fits(&held, w)) {
                let gone = w.tag.as_slice() < held.passed.as_slice();
                if gone || held.want_again(&w.key, &w.tag) {
                    continue;
                }
                let flight = Ahead {
                    data: w.most,
                    tag: w.tag.clone(),
                    wants: 1,
                };
                held.flying.insert(w.key, flight);
                held.flying_bytes += w.most;
                held.peak = held.peak.max(held.in_use());
                batch.push(w);
            }
            drop(held);
            self.land(&batch);
        }
    }

    /// Fetches `batch` (registered as flying) and holds what came.
    fn land(&self, batch: &[&Want]) {
        if batch.is_empty() {
            return;
        }
        let keys: Vec<Key> = batch.iter().map(|w| w.key).collect();
        let got = self.store.read_many(&keys);
        let mut held = self.lock();
        for (w, data) in batch.iter().zip(got) {
            let flight = held.flying.remove(&w.key).expect("registered as flying");
            held.flying_bytes -= flight.data;
            let Ok(data) = data else { continue };
            if flight.tag < held.passed {
                continue;
            }
            held.bytes += data.len();
            held.by_tag.insert((flight.tag.clone(), w.key));
            let kept = Ahead {
                data,
                tag: flight.tag,
                wants: flight.wants,
            };
            held.blocks.insert(w.key, kept);
        }
        held.peak = held.peak.max(held.in_use());
        self.wake(held);
    }

    /// Runs `f` on block `key` if it is held, leaving it held.
    pub fn peek<T>(&self, key: &Key, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.lock().blocks.get(key).map(|b| f(&b.data))
    }

    /// Takes the blocks of `keys` held (waiting for those in flight),
    /// leaving `None` for those neither held nor in flight.
    fn take_all(&self, keys: &[Key]) -> Vec<Option<Vec<u8>>> {
        let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let mut held = self.lock();
        loop {
            for (i, key) in keys.iter().enumerate() {
                if out[i].is_none() {
                    out[i] = held.take(key);
                }
            }
            let flying = keys
                .iter()
                .zip(&out)
                .any(|(k, o)| o.is_none() && held.flying.contains_key(k));
            if !flying {
                break;
            }
            held = self.wait(held);
        }
        self.wake(held);
        out
    }
}

impl<S: BlockStore + ?Sized> BlockStore for ReadAhead<'_, S> {
    fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        match self.take_all(&[(*score, ty)]).pop().flatten() {
            Some(data) => Ok(data),
            None => self.store.read(score, ty),
        }
    }

    fn read_many(&self, blocks: &[Key]) -> Vec<Result<Vec<u8>>> {
        let mut out: Vec<Option<Result<Vec<u8>>>> = self
            .take_all(blocks)
            .into_iter()
            .map(|b| b.map(Ok))
            .collect();
        let missing: Vec<usize> = (0..blocks.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let want: Vec<Key> = missing.iter().map(|&i| blocks[i]).collect();
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

/// A fetcher's own view of a [`ReadAhead`]: reads fetch ahead (waiting
/// for room) and hold the block for the walk, handing the fetcher a
/// copy. For the blocks both read, such as a directory's streams, which
/// the fetcher lists to find what to fetch next and the walk lists again.
pub struct Sharing<'r, 'a, S: BlockStore + ?Sized> {
    ahead: &'r ReadAhead<'a, S>,
    tag: Pos,
}

impl<'r, 'a, S: BlockStore + ?Sized> Sharing<'r, 'a, S> {
    /// Reads through `ahead`, holding blocks for the walk at `tag`.
    pub fn new(ahead: &'r ReadAhead<'a, S>, tag: Pos) -> Self {
        Sharing { ahead, tag }
    }

    fn copy(&self, key: &Key) -> Option<Vec<u8>> {
        let mut held = self.ahead.lock();
        loop {
            if let Some(kept) = held.blocks.get(key) {
                return Some(kept.data.clone());
            }
            if !held.flying.contains_key(key) {
                return None;
            }
            held = self.ahead.wait(held);
        }
    }
}

impl<S: BlockStore + ?Sized> BlockStore for Sharing<'_, '_, S> {
    fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        self.read_many(&[(*score, ty)])
            .pop()
            .expect("one block asked")
    }

    fn read_many(&self, blocks: &[Key]) -> Vec<Result<Vec<u8>>> {
        let wants: Vec<Want> = blocks
            .iter()
            .map(|&key| Want {
                key,
                most: colony_venti::MAX_BLOCK,
                tag: self.tag.clone(),
            })
            .collect();
        self.ahead.fetch(&wants, Room::Wait);
        // What did not land (failed, passed, or stopped) is read from the
        // store for its result.
        blocks
            .iter()
            .map(|key| match self.copy(key) {
                Some(data) => Ok(data),
                None => self.ahead.store.read(&key.0, key.1),
            })
            .collect()
    }

    fn write(&self, ty: BlockType, data: &[u8]) -> Result<Score> {
        self.ahead.store.write(ty, data)
    }

    fn has(&self, score: &Score, ty: BlockType) -> Result<bool> {
        self.ahead.has(score, ty)
    }

    fn sync(&self) -> Result<()> {
        self.ahead.store.sync()
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
        fn read_many(&self, blocks: &[Key]) -> Vec<Result<Vec<u8>>> {
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

    fn want(key: Key, tag: &[u32]) -> Want {
        Want {
            key,
            most: 1 << 10,
            tag: tag.to_vec(),
        }
    }

    #[test]
    fn fetched_blocks_are_served_once_without_the_store() {
        let store = Counting(MemStore::new(), AtomicUsize::new(0));
        let a = store.write(BlockType::DATA, b"a").unwrap();
        let b = store.write(BlockType::DATA, b"b").unwrap();
        let absent = Score::of(b"absent");
        let ahead = ReadAhead::new(&store, 1 << 20);
        let wants = [
            want((a, BlockType::DATA), &[0]),
            want((b, BlockType::DATA), &[1]),
            want((a, BlockType::DATA), &[2]),
            want((absent, BlockType::DATA), &[3]),
        ];
        ahead.fetch(&wants, Room::Wait);
        assert_eq!(store.1.load(Ordering::Relaxed), 1, "one batch");
        assert_eq!(ahead.read(&a, BlockType::DATA).unwrap(), b"a");
        let got = ahead.read_many(&[(b, BlockType::DATA), (a, BlockType::DATA)]);
        assert_eq!(got[0].as_ref().unwrap(), b"b");
        assert_eq!(got[1].as_ref().unwrap(), b"a", "wanted twice: held twice");
        assert_eq!(store.1.load(Ordering::Relaxed), 1);
        assert_eq!(
            ahead.read(&a, BlockType::DATA).unwrap(),
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

    /// `n` distinct blocks of `size` bytes.
    fn blocks(store: &MemStore, n: u32, size: usize) -> Vec<Key> {
        (0..n)
            .map(|i| {
                let mut b = vec![1u8; size];
                b[..4].copy_from_slice(&i.to_be_bytes());
                (store.write(BlockType::DATA, &b).unwrap(), BlockType::DATA)
            })
            .collect()
    }

    #[test]
    fn waits_for_room_under_the_cap_and_lets_go_of_what_the_walk_passed() {
        const SIZE: usize = 32 << 10;
        const CAP: usize = 8 * SIZE;
        let store = MemStore::new();
        let keys = blocks(&store, 20, SIZE);
        let ahead = ReadAhead::new(&store, CAP);
        let wants: Vec<Want> = keys
            .iter()
            .enumerate()
            .map(|(i, &key)| Want {
                key,
                most: SIZE,
                tag: vec![i as u32],
            })
            .collect();
        std::thread::scope(|s| {
            let fetcher = s.spawn(|| ahead.fetch(&wants, Room::Wait));
            // The walk reads the blocks in order; the fetcher stays under
            // the cap, fetching each as room is made.
            for (i, key) in keys.iter().enumerate().take(12) {
                ahead.advance(&[i as u32]);
                assert_eq!(ahead.read(&key.0, key.1).unwrap().len(), SIZE);
            }
            // Skipping on past the rest lets them go.
            ahead.advance(&[100]);
            fetcher.join().unwrap();
        });
        assert!(ahead.peak() <= CAP, "peak {} over {CAP}", ahead.peak());
        assert_eq!(ahead.lock().bytes, 0, "passed blocks are let go");
        ahead.fetch(&wants[..1], Room::Wait);
        assert_eq!(ahead.lock().bytes, 0, "nothing fetched for a passed place");
    }

    #[test]
    fn stop_ends_a_fetch_waiting_for_room() {
        let store = MemStore::new();
        let keys = blocks(&store, 4, 1 << 10);
        let ahead = ReadAhead::new(&store, 1 << 10);
        let wants: Vec<Want> = keys.iter().map(|&k| want(k, &[0])).collect();
        std::thread::scope(|s| {
            let fetcher = s.spawn(|| ahead.fetch(&wants, Room::Wait));
            ahead.stop();
            fetcher.join().unwrap();
        });
        assert!(ahead.peak() <= 1 << 10);
        ahead.fetch(&wants, Room::Now);
        assert_eq!(ahead.lock().blocks.len(), 4, "Room::Now ignores the cap");
    }
}
