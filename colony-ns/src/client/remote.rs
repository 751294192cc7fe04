//! [`RemoteFs`]: connecting, and the fid work its file-system calls share
//! (walking to a node, cloning, opening, stat, pipelined I/O).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::client::conn::{Conn, Pending, answer, expect};
use crate::client::fids::{Fid, FidNumbers, NewFid};
use crate::client::linux;
use crate::client::listing::Listings;
use crate::client::nodes::{Access, FID_BUDGET, Nodes, OpenFid};
use crate::error::{Error, Result};
use crate::fs::{Meta, NodeId};
use crate::ninep::linux::{LinuxOp, VERSION_LINUX};
use crate::ninep::{
    Fcall, IOHDRSZ, Message, NOFID, NOTAG, ORDWR, OREAD, OWRITE, QTAPPEND, Qid, Rattach, Ropen,
    Rread, Rstat, Rversion, Rwalk, Rwrite, Tattach, Topen, Tread, Tstat, Tversion, Twalk, Twrite,
    VERSION, encode_frame, read_frame,
};
// The smallest msize accepted from a server is the server's own floor.
use crate::server::MIN_MSIZE;

/// The msize proposed: 1 MiB of data per message (the most one FUSE read
/// or write carries) plus the header. Servers usually grant less.
pub const MSIZE: u32 = (1 << 20) + IOHDRSZ;

/// How long a server may stay silent while requests wait before it is
/// probed, and again before the connection is declared dead. Generous: a
/// live server answers the probe at once, however slow its requests are.
pub const SILENCE: Duration = Duration::from_secs(30);

/// The limits of a client.
pub(crate) struct Tuning {
    /// See [`FID_BUDGET`].
    pub fid_budget: usize,
    /// See [`SILENCE`].
    pub silence: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            fid_budget: FID_BUDGET,
            silence: SILENCE,
        }
    }
}

/// A [`FileSystem`](crate::FileSystem) on a 9P2000 server: every call is
/// 9P requests on one connection, pipelined, from any number of threads.
///
/// Calls block their thread until the server answers: make them from
/// ordinary threads (FUSE's, `spawn_blocking`), not from async tasks. The
/// connection's user (the `uname` of [`RemoteFs::connect`]) is the one the
/// server checks permissions for and records as owner and modifier; the
/// `user` arguments of the trait's methods are not sent (9P2000 fixes the
/// user per attach). Renames are within a directory only
/// ([`Error::CrossDir`] otherwise: 9P2000's wstat cannot move a file).
/// A server that agrees on 9P2000.colony ([`crate::ninep::linux`], which
/// the client always proposes) lifts these limits: stat, readdir and
/// wstat carry the whole [`Meta`], and links, devices, renames across
/// directories, extended attributes and sparse files go as Tlinux.
/// Node ids are the server's qid paths. A listing ([`FileSystem::readdir`]
/// from cookie 0) is a snapshot of the directory, which its cookies
/// continue; only the latest 64 snapshots are kept, and a cookie of an
/// older one resumes at the same position of a fresh read. Open fids are
/// kept between calls (the trait has no open or close), so a DMEXCL file
/// read or written here stays in use until the client lets the fid go.
///
/// [`FileSystem::readdir`]: crate::FileSystem::readdir
pub struct RemoteFs {
    pub(crate) conn: Arc<Conn>,
    pub(crate) root: NodeId,
    pub(crate) aname: String,
    pub(crate) nodes: Nodes,
    pub(crate) listings: Listings,
    /// The server agreed on 9P2000.colony.
    pub(crate) linux: bool,
    /// The server's file system keeps removed files until told they are
    /// forgotten ([`FileSystem::keep_removed`](crate::FileSystem::keep_removed)).
    pub(crate) removed_kept: AtomicBool,
}

impl std::fmt::Debug for RemoteFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteFs")
            .field("aname", &self.aname)
            .field("root", &self.root)
            .field("msize", &self.conn.msize)
            .finish_non_exhaustive()
    }
}

/// Sends one message on a stream not yet shared and reads the reply
/// (version and attach, before the I/O tasks start).
async fn exchange<S>(stream: &mut S, fcall: Fcall, msize: u32) -> Result<Message>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&encode_frame(&fcall, msize)?).await?;
    let sent = fcall.msg.name();
    let frame = read_frame(stream, msize).await?.ok_or_else(|| {
        Error::ConnectionLost(format!("the server closed the connection after {sent}"))
    })?;
    let reply = Fcall::decode(&frame)?;
    if reply.tag != fcall.tag {
        return Err(Error::UnexpectedReply {
            sent,
            got: format!("{} with tag {}", reply.msg.name(), reply.tag),
        });
    }
    answer(reply.msg)
}

impl RemoteFs {
    /// Tversion ("9P2000.colony", msize; a plain "9P2000" answer is taken
    /// too) then Tattach(uname, aname) over `stream`;
    /// spawns the connection's I/O task on the current tokio runtime. The
    /// connection ends when the `RemoteFs` is dropped.
    pub async fn connect<S>(stream: S, uname: &str, aname: &str) -> Result<RemoteFs>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self::connect_with(stream, uname, aname, Tuning::default()).await
    }

    /// [`RemoteFs::connect`] with other limits (tests make them small).
    pub(crate) async fn connect_with<S>(
        mut stream: S,
        uname: &str,
        aname: &str,
        tuning: Tuning,
    ) -> Result<RemoteFs>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let version = Tversion {
            msize: MSIZE,
            version: VERSION_LINUX.into(),
        };
        let reply = exchange(&mut stream, Fcall::new(NOTAG, version), MSIZE).await?;
        let Rversion { msize, version } = expect("Tversion", reply)?;
        let linux = version == VERSION_LINUX;
        if version != VERSION && !linux {
            return Err(Error::Version(version));
        }
        if msize < MIN_MSIZE {
            return Err(Error::MsizeTooSmall);
        }
        // A server may not grant more than asked; if one does, hold it to
        // what was asked.
        let msize = msize.min(MSIZE);
        let numbers = FidNumbers::default();
        let root_fid = numbers.take();
        let attach = Tattach {
            fid: root_fid,
            afid: NOFID,
            uname: uname.into(),
            aname: aname.into(),
        };
        let reply = exchange(&mut stream, Fcall::new(0, attach), msize).await?;
        let Rattach { qid } = expect("Tattach", reply)?;
        let conn = Arc::new(Conn::spawn(stream, msize, numbers, tuning.silence));
        let fs = RemoteFs {
            root: qid.path,
            aname: aname.into(),
            nodes: Nodes::with_budget(tuning.fid_budget),
            listings: Listings::default(),
            conn,
            linux,
            removed_kept: AtomicBool::new(false),
        };
        fs.nodes
            .keep_walk_fid(qid.path, Fid::new(&fs.conn, root_fid));
        Ok(fs)
    }

    /// The negotiated msize.
    pub fn msize(&self) -> u32 {
        self.conn.msize
    }

    /// The most data one Tread or Twrite carries on this connection.
    fn max_io(&self) -> u32 {
        self.conn.msize - IOHDRSZ
    }

    /// Walks `names` (none: a clone) from `from` to a new fid; its qids.
    fn walk_from(&self, from: &Fid, names: &[&[u8]]) -> Result<(Vec<Qid>, Fid)> {
        let new = NewFid::reserve(&self.conn);
        let Rwalk { wqids } = self.conn.call(Twalk {
            fid: from.num,
            newfid: new.num,
            wnames: names.iter().map(|n| n.to_vec()).collect(),
        })?;
        // A walk that stops short leaves newfid unbound (walk(5)).
        if wqids.len() != names.len() {
            return Err(Error::NotFound);
        }
        Ok((wqids, new.bound()))
    }

    /// Walks from directory `dir` to its entry `name`: the new fid and
    /// the entry's qid.
    pub(crate) fn walk(&self, dir: NodeId, name: &[u8]) -> Result<(Qid, Fid)> {
        let from = self.walk_fid(dir)?;
        let (qids, fid) = self.walk_from(&from, &[name])?;
        Ok((qids[0], fid))
    }

    /// A new unopened fid on `node` (Twalk with no names).
    pub(crate) fn clone_fid(&self, node: NodeId) -> Result<Fid> {
        let from = self.walk_fid(node)?;
        Ok(self.walk_from(&from, &[])?.1)
    }

    /// The node's unopened fid, walked to from where it was last seen if
    /// it has none yet. [`Error::NotFound`] if the node is not there any
    /// more (or is unknown to this client).
    pub(crate) fn walk_fid(&self, node: NodeId) -> Result<Arc<Fid>> {
        if let Some(fid) = self.nodes.walk_fid(node) {
            return Ok(fid);
        }
        let (dir, name) = self.nodes.where_seen(node).ok_or(Error::NotFound)?;
        let (qid, fid) = self.walk(dir, &name)?;
        if qid.path != node {
            // Renamed or replaced behind our back: this node is not there.
            return Err(Error::NotFound);
        }
        Ok(self.nodes.keep_walk_fid(node, fid))
    }

    /// An opened fid with what its Ropen (or Rcreate) said.
    pub(crate) fn described(&self, fid: Fid, qid: Qid, iounit: u32, reads: bool) -> OpenFid {
        let max = self.max_io();
        OpenFid {
            fid,
            iounit: if iounit == 0 { max } else { iounit.min(max) },
            reads,
            append: qid.ty & QTAPPEND != 0,
        }
    }

    /// An open fid on `node` that can do `access`, opened on first need:
    /// ORDWR for writing (OWRITE if reading is not allowed), OREAD for
    /// reading.
    pub(crate) fn open_fid(&self, node: NodeId, access: Access) -> Result<Arc<OpenFid>> {
        if let Some(open) = self.nodes.open_fid(node, access) {
            return Ok(open);
        }
        let fid = self.clone_fid(node)?;
        let open = |mode| self.conn.call::<Ropen>(Topen { fid: fid.num, mode });
        let (reply, reads) = match access {
            Access::Read => (open(OREAD)?, false),
            Access::Write => match open(ORDWR) {
                Err(Error::PermissionDenied) => (open(OWRITE)?, false),
                other => (other?, true),
            },
        };
        let described = self.described(fid, reply.qid, reply.iounit, reads);
        Ok(self.nodes.keep_open_fid(node, access, described))
    }

    /// The metadata of a fid's file.
    pub(crate) fn stat_fid(&self, fid: &Fid) -> Result<Meta> {
        if self.linux {
            return linux::meta(self.linux_call(fid, &LinuxOp::Stat)?, "Stat");
        }
        let Rstat { stat } = self.conn.call(Tstat { fid: fid.num })?;
        Ok(stat.meta())
    }

    /// Reads up to `count` bytes at `offset` on an open fid, in pieces of
    /// its iounit sent all at once; stops at the first short piece.
    pub(crate) fn read_at(&self, open: &OpenFid, offset: u64, count: u32) -> Result<Vec<u8>> {
        let pieces: Vec<(Pending, u32)> = pieces(offset, count as usize, open.iounit)
            .map(|(off, _, len)| {
                let tread = Tread {
                    fid: open.fid.num,
                    offset: off,
                    count: len as u32,
                };
                (self.conn.send(tread), len as u32)
            })
            .collect();
        let mut data = Vec::with_capacity(count as usize);
        for (pending, want) in pieces {
            let Rread { data: got } = pending.wait()?;
            let short = got.len() < want as usize;
            data.extend_from_slice(&got);
            if short {
                break;
            }
        }
        Ok(data)
    }

    /// Writes `data` at `offset` on an open fid in pieces of its iounit,
    /// all at once (one by one for an append-only file, where order is
    /// position); returns the bytes written up to the first short piece.
    pub(crate) fn write_at(&self, open: &OpenFid, offset: u64, data: &[u8]) -> Result<u32> {
        let send = |(off, start, len): (u64, usize, usize)| {
            let twrite = Twrite {
                fid: open.fid.num,
                offset: off,
                data: data[start..start + len].to_vec(),
            };
            (self.conn.send(twrite), len)
        };
        let mut written = 0u32;
        let mut finish = |(pending, len): (Pending, usize)| -> Result<bool> {
            let Rwrite { count } = pending.wait()?;
            written += count;
            Ok(count as usize == len)
        };
        let all = pieces(offset, data.len(), open.iounit);
        if open.append {
            for piece in all {
                if !finish(send(piece))? {
                    break;
                }
            }
        } else {
            let sent: Vec<_> = all.map(send).collect();
            for piece in sent {
                if !finish(piece)? {
                    break;
                }
            }
        }
        Ok(written)
    }
}

/// Splits `len` bytes at `offset` into pieces of at most `unit`:
/// (offset, start in the buffer, length). Zero bytes are one empty piece,
/// so a zero-length read or write still reaches the server.
fn pieces(offset: u64, len: usize, unit: u32) -> impl Iterator<Item = (u64, usize, usize)> {
    let unit = unit.max(1) as usize;
    let n = len.div_ceil(unit).max(1);
    (0..n).map(move |i| {
        let start = i * unit;
        (offset + start as u64, start, unit.min(len - start))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range() {
        let p: Vec<_> = pieces(100, 10, 4).collect();
        assert_eq!(p, [(100, 0, 4), (104, 4, 4), (108, 8, 2)]);
        assert_eq!(pieces(5, 0, 4).collect::<Vec<_>>(), [(5, 0, 0)]);
        assert_eq!(pieces(0, 8, 4).count(), 2);
    }
}
