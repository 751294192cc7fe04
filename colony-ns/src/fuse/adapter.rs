//! The FUSE operations, each in terms of the [`FileSystem`] trait.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FopenFlags, Generation, INodeNo, InitFlags, KernelConfig,
    LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::fs::{FileSystem, Meta, NodeId};
use crate::fuse::attr::{self, Inodes, dm_perm};
use crate::fuse::edit::Change;
use crate::fuse::ids::IdMap;
use crate::fuse::names::{NAME_MAX, existing_name, new_name};
use crate::fuse::open_files::OpenFiles;
use crate::ninep::DMDIR;

/// How long the kernel may trust what it was told.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Attributes (size, mode, times).
    pub attr_ttl: Duration,
    /// Name -> inode bindings (and their absence).
    pub entry_ttl: Duration,
    /// Keep a file's cached pages across opens.
    pub keep_cache: bool,
    /// Ask for the kernel's write-back cache.
    pub writeback_cache: bool,
}

/// A [`FileSystem`] as a `fuser` file system.
pub(crate) struct Adapter {
    pub fs: Arc<dyn FileSystem>,
    pub inodes: Inodes,
    pub ids: IdMap,
    pub tuning: Tuning,
    pub open: Arc<OpenFiles>,
}

/// Node ids are never reused, so every inode has generation 0.
const GENERATION: Generation = Generation(0);

/// The most bytes one FUSE read or write carries (the kernel's ceiling).
const MAX_IO: u32 = 1 << 20;

/// What `statfs` reports. The trait has no notion of capacity, so this is
/// a nominal 1 TiB, all free, in 4 KiB blocks, with room for 2^32 files.
const STATFS_BLOCKS: u64 = (1 << 40) / 4096;
const STATFS_FILES: u64 = 1 << 32;

impl Adapter {
    pub(crate) fn attr(&self, meta: &Meta) -> Result<FileAttr, Errno> {
        attr::file_attr(meta, &self.inodes, &self.ids)
    }

    pub(crate) fn node(&self, ino: INodeNo) -> NodeId {
        self.inodes.node(ino)
    }

    /// The file-system user a request acts for.
    pub(crate) fn user(&self, req: &Request) -> String {
        self.ids.user_name(req.uid())
    }

    fn reply_entry(&self, reply: ReplyEntry, meta: Result<Meta, Errno>) {
        match meta.and_then(|m| self.attr(&m)) {
            Ok(a) => reply.entry_with_ttls(
                &self.tuning.attr_ttl,
                &self.tuning.entry_ttl,
                &a,
                GENERATION,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn reply_attr(&self, reply: ReplyAttr, meta: Result<Meta, Errno>) {
        match meta.and_then(|m| self.attr(&m)) {
            Ok(a) => reply.attr(&self.tuning.attr_ttl, &a),
            Err(e) => reply.error(e),
        }
    }

    fn open_flags(&self) -> FopenFlags {
        if self.tuning.keep_cache {
            FopenFlags::FOPEN_KEEP_CACHE
        } else {
            FopenFlags::empty()
        }
    }

    pub(crate) fn lookup_name(&self, parent: INodeNo, name: &OsStr) -> Result<Meta, Errno> {
        Ok(self.fs.lookup(self.node(parent), existing_name(name)?)?)
    }
}

fn reply_empty(reply: ReplyEmpty, r: Result<(), Errno>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl fuser::Filesystem for Adapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Each setter reports the nearest allowed value when it refuses one.
        if let Err(max) = config.set_max_write(MAX_IO) {
            let _ = config.set_max_write(max);
        }
        if let Err(max) = config.set_max_readahead(MAX_IO) {
            let _ = config.set_max_readahead(max);
        }
        let _ = config.set_max_background(64);
        let _ = config.set_time_granularity(Duration::from_secs(1));
        // Optional speed-ups, each taken only if this kernel has it.
        for flag in [
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_AUTO_INVAL_DATA,
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            InitFlags::FUSE_CACHE_SYMLINKS,
        ] {
            let _ = config.add_capabilities(flag);
        }
        if self.tuning.writeback_cache {
            let _ = config.add_capabilities(InitFlags::FUSE_WRITEBACK_CACHE);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.lookup_name(parent, name) {
            // Inode 0 is FUSE's "no such entry, for entry_ttl": the kernel
            // caches the absence, sparing programs that probe for files
            // (git, compilers, interpreters) a round trip per probe.
            Err(Errno::ENOENT) => reply.entry_with_ttls(
                &Duration::ZERO,
                &self.tuning.entry_ttl,
                &attr::negative_entry(),
                GENERATION,
            ),
            r => self.reply_entry(reply, r),
        }
    }

    fn forget(&self, _req: &Request, _ino: INodeNo, _nlookup: u64) {
        // Inode numbers are computed from node ids (see `Inodes`): no state.
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.reply_attr(reply, self.fs.stat(self.node(ino)).map_err(Errno::from));
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let change = Change {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        let times_only = change.is_times_only();
        match self.setattr_meta(req, ino, change) {
            // With the write-back cache the kernel keeps a file's times and
            // sends them after each unlink, even of the file's last name:
            // a file gone has no times to keep.
            Err(Errno::ENOENT) if times_only => reply.attr(&Duration::ZERO, &attr::gone(ino)),
            r => self.reply_attr(reply, r),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.fs.readlink(self.node(ino)) {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(e.into()),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        // Only regular files: the trait has no fifos, sockets or devices.
        let fmt = mode & S_IFMT;
        let r = if fmt == 0 || fmt == S_IFREG {
            self.make(req, parent, name, dm_perm(mode))
        } else {
            Err(Errno::EPERM)
        };
        self.reply_entry(reply, r);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        self.reply_entry(reply, self.make(req, parent, name, DMDIR | dm_perm(mode)));
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.remove(req, parent, name, false));
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.remove(req, parent, name, true));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let name = new_name(link_name)?;
            let target = target
                .to_str()
                .ok_or(Errno::from_i32(nix::errno::Errno::EILSEQ as i32))?;
            Ok(self
                .fs
                .symlink(self.node(parent), name, target, &self.user(req))?)
        })();
        self.reply_entry(reply, r);
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = self.rename_entry(req, (parent, name), (newparent, newname), flags);
        reply_empty(reply, r);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        // The trait has one name per node: no hard links, to files or
        // directories.
        reply.error(Errno::EPERM);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let node = self.node(ino);
        match self.fs.stat(node) {
            Ok(_) => {
                self.open.opened(node);
                reply.opened(FileHandle(0), self.open_flags());
            }
            Err(e) => reply.error(e.into()),
        }
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let r = self.open.released(&*self.fs, self.node(ino));
        reply_empty(reply, r.map_err(Errno::from));
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.fs.read(self.node(ino), offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e.into()),
        }
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.fs.write(self.node(ino), offset, data, &self.user(req)) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e.into()),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Sent at every close, after the kernel has written the file's
        // dirty pages back (and reported any error doing so). Closing is
        // not a sync (fsync is), and there are no locks to drop here:
        // ENOSYS tells the kernel never to send FLUSH again, sparing every
        // close a round trip.
        reply.error(Errno::ENOSYS);
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.fs.sync(self.node(ino)).map_err(Errno::from));
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.fs.sync(self.node(ino)).map_err(Errno::from));
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        reply: fuser::ReplyDirectory,
    ) {
        self.list(ino, offset, reply);
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        reply: fuser::ReplyDirectoryPlus,
    ) {
        self.list_plus(ino, offset, reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(
            STATFS_BLOCKS,
            STATFS_BLOCKS,
            STATFS_BLOCKS,
            STATFS_FILES,
            STATFS_FILES,
            4096,
            NAME_MAX as u32,
            4096,
        );
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self
            .make(req, parent, name, dm_perm(mode))
            .and_then(|m| self.attr(&m))
        {
            Ok(a) => {
                self.open.opened(self.node(a.ino));
                reply.created(
                    &self.tuning.entry_ttl,
                    &a,
                    GENERATION,
                    FileHandle(0),
                    self.open_flags(),
                );
            }
            Err(e) => reply.error(e),
        }
    }
}

/// The file-type bits of a Unix mode, and the regular-file type.
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
