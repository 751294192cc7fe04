//! POSIX ACLs, as a FUSE file system with `FUSE_POSIX_ACL` must keep them:
//! the kernel enforces them from the `system.posix_acl_*` attributes, and
//! the file system keeps the mode and the access ACL in step (setting an
//! ACL sets the mode, chmod rewrites the ACL) and gives new files the
//! directory's default ACL (instead of the umask), as ext4 does.
//!
//! The value layout is the kernel's `posix_acl_xattr`: a little-endian
//! version word (2), then entries of tag u16, perm u16, id u32.

/// The attribute of a file's access ACL.
pub(crate) const ACCESS: &[u8] = b"system.posix_acl_access";
/// The attribute of a directory's default ACL.
pub(crate) const DEFAULT: &[u8] = b"system.posix_acl_default";

const VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
/// The tag of a named user's entry, whose id is that user's.
pub(crate) const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
/// The tag of a named group's entry, whose id is that group's.
pub(crate) const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;

/// One ACL: its entries, in stored order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Acl {
    entries: Vec<(u16, u16, u32)>,
}

impl Acl {
    /// Parses a value; `None` if it is not a version 2 ACL.
    pub(crate) fn parse(value: &[u8]) -> Option<Acl> {
        let (head, body) = value.split_at_checked(4)?;
        if u32::from_le_bytes(head.try_into().ok()?) != VERSION || body.len() % 8 != 0 {
            return None;
        }
        let entries = body
            .chunks_exact(8)
            .map(|e| {
                (
                    u16::from_le_bytes([e[0], e[1]]),
                    u16::from_le_bytes([e[2], e[3]]),
                    u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
                )
            })
            .collect();
        Some(Acl { entries })
    }

    /// The value to store.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = VERSION.to_le_bytes().to_vec();
        for (tag, perm, id) in &self.entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    fn perm(&self, tag: u16) -> Option<u32> {
        self.entries
            .iter()
            .find(|e| e.0 == tag)
            .map(|e| u32::from(e.1 & 7))
    }

    /// The group class's entry: the mask if there is one, else the owning
    /// group's (what the mode's group bits show).
    fn group_class(&self) -> u16 {
        if self.perm(MASK).is_some() {
            MASK
        } else {
            GROUP_OBJ
        }
    }

    /// Maps the ids of the named user and group entries (the only ones
    /// that carry an id) through `f`.
    pub(crate) fn map_ids(&mut self, f: impl Fn(u32) -> u32) {
        for e in &mut self.entries {
            if matches!(e.0, USER | GROUP) {
                e.2 = f(e.2);
            }
        }
    }

    /// The permission bits (0o777) the ACL implies.
    pub(crate) fn mode(&self) -> u32 {
        let p = |tag| self.perm(tag).unwrap_or(0);
        p(USER_OBJ) << 6 | p(self.group_class()) << 3 | p(OTHER)
    }

    /// Whether the mode alone says all of it (no named entries): then no
    /// attribute is kept, as Linux keeps none.
    pub(crate) fn is_minimal(&self) -> bool {
        self.entries
            .iter()
            .all(|e| matches!(e.0, USER_OBJ | GROUP_OBJ | OTHER))
    }

    /// chmod: the owner, group class and other entries take the bits of
    /// `perm`.
    pub(crate) fn set_mode(&mut self, perm: u32) {
        let class = self.group_class();
        for e in &mut self.entries {
            let shift = match e.0 {
                USER_OBJ => 6,
                OTHER => 0,
                t if t == class => 3,
                _ => continue,
            };
            e.1 = ((perm >> shift) & 7) as u16;
        }
    }

    /// The access ACL of a file made with permission bits `perm` in a
    /// directory whose default ACL this is: the default, with the owner,
    /// group class and other entries limited to `perm`'s bits.
    pub(crate) fn inherited(&self, perm: u32) -> Acl {
        let mut acl = self.clone();
        let limit = acl.mode() & perm;
        acl.set_mode(limit);
        acl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Acl {
        Acl {
            entries: entries.to_vec(),
        }
    }

    #[test]
    fn mode_and_acl_stay_in_step() {
        let named = acl(&[
            (USER_OBJ, 6, 0),
            (USER, 4, 42),
            (GROUP_OBJ, 4, 0),
            (MASK, 6, 0),
            (OTHER, 4, 0),
        ]);
        assert_eq!(Acl::parse(&named.encode()), Some(named.clone()));
        assert_eq!(named.mode(), 0o664, "the mask is the group class");
        assert!(!named.is_minimal());
        let mut chmodded = named.clone();
        chmodded.set_mode(0o640);
        assert_eq!(chmodded.mode(), 0o640);
        assert_eq!(
            chmodded.perm(GROUP_OBJ),
            Some(4),
            "the owning group keeps its bits"
        );
        let minimal = acl(&[(USER_OBJ, 7, 0), (GROUP_OBJ, 5, 0), (OTHER, 0, 0)]);
        assert!(minimal.is_minimal());
        assert_eq!(minimal.mode(), 0o750);
        // A file made 0666 under a default of rwx/r-x/r-x gets 0644-ish.
        let default = acl(&[
            (USER_OBJ, 7, 0),
            (USER, 5, 42),
            (GROUP_OBJ, 5, 0),
            (MASK, 5, 0),
            (OTHER, 5, 0),
        ]);
        assert_eq!(default.inherited(0o666).mode(), 0o644);
        assert_eq!(Acl::parse(&[1, 0, 0, 0]), None);
        assert_eq!(Acl::parse(&[2, 0, 0, 0, 1]), None);
    }
}
