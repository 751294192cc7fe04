//! `check` (verify every clump and the index) and `reindex` (rebuild the
//! index from the arenas), with progress reports for a CLI's bar.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::block_type::BlockType;
use crate::error::{Error, Result};
use crate::score::Score;

use super::bucket::{IndexEntry, Watermark};
use super::clump::{ClumpCheck, ClumpHeader};
use super::damage::IndexProblem;
use super::file::ArenaFile;
use super::format::{HEAD_SIZE, PAGE_SIZE};
use super::index::DiskIndex;
use super::scan::Scanned;
use super::{ArenaStore, Writer, recover};

/// How far a long operation has come, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes processed so far.
    pub done: u64,
    /// Bytes to process in all.
    pub total: u64,
}

/// One thing `check` found wrong, located precisely.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// No valid clump starts here (bad header, torn or damaged data).
    #[error("{}: offset {offset}: {reason}", arena.display())]
    BadClump {
        /// The arena file.
        arena: PathBuf,
        /// Offset of the bad spot.
        offset: u64,
        /// The check that failed.
        reason: ClumpCheck,
    },
    /// A clump whose checksums hold but whose block does not hash to its
    /// score (or does not decompress).
    #[error("{}: offset {offset}: block {score}: {reason}", arena.display())]
    Corrupt {
        /// The score in the clump header.
        score: Score,
        /// The arena file.
        arena: PathBuf,
        /// Offset of the clump header.
        offset: u64,
        /// The check that failed.
        reason: ClumpCheck,
    },
    /// A valid clump the index does not know.
    #[error("{}: offset {offset}: block {score}/{ty:?} is not in the index", arena.display())]
    NotIndexed {
        /// The clump's score.
        score: Score,
        /// The clump's type.
        ty: BlockType,
        /// The arena file.
        arena: PathBuf,
        /// Offset of the clump header.
        offset: u64,
    },
    /// An index entry that names no matching clump.
    #[error("index entry for {score}/{ty:?} at arena {arena} offset {offset}: {reason}")]
    BadEntry {
        /// The entry's score.
        score: Score,
        /// The entry's type.
        ty: BlockType,
        /// The arena it names.
        arena: u32,
        /// The offset it names.
        offset: u32,
        /// What is wrong.
        reason: String,
    },
    /// A damaged index page or header.
    #[error("{0}")]
    Index(Error),
    /// A sealed arena whose trailer or whole-arena checksum is wrong.
    #[error("{}: {reason}", arena.display())]
    BadArena {
        /// The arena file.
        arena: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
}

/// What `check` looked at and found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Arenas checked.
    pub arenas: usize,
    /// Clumps whose block was verified.
    pub clumps: u64,
    /// Log bytes read.
    pub bytes: u64,
    /// Index entries checked.
    pub index_entries: u64,
    /// Everything wrong, in the order found.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True if nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl ArenaStore {
    /// The arenas, where each one's log ends, and whether it is sealed.
    fn log_extent(&self) -> Result<Vec<(Arc<ArenaFile>, u64, bool)>> {
        let w = self.writer();
        let arenas = self.settled_arenas(&w)?;
        Ok(log_extent(&w, arenas))
    }

    /// Every arena, with the active one's buffered clumps written out so
    /// that reading the files sees the whole log. The caller holds the
    /// writer lock, which keeps it so.
    fn settled_arenas(&self, w: &Writer) -> Result<Vec<Arc<ArenaFile>>> {
        if let Some(a) = &w.active {
            a.arena.write_tail()?;
        }
        Ok(self
            .arenas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }

    /// Verifies every clump (header CRC, data CRC, SHA-1 after
    /// decompression), every sealed arena's checksum, that every clump is
    /// indexed, and that every index entry names its clump. Writes may go
    /// on meanwhile; clumps appended after the call starts are not checked.
    pub fn check(&self, progress: &mut dyn FnMut(Progress)) -> Result<CheckReport> {
        let extent = self.log_extent()?;
        let index_bytes = (PAGE_SIZE as u64) << self.index().header().bits;
        let total = extent.iter().map(|(_, end, _)| end).sum::<u64>() + index_bytes;
        let mut done = 0u64;
        let mut report = CheckReport {
            arenas: extent.len(),
            ..CheckReport::default()
        };
        for (arena, end, sealed) in &extent {
            if *sealed {
                self.check_seal(arena, &mut report);
            }
            let mut clumps = Vec::new();
            arena.scan(HEAD_SIZE, *end, true, &mut |item| match item {
                Scanned::Clump {
                    offset,
                    header,
                    data,
                } => {
                    let block = header.unpack(data);
                    let reason = match &block {
                        Err(reason) => Some(*reason),
                        Ok(b) if Score::of(b) != header.score => Some(ClumpCheck::Sha1),
                        Ok(_) => None,
                    };
                    match reason {
                        Some(reason) => report.problems.push(Problem::Corrupt {
                            score: header.score,
                            arena: arena.path.clone(),
                            offset,
                            reason,
                        }),
                        None => clumps.push((offset, header)),
                    }
                }
                Scanned::Bad { offset, reason } => report.problems.push(Problem::BadClump {
                    arena: arena.path.clone(),
                    offset,
                    reason,
                }),
            })?;
            for (offset, h) in clumps {
                report.clumps += 1;
                match self.lookup(&h.score, h.ty) {
                    Ok(Some(_)) => {}
                    Ok(None) => report.problems.push(Problem::NotIndexed {
                        score: h.score,
                        ty: h.ty,
                        arena: arena.path.clone(),
                        offset,
                    }),
                    // The index pass below reports the damaged bucket.
                    Err(Error::IndexCorrupt { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            report.bytes += end;
            done += end;
            progress(Progress { done, total });
        }
        let index = self.index();
        index.for_each_bucket(&mut |_, bucket| {
            match bucket {
                Ok(b) => {
                    for e in &b.entries {
                        report.index_entries += 1;
                        if let Err(reason) = self.entry_matches(e) {
                            report.problems.push(Problem::BadEntry {
                                score: e.score,
                                ty: e.ty,
                                arena: e.arena,
                                offset: e.offset,
                                reason,
                            });
                        }
                    }
                }
                Err(e) => report.problems.push(Problem::Index(e)),
            }
            done += PAGE_SIZE as u64;
            progress(Progress { done, total });
            Ok(())
        })?;
        Ok(report)
    }

    fn check_seal(&self, arena: &ArenaFile, report: &mut CheckReport) {
        let problem = |reason| Problem::BadArena {
            arena: arena.path.clone(),
            reason,
        };
        match arena.trailer() {
            Ok(Some(t)) => match arena.crc_range(0, 0, t.used, &mut |_| {}) {
                Ok(crc) if crc == t.arena_crc && t.number == arena.head.number => {}
                Ok(_) => report
                    .problems
                    .push(problem("whole-arena checksum mismatch")),
                Err(_) => report.problems.push(problem("cannot read the sealed log")),
            },
            Ok(None) => report
                .problems
                .push(problem("full arena without a trailer")),
            Err(reason) => report.problems.push(problem(reason)),
        }
    }

    /// Whether an index entry names a clump with its score, type and size
    /// (the clump itself is verified by the arena scan).
    fn entry_matches(&self, e: &IndexEntry) -> Result<(), String> {
        let arena = self.arena(e.arena).ok_or("no such arena")?;
        let mut b = [0u8; ClumpHeader::SIZE];
        arena
            .read_clump(&mut b, u64::from(e.offset))
            .map_err(|err| err.to_string())?;
        let h = ClumpHeader::decode(&b).map_err(|check| check.to_string())?;
        if h.score != e.score || h.ty != e.ty || h.size != e.size {
            return Err("clump there holds another block".into());
        }
        Ok(())
    }

    /// Rebuilds the index from the arenas and returns how many entries it
    /// holds. Writers wait meanwhile, and so do readers of the index.
    pub fn reindex(&self, progress: &mut dyn FnMut(Progress)) -> Result<u64> {
        let mut w = self.writer();
        let arenas = self.settled_arenas(&w)?;
        let total: u64 = log_extent(&w, arenas.clone())
            .iter()
            .map(|(_, end, _)| end - HEAD_SIZE)
            .sum();
        let mut index = self.index_mut();
        let path = index.path().to_path_buf();
        let mut fresh =
            DiskIndex::create(&self.disk, self.config.index_bits, Watermark::default())?;
        let mut pending = HashMap::new();
        let mut done = 0u64;
        let last = if w.active.is_none() {
            arenas.last().and_then(|a| a.trailer().ok().flatten())
        } else {
            None
        };
        let replayed = recover::replay(&arenas, last, &mut fresh, None, &mut pending, &mut |n| {
            done += n;
            progress(Progress { done, total });
        })?;
        let (active, pos) = replayed.ok_or_else(|| Error::IndexCorrupt {
            path: path.clone(),
            problem: IndexProblem::PastLog,
        })?;
        let entries = fresh.header().entries + pending.len() as u64;
        *index = fresh;
        *self.pending_mut() = pending;
        w.active = active;
        w.pos = pos;
        w.unsaved = u64::MAX / 2;
        Ok(entries)
    }
}

/// [`ArenaStore::log_extent`] with the writer already locked.
fn log_extent(w: &super::Writer, arenas: Vec<Arc<ArenaFile>>) -> Vec<(Arc<ArenaFile>, u64, bool)> {
    arenas
        .into_iter()
        .map(|a| match &w.active {
            Some(act) if act.arena.head.number == a.head.number => (a, act.tail, false),
            _ => {
                let end = a.trailer().ok().flatten().map_or(a.data_end(), |t| t.used);
                (a, end, true)
            }
        })
        .collect()
}
