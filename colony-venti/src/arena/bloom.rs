//! An in-memory bloom filter over scores, so lookups of absent blocks
//! rarely touch the index file.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::score::Score;

/// Probes per score. With 8 or more bits per entry this keeps false
/// positives near or below 2%.
const PROBES: u32 = 6;

/// Words in a block: all probes for a score fall in one 64-byte cache line,
/// so a lookup costs one cache miss, not six.
const BLOCK_WORDS: usize = 8;

/// A blocked bloom filter of `2^log_bits` bits. Bits are atomic so writers
/// add scores under a shared lock.
pub struct Bloom {
    words: Vec<AtomicU64>,
    /// Blocks minus one (the count is a power of two).
    block_mask: u64,
}

impl Bloom {
    /// An empty filter of `2^log_bits` bits (at least one 512-bit block).
    pub fn new(log_bits: u32) -> Bloom {
        let log_bits = log_bits.max(9);
        let words = (0..1usize << (log_bits - 6))
            .map(|_| AtomicU64::new(0))
            .collect();
        Bloom {
            words,
            block_mask: (1u64 << (log_bits - 9)) - 1,
        }
    }

    /// Scores are uniform, so the block and the bits in it come straight
    /// from the score's bytes (not those that pick the index bucket).
    fn probes(&self, score: &Score) -> (usize, impl Iterator<Item = (usize, u64)>) {
        let b = &score.0;
        let block = u64::from(u32::from_be_bytes([b[8], b[9], b[10], b[11]]));
        let bits = u64::from_be_bytes([b[12], b[13], b[14], b[15], b[16], b[17], b[18], b[19]]);
        let base = (block & self.block_mask) as usize * BLOCK_WORDS;
        let probes = (0..PROBES).map(move |i| {
            let bit = (bits >> (9 * i)) & 511;
            ((bit >> 6) as usize, 1u64 << (bit & 63))
        });
        (base, probes)
    }

    /// Adds a score.
    pub fn insert(&self, score: &Score) {
        let (base, probes) = self.probes(score);
        for (w, m) in probes {
            self.words[base + w].fetch_or(m, Ordering::Relaxed);
        }
    }

    /// False if the score was certainly never added.
    pub fn may_contain(&self, score: &Score) -> bool {
        let (base, mut probes) = self.probes(score);
        probes.all(|(w, m)| self.words[base + w].load(Ordering::Relaxed) & m != 0)
    }

    /// Memory the filter uses.
    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The filter's size as passed to [`Bloom::new`].
    pub fn log_bits(&self) -> u32 {
        self.words.len().trailing_zeros() + 6
    }

    /// The bits as big-endian words, for saving.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes());
        for w in &self.words {
            out.extend_from_slice(&w.load(Ordering::Relaxed).to_be_bytes());
        }
        out
    }

    /// A filter of `2^log_bits` bits from [`Bloom::to_bytes`] output, or
    /// `None` if the length does not fit.
    pub fn from_bytes(log_bits: u32, bytes: &[u8]) -> Option<Bloom> {
        // The size comes from a file: checked before anything is allocated
        // (a damaged one could ask for 2^63 bits, or overflow the shift).
        if !(9..64).contains(&log_bits) || bytes.len() as u64 != 1u64 << (log_bits - 3) {
            return None;
        }
        let bloom = Bloom::new(log_bits);
        for (w, b) in bloom.words.iter().zip(bytes.chunks_exact(8)) {
            w.store(
                u64::from_be_bytes(b.try_into().expect("8 bytes")),
                Ordering::Relaxed,
            );
        }
        Some(bloom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_size_is_refused_before_anything_is_allocated() {
        let good = Bloom::new(12);
        let bytes: Vec<u8> = good
            .words
            .iter()
            .flat_map(|w| w.load(Ordering::Relaxed).to_be_bytes())
            .collect();
        assert!(Bloom::from_bytes(12, &bytes).is_some());
        // Found by fuzzing: a shift past 64 bits, and sizes that would
        // have been allocated before the length was compared.
        for log_bits in [0, 8, 13, 40, 63, 64, 200, u32::MAX] {
            assert!(Bloom::from_bytes(log_bits, &bytes).is_none(), "{log_bits}");
        }
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let bloom = Bloom::new(16);
        let n = 65536 / 12;
        for i in 0..n {
            bloom.insert(&Score::of(&u32::to_be_bytes(i)));
        }
        for i in 0..n {
            assert!(bloom.may_contain(&Score::of(&u32::to_be_bytes(i))));
        }
        let fp = (n..n + 10000)
            .filter(|i| bloom.may_contain(&Score::of(&u32::to_be_bytes(*i))))
            .count();
        assert!(fp < 200, "{fp} false positives in 10000");
        assert_eq!(bloom.bytes(), 8192);
        assert_eq!(bloom.log_bits(), 16);
        let copy = Bloom::from_bytes(16, &bloom.to_bytes()).unwrap();
        assert_eq!(copy.to_bytes(), bloom.to_bytes());
        assert!((0..n).all(|i| copy.may_contain(&Score::of(&u32::to_be_bytes(i)))));
        assert!(Bloom::from_bytes(17, &bloom.to_bytes()).is_none());
    }
}
