//! The records at both ends of an arena file: the head, written when the
//! arena is created, and the trailer that seals it.

use super::format::{ARENA_MAGIC, TRAILER_MAGIC, VERSION, be32, be64};

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
    /// Encoded bytes used (the rest of [`HEAD_SIZE`](super::format::HEAD_SIZE) is zero).
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
    /// Encoded bytes used (the rest of [`TRAILER_SIZE`](super::format::TRAILER_SIZE) is zero).
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
