//! The crate's error type.

use std::path::PathBuf;

use colony_venti::{BlockType, Score};

/// Everything that can go wrong reading, writing, importing or exporting a
/// vac archive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The block store failed (missing block, I/O, size limit...).
    #[error(transparent)]
    Venti(#[from] colony_venti::Error),
    /// A record's bytes do not decode: `what` names the record kind.
    #[error("bad {what}: {reason}")]
    Format {
        /// "VtEntry", "VtRoot", "MetaBlock", "DirEntry", "pointer tree"...
        what: &'static str,
        /// What exactly is wrong.
        reason: String,
    },
    /// A block read back does not hash to the score it was asked for.
    #[error("block {score}/{} fails its hash", ty.libventi())]
    HashMismatch {
        /// The score asked for.
        score: Score,
        /// The type asked for.
        ty: BlockType,
    },
    /// A problem inside one block, named by its score.
    #[error("block {score}: {source}")]
    InBlock {
        /// The block's score.
        score: Score,
        /// What went wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// A problem with one file or directory of an archive, named by path.
    #[error("{path}: {source}")]
    AtPath {
        /// Path inside the archive ("/tiny/hello.txt").
        path: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// A value the vac format cannot hold (a size above 2^48, a name longer
    /// than 65535 bytes, a block size the big encoding cannot express...).
    #[error("cannot represent in vac: {0}")]
    Unrepresentable(String),
    /// A file length or write end past vac's 2^48 - 1 byte limit.
    #[error("file too large: {0} bytes is past the 2^48 - 1 limit")]
    TooLarge(u64),
    /// No file with that name or node id (or it has been removed).
    #[error("file does not exist")]
    NotFound,
    /// The name is taken.
    #[error("file already exists")]
    Exists,
    /// A directory operation on a file.
    #[error("not a directory")]
    NotDir,
    /// A file operation on a directory.
    #[error("is a directory")]
    IsDir,
    /// Removing a directory that has entries.
    #[error("directory not empty")]
    NotEmpty,
    /// A name a file may not be given ([`crate::name::check`]).
    #[error("bad file name \"{}\": {fault}", crate::name::show(.name))]
    BadName {
        /// The name.
        name: Vec<u8>,
        /// What is wrong with it.
        #[source]
        fault: crate::name::NameFault,
    },
    /// A directory of an archive holds an entry whose name cannot name a
    /// file: empty, `.`, `..`, or holding `/` or NUL. Only a hostile or
    /// damaged archive has one; the directory is refused wherever its
    /// entries are decoded ([`crate::dir::child_entries`]), so no
    /// extraction writes outside its destination through it and no mount
    /// shows it. The directory is named by an enclosing [`Error::AtPath`].
    #[error("directory entry \"{}\" is not a file name: {fault}", crate::name::show(.name))]
    BadEntryName {
        /// The entry's name as stored.
        name: Vec<u8>,
        /// What is wrong with it ([`crate::name::check_form`]).
        #[source]
        fault: crate::name::NameFault,
    },
    /// A metadata change that would turn a file into a directory or back.
    #[error("cannot change the directory bit")]
    DirBit,
    /// A directory's length set to something other than 0.
    #[error("a directory's length can only be set to 0")]
    DirLength,
    /// Removing or renaming the root.
    #[error("cannot remove or rename the root")]
    RemoveRoot,
    /// Reading a link target of a file that is not a symlink.
    #[error("not a symbolic link")]
    NotSymlink,
    /// A seek for data or a hole from an offset at or past the end of the
    /// file, or for data where only holes follow (lseek's ENXIO).
    #[error("no data or hole at or after the offset")]
    PastEnd,
    /// Moving a directory below itself.
    #[error("cannot move a directory into itself")]
    MoveIntoSelf,
    /// No extended attribute of that name.
    #[error("no such extended attribute")]
    NoAttr,
    /// An extended attribute name that is empty or longer than 255 bytes.
    #[error("extended attribute name of {0} bytes (1 to 255 allowed)")]
    BadXattrName(usize),
    /// A file's extended attributes would pass
    /// [`crate::extension::XATTR_SPACE`].
    #[error("no space left for the file's extended attributes")]
    NoSpace,
    /// I/O on a local file failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "read", "create", "utimes"...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A [`Error::Format`] error.
    pub fn format(what: &'static str, reason: impl Into<String>) -> Error {
        Error::Format {
            what,
            reason: reason.into(),
        }
    }

    /// Wraps `self` as a problem of block `score`.
    pub fn in_block(self, score: Score) -> Error {
        Error::InBlock {
            score,
            source: Box::new(self),
        }
    }

    /// Wraps `self` as a problem of archive path `path`.
    pub fn at_path(self, path: &str) -> Error {
        Error::AtPath {
            path: path.to_string(),
            source: Box::new(self),
        }
    }

    /// An [`Error::Io`] error.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
