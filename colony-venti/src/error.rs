//! The crate's error type.

use std::path::PathBuf;

use crate::block_type::BlockType;
use crate::score::Score;

/// Everything that can go wrong in the block store, its formats and the
/// venti protocol.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The (score, type) pair is not in the store. The text is plan9port's,
    /// with the libventi type number, so Plan 9 users recognise it.
    #[error("no block with score {score}/{} exists", ty.libventi())]
    NotFound {
        /// The score asked for.
        score: Score,
        /// The type asked for.
        ty: BlockType,
    },
    /// A block bigger than the store accepts.
    #[error("lump too large: {size} bytes, the most is {max}")]
    TooLarge {
        /// The block's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A wire type outside 1..=9 and 13 (or a libventi number outside 0..=16).
    #[error("invalid block type {0}")]
    BadType(u8),
    /// Text that is not a score.
    #[error("bad score {0:?}: want 40 hex digits, optionally after a label and a colon")]
    BadScore(String),
    /// An address that is neither `host:port` nor a Plan 9 dial string.
    #[error("bad address {0:?}: want host:port or tcp!host!port")]
    BadAddress(String),
    /// I/O on a file of the store failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "open", ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
