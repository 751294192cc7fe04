//! The file-system trait a 9P server (and later a FUSE adapter) serves.
//!
//! Files are named by inode-like node ids: the qid path, unique for the life
//! of the file system. The trait knows nothing of fids, open modes or users'
//! rights: the server owns fids and enforces Plan 9's permission rules, and
//! calls the trait only for what it has allowed. Methods are synchronous
//! (the storage engine is; the server runs them on blocking threads).

use crate::error::{Error, Result};
use crate::ninep::{DMDIR, DMSYMLINK, Qid, Stat};

/// A file's identity: its qid path.
pub type NodeId = u64;

/// A file's metadata, as a stat record carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Type (mode's top byte), version (bumped on change), path (the node id).
    pub qid: Qid,
    /// Permission bits and DM* flags (DMDIR, DMAPPEND, DMEXCL, DMSYMLINK, ...).
    pub mode: u32,
    /// Last access, seconds since the epoch.
    pub atime: u32,
    /// Last modification, seconds since the epoch.
    pub mtime: u32,
    /// Length in bytes (0 for directories).
    pub length: u64,
    /// Last path element; "/" for the root.
    pub name: String,
    /// Owner.
    pub uid: String,
    /// Group.
    pub gid: String,
    /// Last modifier ("" if unknown).
    pub muid: String,
}

impl Meta {
    /// The node id (qid path).
    pub fn node(&self) -> NodeId {
        self.qid.path
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & DMDIR != 0
    }

    /// The 9P stat record (type and dev 0).
    pub fn to_stat(&self) -> Stat {
        Stat {
            ty: 0,
            dev: 0,
            qid: self.qid,
            mode: self.mode,
            atime: self.atime,
            mtime: self.mtime,
            length: self.length,
            name: self.name.clone(),
            uid: self.uid.clone(),
            gid: self.gid.clone(),
            muid: self.muid.clone(),
        }
    }
}

/// A metadata change; `None` leaves a field alone. A file system applies all
/// of it or none of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetMeta {
    /// Rename within the parent directory.
    pub name: Option<String>,
    /// New mode; the DMDIR bit must not change.
    pub mode: Option<u32>,
    /// New access time.
    pub atime: Option<u32>,
    /// New modification time.
    pub mtime: Option<u32>,
    /// Truncate or extend (with zeros); directories only to 0.
    pub length: Option<u64>,
    /// New owner.
    pub uid: Option<String>,
    /// New group.
    pub gid: Option<String>,
}

impl SetMeta {
    /// The change a Twstat asks for: all-ones integers and empty strings are
    /// "don't touch". Fields 9P2000 never lets a client set (type, dev, qid,
    /// muid) must be "don't touch", else [`Error::WstatField`].
    pub fn from_wstat(stat: &Stat) -> Result<Self> {
        let dont = Stat::dont_touch();
        let fixed_untouched = stat.ty == dont.ty
            && stat.dev == dont.dev
            && stat.qid == dont.qid
            && stat.muid.is_empty();
        if !fixed_untouched {
            return Err(Error::WstatField);
        }
        let int = |v: u32| (v != u32::MAX).then_some(v);
        let text = |s: &String| (!s.is_empty()).then(|| s.clone());
        Ok(SetMeta {
            name: text(&stat.name),
            mode: int(stat.mode),
            atime: int(stat.atime),
            mtime: int(stat.mtime),
            length: (stat.length != u64::MAX).then_some(stat.length),
            uid: text(&stat.uid),
            gid: text(&stat.gid),
        })
    }

    /// Whether nothing is to change (a Twstat meaning "sync this file").
    pub fn is_empty(&self) -> bool {
        *self == SetMeta::default()
    }
}

/// One directory entry from [`FileSystem::readdir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's metadata.
    pub meta: Meta,
    /// Pass this to `readdir` to continue after this entry. Cookies stay
    /// valid while the directory changes: an entry is neither repeated nor
    /// skipped unless it was itself added or removed meanwhile.
    pub cookie: u64,
}

/// Checks a name for create and rename: not empty, ".", "..", and without
/// '/' or NUL.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Error::BadName);
    }
    Ok(())
}

/// A tree of files served by 9P (and FUSE). Errors are this crate's
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
    fn lookup(&self, dir: NodeId, name: &str) -> Result<Meta>;

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
    fn create(&self, dir: NodeId, name: &str, perm: u32, user: &str) -> Result<Meta>;

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
    /// `node` or below it; [`Error::RemoveRoot`] for the root. The node
    /// keeps its id,
    /// contents and metadata. Returns the new metadata.
    fn rename(&self, node: NodeId, dir: NodeId, name: &str, user: &str) -> Result<Meta>;

    /// Calls `sink` with the entries of `dir` after `cookie` (0: from the
    /// start), in a stable order, until `sink` returns false or the entries
    /// run out.
    fn readdir(
        &self,
        dir: NodeId,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry) -> bool,
    ) -> Result<()>;

    /// Makes a node's changes durable (a Twstat with nothing to change).
    fn sync(&self, _node: NodeId) -> Result<()> {
        Ok(())
    }

    /// Creates a symbolic link: a DMSYMLINK file holding the target.
    fn symlink(&self, dir: NodeId, name: &str, target: &str, user: &str) -> Result<Meta> {
        let meta = self.create(dir, name, DMSYMLINK | 0o777, user)?;
        self.write(meta.node(), 0, target.as_bytes(), user)?;
        self.stat(meta.node())
    }

    /// A symbolic link's target.
    fn readlink(&self, node: NodeId) -> Result<String> {
        let meta = self.stat(node)?;
        if meta.mode & DMSYMLINK == 0 {
            return Err(Error::NotSymlink);
        }
        let count = u32::try_from(meta.length).map_err(|_| Error::TooLarge)?;
        let bytes = self.read(node, 0, count)?;
        String::from_utf8(bytes).map_err(|_| Error::BadUtf8)
    }
}
