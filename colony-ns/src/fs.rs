//! The file-system trait a 9P server (and later a FUSE adapter) serves.
//!
//! Files are named by inode-like node ids: the qid path, unique for the life
//! of the file system. The trait knows nothing of fids, open modes or users'
//! rights: the server owns fids and enforces Plan 9's permission rules, and
//! calls the trait only for what it has allowed. Methods are synchronous
//! (the storage engine is; the server runs them on blocking threads).

use crate::error::{Error, Result};
use crate::ninep::DMSYMLINK;

/// The longest file name (Linux's NAME_MAX): names are bytes, as Linux
/// has them ([`colony_fossil::name`]).
pub use colony_fossil::name::NAME_MAX;

/// What [`FileSystem::seek_data`] looks for (SEEK_DATA or SEEK_HOLE).
pub use colony_fossil::fossil::Seek;

/// What [`FileSystem::allocate`] does to a byte range (fallocate's modes).
pub use colony_fossil::fossil::Allocate;

/// A store's use and limit, for statfs ([`FileSystem::space`]).
pub use colony_fossil::fossil::Space;

/// A file's identity: its qid path.
pub type NodeId = u64;

/// A file's metadata, as a stat record carries it ([`Stat::of`]): qid,
/// Plan 9 mode, times, length, name ("/" for the root), owner, group, last
/// modifier. colony-fossil's type, so a Fossil is served without copying.
///
/// [`Stat::of`]: crate::ninep::Stat::of
pub use colony_fossil::fossil::Meta;

/// A metadata change; `None` leaves a field alone, and a file system
/// applies all of it or none of it ([`Stat::wstat_change`] makes one from
/// a Twstat).
///
/// [`Stat::wstat_change`]: crate::ninep::Stat::wstat_change
pub use colony_fossil::fossil::SetMeta;

/// One directory entry from [`FileSystem::readdir`]: the entry's metadata
/// and a cookie to pass to `readdir` to continue after it. Cookies stay
/// valid while the directory changes: an entry is neither repeated nor
/// skipped unless it was itself added or removed meanwhile.
pub use colony_fossil::fossil::DirItem as DirEntry;

/// What a new file is and whose, for [`FileSystem::make`].
pub use colony_fossil::fossil::NewFile;

/// What a rename does when the new name is taken
/// ([`FileSystem::rename_as`]).
pub use colony_fossil::fossil::RenameMode;

/// A time with nanoseconds, as a [`SetMeta`] carries it.
pub use colony_fossil::fossil::Time;

/// Sockets and devices ([`Meta::special`]), and the nanoseconds of the
/// times ([`Meta::nsec`]).
pub use colony_fossil::extension::{Nanos, Special};

/// Whether setting an extended attribute may create it, replace it, or
/// either ([`FileSystem::setxattr`]).
pub use colony_fossil::extension::XattrMode;

/// Checks a name for create and rename ([`colony_fossil::name::check`]):
/// bytes, not empty, "." or "..", without '/' or NUL
/// ([`Error::BadName`]), at most [`NAME_MAX`] bytes
/// ([`Error::FileNameTooLong`]).
pub fn check_name(name: &[u8]) -> Result<()> {
    Ok(colony_fossil::name::check(name)?)
}

/// A tree of files served by 9P (and FUSE). Names and symlink targets are
/// bytes, as Linux has them ([`colony_fossil::name`]). Errors are this crate's
/// [`Error`] variants with Plan 9 texts ([`Error::NotFound`],
/// [`Error::Exists`], [`Error::NotDir`], [`Error::NotEmpty`], ...), or
/// [`Error::Other`] for failures of the storage behind it.
pub trait FileSystem: Send + Sync + 'static {
    /// The root of the tree `aname` ("" for the default) for user `uname`.
    fn attach(&self, uname: &str, aname: &str) -> Result<NodeId>;

    /// A node's metadata.
    fn stat(&self, node: NodeId) -> Result<Meta>;

    /// The entry `name` of directory `dir` ("..": the parent; the root's
    /// parent is the root). [`Error::NotDir`] if `dir` is not a directory.
    fn lookup(&self, dir: NodeId, name: &[u8]) -> Result<Meta>;

    /// The directory holding `node` (the root is its own parent).
    fn parent(&self, node: NodeId) -> Result<Meta>;

    /// Up to `count` bytes at `offset`; fewer (or none) at the end of file.
    /// Directories are read with [`FileSystem::readdir`] instead.
    fn read(&self, node: NodeId, offset: u64, count: u32) -> Result<Vec<u8>>;

    /// Writes `data` at `offset` (at the end for DMAPPEND files), extending
    /// with zeros if needed; sets mtime, muid = `user`, bumps the qid
    /// version. Returns the bytes written.
    fn write(&self, node: NodeId, offset: u64, data: &[u8], user: &str) -> Result<u32>;

    /// Creates `name` in `dir` with exactly `perm` (DMDIR: a directory;
    /// DMSYMLINK: a symlink whose contents are the target), owner `user`,
    /// group the directory's group. [`Error::Exists`] if the name is taken.
    fn create(&self, dir: NodeId, name: &[u8], perm: u32, user: &str) -> Result<Meta>;

    /// Removes a file or an empty directory ([`Error::NotEmpty`] otherwise).
    fn remove(&self, node: NodeId) -> Result<()>;

    /// Applies a metadata change, all or nothing: rename within the parent
    /// ([`Error::Exists`] on collision), mode (not DMDIR), times, owner,
    /// group, length (truncate or extend). Returns the new metadata.
    fn wstat(&self, node: NodeId, change: &SetMeta, user: &str) -> Result<Meta>;

    /// Moves `node` to `name` in directory `dir`, which may be another
    /// directory than its own (in its own, this is a wstat of the name).
    /// Never replaces: [`Error::Exists`] if the name is taken (POSIX
    /// callers remove the target first); [`Error::BadName`] if `dir` is
    /// `node` or below it; [`Error::RemoveRoot`] for the root;
    /// [`Error::CrossDir`], with nothing changed, from a file system that
    /// can rename only within a directory (a 9P2000 client's). The node
    /// keeps its id, contents and metadata. Returns the new metadata.
    fn rename(&self, node: NodeId, dir: NodeId, name: &[u8], user: &str) -> Result<Meta>;

    /// Calls `sink` with the entries of `dir` after `cookie` (0: from the
    /// start), in a stable order, until `sink` returns false or the entries
    /// run out.
    fn readdir(
        &self,
        dir: NodeId,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry) -> bool,
    ) -> Result<()>;

    /// Creates `name` in `dir` as `new` says: any kind of file (fifos,
    /// sockets and devices too), owner and group by name and number.
    /// The default serves trees that have only 9P2000's notions:
    /// [`FileSystem::create`] by name (the numbers are dropped), and
    /// [`Error::NotSupported`] for sockets, fifos and devices.
    fn make(&self, dir: NodeId, name: &[u8], new: &NewFile<'_>) -> Result<Meta> {
        plain::make(self, dir, name, new)
    }

    /// Moves `node` to `name` in `dir` as [`FileSystem::rename`] does, but
    /// when the name is taken does what `mode` says, atomically: no moment
    /// in which the name is missing. The default does only
    /// [`RenameMode::NoReplace`]; [`Error::NotSupported`] otherwise (the
    /// caller may then remove the target and rename, not atomically).
    fn rename_as(
        &self,
        node: NodeId,
        dir: NodeId,
        name: &[u8],
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        match mode {
            RenameMode::NoReplace => self.rename(node, dir, name, user),
            _ => Err(Error::NotSupported("atomic rename over a name")),
        }
    }

    /// Gives file `node` the further name `name` in `dir` (link(2)): one
    /// file, one node id, `nlink` names. [`Error::IsDir`] for a directory,
    /// [`Error::Exists`] if the name is taken. The default: no hard links
    /// ([`Error::NotSupported`]).
    fn link(&self, _node: NodeId, _dir: NodeId, _name: &[u8]) -> Result<Meta> {
        Err(Error::NotSupported("hard links"))
    }

    /// Removes the name `name` of `dir` (unlink(2), rmdir(2)): the file
    /// with it unless it has other names. The default serves trees of one
    /// name per file: [`FileSystem::remove`] of the node.
    fn unlink(&self, dir: NodeId, name: &[u8]) -> Result<()> {
        plain::unlink(self, dir, name)
    }

    /// Moves the name `from` of `from_dir` as [`FileSystem::rename_as`]
    /// moves a node: of a file of several names, this name. The default
    /// serves trees of one name per file: `rename_as` of the node.
    fn rename_at(
        &self,
        (from_dir, from): (NodeId, &[u8]),
        (dir, name): (NodeId, &[u8]),
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        plain::rename_at(self, (from_dir, from), (dir, name), mode, user)
    }

    /// The value of `node`'s extended attribute `name`
    /// ([`Error::NoAttr`] if none).
    fn getxattr(&self, _node: NodeId, _name: &[u8]) -> Result<Vec<u8>> {
        Err(Error::NotSupported("extended attributes"))
    }

    /// The names of `node`'s extended attributes. [`Error::NotSupported`]
    /// says the file system has none at all (the FUSE adapter then leaves
    /// POSIX ACLs off).
    fn listxattr(&self, _node: NodeId) -> Result<Vec<Vec<u8>>> {
        Err(Error::NotSupported("extended attributes"))
    }

    /// Sets `node`'s extended attribute `name` to `value`.
    fn setxattr(&self, _node: NodeId, _name: &[u8], _value: &[u8], _mode: XattrMode) -> Result<()> {
        Err(Error::NotSupported("extended attributes"))
    }

    /// Removes `node`'s extended attribute `name` ([`Error::NoAttr`] if
    /// none).
    fn removexattr(&self, _node: NodeId, _name: &[u8]) -> Result<()> {
        Err(Error::NotSupported("extended attributes"))
    }

    /// Asks the file system to keep removed files readable and writable
    /// by node id until [`FileSystem::forget`], as a kernel keeps an
    /// unlinked inode while it is held: true if it will (a FUSE mount asks;
    /// then nothing need hide a file unlinked while open). The default
    /// cannot.
    fn keep_removed(&self) -> bool {
        false
    }

    /// The kernel holds `node` no more (FUSE's FORGET): a removed node
    /// kept by [`FileSystem::keep_removed`] may go.
    fn forget(&self, _node: NodeId) {}

    /// Makes a node's changes durable (a Twstat with nothing to change).
    fn sync(&self, _node: NodeId) -> Result<()> {
        Ok(())
    }

    /// Creates a symbolic link: a DMSYMLINK file holding the target, made
    /// as [`FileSystem::make`] makes files, with `owner`'s owner and group
    /// (its `perm` and `special` are not used: a link's mode is always
    /// DMSYMLINK | 0777).
    fn symlink(
        &self,
        dir: NodeId,
        name: &[u8],
        target: &[u8],
        owner: &NewFile<'_>,
    ) -> Result<Meta> {
        let new = NewFile {
            perm: DMSYMLINK | 0o777,
            special: None,
            ..*owner
        };
        let meta = self.make(dir, name, &new)?;
        self.write(meta.node(), 0, target, owner.user)?;
        self.stat(meta.node())
    }

    /// A symbolic link's target: bytes, as Linux has them.
    fn readlink(&self, node: NodeId) -> Result<Vec<u8>> {
        let meta = self.stat(node)?;
        if meta.mode & DMSYMLINK == 0 {
            return Err(Error::NotSymlink);
        }
        let count = u32::try_from(meta.length).map_err(|_| Error::TooLarge)?;
        self.read(node, 0, count)
    }

    // Sparse files and space: lseek's SEEK_DATA/SEEK_HOLE, fallocate,
    // statfs. The defaults serve a file system that knows no holes.

    /// Where the first data ([`Seek::Data`]) or hole ([`Seek::Hole`]) at or
    /// after `offset` in file `node` starts; the end of the file counts as
    /// a hole. [`Error::PastEnd`] if `offset` is at or past the end, or if
    /// only holes follow it when seeking data; [`Error::IsDir`] for a
    /// directory. The default: no holes, data everywhere up to the length.
    fn seek_data(&self, node: NodeId, offset: u64, whence: Seek) -> Result<u64> {
        plain::seek_data(self, node, offset, whence)
    }

    /// Applies `how` to bytes `offset..offset + len` of file `node`, for
    /// `user` (fallocate): what changes the contents or the length is a
    /// modification. [`Error::TooLarge`] if the range ends past what the
    /// file system holds; [`Error::IsDir`] for a directory. The default
    /// writes zeros where the range must read as zeros (a file system with
    /// holes makes them holes) and sets the length where it must grow.
    fn allocate(
        &self,
        node: NodeId,
        offset: u64,
        len: u64,
        how: Allocate,
        user: &str,
    ) -> Result<()> {
        plain::allocate(self, node, (offset, len), how, user)
    }

    /// The store's use and limit, if the file system knows them (statfs).
    fn space(&self) -> Option<Space> {
        None
    }
}

/// The trait's defaults for what a tree of only 9P2000's notions can do,
/// for a file system that does more only sometimes (a 9P client whose
/// server may not speak 9P2000.colony).
pub(crate) mod plain {
    use super::*;

    /// Files and directories only ([`FileSystem::make`]).
    pub fn make<F: FileSystem + ?Sized>(
        fs: &F,
        dir: NodeId,
        name: &[u8],
        new: &NewFile<'_>,
    ) -> Result<Meta> {
        use crate::ninep::{DMDEVICE, DMNAMEDPIPE};
        if new.special.is_some() || new.perm & (DMDEVICE | DMNAMEDPIPE) != 0 {
            return Err(Error::NotSupported("fifos, sockets and devices"));
        }
        fs.create(dir, name, new.perm, new.user)
    }

    /// The node named, removed ([`FileSystem::unlink`]).
    pub fn unlink<F: FileSystem + ?Sized>(fs: &F, dir: NodeId, name: &[u8]) -> Result<()> {
        let meta = fs.lookup(dir, name)?;
        fs.remove(meta.node())
    }

    /// The node named, renamed ([`FileSystem::rename_at`]).
    pub fn rename_at<F: FileSystem + ?Sized>(
        fs: &F,
        (from_dir, from): (NodeId, &[u8]),
        to: (NodeId, &[u8]),
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        let meta = fs.lookup(from_dir, from)?;
        fs.rename_as(meta.node(), to.0, to.1, mode, user)
    }

    /// No holes: all data, then the end ([`FileSystem::seek_data`]).
    pub fn seek_data<F: FileSystem + ?Sized>(
        fs: &F,
        node: NodeId,
        offset: u64,
        whence: Seek,
    ) -> Result<u64> {
        let meta = fs.stat(node)?;
        if meta.is_dir() {
            return Err(Error::IsDir);
        }
        if offset >= meta.length {
            return Err(Error::PastEnd);
        }
        Ok(match whence {
            Seek::Data => offset,
            Seek::Hole => meta.length,
        })
    }

    /// Zeros written and the length set ([`FileSystem::allocate`]).
    pub fn allocate<F: FileSystem + ?Sized>(
        fs: &F,
        node: NodeId,
        (offset, len): (u64, u64),
        how: Allocate,
        user: &str,
    ) -> Result<()> {
        /// Zeros written per call.
        const CHUNK: u64 = 1 << 20;
        let meta = fs.stat(node)?;
        if meta.is_dir() {
            return Err(Error::IsDir);
        }
        let end = offset.checked_add(len).ok_or(Error::TooLarge)?;
        if how.zeroes() {
            let zeros = vec![0; CHUNK.min(len) as usize];
            let mut at = offset;
            while at < end.min(meta.length) {
                let n = (end.min(meta.length) - at).min(CHUNK);
                fs.write(node, at, &zeros[..n as usize], user)?;
                at += n;
            }
        }
        if !how.keeps_size() && end > meta.length {
            let grow = SetMeta {
                length: Some(end),
                ..SetMeta::default()
            };
            fs.wstat(node, &grow, user)?;
        }
        Ok(())
    }
}
