//! Changes to the tree: making, removing and renaming entries, and
//! applying setattr.

use std::ffi::OsStr;
use std::time::SystemTime;

use fuser::{Errno, INodeNo, RenameFlags, Request, TimeOrNow};

use crate::error::Error;
use crate::fs::{Meta, NodeId, SetMeta};
use crate::fuse::adapter::Adapter;
use crate::fuse::attr::{PERM_BITS, dm_perm, secs};
use crate::fuse::names::new_name;

/// The parts of a setattr the file system can apply.
pub(crate) struct Change {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
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

fn time_secs(t: TimeOrNow) -> u32 {
    secs(match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    })
}

impl Adapter {
    pub(crate) fn make(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        perm: u32,
    ) -> Result<Meta, Errno> {
        let name = new_name(name)?;
        Ok(self
            .fs
            .create(self.node(parent), name, perm, &self.user(req))?)
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
            atime: change.atime.map(time_secs),
            mtime: change.mtime.map(time_secs),
            uid: change.uid.map(|u| self.ids.user_name(u)),
            gid: change.gid.map(|g| self.ids.group_name(g)),
            ..SetMeta::default()
        };
        if let Some(mode) = change.mode {
            let old = self.fs.stat(node)?.mode;
            set.mode = Some((old & !PERM_BITS) | dm_perm(mode));
        }
        if set.is_empty() {
            // A ctime-only change (or none): nothing the file system keeps.
            return Ok(self.fs.stat(node)?);
        }
        Ok(self.fs.wstat(node, &set, &self.user(req))?)
    }

    pub(crate) fn remove(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        want_dir: bool,
    ) -> Result<(), Errno> {
        let meta = self.lookup_name(parent, name)?;
        match (meta.is_dir(), want_dir) {
            (true, false) => Err(Errno::EISDIR),
            (false, true) => Err(Errno::ENOTDIR),
            (true, true) => Ok(self.fs.remove(meta.node())?),
            (false, false) => Ok(self.open.unlink(&*self.fs, &meta, &self.user(req))?),
        }
    }

    /// rename(2), within a directory or across directories: the trait's
    /// rename refuses an existing target, so an existing target is removed
    /// first (POSIX replaces it), once every check that could make the
    /// move fail has passed. The two steps are not atomic: a crash between
    /// them loses the target, never the source.
    pub(crate) fn rename_entry(
        &self,
        req: &Request,
        (dir, from): (INodeNo, &OsStr),
        (new_dir, to): (INodeNo, &OsStr),
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(Errno::EINVAL);
        }
        let src = self.lookup_name(dir, from)?;
        let to = new_name(to)?;
        let new_dir = self.node(new_dir);
        if src.is_dir() && self.is_within(new_dir, src.node())? {
            // A directory cannot move below itself.
            return Err(Errno::EINVAL);
        }
        match self.fs.lookup(new_dir, to) {
            Ok(dst) if dst.node() == src.node() => return Ok(()),
            Ok(_) if flags.contains(RenameFlags::RENAME_NOREPLACE) => return Err(Errno::EEXIST),
            Ok(dst) => {
                match (src.is_dir(), dst.is_dir()) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    _ => {}
                }
                if self.node(dir) != new_dir && self.probe_move_across(&src, new_dir, to, req)? {
                    return Ok(());
                }
                if dst.is_dir() {
                    self.fs.remove(dst.node())?;
                } else {
                    self.open.unlink(&*self.fs, &dst, &self.user(req))?;
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
        to: &str,
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
