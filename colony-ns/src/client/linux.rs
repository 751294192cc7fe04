//! The 9P2000.colony requests of a [`RemoteFs`] ([`crate::ninep::linux`]):
//! one Tlinux per call, on the node's walk fid.

use crate::client::fids::Fid;
use crate::client::remote::RemoteFs;
use crate::error::{Error, Result};
use crate::fs::{Meta, NodeId};
use crate::ninep::linux::{LinuxOp, LinuxReply};
use crate::ninep::{Rlinux, Tlinux};

/// Entries one Readdir asks for.
const READDIR_BATCH: u32 = 512;

impl RemoteFs {
    /// Sends `op` on `fid`; its reply.
    pub(crate) fn linux_call(&self, fid: &Fid, op: &LinuxOp<'_>) -> Result<LinuxReply> {
        let Rlinux { reply } = self.conn.call(Tlinux {
            fid: fid.num,
            op: op.encode()?,
        })?;
        LinuxReply::decode(&reply)
    }

    /// Sends `op` on `node`'s walk fid.
    pub(crate) fn linux_on(&self, node: NodeId, op: &LinuxOp<'_>) -> Result<LinuxReply> {
        self.linux_call(&*self.walk_fid(node)?, op)
    }

    /// [`Error::NotSupported`] unless the server speaks 9P2000.colony.
    pub(crate) fn need_linux(&self, what: &'static str) -> Result<()> {
        if self.linux {
            Ok(())
        } else {
            Err(Error::NotSupported(what))
        }
    }

    /// Every entry of directory `dir`, read in batches.
    pub(crate) fn linux_listing(&self, dir: NodeId) -> Result<Vec<Meta>> {
        let fid = self.walk_fid(dir)?;
        let mut entries = Vec::new();
        let mut cookie = 0;
        loop {
            let op = LinuxOp::Readdir {
                cookie,
                max: READDIR_BATCH,
            };
            let LinuxReply::Entries {
                entries: batch,
                end,
            } = self.linux_call(&fid, &op)?
            else {
                return Err(unexpected("Readdir"));
            };
            for (meta, next) in batch {
                cookie = next;
                entries.push(meta);
            }
            if end {
                return Ok(entries);
            }
        }
    }
}

/// The metadata a reply carries.
pub(crate) fn meta(reply: LinuxReply, op: &'static str) -> Result<Meta> {
    match reply {
        LinuxReply::Meta(m) => Ok(m),
        _ => Err(unexpected(op)),
    }
}

/// A reply of the wrong kind for its op.
pub(crate) fn unexpected(op: &'static str) -> Error {
    Error::BadLinuxMessage(format!("the reply to {op} is of another kind"))
}
