//! Walking an arena's clumps in order, for recovery, `check` and `reindex`.

use crate::error::Result;

use super::clump::{ClumpCheck, ClumpHeader};
use super::file::{ArenaFile, CHUNK};

impl ArenaFile {
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
                    ClumpCheck::DataChecksum
                }
                Ok(_) => ClumpCheck::PastLogEnd,
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
                reason: ClumpCheck::TrailingBytes,
            });
        }
        Ok(good_end)
    }

    /// Walks the clump headers in `from..end` without checking the data,
    /// for the replication log: `f` gets each clump's offset and header
    /// and returns false to stop before the next. Stops at the first spot
    /// that is not a clump. Returns where the last clump given to `f`
    /// ended.
    pub fn headers(
        &self,
        from: u64,
        end: u64,
        f: &mut dyn FnMut(u64, &ClumpHeader) -> bool,
    ) -> Result<u64> {
        let mut win = Window::new(self, end);
        let mut off = from;
        while off + ClumpHeader::SIZE as u64 <= end {
            match ClumpHeader::decode(win.get(off, ClumpHeader::SIZE)?) {
                Ok(h) if off + h.clump_len() <= end => {
                    if !f(off, &h) {
                        break;
                    }
                    off += h.clump_len();
                }
                _ => break,
            }
        }
        Ok(off)
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
        /// The check that failed.
        reason: ClumpCheck,
    },
}

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
