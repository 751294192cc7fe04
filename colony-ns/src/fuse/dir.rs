//! Directory listings: FUSE offsets are the file system's readdir cookies.
//!
//! Offset 0 starts with ".", 1 continues with "..", and any larger offset
//! is 2 + a cookie, so a listing resumes exactly where the kernel left off
//! even while the directory changes (cookies stay valid, see
//! [`crate::fs::DirEntry`]).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use fuser::{Errno, ReplyDirectory, ReplyDirectoryPlus};

use crate::error::Error;
use crate::fs::Meta;
use crate::fuse::adapter::Adapter;
use crate::fuse::attr::kind;

/// Offsets taken by "." and "..".
const DOTS: u64 = 2;

impl Adapter {
    /// Calls `emit(next_offset, name, meta)` for each entry from `offset`
    /// until it returns true (the reply is full) or the entries run out.
    fn walk_dir(
        &self,
        ino: fuser::INodeNo,
        offset: u64,
        emit: &mut dyn FnMut(u64, &[u8], &Meta) -> bool,
    ) -> Result<(), Errno> {
        let dir = self.inodes.node(ino);
        if offset == 0 {
            let me = self.fs.stat(dir)?;
            if !me.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if emit(1, b".", &me) {
                return Ok(());
            }
        }
        if offset <= 1 && emit(DOTS, b"..", &self.fs.parent(dir)?) {
            return Ok(());
        }
        let cookie = offset.saturating_sub(DOTS);
        let mut overflow = false;
        self.fs.readdir(dir, cookie, &mut |e| {
            let Some(next) = e.cookie.checked_add(DOTS) else {
                overflow = true;
                return false;
            };
            !emit(next, &e.meta.name, &e.meta)
        })?;
        if overflow {
            return Err(Error::BadDirOffset.into());
        }
        Ok(())
    }

    pub(crate) fn list(&self, ino: fuser::INodeNo, offset: u64, mut reply: ReplyDirectory) {
        let mut bad = None;
        let r = self.walk_dir(ino, offset, &mut |next, name, meta| match self
            .inodes
            .ino(meta.node())
        {
            Ok(i) => reply.add(i, next, kind(meta), OsStr::from_bytes(name)),
            Err(e) => {
                bad = Some(e);
                true
            }
        });
        match r.and(bad.map_or(Ok(()), Err)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    pub(crate) fn list_plus(
        &self,
        ino: fuser::INodeNo,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let mut bad = None;
        let ttl = self.tuning.attr_ttl;
        let r = self.walk_dir(ino, offset, &mut |next, name, meta| match self.attr(meta) {
            Ok(a) => reply.add(
                a.ino,
                next,
                OsStr::from_bytes(name),
                &ttl,
                &a,
                fuser::Generation(0),
            ),
            Err(e) => {
                bad = Some(e);
                true
            }
        });
        match r.and(bad.map_or(Ok(()), Err)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
