//! The log as a replication cursor: the clumps appended after a position,
//! in the order they were appended, up to the durable end.
//!
//! A position ([`LogPos`]) is `arena << 32 | offset`: arenas are at most
//! 4 GiB, so positions grow with the log and compare as integers. Only the
//! synced part of the log is given out: a crash can lose or rewrite what
//! came after the last sync, and a peer that had been told about it would
//! skip what the log holds there after recovery.

use crate::block_type::BlockType;
use crate::error::Result;
use crate::score::Score;

use super::ArenaStore;
use super::bucket::Watermark;
use super::format::HEAD_SIZE;

/// A position in a store's log: `arena << 32 | offset`. 0 is the start.
pub type LogPos = u64;

/// One clump of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The block's score.
    pub score: Score,
    /// The block's type.
    pub ty: BlockType,
    /// The block's length (uncompressed).
    pub size: u16,
}

/// What [`ArenaStore::log_since`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSlice {
    /// The clumps after the asked position, in log order.
    pub entries: Vec<LogEntry>,
    /// Where the next slice starts: just after the last entry, or the
    /// durable end when the slice reached it.
    pub next: LogPos,
    /// The durable end of the log when the slice was taken.
    pub end: LogPos,
}

fn pos(w: Watermark) -> LogPos {
    (u64::from(w.arena) << 32) | w.offset
}

impl ArenaStore {
    /// The end of the log as of the last sync: everything before it is
    /// durable and indexed.
    pub fn synced_end(&self) -> LogPos {
        pos(self.index().header().watermark)
    }

    /// Up to `max` clumps appended after `after`, up to the durable end,
    /// without their data. A position past the end (the log of another
    /// store) gives no entries and `next == after`; the caller compares it
    /// with `end`.
    pub fn log_since(&self, after: LogPos, max: usize) -> Result<LogSlice> {
        let end = self.index().header().watermark;
        let mut slice = LogSlice {
            entries: Vec::new(),
            next: after,
            end: pos(end),
        };
        let (mut number, mut offset) = ((after >> 32) as u32, after & u64::from(u32::MAX));
        while slice.entries.len() < max && (number, offset) < (end.arena, end.offset) {
            let Some(arena) = self.arena(number) else {
                break;
            };
            let stop = if number == end.arena {
                end.offset
            } else {
                arena.data_end()
            };
            let entries = &mut slice.entries;
            let reached = arena.headers(offset.max(HEAD_SIZE), stop, &mut |_, h| {
                if entries.len() >= max {
                    return false;
                }
                entries.push(LogEntry {
                    score: h.score,
                    ty: h.ty,
                    size: h.uncsize,
                });
                true
            })?;
            slice.next = (u64::from(number) << 32) | reached;
            if entries.len() >= max || number == end.arena {
                break;
            }
            // A sealed arena ends at its last clump: on to the next one.
            number += 1;
            offset = HEAD_SIZE;
            slice.next = u64::from(number) << 32;
        }
        Ok(slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::Config;
    use crate::store::BlockStore;

    fn small() -> Config {
        Config {
            arena_size: 256 << 10,
            write_buffer: 0,
            ..Config::default()
        }
    }

    /// An incompressible block of about 7 KB.
    fn block(i: u32) -> Vec<u8> {
        let mut b = Vec::new();
        let mut s = Score::of(&i.to_be_bytes());
        while b.len() < 7000 + (i as usize % 50) {
            b.extend_from_slice(&s.0);
            s = Score::of(&s.0);
        }
        b
    }

    /// Every entry after `from`, in slices of `max`.
    fn all_since(store: &ArenaStore, mut from: LogPos, max: usize) -> (Vec<Score>, LogPos) {
        let mut scores = Vec::new();
        loop {
            let slice = store.log_since(from, max).unwrap();
            assert!(slice.entries.len() <= max);
            if slice.entries.is_empty() {
                return (scores, slice.next);
            }
            scores.extend(slice.entries.iter().map(|e| e.score));
            from = slice.next;
        }
    }

    #[test]
    fn the_log_in_order_across_arenas_only_once_synced() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArenaStore::open(dir.path(), small()).unwrap();
        assert_eq!(store.log_since(0, 10).unwrap().entries, vec![]);
        let first: Vec<Score> = (0..100)
            .map(|i| store.write(BlockType::DATA, &block(i)).unwrap())
            .collect();
        // Not synced: not given out.
        assert_eq!(store.log_since(0, 1000).unwrap().entries, vec![]);
        store.sync().unwrap();
        let (got, end) = all_since(&store, 0, 7);
        assert_eq!(got, first, "every block once, in write order, over arenas");
        assert_eq!(end, store.synced_end());
        assert!(end >> 32 >= 2, "the blocks span several arenas");
        // Writing a block again appends nothing.
        store.write(BlockType::DATA, &block(3)).unwrap();
        let more: Vec<Score> = (100..110)
            .map(|i| store.write(BlockType::DATA, &block(i)).unwrap())
            .collect();
        store.sync().unwrap();
        let (got, _) = all_since(&store, end, 3);
        assert_eq!(got, more);
        let e = store.log_since(end, 1).unwrap().entries[0];
        assert_eq!(
            (e.ty, usize::from(e.size)),
            (BlockType::DATA, block(100).len())
        );
        // Reopened, the log and its positions are the same.
        let end = store.synced_end();
        drop(store);
        let store = ArenaStore::open(dir.path(), small()).unwrap();
        assert_eq!(store.synced_end(), end);
        let (got, _) = all_since(&store, 0, 1000);
        assert_eq!(got.len(), 110);
        // A position past the end gives nothing.
        let past = store.log_since(end + (1 << 32), 10).unwrap();
        assert!(past.entries.is_empty() && past.next > past.end);
    }
}
