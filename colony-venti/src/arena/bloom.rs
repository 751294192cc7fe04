//! An in-memory bloom filter over scores, so lookups of absent blocks
//! rarely touch the index file.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::score::Score;

/// Probes per score. With 8 or more bits per entry this keeps false
/// positives near or below 2%.
const PROBES: u64 = 6;

/// A bloom filter of `2^log_bits` bits. Bits are atomic so writers add
/// scores under a shared lock.
pub struct Bloom {
    words: Vec<AtomicU64>,
    mask: u64,
}

impl Bloom {
    /// An empty filter of `2^log_bits` bits (at least 64).
    pub fn new(log_bits: u32) -> Bloom {
        let log_bits = log_bits.max(6);
        let words = (0..1usize << (log_bits - 6))
            .map(|_| AtomicU64::new(0))
            .collect();
        Bloom {
            words,
            mask: (1u64 << log_bits) - 1,
        }
    }

    /// Scores are uniform, so probe positions come straight from their
    /// bytes (not those that pick the index bucket).
    fn probes(score: &Score) -> impl Iterator<Item = u64> {
        let b = &score.0;
        let h1 = u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        let h2 = u64::from(u32::from_be_bytes([b[16], b[17], b[18], b[19]])) | 1;
        (0..PROBES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)))
    }

    /// Adds a score.
    pub fn insert(&self, score: &Score) {
        for p in Self::probes(score) {
            let p = p & self.mask;
            self.words[(p >> 6) as usize].fetch_or(1 << (p & 63), Ordering::Relaxed);
        }
    }

    /// False if the score was certainly never added.
    pub fn may_contain(&self, score: &Score) -> bool {
        Self::probes(score).all(|p| {
            let p = p & self.mask;
            self.words[(p >> 6) as usize].load(Ordering::Relaxed) & (1 << (p & 63)) != 0
        })
    }

    /// Memory the filter uses.
    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
