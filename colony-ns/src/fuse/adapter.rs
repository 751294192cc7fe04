//! The FUSE operations, each in terms of the [`FileSystem`] trait.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FopenFlags, Generation, INodeNo, InitFlags, IoctlFlags,
    KernelConfig, LockOwner, Notifier, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyLseek, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr,
    Request, TimeOrNow, WriteFlags,
};

use crate::fs::{FileSystem, Meta, NodeId, Special};
use crate::fuse::attr::{self, Inodes};
use crate::fuse::edit::{Change, Kind};
use crate::fuse::ids::IdMap;
use crate::fuse::names::entry_name;
use crate::fuse::open_files::OpenFiles;
use crate::fuse::xattr::reply_xattr;
use crate::ninep::{DMDEVICE, DMDIR, DMNAMEDPIPE, DMSYMLINK};

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
    /// Answer OPEN with ENOSYS, so that the kernel stops sending it (and
    /// RELEASE): two round trips fewer for every open. For a sole writer
    /// of a tree that keeps removed files for their holders, nothing here
    /// needs to know who holds what (the [`Flusher`] looks in /proc). The
    /// kernel then keeps every file's pages across opens. (Directories
    /// are still opened: without OPENDIR the kernel caches listings and
    /// no longer reads them with READDIRPLUS, and `find`, `git` and
    /// `stat` then ask for each entry's attributes one by one.)
    ///
    /// [`Flusher`]: crate::fuse::Flusher
    pub skip_open: bool,
}

/// A [`FileSystem`] as a `fuser` file system.
pub(crate) struct Adapter {
    pub fs: Arc<dyn FileSystem>,
    pub inodes: Inodes,
    pub ids: IdMap,
    pub tuning: Tuning,
    pub open: Arc<OpenFiles>,
    /// POSIX ACLs are on (`FUSE_POSIX_ACL`): keep them in step ([`acl`]).
    ///
    /// [`acl`]: crate::fuse::acl
    pub acls: bool,
    /// The kernel leaves the umask to the file system (`FUSE_DONT_MASK`),
    /// so a directory's default ACL can take its place.
    pub dont_mask: bool,
    /// The file system drops set-id bits on write, truncate and chown
    /// (`FUSE_HANDLE_KILLPRIV_V2`). In return the kernel marks the mount
    /// SB_NOSEC: it asks for a file's `security.capability` once, not at
    /// every write (which without this is one GETXATTR a write).
    pub killpriv: bool,
    /// Tells the kernel what changed without its asking (set once the
    /// session exists).
    pub notifier: Arc<OnceLock<Notifier>>,
}

/// Node ids are never reused, so every inode has generation 0.
const GENERATION: Generation = Generation(0);

/// The most bytes one FUSE read or write carries (the kernel's ceiling).
const MAX_IO: u32 = 1 << 20;

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
        Ok(self.fs.lookup(self.node(parent), entry_name(name)?)?)
    }
}

/// The error for a node that is gone: ESTALE, not ENOENT. A name looked
/// up just before another process renamed a new file over it (or removed
/// it) names a node that no longer exists; on ESTALE the kernel looks the
/// name up afresh and retries the open or stat once, finding the new
/// file, as on NFS.
fn stale(e: crate::error::Error) -> Errno {
    match Errno::from(e) {
        Errno::ENOENT => Errno::ESTALE,
        other => other,
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
        let _ = config.set_time_granularity(Duration::from_nanos(1));
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
        // The kernel enforces POSIX ACLs from the `system.posix_acl_*`
        // attributes and keeps the mode in step with them (a program
        // setting an ACL that only restates the mode, as `cp -a` does,
        // changes the mode). Without it an ACL would be stored but mean
        // nothing, and such a program would leave the mode as it was.
        if self.fs.listxattr(self.inodes.node(INodeNo(1))).is_ok() {
            self.acls = config.add_capabilities(InitFlags::FUSE_POSIX_ACL).is_ok();
            self.dont_mask =
                self.acls && config.add_capabilities(InitFlags::FUSE_DONT_MASK).is_ok();
        }
        self.killpriv = config
            .add_capabilities(InitFlags::FUSE_HANDLE_KILLPRIV_V2)
            .is_ok();
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

    fn forget(&self, _req: &Request, ino: INodeNo, _nlookup: u64) {
        // The kernel forgets an inode once, when it drops it, with all its
        // lookups. Inode numbers are computed from node ids (see `Inodes`):
        // only a removed file kept for the kernel goes now.
        self.fs.forget(self.node(ino));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let meta = self.fs.stat(self.node(ino)).map_err(stale);
        self.reply_attr(reply, meta);
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
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e.into()),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let (bits, special) = match mode & S_IFMT {
            0 | S_IFREG => (0, None),
            S_IFIFO => (DMNAMEDPIPE, None),
            S_IFSOCK => (0, Some(Special::Socket)),
            S_IFCHR => (
                DMDEVICE,
                Some(Special::CharDevice(attr::rdev_from_fuse(rdev))),
            ),
            S_IFBLK => (
                DMDEVICE,
                Some(Special::BlockDevice(attr::rdev_from_fuse(rdev))),
            ),
            _ => return reply.error(Errno::EINVAL),
        };
        let kind = Kind {
            bits,
            perm: mode,
            umask,
            special,
        };
        self.reply_entry(reply, self.make(req, parent, name, kind));
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let kind = Kind {
            bits: DMDIR,
            perm: mode,
            umask,
            special: None,
        };
        self.reply_entry(reply, self.make(req, parent, name, kind));
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
        // The target is bytes, as the kernel gave it.
        let target = target.as_os_str().as_bytes();
        let kind = Kind {
            bits: DMSYMLINK,
            perm: 0o777,
            umask: 0,
            special: None,
        };
        let r = self.make_with(req, parent, link_name, kind, |dir, name, new| {
            self.fs.symlink(dir, name, target, new)
        });
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
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = self.link_entry(ino, newparent, newname);
        self.reply_entry(reply, r);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if self.tuning.skip_open {
            return reply.error(Errno::ENOSYS);
        }
        let node = self.node(ino);
        match self.fs.stat(node) {
            Ok(_) => {
                self.open.opened(node);
                reply.opened(FileHandle(0), self.open_flags());
            }
            Err(e) => reply.error(stale(e)),
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
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let node = self.node(ino);
        if self.killpriv && write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID) {
            if let Err(e) = self.drop_set_ids(req, ino) {
                return reply.error(e);
            }
        }
        match self.fs.write(node, offset, data, &self.user(req)) {
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

    /// fsync and fdatasync: [`FileSystem::sync`] (a live fossil's owner
    /// makes it a checkpoint). `sync(2)` and `syncfs(2)` send nothing to a
    /// `/dev/fuse` server (the kernel keeps FUSE_SYNCFS for virtiofs).
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

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.set_xattr(ino, name, value, flags));
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        reply_xattr(reply, size, self.get_xattr(ino, name));
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        reply_xattr(reply, size, self.list_xattr(ino));
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.remove_xattr(ino, name));
    }

    // Holes and space (see space.rs).

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.reply_statfs(reply);
    }

    fn lseek(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        match self.seek(ino, offset, whence) {
            Ok(at) => reply.offset(at),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.allocate_range(req, ino, offset, length, mode));
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let kind = Kind {
            bits: 0,
            perm: mode,
            umask,
            special: None,
        };
        match self
            .make(req, parent, name, kind)
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

    /// No file here has ioctls: ENOTTY, as a Linux file system answers for
    /// an ioctl it does not know (fuser's default logs a warning at every
    /// `isatty` on a file and answers ENOSYS).
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        reply.error(Errno::ENOTTY);
    }
}

/// The file-type bits of a Unix mode, and the types.
const S_IFMT: u32 = nix::libc::S_IFMT;
const S_IFREG: u32 = nix::libc::S_IFREG;
const S_IFIFO: u32 = nix::libc::S_IFIFO;
const S_IFSOCK: u32 = nix::libc::S_IFSOCK;
const S_IFCHR: u32 = nix::libc::S_IFCHR;
const S_IFBLK: u32 = nix::libc::S_IFBLK;
