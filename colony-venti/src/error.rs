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
    /// A venti message or frame that does not parse (libventi's "bad
    /// packet"): a field missing, bytes left over, an unknown type, a
    /// string too long or holding NUL, a frame past the size limit.
    #[error("bad venti message: {0}")]
    Malformed(String),
    /// The version line exchange failed.
    #[error("venti version exchange: {0}")]
    Version(String),
    /// The peer broke the protocol (unexpected reply type, unknown tag, a
    /// reply that fails verification).
    #[error("venti protocol: {0}")]
    Protocol(String),
    /// The server answered `Rerror` with this text.
    #[error("venti server: {0}")]
    Remote(String),
    /// The connection to the peer is gone; the request did not complete.
    #[error("venti connection lost: {0}")]
    Disconnected(String),
    /// A socket operation failed.
    #[error("{op}: {source}")]
    Net {
        /// What was being done ("connect", "bind", ...).
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
