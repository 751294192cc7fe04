//! Extended attributes through FUSE.
//!
//! Two kinds of value hold user and group ids: POSIX ACLs
//! (`system.posix_acl_access`, `system.posix_acl_default`: the kernel's
//! `posix_acl_xattr` layout) and version 3 file capabilities
//! (`security.capability`, whose root id says in which user namespace the
//! capabilities apply). The kernel hands them over in host ids; they are
//! stored shifted back, as owners are ([`IdMap`]), so an environment's
//! ACLs and capabilities mean the same after a respawn in another id range.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use fuser::{Errno, INodeNo, ReplyXattr};

use crate::error::Error;
use crate::fs::{NodeId, SetMeta, XattrMode};
use crate::fuse::acl::{self, Acl};
use crate::fuse::adapter::Adapter;
use crate::fuse::ids::IdMap;

use acl::{ACCESS as ACL_ACCESS, DEFAULT as ACL_DEFAULT};
const CAPABILITY: &[u8] = b"security.capability";

/// `vfs_ns_cap_data`: revision 3, 24 bytes, the root id last.
const CAP_REVISION_3: u32 = 0x0300_0000;
const CAP_REVISION_MASK: u32 = 0xff00_0000;
const CAP_V3_SIZE: usize = 24;

/// Which way ids in a value are shifted.
#[derive(Clone, Copy)]
enum Toward {
    Host,
    Stored,
}

/// `value` of attribute `name` with the ids it holds shifted; values of
/// other attributes, or malformed ones, are left as they are (the kernel
/// refuses malformed ACLs and capabilities itself).
fn shift_ids(ids: &IdMap, name: &[u8], mut value: Vec<u8>, toward: Toward) -> Vec<u8> {
    if ids.range.is_none() {
        return value;
    }
    let shift = |id: u32| match toward {
        Toward::Host => ids.to_host(id),
        Toward::Stored => ids.to_inner(id),
    };
    if name == ACL_ACCESS || name == ACL_DEFAULT {
        if let Some(mut acl) = Acl::parse(&value) {
            acl.map_ids(shift);
            value = acl.encode();
        }
    } else if name == CAPABILITY
        && value.len() == CAP_V3_SIZE
        && u32::from_le_bytes(value[..4].try_into().expect("4 bytes")) & CAP_REVISION_MASK
            == CAP_REVISION_3
    {
        let root = CAP_V3_SIZE - 4;
        let id = u32::from_le_bytes(value[root..].try_into().expect("4 bytes"));
        value[root..].copy_from_slice(&shift(id).to_le_bytes());
    }
    value
}

/// Answers a getxattr or listxattr: the size alone when asked with size 0,
/// ERANGE when the caller's buffer is too small.
pub(crate) fn reply_xattr(reply: ReplyXattr, size: u32, data: Result<Vec<u8>, Errno>) {
    match data {
        Ok(d) if size == 0 => match u32::try_from(d.len()) {
            Ok(n) => reply.size(n),
            Err(_) => reply.error(Errno::E2BIG),
        },
        Ok(d) if d.len() > size as usize => reply.error(Errno::ERANGE),
        Ok(d) => reply.data(&d),
        Err(e) => reply.error(e),
    }
}

impl Adapter {
    pub(crate) fn get_xattr(&self, ino: INodeNo, name: &OsStr) -> Result<Vec<u8>, Errno> {
        let name = name.as_bytes();
        let value = self.fs.getxattr(self.node(ino), name)?;
        Ok(shift_ids(&self.ids, name, value, Toward::Host))
    }

    /// The names, each followed by a NUL, as listxattr(2) returns them.
    pub(crate) fn list_xattr(&self, ino: INodeNo) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        for name in self.fs.listxattr(self.node(ino))? {
            out.extend_from_slice(&name);
            out.push(0);
        }
        Ok(out)
    }

    pub(crate) fn set_xattr(
        &self,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
    ) -> Result<(), Errno> {
        let mode = match flags {
            0 => XattrMode::Any,
            nix::libc::XATTR_CREATE => XattrMode::Create,
            nix::libc::XATTR_REPLACE => XattrMode::Replace,
            _ => return Err(Errno::EINVAL),
        };
        let (node, name) = (self.node(ino), name.as_bytes());
        let value = shift_ids(&self.ids, name, value.to_vec(), Toward::Stored);
        if self.acls && name == acl::ACCESS {
            return self.set_access_acl(node, &value, mode);
        }
        Ok(self.fs.setxattr(node, name, &value, mode)?)
    }

    /// Setting the access ACL sets the mode's permission bits; an ACL the
    /// mode says all of is not kept.
    fn set_access_acl(&self, node: NodeId, value: &[u8], mode: XattrMode) -> Result<(), Errno> {
        let acl = Acl::parse(value).ok_or(Errno::EINVAL)?;
        if acl.is_minimal() {
            match self.fs.removexattr(node, acl::ACCESS) {
                Ok(()) | Err(Error::NoAttr) => {}
                Err(e) => return Err(e.into()),
            }
        } else {
            self.fs.setxattr(node, acl::ACCESS, value, mode)?;
        }
        let old = self.fs.stat(node)?.mode;
        let change = SetMeta {
            mode: Some((old & !0o777) | acl.mode()),
            ..SetMeta::default()
        };
        self.fs.wstat(node, &change, "")?;
        Ok(())
    }

    pub(crate) fn remove_xattr(&self, ino: INodeNo, name: &OsStr) -> Result<(), Errno> {
        Ok(self.fs.removexattr(self.node(ino), name.as_bytes())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdRange;
    use crate::fuse::acl::{GROUP as ACL_GROUP, USER as ACL_USER};

    fn ids() -> IdMap {
        IdMap {
            range: Some(IdRange::new(1 << 20, 65536)),
            ..IdMap::default()
        }
    }

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    #[test]
    fn acl_user_and_group_entries_shift_and_others_stay() {
        let host = (1 << 20) + 1000;
        let stored = acl(&[(0x01, 6, u32::MAX), (ACL_USER, 4, 1000), (ACL_GROUP, 4, 50)]);
        let shown = shift_ids(&ids(), ACL_ACCESS, stored.clone(), Toward::Host);
        assert_eq!(
            shown,
            acl(&[
                (0x01, 6, u32::MAX),
                (ACL_USER, 4, host),
                (ACL_GROUP, 4, (1 << 20) + 50)
            ])
        );
        assert_eq!(shift_ids(&ids(), ACL_ACCESS, shown, Toward::Stored), stored);
        // Other attributes, and values of the wrong shape, are left alone.
        assert_eq!(
            shift_ids(&ids(), b"user.acl", stored.clone(), Toward::Host),
            stored
        );
        let odd = vec![2, 0, 0, 0, 1];
        assert_eq!(
            shift_ids(&ids(), ACL_DEFAULT, odd.clone(), Toward::Host),
            odd
        );
        // Without a range nothing shifts.
        assert_eq!(
            shift_ids(&IdMap::default(), ACL_ACCESS, stored.clone(), Toward::Host),
            stored
        );
    }

    #[test]
    fn v3_capabilities_shift_their_root_id() {
        let mut v3 = CAP_REVISION_3.to_le_bytes().to_vec();
        v3.extend_from_slice(&[0; 16]);
        v3.extend_from_slice(&(1u32 << 20).to_le_bytes());
        let stored = shift_ids(&ids(), CAPABILITY, v3.clone(), Toward::Stored);
        assert_eq!(&stored[20..], &0u32.to_le_bytes());
        assert_eq!(shift_ids(&ids(), CAPABILITY, stored, Toward::Host), v3);
        let v2 = vec![0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            shift_ids(&ids(), CAPABILITY, v2.clone(), Toward::Stored),
            v2
        );
    }
}
