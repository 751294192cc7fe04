//! The set of tags in flight on one connection.

/// 256 bits, one per tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagSet([u64; 4]);

impl TagSet {
    /// Marks `tag` in flight; false if it already was.
    pub fn acquire(&mut self, tag: u8) -> bool {
        let (word, bit) = (usize::from(tag / 64), 1u64 << (tag % 64));
        let free = self.0[word] & bit == 0;
        self.0[word] |= bit;
        free
    }

    /// Whether `tag` is in flight.
    pub fn contains(&self, tag: u8) -> bool {
        self.0[usize::from(tag / 64)] & (1u64 << (tag % 64)) != 0
    }

    /// Marks `tag` free.
    pub fn release(&mut self, tag: u8) {
        self.0[usize::from(tag / 64)] &= !(1u64 << (tag % 64));
    }

    /// Takes the lowest free tag, as libventi does (so our requests carry
    /// the same tags as plan9port's tools), or `None` if all 256 are in use.
    pub fn acquire_lowest(&mut self) -> Option<u8> {
        let (word, bits) = self.0.iter().enumerate().find(|(_, w)| **w != u64::MAX)?;
        let tag = (word * 64) as u8 + (!bits).trailing_zeros() as u8;
        self.acquire(tag);
        Some(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_first_and_exhaustion() {
        let mut t = TagSet::default();
        for want in 0..=255u8 {
            assert_eq!(t.acquire_lowest(), Some(want));
        }
        assert_eq!(t.acquire_lowest(), None);
        assert!(!t.acquire(200));
        assert!(t.contains(130));
        t.release(130);
        t.release(7);
        assert!(!t.contains(130));
        assert_eq!(t.acquire_lowest(), Some(7));
        assert_eq!(t.acquire_lowest(), Some(130));
        t.release(255);
        assert!(t.acquire(255));
    }
}
