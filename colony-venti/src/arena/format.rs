//! The on-disk format of an [`ArenaStore`](super::ArenaStore) directory.
//!
//! Inspired by Plan 9 venti's arenas, but our own format. Every integer is
//! **big-endian**. Every checksum is **CRC32C** (Castagnoli).
//!
//! # Files
//!
//! ```text
//! DIR/arena.00000000   first arena (numbered from 0, eight decimal digits)
//! DIR/arena.00000001   ...
//! DIR/arena.NNNNNNNN.new  the next arena, made ahead of need (head written,
//!                      space reserved) and renamed when the active arena
//!                      fills; removed at open if a crash left it
//! DIR/index            hash index: score -> (arena, offset)
//! DIR/bloom            saved bloom filter and active-arena state (a cache)
//! DIR/lock             empty; an open store holds an exclusive flock on it
//! DIR/.colony-data     marker (`DATA_MARKER`): seeding a snapshot leaves
//!                      the directory out
//! ```
//!
//! One process at a time: `ArenaStore::open` fails with `Error::Locked`
//! while another open store holds the lock (even in the same process).
//!
//! # Arena file (`S` = arena size, fixed when the arena is created)
//!
//! ```text
//! 0          head (512 bytes, then clumps)
//! 512        clump, clump, ...   (byte-packed, growing up)
//! tail       end of the log; an unsealed arena's file ends here
//! S - 64     trailer (64 bytes), written when the arena is sealed
//! ```
//!
//! Head (`ArenaHead`, 32 bytes used, zero to 512):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `0x636f6c41` ("colA") |
//! | 4 | 4 | version, 1 |
//! | 8 | 4 | arena number (matches the file name) |
//! | 12 | 8 | arena size `S` in bytes |
//! | 20 | 8 | creation time, seconds since the epoch |
//! | 28 | 4 | CRC32C of bytes 0..28 |
//!
//! Clump (`ClumpHeader`, 40 bytes, then `size` bytes of data):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `0x636f6c43` ("colC"); 0 where the log ends |
//! | 4 | 1 | block type, wire numbering (1..=9, 13) |
//! | 5 | 1 | encoding: 1 stored as is, 2 LZ4 block (only when smaller) |
//! | 6 | 2 | `size`: data bytes stored after the header |
//! | 8 | 2 | `uncsize`: block length (1..=57344); equals `size` for encoding 1 |
//! | 10 | 20 | score: SHA-1 of the uncompressed block |
//! | 30 | 4 | CRC32C of the stored data (finds torn writes cheaply) |
//! | 34 | 2 | reserved, 0 |
//! | 36 | 4 | CRC32C of header bytes 0..36 |
//!
//! Trailer (`ArenaTrailer`, at `S - 64`, 48 bytes used, zero to 64):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `0x636f6c54` ("colT") |
//! | 4 | 4 | version, 1 |
//! | 8 | 4 | arena number |
//! | 12 | 4 | clumps in the arena |
//! | 16 | 8 | `used`: offset where the log ends (the tail) |
//! | 24 | 8 | sum of `uncsize` |
//! | 32 | 8 | sum of `size` |
//! | 40 | 4 | CRC32C of arena bytes `0..used` (head and every clump) |
//! | 44 | 4 | CRC32C of trailer bytes 0..44 |
//!
//! A clump is written only if it fits below `S - 64`; otherwise the arena is
//! sealed (trailer written, file synced) and the next arena starts.
//!
//! # Index file
//!
//! A header page, then `2^bits` bucket pages of 4096 bytes each. A score's
//! bucket is the top `bits` bits of its first eight bytes (scores are
//! uniform). When a bucket would overflow, the table doubles: bucket `i`
//! splits into `2i` and `2i+1`, written to a new file renamed over the old.
//!
//! Header (`IndexHeader`, page 0, 40 bytes used, zero to 4096):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `0x636f6c49` ("colI") |
//! | 4 | 4 | version, 1 |
//! | 8 | 4 | `bits`: the table has `2^bits` buckets |
//! | 12 | 4 | bucket page size, 4096 |
//! | 16 | 8 | entries in the table |
//! | 24 | 4 | watermark arena number |
//! | 28 | 8 | watermark offset: every clump before (arena, offset) is indexed |
//! | 36 | 4 | CRC32C of bytes 0..36 |
//!
//! Bucket (`Bucket`, 4096 bytes at `4096 * (1 + i)`):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 2 | entry count (0..=127) |
//! | 2 | 2 | reserved, 0 |
//! | 4 | 4 | CRC32C of bytes 0..4 followed by the `count` entries |
//! | 8 | 32 × count | entries; the rest of the page is zero |
//!
//! Entry (`IndexEntry`, 32 bytes):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 20 | score |
//! | 20 | 1 | block type (wire) |
//! | 21 | 1 | reserved, 0 |
//! | 22 | 2 | stored data size (so a read is one `pread` of 40 + size) |
//! | 24 | 4 | arena number |
//! | 28 | 4 | offset of the clump header in the arena |
//!
//! # Saved bloom filter (`bloom`)
//!
//! Written (to `bloom.tmp`, renamed into place) when the store closes and
//! by `sync` once 64 MiB of log have been appended since the last save.
//! Valid for the log before its watermark; opening loads it, adds the
//! scores of the clumps after the watermark, and skips reading the whole
//! index and active arena. A missing or damaged file, or one whose size
//! does not match the index, is ignored and the filter is rebuilt from
//! the index (which verifies every bucket).
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `0x636f6c42` ("colB") |
//! | 4 | 4 | version, 1 |
//! | 8 | 4 | `log_bits`: the filter has `2^log_bits` bits |
//! | 12 | 4 | watermark arena number |
//! | 16 | 8 | watermark offset |
//! | 24 | 4 | flags: 1 if the next 24 bytes describe the watermark arena |
//! | 28 | 4 | CRC32C of that arena's bytes `0..offset` |
//! | 32 | 4 | clumps in it before the offset |
//! | 36 | 8 | sum of their `uncsize` |
//! | 44 | 8 | sum of their `size` |
//! | 52 | 4 | CRC32C of bytes 0..52 followed by the filter |
//! | 56 | 2^log_bits / 8 | the filter, big-endian 64-bit words |
//!
//! # Durability and recovery
//!
//! A write is durable once [`sync`](crate::BlockStore::sync) returns, as in
//! venti. `sync` first writes the active arena's append buffer and
//! `fdatasync`s the arena, then writes the index buckets, syncs them, and
//! only then advances the watermark. Index entries therefore never point
//! past synced log. A new arena's whole size is reserved with `fallocate`
//! (`FALLOC_FL_KEEP_SIZE`, so the file length still marks the tail).
//!
//! On open, the log past the watermark is scanned (header CRC, then data
//! CRC, resynchronising on the clump magic past damage); the log ends after
//! the last valid clump, the file is cut there (a torn tail), and the
//! clumps past the watermark are indexed. A missing or damaged index, or
//! one whose watermark lies past the log, is rebuilt from the arenas.

use std::path::Path;

use crate::error::Error;

/// Arena head magic, "colA".
pub const ARENA_MAGIC: u32 = 0x636f_6c41;
/// Clump magic, "colC".
pub const CLUMP_MAGIC: u32 = 0x636f_6c43;
/// Arena trailer magic, "colT".
pub const TRAILER_MAGIC: u32 = 0x636f_6c54;
/// Saved bloom filter magic, "colB".
pub const BLOOM_MAGIC: u32 = 0x636f_6c42;
/// Index header magic, "colI".
pub const INDEX_MAGIC: u32 = 0x636f_6c49;
/// Version of every record above.
pub const VERSION: u32 = 1;
/// Bytes reserved for the arena head; the log starts here.
pub const HEAD_SIZE: u64 = 512;
/// Bytes reserved for the trailer at the end of a sealed arena.
pub const TRAILER_SIZE: u64 = 64;
/// Size of an index page (header and buckets).
pub const PAGE_SIZE: usize = 4096;

pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

pub(crate) fn be64(b: &[u8], off: usize) -> u64 {
    (u64::from(be32(b, off)) << 32) | u64::from(be32(b, off + 4))
}

/// Maps an I/O error to the crate's error, singling out a full disk.
pub(crate) fn io_error(op: &'static str, path: &Path, e: std::io::Error) -> Error {
    io_error_at(op, path, None, e)
}

/// [`io_error`] for positioned I/O at `offset`.
pub(crate) fn io_error_at(
    op: &'static str,
    path: &Path,
    offset: Option<u64>,
    source: std::io::Error,
) -> Error {
    use std::io::ErrorKind;
    let path = path.to_path_buf();
    if matches!(
        source.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded
    ) {
        Error::DiskFull {
            op,
            path,
            offset,
            source,
        }
    } else {
        Error::Io {
            op,
            path,
            offset,
            source,
        }
    }
}
