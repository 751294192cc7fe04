//! What is wrong with an arena file or the index, as
//! [`Error::BadArena`](crate::Error) and [`Error::IndexCorrupt`](crate::Error)
//! name it.

use crate::score::Score;

/// The check an arena file failed on open.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArenaProblem {
    /// The file is shorter than an arena head.
    #[error("file shorter than an arena head")]
    ShortHead,
    /// The head does not decode (the check is named).
    #[error("{0}")]
    Head(&'static str),
    /// The head's number is not the one in the file name.
    #[error("arena number {found} does not match the file name")]
    Number {
        /// The number in the head.
        found: u32,
    },
    /// The head gives a size too small to hold one largest clump.
    #[error("arena size {0} too small")]
    TooSmall(u64),
    /// An arena before the last one is not there.
    #[error("arena {0} is missing")]
    Missing(u32),
}

/// The check the index failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexProblem {
    /// The file ends before its header page.
    #[error("no header page")]
    NoHeader,
    /// The header page does not decode (the check is named).
    #[error("{0}")]
    Header(&'static str),
    /// The file's length disagrees with the header's table size.
    #[error("file is {got} bytes, want {want}")]
    Length {
        /// The file's length.
        got: u64,
        /// The length the header implies.
        want: u64,
    },
    /// The header's entry count disagrees with the buckets.
    #[error("header counts {header} entries, buckets hold {found}")]
    EntryCount {
        /// The count in the header.
        header: u64,
        /// Entries found in the buckets.
        found: u64,
    },
    /// A bucket page does not decode (the check is named).
    #[error("bucket {bucket}: {check}")]
    Bucket {
        /// The bucket's number.
        bucket: u64,
        /// The check it failed.
        check: &'static str,
    },
    /// An entry names an arena the store does not have.
    #[error("entry for {score} names missing arena {arena}")]
    MissingArena {
        /// The entry's score.
        score: Score,
        /// The arena it names.
        arena: u32,
    },
    /// A fresh index claims more log than there is.
    #[error("fresh index is past the log")]
    PastLog,
}
