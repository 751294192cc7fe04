//! One arena file: positioned I/O, creation and sealing, and the unwritten
//! tail of the active arena.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};

use super::damage::ArenaProblem;
use super::disk::{Disk, Storage, path_of, sync_names};
use super::format::{HEAD_SIZE, TRAILER_SIZE, io_error, io_error_at};
use super::head::{ArenaHead, ArenaTrailer};
use super::tail::{Batch, Tail};

/// An open arena file.
#[derive(Debug)]
pub struct ArenaFile {
    /// The arena's head.
    pub head: ArenaHead,
    /// The file's path (named in errors).
    pub path: PathBuf,
    file: Arc<dyn Storage>,
    /// Clumps appended but not yet written to the file; readers find them
    /// there until they are.
    tail: Tail,
    /// Bytes written since the last sync began.
    unsynced: AtomicU64,
    /// Held through each sync, so a failure of a sync made behind the
    /// writers is kept before the next sync looks for it.
    syncing: Mutex<Option<io::Error>>,
}

/// What a prepared arena's file name ends with until it is installed.
pub const NEW_SUFFIX: &str = ".new";

/// The file name of arena `number`.
pub fn arena_name(number: u32) -> String {
    format!("arena.{number:08}")
}

impl ArenaFile {
    /// Creates arena `number` of `size` bytes on `disk`: writes and syncs
    /// the head, then syncs the names so the file survives a crash.
    pub fn create(disk: &dyn Disk, number: u32, size: u64) -> Result<ArenaFile> {
        ArenaFile::prepare(disk, number, size)?.install(disk)
    }

    /// Makes arena `number` under a name recovery ignores (and removes),
    /// `arena.NNNNNNNN.new`: head written, space reserved, synced. Slow on
    /// file systems that zero reserved space (tmpfs), so the store does it
    /// ahead of need; [`ArenaFile::install`] then gives it its name.
    pub fn prepare(disk: &dyn Disk, number: u32, size: u64) -> Result<ArenaFile> {
        let name = format!("{}{NEW_SUFFIX}", arena_name(number));
        let path = path_of(disk, &name);
        let file = disk
            .create_new(&name)
            .map_err(|e| io_error("create", &path, e))?;
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let head = ArenaHead {
            number,
            size,
            created,
        };
        let mut page = vec![0u8; HEAD_SIZE as usize];
        page[..ArenaHead::SIZE].copy_from_slice(&head.encode());
        let arena = ArenaFile::new(head, path, file);
        let written = arena
            .write_at(&page, 0)
            .and_then(|()| arena.reserve())
            .and_then(|()| arena.sync());
        if let Err(e) = written {
            arena.discard(disk);
            return Err(e);
        }
        Ok(arena)
    }

    /// The file's name on its disk.
    fn name(&self) -> String {
        let name = self.path.file_name().unwrap_or_default();
        name.to_string_lossy().into_owned()
    }

    /// Renames a prepared arena to its own name and syncs the directory,
    /// so the arena survives a crash.
    pub fn install(mut self, disk: &dyn Disk) -> Result<ArenaFile> {
        let name = arena_name(self.head.number);
        let path = path_of(disk, &name);
        if let Err(e) = disk.rename(&self.name(), &name) {
            self.discard(disk);
            return Err(io_error("rename", &path, e));
        }
        self.path = path;
        sync_names(disk)?;
        Ok(self)
    }

    /// Removes a prepared arena that will not be installed (a half-made or
    /// unneeded arena would only confuse recovery and hold space).
    pub fn discard(&self, disk: &dyn Disk) {
        let _ = disk.remove(&self.name());
    }

    /// Opens arena `number` and validates its head.
    pub fn open(disk: &dyn Disk, number: u32) -> Result<ArenaFile> {
        let name = arena_name(number);
        let path = path_of(disk, &name);
        let file = super::disk::open(disk, &name)?;
        let bad = |problem| Error::BadArena {
            path: path.clone(),
            problem,
        };
        let mut b = [0u8; ArenaHead::SIZE];
        file.read_at(&mut b, 0)
            .map_err(|_| bad(ArenaProblem::ShortHead))?;
        let head = ArenaHead::decode(&b).map_err(|check| bad(ArenaProblem::Head(check)))?;
        if head.number != number {
            return Err(bad(ArenaProblem::Number { found: head.number }));
        }
        if head.size < HEAD_SIZE + TRAILER_SIZE + super::MIN_DATA {
            return Err(bad(ArenaProblem::TooSmall(head.size)));
        }
        Ok(ArenaFile::new(head, path, file))
    }

    fn new(head: ArenaHead, path: PathBuf, file: Arc<dyn Storage>) -> ArenaFile {
        ArenaFile {
            head,
            path,
            file,
            tail: Tail::default(),
            unsynced: AtomicU64::new(0),
            syncing: Mutex::new(None),
        }
    }

    /// Reserves the disk space of the whole arena without changing the
    /// file's length, so appends inside it cannot meet a full disk: a full
    /// disk shows when an arena is created, failing that write alone. File
    /// systems without `fallocate` get no reservation.
    pub fn reserve(&self) -> Result<()> {
        self.file
            .reserve(self.head.size)
            .map_err(|e| io_error("reserve", &self.path, e))
    }

    /// Appends a clump (`parts` in order) at `at`, the end of the log.
    /// Returns a batch of at least `limit` bytes when one is full: the
    /// caller writes it with [`ArenaFile::write_batch`] after releasing the
    /// store's writer lock. Only the store's writer calls this.
    pub fn push(&self, parts: &[&[u8]], at: u64, limit: usize) -> Option<Arc<Batch>> {
        self.tail.push(parts, at, limit)
    }

    /// Writes a batch [`ArenaFile::push`] returned, or leaves it to the
    /// thread already writing this arena's batches (see [`Tail::claim`]);
    /// that thread then also writes the batches queued meanwhile and
    /// reports the first failure. On failure the clumps stay readable and
    /// [`ArenaFile::write_tail`] writes them again.
    pub fn write_batch(&self, batch: Arc<Batch>) -> Result<()> {
        let mut next = self.tail.claim(batch);
        let mut result = Ok(());
        while let Some(batch) = next {
            let r = self.write_at(&batch.bytes, batch.start);
            if r.is_ok() {
                // The next sync then waits for less: a full store writes
                // while it fills rather than all at its sync. Only a hint.
                let len = batch.bytes.len() as u64;
                let _ = self.file.start_writeback(batch.start, len);
                self.unsynced.fetch_add(len, Ordering::Relaxed);
            }
            next = self.tail.landed(batch, r.is_ok());
            result = result.and(r);
        }
        result
    }

    /// Puts every appended clump in the file: waits for batches being
    /// written, then writes the rest. Only the store's writer calls this,
    /// so the tail cannot grow meanwhile. Readers keep reading the batches
    /// while they are written.
    pub fn write_tail(&self) -> Result<()> {
        let mut result = Ok(());
        for batch in self.tail.close_all() {
            let r = self.write_at(&batch.bytes, batch.start);
            self.tail.written(batch, r.is_ok());
            result = result.and(r);
        }
        result
    }

    /// Reads a clump (or its header) at `off`, from the unwritten tail if
    /// it is there, else from the file.
    pub fn read_clump(&self, out: &mut [u8], off: u64) -> Result<()> {
        if self.tail.read(out, off) {
            return Ok(());
        }
        self.read_at(out, off)
    }

    /// Offset of the trailer; clumps must end at or before it.
    pub fn data_end(&self) -> u64 {
        self.head.size - TRAILER_SIZE
    }

    /// The trailer, if the arena is sealed and the trailer is valid.
    pub fn trailer(&self) -> Result<Option<ArenaTrailer>, &'static str> {
        let mut b = [0u8; ArenaTrailer::SIZE];
        if self.file.read_at(&mut b, self.data_end()).is_err() {
            return Ok(None);
        }
        ArenaTrailer::decode(&b).map(Some)
    }

    /// Writes the trailer and syncs: the arena is sealed.
    pub fn seal(&self, trailer: &ArenaTrailer) -> Result<()> {
        let mut page = vec![0u8; TRAILER_SIZE as usize];
        page[..ArenaTrailer::SIZE].copy_from_slice(&trailer.encode());
        self.write_at(&page, self.data_end())?;
        self.sync()
    }

    /// Reads exactly `buf.len()` bytes at `off`.
    pub fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        self.file
            .read_at(buf, off)
            .map_err(|e| io_error_at("read", &self.path, Some(off), e))
    }

    /// Writes all of `buf` at `off`.
    pub fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        self.file
            .write_at(buf, off)
            .map_err(|e| io_error_at("write", &self.path, Some(off), e))
    }

    /// Current file length.
    pub fn file_len(&self) -> Result<u64> {
        self.file.len().map_err(|e| io_error("stat", &self.path, e))
    }

    /// Cuts the file at `len` (a torn tail) and syncs.
    pub fn truncate(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| io_error("truncate", &self.path, e))?;
        self.sync()
    }

    /// `fdatasync`. Fails too if a sync made behind the writers failed
    /// since the last one (see [`super::sync_ahead`]).
    pub fn sync(&self) -> Result<()> {
        let mut syncing = self.syncing();
        self.unsynced.store(0, Ordering::Relaxed);
        let r = self.file.sync_data();
        match syncing.take() {
            Some(behind) => Err(io_error("sync", &self.path, behind)),
            None => r.map_err(|e| io_error("sync", &self.path, e)),
        }
    }

    /// Bytes written to the file by batches since the last sync began.
    pub fn unsynced(&self) -> u64 {
        self.unsynced.load(Ordering::Relaxed)
    }

    /// `fdatasync` made behind the writers: a failure is kept for the
    /// next [`ArenaFile::sync`] to report.
    pub fn sync_behind(&self) {
        let mut syncing = self.syncing();
        self.unsynced.store(0, Ordering::Relaxed);
        if let Err(e) = self.file.sync_data()
            && syncing.is_none()
        {
            *syncing = Some(e);
        }
    }

    fn syncing(&self) -> MutexGuard<'_, Option<io::Error>> {
        self.syncing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `crc` (the CRC32C of bytes `0..from`) extended over bytes
    /// `from..end`, read in large chunks.
    pub fn crc_range(
        &self,
        mut crc: u32,
        from: u64,
        end: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u32> {
        let mut buf = vec![0u8; CHUNK.min(end.saturating_sub(from) as usize)];
        let mut off = from;
        while off < end {
            let n = (end - off).min(CHUNK as u64) as usize;
            self.read_at(&mut buf[..n], off)?;
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            off += n as u64;
            progress(n as u64);
        }
        Ok(crc)
    }
}

/// Bytes read at a time when scanning or checksumming an arena.
pub(super) const CHUNK: usize = 4 << 20;
