//! The on-disk hash index: score -> clump address, in fixed-size bucket
//! pages read and written with `pread`/`pwrite`, fronted by a bloom filter.
//! It doubles when a bucket fills, and can always be rebuilt from the
//! arenas. Layout in [`super::format`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::block_type::BlockType;
use crate::error::{Error, Result};
use crate::score::Score;

use super::bloom::Bloom;
use super::damage::IndexProblem;
use super::disk::{Disk, Storage, path_of, sync_names};
use super::format::{PAGE_SIZE, io_error, io_error_at};

use super::bucket::{BUCKET_SLOTS, Bucket, IndexEntry, IndexHeader, MAX_BITS, Watermark};

/// Bloom bits per bucket (about eight per slot).
const BLOOM_LOG_PER_BUCKET: u32 = 10;

/// Pages moved per read or write when scanning or rebuilding the table.
const BATCH_PAGES: usize = 256;

/// Touched buckets at most this far apart are inserted as one run of
/// pages ([`DiskIndex::insert_batch`]).
const RUN_GAP: u64 = 4;

/// The index file's name in the store's directory.
pub const INDEX: &str = "index";
/// The name an index is built under before it replaces [`INDEX`].
pub const INDEX_TMP: &str = "index.tmp";

/// The open index.
pub struct DiskIndex {
    disk: Arc<dyn Disk>,
    path: PathBuf,
    file: Arc<dyn Storage>,
    header: IndexHeader,
    bloom: Bloom,
}

impl DiskIndex {
    /// Writes a fresh, empty index with `2^bits` buckets on `disk`
    /// (through a temporary file renamed into place) and opens it.
    pub fn create(disk: &Arc<dyn Disk>, bits: u32, watermark: Watermark) -> Result<DiskIndex> {
        let header = IndexHeader {
            bits,
            entries: 0,
            watermark,
        };
        let empty = Bucket::default().encode();
        let mut next = 0u64;
        let file = write_new(&**disk, &header, &mut |out| {
            while out.len() < BATCH_PAGES * PAGE_SIZE && next < 1 << bits {
                out.extend_from_slice(&empty);
                next += 1;
            }
            Ok(())
        })?;
        Ok(DiskIndex {
            disk: disk.clone(),
            path: path_of(&**disk, INDEX),
            file,
            header,
            bloom: Bloom::new(bits + BLOOM_LOG_PER_BUCKET),
        })
    }

    /// Opens the index, checking its header and length; the bloom filter
    /// starts empty: fill it with [`DiskIndex::load_bloom`] or
    /// [`DiskIndex::set_bloom`]. Damage is [`Error::IndexCorrupt`].
    pub fn open(disk: &Arc<dyn Disk>) -> Result<DiskIndex> {
        let file = super::disk::open(&**disk, INDEX)?;
        let path = path_of(&**disk, INDEX);
        let corrupt = |problem| Error::IndexCorrupt {
            path: path.clone(),
            problem,
        };
        let mut page = vec![0u8; PAGE_SIZE];
        file.read_at(&mut page, 0)
            .map_err(|_| corrupt(IndexProblem::NoHeader))?;
        let header =
            IndexHeader::decode(&page).map_err(|check| corrupt(IndexProblem::Header(check)))?;
        let want = ((PAGE_SIZE as u64) << header.bits) + PAGE_SIZE as u64;
        let got = file.len().map_err(|e| io_error("stat", &path, e))?;
        if got != want {
            return Err(corrupt(IndexProblem::Length { got, want }));
        }
        Ok(DiskIndex {
            disk: disk.clone(),
            path,
            file,
            header,
            bloom: Bloom::new(header.bits + BLOOM_LOG_PER_BUCKET),
        })
    }

    /// Reads and verifies every bucket (checksums and the header's entry
    /// count), filling the bloom filter from them.
    pub fn load_bloom(&mut self) -> Result<()> {
        self.bloom = Bloom::new(self.header.bits + BLOOM_LOG_PER_BUCKET);
        let mut entries = 0u64;
        self.for_each_bucket(&mut |_, bucket| {
            let bucket = bucket?;
            for e in &bucket.entries {
                self.bloom.insert(&e.score);
            }
            entries += bucket.entries.len() as u64;
            Ok(())
        })?;
        if entries != self.header.entries {
            return Err(Error::IndexCorrupt {
                path: self.path.clone(),
                problem: IndexProblem::EntryCount {
                    header: self.header.entries,
                    found: entries,
                },
            });
        }
        Ok(())
    }

    /// Uses a saved filter; false (and the filter unchanged) if its size
    /// is not this index's.
    pub fn set_bloom(&mut self, bloom: Bloom) -> bool {
        if bloom.log_bits() != self.header.bits + BLOOM_LOG_PER_BUCKET {
            return false;
        }
        self.bloom = bloom;
        true
    }

    /// The bloom filter, for saving.
    pub fn bloom(&self) -> &Bloom {
        &self.bloom
    }

    /// The header as last committed or grown.
    pub fn header(&self) -> IndexHeader {
        self.header
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Memory held by the bloom filter.
    pub fn bloom_bytes(&self) -> usize {
        self.bloom.bytes()
    }

    /// Adds a score to the bloom filter ahead of its entry reaching disk.
    pub fn note(&self, score: &Score) {
        self.bloom.insert(score);
    }

    /// False if the score is certainly not in the index.
    pub fn may_contain(&self, score: &Score) -> bool {
        self.bloom.may_contain(score)
    }

    fn bucket_of(&self, score: &Score) -> u64 {
        if self.header.bits == 0 {
            return 0;
        }
        let b = &score.0;
        let top = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        top >> (64 - self.header.bits)
    }

    /// Reads the pages of buckets `first..` into `pages` (whole pages).
    fn read_pages(&self, first: u64, pages: &mut [u8]) -> Result<()> {
        let off = PAGE_SIZE as u64 * (1 + first);
        self.file
            .read_at(pages, off)
            .map_err(|e| io_error_at("read", &self.path, Some(off), e))
    }

    fn read_bucket(&self, i: u64) -> Result<Bucket> {
        let mut page = [0u8; PAGE_SIZE];
        self.read_pages(i, &mut page)?;
        Bucket::decode(&page).map_err(|reason| self.bucket_corrupt(i, reason))
    }

    fn bucket_corrupt(&self, bucket: u64, check: &'static str) -> Error {
        Error::IndexCorrupt {
            path: self.path.clone(),
            problem: IndexProblem::Bucket { bucket, check },
        }
    }

    /// The entry for (score, type): the bloom filter first, then one bucket
    /// read, searched in place (no decoding of the other entries).
    pub fn lookup(&self, score: &Score, ty: BlockType) -> Result<Option<IndexEntry>> {
        if !self.bloom.may_contain(score) {
            return Ok(None);
        }
        let i = self.bucket_of(score);
        let mut page = [0u8; PAGE_SIZE];
        self.read_pages(i, &mut page)?;
        Bucket::find_in_page(&page, score, ty).map_err(|reason| self.bucket_corrupt(i, reason))
    }

    /// Calls `f` with every bucket in order (decoded, or why not), reading
    /// many pages at a time.
    pub fn for_each_bucket(
        &self,
        f: &mut dyn FnMut(u64, Result<Bucket>) -> Result<()>,
    ) -> Result<()> {
        let total = 1u64 << self.header.bits;
        let mut buf = vec![0u8; BATCH_PAGES * PAGE_SIZE];
        let mut first = 0u64;
        while first < total {
            let n = (total - first).min(BATCH_PAGES as u64) as usize;
            self.read_pages(first, &mut buf[..n * PAGE_SIZE])?;
            for (k, page) in buf[..n * PAGE_SIZE].chunks_exact(PAGE_SIZE).enumerate() {
                let i = first + k as u64;
                f(
                    i,
                    Bucket::decode(page).map_err(|r| self.bucket_corrupt(i, r)),
                )?;
            }
            first += n as u64;
        }
        Ok(())
    }

    /// Adds entries (those already present are skipped), doubling the table
    /// whenever a bucket would overflow. Returns how many were new. Not
    /// durable until [`DiskIndex::commit`]. Buckets near each other are
    /// read and written as one run of pages: a large batch touches most
    /// buckets, and a `pread` and a `pwrite` per page cost more than the
    /// untouched pages between them (rewritten as they were).
    pub fn insert_batch(&mut self, entries: &[IndexEntry]) -> Result<u64> {
        let mut added = 0;
        'retry: loop {
            let mut sorted: Vec<(u64, IndexEntry)> = entries
                .iter()
                .map(|e| (self.bucket_of(&e.score), *e))
                .collect();
            sorted.sort_unstable_by_key(|(b, _)| *b);
            let groups: Vec<&[(u64, IndexEntry)]> = sorted.chunk_by(|a, b| a.0 == b.0).collect();
            let mut rest = &groups[..];
            while let Some(first) = rest.first() {
                let start = first[0].0;
                let len = 1 + rest
                    .windows(2)
                    .take_while(|w| {
                        let (a, b) = (w[0][0].0, w[1][0].0);
                        b - a <= RUN_GAP && b - start < BATCH_PAGES as u64
                    })
                    .count();
                let (run, after) = rest.split_at(len);
                rest = after;
                let (new, full) = self.insert_run(start, run)?;
                self.header.entries += new;
                added += new;
                if full {
                    // What fit is written; grow, then go again: inserts
                    // are idempotent.
                    self.grow()?;
                    continue 'retry;
                }
            }
            return Ok(added);
        }
    }

    /// Inserts `run`'s groups (entries by bucket, in bucket order, the
    /// first in bucket `start`) with one read and one write of their
    /// pages. Returns how many entries were new, and whether a bucket
    /// filled (the run stops there).
    fn insert_run(&mut self, start: u64, run: &[&[(u64, IndexEntry)]]) -> Result<(u64, bool)> {
        let end = run.last().map_or(start, |g| g[0].0) + 1;
        let mut pages = vec![0u8; (end - start) as usize * PAGE_SIZE];
        self.read_pages(start, &mut pages)?;
        let (mut new, mut full) = (0, false);
        for group in run {
            let i = group[0].0;
            let page = &mut pages[(i - start) as usize * PAGE_SIZE..][..PAGE_SIZE];
            let mut bucket = Bucket::decode(page).map_err(|r| self.bucket_corrupt(i, r))?;
            let before = bucket.entries.len();
            for (_, e) in *group {
                // Present entries too: buckets written before a crash
                // cut the commit hold entries a saved filter lacks.
                self.bloom.insert(&e.score);
                if bucket.find(&e.score, e.ty).is_some() {
                    continue;
                }
                if bucket.entries.len() == BUCKET_SLOTS {
                    full = true;
                    break;
                }
                bucket.entries.push(*e);
            }
            if bucket.entries.len() > before {
                new += (bucket.entries.len() - before) as u64;
                page.copy_from_slice(&bucket.encode());
            }
            if full {
                break;
            }
        }
        if new > 0 {
            let off = PAGE_SIZE as u64 * (1 + start);
            self.file
                .write_at(&pages, off)
                .map_err(|e| io_error_at("write", &self.path, Some(off), e))?;
        }
        Ok((new, full))
    }

    /// Makes every inserted entry durable, then records `watermark`.
    pub fn commit(&mut self, watermark: Watermark) -> Result<()> {
        self.sync()?;
        self.header.watermark = watermark;
        let mut page = vec![0u8; PAGE_SIZE];
        page[..IndexHeader::SIZE].copy_from_slice(&self.header.encode());
        self.file
            .write_at(&page, 0)
            .map_err(|e| io_error_at("write", &self.path, Some(0), e))?;
        self.sync()
    }

    fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| io_error("sync", &self.path, e))
    }

    /// Doubles the table: each bucket `i` splits into `2i` and `2i+1` in a
    /// new file that replaces the old one atomically.
    fn grow(&mut self) -> Result<()> {
        if self.header.bits >= MAX_BITS {
            return Err(self.bucket_corrupt(0, "bucket overflow at the largest table size"));
        }
        // The new header keeps the committed watermark; the entry count
        // includes uncommitted entries, which are in the buckets copied.
        let header = IndexHeader {
            bits: self.header.bits + 1,
            ..self.header
        };
        let bloom = Bloom::new(header.bits + BLOOM_LOG_PER_BUCKET);
        let total = 1u64 << self.header.bits;
        let mut next = 0u64;
        let file = write_new(&*self.disk, &header, &mut |out| {
            while out.len() < BATCH_PAGES * PAGE_SIZE && next < total {
                let (lo, hi): (Vec<_>, Vec<_>) =
                    self.read_bucket(next)?.entries.into_iter().partition(|e| {
                        let top = u64::from_be_bytes(e.score.0[..8].try_into().expect("8 bytes"));
                        (top >> (64 - header.bits)) & 1 == 0
                    });
                for e in lo.iter().chain(&hi) {
                    bloom.insert(&e.score);
                }
                out.extend_from_slice(&Bucket { entries: lo }.encode());
                out.extend_from_slice(&Bucket { entries: hi }.encode());
                next += 1;
            }
            Ok(())
        })?;
        self.file = file;
        self.header = header;
        self.bloom = bloom;
        Ok(())
    }
}

/// Writes a new index file as [`INDEX_TMP`]: the header page, then pages
/// `fill` appends (it is called until it adds nothing); syncs it and
/// renames it to [`INDEX`].
fn write_new(
    disk: &dyn Disk,
    header: &IndexHeader,
    fill: &mut dyn FnMut(&mut Vec<u8>) -> Result<()>,
) -> Result<Arc<dyn Storage>> {
    let tmp = path_of(disk, INDEX_TMP);
    let mut build = || -> Result<Arc<dyn Storage>> {
        let file = disk
            .create(INDEX_TMP)
            .map_err(|e| io_error("create", &tmp, e))?;
        let mut out = vec![0u8; PAGE_SIZE];
        out[..IndexHeader::SIZE].copy_from_slice(&header.encode());
        let mut off = 0u64;
        loop {
            fill(&mut out)?;
            if out.is_empty() {
                break;
            }
            file.write_at(&out, off)
                .map_err(|e| io_error_at("write", &tmp, Some(off), e))?;
            off += out.len() as u64;
            out.clear();
        }
        file.sync_data().map_err(|e| io_error("sync", &tmp, e))?;
        disk.rename(INDEX_TMP, INDEX)
            .map_err(|e| io_error("rename", &path_of(disk, INDEX), e))?;
        Ok(file)
    };
    let file = build().inspect_err(|_| {
        let _ = disk.remove(INDEX_TMP);
    })?;
    sync_names(disk)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_keeps_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let disk: Arc<dyn Disk> = Arc::new(super::super::disk::FileDisk::open(dir.path()).unwrap());
        let mut index = DiskIndex::create(&disk, 0, Watermark::default()).unwrap();
        let entries: Vec<IndexEntry> = (0..2000u32)
            .map(|i| IndexEntry {
                score: Score::of(&i.to_be_bytes()),
                ty: BlockType::DATA,
                size: 7,
                arena: i / 100,
                offset: i,
            })
            .collect();
        for chunk in entries.chunks(300) {
            index.insert_batch(chunk).unwrap();
        }
        assert_eq!(index.insert_batch(&entries).unwrap(), 0, "already present");
        assert!(
            index.header().bits >= 4,
            "grew to {} bits",
            index.header().bits
        );
        index
            .commit(Watermark {
                arena: 3,
                offset: 99,
            })
            .unwrap();
        drop(index);
        let mut index = DiskIndex::open(&disk).unwrap();
        index.load_bloom().unwrap();
        assert_eq!(index.header().entries, 2000);
        assert_eq!(
            index.header().watermark,
            Watermark {
                arena: 3,
                offset: 99
            }
        );
        for e in &entries {
            assert_eq!(index.lookup(&e.score, BlockType::DATA).unwrap(), Some(*e));
            assert_eq!(index.lookup(&e.score, BlockType::DIR).unwrap(), None);
        }
    }
}
