//! [`IdRange`]: the host uids and gids an environment's user namespace
//! maps its ids onto.
//!
//! Root inside an environment is host uid `host_base`, uid 1000 inside is
//! `host_base + 1000`, and so on up to `count` ids; nothing of the
//! environment runs as a host id outside the range. The FUSE adapter that
//! serves the environment's root shows stored owners shifted into the range
//! (so the kernel maps them back to what the snapshot says) and stores what
//! the environment sets shifted back ([`IdRange::to_inner`]).

use serde::{Deserialize, Serialize};

/// The overflow id: what an id that has no place in the range becomes
/// (Linux's `nobody`/`nogroup`).
pub const OVERFLOW_ID: u32 = 65534;

/// A contiguous range of host ids, the same for uids and gids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdRange {
    /// The host id that is 0 (root) inside.
    pub host_base: u32,
    /// How many ids the range holds (inside: `0..count`).
    pub count: u32,
}

impl IdRange {
    /// The size every environment gets: all 16-bit ids, as a Linux system
    /// of its own has.
    pub const ENVIRONMENT: u32 = 65536;

    /// A range of `count` ids from `host_base`.
    ///
    /// ```
    /// use colony_ns::IdRange;
    /// let r = IdRange::new(1 << 30, 65536);
    /// assert_eq!(r.to_host(1000), (1 << 30) + 1000);
    /// assert_eq!(r.to_inner((1 << 30) + 1000), 1000);
    /// ```
    pub fn new(host_base: u32, count: u32) -> IdRange {
        IdRange { host_base, count }
    }

    /// Whether the host id `id` is in the range.
    pub fn contains(&self, id: u32) -> bool {
        id.checked_sub(self.host_base)
            .is_some_and(|inner| inner < self.count)
    }

    /// The host id for `inner`; an id beyond the range shows as the
    /// overflow id, never as a host id outside it.
    pub fn to_host(&self, inner: u32) -> u32 {
        let inner = if inner < self.count {
            inner
        } else {
            OVERFLOW_ID.min(self.count.saturating_sub(1))
        };
        self.host_base + inner
    }

    /// The id inside for the host id `host`: its offset in the range; host
    /// root (the node itself, working on the tree from outside) is root
    /// inside; any other host id is the overflow id.
    pub fn to_inner(&self, host: u32) -> u32 {
        if self.contains(host) {
            host - self.host_base
        } else if host == 0 {
            0
        } else {
            OVERFLOW_ID
        }
    }

    /// The line for `/proc/PID/uid_map` and `gid_map`: `0 BASE COUNT`.
    pub fn map_line(&self) -> String {
        format!("0 {} {}\n", self.host_base, self.count)
    }

    /// Whether two ranges share an id.
    pub fn overlaps(&self, other: &IdRange) -> bool {
        let end = |r: &IdRange| u64::from(r.host_base) + u64::from(r.count);
        u64::from(self.host_base) < end(other) && u64::from(other.host_base) < end(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_beyond_the_range_never_leave_it() {
        let r = IdRange::new(100_000, 65536);
        assert_eq!(r.to_host(0), 100_000);
        assert_eq!(r.to_host(65535), 165_535);
        assert_eq!(r.to_host(65536), 100_000 + OVERFLOW_ID);
        assert_eq!(r.to_host(u32::MAX), 100_000 + OVERFLOW_ID);
        assert_eq!(r.to_inner(99_999), OVERFLOW_ID);
        assert_eq!(r.to_inner(165_536), OVERFLOW_ID);
        assert_eq!(r.to_inner(0), 0);
        assert_eq!(r.map_line(), "0 100000 65536\n");
        let small = IdRange::new(5000, 10);
        assert_eq!(small.to_host(20), 5009, "overflow stays in a small range");
    }

    #[test]
    fn overlap_is_symmetric_and_exact_at_the_edges() {
        let a = IdRange::new(100, 10);
        assert!(a.overlaps(&IdRange::new(109, 1)));
        assert!(!a.overlaps(&IdRange::new(110, 5)));
        assert!(!IdRange::new(90, 10).overlaps(&a));
        assert!(IdRange::new(90, 11).overlaps(&a));
        assert!(IdRange::new(u32::MAX - 1, 2).overlaps(&IdRange::new(u32::MAX, 1)));
    }

    proptest! {
        #[test]
        fn inner_ids_round_trip(base in 1u32..(u32::MAX - 65536), inner in 0u32..65536) {
            let r = IdRange::new(base, 65536);
            prop_assert!(r.contains(r.to_host(inner)));
            prop_assert_eq!(r.to_inner(r.to_host(inner)), inner);
        }
    }
}
