//! The error strings a 9P server sends in Rerror, in one place.
//!
//! Plan 9 clients and users recognise these texts (and some programs match
//! on them), so they are Plan 9's own wherever Plan 9 has one.

/// A walk, open or stat of a name that is not there.
pub const NOT_FOUND: &str = "file does not exist";
/// The user may not do this to this file.
pub const PERMISSION_DENIED: &str = "permission denied";
/// Create (or rename) onto a name that is taken.
pub const EXISTS: &str = "file already exists";
/// A fid the connection does not hold.
pub const UNKNOWN_FID: &str = "fid unknown or out of range";
/// A new fid (attach, walk newfid) that the connection already holds.
pub const FID_IN_USE: &str = "fid already in use";
/// Writing, truncating or removing-on-close a directory.
pub const IS_DIR: &str = "file is a directory";
/// Walking or creating in something that is not a directory.
pub const NOT_DIR: &str = "not a directory";
/// A second open of an exclusive-use (DMEXCL) file.
pub const IN_USE: &str = "file in use";
/// Open, walk or create on a fid that is already open.
pub const FID_OPEN: &str = "fid already open";
/// Read on a fid not opened for reading.
pub const NOT_OPEN_READ: &str = "file not open for reading";
/// Write on a fid not opened for writing.
pub const NOT_OPEN_WRITE: &str = "file not open for writing";
/// Removing a directory that still has entries.
pub const NOT_EMPTY: &str = "directory not empty";
/// A directory read at an offset other than 0 or where the last one ended.
pub const BAD_DIR_OFFSET: &str = "bad offset in directory read";
/// A single directory entry does not fit in the count the client asked for.
pub const DIR_ENTRY_TOO_BIG: &str = "directory entry larger than read count";
/// A name that cannot be a file name ("", ".", "..", or holding '/' or
/// NUL).
pub const BAD_NAME: &str = "illegal name";
/// A name longer than a file may have (Linux's NAME_MAX; Plan 9's own
/// text for ENAMETOOLONG).
pub const FILE_NAME_TOO_LONG: &str = "file name too long";
/// Wstat trying to turn a file into a directory or back.
pub const DIR_BIT: &str = "can't change directory bit";
/// Wstat of a nonzero length on a directory.
pub const DIR_LENGTH: &str = "can't change length of directory";
/// Wstat of a field 9P2000 does not let a client change.
pub const WSTAT_FIELD: &str = "wstat of unchangeable field";
/// A file grown beyond what the file system can hold.
pub const TOO_LARGE: &str = "file too large";
/// A request before Tversion.
pub const NO_VERSION: &str = "version not negotiated";
/// A second request with the tag of one still outstanding.
pub const DUPLICATE_TAG: &str = "duplicate tag";
/// Tversion with a message size too small to carry any I/O.
pub const MSIZE_TOO_SMALL: &str = "msize too small";
/// Appended to the service name in the Rerror to Tauth, as vacfs does.
pub const AUTH_NOT_REQUIRED: &str = "authentication not required";
/// A message a client may not send (Terror, or an R-message).
pub const BAD_MESSAGE: &str = "unexpected message type";
/// Removing the root of the tree.
pub const REMOVE_ROOT: &str = "cannot remove root";
/// Readlink of something that is not a symbolic link.
pub const NOT_SYMLINK: &str = "not a symbolic link";
/// A rename into another directory, which 9P2000's wstat cannot express
/// (a client's answer, never a server's: FUSE turns it into EXDEV so
/// programs copy instead).
pub const CROSS_DIR: &str = "cannot rename across directories";
/// A seek for data or a hole at or past the end of a file, or for data
/// where only holes follow (a FUSE lseek; 9P2000 has no such request).
pub const PAST_END: &str = "no data or hole past offset";
/// An extended attribute that is not there (9P2000.colony; ENODATA).
pub const NO_ATTR: &str = "no such extended attribute";
/// No room left for a file's extended attributes (9P2000.colony; ENOSPC).
pub const NO_SPACE: &str = "no space left for the file's extended attributes";
/// Prefixes what a file system cannot do (EOPNOTSUPP).
pub const NOT_SUPPORTED: &str = "operation not supported by this file system: ";
/// Prefixes the text of a failure of the storage behind a file system
/// (Plan 9 fossil's EIO).
pub const IO_ERROR: &str = "i/o error";
