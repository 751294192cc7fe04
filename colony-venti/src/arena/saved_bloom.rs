//! `DIR/bloom`: the bloom filter saved as of a point in the log, with the
//! active arena's running checksum and totals there, so opening reads
//! neither the whole index nor the whole active arena. Layout in
//! [`super::format`]. It is a cache: a missing, damaged or mismatched file
//! is ignored and the filter rebuilt from the index.

use super::Totals;
use super::bloom::Bloom;
use super::bucket::Watermark;
use super::disk::{Disk, path_of};
use super::format::{BLOOM_MAGIC, VERSION, be32, be64, io_error};
use crate::error::Result;

/// The log position a saved filter covers, and the arena state there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BloomState {
    /// Every score in the log before this point is in the filter.
    pub watermark: Watermark,
    /// CRC32C of bytes `0..watermark.offset` of arena `watermark.arena`
    /// and its totals there, when that arena was the active one.
    pub active: Option<(u32, Totals)>,
}

/// Bytes before the filter.
pub const HEADER_SIZE: usize = 56;

/// The file's bytes: header, then the filter.
pub fn encode(state: &BloomState, bloom: &Bloom) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_SIZE + bloom.bytes());
    b.extend_from_slice(&BLOOM_MAGIC.to_be_bytes());
    b.extend_from_slice(&VERSION.to_be_bytes());
    b.extend_from_slice(&bloom.log_bits().to_be_bytes());
    b.extend_from_slice(&state.watermark.arena.to_be_bytes());
    b.extend_from_slice(&state.watermark.offset.to_be_bytes());
    let (flags, crc, t) = match state.active {
        Some((crc, t)) => (1u32, crc, t),
        None => (0, 0, Totals::default()),
    };
    b.extend_from_slice(&flags.to_be_bytes());
    b.extend_from_slice(&crc.to_be_bytes());
    b.extend_from_slice(&t.clumps.to_be_bytes());
    b.extend_from_slice(&t.uncompressed.to_be_bytes());
    b.extend_from_slice(&t.stored.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&bloom.to_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..52]), &b[HEADER_SIZE..]);
    b[52..56].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Decodes and verifies the file's bytes.
pub fn decode(b: &[u8]) -> Result<(BloomState, Bloom), &'static str> {
    if b.len() < HEADER_SIZE || be32(b, 0) != BLOOM_MAGIC {
        return Err("bad bloom magic");
    }
    if be32(b, 4) != VERSION {
        return Err("unknown bloom version");
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..52]), &b[HEADER_SIZE..]);
    if be32(b, 52) != crc {
        return Err("bloom checksum mismatch");
    }
    let bloom = Bloom::from_bytes(be32(b, 8), &b[HEADER_SIZE..]).ok_or("bloom size mismatch")?;
    let active = match be32(b, 24) {
        0 => None,
        1 => Some((
            be32(b, 28),
            Totals {
                clumps: be32(b, 32),
                uncompressed: be64(b, 36),
                stored: be64(b, 44),
            },
        )),
        _ => return Err("unknown bloom flags"),
    };
    let state = BloomState {
        watermark: Watermark {
            arena: be32(b, 12),
            offset: be64(b, 16),
        },
        active,
    };
    Ok((state, bloom))
}

/// The saved filter's name in a store directory.
const BLOOM: &str = "bloom";
/// The name it is written under before it replaces [`BLOOM`].
const BLOOM_TMP: &str = "bloom.tmp";

/// Writes the file through a temporary renamed into place. Not synced: a
/// crash leaves the old file, or one that fails its checksum.
pub fn save(disk: &dyn Disk, state: &BloomState, bloom: &Bloom) -> Result<()> {
    let tmp = path_of(disk, BLOOM_TMP);
    disk.create(BLOOM_TMP)
        .and_then(|f| f.write_at(&encode(state, bloom), 0))
        .map_err(|e| io_error("write", &tmp, e))?;
    disk.rename(BLOOM_TMP, BLOOM)
        .map_err(|e| io_error("rename", &path_of(disk, BLOOM), e))
}

/// The saved filter, if there is a valid one.
pub fn load(disk: &dyn Disk) -> Option<(BloomState, Bloom)> {
    let file = disk.open(BLOOM).ok()?;
    let mut bytes = vec![0u8; usize::try_from(file.len().ok()?).ok()?];
    file.read_at(&mut bytes, 0).ok()?;
    match decode(&bytes) {
        Ok(saved) => Some(saved),
        Err(reason) => {
            let dir = disk.path().display();
            tracing::warn!(%dir, reason, "saved bloom filter ignored; rebuilding");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::Score;

    #[test]
    fn round_trips_and_every_flipped_byte_is_refused() {
        let bloom = Bloom::new(12);
        bloom.insert(&Score::of(b"x"));
        for active in [
            None,
            Some((
                0xdead_beef,
                Totals {
                    clumps: 3,
                    uncompressed: 900,
                    stored: 700,
                },
            )),
        ] {
            let state = BloomState {
                watermark: Watermark {
                    arena: 2,
                    offset: 12345,
                },
                active,
            };
            let b = encode(&state, &bloom);
            assert_eq!(b.len(), HEADER_SIZE + 512);
            let (got, got_bloom) = decode(&b).unwrap();
            assert_eq!(got, state);
            assert_eq!(got_bloom.to_bytes(), bloom.to_bytes());
            for i in 0..b.len() {
                let mut bad = b.clone();
                bad[i] ^= 0x10;
                assert!(decode(&bad).is_err(), "flip at {i} accepted");
            }
            assert!(decode(&b[..b.len() - 8]).is_err());
        }
    }
}
