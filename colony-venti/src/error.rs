//! The crate's error type.

use std::path::PathBuf;

use std::fmt;

use crate::address::AddressProblem;
use crate::arena::ConfigProblem;
use crate::arena::clump::ClumpCheck;
use crate::arena::damage::{ArenaProblem, IndexProblem};
use crate::block_type::BlockType;
use crate::proto::absent::AbsentText;
use crate::proto::{MessageFault, VersionFault};
use crate::score::{Score, ScoreProblem};

/// Everything that can go wrong in the block store, its formats and the
/// venti protocol. Match on the variants (never on the text); more may be
/// added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The (score, type) pair is not in the store. The text is plan9port's,
    /// with the libventi type number, so Plan 9 users recognise it (and
    /// the venti protocol carries it: see `proto/absent.rs`).
    #[error("{}", AbsentText(score, *ty))]
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
    #[error("bad score {text:?}: {problem}")]
    BadScore {
        /// The text given.
        text: String,
        /// The check it failed.
        #[source]
        problem: ScoreProblem,
    },
    /// An address that is neither `host:port` nor a Plan 9 dial string.
    #[error("bad address {text:?}: {problem}")]
    BadAddress {
        /// The text given.
        text: String,
        /// The check it failed.
        #[source]
        problem: AddressProblem,
    },
    /// I/O on a file of the store failed.
    #[error("{op} {}{}: {source}", path.display(), At(*offset))]
    Io {
        /// What was being done ("read", "write", "open", ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Where in the file, for positioned reads and writes.
        offset: Option<u64>,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A stored block failed verification: its clump header or its SHA-1
    /// does not match. The bytes are never returned.
    #[error("block {score} in {} at offset {offset} is corrupt: {check}", arena.display())]
    Corrupt {
        /// The score that was asked for.
        score: Score,
        /// The arena file holding the clump.
        arena: PathBuf,
        /// Byte offset of the clump header in that file.
        offset: u64,
        /// The check that failed.
        check: ClumpCheck,
    },
    /// A clump whose header is intact but whose data is cut short or damaged.
    #[error("torn clump in {} at offset {offset}", arena.display())]
    TornClump {
        /// The arena file.
        arena: PathBuf,
        /// Byte offset of the clump header.
        offset: u64,
    },
    /// An arena file whose head is invalid, or a missing arena.
    #[error("bad arena {}: {problem}", path.display())]
    BadArena {
        /// The arena file.
        path: PathBuf,
        /// The check it failed.
        problem: ArenaProblem,
    },
    /// Settings [`ArenaStore::open`](crate::ArenaStore::open) refuses.
    #[error("bad configuration for the store in {}: {problem}", dir.display())]
    BadConfig {
        /// The store's directory.
        dir: PathBuf,
        /// The setting out of range.
        problem: ConfigProblem,
    },
    /// The on-disk index is damaged; `reindex` rebuilds it from the arenas.
    #[error("index {} is corrupt: {problem}", path.display())]
    IndexCorrupt {
        /// The index file.
        path: PathBuf,
        /// The check it failed.
        problem: IndexProblem,
    },
    /// Another process has the store open: one process per store, since
    /// two writers would append over each other's clumps.
    #[error("store {} is locked by another process", dir.display())]
    Locked {
        /// The store's directory.
        dir: PathBuf,
    },
    /// The file system is full (or the quota used up); the write was not
    /// stored.
    #[error("disk full: {op} {}{}: {source}", path.display(), At(*offset))]
    DiskFull {
        /// What was being done ("write", "reserve", ...).
        op: &'static str,
        /// The file being written.
        path: PathBuf,
        /// Where in the file, for positioned writes.
        offset: Option<u64>,
        /// The operating system's error (ENOSPC or EDQUOT).
        #[source]
        source: std::io::Error,
    },
    /// A venti message or frame that does not parse (libventi's "bad
    /// packet"): a field missing, bytes left over, an unknown type, a
    /// string too long or holding NUL, a frame past the size limit.
    #[error("bad venti message: {0}")]
    Malformed(MessageFault),
    /// The version line exchange failed.
    #[error("venti version exchange: {0}")]
    Version(VersionFault),
    /// A reply's block does not hash to the score asked for (a read), or
    /// the server's score is not the SHA-1 of the data sent (a write).
    #[error("sha1 hash mismatch: want {want}, the server's block or score is {got}")]
    HashMismatch {
        /// The score asked for, or the SHA-1 of the data written.
        want: Score,
        /// What the server's answer hashes to, or the score it gave.
        got: Score,
    },
    /// A reply for a tag with no request in flight.
    #[error("venti protocol: reply for tag {0}, which is not in flight")]
    UnknownTag(u8),
    /// A reply of a type that does not answer its request's (nor is
    /// `Rerror`).
    #[error("venti protocol: type mismatch: reply type {got} to request type {sent}")]
    UnexpectedReply {
        /// The request's message type.
        sent: u8,
        /// The reply's.
        got: u8,
    },
    /// An `Rread` longer than the count asked for.
    #[error("venti protocol: read of {score} returned {len} bytes, asked for at most {max}")]
    ReadTooLong {
        /// The score read.
        score: Score,
        /// Bytes returned.
        len: usize,
        /// The count asked for.
        max: usize,
    },
    /// A request before the session's handshake is done.
    #[error("venti protocol: request before the handshake is done")]
    NotOpen,
    /// The server answered `Rerror` with this text.
    #[error("venti server: {0}")]
    Remote(String),
    /// The connection to the peer is gone; the request did not complete.
    /// The cause is shared by every request the loss failed.
    #[error("venti connection lost: {0}")]
    Disconnected(#[source] std::sync::Arc<Error>),
    /// The server closed the connection.
    #[error("the venti server closed the connection")]
    PeerClosed,
    /// This client was closed.
    #[error("the venti client was closed")]
    ClientClosed,
    /// The server said nothing for this long while requests waited, even
    /// to a probe (or did not finish the handshake in time): the session
    /// is given up.
    #[error("venti server silent for {0:?}; giving up")]
    Silent(std::time::Duration),
    /// The server already serves its most connections; a new one is
    /// closed at once.
    #[error("venti server full: {open} connections open, the most is {max}; closing the new one")]
    TooManyConnections {
        /// Connections open when this one arrived.
        open: usize,
        /// The cap ([`ServerLimits::max_connections`](crate::proto::ServerLimits)).
        max: usize,
    },
    /// A client did not finish the version lines and `Thello` in time.
    #[error("venti handshake not finished within {0:?}; closing")]
    HandshakeTimeout(std::time::Duration),
    /// Replies could not be written for this long: the client stopped
    /// reading.
    #[error("venti replies made no progress for {0:?}; closing")]
    WriteTimeout(std::time::Duration),
    /// A request carried a tag whose reply has not been written yet.
    #[error("venti request reuses tag {0}, still in flight; closing")]
    TagInFlight(u8),
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

/// " at offset N" when an offset is known, for error texts.
struct At(Option<u64>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(off) => write!(f, " at offset {off}"),
            None => Ok(()),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
