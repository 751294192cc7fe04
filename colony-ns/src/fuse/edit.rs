//! Changes to the tree: making, removing and renaming entries, and
//! applying setattr.

use std::ffi::OsStr;

use fuser::{Errno, INodeNo, RenameFlags, Request, TimeOrNow};

use crate::error::Error;
use crate::fs::{Meta, NewFile, NodeId, RenameMode, SetMeta, Special, Time, XattrMode};
use crate::fuse::acl::{self, Acl};
use crate::fuse::adapter::Adapter;
use crate::fuse::attr::{PERM_BITS, dm_perm};
use crate::fuse::names::entry_name;
use crate::ninep::{DMDIR, DMSETGID, DMSETUID, DMSYMLINK};

/// The parts of a setattr the file system can apply.
pub(crate) struct Change {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
}

fn time(t: TimeOrNow) -> Time {
    match t {
        TimeOrNow::SpecificTime(t) => Time::from_system(t),
        TimeOrNow::Now => Time::now(),
    }
}

/// What a new file is, from the kernel's request.
pub(crate) struct Kind {
    /// Plan 9 type bits (DMDIR, DMSYMLINK, DMNAMEDPIPE, DMDEVICE) or 0.
    pub bits: u32,
    /// Unix permission bits, set-id and sticky included.
    pub perm: u32,
    /// The caller's umask (applied here when the kernel leaves it to the
    /// file system).
    pub umask: u32,
    /// A socket or device.
    pub special: Option<Special>,
}

impl Change {
    /// Sets the modification time and nothing else the file system keeps
    /// (what the kernel sends when it writes back times it keeps).
    pub(crate) fn is_times_only(&self) -> bool {
        self.mtime.is_some()
            && self.mode.is_none()
            && self.uid.is_none()
            && self.gid.is_none()
            && self.size.is_none()
            && self.atime.is_none()
    }
}

impl Adapter {
    /// Creates `name` in `parent`, owned by the caller. The group is the
    /// caller's, or the directory's where the directory is set-group-id
    /// (which a new directory inherits), as Linux file systems do. A
    /// directory's default ACL takes the umask's place, and a new file
    /// inherits it ([`crate::fuse::acl`]).
    pub(crate) fn make(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        kind: Kind,
    ) -> Result<Meta, Errno> {
        self.make_with(req, parent, name, kind, |dir, name, new| {
            self.fs.make(dir, name, new)
        })
    }

    /// [`Adapter::make`], with `make` doing the making.
    pub(crate) fn make_with(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        kind: Kind,
        make: impl FnOnce(NodeId, &[u8], &NewFile<'_>) -> crate::error::Result<Meta>,
    ) -> Result<Meta, Errno> {
        let name = entry_name(name)?;
        let dir = self.fs.stat(self.node(parent))?;
        let user = self.ids.user_name(req.uid());
        let default_acl = (self.acls && kind.bits & DMSYMLINK == 0)
            .then(|| self.fs.getxattr(dir.node(), acl::DEFAULT).ok())
            .flatten()
            .and_then(|v| Acl::parse(&v));
        let unix = match &default_acl {
            Some(d) => d.inherited(kind.perm & 0o777).mode() | (kind.perm & 0o7000),
            None if self.dont_mask => kind.perm & !kind.umask,
            None => kind.perm,
        };
        let mut perm = kind.bits | dm_perm(unix);
        let (group, gid_number) = if dir.mode & DMSETGID != 0 {
            if kind.bits & DMDIR != 0 {
                perm |= DMSETGID;
            }
            (dir.gid.clone(), dir.gid_number)
        } else {
            (
                self.ids.group_name(req.gid()),
                Some(self.ids.to_inner(req.gid())),
            )
        };
        let new = NewFile {
            perm,
            special: kind.special,
            user: &user,
            group: Some(&group),
            uid_number: Some(self.ids.to_inner(req.uid())),
            gid_number,
        };
        let meta = make(self.node(parent), name, &new)?;
        if let Some(d) = default_acl {
            let access = d.inherited(kind.perm & 0o777);
            if !access.is_minimal() {
                self.fs
                    .setxattr(meta.node(), acl::ACCESS, &access.encode(), XattrMode::Any)?;
            }
            if kind.bits & DMDIR != 0 {
                self.fs
                    .setxattr(meta.node(), acl::DEFAULT, &d.encode(), XattrMode::Any)?;
            }
        }
        Ok(meta)
    }

    /// After a chmod, the access ACL (if any) takes the new bits.
    fn chmod_acl(&self, node: NodeId, perm: u32) -> Result<(), Errno> {
        if !self.acls {
            return Ok(());
        }
        let Some(mut acl) = self
            .fs
            .getxattr(node, acl::ACCESS)
            .ok()
            .and_then(|v| Acl::parse(&v))
        else {
            return Ok(());
        };
        acl.set_mode(perm);
        Ok(self
            .fs
            .setxattr(node, acl::ACCESS, &acl.encode(), XattrMode::Any)?)
    }

    pub(crate) fn setattr_meta(
        &self,
        req: &Request,
        ino: INodeNo,
        change: Change,
    ) -> Result<Meta, Errno> {
        let node = self.node(ino);
        let mut set = SetMeta {
            length: change.size,
            atime: change.atime.map(time),
            mtime: change.mtime.map(time),
            uid: change.uid.map(|u| self.ids.user_name(u)),
            uid_number: change.uid.map(|u| self.ids.to_inner(u)),
            gid: change.gid.map(|g| self.ids.group_name(g)),
            gid_number: change.gid.map(|g| self.ids.to_inner(g)),
            ..SetMeta::default()
        };
        if let Some(mode) = change.mode {
            let old = self.fs.stat(node)?.mode;
            set.mode = Some((old & !PERM_BITS) | dm_perm(mode));
            self.chmod_acl(node, mode & 0o777)?;
        }
        // Giving a file away drops its set-id bits, whoever does it;
        // truncating, unless the caller may keep them (see `killpriv`).
        let gives_away = change.uid.is_some() || change.gid.is_some();
        let truncates = change.size.is_some() && !self.may_keep_set_ids(req);
        if self.killpriv && (gives_away || truncates) {
            let meta = self.fs.stat(node)?;
            if !meta.is_dir() {
                let mode = set.mode.unwrap_or(meta.mode);
                if without_set_ids(mode) != mode {
                    set.mode = Some(without_set_ids(mode));
                }
            }
        }
        if set.is_empty() {
            // A ctime-only change (or none): nothing to apply.
            return Ok(self.fs.stat(node)?);
        }
        Ok(self.fs.wstat(node, &set, &self.user(req))?)
    }

    /// Before a write the kernel marks as the caller's (it lacks
    /// CAP_FSETID): drops the file's set-id bits, and has the kernel drop
    /// the mode it caches (a write's reply carries no attributes).
    pub(crate) fn drop_set_ids(&self, req: &Request, ino: INodeNo) -> Result<(), Errno> {
        let node = self.node(ino);
        let mode = self.fs.stat(node)?.mode;
        if without_set_ids(mode) != mode {
            let set = SetMeta {
                mode: Some(without_set_ids(mode)),
                ..SetMeta::default()
            };
            self.fs.wstat(node, &set, &self.user(req))?;
            // Attributes only (a negative offset): no page is touched, so
            // this cannot wait on the write the kernel holds locks for.
            if let Some(notifier) = self.notifier.get() {
                notifier
                    .inval_inode(ino, -1, 0)
                    .map_err(|e| Errno::from_i32(e.raw_os_error().unwrap_or(nix::libc::EIO)))?;
            }
        }
        Ok(())
    }

    /// Whether the caller may keep set-id bits when it truncates a file
    /// (the kernel's CAP_FSETID test). The kernel makes that test itself
    /// and says so in a setattr flag that `fuser` does not pass on, so
    /// here the environment's root stands for the capability.
    fn may_keep_set_ids(&self, req: &Request) -> bool {
        self.ids.to_inner(req.uid()) == 0
    }

    pub(crate) fn remove(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        want_dir: bool,
    ) -> Result<(), Errno> {
        let meta = self.lookup_name(parent, name)?;
        let at = (self.node(parent), entry_name(name)?);
        match (meta.is_dir(), want_dir) {
            (true, false) => Err(Errno::EISDIR),
            (false, true) => Err(Errno::ENOTDIR),
            (true, true) => Ok(self.fs.unlink(at.0, at.1)?),
            (false, false) => Ok(self.open.unlink(&*self.fs, at, &meta, &self.user(req))?),
        }
    }

    /// link(2): EPERM for a directory and where the file system has no
    /// hard links, as Linux's file systems answer.
    pub(crate) fn link_entry(
        &self,
        ino: INodeNo,
        new_dir: INodeNo,
        name: &OsStr,
    ) -> Result<Meta, Errno> {
        let name = entry_name(name)?;
        let node = self.node(ino);
        if self.fs.stat(node)?.is_dir() {
            return Err(Errno::EPERM);
        }
        match self.fs.link(node, self.node(new_dir), name) {
            Err(Error::NotSupported(_) | Error::IsDir) => Err(Errno::EPERM),
            r => Ok(r?),
        }
    }

    /// rename(2) and renameat2(2)'s NOREPLACE and EXCHANGE: atomic where
    /// the file system can replace a name in one step
    /// ([`FileSystem::rename_as`](crate::fs::FileSystem::rename_as)).
    /// A target still open must outlive its name (POSIX): it is exchanged
    /// with the source, then hidden as an unlinked open file is; the
    /// target's name is never missing.
    pub(crate) fn rename_entry(
        &self,
        req: &Request,
        (dir, from): (INodeNo, &OsStr),
        (new_dir, to): (INodeNo, &OsStr),
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        if flags.contains(RenameFlags::RENAME_WHITEOUT) {
            return Err(Errno::EINVAL);
        }
        let mode = if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            RenameMode::Exchange
        } else if flags.contains(RenameFlags::RENAME_NOREPLACE) {
            RenameMode::NoReplace
        } else {
            RenameMode::Replace
        };
        let src = self.lookup_name(dir, from)?;
        let from_at = (self.node(dir), entry_name(from)?);
        let to = entry_name(to)?;
        let new_dir = self.node(new_dir);
        let user = self.user(req);
        if mode == RenameMode::Replace
            && let Ok(dst) = self.fs.lookup(new_dir, to)
            && dst.node() != src.node()
            && !dst.is_dir()
            && self.open.must_hide(dst.node())
        {
            match self
                .fs
                .rename_at(from_at, (new_dir, to), RenameMode::Exchange, &user)
            {
                Ok(_) => {
                    let swapped = self.fs.lookup(from_at.0, from_at.1)?;
                    return Ok(self.open.unlink(&*self.fs, from_at, &swapped, &user)?);
                }
                Err(Error::NotSupported(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match self.fs.rename_at(from_at, (new_dir, to), mode, &user) {
            Ok(_) => Ok(()),
            Err(Error::NotSupported(_)) if mode == RenameMode::Replace => {
                self.replace_by_steps(req, (dir, &src), (new_dir, to))
            }
            Err(Error::NotSupported(_)) => Err(Errno::EINVAL),
            Err(e) => Err(e.into()),
        }
    }

    /// rename(2) on a file system that cannot replace a name in one step:
    /// an existing target is removed first, once every check that could
    /// make the move fail has passed. The two steps are not atomic: a
    /// crash between them loses the target, never the source.
    fn replace_by_steps(
        &self,
        req: &Request,
        (dir, src): (INodeNo, &Meta),
        (new_dir, to): (NodeId, &[u8]),
    ) -> Result<(), Errno> {
        if src.is_dir() && self.is_within(new_dir, src.node())? {
            // A directory cannot move below itself.
            return Err(Errno::EINVAL);
        }
        match self.fs.lookup(new_dir, to) {
            Ok(dst) if dst.node() == src.node() => return Ok(()),
            Ok(dst) => {
                match (src.is_dir(), dst.is_dir()) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    _ => {}
                }
                if self.node(dir) != new_dir && self.probe_move_across(src, new_dir, to, req)? {
                    return Ok(());
                }
                if dst.is_dir() {
                    self.fs.unlink(new_dir, to)?;
                } else {
                    self.open
                        .unlink(&*self.fs, (new_dir, to), &dst, &self.user(req))?;
                }
            }
            Err(Error::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        self.fs.rename(src.node(), new_dir, to, &self.user(req))?;
        Ok(())
    }

    /// Before a target in another directory is removed to make room: a
    /// file system that cannot move across directories ([`Error::CrossDir`],
    /// 9P2000's) must say so now, while the target is still there. The
    /// probe is the move itself, which finds the name taken ([`Error::Exists`])
    /// where moving is possible (the trait's rename never replaces); true
    /// if it moved after all (the target went away meanwhile).
    fn probe_move_across(
        &self,
        src: &Meta,
        new_dir: NodeId,
        to: &[u8],
        req: &Request,
    ) -> Result<bool, Errno> {
        match self.fs.rename(src.node(), new_dir, to, &self.user(req)) {
            Err(Error::Exists) => Ok(false),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(true),
        }
    }

    /// Whether `node` is `ancestor` or below it.
    fn is_within(&self, mut node: NodeId, ancestor: NodeId) -> Result<bool, Errno> {
        loop {
            if node == ancestor {
                return Ok(true);
            }
            let parent = self.fs.parent(node)?.node();
            if parent == node {
                return Ok(false);
            }
            node = parent;
        }
    }
}

/// `mode` (Plan 9 bits) without the set-id bits Linux drops when a file
/// is written, truncated or given away: set-uid always; set-gid where the
/// group may execute (without that it marks mandatory locking, and stays).
fn without_set_ids(mode: u32) -> u32 {
    let mut m = mode & !DMSETUID;
    if m & 0o010 != 0 {
        m &= !DMSETGID;
    }
    m
}
