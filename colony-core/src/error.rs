//! The crate's error type.

use std::path::PathBuf;

use crate::names::NameRecord;

/// Everything that can go wrong with scorenames, ndb files, identities and
/// the spawning API. The Display text of the spawning variants is the
/// message a grid user sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Text that is not a user name (`[a-z0-9_-]`, 1..=32, starting with a
    /// letter or digit).
    #[error("bad user name {0:?}: want 1 to 32 of a-z 0-9 _ -, starting with a letter or digit")]
    BadUser(String),
    /// Text that is not a node id (`[a-z0-9]`, 1..=32).
    #[error("bad node id {0:?}: want 1 to 32 of a-z 0-9")]
    BadNodeId(String),
    /// Text that is not a name label or a scorename.
    #[error("bad scorename {text:?}: {reason}")]
    BadName {
        /// The text given.
        text: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A name that is already written with another record (or, for
    /// [`mint`](crate::names::ScoreNames::mint), written at all).
    #[error("scorename {0} already exists; names never change")]
    NameExists(String),
    /// A name that is not in the store (or not visible to the asking user).
    #[error("scorename {0} not found")]
    NameNotFound(String),
    /// A merge brought a record for a name we hold with different content.
    /// The whole batch was refused.
    #[error("scorename {} conflicts: ours {ours:?}, theirs {theirs:?}", ours.name)]
    NameConflict {
        /// The record this store holds.
        ours: Box<NameRecord>,
        /// The incoming record.
        theirs: Box<NameRecord>,
    },
    /// A stored or received name record that does not decode.
    #[error("bad name record: {0}")]
    BadRecord(String),
    /// The redb database failed.
    #[error("name database {}: {reason}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// redb's error text.
        reason: String,
    },
    /// An ndb file that does not parse, or an entry that is not a
    /// scorenames record.
    #[error("ndb line {line}: {reason}")]
    Ndb {
        /// 1-based line number of the offending line (or of the entry's
        /// first line).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Watching a data directory's revocation lists failed.
    #[error("watch revocations in {}: {source}", dir.display())]
    Watch {
        /// The data directory.
        dir: PathBuf,
        /// The system's error.
        #[source]
        source: nix::errno::Errno,
    },
    /// I/O on a file of the data directory failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create", ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Making a data directory (or one inside it) private, or marking it
    /// as colony data, failed.
    #[error("data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the block store's helper reported.
        #[source]
        source: colony_venti::Error,
    },
    /// A data directory that `init` already set up.
    #[error("{} is already initialised", .0.display())]
    AlreadyInitialised(PathBuf),
    /// A data directory without the grid CA's key: it joined a grid, so
    /// users and nodes are added where the key is.
    #[error("{} holds no grid CA key ({}): users and nodes are added on the node that holds it (where the grid was made with colony init)", dir.display(), crate::identity::CA_KEY)]
    NoCaKey {
        /// The data directory.
        dir: PathBuf,
    },
    /// A join file that does not hold what [`colony node add`] writes:
    /// a node credential signed by the CA certificate beside it.
    ///
    /// [`colony node add`]: crate::identity::node_add
    #[error("join file {}: {reason}", path.display())]
    BadJoinFile {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// An output file that already exists; it is never replaced.
    #[error("{} already exists; not replacing it", .0.display())]
    FileExists(PathBuf),
    /// A user that already has a credential.
    #[error("user {0} already exists")]
    UserExists(String),
    /// A node id the grid CA already gave a credential to.
    #[error(
        "node {0} was added before (its join file made); another node needs another id, \
         or pass --reissue if that join file was lost before it was used"
    )]
    NodeExists(String),
    /// Making a key, certificate or revocation list failed.
    #[error("certificate: {0}")]
    Cert(String),
    /// A PEM file without the items it must hold, or with bad ones.
    #[error("credential {}: {reason}", path.display())]
    BadCredential {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// rustls refused a configuration.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// A spawn that would pass a node's limits.
    #[error("{0}")]
    LimitReached(String),
    /// A data directory that `colony init` has not set up.
    #[error("{} is not an initialised colony data directory (run colony init): {reason}", path.display())]
    NotInitialised {
        /// The data directory.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// `spawn` of a name that already runs on this node.
    #[error("{0} is already running on this node; use save to clone it to a new name")]
    AlreadyRunning(String),
    /// An environment the caller does not run here: not running at all, or
    /// run by someone else (the same message, so nothing leaks).
    #[error("{0} is not one of your running environments")]
    NotRunning(String),
    /// `invite` of a user the grid does not know.
    #[error("user {0} does not exist")]
    UnknownUser(String),
    /// Arguments that make no sense together.
    #[error("{0}")]
    BadArgument(String),
    /// Starting, saving or stopping an environment failed.
    #[error("environment {name}: {reason}")]
    Env {
        /// The environment's name.
        name: String,
        /// What failed.
        reason: String,
    },
    /// A running environment's record (`running/NAME`) that does not
    /// parse or names another environment.
    #[error("environment record {}: {reason}", path.display())]
    BadEnvRecord {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The node's block store failed.
    #[error("block store: {0}")]
    Store(#[source] colony_venti::Error),
    /// The node stopped taking work ([`Colony::shutdown`](crate::Colony::shutdown)).
    #[error("this node is shutting down")]
    ShuttingDown,
    /// A verified peer certificate that names no colony identity.
    #[error("peer certificate: {0}")]
    BadPeer(String),
    /// A grid RPC frame that does not decode (bad version, bad body,
    /// bytes left over, a length prefix that disagrees with the bytes).
    #[error("bad grid frame: {0}")]
    BadFrame(String),
    /// A grid RPC frame longer than the receiver accepts.
    #[error("grid frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLong {
        /// The frame body's length, as declared or encoded.
        len: usize,
        /// The receiver's limit.
        max: usize,
    },
    /// A gridorc command line that is not a command or has the wrong
    /// arguments; the text is the usage to show.
    #[error("{0}")]
    BadCommand(String),
    /// The grid server refused a request; the text is its message.
    #[error("{0}")]
    Refused(String),
    /// A storage node could not reach its cpu service (not listening, a
    /// TLS failure such as a certificate it refused, a broken connection).
    #[error("cpu service {addr} unreachable: {reason}")]
    CpuUnreachable {
        /// The cpu service's address.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The cpu service refused or failed a request; the reason is its
    /// message.
    #[error("cpu service {addr} refused: {reason}")]
    CpuRefused {
        /// The cpu service's address.
        addr: String,
        /// Its message.
        reason: String,
    },
    /// An environment the cpu service does not run.
    #[error("environment {0} is not running on this cpu")]
    NotOnCpu(String),
    /// A peer that must be a grid node presented another identity (a
    /// user's certificate, say).
    #[error("{0} is not a grid node; this service takes node certificates only")]
    NotANode(String),
    /// A listener refused a connection: `scope` (the listener, an address,
    /// a user) already holds its most.
    #[error("{scope} holds {max} connections, the most; closing the new one")]
    TooManyConnections {
        /// Whose connections are counted ("grid server", "address
        /// 10.0.0.7", "user alice").
        scope: String,
        /// The cap.
        max: usize,
    },
    /// A grid connection failed or broke.
    #[error("grid connection {addr}: {reason}")]
    Connection {
        /// The server address (or the peer's, on the server).
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// A replication cursor file that is not `LOG NAMES`.
    #[error("replication cursor {}: {text:?} is not two numbers", path.display())]
    BadCursor {
        /// The file.
        path: PathBuf,
        /// What it holds.
        text: String,
    },
    /// Read-through repair could not start its thread.
    #[error("starting read-through repair: {0}")]
    RepairStart(#[source] std::io::Error),
    /// A peer sent a block whose contents do not have the score asked for.
    #[error("peer {peer} sent a block for {want} whose score is {got}")]
    BadBlockFromPeer {
        /// The peer's node id.
        peer: String,
        /// The score asked for.
        want: colony_venti::Score,
        /// The score of what came.
        got: colony_venti::Score,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    /// An [`Error::DataDir`] for `path`.
    pub(crate) fn data_dir(path: impl Into<PathBuf>) -> impl FnOnce(colony_venti::Error) -> Error {
        let path = path.into();
        move |source| Error::DataDir { path, source }
    }
}

/// Creates `dir` with mode 0700, or tightens an existing one to 0700 (see
/// [`colony_venti::private::private_dir`]).
pub(crate) fn private_dir(dir: &std::path::Path) -> Result<()> {
    colony_venti::private::private_dir(dir).map_err(Error::data_dir(dir))
}
