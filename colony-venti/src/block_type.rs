//! Block types, in the wire ("disk") numbering, with zero truncation and
//! re-extension as libventi does them.

use std::fmt;

use crate::error::Error;
use crate::score::Score;

/// The type of a block, stored as its wire number: root 1, dir 2, pointer
/// depth 1..=7 as 3..=9, data 13. A block is the pair (score, type); the
/// same bytes stored under two types are two blocks.
///
/// ```
/// use colony_venti::BlockType;
/// assert_eq!(BlockType::DATA.wire(), 13);
/// assert_eq!(BlockType::pointer(1).unwrap().wire(), 3);
/// // Plan 9 tools' `-t` flag uses the libventi numbering.
/// assert_eq!(BlockType::from_libventi(3).unwrap(), BlockType::pointer(3).unwrap());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockType(u8);

impl BlockType {
    /// A 300-byte `VtRoot`.
    pub const ROOT: BlockType = BlockType(1);
    /// A leaf block of 40-byte `VtEntry`s.
    pub const DIR: BlockType = BlockType(2);
    /// A leaf data block.
    pub const DATA: BlockType = BlockType(13);
    /// Deepest pointer tree libventi allows.
    pub const MAX_DEPTH: u8 = 7;

    /// The pointer type at height `depth` (1..=7) above the leaves. Data
    /// and dir trees share these numbers on the wire.
    pub fn pointer(depth: u8) -> Option<BlockType> {
        (1..=Self::MAX_DEPTH)
            .contains(&depth)
            .then_some(BlockType(2 + depth))
    }

    /// Validates a wire type number: 1..=9 or 13.
    pub fn from_wire(wire: u8) -> Result<BlockType, Error> {
        match wire {
            1..=9 | 13 => Ok(BlockType(wire)),
            _ => Err(Error::BadType(wire)),
        }
    }

    /// Translates libventi's in-memory numbering (`vttodisktype`): 0 data,
    /// 1..=7 data pointers, 8 dir, 9..=15 dir pointers, 16 root.
    pub fn from_libventi(t: u8) -> Result<BlockType, Error> {
        match t {
            0 => Ok(Self::DATA),
            1..=7 => Ok(BlockType(2 + t)),
            8 => Ok(Self::DIR),
            9..=15 => Ok(BlockType(t - 6)),
            16 => Ok(Self::ROOT),
            _ => Err(Error::BadType(t)),
        }
    }

    /// The wire number.
    pub fn wire(self) -> u8 {
        self.0
    }

    /// The libventi number (`vtfromdisktype`). Pointers map to the dir
    /// pointer types, as plan9port prints them in error strings.
    pub fn libventi(self) -> u8 {
        match self.0 {
            1 => 16,
            2 => 8,
            13 => 0,
            p => p + 6,
        }
    }

    /// Pointer depth (1..=7), or 0 for leaves and roots.
    pub fn depth(self) -> u8 {
        if self.is_pointer() { self.0 - 2 } else { 0 }
    }

    /// True for pointer blocks.
    pub fn is_pointer(self) -> bool {
        (3..=9).contains(&self.0)
    }

    /// The bytes of `block` that are stored and hashed (`vtzerotruncate`):
    /// a root is cut to 300 bytes and never stripped; data and dir blocks
    /// lose trailing zero bytes; pointer blocks lose a partial trailing
    /// slot, then trailing slots equal to [`Score::EMPTY`].
    pub fn truncate(self, block: &[u8]) -> &[u8] {
        if self == Self::ROOT {
            return &block[..block.len().min(ROOT_SIZE)];
        }
        if !self.is_pointer() {
            return &block[..without_trailing_zeros(block)];
        }
        let mut end = block.len() / Score::SIZE * Score::SIZE;
        while end >= Score::SIZE && block[end - Score::SIZE..end] == Score::EMPTY.0 {
            end -= Score::SIZE;
        }
        &block[..end]
    }

    /// Pads a stored block back to `size` bytes (`vtzeroextend`): zeros for
    /// data, dir and root; [`Score::EMPTY`] slots for pointers, then zeros
    /// for any slop shorter than a slot. A block already `size` bytes or
    /// longer is left as it is.
    pub fn extend(self, block: &mut Vec<u8>, size: usize) {
        if block.len() >= size {
            return;
        }
        if self.is_pointer() {
            let whole = size / Score::SIZE * Score::SIZE;
            // A well-formed pointer block is whole slots; zero any partial slot first.
            let start = block.len().div_ceil(Score::SIZE) * Score::SIZE;
            block.resize(start.min(size), 0);
            while block.len() + Score::SIZE <= whole {
                block.extend_from_slice(&Score::EMPTY.0);
            }
        }
        block.resize(size, 0);
    }
}

/// Size of a `VtRoot` block.
pub const ROOT_SIZE: usize = 300;

impl fmt::Display for BlockType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ROOT => f.write_str("root"),
            Self::DIR => f.write_str("dir"),
            Self::DATA => f.write_str("data"),
            p => write!(f, "pointer{}", p.depth() - 1),
        }
    }
}

impl fmt::Debug for BlockType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockType({self}/{})", self.0)
    }
}

/// The length of `block` without its trailing zero bytes. Skips zeros a
/// 32-byte chunk at a time (the compiler ORs a chunk with vector
/// instructions): a fossil truncates every metadata block it changes,
/// mostly zeros past a few entries, and a byte at a time that scan cost
/// microseconds of each FUSE request changing metadata.
fn without_trailing_zeros(block: &[u8]) -> usize {
    const CHUNK: usize = 32;
    let whole = block.len() / CHUNK * CHUNK;
    let last = |bytes: &[u8]| bytes.iter().rposition(|&b| b != 0).map(|i| i + 1);
    if let Some(end) = last(&block[whole..]) {
        return whole + end;
    }
    let zero_chunks = block[..whole]
        .rchunks_exact(CHUNK)
        .take_while(|c| c.iter().fold(0, |acc, &b| acc | b) == 0)
        .count();
    let end = whole - zero_chunks * CHUNK;
    last(&block[..end]).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all() -> impl Iterator<Item = BlockType> {
        (0..=255u8).filter_map(|w| BlockType::from_wire(w).ok())
    }

    #[test]
    fn wire_numbering() {
        let wires: Vec<u8> = all().map(BlockType::wire).collect();
        assert_eq!(wires, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 13]);
        for bad in [0u8, 10, 11, 12, 14, 255] {
            assert!(matches!(BlockType::from_wire(bad), Err(Error::BadType(b)) if b == bad));
        }
        assert_eq!(BlockType::pointer(0), None);
        assert_eq!(BlockType::pointer(8), None);
        assert_eq!(BlockType::pointer(7).unwrap().wire(), 9);
    }

    #[test]
    fn libventi_translation_matches_spec_table() {
        // vttodisktype
        let to: Vec<(u8, u8)> = (0..=17u8)
            .map(|t| (t, BlockType::from_libventi(t).map_or(255, BlockType::wire)))
            .collect();
        let want = [13, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5, 6, 7, 8, 9, 1, 255];
        for ((t, w), want) in to.into_iter().zip(want) {
            assert_eq!(w, want, "libventi {t}");
        }
        // vtfromdisktype: pointers come back as dir pointers (9..=15).
        assert_eq!(BlockType::DATA.libventi(), 0);
        assert_eq!(BlockType::DIR.libventi(), 8);
        assert_eq!(BlockType::ROOT.libventi(), 16);
        assert_eq!(BlockType::from_wire(3).unwrap().libventi(), 9);
        assert_eq!(BlockType::from_wire(9).unwrap().libventi(), 15);
    }

    #[test]
    fn names() {
        assert_eq!(BlockType::pointer(1).unwrap().to_string(), "pointer0");
        assert_eq!(BlockType::DATA.to_string(), "data");
    }

    #[test]
    fn truncation_rules() {
        let d = BlockType::DATA;
        assert_eq!(d.truncate(&[1, 0, 2, 0, 0]), &[1, 0, 2]);
        assert_eq!(d.truncate(&[0, 0]), &[] as &[u8]);
        // Past the whole 32-byte chunks, in them, and across them.
        for (len, nonzero) in [
            (100, 99),
            (100, 96),
            (100, 95),
            (100, 31),
            (100, 0),
            (64, 40),
        ] {
            let mut block = vec![0u8; len];
            block[nonzero] = 5;
            assert_eq!(d.truncate(&block).len(), nonzero + 1, "{len} {nonzero}");
        }
        assert_eq!(d.truncate(&[0; 8192]).len(), 0);
        let mut root = vec![7u8; 310];
        root[299] = 0;
        assert_eq!(BlockType::ROOT.truncate(&root).len(), 300);
        let p = BlockType::pointer(1).unwrap();
        let mut block = Vec::new();
        block.extend_from_slice(&[1; 20]);
        block.extend_from_slice(&Score::EMPTY.0);
        block.extend_from_slice(&[0; 20]); // twenty zero bytes is a real slot value, kept
        block.extend_from_slice(&Score::EMPTY.0);
        block.extend_from_slice(&Score::EMPTY.0);
        block.extend_from_slice(&[9; 7]); // slop shorter than a slot
        assert_eq!(p.truncate(&block), &block[..60]);
    }

    #[test]
    fn extension_of_pointer_blocks() {
        let p = BlockType::pointer(2).unwrap();
        let mut b = vec![1u8; 40];
        p.extend(&mut b, 8180);
        assert_eq!(b.len(), 8180);
        assert_eq!(&b[40..60], &Score::EMPTY.0);
        assert_eq!(&b[8160..8180], &Score::EMPTY.0);
        let mut slop = vec![1u8; 20];
        p.extend(&mut slop, 50);
        assert_eq!(&slop[20..40], &Score::EMPTY.0);
        assert_eq!(&slop[40..], &[0u8; 10]);
    }

    proptest! {
        #[test]
        fn truncate_then_extend_restores(wire in prop::sample::select(vec![1u8,2,3,4,5,6,7,8,9,13]),
                                         slots in prop::collection::vec(prop::option::of(any::<[u8;20]>()), 0..40)) {
            let ty = BlockType::from_wire(wire).unwrap();
            let size = if ty == BlockType::ROOT { ROOT_SIZE } else { slots.len() * 20 };
            let mut block: Vec<u8> = slots.iter()
                .flat_map(|s| s.unwrap_or(if ty.is_pointer() { Score::EMPTY.0 } else { [0; 20] }))
                .collect();
            block.resize(size, 0);
            let mut stored = ty.truncate(&block).to_vec();
            prop_assert!(stored.len() <= block.len());
            // Truncating twice changes nothing.
            prop_assert_eq!(ty.truncate(&stored), &stored[..]);
            ty.extend(&mut stored, size);
            prop_assert_eq!(stored, block);
        }
    }
}
