//! `ArenaStore`: the on-disk block store. Blocks are appended as clumps to
//! fixed-size arena files (the log, which is the truth) and found through
//! an on-disk hash index with an in-memory bloom filter. The format is
//! documented in [`format`](mod@format).
//!
//! Durability: a write is durable once [`BlockStore::sync`] returns (as in
//! venti); before that it is readable in this process but a crash may lose
//! it. Complete clumps that reached the disk survive a crash even without
//! `sync`: reopening re-indexes them from the log. Each arena's space is
//! reserved (`fallocate`) when it is created, so a full disk fails the
//! write that needed a new arena and nothing already written. Reserving is
//! slow where it zeroes (tmpfs), so the next arena is made on a background
//! thread once the active one is half full ([`next`](mod@next)). An I/O
//! error from `write` may leave the block stored; writing it again is
//! harmless.
//!
//! Concurrency: reads take no exclusive lock (shared locks only, `pread`
//! for I/O, hashing outside any lock). Writes hash, compress and checksum
//! outside the writer lock; under it they copy the clump into the active
//! arena's open batch and note the entry in memory. A full batch
//! ([`Config::write_buffer`] bytes) goes to the file in one `pwrite` by the
//! writer that filled it, after it releases the lock, so two writers copy
//! into the page cache at once (see [`tail`](mod@tail)). Index
//! pages are written in batches by `sync` (or when
//! [`Config::flush_entries`] entries are pending), which briefly excludes
//! readers of the index; writers wait for a sync only while it writes out
//! the open batch, not through its fdatasync.

pub mod bloom;
pub mod bucket;
mod check;
pub mod clump;
pub mod crash_disk;
pub mod damage;
pub mod disk;
pub mod faulty_disk;
pub mod file;
pub mod format;
pub mod head;
pub mod index;
pub mod log;
pub mod mem_disk;
pub mod next;
mod recover;
pub mod saved_bloom;
pub mod scan;
mod stats;
pub mod sync_ahead;
pub mod tail;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use crate::block_type::BlockType;
use crate::error::{Error, Result};
use crate::score::Score;
use crate::store::{BlockStore, MAX_BLOCK, check_block_size};

pub use check::{CheckReport, Problem, Progress};
pub use log::{LogEntry, LogPos, LogSlice};
pub use stats::Stats;

use bucket::{IndexEntry, Watermark};
use clump::{ClumpCheck, ClumpHeader, Packed};
use damage::IndexProblem;
use disk::{Disk, FileDisk};
use file::ArenaFile;
use format::{HEAD_SIZE, TRAILER_SIZE};
use head::ArenaTrailer;
use index::DiskIndex;
use next::NextArena;
use sync_ahead::SyncAhead;
use tail::Batch;

/// Smallest data area an arena may have: room for one largest clump.
pub(crate) const MIN_DATA: u64 = (ClumpHeader::SIZE + MAX_BLOCK) as u64;

/// Log appended after which `sync` saves the bloom filter: bounds what an
/// open must rescan past the saved filter.
const SAVE_BLOOM_AFTER: u64 = 64 << 20;

/// Largest initial index (2^24 buckets, 64 GiB); it grows past this itself.
const MAX_INDEX_BITS: u32 = 24;

/// Settings for [`ArenaStore::open`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Size of each new arena file in bytes (existing arenas keep theirs).
    /// At least 512 + 64 + 40 + 57344; at most 4 GiB (offsets are 32-bit).
    pub arena_size: u64,
    /// A new index starts with `2^index_bits` buckets of 4 KiB (at most
    /// 2^24); it doubles as it fills.
    pub index_bits: u32,
    /// Index entries held in memory before they are written to the index
    /// file even without a `sync`.
    pub flush_entries: usize,
    /// Bytes of clumps collected in memory before one `pwrite` puts them
    /// in the arena file (0 writes each clump at once). Buffered clumps are
    /// readable; like everything before `sync`, a crash may lose them.
    pub write_buffer: usize,
    /// Bytes written to the active arena after which a background thread
    /// syncs it, so that a `sync` waits only for what came after (0: never;
    /// see [`sync_ahead`]).
    pub sync_ahead: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            arena_size: 512 << 20,
            index_bits: 10,
            flush_entries: 1 << 18,
            write_buffer: 128 << 10,
            sync_ahead: 4 << 20,
        }
    }
}

/// A [`Config`] setting out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// `arena_size` below one largest clump plus head and trailer, or
    /// past 4 GiB.
    #[error("arena size {size} outside {min}..=4294967295")]
    ArenaSize {
        /// The size asked for.
        size: u64,
        /// The smallest allowed.
        min: u64,
    },
    /// `index_bits` above the largest initial index.
    #[error("index_bits {0} above {MAX_INDEX_BITS}")]
    IndexBits(u32),
    /// `flush_entries` is 0.
    #[error("flush_entries is 0")]
    FlushEntries,
}

impl Config {
    fn validate(&self, dir: &Path) -> Result<()> {
        let min = HEAD_SIZE + TRAILER_SIZE + MIN_DATA;
        let problem = if self.arena_size < min || self.arena_size > u64::from(u32::MAX) {
            ConfigProblem::ArenaSize {
                size: self.arena_size,
                min,
            }
        } else if self.index_bits > MAX_INDEX_BITS {
            ConfigProblem::IndexBits(self.index_bits)
        } else if self.flush_entries == 0 {
            ConfigProblem::FlushEntries
        } else {
            return Ok(());
        };
        Err(Error::BadConfig {
            dir: dir.to_path_buf(),
            problem,
        })
    }
}

/// The arena being appended to.
struct Active {
    arena: Arc<ArenaFile>,
    /// End of the log.
    tail: u64,
    /// CRC32C of bytes `0..tail`, kept up to date for the seal.
    crc: u32,
    totals: Totals,
}

/// Clump counts of an arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    clumps: u32,
    uncompressed: u64,
    stored: u64,
}

impl Totals {
    fn add(&mut self, h: &ClumpHeader) {
        self.clumps += 1;
        self.uncompressed += u64::from(h.uncsize);
        self.stored += u64::from(h.size);
    }
}

/// State only writers touch, under one mutex.
struct Writer {
    active: Option<Active>,
    /// Trailers of the sealed arenas that have valid ones.
    sealed: Vec<ArenaTrailer>,
    /// End of the log: every clump before it is in the index or `pending`.
    pos: Watermark,
    /// Log bytes appended since the bloom filter was last saved.
    unsaved: u64,
}

type Key = (Score, BlockType);

/// What a read checks of the clump beyond its header.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadCheck {
    /// The block's SHA-1 is its score.
    Score,
    /// The stored bytes' CRC32C is the header's (the caller hashes).
    Checksum,
}

thread_local! {
    /// Each thread's buffer for reading clumps.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A [`BlockStore`] on disk: arena files plus an index (see the module
/// docs).
///
/// ```
/// use colony_venti::{ArenaStore, ArenaConfig, BlockStore, BlockType};
/// let dir = tempfile::tempdir().unwrap();
/// let store = ArenaStore::open(dir.path(), ArenaConfig::default()).unwrap();
/// let score = store.write(BlockType::DATA, b"hello").unwrap();
/// store.sync().unwrap();
/// assert_eq!(store.read(&score, BlockType::DATA).unwrap(), b"hello");
/// ```
pub struct ArenaStore {
    /// The arena after the active one, made ahead of need (dropped, and
    /// removed if unused, before the disk, and so its lock, is released).
    next: NextArena,
    /// Syncs the active arena behind the writers.
    sync_ahead: SyncAhead,
    /// Where the files are (released after `drop`'s final flush).
    disk: Arc<dyn Disk>,
    config: Config,
    writer: Mutex<Writer>,
    /// Held by the one flush at a time (see [`ArenaStore::flush`]).
    flushing: Mutex<()>,
    arenas: RwLock<Vec<Arc<ArenaFile>>>,
    /// Entries appended since the last index flush.
    pending: RwLock<HashMap<Key, IndexEntry>>,
    index: RwLock<DiskIndex>,
}

impl ArenaStore {
    /// Opens the store in `dir`, creating it if needed. Recovers from a
    /// crash: cuts a torn tail, indexes clumps past the index's watermark,
    /// and rebuilds a missing or damaged index from the arenas.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<ArenaStore> {
        let dir = dir.as_ref();
        config.validate(dir)?;
        let store = recover::open(Arc::new(FileDisk::open(dir)?), config)?;
        crate::mark_data_dir(dir)?;
        Ok(store)
    }

    /// Opens the store on any [`Disk`] (memory, injected faults, a crash
    /// image), recovering as [`ArenaStore::open`] does.
    pub fn open_on(disk: Arc<dyn Disk>, config: Config) -> Result<ArenaStore> {
        config.validate(disk.path())?;
        recover::open(disk, config)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.disk.path()
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn index(&self) -> RwLockReadGuard<'_, DiskIndex> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn index_mut(&self) -> RwLockWriteGuard<'_, DiskIndex> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> RwLockReadGuard<'_, HashMap<Key, IndexEntry>> {
        self.pending.read().unwrap_or_else(|e| e.into_inner())
    }

    fn pending_mut(&self) -> RwLockWriteGuard<'_, HashMap<Key, IndexEntry>> {
        self.pending.write().unwrap_or_else(|e| e.into_inner())
    }

    fn arena(&self, number: u32) -> Option<Arc<ArenaFile>> {
        let arenas = self.arenas.read().unwrap_or_else(|e| e.into_inner());
        arenas.get(number as usize).cloned()
    }

    /// Where (score, type) is stored. Pending entries are checked before
    /// the index: a flush writes the index before it empties `pending`.
    fn lookup(&self, score: &Score, ty: BlockType) -> Result<Option<IndexEntry>> {
        if let Some(e) = self.pending().get(&(*score, ty)) {
            return Ok(Some(*e));
        }
        self.index().lookup(score, ty)
    }

    /// Reads the clump an entry names and checks it as `check` says.
    fn read_entry(&self, e: &IndexEntry, check: ReadCheck) -> Result<Vec<u8>> {
        let arena = self.arena(e.arena).ok_or_else(|| Error::IndexCorrupt {
            path: self.index().path().to_path_buf(),
            problem: IndexProblem::MissingArena {
                score: e.score,
                arena: e.arena,
            },
        })?;
        let corrupt = |check| Error::Corrupt {
            score: e.score,
            arena: arena.path.clone(),
            offset: u64::from(e.offset),
            check,
        };
        SCRATCH.with_borrow_mut(|buf| {
            // A buffer per thread, so a read costs one copy out of it and
            // no zeroing of a fresh one.
            buf.resize(ClumpHeader::SIZE + usize::from(e.size), 0);
            match arena.read_clump(buf, u64::from(e.offset)) {
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Err(corrupt(ClumpCheck::CutShort));
                }
                r => r?,
            }
            let h = ClumpHeader::decode(buf).map_err(corrupt)?;
            if h.score != e.score || h.ty != e.ty || h.size != e.size {
                return Err(corrupt(ClumpCheck::NotAsIndexed));
            }
            let stored = &buf[ClumpHeader::SIZE..];
            if check == ReadCheck::Checksum && crc32c::crc32c(stored) != h.data_crc {
                return Err(corrupt(ClumpCheck::DataChecksum));
            }
            let block = h.unpack(stored).map_err(corrupt)?;
            if check == ReadCheck::Score && Score::of(&block) != e.score {
                return Err(corrupt(ClumpCheck::Sha1));
            }
            Ok(block)
        })
    }

    fn read_checked(&self, score: &Score, ty: BlockType, check: ReadCheck) -> Result<Vec<u8>> {
        if score.is_special() {
            return Ok(Vec::new());
        }
        match self.lookup(score, ty)? {
            Some(e) => self.read_entry(&e, check),
            None => Err(Error::NotFound { score: *score, ty }),
        }
    }

    /// Appends a packed clump under the writer lock. Returns a full batch
    /// for the caller to write once it has released the lock.
    fn append(
        &self,
        w: &mut Writer,
        clump: &Packed<'_>,
    ) -> Result<Option<(Arc<ArenaFile>, Arc<Batch>)>> {
        let len = clump.log_len();
        if w.active
            .as_ref()
            .is_some_and(|a| a.tail + len > a.arena.data_end())
        {
            self.seal(w)?;
        }
        let active = match &mut w.active {
            Some(a) => a,
            None => w.active.insert(self.new_arena()?),
        };
        let offset = active.tail;
        let parts = clump.parts();
        let full = active.arena.push(&parts, offset, self.config.write_buffer);
        active.tail += len;
        let data = active.arena.data_end() - HEAD_SIZE;
        if active.tail - HEAD_SIZE >= data / 2 {
            self.next
                .start(active.arena.head.number + 1, self.config.arena_size);
        }
        active.crc = parts
            .iter()
            .fold(active.crc, |crc, p| crc32c::crc32c_append(crc, p));
        let header = &clump.header;
        active.totals.add(header);
        w.unsaved += len;
        let entry = IndexEntry {
            score: header.score,
            ty: header.ty,
            size: header.size,
            arena: active.arena.head.number,
            offset: offset as u32,
        };
        w.pos = Watermark {
            arena: entry.arena,
            offset: active.tail,
        };
        self.index().note(&entry.score);
        self.pending_mut().insert((entry.score, entry.ty), entry);
        Ok(full.map(|batch| (active.arena.clone(), batch)))
    }

    /// Seals the active arena: trailer with the whole-arena checksum, sync.
    fn seal(&self, w: &mut Writer) -> Result<()> {
        let Some(a) = w.active.take() else {
            return Ok(());
        };
        let trailer = ArenaTrailer {
            number: a.arena.head.number,
            clumps: a.totals.clumps,
            used: a.tail,
            uncompressed: a.totals.uncompressed,
            stored: a.totals.stored,
            arena_crc: a.crc,
        };
        // The data is synced before the trailer is written: a disk that
        // reorders writes could otherwise keep the trailer and lose clumps
        // it covers, which would read as a damaged sealed arena.
        let sealed = a
            .arena
            .write_tail()
            .and_then(|()| a.arena.sync())
            .and_then(|()| a.arena.seal(&trailer));
        if let Err(e) = sealed {
            w.active = Some(a);
            return Err(e);
        }
        w.sealed.push(trailer);
        Ok(())
    }

    /// Creates the next arena. Only the writer adds arenas, so the number
    /// cannot change while the file is made outside the arenas lock.
    fn new_arena(&self) -> Result<Active> {
        let number = self.arenas.read().unwrap_or_else(|e| e.into_inner()).len() as u32;
        let arena = Arc::new(self.next.take(number, self.config.arena_size)?);
        self.arenas
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(arena.clone());
        Ok(Active {
            crc: arena.crc_range(0, 0, HEAD_SIZE, &mut |_| {})?,
            arena,
            tail: HEAD_SIZE,
            totals: Totals::default(),
        })
    }

    fn flushing(&self) -> MutexGuard<'_, ()> {
        self.flushing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the log durable up to its end as of the call, then writes the
    /// entries before that end to the index and advances its watermark;
    /// saves the bloom filter too if `bloom_after` bytes of log were
    /// appended since it last was. `_one` is the flushing lock: flushes go
    /// one at a time, in log order. Writers wait only while the open batch
    /// goes to the file: the fdatasync, which can take long on a busy disk,
    /// runs beside them (readers of the index wait while its pages are
    /// written).
    fn flush(&self, _one: MutexGuard<'_, ()>, bloom_after: u64) -> Result<()> {
        let (pos, active, entries, bloom) = {
            let w = self.writer();
            let active = w.active.as_ref().map(|a| a.arena.clone());
            if let Some(a) = &active {
                a.write_tail()?;
            }
            let entries: Vec<IndexEntry> = self.pending().values().copied().collect();
            let bloom = (w.unsaved >= bloom_after).then(|| (bloom_state(&w), w.unsaved));
            (w.pos, active, entries, bloom)
        };
        // Arenas sealed since the last flush were synced by their seal.
        if let Some(a) = &active {
            a.sync()?;
        }
        {
            let mut index = self.index_mut();
            if !entries.is_empty() || index.header().watermark != pos {
                index.insert_batch(&entries)?;
                index.commit(pos)?;
            }
        }
        self.forget_pending(&entries);
        if let Some((state, unsaved)) = bloom {
            // The filter holds every score before `state.watermark` (and
            // some after it, which costs only a false positive).
            let saved = saved_bloom::save(&*self.disk, &state, self.index().bloom());
            match saved {
                Ok(()) => {
                    let mut w = self.writer();
                    w.unsaved = w.unsaved.saturating_sub(unsaved);
                }
                Err(e) => tracing::warn!(error = %e, "saving the bloom filter failed"),
            }
        }
        Ok(())
    }

    /// Drops entries now in the index from `pending`; entries appended
    /// during the flush stay.
    fn forget_pending(&self, flushed: &[IndexEntry]) {
        let mut pending = self.pending_mut();
        if pending.len() == flushed.len() {
            // Give the table's memory back too, not just its entries.
            *pending = HashMap::default();
        } else {
            for e in flushed {
                pending.remove(&(e.score, e.ty));
            }
        }
    }
}

/// The bloom filter's state as of the log's end: the active arena's
/// running CRC and totals there.
fn bloom_state(w: &Writer) -> saved_bloom::BloomState {
    saved_bloom::BloomState {
        watermark: w.pos,
        active: w
            .active
            .as_ref()
            .filter(|a| a.arena.head.number == w.pos.arena)
            .map(|a| (a.crc, a.totals)),
    }
}

impl BlockStore for ArenaStore {
    fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        self.read_checked(score, ty, ReadCheck::Score)
    }

    /// Checks the stored bytes' CRC32C instead of hashing the block: a
    /// damaged disk is still caught.
    ///
    /// ```
    /// use colony_venti::{ArenaStore, ArenaConfig, BlockStore, BlockType};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = ArenaStore::open(dir.path(), ArenaConfig::default()).unwrap();
    /// let score = store.write(BlockType::DATA, b"hello").unwrap();
    /// assert_eq!(store.read_unhashed(&score, BlockType::DATA).unwrap(), b"hello");
    /// ```
    fn read_unhashed(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        self.read_checked(score, ty, ReadCheck::Checksum)
    }

    fn write(&self, ty: BlockType, data: &[u8]) -> Result<Score> {
        check_block_size(data)?;
        if data.is_empty() {
            return Ok(Score::EMPTY);
        }
        let score = Score::of(data);
        if self.lookup(&score, ty)?.is_some() {
            return Ok(score);
        }
        let clump = clump::pack(ty, score, data);
        let mut w = self.writer();
        // Another writer may have stored it since the lookup above.
        if self.lookup(&score, ty)?.is_some() {
            return Ok(score);
        }
        let full = self.append(&mut w, &clump)?;
        drop(w);
        if let Some((arena, batch)) = full {
            // The clumps stay readable if this fails; sync writes them again.
            arena.write_batch(batch)?;
            if self.config.sync_ahead > 0 && arena.unsynced() >= self.config.sync_ahead {
                self.sync_ahead.request(&arena);
            }
        }
        // After the batch is written: a flush waits for every batch. A
        // writer that finds a flush running goes on.
        if self.pending().len() >= self.config.flush_entries
            && let Some(one) = match self.flushing.try_lock() {
                Ok(one) => Some(one),
                Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            }
        {
            // The block is stored and readable; a failed flush is
            // retried, and reported, by the next sync.
            let _ = self.flush(one, u64::MAX);
        }
        Ok(score)
    }

    fn has(&self, score: &Score, ty: BlockType) -> Result<bool> {
        Ok(score.is_special() || self.lookup(score, ty)?.is_some())
    }

    fn sync(&self) -> Result<()> {
        self.flush(self.flushing(), SAVE_BLOOM_AFTER)
    }
}

impl Drop for ArenaStore {
    fn drop(&mut self) {
        // Best effort; anything not flushed is re-indexed on the next open.
        let _ = self.flush(self.flushing(), 1);
    }
}
