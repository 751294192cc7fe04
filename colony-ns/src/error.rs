//! The crate's error type: malformed 9P input, and the file-system and
//! protocol failures a server answers with Rerror.

use crate::ninep::error_strings as es;

/// Everything that can go wrong in the codec, the file-system trait and the
/// server. The Display text of the file-system variants is Plan 9's error
/// string (see [`crate::ninep::error_strings`]); it is what Rerror carries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The buffer ended inside a field.
    #[error("9P message too short: {what} needs {need} bytes, {have} left")]
    Short {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// A frame's size field is below the 7 bytes of `size type tag`.
    #[error("9P frame size {0} is smaller than the 7-byte header")]
    FrameTooSmall(u32),
    /// A frame (received or about to be sent) larger than the negotiated msize.
    #[error("9P message of {size} bytes exceeds msize {msize}")]
    FrameTooLarge {
        /// The frame's size.
        size: u64,
        /// The limit.
        msize: u32,
    },
    /// The size field disagrees with the bytes of the frame.
    #[error("9P frame declares {declared} bytes but holds {actual}")]
    SizeMismatch {
        /// The size field.
        declared: u32,
        /// The bytes present.
        actual: usize,
    },
    /// Bytes left over after the last field of a message.
    #[error("{extra} bytes left over after 9P message type {ty}")]
    Trailing {
        /// The message type.
        ty: u8,
        /// How many bytes were not consumed.
        extra: usize,
    },
    /// A string that is not UTF-8.
    #[error("9P string is not valid UTF-8")]
    BadUtf8,
    /// A string containing NUL, which 9P forbids.
    #[error("9P string contains a NUL byte")]
    NulInString,
    /// A string, data block or stat too long for its length field.
    #[error("{what} of {len} bytes is too long for its length field")]
    TooLong {
        /// What was being encoded.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A message type byte that 9P2000 does not define.
    #[error("unknown 9P message type {0}")]
    UnknownType(u8),
    /// More than MAXWELEM (16) names or qids in a walk.
    #[error("{0} walk elements, the most is 16")]
    TooManyWalkElements(usize),
    /// A stat record whose size field disagrees with its bytes or its strings.
    #[error("stat record size {declared} disagrees with its {actual} bytes")]
    StatSize {
        /// The size the record (or its outer count) declares.
        declared: usize,
        /// The bytes it actually spans.
        actual: usize,
    },
    /// Reading or writing a socket, pipe or file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),

    /// Tauth to a server that needs none; the text names the service, as
    /// plan9port's vacfs does ("vacfs: authentication not required").
    #[error("{0}: {auth}", auth = es::AUTH_NOT_REQUIRED)]
    AuthNotRequired(String),
    /// See [`es::NOT_FOUND`].
    #[error("{}", es::NOT_FOUND)]
    NotFound,
    /// See [`es::PERMISSION_DENIED`].
    #[error("{}", es::PERMISSION_DENIED)]
    PermissionDenied,
    /// See [`es::EXISTS`].
    #[error("{}", es::EXISTS)]
    Exists,
    /// See [`es::UNKNOWN_FID`].
    #[error("{}", es::UNKNOWN_FID)]
    UnknownFid,
    /// See [`es::FID_IN_USE`].
    #[error("{}", es::FID_IN_USE)]
    FidInUse,
    /// See [`es::IS_DIR`].
    #[error("{}", es::IS_DIR)]
    IsDir,
    /// See [`es::NOT_DIR`].
    #[error("{}", es::NOT_DIR)]
    NotDir,
    /// See [`es::IN_USE`].
    #[error("{}", es::IN_USE)]
    InUse,
    /// See [`es::FID_OPEN`].
    #[error("{}", es::FID_OPEN)]
    FidOpen,
    /// See [`es::NOT_OPEN_READ`].
    #[error("{}", es::NOT_OPEN_READ)]
    NotOpenRead,
    /// See [`es::NOT_OPEN_WRITE`].
    #[error("{}", es::NOT_OPEN_WRITE)]
    NotOpenWrite,
    /// See [`es::NOT_EMPTY`].
    #[error("{}", es::NOT_EMPTY)]
    NotEmpty,
    /// See [`es::BAD_DIR_OFFSET`].
    #[error("{}", es::BAD_DIR_OFFSET)]
    BadDirOffset,
    /// See [`es::DIR_ENTRY_TOO_BIG`].
    #[error("{}", es::DIR_ENTRY_TOO_BIG)]
    DirEntryTooBig,
    /// See [`es::BAD_NAME`].
    #[error("{}", es::BAD_NAME)]
    BadName,
    /// See [`es::FILE_NAME_TOO_LONG`].
    #[error("{}", es::FILE_NAME_TOO_LONG)]
    FileNameTooLong,
    /// See [`es::DIR_BIT`].
    #[error("{}", es::DIR_BIT)]
    DirBit,
    /// See [`es::DIR_LENGTH`].
    #[error("{}", es::DIR_LENGTH)]
    DirLength,
    /// See [`es::WSTAT_FIELD`].
    #[error("{}", es::WSTAT_FIELD)]
    WstatField,
    /// See [`es::TOO_LARGE`].
    #[error("{}", es::TOO_LARGE)]
    TooLarge,
    /// See [`es::NO_VERSION`].
    #[error("{}", es::NO_VERSION)]
    NoVersion,
    /// See [`es::DUPLICATE_TAG`].
    #[error("{}", es::DUPLICATE_TAG)]
    DuplicateTag,
    /// See [`es::MSIZE_TOO_SMALL`].
    #[error("{}", es::MSIZE_TOO_SMALL)]
    MsizeTooSmall,
    /// See [`es::BAD_MESSAGE`].
    #[error("{}", es::BAD_MESSAGE)]
    BadMessage,
    /// See [`es::REMOVE_ROOT`].
    #[error("{}", es::REMOVE_ROOT)]
    RemoveRoot,
    /// See [`es::NOT_SYMLINK`].
    #[error("{}", es::NOT_SYMLINK)]
    NotSymlink,
    /// See [`es::CROSS_DIR`].
    #[error("{}", es::CROSS_DIR)]
    CrossDir,
    /// No extended attribute of that name (ENODATA).
    #[error("{}", es::NO_ATTR)]
    NoAttr,
    /// An extended attribute name that is empty or too long (ERANGE).
    #[error("extended attribute name of {0} bytes (1 to 255 allowed)")]
    BadXattrName(usize),
    /// The file's extended attributes have no room for this one (ENOSPC).
    #[error("{}", es::NO_SPACE)]
    NoSpace,
    /// What this file system cannot do (a 9P2000 tree cannot hold
    /// extended attributes, fifos or devices): EOPNOTSUPP.
    #[error("{prefix}{0}", prefix = es::NOT_SUPPORTED)]
    NotSupported(&'static str),
    /// See [`es::PAST_END`].
    #[error("{}", es::PAST_END)]
    PastEnd,
    /// A Tlinux op or Rlinux reply that does not decode.
    #[error("malformed 9P2000.colony message: {0}")]
    BadLinuxMessage(String),
    /// A failure of the storage behind a file system, passed on as its text.
    #[error("{0}")]
    Other(String),
    /// A Tattach or Twalk would give the connection more fids than
    /// [`ServerConfig::max_fids`](crate::ServerConfig).
    #[error("too many fids: this connection holds {max}, the most; clunk some")]
    TooManyFids {
        /// The cap.
        max: usize,
    },
    /// A Tattach's uname or aname is longer than the server accepts.
    #[error("{what} of {len} bytes is too long, the most is {max}")]
    NameTooLong {
        /// "uname" or "aname".
        what: &'static str,
        /// Its length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// A listener (the 9P server, a cpu listener) already serves its most
    /// connections; a new one is closed at once.
    #[error("{what} full: {open} connections open, the most is {max}; closing the new one")]
    TooManyConnections {
        /// The listener.
        what: &'static str,
        /// Connections open when this one arrived.
        open: usize,
        /// The cap.
        max: usize,
    },
    /// A client did not negotiate a version (Tversion) in time.
    #[error("no Tversion within {0:?}; closing")]
    HandshakeTimeout(std::time::Duration),
    /// A reply could not be written for this long: the client stopped
    /// reading.
    #[error("a reply made no progress for {0:?}")]
    WriteTimeout(std::time::Duration),
    /// A client sent nothing, with nothing in flight, for this long.
    #[error("idle for {0:?}; closing")]
    IdleTimeout(std::time::Duration),

    /// A system call made for a session (namespaces, mounts, cgroups) failed.
    #[error("session: {what}: {errno}")]
    Sys {
        /// The call and its object.
        what: String,
        /// The error number.
        errno: nix::errno::Errno,
    },
    /// A session's root tree lacks the shell or program it must start.
    #[error("session root {root} has no executable {program}")]
    NoShell {
        /// The root directory.
        root: std::path::PathBuf,
        /// The missing program, as seen inside the session.
        program: String,
    },
    /// The session helper reported a failure while building the namespace.
    #[error("session setup failed: {0}")]
    SessionSetup(String),
    /// The machine offers no cgroup hierarchy with a controller a limit needs.
    #[error("no usable cgroup hierarchy for the {0} controller")]
    NoCgroup(&'static str),
    /// A session's seccomp filter could not be compiled.
    #[error("seccomp filter: {0}")]
    Seccomp(#[source] seccompiler::BackendError),
    /// A compiled seccomp filter longer than the kernel takes.
    #[error("seccomp filter of {0} instructions is too long")]
    SeccompTooLong(usize),
    /// Reading or changing a session process's capabilities failed.
    #[error("capabilities: {what}: {source}")]
    Capabilities {
        /// The operation.
        what: &'static str,
        /// Why.
        #[source]
        source: caps::errors::CapsError,
    },
    /// A session's mount point lies in a directory other host accounts
    /// can enter (or that another owns), so they could reach its files.
    #[error(
        "mount point parent {parent} is reachable by other accounts (mode {mode:o}, owner {uid}): make it 0700 and ours"
    )]
    MountPointNotPrivate {
        /// The directory.
        parent: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Its owner.
        uid: u32,
    },
    /// A session's outbound network (pasta) could not be set up.
    #[error("session network: {reason}")]
    Nat {
        /// What pasta or starting it said.
        reason: String,
    },
    /// The session was already stopped.
    #[error("session is stopped")]
    Stopped,
    /// Building or archiving a test root tree ([`crate::session::testroot`])
    /// failed; the text names the file or program.
    #[error("test root: {0}")]
    TestRoot(String),
    /// A frame of the session or cpu protocol could not be encoded or decoded.
    #[error("bad frame: {0}")]
    Frame(String),
    /// Bytes that are not a frame of colony's framing (too long, cut
    /// short, another version).
    #[error("{0}")]
    Framing(#[from] colony_venti::length_frame::FrameError),
    /// TLS configuration or handshake failure.
    #[error("tls: {0}")]
    Tls(String),
    /// The cpu listener refused the peer (wrong, missing or another user's certificate).
    #[error("refused: {0}")]
    Refused(String),
    /// A named shell's label is not 1 to 32 letters, digits, `.`, `_`, `-`.
    #[error("shell label {0:?}: 1 to 32 letters, digits, '.', '_' or '-'")]
    BadShellLabel(String),
    /// The session already runs as many named shells as it may.
    #[error("the session runs {max} shells, the most it may: end one first (--kill)")]
    TooManyShells {
        /// The cap (`shells-per-env` in a node's limits).
        max: usize,
    },
    /// No shell of that label runs in the session.
    #[error("no shell {0:?} runs in this environment")]
    NoSuchShell(String),
    /// A client asked in a version of the shell requests the listener
    /// does not speak.
    #[error("shell requests of version {asked}: this listener speaks version {spoken}")]
    ShellsVersion {
        /// The client's version.
        asked: u16,
        /// The listener's.
        spoken: u16,
    },
    /// The peer broke the cpu protocol (unexpected frame or early end).
    #[error("cpu protocol: {0}")]
    Protocol(String),
    /// The 9P connection of a remote file system is gone (the text says
    /// why); every call on it fails with this from then on.
    #[error("9P connection lost: {0}")]
    ConnectionLost(String),
    /// A 9P server that does not speak 9P2000 (it answered this version).
    #[error("9P server does not speak 9P2000 (it answered {0:?})")]
    Version(String),
    /// A 9P server answered with a reply of the wrong type.
    #[error("9P server replied {got} to {sent}")]
    UnexpectedReply {
        /// The request's type.
        sent: &'static str,
        /// The reply's type.
        got: String,
    },
}

impl Error {
    /// Wraps a failed system call with what it was doing.
    pub(crate) fn sys(what: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Sys {
            what: what.into(),
            errno,
        }
    }

    /// Wraps a failed I/O call, by its system error number, with what it
    /// was doing (often a path).
    pub(crate) fn sys_io(what: impl std::fmt::Display, e: &std::io::Error) -> Self {
        Error::sys(
            what.to_string(),
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        )
    }

    /// The error an Rerror's text stands for: the file-system variant whose
    /// Plan 9 text it is (the inverse of their Display), else
    /// [`Error::Other`] carrying the text.
    pub fn from_ename(ename: &str) -> Error {
        match ename {
            es::NOT_FOUND => Error::NotFound,
            es::PERMISSION_DENIED => Error::PermissionDenied,
            es::EXISTS => Error::Exists,
            es::UNKNOWN_FID => Error::UnknownFid,
            es::FID_IN_USE => Error::FidInUse,
            es::IS_DIR => Error::IsDir,
            es::NOT_DIR => Error::NotDir,
            es::IN_USE => Error::InUse,
            es::FID_OPEN => Error::FidOpen,
            es::NOT_OPEN_READ => Error::NotOpenRead,
            es::NOT_OPEN_WRITE => Error::NotOpenWrite,
            es::NOT_EMPTY => Error::NotEmpty,
            es::BAD_DIR_OFFSET => Error::BadDirOffset,
            es::DIR_ENTRY_TOO_BIG => Error::DirEntryTooBig,
            es::BAD_NAME => Error::BadName,
            es::FILE_NAME_TOO_LONG => Error::FileNameTooLong,
            es::DIR_BIT => Error::DirBit,
            es::DIR_LENGTH => Error::DirLength,
            es::WSTAT_FIELD => Error::WstatField,
            es::TOO_LARGE => Error::TooLarge,
            es::NO_VERSION => Error::NoVersion,
            es::DUPLICATE_TAG => Error::DuplicateTag,
            es::MSIZE_TOO_SMALL => Error::MsizeTooSmall,
            es::BAD_MESSAGE => Error::BadMessage,
            es::REMOVE_ROOT => Error::RemoveRoot,
            es::NOT_SYMLINK => Error::NotSymlink,
            es::CROSS_DIR => Error::CrossDir,
            es::PAST_END => Error::PastEnd,
            es::NO_ATTR => Error::NoAttr,
            es::NO_SPACE => Error::NoSpace,
            other if other.starts_with(es::NOT_SUPPORTED) => {
                Error::NotSupported("by the 9P server")
            }
            other => match other.strip_suffix(es::AUTH_NOT_REQUIRED) {
                Some(service) if service.ends_with(": ") => {
                    Error::AuthNotRequired(service[..service.len() - 2].to_owned())
                }
                _ => Error::Other(other.to_owned()),
            },
        }
    }
}

/// A name a file may not be given: too long ([`Error::FileNameTooLong`]),
/// else illegal ([`Error::BadName`]), as Plan 9 and Linux tell them apart.
impl From<colony_fossil::name::NameFault> for Error {
    fn from(fault: colony_fossil::name::NameFault) -> Self {
        match fault {
            colony_fossil::name::NameFault::TooLong(_) => Error::FileNameTooLong,
            _ => Error::BadName,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerror_texts_come_back_as_their_variants() {
        let variants = [
            Error::NotFound,
            Error::PermissionDenied,
            Error::Exists,
            Error::UnknownFid,
            Error::FidInUse,
            Error::IsDir,
            Error::NotDir,
            Error::InUse,
            Error::FidOpen,
            Error::NotOpenRead,
            Error::NotOpenWrite,
            Error::NotEmpty,
            Error::BadDirOffset,
            Error::DirEntryTooBig,
            Error::BadName,
            Error::FileNameTooLong,
            Error::DirBit,
            Error::DirLength,
            Error::WstatField,
            Error::TooLarge,
            Error::NoVersion,
            Error::DuplicateTag,
            Error::MsizeTooSmall,
            Error::BadMessage,
            Error::RemoveRoot,
            Error::NotSymlink,
            Error::CrossDir,
            Error::PastEnd,
            Error::NoAttr,
            Error::NoSpace,
            Error::AuthNotRequired("vacfs".into()),
            Error::Other("i/o error: venti: connection reset".into()),
        ];
        for e in variants {
            let back = Error::from_ename(&e.to_string());
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(&e),
                "{e:?} came back as {back:?}"
            );
            assert_eq!(back.to_string(), e.to_string());
        }
        assert!(matches!(
            Error::from_ename("authentication not required"),
            Error::Other(_)
        ));
    }
}
