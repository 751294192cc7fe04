//! `stats`: what the store holds and what its index costs.

use super::ArenaStore;
use super::bucket::{BUCKET_SLOTS, IndexEntry};

/// A summary of an [`ArenaStore`].
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Clumps in the log (blocks stored).
    pub blocks: u64,
    /// Data bytes stored in clumps (after compression, without headers).
    pub stored_bytes: u64,
    /// The same blocks' uncompressed size.
    pub uncompressed_bytes: u64,
    /// Log bytes used, headers included.
    pub log_bytes: u64,
    /// Arena files.
    pub arenas: usize,
    /// Sealed arenas with a valid trailer.
    pub sealed: usize,
    /// Index buckets.
    pub index_buckets: u64,
    /// Entries in the index file.
    pub index_entries: u64,
    /// Entries in the index file per slot (0..=1).
    pub index_load: f64,
    /// Entries waiting in memory for the next index flush.
    pub pending_entries: usize,
    /// Bytes of the bloom filter.
    pub bloom_bytes: usize,
    /// Estimated bytes of the pending-entry table.
    pub pending_bytes: usize,
}

impl ArenaStore {
    /// Counts from the trailers of sealed arenas, the active arena and the
    /// index.
    pub fn stats(&self) -> Stats {
        let w = self.writer();
        let mut s = Stats {
            blocks: 0,
            stored_bytes: 0,
            uncompressed_bytes: 0,
            log_bytes: 0,
            arenas: self.arenas.read().unwrap_or_else(|e| e.into_inner()).len(),
            sealed: w.sealed.len(),
            index_buckets: 0,
            index_entries: 0,
            index_load: 0.0,
            pending_entries: 0,
            bloom_bytes: 0,
            pending_bytes: 0,
        };
        for t in &w.sealed {
            s.blocks += u64::from(t.clumps);
            s.stored_bytes += t.stored;
            s.uncompressed_bytes += t.uncompressed;
            s.log_bytes += t.used - super::HEAD_SIZE;
        }
        if let Some(a) = &w.active {
            s.blocks += u64::from(a.totals.clumps);
            s.stored_bytes += a.totals.stored;
            s.uncompressed_bytes += a.totals.uncompressed;
            s.log_bytes += a.tail - super::HEAD_SIZE;
        }
        drop(w);
        let index = self.index();
        s.index_buckets = 1 << index.header().bits;
        s.index_entries = index.header().entries;
        s.index_load = s.index_entries as f64 / (s.index_buckets as f64 * BUCKET_SLOTS as f64);
        s.bloom_bytes = index.bloom_bytes();
        drop(index);
        let pending = self.pending();
        s.pending_entries = pending.len();
        // Key, entry, and one control byte per slot of the hash table.
        s.pending_bytes =
            pending.capacity() * (std::mem::size_of::<(super::Key, IndexEntry)>() + 1);
        s
    }
}
