//! `VtEntry`: the 40-byte descriptor of one stream (spec §4.1, §4.3).

use colony_venti::{BlockType, Score};

use crate::bytes::Reader;
use crate::error::{Error, Result};

/// Size of an encoded entry.
pub const ENTRY_SIZE: usize = 40;

/// Flag bits as stored in byte 8, besides Dir, depth and Big which
/// [`Entry`] holds as fields.
pub mod flags {
    /// The slot is in use.
    pub const ACTIVE: u8 = 0x01;
    /// The stream's leaves are entries (a directory stream).
    pub const DIR: u8 = 0x02;
    /// Depth is stored in bits 2..=4.
    pub const DEPTH_SHIFT: u8 = 2;
    /// Mask of the depth bits.
    pub const DEPTH_MASK: u8 = 0x1c;
    /// Local-storage bookkeeping; plan9port vac leaves it set in archives.
    pub const LOCAL: u8 = 0x20;
    /// `psize` and `dsize` use the big encoding.
    pub const BIG: u8 = 0x40;
    /// Fossil: do not archive this stream.
    pub const NO_ARCHIVE: u8 = 0x80;
}

/// One stream descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Generation number (vac writes 0).
    pub generation: u32,
    /// Pointer-block size in bytes.
    pub psize: u32,
    /// Leaf-block size in bytes.
    pub dsize: u32,
    /// True for a directory stream (leaves are entries).
    pub dir: bool,
    /// Pointer-tree depth, 0..=7.
    pub depth: u8,
    /// Remaining flag bits: [`flags::ACTIVE`], [`flags::LOCAL`],
    /// [`flags::NO_ARCHIVE`].
    pub flags: u8,
    /// Logical length of the stream in bytes (48 bits).
    pub size: u64,
    /// Top of the tree; [`Score::EMPTY`] for an empty or all-zero stream.
    pub score: Score,
}

/// Largest stream size an entry can hold.
pub const MAX_SIZE: u64 = (1 << 48) - 1;

impl Entry {
    /// An active, empty stream with the given geometry.
    pub fn empty(psize: u32, dsize: u32, dir: bool) -> Entry {
        Entry {
            generation: 0,
            psize,
            dsize,
            dir,
            depth: 0,
            flags: flags::ACTIVE,
            size: 0,
            score: Score::EMPTY,
        }
    }

    /// True if the slot is in use.
    pub fn is_active(&self) -> bool {
        self.flags & flags::ACTIVE != 0
    }

    /// Block type of the tree's top block.
    pub fn top_type(&self) -> BlockType {
        if self.depth == 0 {
            self.leaf_type()
        } else {
            BlockType::pointer(self.depth).unwrap_or(BlockType::DATA)
        }
    }

    /// Block type of the leaves.
    pub fn leaf_type(&self) -> BlockType {
        if self.dir {
            BlockType::DIR
        } else {
            BlockType::DATA
        }
    }

    /// Encodes into 40 bytes. Sizes of 64 KiB or more use the big encoding.
    pub fn encode(&self) -> Result<[u8; ENTRY_SIZE]> {
        if self.depth > BlockType::MAX_DEPTH {
            return Err(Error::Unrepresentable(format!("depth {}", self.depth)));
        }
        if self.size > MAX_SIZE {
            return Err(Error::Unrepresentable(format!("stream size {}", self.size)));
        }
        let mut f = self.flags & !(flags::DIR | flags::DEPTH_MASK | flags::BIG);
        if self.dir {
            f |= flags::DIR;
        }
        f |= self.depth << flags::DEPTH_SHIFT;
        let (p, d) = if self.psize >= 65536 || self.dsize >= 65536 {
            f |= flags::BIG;
            (big_encode(self.psize)?, big_encode(self.dsize)?)
        } else {
            (self.psize as u16, self.dsize as u16)
        };
        let mut out = [0u8; ENTRY_SIZE];
        out[0..4].copy_from_slice(&self.generation.to_be_bytes());
        out[4..6].copy_from_slice(&p.to_be_bytes());
        out[6..8].copy_from_slice(&d.to_be_bytes());
        out[8] = f;
        out[14..20].copy_from_slice(&self.size.to_be_bytes()[2..]);
        out[20..40].copy_from_slice(&self.score.0);
        Ok(out)
    }

    /// Decodes 40 bytes (more are ignored). No validation beyond the
    /// length: inactive slots may hold anything, see [`Entry::check`].
    pub fn decode(buf: &[u8]) -> Result<Entry> {
        let mut r = Reader::new(buf, "VtEntry");
        let generation = r.u32("gen")?;
        let p = r.u16("psize")?;
        let d = r.u16("dsize")?;
        let f = r.u8("flags")?;
        r.bytes(5, "reserved")?;
        let hi = r.u16("size")? as u64;
        let lo = r.u32("size")? as u64;
        let score = Score::from_slice(r.bytes(Score::SIZE, "score")?);
        let (psize, dsize) = if f & flags::BIG != 0 {
            (big_decode(p), big_decode(d))
        } else {
            (p as u32, d as u32)
        };
        Ok(Entry {
            generation,
            psize,
            dsize,
            dir: f & flags::DIR != 0,
            depth: (f & flags::DEPTH_MASK) >> flags::DEPTH_SHIFT,
            flags: f & !(flags::DIR | flags::DEPTH_MASK | flags::BIG),
            size: hi << 32 | lo,
            score,
        })
    }

    /// Entry `index` of a (zero-extended) dir block.
    pub fn decode_at(block: &[u8], index: usize) -> Result<Entry> {
        let start = index * ENTRY_SIZE;
        block
            .get(start..start + ENTRY_SIZE)
            .ok_or_else(|| Error::format("VtEntry", format!("slot {index} is past the block")))
            .and_then(Entry::decode)
    }

    /// What libventi checks before using an active entry (`vtentryunpack`,
    /// `vtfilealloc`): the legacy 0/0 fix-up, sizes of at least 256 bytes,
    /// and a depth deep enough for the size. Returns the fixed-up entry.
    pub fn check(mut self) -> Result<Entry> {
        if !self.is_active() {
            return Err(Error::format("VtEntry", "slot is not active"));
        }
        if self.psize == 0 && self.dsize == 0 && self.score == Score::EMPTY {
            self.psize = 4096;
            self.dsize = 4096;
        }
        if self.psize < 256 || self.dsize < 256 {
            return Err(Error::format(
                "VtEntry",
                format!(
                    "psize {} dsize {}: both must be at least 256",
                    self.psize, self.dsize
                ),
            ));
        }
        let need = crate::tree::depth_for(self.size, self.psize, self.dsize);
        if need > BlockType::MAX_DEPTH as u32 || (self.depth as u32) < need {
            return Err(Error::format(
                "VtEntry",
                format!("depth {} too small for size {}", self.depth, self.size),
            ));
        }
        Ok(self)
    }
}

/// Big size encoding (§4.3): `(m << 5) | e` meaning `m << e`.
pub fn big_encode(n: u32) -> Result<u16> {
    let mut m = n;
    let mut e = 0u32;
    while m >= 2048 {
        if m & 1 != 0 {
            return Err(Error::Unrepresentable(format!(
                "block size {n} in big encoding"
            )));
        }
        m >>= 1;
        e += 1;
    }
    Ok(((m << 5) | e) as u16)
}

/// Inverse of [`big_encode`].
/// Values too large for 32 bits come out as `u32::MAX`, which every check
/// rejects.
pub fn big_decode(v: u16) -> u32 {
    let n = ((v >> 5) as u64) << (v & 31);
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Largest block size a reader accepts (1 MiB): bigger values in a
/// damaged entry would make readers allocate without bound.
pub const MAX_READ_BLOCK: u32 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_example_hello() {
        // §7.3: the file "hello\n", vac geometry, Local cleared.
        let e = Entry {
            size: 6,
            score: Score::of(b"hello\n"),
            ..Entry::empty(8180, 8192, false)
        };
        let hex = hex::encode(e.encode().unwrap());
        assert_eq!(
            hex,
            concat!(
                "00000000",
                "1ff4",
                "2000",
                "01",
                "0000000000",
                "000000000006",
                "f572d396fae9206628714fb2ce00f72e94f2258f"
            )
        );
        assert_eq!(Entry::decode(&e.encode().unwrap()).unwrap(), e);
    }

    #[test]
    fn big_encoding_examples() {
        assert_eq!(big_encode(65536).unwrap(), 0x8006);
        assert_eq!(big_encode(131072).unwrap(), 0x8007);
        assert_eq!(big_encode(8180).unwrap(), 0xffa2);
        assert!(big_encode(100000).is_err());
        assert_eq!(big_decode(0xffa2), 8180);
        let e = Entry::empty(65536, 131072, true);
        let b = e.encode().unwrap();
        assert_eq!(b[8] & flags::BIG, flags::BIG);
        assert_eq!(Entry::decode(&b).unwrap(), e);
    }

    #[test]
    fn check_rejects_bad_entries() {
        let mut e = Entry::empty(8180, 8192, false);
        assert!(e.check().is_ok());
        e.size = 20000; // needs depth 1
        assert!(e.check().is_err());
        e.depth = 1;
        assert!(e.check().is_ok());
        assert!(Entry::empty(100, 8192, false).check().is_err());
        let legacy = Entry::empty(0, 0, false).check().unwrap();
        assert_eq!((legacy.psize, legacy.dsize), (4096, 4096));
        assert!(Entry::decode(&[0u8; 39]).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(generation: u32, psize in 256u32..65536, dsize in 256u32..65536, dir: bool,
                      depth in 0u8..8, f in prop::sample::select(vec![0u8, 1, 0x21, 0x81, 0xa1]),
                      size in 0u64..=MAX_SIZE, score: [u8; 20]) {
            let e = Entry { generation, psize, dsize, dir, depth, flags: f, size, score: Score(score) };
            let b = e.encode().unwrap();
            prop_assert_eq!(Entry::decode(&b).unwrap(), e);
        }

        #[test]
        fn decode_never_panics(b in prop::collection::vec(any::<u8>(), 0..60)) {
            if let Ok(e) = Entry::decode(&b) { let _ = e.check(); }
        }
    }
}
