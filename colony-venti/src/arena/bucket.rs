//! The index's on-disk records: entries, bucket pages, the header page
//! and its watermark.

use crate::block_type::BlockType;
use crate::score::Score;

use super::format::{INDEX_MAGIC, PAGE_SIZE, VERSION, be16, be32, be64};

/// Where a clump lives, and what it holds: one index entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The block's score.
    pub score: Score,
    /// The block's type.
    pub ty: BlockType,
    /// Stored data bytes after the clump header.
    pub size: u16,
    /// Arena number.
    pub arena: u32,
    /// Offset of the clump header in the arena.
    pub offset: u32,
}

impl IndexEntry {
    /// Encoded size.
    pub const SIZE: usize = 32;

    /// The entry's bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..20].copy_from_slice(&self.score.0);
        b[20] = self.ty.wire();
        b[22..24].copy_from_slice(&self.size.to_be_bytes());
        b[24..28].copy_from_slice(&self.arena.to_be_bytes());
        b[28..32].copy_from_slice(&self.offset.to_be_bytes());
        b
    }

    /// Decodes an entry from the first 32 bytes of `b`.
    pub fn decode(b: &[u8]) -> Result<IndexEntry, &'static str> {
        if b.len() < Self::SIZE {
            return Err("short index entry");
        }
        let ty = BlockType::from_wire(b[20]).map_err(|_| "bad block type in index entry")?;
        if b[21] != 0 {
            return Err("reserved index entry byte set");
        }
        Ok(IndexEntry {
            score: Score::from_slice(&b[0..20]),
            ty,
            size: be16(b, 22),
            arena: be32(b, 24),
            offset: be32(b, 28),
        })
    }
}

/// Entries one bucket page holds.
pub const BUCKET_SLOTS: usize = (PAGE_SIZE - 8) / IndexEntry::SIZE;

/// One bucket page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// The entries, at most [`BUCKET_SLOTS`].
    pub entries: Vec<IndexEntry>,
}

impl Bucket {
    /// The page's bytes.
    pub fn encode(&self) -> Vec<u8> {
        debug_assert!(self.entries.len() <= BUCKET_SLOTS);
        let mut b = vec![0u8; PAGE_SIZE];
        b[0..2].copy_from_slice(&(self.entries.len() as u16).to_be_bytes());
        for (i, e) in self.entries.iter().enumerate() {
            b[8 + i * IndexEntry::SIZE..][..IndexEntry::SIZE].copy_from_slice(&e.encode());
        }
        let crc = Self::crc(&b, self.entries.len());
        b[4..8].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn crc(b: &[u8], count: usize) -> u32 {
        let crc = crc32c::crc32c(&b[0..4]);
        crc32c::crc32c_append(crc, &b[8..8 + count * IndexEntry::SIZE])
    }

    /// Decodes and validates a page (checksum, entries, zero padding).
    pub fn decode(b: &[u8]) -> Result<Bucket, &'static str> {
        if b.len() != PAGE_SIZE {
            return Err("bucket page has the wrong size");
        }
        let count = usize::from(be16(b, 0));
        if count > BUCKET_SLOTS || be16(b, 2) != 0 {
            return Err("bad bucket count");
        }
        if be32(b, 4) != Self::crc(b, count) {
            return Err("bucket checksum mismatch");
        }
        let end = 8 + count * IndexEntry::SIZE;
        if b[end..].iter().any(|&x| x != 0) {
            return Err("bytes after the last bucket entry");
        }
        let entries = b[8..end]
            .chunks_exact(IndexEntry::SIZE)
            .map(IndexEntry::decode)
            .collect::<Result<_, _>>()?;
        Ok(Bucket { entries })
    }

    /// The entry for (score, type) in an encoded page, checking only what
    /// the answer depends on (count, checksum, the matching entry): the
    /// hot path of every lookup. `decode` checks the rest.
    pub fn find_in_page(
        page: &[u8],
        score: &Score,
        ty: BlockType,
    ) -> Result<Option<IndexEntry>, &'static str> {
        let count = usize::from(be16(page, 0));
        if count > BUCKET_SLOTS {
            return Err("bad bucket count");
        }
        if be32(page, 4) != Self::crc(page, count) {
            return Err("bucket checksum mismatch");
        }
        for e in page[8..8 + count * IndexEntry::SIZE].chunks_exact(IndexEntry::SIZE) {
            if e[..20] == score.0 && e[20] == ty.wire() {
                return IndexEntry::decode(e).map(Some);
            }
        }
        Ok(None)
    }

    /// The entry for (score, type), if present.
    pub fn find(&self, score: &Score, ty: BlockType) -> Option<&IndexEntry> {
        self.entries
            .iter()
            .find(|e| e.score == *score && e.ty == ty)
    }
}

/// A position in the log: everything before it is indexed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watermark {
    /// Arena number.
    pub arena: u32,
    /// Offset in that arena.
    pub offset: u64,
}

/// The index file's header page (layout in [`super::format`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexHeader {
    /// The table has `2^bits` buckets.
    pub bits: u32,
    /// Entries in the table.
    pub entries: u64,
    /// Every clump before this position is indexed.
    pub watermark: Watermark,
}

impl IndexHeader {
    /// Encoded bytes used (the rest of the page is zero).
    pub const SIZE: usize = 40;

    /// The record's bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&INDEX_MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&VERSION.to_be_bytes());
        b[8..12].copy_from_slice(&self.bits.to_be_bytes());
        b[12..16].copy_from_slice(&(PAGE_SIZE as u32).to_be_bytes());
        b[16..24].copy_from_slice(&self.entries.to_be_bytes());
        b[24..28].copy_from_slice(&self.watermark.arena.to_be_bytes());
        b[28..36].copy_from_slice(&self.watermark.offset.to_be_bytes());
        let crc = crc32c::crc32c(&b[0..36]);
        b[36..40].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decodes and validates the record.
    pub fn decode(b: &[u8]) -> Result<IndexHeader, &'static str> {
        if b.len() < Self::SIZE || be32(b, 0) != INDEX_MAGIC {
            return Err("bad index magic");
        }
        if be32(b, 4) != VERSION || be32(b, 12) != PAGE_SIZE as u32 {
            return Err("unknown index version or page size");
        }
        if be32(b, 36) != crc32c::crc32c(&b[0..36]) {
            return Err("index header checksum mismatch");
        }
        let bits = be32(b, 8);
        if bits > MAX_BITS {
            return Err("index too large");
        }
        Ok(IndexHeader {
            bits,
            entries: be64(b, 16),
            watermark: Watermark {
                arena: be32(b, 24),
                offset: be64(b, 28),
            },
        })
    }
}

/// Largest table (2^36 buckets, 256 TiB); bounds growth if scores were
/// ever crafted to collide in their first bits.
pub(super) const MAX_BITS: u32 = 36;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = IndexEntry> {
        (
            any::<[u8; 20]>(),
            prop::sample::select(vec![1u8, 2, 3, 4, 5, 6, 7, 8, 9, 13]),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(s, t, size, arena, offset)| IndexEntry {
                score: Score(s),
                ty: BlockType::from_wire(t).unwrap(),
                size,
                arena,
                offset,
            })
    }

    proptest! {
        #[test]
        fn entry_round_trips(e in entry()) {
            prop_assert_eq!(IndexEntry::decode(&e.encode()).unwrap(), e);
        }

        #[test]
        fn bucket_round_trips(entries in prop::collection::vec(entry(), 0..=BUCKET_SLOTS), flip in 0usize..PAGE_SIZE * 8) {
            let bucket = Bucket { entries };
            let mut page = bucket.encode();
            prop_assert_eq!(&Bucket::decode(&page).unwrap(), &bucket);
            for e in &bucket.entries {
                prop_assert_eq!(Bucket::find_in_page(&page, &e.score, e.ty).unwrap(), bucket.find(&e.score, e.ty).copied());
            }
            page[flip / 8] ^= 1 << (flip % 8);
            prop_assert!(Bucket::decode(&page).is_err(), "flipped bit {} accepted", flip);
        }

        #[test]
        fn header_round_trips(bits in 0..=MAX_BITS, entries in any::<u64>(), arena in any::<u32>(), offset in any::<u64>()) {
            let h = IndexHeader { bits, entries, watermark: Watermark { arena, offset } };
            prop_assert_eq!(IndexHeader::decode(&h.encode()).unwrap(), h);
        }
    }
}
