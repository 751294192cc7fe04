//! Opening a store: find the arenas, cut a torn tail, and bring the index
//! up to date with the log (or rebuild it).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};

use super::bucket::{IndexEntry, Watermark};
use super::damage::ArenaProblem;
use super::disk::{Disk, path_of};
use super::file::{ArenaFile, NEW_SUFFIX, arena_name};
use super::format::{HEAD_SIZE, io_error};
use super::head::ArenaTrailer;
use super::index::{DiskIndex, INDEX_TMP};
use super::next::NextArena;
use super::saved_bloom::{self, BloomState};
use super::scan::Scanned;
use super::sync_ahead::SyncAhead;
use super::{Active, ArenaStore, Config, Totals, Writer};

/// Entries inserted into the index per batch while replaying the log.
const REPLAY_BATCH: usize = 1 << 16;

pub(super) fn open(disk: Arc<dyn Disk>, config: Config) -> Result<ArenaStore> {
    let arenas = open_arenas(&*disk)?;
    let _ = disk.remove(INDEX_TMP);
    let mut index = match DiskIndex::open(&disk) {
        Ok(index) => Some(index),
        // The log is the truth: a damaged index is rebuilt from it.
        Err(Error::IndexCorrupt { .. }) => None,
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let (sealed, last) = sealed_trailers(&arenas);
    let mut saved = saved_bloom::load(&*disk);
    loop {
        let (mut idx, fresh) = match index.take() {
            Some(i) => (i, false),
            None => (
                DiskIndex::create(&disk, config.index_bits, Watermark::default())?,
                true,
            ),
        };
        let mut resume = None;
        if !fresh {
            if let Some((state, bloom)) = saved.take()
                && within_log(&arenas, last, state.watermark)?
                && idx.set_bloom(bloom)
            {
                resume = Some(state);
            } else {
                match idx.load_bloom() {
                    Ok(()) => {}
                    Err(Error::IndexCorrupt { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        let mut pending = HashMap::new();
        match replay(&arenas, last, &mut idx, resume, &mut pending, &mut |_| {})? {
            Some((active, pos)) => {
                // A rebuilt filter is saved at the next sync; a loaded one
                // at close if the log moved past it.
                let unsaved = match resume {
                    None => u64::MAX / 2,
                    Some(s) => u64::from(s.watermark != pos),
                };
                return Ok(ArenaStore {
                    next: NextArena::new(disk.clone()),
                    sync_ahead: SyncAhead::default(),
                    disk,
                    config,
                    writer: Mutex::new(Writer {
                        active,
                        sealed,
                        pos,
                        unsaved,
                    }),
                    flushing: Mutex::new(()),
                    arenas: RwLock::new(arenas),
                    pending: RwLock::new(pending),
                    index: RwLock::new(idx),
                });
            }
            // The index (or the saved filter) claims more log than there
            // is: start over without the filter, then without the index.
            None if resume.is_some() => index = Some(idx),
            None => {}
        }
    }
}

/// True if `wm` lies within the log (a saved filter's watermark that does
/// not was saved for other arenas).
fn within_log(
    arenas: &[Arc<ArenaFile>],
    last_trailer: Option<ArenaTrailer>,
    wm: Watermark,
) -> Result<bool> {
    let Some(arena) = arenas.get(wm.arena as usize) else {
        return Ok(false);
    };
    let is_last = wm.arena as usize + 1 == arenas.len();
    Ok(wm.offset >= HEAD_SIZE && wm.offset <= log_end(arena, is_last, last_trailer)?)
}

/// Where an arena's log ends, as far as its file and trailer tell.
fn log_end(arena: &ArenaFile, is_last: bool, last_trailer: Option<ArenaTrailer>) -> Result<u64> {
    Ok(match (is_last, last_trailer) {
        (true, Some(t)) => t.used.min(arena.data_end()),
        (true, None) => arena.file_len()?.min(arena.data_end()),
        (false, _) => arena
            .trailer()
            .ok()
            .flatten()
            .map_or(arena.data_end(), |t| t.used),
    })
}

/// Opens `arena.00000000`, `arena.00000001`, ... in order. A last arena
/// whose head never reached the disk (a crash while creating it) is removed.
fn open_arenas(disk: &dyn Disk) -> Result<Vec<Arc<ArenaFile>>> {
    let mut numbers = Vec::new();
    let names = disk.list().map_err(|e| io_error("list", disk.path(), e))?;
    for name in names {
        if name.ends_with(NEW_SUFFIX) {
            // Prepared ahead and never installed: a crash came first.
            disk.remove(&name)
                .map_err(|e| io_error("remove", &path_of(disk, &name), e))?;
            continue;
        }
        if let Some(n) = name.strip_prefix("arena.")
            && let Ok(n) = n.parse::<u32>()
        {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    let mut arenas = Vec::with_capacity(numbers.len());
    for (i, &n) in numbers.iter().enumerate() {
        let name = arena_name(n);
        if n as usize != i {
            return Err(Error::BadArena {
                path: path_of(disk, &name),
                problem: ArenaProblem::Missing(i as u32),
            });
        }
        match ArenaFile::open(disk, n) {
            Ok(a) => arenas.push(Arc::new(a)),
            Err(Error::BadArena { .. })
                if i + 1 == numbers.len()
                    && disk
                        .open(&name)
                        .and_then(|f| f.len())
                        .is_ok_and(|len| len <= HEAD_SIZE) =>
            {
                disk.remove(&name)
                    .map_err(|e| io_error("remove", &path_of(disk, &name), e))?;
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
/// With `resume` (a loaded saved filter), the scores of clumps between its
/// watermark and the index's are added to the filter, and the active
/// arena's checksum and totals continue from the saved ones instead of
/// being computed from its start. The last arena, unless sealed, has its
/// torn tail cut and becomes the active arena. Entries that cannot be
/// written because the disk is full stay in `pending`. Returns `None` if a
/// watermark lies past the log.
pub(super) fn replay(
    arenas: &[Arc<ArenaFile>],
    last_trailer: Option<ArenaTrailer>,
    index: &mut DiskIndex,
    resume: Option<BloomState>,
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
    // Clumps from `note` on must reach the filter; from `wm` on, the index.
    let note = resume.map_or(wm, |r| r.watermark.min(wm));
    // Where position `at` falls in arena `i`: before it (0), inside, or after it.
    let start_in = |at: Watermark, i: usize| match (i as u32).cmp(&at.arena) {
        std::cmp::Ordering::Less => u64::MAX,
        std::cmp::Ordering::Equal => at.offset.max(HEAD_SIZE),
        std::cmp::Ordering::Greater => HEAD_SIZE,
    };
    let mut pos = wm;
    let mut active = None;
    for (i, arena) in arenas.iter().enumerate().skip(note.arena as usize) {
        let is_last = i + 1 == arenas.len();
        let from = start_in(wm, i);
        let note_from = start_in(note, i);
        let end = log_end(arena, is_last, last_trailer)?;
        // Entries may only point at durable log.
        arena.sync()?;
        let is_active = is_last && last_trailer.is_none();
        // The active arena's totals and checksum: from the saved state at
        // its offset, or from the arena's start.
        let seed = match resume {
            Some(BloomState {
                watermark,
                active: Some((crc, totals)),
            }) if is_active && watermark.arena == i as u32 && watermark.offset <= end => {
                (watermark.offset.max(HEAD_SIZE), Some(crc), totals)
            }
            _ => (HEAD_SIZE, None, Totals::default()),
        };
        let (totals_from, seed_crc, mut totals) = seed;
        let scan_from = if is_active {
            note_from.min(totals_from)
        } else {
            note_from
        };
        let mut batch = Vec::new();
        let mut failed = None;
        // The active arena's first bad spot past the watermark: no
        // returned sync covered the log from there (each one commits the
        // watermark), so the log is cut there, and clumps after a hole
        // (writes the disk kept out of order) are dropped with it. Sealed
        // arenas were synced before their trailer: damage there is kept
        // for check to report.
        let mut hole = u64::MAX;
        // With resync, damage in the middle of the log (check reports it)
        // does not hide the clumps after it; the log ends after the last
        // valid clump, and anything past that is a torn tail.
        let stop = arena.scan(scan_from, end, true, &mut |item| {
            if let Scanned::Bad { offset, .. } = item
                && is_active
                && offset >= from
            {
                hole = hole.min(offset);
            }
            if let Scanned::Clump { offset, header, .. } = item
                && offset < hole
            {
                if offset >= totals_from {
                    totals.add(&header);
                }
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
                } else if offset >= note_from {
                    index.note(&header.score);
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        progress(end.max(scan_from) - scan_from);
        if (from != u64::MAX && from > end) || (note_from != u64::MAX && note_from > end) {
            return Ok(None);
        }
        // Damaged clumps before the watermark stay for check to report.
        let stop = stop.min(hole).max(from.min(end));
        if is_active {
            if arena.file_len()? > stop {
                arena.truncate(stop)?;
                // Truncating may drop the reservation; take it again if
                // there is room (appends report a full disk otherwise).
                let _ = arena.reserve();
            }
            if totals_from > stop {
                // The saved state lies past the cut: it cannot be used.
                return Ok(None);
            }
            let crc = match seed_crc {
                Some(crc) => arena.crc_range(crc, totals_from, stop, &mut |_| {})?,
                None => arena.crc_range(0, 0, stop, &mut |_| {})?,
            };
            active = Some(Active {
                crc,
                arena: arena.clone(),
                tail: stop,
                totals,
            });
        }
        insert(index, &mut batch, pending)?;
        if from != u64::MAX {
            pos = Watermark {
                arena: i as u32,
                offset: stop,
            };
        }
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
