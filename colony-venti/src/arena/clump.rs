//! A clump: one stored block in an arena's log (header, then data).

use std::borrow::Cow;

use crate::block_type::BlockType;
use crate::score::Score;
use crate::store::MAX_BLOCK;

use super::format::{CLUMP_MAGIC, be16, be32};

/// How a clump's data is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The block's bytes as they are.
    Raw = 1,
    /// An LZ4 block (lz4_flex), used only when it is smaller.
    Lz4 = 2,
}

/// The 40-byte header before each clump's data (layout in [`super::format`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClumpHeader {
    /// The block's type.
    pub ty: BlockType,
    /// How the data is stored.
    pub encoding: Encoding,
    /// Stored data bytes after the header.
    pub size: u16,
    /// The block's length after decompression.
    pub uncsize: u16,
    /// SHA-1 of the uncompressed block.
    pub score: Score,
    /// CRC32C of the stored data.
    pub data_crc: u32,
}

impl ClumpHeader {
    /// Encoded size.
    pub const SIZE: usize = 40;

    /// The header bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&CLUMP_MAGIC.to_be_bytes());
        b[4] = self.ty.wire();
        b[5] = self.encoding as u8;
        b[6..8].copy_from_slice(&self.size.to_be_bytes());
        b[8..10].copy_from_slice(&self.uncsize.to_be_bytes());
        b[10..30].copy_from_slice(&self.score.0);
        b[30..34].copy_from_slice(&self.data_crc.to_be_bytes());
        let crc = crc32c::crc32c(&b[0..36]);
        b[36..40].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decodes and validates a header from the first 40 bytes of `b`. The
    /// error names the check that failed.
    pub fn decode(b: &[u8]) -> Result<ClumpHeader, ClumpCheck> {
        if b.len() < Self::SIZE {
            return Err(ClumpCheck::ShortHeader);
        }
        if be32(b, 0) != CLUMP_MAGIC {
            return Err(ClumpCheck::Magic);
        }
        if be32(b, 36) != crc32c::crc32c(&b[0..36]) {
            return Err(ClumpCheck::HeaderChecksum);
        }
        let ty = BlockType::from_wire(b[4]).map_err(|_| ClumpCheck::BlockType)?;
        let size = be16(b, 6);
        let uncsize = be16(b, 8);
        let encoding = match b[5] {
            1 if size == uncsize => Encoding::Raw,
            2 if size < uncsize => Encoding::Lz4,
            _ => return Err(ClumpCheck::Encoding),
        };
        if uncsize == 0 || usize::from(uncsize) > MAX_BLOCK || be16(b, 34) != 0 {
            return Err(ClumpCheck::Size);
        }
        Ok(ClumpHeader {
            ty,
            encoding,
            size,
            uncsize,
            score: Score::from_slice(&b[10..30]),
            data_crc: be32(b, 30),
        })
    }

    /// Bytes the whole clump occupies in the log.
    pub fn clump_len(&self) -> u64 {
        (Self::SIZE + usize::from(self.size)) as u64
    }

    /// Recovers the block from the stored data (`self.size` bytes).
    pub fn unpack(&self, stored: &[u8]) -> Result<Vec<u8>, ClumpCheck> {
        if stored.len() != usize::from(self.size) {
            return Err(ClumpCheck::StoredLength);
        }
        match self.encoding {
            Encoding::Raw => Ok(stored.to_vec()),
            Encoding::Lz4 => {
                let mut out = vec![0u8; usize::from(self.uncsize)];
                match lz4_flex::block::decompress_into(stored, &mut out) {
                    Ok(n) if n == out.len() => Ok(out),
                    _ => Err(ClumpCheck::Decompress),
                }
            }
        }
    }
}

/// Bytes of a block LZ4 looks at to guess whether compressing pays.
const PROBE: usize = 1024;

/// A block made ready for the log: its header, encoded, and the stored
/// data (the block itself unless LZ4 paid), borrowed so that the block's
/// bytes are copied once, into the log's batch.
#[derive(Debug)]
pub struct Packed<'a> {
    /// The clump's header.
    pub header: ClumpHeader,
    encoded: [u8; ClumpHeader::SIZE],
    data: Cow<'a, [u8]>,
}

impl Packed<'_> {
    /// The clump's bytes in log order: header, then data.
    pub fn parts(&self) -> [&[u8]; 2] {
        [&self.encoded, &self.data]
    }

    /// Bytes the clump occupies in the log.
    pub fn log_len(&self) -> u64 {
        self.header.clump_len()
    }
}

/// Bytes of a block whose distinct values are counted ([`few_values`]).
const SAMPLE: usize = 256;

/// Distinct byte values in a block's first [`SAMPLE`] bytes below which
/// LZ4 is tried on the whole block without a probe. Of the 8 KiB blocks of
/// Python's library below it, 6,020 of 6,076 shrank by an eighth or more;
/// random bytes show about 162.
const FEW_VALUES: usize = 64;

/// True if the block's first bytes take fewer than [`FEW_VALUES`] values:
/// a guess, far cheaper than the probe, that LZ4 pays.
fn few_values(block: &[u8]) -> bool {
    let mut seen = [0u8; 256];
    for &b in &block[..block.len().min(SAMPLE)] {
        seen[usize::from(b)] = 1;
    }
    seen.iter().map(|&s| usize::from(s)).sum::<usize>() < FEW_VALUES
}

/// Packs a block whose score is known. LZ4 is tried on a block whose first
/// bytes take few values ([`few_values`]), or else when compressing a short
/// prefix saves at least an eighth; it is kept only when the whole result
/// is smaller.
pub fn pack(ty: BlockType, score: Score, block: &[u8]) -> Packed<'_> {
    debug_assert!(!block.is_empty() && block.len() <= MAX_BLOCK);
    let probe = &block[..block.len().min(PROBE)];
    let data = (block.len() >= 64
        && (few_values(block)
            || lz4_flex::block::compress(probe).len() < probe.len() - probe.len() / 8))
        .then(|| lz4_flex::block::compress(block))
        .filter(|c| c.len() < block.len())
        .map_or(Cow::Borrowed(block), Cow::Owned);
    let encoding = match data {
        Cow::Owned(_) => Encoding::Lz4,
        Cow::Borrowed(_) => Encoding::Raw,
    };
    // Sizes fit u16: blocks are at most MAX_BLOCK (57344) bytes.
    let header = ClumpHeader {
        ty,
        encoding,
        size: data.len() as u16,
        uncsize: block.len() as u16,
        score,
        data_crc: crc32c::crc32c(&data),
    };
    Packed {
        header,
        encoded: header.encode(),
        data,
    }
}

/// The check a stored clump failed: what [`Error::Corrupt`](crate::Error)
/// and `check`'s problems name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClumpCheck {
    /// Fewer than 40 bytes where a header should be.
    #[error("short clump header")]
    ShortHeader,
    /// The header does not start with the clump magic.
    #[error("bad clump magic")]
    Magic,
    /// The header's CRC32C does not match.
    #[error("clump header checksum mismatch")]
    HeaderChecksum,
    /// The header's block type is not a valid one.
    #[error("bad block type in clump header")]
    BlockType,
    /// The encoding is unknown or disagrees with the sizes.
    #[error("bad clump encoding")]
    Encoding,
    /// A size of 0, past the largest block, or a reserved field set.
    #[error("bad clump size")]
    Size,
    /// The stored data's CRC32C does not match the header's.
    #[error("clump data checksum mismatch")]
    DataChecksum,
    /// The header's size runs past the end of the log.
    #[error("clump runs past the end of the log")]
    PastLogEnd,
    /// Bytes after the last clump that are not a whole clump.
    #[error("trailing bytes after the last clump")]
    TrailingBytes,
    /// The file ends inside the clump.
    #[error("clump cut short")]
    CutShort,
    /// The stored data is not as long as the header says.
    #[error("stored data has the wrong length")]
    StoredLength,
    /// The compressed data does not decompress to the header's size.
    #[error("bad compressed data")]
    Decompress,
    /// The header names another block than the index entry that led here.
    #[error("clump header does not match the index")]
    NotAsIndexed,
    /// The block's SHA-1 is not its score.
    #[error("SHA-1 of the block does not match its score")]
    Sha1,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> impl Strategy<Value = ClumpHeader> {
        (
            prop::sample::select(vec![1u8, 2, 3, 4, 5, 6, 7, 8, 9, 13]),
            any::<bool>(),
            1..=MAX_BLOCK as u16,
            any::<u16>(),
            any::<[u8; 20]>(),
            any::<u32>(),
        )
            .prop_map(|(t, lz, unc, sz, score, crc)| {
                let (encoding, size) = if lz && unc > 1 {
                    (Encoding::Lz4, sz % (unc - 1))
                } else {
                    (Encoding::Raw, unc)
                };
                ClumpHeader {
                    ty: BlockType::from_wire(t).unwrap(),
                    encoding,
                    size,
                    uncsize: unc,
                    score: Score(score),
                    data_crc: crc,
                }
            })
    }

    proptest! {
        #[test]
        fn header_round_trips(h in header()) {
            let b = h.encode();
            prop_assert_eq!(ClumpHeader::decode(&b).unwrap(), h);
        }

        #[test]
        fn any_flipped_header_bit_is_caught(h in header(), bit in 0usize..320) {
            let mut b = h.encode();
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(ClumpHeader::decode(&b).is_err());
        }

        #[test]
        fn pack_unpack(block in prop::collection::vec(any::<u8>(), 1..3000), zeros in 0usize..5000) {
            let mut block = block;
            block.extend(std::iter::repeat_n(7u8, zeros));
            let score = Score::of(&block);
            let packed = pack(BlockType::DATA, score, &block);
            let (header, clump) = (packed.header, packed.parts().concat());
            let h = ClumpHeader::decode(&clump).unwrap();
            prop_assert_eq!(h, header);
            prop_assert_eq!(h.clump_len() as usize, clump.len());
            prop_assert_eq!(packed.log_len() as usize, clump.len());
            prop_assert_eq!(h.data_crc, crc32c::crc32c(&clump[ClumpHeader::SIZE..]));
            prop_assert_eq!(h.unpack(&clump[ClumpHeader::SIZE..]).unwrap(), block);
        }
    }

    #[test]
    fn compresses_only_when_it_pays() {
        let zeros = vec![1u8; 8192];
        let p = pack(BlockType::DATA, Score::of(&zeros), &zeros);
        let (h, c) = (p.header, p.parts().concat());
        assert_eq!(h.encoding, Encoding::Lz4);
        assert!(c.len() < 200);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..8192)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let p = pack(BlockType::DATA, Score::of(&noise), &noise);
        let (h, c) = (p.header, p.parts().concat());
        assert_eq!(h.encoding, Encoding::Raw);
        assert_eq!(c.len(), 8192 + ClumpHeader::SIZE);
        // Few values, yet nothing LZ4 can shorten: tried, and not kept.
        let few: Vec<u8> = noise.iter().map(|b| b'a' + b % 32).collect();
        assert!(few_values(&few));
        let p = pack(BlockType::DATA, Score::of(&few), &few);
        assert_eq!(p.header.encoding, Encoding::Raw);
        assert!(!few_values(&noise));
    }
}
