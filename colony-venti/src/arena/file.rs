//! One arena file: its head and trailer records, positioned I/O, the
//! append buffer of the active arena, and a sequential scanner over its
//! clumps.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use crate::error::{Error, Result};

use super::clump::ClumpHeader;
use super::format::{
    ARENA_MAGIC, HEAD_SIZE, TRAILER_MAGIC, TRAILER_SIZE, VERSION, be32, be64, io_error,
};

/// The record at the start of every arena (layout in [`super::format`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaHead {
    /// The arena's number.
    pub number: u32,
    /// The arena's fixed size in bytes.
    pub size: u64,
    /// Creation time, seconds since the epoch.
    pub created: u64,
}

impl ArenaHead {
    /// Encoded bytes used (the rest of [`HEAD_SIZE`] is zero).
    pub const SIZE: usize = 32;

    /// The record's bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&ARENA_MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&VERSION.to_be_bytes());
        b[8..12].copy_from_slice(&self.number.to_be_bytes());
        b[12..20].copy_from_slice(&self.size.to_be_bytes());
        b[20..28].copy_from_slice(&self.created.to_be_bytes());
        let crc = crc32c::crc32c(&b[0..28]);
        b[28..32].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decodes and validates the record.
    pub fn decode(b: &[u8]) -> Result<ArenaHead, &'static str> {
        if b.len() < Self::SIZE || be32(b, 0) != ARENA_MAGIC {
            return Err("bad arena head magic");
        }
        if be32(b, 4) != VERSION {
            return Err("unknown arena version");
        }
        if be32(b, 28) != crc32c::crc32c(&b[0..28]) {
            return Err("arena head checksum mismatch");
        }
        Ok(ArenaHead {
            number: be32(b, 8),
            size: be64(b, 12),
            created: be64(b, 20),
        })
    }
}

/// The record that seals a full arena (layout in [`super::format`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaTrailer {
    /// The arena's number.
    pub number: u32,
    /// Clumps in the arena.
    pub clumps: u32,
    /// Offset where the log ends.
    pub used: u64,
    /// Sum of the blocks' uncompressed sizes.
    pub uncompressed: u64,
    /// Sum of the clumps' stored data sizes.
    pub stored: u64,
    /// CRC32C of the arena's bytes `0..used`.
    pub arena_crc: u32,
}

impl ArenaTrailer {
    /// Encoded bytes used (the rest of [`TRAILER_SIZE`] is zero).
    pub const SIZE: usize = 48;

    /// The record's bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&TRAILER_MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&VERSION.to_be_bytes());
        b[8..12].copy_from_slice(&self.number.to_be_bytes());
        b[12..16].copy_from_slice(&self.clumps.to_be_bytes());
        b[16..24].copy_from_slice(&self.used.to_be_bytes());
        b[24..32].copy_from_slice(&self.uncompressed.to_be_bytes());
        b[32..40].copy_from_slice(&self.stored.to_be_bytes());
        b[40..44].copy_from_slice(&self.arena_crc.to_be_bytes());
        let crc = crc32c::crc32c(&b[0..44]);
        b[44..48].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decodes and validates the record.
    pub fn decode(b: &[u8]) -> Result<ArenaTrailer, &'static str> {
        if b.len() < Self::SIZE || be32(b, 0) != TRAILER_MAGIC {
            return Err("bad arena trailer magic");
        }
        if be32(b, 4) != VERSION {
            return Err("unknown arena trailer version");
        }
        if be32(b, 44) != crc32c::crc32c(&b[0..44]) {
            return Err("arena trailer checksum mismatch");
        }
        Ok(ArenaTrailer {
            number: be32(b, 8),
            clumps: be32(b, 12),
            used: be64(b, 16),
            uncompressed: be64(b, 24),
            stored: be64(b, 32),
            arena_crc: be32(b, 40),
        })
    }
}

/// An open arena file.
#[derive(Debug)]
pub struct ArenaFile {
    /// The arena's head.
    pub head: ArenaHead,
    /// The file's path (named in errors).
    pub path: PathBuf,
    file: File,
    /// Clumps appended but not yet written to the file. Many small
    /// `pwrite`s cost far more than one large one, so the active arena
    /// collects clumps here; readers find them here until they are written.
    pending: RwLock<AppendBuffer>,
}

/// The tail of the log not yet in the file: `bytes` belong at `start`.
#[derive(Debug, Default)]
struct AppendBuffer {
    start: u64,
    bytes: Vec<u8>,
}

/// The file name of arena `number`.
pub fn arena_name(number: u32) -> String {
    format!("arena.{number:08}")
}

impl ArenaFile {
    /// Creates arena `number` of `size` bytes in `dir`: writes and syncs the
    /// head, then syncs the directory so the file survives a crash.
    pub fn create(dir: &Path, number: u32, size: u64) -> Result<ArenaFile> {
        let path = dir.join(arena_name(number));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
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
        let arena = ArenaFile {
            head,
            path,
            file,
            pending: RwLock::default(),
        };
        let written = arena
            .write_at(&page, 0)
            .and_then(|()| arena.reserve())
            .and_then(|()| arena.sync());
        if let Err(e) = written {
            // A half-made arena would only confuse recovery.
            let _ = std::fs::remove_file(&arena.path);
            return Err(e);
        }
        sync_dir(dir)?;
        Ok(arena)
    }

    /// Opens an existing arena and validates its head against `number`.
    pub fn open(path: &Path, number: u32) -> Result<ArenaFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io_error("open", path, e))?;
        let bad = |reason: &str| Error::BadArena {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let mut b = [0u8; ArenaHead::SIZE];
        file.read_exact_at(&mut b, 0)
            .map_err(|_| bad("file shorter than an arena head"))?;
        let head = ArenaHead::decode(&b).map_err(bad)?;
        if head.number != number {
            return Err(bad("arena number does not match the file name"));
        }
        if head.size < HEAD_SIZE + TRAILER_SIZE + super::MIN_DATA {
            return Err(bad("arena size too small"));
        }
        Ok(ArenaFile {
            head,
            path: path.to_path_buf(),
            file,
            pending: RwLock::default(),
        })
    }

    /// Reserves the disk space of the whole arena without changing the
    /// file's length, so appends inside it cannot meet a full disk: a full
    /// disk shows when an arena is created, failing that write alone. File
    /// systems without `fallocate` get no reservation.
    pub fn reserve(&self) -> Result<()> {
        use nix::errno::Errno;
        use nix::fcntl::{FallocateFlags, fallocate};
        match fallocate(
            &self.file,
            FallocateFlags::FALLOC_FL_KEEP_SIZE,
            0,
            self.head.size as i64,
        ) {
            Ok(()) | Err(Errno::EOPNOTSUPP | Errno::ENOSYS) => Ok(()),
            Err(e) => Err(io_error("reserve", &self.path, e.into())),
        }
    }

    fn buffer(&self) -> RwLockReadGuard<'_, AppendBuffer> {
        self.pending.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Buffers a clump at `at` (the end of the log) and returns how many
    /// bytes are buffered. Only the store's writer calls this.
    pub fn push(&self, clump: &[u8], at: u64) -> usize {
        let mut b = self.pending.write().unwrap_or_else(|e| e.into_inner());
        if b.bytes.is_empty() {
            b.start = at;
        }
        debug_assert_eq!(b.start + b.bytes.len() as u64, at);
        b.bytes.extend_from_slice(clump);
        b.bytes.len()
    }

    /// Writes buffered clumps to the file. On failure they stay buffered
    /// (and readable) for the next attempt. Only the store's writer calls
    /// this, so the buffer cannot change underneath.
    pub fn write_buffer(&self) -> Result<()> {
        let written = {
            let b = self.buffer();
            if b.bytes.is_empty() {
                return Ok(());
            }
            // Readers keep reading the buffer while it is written.
            if let Err(e) = self.write_at(&b.bytes, b.start) {
                // Best effort: leave no partial clump in the file.
                let _ = self.file.set_len(b.start);
                return Err(e);
            }
            b.bytes.len() as u64
        };
        let mut b = self.pending.write().unwrap_or_else(|e| e.into_inner());
        b.start += written;
        b.bytes.clear();
        Ok(())
    }

    /// Reads a clump (or its header) at `off`, from the append buffer if it
    /// is there, else from the file.
    pub fn read_clump(&self, out: &mut [u8], off: u64) -> Result<()> {
        {
            let b = self.buffer();
            if off >= b.start && !b.bytes.is_empty() {
                let at = (off - b.start) as usize;
                if let Some(src) = b.bytes.get(at..at + out.len()) {
                    out.copy_from_slice(src);
                    return Ok(());
                }
            }
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
        if self.file.read_exact_at(&mut b, self.data_end()).is_err() {
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
            .read_exact_at(buf, off)
            .map_err(|e| io_error("read", &self.path, e))
    }

    /// Writes all of `buf` at `off`.
    pub fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        self.file
            .write_all_at(buf, off)
            .map_err(|e| io_error("write", &self.path, e))
    }

    /// Current file length.
    pub fn file_len(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| io_error("stat", &self.path, e))
    }

    /// Cuts the file at `len` (a torn tail) and syncs.
    pub fn truncate(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| io_error("truncate", &self.path, e))?;
        self.sync()
    }

    /// `fdatasync`.
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| io_error("sync", &self.path, e))
    }

    /// CRC32C of bytes `0..end`, read in large chunks.
    pub fn crc_to(&self, end: u64, progress: &mut dyn FnMut(u64)) -> Result<u32> {
        let mut crc = 0u32;
        let mut buf = vec![0u8; CHUNK];
        let mut off = 0u64;
        while off < end {
            let n = (end - off).min(CHUNK as u64) as usize;
            self.read_at(&mut buf[..n], off)?;
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            off += n as u64;
            progress(n as u64);
        }
        Ok(crc)
    }

    /// Walks the clumps in `from..end`, calling `f` for each. With
    /// `resync`, a bad spot is reported and skipped by searching for the
    /// next valid clump; without, the walk stops there. Returns where the
    /// last good clump ended.
    pub fn scan(
        &self,
        from: u64,
        end: u64,
        resync: bool,
        f: &mut dyn FnMut(Scanned<'_>),
    ) -> Result<u64> {
        let mut win = Window::new(self, end);
        let mut off = from;
        let mut good_end = from;
        while off + ClumpHeader::SIZE as u64 <= end {
            let reason = match ClumpHeader::decode(win.get(off, ClumpHeader::SIZE)?) {
                Ok(h) if off + h.clump_len() <= end => {
                    let data = win.get(off + ClumpHeader::SIZE as u64, usize::from(h.size))?;
                    if crc32c::crc32c(data) == h.data_crc {
                        f(Scanned::Clump {
                            offset: off,
                            header: h,
                            data,
                        });
                        good_end = off + h.clump_len();
                        off = good_end;
                        continue;
                    }
                    "clump data checksum mismatch"
                }
                Ok(_) => "clump runs past the end of the log",
                Err(e) => e,
            };
            if !resync {
                break;
            }
            f(Scanned::Bad {
                offset: off,
                reason,
            });
            off = self.next_clump(&mut win, off + 1, end)?;
        }
        if resync && good_end < end && off < end {
            // Bytes after the last clump that are not a whole clump.
            f(Scanned::Bad {
                offset: off.max(good_end),
                reason: "trailing bytes after the last clump",
            });
        }
        Ok(good_end)
    }

    /// The next offset at or after `from` where a clump with valid header
    /// and data checksums starts, or `end`.
    fn next_clump(&self, win: &mut Window<'_>, from: u64, end: u64) -> Result<u64> {
        let magic = super::format::CLUMP_MAGIC.to_be_bytes();
        let mut off = from;
        while off + ClumpHeader::SIZE as u64 <= end {
            let b = win.get(off, ClumpHeader::SIZE)?;
            if b[..4] == magic
                && let Ok(h) = ClumpHeader::decode(b)
                && off + h.clump_len() <= end
                && crc32c::crc32c(win.get(off + ClumpHeader::SIZE as u64, usize::from(h.size))?)
                    == h.data_crc
            {
                return Ok(off);
            }
            off += 1;
        }
        Ok(end)
    }
}

/// One step of [`ArenaFile::scan`].
pub enum Scanned<'a> {
    /// A clump whose header and data checksums hold.
    Clump {
        /// Offset of its header.
        offset: u64,
        /// Its header.
        header: ClumpHeader,
        /// Its stored data.
        data: &'a [u8],
    },
    /// A spot where no valid clump starts.
    Bad {
        /// Offset of the bad spot.
        offset: u64,
        /// What failed.
        reason: &'static str,
    },
}

const CHUNK: usize = 4 << 20;

/// A sliding read buffer so scans do large reads instead of one per clump.
struct Window<'a> {
    arena: &'a ArenaFile,
    end: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'a> Window<'a> {
    fn new(arena: &'a ArenaFile, end: u64) -> Window<'a> {
        Window {
            arena,
            end,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// Bytes `off..off+len`; the caller keeps within `end`.
    fn get(&mut self, off: u64, len: usize) -> Result<&[u8]> {
        let have = self.start + self.buf.len() as u64;
        if off < self.start || off + len as u64 > have {
            let n = (self.end - off).min(CHUNK as u64) as usize;
            self.buf.resize(n, 0);
            self.start = off;
            self.arena.read_at(&mut self.buf, off)?;
        }
        let at = (off - self.start) as usize;
        Ok(&self.buf[at..at + len])
    }
}

/// `fsync` of a directory, so new and renamed files in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn head_round_trips(number in any::<u32>(), size in any::<u64>(), created in any::<u64>()) {
            let h = ArenaHead { number, size, created };
            prop_assert_eq!(ArenaHead::decode(&h.encode()).unwrap(), h);
        }

        #[test]
        fn trailer_round_trips(number in any::<u32>(), clumps in any::<u32>(), used in any::<u64>(),
                               uncompressed in any::<u64>(), stored in any::<u64>(), arena_crc in any::<u32>(),
                               flip in 0usize..384) {
            let t = ArenaTrailer { number, clumps, used, uncompressed, stored, arena_crc };
            let mut b = t.encode();
            prop_assert_eq!(ArenaTrailer::decode(&b).unwrap(), t);
            b[flip / 8] ^= 1 << (flip % 8);
            prop_assert!(ArenaTrailer::decode(&b).is_err());
        }
    }
}
