//! What plan9port's 9pfuse sends for the FUSE requests a reader makes
//! (src/cmd/9pfuse/main.c), over [`lib9pclient`](crate::lib9pclient):
//!
//! * lookup: a Twalk of one name from the directory's fid to a new fid,
//!   then Tstat; the fid is the new node id, kept until the kernel's
//!   forget clunks it. Every lookup makes a new node id, even of a name
//!   looked up before.
//! * getattr: Tstat of the node's fid.
//! * open and opendir: a clone walk of the node's fid, then Topen.
//! * read: one fspread of at most fusemaxwrite (a page) at the offset the
//!   kernel asks; a short reply is passed on as it is.
//! * readdir: "." and ".." (a walk to ".." from the open fid), then
//!   directory reads at the fid's running offset; offset 0 rewinds.
//! * release: Tclunk of the open fid.
//!
//! 9pfuse answers any 9P error with EPERM; here the error's text is kept.

use std::sync::Arc;

use colony_ns::ninep::{OREAD, QTDIR, Stat};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::lib9pclient::{CFid, Fsys, Reply};

/// 9pfuse's fusemaxwrite: a page (it caps reads to this too).
pub const FUSE_MAX_WRITE: u32 = 4096;

/// A mounted 9pfuse.
pub struct NineFuse<S> {
    /// The 9P connection.
    pub fs: Arc<Fsys<S>>,
    /// The attach fid: node id 1, the mount's root.
    pub root: CFid,
}

/// A node id the kernel holds: a walked, unopened fid.
pub type NodeId = CFid;

/// A file handle: an opened fid.
pub type Fh = CFid;

impl<S: AsyncRead + AsyncWrite + Send + 'static> NineFuse<S> {
    /// init9p: fsmount as `uname`.
    pub async fn mount(stream: S, uname: &str) -> Self {
        let (fs, root) = Fsys::mount(stream, uname).await;
        NineFuse { fs, root }
    }

    /// fuselookup: a new node id for `name` in `dir`, and its attributes.
    pub async fn lookup(&self, dir: &NodeId, name: &str) -> Reply<(NodeId, Stat)> {
        let fid = self.fs.walk(dir, Some(name)).await?;
        match self.fs.stat(&fid).await {
            Ok(st) => Ok((fid, st)),
            Err(e) => {
                let _ = self.fs.close(fid).await;
                Err(e)
            }
        }
    }

    /// fusegetattr.
    pub async fn getattr(&self, node: &NodeId) -> Reply<Stat> {
        self.fs.stat(node).await
    }

    /// fuseopen / fuseopendir (read-only): clone the node's fid, open it.
    pub async fn open(&self, node: &NodeId) -> Reply<Fh> {
        let mut fid = self.fs.walk(node, None).await?;
        match self.fs.open(&mut fid, OREAD).await {
            Ok(()) => Ok(fid),
            Err(e) => {
                let _ = self.fs.close(fid).await;
                Err(e)
            }
        }
    }

    /// fuseread: what one FUSE read of `size` bytes at `offset` returns.
    pub async fn read(&self, fh: &Fh, size: u32, offset: u64) -> Reply<Vec<u8>> {
        self.fs.pread(fh, size.min(FUSE_MAX_WRITE), offset).await
    }

    /// fusereaddir from the start: the names listed, "." and ".." first.
    pub async fn readdir(&self, fh: &Fh) -> Reply<Vec<String>> {
        self.fs.rewind(fh);
        let mut names = vec![".".to_string(), "..".to_string()];
        // dotdirs: a walk to ".." from the open fid; failing is fine.
        if let Ok(up) = self.fs.walk(fh, Some("..")).await {
            self.fs.close(up).await?;
        }
        loop {
            let entries = self.fs.dirread(fh).await?;
            if entries.is_empty() {
                return Ok(names);
            }
            names.extend(
                entries
                    .into_iter()
                    .map(|s| String::from_utf8(s.name).expect("test trees have UTF-8 names")),
            );
        }
    }

    /// fuserelease / fuseforget: clunk.
    pub async fn clunk(&self, fid: CFid) -> Reply<()> {
        self.fs.close(fid).await
    }
}

/// Whether a node is a directory, by its qid.
pub fn is_dir(node: &NodeId) -> bool {
    node.qid.ty & QTDIR != 0
}
