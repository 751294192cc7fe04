//! MetaBlock: one block of a directory's meta stream, an index of
//! DirEntry records sorted by name (spec §5.3).
//!
//! Besides encode/decode this carries libvac's in-place editing operations
//! (`mballoc`, `mbinsert`, `mbdelete`, `mbresize`) so the importer can
//! reproduce plan9port vac's blocks byte for byte, stale `free` counts
//! included.

use std::cmp::Ordering;

use crate::bytes::Reader;
use crate::dir_entry::{DIR_MAGIC, DirEntry};
use crate::error::{Error, Result};

/// Header size.
pub const HEADER_SIZE: usize = 12;
/// Size of one index slot.
pub const SLOT_SIZE: usize = 4;

/// Which magic a block carries; it fixes the sort order of its slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetaMagic {
    /// `0x5656fc79`, written by plan9port vac: on a shared prefix the
    /// longer name sorts first (a historical bug kept for compatibility).
    Old,
    /// `0x5656fc7a`, written by fossil: plain unsigned-byte order.
    New,
}

impl MetaMagic {
    /// The 32-bit value.
    pub fn value(self) -> u32 {
        match self {
            MetaMagic::Old => 0x5656fc79,
            MetaMagic::New => 0x5656fc7a,
        }
    }

    /// Compares a stored name with a wanted one in this magic's order.
    pub fn compare(self, stored: &[u8], wanted: &[u8]) -> Ordering {
        let n = stored.len().min(wanted.len());
        match stored[..n].cmp(&wanted[..n]) {
            Ordering::Equal => match self {
                MetaMagic::New => stored.len().cmp(&wanted.len()),
                MetaMagic::Old => wanted.len().cmp(&stored.len()),
            },
            o => o,
        }
    }
}

/// One index slot: where record *i* lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Byte offset of the record in the block.
    pub offset: u16,
    /// Record length.
    pub len: u16,
}

/// A MetaBlock: header fields, the used index slots, and the block bytes
/// that hold the records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaBlock {
    /// The block's magic.
    pub magic: MetaMagic,
    /// One past the highest byte in use.
    pub size: u16,
    /// Bytes of holes below `size` (bookkeeping only).
    pub free: u16,
    /// Index slots reserved.
    pub max_index: u16,
    /// The used slots, sorted by name in `magic`'s order.
    pub slots: Vec<Slot>,
    buf: Vec<u8>,
}

impl MetaBlock {
    /// An empty block of `block_size` bytes with `max_index` slots (vac uses
    /// `block_size / 100`).
    pub fn new(block_size: usize, max_index: u16, magic: MetaMagic) -> Result<MetaBlock> {
        let size = HEADER_SIZE + SLOT_SIZE * max_index as usize;
        if size > block_size || block_size > u16::MAX as usize + 1 {
            return Err(Error::Unrepresentable(format!(
                "MetaBlock of {block_size} bytes with {max_index} slots"
            )));
        }
        Ok(MetaBlock {
            magic,
            size: size as u16,
            free: 0,
            max_index,
            slots: Vec::new(),
            buf: vec![0; block_size],
        })
    }

    fn records_start(&self) -> usize {
        HEADER_SIZE + SLOT_SIZE * self.max_index as usize
    }

    /// Decodes a block read from a meta stream (zero-extended to the
    /// stream's dsize), checking every slot as libvac's `meunpack` does.
    pub fn decode(block: &[u8]) -> Result<MetaBlock> {
        let mut r = Reader::new(block, "MetaBlock");
        let magic = match r.u32("magic")? {
            0x5656fc79 => MetaMagic::Old,
            0x5656fc7a => MetaMagic::New,
            m => return Err(Error::format("MetaBlock", format!("bad magic {m:#010x}"))),
        };
        let size = r.u16("size")?;
        let free = r.u16("free")?;
        let max_index = r.u16("maxindex")?;
        let nindex = r.u16("nindex")?;
        let start = HEADER_SIZE + SLOT_SIZE * max_index as usize;
        if size as usize > block.len() || start > block.len() {
            return Err(Error::format(
                "MetaBlock",
                format!(
                    "size {size} or {max_index} slots exceed the {}-byte block",
                    block.len()
                ),
            ));
        }
        if nindex > max_index {
            return Err(Error::format(
                "MetaBlock",
                format!("nindex {nindex} > maxindex {max_index}"),
            ));
        }
        let mut slots = Vec::with_capacity(nindex as usize);
        for i in 0..nindex {
            let slot = Slot {
                offset: r.u16("slot offset")?,
                len: r.u16("slot length")?,
            };
            let (o, n) = (slot.offset as usize, slot.len as usize);
            let bad = |why: &str| Error::format("MetaBlock", format!("slot {i} ({o}+{n}): {why}"));
            if o < start {
                return Err(bad("overlaps the index"));
            }
            if o + n > size as usize {
                return Err(bad("past the block's size"));
            }
            let rec = &block[o..o + n];
            if n < 8 || rec[..4] != DIR_MAGIC.to_be_bytes() {
                return Err(bad("not a DirEntry"));
            }
            if n < 8 + u16::from_be_bytes([rec[6], rec[7]]) as usize {
                return Err(bad("name runs past the record"));
            }
            slots.push(slot);
        }
        Ok(MetaBlock {
            magic,
            size,
            free,
            max_index,
            slots,
            buf: block.to_vec(),
        })
    }

    /// The whole block: header, index and records. Callers zero-truncate
    /// it before storing.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out[0..4].copy_from_slice(&self.magic.value().to_be_bytes());
        out[4..6].copy_from_slice(&self.size.to_be_bytes());
        out[6..8].copy_from_slice(&self.free.to_be_bytes());
        out[8..10].copy_from_slice(&self.max_index.to_be_bytes());
        out[10..12].copy_from_slice(&(self.slots.len() as u16).to_be_bytes());
        for (i, s) in self.slots.iter().enumerate() {
            let at = HEADER_SIZE + SLOT_SIZE * i;
            out[at..at + 2].copy_from_slice(&s.offset.to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&s.len.to_be_bytes());
        }
        out
    }

    /// The raw bytes of record `i`.
    pub fn record(&self, i: usize) -> &[u8] {
        let s = self.slots[i];
        &self.buf[s.offset as usize..s.offset as usize + s.len as usize]
    }

    /// Name of record `i` (checked at decode or insert time).
    fn name(&self, i: usize) -> &[u8] {
        let rec = self.record(i);
        let n = u16::from_be_bytes([rec[6], rec[7]]) as usize;
        &rec[8..8 + n]
    }

    /// Decodes every record, in slot (name) order.
    pub fn entries(&self) -> Result<Vec<DirEntry>> {
        (0..self.slots.len())
            .map(|i| DirEntry::decode(self.record(i)))
            .collect()
    }

    /// Binary search for `name` as unvac does (`mbsearch`): `Ok(slot)` if
    /// found, `Err(insertion point)` if not.
    pub fn search(&self, name: &[u8]) -> std::result::Result<usize, usize> {
        let (mut b, mut t) = (0, self.slots.len());
        while b < t {
            let i = (b + t) / 2;
            match self.magic.compare(self.name(i), name) {
                Ordering::Equal => return Ok(i),
                Ordering::Less => b = i + 1,
                Ordering::Greater => t = i,
            }
        }
        Err(b)
    }

    /// The DirEntry named `name`, if this block holds it.
    pub fn lookup(&self, name: &[u8]) -> Result<Option<DirEntry>> {
        match self.search(name) {
            Ok(i) => DirEntry::decode(self.record(i)).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// vac's packing test (`filemetaalloc`): a record of `n` bytes may go
    /// here if the block stays under 80% full and a slot is left.
    pub fn has_room(&self, n: usize) -> bool {
        let limit = self.buf.len() * 80 / 100;
        n as isize <= limit as isize - self.size as isize + self.free as isize
            && self.slots.len() < self.max_index as usize
    }

    /// Adds a record in sorted position (`mballoc` + `mbinsert`).
    pub fn insert(&mut self, de: &DirEntry) -> Result<()> {
        let rec = de.encode()?;
        let i = match self.search(&de.elem) {
            Ok(_) => {
                return Err(Error::format(
                    "MetaBlock",
                    format!("{:?} is already present", crate::name::show(&de.elem)),
                ));
            }
            Err(i) => i,
        };
        if self.slots.len() >= self.max_index as usize {
            return Err(Error::format("MetaBlock", "no free index slot"));
        }
        let at = self.alloc(rec.len()).ok_or_else(|| {
            Error::format("MetaBlock", format!("no room for {} bytes", rec.len()))
        })?;
        self.buf[at..at + rec.len()].copy_from_slice(&rec);
        self.insert_slot(i, at, rec.len());
        Ok(())
    }

    /// Rewrites the record named `de.elem` in place, as libvac's
    /// `filemetaflush` does (`mbresize`, `mbdelete`, `mbinsert`). Returns
    /// false, changing nothing, when it does not fit in this block.
    pub fn update(&mut self, de: &DirEntry) -> Result<bool> {
        let i = self.search(&de.elem).map_err(|_| {
            Error::format(
                "MetaBlock",
                format!("{:?} not found", crate::name::show(&de.elem)),
            )
        })?;
        let rec = de.encode()?;
        let n = rec.len();
        let Slot { offset, len } = self.slots[i];
        let (o, old) = (offset as usize, len as usize);
        // mbresize: shrink in place, grow into following zero bytes, or move.
        let at = if n <= old {
            o
        } else {
            let zeros = self.buf[o + old..].iter().take_while(|&&b| b == 0).count();
            if n <= old + zeros {
                o
            } else {
                match self.alloc(n) {
                    Some(p) => p,
                    None => return Ok(false),
                }
            }
        };
        // mbresize leaves the entry at (at, n); mbdelete then accounts with
        // those, not the old extent, which is where vac's stale `free`
        // counts come from.
        if at + n == self.size as usize {
            self.size -= n as u16;
        } else {
            self.free = self.free.wrapping_add(n as u16);
        }
        self.slots.remove(i);
        self.buf[at..at + n].copy_from_slice(&rec);
        self.insert_slot(i, at, n);
        Ok(true)
    }

    /// Removes the record named `name` (`mbdelete`).
    pub fn remove(&mut self, name: &[u8]) -> bool {
        let Ok(i) = self.search(name) else {
            return false;
        };
        let Slot { offset, len } = self.slots[i];
        if offset as usize + len as usize == self.size as usize {
            self.size -= len;
        } else {
            self.free = self.free.wrapping_add(len);
        }
        self.slots.remove(i);
        // libvac zeroes the slot that falls off the end of the index.
        let at = HEADER_SIZE + SLOT_SIZE * self.slots.len();
        self.buf[at..at + SLOT_SIZE].fill(0);
        true
    }

    /// `mbinsert`'s accounting plus the slot itself.
    fn insert_slot(&mut self, i: usize, at: usize, n: usize) {
        if at + n > self.size as usize {
            self.free = self
                .free
                .wrapping_sub((self.size as usize).saturating_sub(at) as u16);
            self.size = (at + n) as u16;
        } else {
            self.free = self.free.wrapping_sub(n as u16);
        }
        self.slots.insert(
            i,
            Slot {
                offset: at as u16,
                len: n as u16,
            },
        );
    }

    /// `mballoc`: room off the end, else the first hole, else compact.
    fn alloc(&mut self, n: usize) -> Option<usize> {
        let max = self.buf.len();
        let size = self.size as usize;
        if max - size >= n {
            return Some(size);
        }
        if max - size + (self.free as usize) < n {
            return None;
        }
        let mut chunks: Vec<(usize, Slot)> = self.slots.iter().copied().enumerate().collect();
        chunks.sort_by_key(|(_, s)| s.offset);
        let mut o = self.records_start();
        for (_, s) in &chunks {
            if s.offset as usize >= o + n {
                return Some(o);
            }
            o = s.offset as usize + s.len as usize;
        }
        if max - o >= n {
            return Some(o);
        }
        // Compact: slide records down in offset order.
        let mut o = self.records_start();
        for (i, s) in chunks {
            let (from, len) = (s.offset as usize, s.len as usize);
            self.buf.copy_within(from..from + len, o);
            self.slots[i].offset = o as u16;
            o += len;
        }
        self.buf[o..].fill(0);
        self.size = o as u16;
        self.free = 0;
        (max - o >= n).then_some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dir_entry::tests::arb_dir_entry;
    use proptest::prelude::*;

    #[test]
    fn sort_orders() {
        let mut v: Vec<&[u8]> = vec![b"b", b"a", b"abc", b"ab"];
        v.sort_by(|a, b| MetaMagic::New.compare(a, b));
        assert_eq!(v, [b"a" as &[u8], b"ab", b"abc", b"b"]);
        v.sort_by(|a, b| MetaMagic::Old.compare(a, b));
        assert_eq!(v, [b"abc" as &[u8], b"ab", b"a", b"b"]);
    }

    #[test]
    fn rejects_bad_blocks() {
        let mut mb = MetaBlock::new(1024, 10, MetaMagic::New).unwrap();
        let de = crate::dir_entry::tests::sample(b"x");
        mb.insert(&de).unwrap();
        let good = mb.encode();
        assert!(MetaBlock::decode(&good).is_ok());
        let mut bad = good.clone();
        bad[3] = 0x7b;
        assert!(MetaBlock::decode(&bad).is_err(), "magic");
        let mut bad = good.clone();
        bad[4..6].copy_from_slice(&2000u16.to_be_bytes());
        assert!(MetaBlock::decode(&bad).is_err(), "size");
        let mut bad = good.clone();
        bad[12..14].copy_from_slice(&20u16.to_be_bytes());
        assert!(MetaBlock::decode(&bad).is_err(), "slot inside index");
        let mut bad = good.clone();
        bad[10..12].copy_from_slice(&11u16.to_be_bytes());
        assert!(MetaBlock::decode(&bad).is_err(), "nindex");
        assert!(MetaBlock::decode(&good[..10]).is_err());
    }

    #[test]
    fn update_in_place_moves_and_fails() {
        use crate::dir_entry::tests::sample;
        let mut mb = MetaBlock::new(400, 4, MetaMagic::Old).unwrap();
        let (a, b) = (sample(b"a"), sample(b"b"));
        mb.insert(&a).unwrap();
        mb.insert(&b).unwrap();
        let end = mb.size;
        // Shrinking stays in place; size does not move.
        let small = DirEntry {
            uid: vec![],
            ..a.clone()
        };
        assert!(mb.update(&small).unwrap());
        assert_eq!(
            (mb.size, mb.lookup(b"a").unwrap().unwrap()),
            (end, small.clone())
        );
        // Growing past the next record moves to the end.
        let big = DirEntry {
            uid: b"a-much-longer-owner".to_vec(),
            ..a.clone()
        };
        assert!(mb.update(&big).unwrap());
        assert_eq!(mb.lookup(b"a").unwrap().unwrap(), big);
        assert_eq!(mb.slots[0].offset, end);
        let back = MetaBlock::decode(&mb.encode()).unwrap();
        assert_eq!(back.entries().unwrap(), vec![big.clone(), b.clone()]);
        // No room at all: nothing changes.
        let huge = DirEntry {
            uid: vec![b'x'; 300],
            ..b.clone()
        };
        let before = mb.encode();
        assert!(!mb.update(&huge).unwrap());
        assert_eq!(mb.encode(), before);
        assert!(mb.update(&sample(b"zz")).is_err(), "not present");
        assert!(mb.remove(b"a") && !mb.remove(b"a"));
        assert_eq!(
            MetaBlock::decode(&mb.encode()).unwrap().entries().unwrap(),
            vec![b]
        );
    }

    proptest! {
        #[test]
        fn round_trip(des in prop::collection::vec(arb_dir_entry(), 0..12), new: bool) {
            let magic = if new { MetaMagic::New } else { MetaMagic::Old };
            let mut mb = MetaBlock::new(8192, 81, magic).unwrap();
            let mut kept = Vec::new();
            for de in des {
                if mb.search(&de.elem).is_ok() || !mb.has_room(de.size()) { continue; }
                mb.insert(&de).unwrap();
                kept.push(de);
            }
            let back = MetaBlock::decode(&mb.encode()).unwrap();
            prop_assert_eq!(back.encode(), mb.encode());
            for de in &kept {
                let found = back.lookup(&de.elem).unwrap();
                prop_assert_eq!(found.as_ref(), Some(de));
            }
            let names: Vec<Vec<u8>> = back.entries().unwrap().into_iter().map(|d| d.elem).collect();
            for w in names.windows(2) {
                prop_assert_eq!(magic.compare(&w[0], &w[1]), Ordering::Less);
            }
        }

        #[test]
        fn decode_never_panics(b in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(mb) = MetaBlock::decode(&b) { let _ = mb.entries(); let _ = mb.lookup(b"x"); }
        }
    }
}
