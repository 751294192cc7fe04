//! Tlinux: one [`LinuxOp`] on a fid's file (9P2000.colony,
//! [`crate::ninep::linux`]). Only on a connection that agreed on the
//! extension, whose client makes the permission checks itself.

use crate::error::{Error, Result};
use crate::fs::NodeId;
use crate::ninep::linux::{self, LinuxOp, LinuxReply};
use crate::ninep::{Rlinux, Tlinux};
use crate::server::fid::lock;
use crate::server::ops::Ops;

impl Ops<'_> {
    pub(crate) fn linux(&self, m: Tlinux) -> Result<Rlinux> {
        if !self.linux {
            return Err(Error::BadMessage);
        }
        let (node, user) = {
            let f = self.fids.get(m.fid)?;
            let f = lock(&f);
            (f.node, f.uname.clone())
        };
        let reply = self.answer(node, &user, LinuxOp::decode(&m.op)?)?;
        Ok(Rlinux {
            reply: reply.encode()?,
        })
    }

    /// Does `op` to `node` as `user`.
    fn answer(&self, node: NodeId, user: &str, op: LinuxOp<'_>) -> Result<LinuxReply> {
        let fs = self.fs();
        Ok(match op {
            LinuxOp::Stat => LinuxReply::Meta(fs.stat(node)?),
            LinuxOp::Setattr(change) => LinuxReply::Meta(fs.wstat(node, &change, user)?),
            LinuxOp::Readdir { cookie, max } => {
                // As many as fit one reply (at least one).
                let (room, mut used, mut end) = (self.iounit() as usize, 0, true);
                let mut items = Vec::new();
                fs.readdir(node, cookie, &mut |e| {
                    used += linux::entry_size(&e);
                    if !items.is_empty() && used > room {
                        end = false;
                        return false;
                    }
                    items.push(e);
                    end = items.len() < max.max(1) as usize;
                    end
                })?;
                linux::entries(items, end)
            }
            LinuxOp::Make { name, new } => LinuxReply::Meta(fs.make(node, name, &new)?),
            LinuxOp::Link { dir, name } => {
                LinuxReply::Meta(fs.link(node, self.node(dir)?, name)?)
            }
            LinuxOp::Unlink { name } => {
                let gone = fs.lookup(node, name)?;
                fs.unlink(node, name)?;
                LinuxReply::Meta(gone)
            }
            LinuxOp::Rename {
                name,
                dir,
                to,
                mode,
            } => {
                let dir = self.node(dir)?;
                let replaced = match fs.lookup(dir, to) {
                    Ok(m) => Some(m.node()),
                    Err(Error::NotFound) => None,
                    Err(e) => return Err(e),
                };
                let moved = fs.rename_at((node, name), (dir, to), mode, user)?;
                LinuxReply::Renamed { moved, replaced }
            }
            LinuxOp::Getxattr { name } => LinuxReply::Bytes(fs.getxattr(node, name)?),
            LinuxOp::Listxattr => LinuxReply::Names(fs.listxattr(node)?),
            LinuxOp::Setxattr { name, value, mode } => {
                fs.setxattr(node, name, value, mode)?;
                LinuxReply::Done
            }
            LinuxOp::Removexattr { name } => {
                fs.removexattr(node, name)?;
                LinuxReply::Done
            }
            LinuxOp::SeekData { offset, whence } => {
                LinuxReply::Offset(fs.seek_data(node, offset, whence)?)
            }
            LinuxOp::Allocate { offset, len, how } => {
                fs.allocate(node, offset, len, how, user)?;
                LinuxReply::Done
            }
            LinuxOp::Space => LinuxReply::Space(fs.space()),
            LinuxOp::Sync => {
                fs.sync(node)?;
                LinuxReply::Done
            }
            LinuxOp::KeepRemoved => LinuxReply::Kept(fs.keep_removed()),
            LinuxOp::Forget { node } => {
                fs.forget(node);
                LinuxReply::Done
            }
        })
    }
}
