//! [`FileSystem`] for [`RemoteFs`]: each method as 9P2000 requests.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::client::linux;
use crate::client::listing;
use crate::client::nodes::Access;
use crate::client::remote::RemoteFs;
use crate::error::{Error, Result};
use crate::fs::{
    Allocate, DirEntry, FileSystem, Meta, NewFile, NodeId, RenameMode, Seek, SetMeta, Space,
    XattrMode, plain,
};
use crate::ninep::linux::{LinuxOp, LinuxReply};
use crate::ninep::{
    DMDIR, DMSYMLINK, ORDWR, OREAD, QTDIR, Rcreate, Ropen, Rread, Rwstat, Stat, Tcreate, Topen,
    Tread, Twstat,
};

impl RemoteFs {
    /// The directory holding `node`: where this client saw it (9P2000
    /// cannot move a node to another directory, so that holds unless the
    /// server's tree is changed another way), else a walk to "..".
    fn parent_node(&self, node: NodeId) -> Result<NodeId> {
        if let Some((dir, _)) = self.nodes.where_seen(node) {
            return Ok(dir);
        }
        let (qid, fid) = self.walk(node, b"..")?;
        self.nodes.keep_walk_fid(qid.path, fid);
        Ok(qid.path)
    }

    /// Reads the whole directory `dir` (a fresh fid, read to the end;
    /// with 9P2000.colony, Readdir on its walk fid).
    fn read_dir(&self, dir: NodeId) -> Result<Vec<Meta>> {
        let entries = if self.linux {
            self.linux_listing(dir)?
        } else {
            self.read_dir_9p(dir)?
        };
        for meta in &entries {
            self.nodes.seen(meta.node(), dir, &meta.name);
        }
        Ok(entries)
    }

    /// A directory's entries by reading it as 9P2000 does.
    fn read_dir_9p(&self, dir: NodeId) -> Result<Vec<Meta>> {
        let fid = self.clone_fid(dir)?;
        let Ropen { qid, iounit } = self.conn.call(Topen {
            fid: fid.num,
            mode: OREAD,
        })?;
        if qid.ty & QTDIR == 0 {
            return Err(Error::NotDir);
        }
        let open = self.described(fid, qid, iounit, true);
        let mut entries = Vec::new();
        let mut offset = 0;
        loop {
            let Rread { data } = self.conn.call(Tread {
                fid: open.fid.num,
                offset,
                count: open.iounit,
            })?;
            if data.is_empty() {
                break;
            }
            offset += data.len() as u64;
            entries.extend(Stat::decode_dir(&data)?.iter().map(Stat::meta));
        }
        Ok(entries)
    }
}

impl FileSystem for RemoteFs {
    /// The connection's root: any `uname` (the connection's user acts for
    /// all), and `aname` "" or the one connected with.
    fn attach(&self, _uname: &str, aname: &str) -> Result<NodeId> {
        if !aname.is_empty() && aname != self.aname {
            return Err(Error::Other(format!(
                "this 9P connection is attached to tree {:?}, not {aname:?}",
                self.aname
            )));
        }
        Ok(self.root)
    }

    fn stat(&self, node: NodeId) -> Result<Meta> {
        self.stat_fid(&*self.walk_fid(node)?)
    }

    fn lookup(&self, dir: NodeId, name: &[u8]) -> Result<Meta> {
        let (qid, fid) = self.walk(dir, name)?;
        let fid = self.nodes.keep_walk_fid(qid.path, fid);
        if name != b".." {
            self.nodes.seen(qid.path, dir, name);
        }
        self.stat_fid(&fid)
    }

    fn parent(&self, node: NodeId) -> Result<Meta> {
        self.stat(self.parent_node(node)?)
    }

    fn read(&self, node: NodeId, offset: u64, count: u32) -> Result<Vec<u8>> {
        let open = self.open_fid(node, Access::Read)?;
        self.read_at(&open, offset, count)
    }

    /// Writes as the connection's user, not `user` (see [`RemoteFs`]).
    fn write(&self, node: NodeId, offset: u64, data: &[u8], _user: &str) -> Result<u32> {
        let open = self.open_fid(node, Access::Write)?;
        self.write_at(&open, offset, data)
    }

    /// Tcreate on a clone of the directory's fid; for a file, that fid,
    /// now open ORDWR, becomes the node's write fid.
    fn create(&self, dir: NodeId, name: &[u8], perm: u32, _user: &str) -> Result<Meta> {
        let fid = self.clone_fid(dir)?;
        let is_dir = perm & DMDIR != 0;
        let Rcreate { qid, iounit } = self.conn.call(Tcreate {
            fid: fid.num,
            name: name.to_vec(),
            perm,
            mode: if is_dir { OREAD } else { ORDWR },
        })?;
        let meta = self.stat_fid(&fid)?;
        self.nodes.seen(qid.path, dir, name);
        if !is_dir {
            let open = self.described(fid, qid, iounit, true);
            self.nodes.keep_open_fid(qid.path, Access::Write, open);
        }
        Ok(meta)
    }

    /// Tremove of a clone (the node's own fids stay usable if it fails);
    /// once removed, the node's fids are clunked.
    fn remove(&self, node: NodeId) -> Result<()> {
        let result = self.clone_fid(node)?.remove();
        if matches!(result, Ok(()) | Err(Error::NotFound)) {
            self.nodes.forget(node);
        }
        result
    }

    /// A Twstat of the change, "don't touch" elsewhere. Owners cannot be
    /// given away over 9P2000 (the server refuses a new uid).
    fn wstat(&self, node: NodeId, change: &SetMeta, _user: &str) -> Result<Meta> {
        let fid = self.walk_fid(node)?;
        let meta = if self.linux {
            let op = LinuxOp::Setattr(change.clone());
            Some(linux::meta(self.linux_call(&fid, &op)?, "Setattr")?)
        } else {
            let _: Rwstat = self.conn.call(Twstat {
                fid: fid.num,
                stat: Stat::of_change(change),
            })?;
            None
        };
        if let (Some(name), Some((dir, _))) = (&change.name, self.nodes.where_seen(node)) {
            self.nodes.seen(node, dir, name);
        }
        meta.map_or_else(|| self.stat_fid(&fid), Ok)
    }

    /// Within its directory, a wstat of the name; into another directory,
    /// [`Error::CrossDir`]: 9P2000 has no way to move a file.
    fn rename(&self, node: NodeId, dir: NodeId, name: &[u8], user: &str) -> Result<Meta> {
        let parent = self.parent_node(node)?;
        if parent == node {
            return Err(Error::RemoveRoot);
        }
        if parent != dir {
            return Err(Error::CrossDir);
        }
        let change = SetMeta {
            name: Some(name.to_vec()),
            ..SetMeta::default()
        };
        self.wstat(node, &change, user)
    }

    /// Cookie 0 reads the directory afresh; other cookies continue the
    /// snapshot they came from (see [`RemoteFs`] for the limits).
    fn readdir(
        &self,
        dir: NodeId,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry) -> bool,
    ) -> Result<()> {
        let (id, start) = listing::split(cookie);
        let kept = (cookie != 0).then(|| self.listings.get(dir, id)).flatten();
        let (id, entries) = match kept {
            Some(entries) => (id, entries),
            None => {
                let entries = Arc::new(self.read_dir(dir)?);
                (self.listings.add(dir, entries.clone()), entries)
            }
        };
        for (i, meta) in entries.iter().enumerate().skip(start) {
            let entry = DirEntry {
                meta: meta.clone(),
                cookie: listing::cookie(id, i + 1),
            };
            if !sink(entry) {
                break;
            }
        }
        Ok(())
    }

    /// A DMSYMLINK file holding the target, with mode 0777 restored: the
    /// server masks a new file's permissions with its directory's
    /// (create(5)), but a symlink's are no permissions on Unix and always
    /// show as 0777 there.
    fn symlink(
        &self,
        dir: NodeId,
        name: &[u8],
        target: &[u8],
        owner: &NewFile<'_>,
    ) -> Result<Meta> {
        let (mode, user) = (DMSYMLINK | 0o777, owner.user);
        let meta = self.create(dir, name, mode, user)?;
        self.write(meta.node(), 0, target, user)?;
        let change = SetMeta {
            mode: Some(mode),
            ..SetMeta::default()
        };
        self.wstat(meta.node(), &change, user)
    }

    /// The empty Twstat: Plan 9's fsync (with 9P2000.colony, Sync).
    fn sync(&self, node: NodeId) -> Result<()> {
        if self.linux {
            self.linux_on(node, &LinuxOp::Sync)?;
            return Ok(());
        }
        let fid = self.walk_fid(node)?;
        let _: Rwstat = self.conn.call(Twstat {
            fid: fid.num,
            stat: Stat::dont_touch(),
        })?;
        Ok(())
    }

    fn make(&self, dir: NodeId, name: &[u8], new: &NewFile<'_>) -> Result<Meta> {
        if !self.linux {
            return plain::make(self, dir, name, new);
        }
        let op = LinuxOp::Make { name, new: *new };
        let meta = linux::meta(self.linux_on(dir, &op)?, "Make")?;
        self.nodes.seen(meta.node(), dir, name);
        Ok(meta)
    }

    fn link(&self, node: NodeId, dir: NodeId, name: &[u8]) -> Result<Meta> {
        if !self.linux {
            return Err(Error::NotSupported("hard links over 9P2000"));
        }
        let to = self.walk_fid(dir)?;
        let op = LinuxOp::Link { dir: to.num, name };
        let meta = linux::meta(self.linux_on(node, &op)?, "Link")?;
        self.nodes.seen(node, dir, name);
        Ok(meta)
    }

    fn unlink(&self, dir: NodeId, name: &[u8]) -> Result<()> {
        if !self.linux {
            return plain::unlink(self, dir, name);
        }
        let gone = linux::meta(self.linux_on(dir, &LinuxOp::Unlink { name })?, "Unlink")?;
        self.nodes.unseen(gone.node(), dir, name);
        Ok(())
    }

    fn rename_at(
        &self,
        (from_dir, from): (NodeId, &[u8]),
        (dir, name): (NodeId, &[u8]),
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        if !self.linux {
            return plain::rename_at(self, (from_dir, from), (dir, name), mode, user);
        }
        let to = self.walk_fid(dir)?;
        let op = LinuxOp::Rename {
            name: from,
            dir: to.num,
            to: name,
            mode,
        };
        let LinuxReply::Renamed { moved, replaced } = self.linux_on(from_dir, &op)? else {
            return Err(linux::unexpected("Rename"));
        };
        self.nodes.seen(moved.node(), dir, name);
        if let Some(other) = replaced {
            match mode {
                RenameMode::Exchange => self.nodes.seen(other, from_dir, from),
                _ => self.nodes.unseen(other, dir, name),
            }
        }
        Ok(moved)
    }

    fn getxattr(&self, node: NodeId, name: &[u8]) -> Result<Vec<u8>> {
        self.need_linux("extended attributes")?;
        match self.linux_on(node, &LinuxOp::Getxattr { name })? {
            LinuxReply::Bytes(value) => Ok(value),
            _ => Err(linux::unexpected("Getxattr")),
        }
    }

    fn listxattr(&self, node: NodeId) -> Result<Vec<Vec<u8>>> {
        self.need_linux("extended attributes")?;
        match self.linux_on(node, &LinuxOp::Listxattr)? {
            LinuxReply::Names(names) => Ok(names),
            _ => Err(linux::unexpected("Listxattr")),
        }
    }

    fn setxattr(&self, node: NodeId, name: &[u8], value: &[u8], mode: XattrMode) -> Result<()> {
        self.need_linux("extended attributes")?;
        self.linux_on(node, &LinuxOp::Setxattr { name, value, mode })?;
        Ok(())
    }

    fn removexattr(&self, node: NodeId, name: &[u8]) -> Result<()> {
        self.need_linux("extended attributes")?;
        self.linux_on(node, &LinuxOp::Removexattr { name })?;
        Ok(())
    }

    fn seek_data(&self, node: NodeId, offset: u64, whence: Seek) -> Result<u64> {
        if !self.linux {
            return plain::seek_data(self, node, offset, whence);
        }
        match self.linux_on(node, &LinuxOp::SeekData { offset, whence })? {
            LinuxReply::Offset(at) => Ok(at),
            _ => Err(linux::unexpected("SeekData")),
        }
    }

    fn allocate(
        &self,
        node: NodeId,
        offset: u64,
        len: u64,
        how: Allocate,
        user: &str,
    ) -> Result<()> {
        if !self.linux {
            return plain::allocate(self, node, (offset, len), how, user);
        }
        self.linux_on(node, &LinuxOp::Allocate { offset, len, how })?;
        Ok(())
    }

    /// Asks the server's file system (9P2000.colony only).
    fn keep_removed(&self) -> bool {
        let kept = self.linux
            && matches!(
                self.linux_on(self.root, &LinuxOp::KeepRemoved),
                Ok(LinuxReply::Kept(true))
            );
        self.removed_kept.store(kept, Ordering::Relaxed);
        kept
    }

    /// Lets the node's fids go; where the server keeps removed files, tells
    /// it the node is not held here any more.
    fn forget(&self, node: NodeId) {
        if self.removed_kept.load(Ordering::Relaxed) {
            // A failure leaves a removed node kept until the session ends.
            let _ = self.linux_on(self.root, &LinuxOp::Forget { node });
            self.nodes.forget(node);
        }
    }

    fn space(&self) -> Option<Space> {
        if !self.linux {
            return None;
        }
        match self.linux_on(self.root, &LinuxOp::Space) {
            Ok(LinuxReply::Space(space)) => space,
            _ => None,
        }
    }
}
