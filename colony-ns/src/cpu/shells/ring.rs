//! A shell's scrollback: the last `capacity` bytes of its output, so a
//! client that attaches later sees what it missed.

use std::collections::VecDeque;

/// The most recent bytes written, at most `capacity` of them.
#[derive(Debug)]
pub(super) struct Ring {
    bytes: VecDeque<u8>,
    capacity: usize,
}

impl Ring {
    /// An empty ring keeping at most `capacity` bytes.
    pub fn new(capacity: usize) -> Ring {
        Ring {
            bytes: VecDeque::new(),
            capacity,
        }
    }

    /// Appends `data`, forgetting the oldest bytes beyond the capacity.
    pub fn push(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(self.capacity)..];
        let over = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        self.bytes.drain(..over);
        self.bytes.extend(data);
    }

    /// The bytes held, oldest first.
    pub fn contents(&self) -> Vec<u8> {
        let (a, b) = self.bytes.as_slices();
        [a, b].concat()
    }

    /// How many bytes it holds.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keeps_the_last_capacity_bytes(
            capacity in 0usize..64,
            writes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..20),
        ) {
            let mut ring = Ring::new(capacity);
            let mut all = Vec::new();
            for w in &writes {
                ring.push(w);
                all.extend_from_slice(w);
                prop_assert!(ring.len() <= capacity);
            }
            let tail = &all[all.len().saturating_sub(capacity)..];
            prop_assert_eq!(ring.contents(), tail);
        }
    }
}
