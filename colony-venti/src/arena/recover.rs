//! Opening a store: find the arenas, cut a torn tail, and bring the index
//! up to date with the log (or rebuild it).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};

use super::bucket::{IndexEntry, Watermark};
use super::file::{ArenaFile, arena_name};
use super::format::{HEAD_SIZE, io_error};
use super::head::ArenaTrailer;
use super::index::DiskIndex;
use super::scan::Scanned;
use super::{Active, ArenaStore, Config, Totals, Writer};

/// Entries inserted into the index per batch while replaying the log.
const REPLAY_BATCH: usize = 1 << 16;

pub(super) fn open(dir: &Path, config: Config) -> Result<ArenaStore> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    let arenas = open_arenas(dir)?;
    let index_path = dir.join("index");
    let _ = std::fs::remove_file(index_path.with_extension("tmp"));
    let mut index = if index_path.exists() {
        match DiskIndex::open(&index_path) {
            Ok(index) => Some(index),
            // The log is the truth: a damaged index is rebuilt from it.
            Err(Error::IndexCorrupt { .. }) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let (sealed, last) = sealed_trailers(&arenas);
    loop {
        let mut idx = match index.take() {
            Some(i) => i,
            None => DiskIndex::create(&index_path, config.index_bits, Watermark::default())?,
        };
        let mut pending = HashMap::new();
        match replay(&arenas, last, &mut idx, &mut pending, &mut |_| {})? {
            Some((active, pos)) => {
                return Ok(ArenaStore {
                    dir: dir.to_path_buf(),
                    config,
                    writer: Mutex::new(Writer {
                        active,
                        sealed,
                        pos,
                    }),
                    arenas: RwLock::new(arenas),
                    pending: RwLock::new(pending),
                    index: RwLock::new(idx),
                });
            }
            // The index claims more log than there is: it cannot be
            // trusted, so start over from an empty one.
            None => {
                std::fs::remove_file(&index_path).map_err(|e| io_error("remove", &index_path, e))?
            }
        }
    }
}

/// Opens `arena.00000000`, `arena.00000001`, ... in order. A last arena
/// whose head never reached the disk (a crash while creating it) is removed.
fn open_arenas(dir: &Path) -> Result<Vec<Arc<ArenaFile>>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error("list", dir, e))? {
        let entry = entry.map_err(|e| io_error("list", dir, e))?;
        let name = entry.file_name();
        if let Some(n) = name.to_str().and_then(|n| n.strip_prefix("arena."))
            && let Ok(n) = n.parse::<u32>()
        {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    let mut arenas = Vec::with_capacity(numbers.len());
    for (i, &n) in numbers.iter().enumerate() {
        let path = dir.join(arena_name(n));
        if n as usize != i {
            return Err(Error::BadArena {
                path,
                reason: format!("arena {i} is missing"),
            });
        }
        match ArenaFile::open(&path, n) {
            Ok(a) => arenas.push(Arc::new(a)),
            Err(Error::BadArena { .. })
                if i + 1 == numbers.len()
                    && std::fs::metadata(&path).is_ok_and(|m| m.len() <= HEAD_SIZE) =>
            {
                std::fs::remove_file(&path).map_err(|e| io_error("remove", &path, e))?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(arenas)
}

/// Valid trailers of all arenas, and the last arena's if it is sealed.
/// Every arena but the last is full; one whose trailer is damaged is still
/// read (the trailer is a summary), and `check` reports it.
fn sealed_trailers(arenas: &[Arc<ArenaFile>]) -> (Vec<ArenaTrailer>, Option<ArenaTrailer>) {
    let trailers: Vec<Option<ArenaTrailer>> =
        arenas.iter().map(|a| a.trailer().ok().flatten()).collect();
    let last = trailers.last().copied().flatten();
    (trailers.into_iter().flatten().collect(), last)
}

/// Indexes every clump from the index's watermark to the end of the log.
/// The last arena, unless sealed, has its torn tail cut and becomes the
/// active arena. Entries that cannot be written because the disk is full
/// stay in `pending`. Returns `None` if the watermark lies past the log.
pub(super) fn replay(
    arenas: &[Arc<ArenaFile>],
    last_trailer: Option<ArenaTrailer>,
    index: &mut DiskIndex,
    pending: &mut HashMap<super::Key, IndexEntry>,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<(Option<Active>, Watermark)>> {
    let wm = index.header().watermark;
    if arenas.is_empty() {
        return Ok((wm == Watermark::default()).then_some((None, wm)));
    }
    if wm.arena as usize >= arenas.len() {
        return Ok(None);
    }
    let mut pos = wm;
    let mut active = None;
    for (i, arena) in arenas.iter().enumerate().skip(wm.arena as usize) {
        let is_last = i + 1 == arenas.len();
        let from = if i == wm.arena as usize {
            wm.offset.max(HEAD_SIZE)
        } else {
            HEAD_SIZE
        };
        let end = match (is_last, last_trailer) {
            (true, Some(t)) => t.used.min(arena.data_end()),
            (true, None) => arena.file_len()?.min(arena.data_end()),
            (false, _) => arena
                .trailer()
                .ok()
                .flatten()
                .map_or(arena.data_end(), |t| t.used),
        };
        // Entries may only point at durable log.
        arena.sync()?;
        // The active arena is scanned from its start for its totals.
        let scan_from = if is_last && last_trailer.is_none() {
            HEAD_SIZE
        } else {
            from
        };
        let mut totals = Totals::default();
        let mut batch = Vec::new();
        let mut failed = None;
        // With resync, damage in the middle of the log (check reports it)
        // does not hide the clumps after it; the log ends after the last
        // valid clump, and anything past that is a torn tail.
        let stop = arena.scan(scan_from, end, true, &mut |item| {
            if let Scanned::Clump { offset, header, .. } = item {
                totals.add(&header);
                if offset >= from && failed.is_none() {
                    batch.push(IndexEntry {
                        score: header.score,
                        ty: header.ty,
                        size: header.size,
                        arena: i as u32,
                        offset: offset as u32,
                    });
                    if batch.len() >= REPLAY_BATCH {
                        failed = insert(index, &mut batch, pending).err();
                    }
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        progress(end.max(scan_from) - scan_from);
        if from > end {
            return Ok(None);
        }
        // Damaged clumps before the watermark stay for check to report.
        let stop = stop.max(from);
        if is_last && last_trailer.is_none() {
            if arena.file_len()? > stop {
                arena.truncate(stop)?;
                // Truncating may drop the reservation; take it again if
                // there is room (appends report a full disk otherwise).
                let _ = arena.reserve();
            }
            active = Some(Active {
                crc: arena.crc_to(stop, &mut |_| {})?,
                arena: arena.clone(),
                tail: stop,
                totals,
            });
        }
        insert(index, &mut batch, pending)?;
        pos = Watermark {
            arena: i as u32,
            offset: stop,
        };
    }
    // Nothing new (a clean shutdown): leave the index file untouched.
    if pending.is_empty() && pos != wm {
        match index.commit(pos) {
            Err(Error::DiskFull { .. }) => {}
            r => r?,
        }
    }
    Ok(Some((active, pos)))
}

/// Inserts a batch into the index; on a full disk keeps it in memory.
fn insert(
    index: &mut DiskIndex,
    batch: &mut Vec<IndexEntry>,
    pending: &mut HashMap<super::Key, IndexEntry>,
) -> Result<()> {
    if pending.is_empty() {
        match index.insert_batch(batch) {
            Ok(_) => {
                batch.clear();
                return Ok(());
            }
            Err(Error::DiskFull { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    for e in batch.drain(..) {
        index.note(&e.score);
        pending.insert((e.score, e.ty), e);
    }
    Ok(())
}
