//! colony's extension of the vac format: what a Linux file has and a
//! DirEntry (spec §5.4) cannot say, kept in optional records that
//! plan9port's readers skip (`vdunpack` ignores tags it does not know, so
//! `unvac` and `vacfs` still read the archive and see the file as vac
//! describes it).
//!
//! | Tag | Name | Length | Body |
//! |---|---|---|---|
//! | 0x80 | Uid | 4 | numeric owner, u32 |
//! | 0x81 | Gid | 4 | numeric group, u32 |
//! | 0x82 | Nanos | 12 | nanoseconds of atime, mtime, ctime: u32 each, < 10^9 |
//! | 0x83 | Special | 9 | kind u8 (1 socket, 2 character device, 3 block device), rdev u64 |
//! | 0x84 | Xattr | 1+n+v | name length n u8 (1..=255), name, value (the rest) |
//! | 0x85 | Link | 8 | hard-link group id u64 (the shared file's qid) |
//! | 0x86 | LinkTable | 29 | (on `/` only) the link table stream: score 20 bytes, size u64, depth u8 |
//!
//! Each tag appears at most once, except Xattr, once per attribute name.
//!
//! Hard links: every name of a linked file is a whole vac entry of its
//! own (its own VtEntry slot and DirEntry, the same content scores, so
//! dedup makes the copies free) carrying a Link record; its DirEntry qid is
//! the group id, so 9P clients see one file, and plan9port sees copies. The
//! link table lists every group's names as paths from the root
//! ('/'-joined, no leading '/'), so that a save rewrites every copy even in
//! directories never visited since the open: its encoding is, per group,
//! the group id u64, the number of paths u32, and each path as length u32
//! and bytes. A Link record whose group is not in the table (`colony vac`
//! of a file whose other names are outside the tree) is a file of one
//! name.
//!
//! The uid and gid strings of the DirEntry keep the names, as plan9port
//! records them (a name where the host has one, else the decimal number);
//! where a Uid or Gid record is present its number is the owner a Linux
//! reader uses. A fifo is vac's own `ModeNamedPipe` and needs no record; a
//! device also carries vac's `ModeDevice`; a socket is, to plan9port, an
//! empty regular file.
//!
//! The whole DirEntry must fit in one MetaBlock, so a file's extended
//! attributes are bounded, as ext4 bounds them to one block:
//! [`XATTR_SPACE`] bytes of encoded records.

use serde::{Deserialize, Serialize};

use crate::dir_entry::{DirEntry, Record};
use crate::error::{Error, Result};

/// Record tags of the extension.
pub mod tag {
    /// Numeric owner.
    pub const UID: u8 = 0x80;
    /// Numeric group.
    pub const GID: u8 = 0x81;
    /// Nanoseconds of the three times.
    pub const NANOS: u8 = 0x82;
    /// Socket or device, with the device number.
    pub const SPECIAL: u8 = 0x83;
    /// One extended attribute.
    pub const XATTR: u8 = 0x84;
    /// Member of a hard-link group.
    pub const LINK: u8 = 0x85;
    /// Where the link table is (`/`'s DirEntry).
    pub const LINK_TABLE: u8 = 0x86;
}

/// Where a stream is, as the LinkTable record says: top score, length in
/// bytes, pointer-tree depth.
pub type TableAt = (colony_venti::Score, u64, u8);

/// The most bytes a file's Xattr records may take, headers included (the
/// space ext4 gives a file's attributes with 4 KiB blocks).
pub const XATTR_SPACE: usize = 4000;

/// The longest attribute name (Linux's XATTR_NAME_MAX).
pub const XATTR_NAME_MAX: usize = 255;

/// Nanoseconds of a file's access, modification and change times, beside
/// the DirEntry's whole seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Nanos {
    /// Of atime.
    pub atime: u32,
    /// Of mtime.
    pub mtime: u32,
    /// Of ctime.
    pub ctime: u32,
}

/// A file that is neither regular, directory, symlink nor fifo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Special {
    /// A Unix-domain socket's name.
    Socket,
    /// A character device with this device number (as `st_rdev`).
    CharDevice(u64),
    /// A block device with this device number.
    BlockDevice(u64),
}

impl Special {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let (kind, rdev) = match *self {
            Special::Socket => (1u8, 0),
            Special::CharDevice(r) => (2, r),
            Special::BlockDevice(r) => (3, r),
        };
        let mut b = vec![kind];
        b.extend_from_slice(&rdev.to_be_bytes());
        b
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Special> {
        let [kind, rdev @ ..] = body else {
            return Err(bad("Special record is empty"));
        };
        let rdev: [u8; 8] = rdev
            .try_into()
            .map_err(|_| bad(format!("Special record of {} bytes, not 9", body.len())))?;
        let rdev = u64::from_be_bytes(rdev);
        match kind {
            1 if rdev == 0 => Ok(Special::Socket),
            2 => Ok(Special::CharDevice(rdev)),
            3 => Ok(Special::BlockDevice(rdev)),
            k => Err(bad(format!("Special record of kind {k}"))),
        }
    }
}

impl Nanos {
    pub(crate) fn encode(&self) -> Vec<u8> {
        [self.atime, self.mtime, self.ctime]
            .iter()
            .flat_map(|n| n.to_be_bytes())
            .collect()
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Nanos> {
        if body.len() != 12 {
            return Err(bad(format!("Nanos record of {} bytes, not 12", body.len())));
        }
        let at = |i: usize| u32::from_be_bytes(body[i..i + 4].try_into().expect("12 bytes"));
        let n = Nanos {
            atime: at(0),
            mtime: at(4),
            ctime: at(8),
        };
        if [n.atime, n.mtime, n.ctime]
            .iter()
            .any(|&x| x >= 1_000_000_000)
        {
            return Err(bad("Nanos record with a value of a second or more"));
        }
        Ok(n)
    }
}

/// An Xattr record's body.
pub(crate) fn encode_xattr(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(1 + name.len() + value.len());
    b.push(name.len() as u8);
    b.extend_from_slice(name);
    b.extend_from_slice(value);
    b
}

/// An Xattr record's name and value.
pub(crate) fn decode_xattr(body: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let [n, rest @ ..] = body else {
        return Err(bad("Xattr record is empty"));
    };
    let n = usize::from(*n);
    if n == 0 || rest.len() < n {
        return Err(bad(format!(
            "Xattr record's name of {n} bytes in a body of {}",
            body.len()
        )));
    }
    Ok((rest[..n].to_vec(), rest[n..].to_vec()))
}

/// A u32 record's value (Uid, Gid).
pub(crate) fn decode_u32(body: &[u8], what: &str) -> Result<u32> {
    let b: [u8; 4] = body
        .try_into()
        .map_err(|_| bad(format!("{what} record of {} bytes, not 4", body.len())))?;
    Ok(u32::from_be_bytes(b))
}

/// The tag and body of one of the extension's records (any other record
/// is the caller's).
pub(crate) fn encode_record(r: &Record) -> (u8, Vec<u8>) {
    match r {
        Record::Uid(u) => (tag::UID, u.to_be_bytes().to_vec()),
        Record::Gid(g) => (tag::GID, g.to_be_bytes().to_vec()),
        Record::Nanos(n) => (tag::NANOS, n.encode()),
        Record::Special(s) => (tag::SPECIAL, s.encode()),
        Record::Xattr { name, value } => (tag::XATTR, encode_xattr(name, value)),
        Record::Link(g) => (tag::LINK, g.to_be_bytes().to_vec()),
        Record::LinkTable { score, size, depth } => {
            let mut b = score.0.to_vec();
            b.extend_from_slice(&size.to_be_bytes());
            b.push(*depth);
            (tag::LINK_TABLE, b)
        }
        other => unreachable!("not an extension record: {other:?}"),
    }
}

/// The body length of one of the extension's records.
pub(crate) fn body_len(r: &Record) -> usize {
    match r {
        Record::Uid(_) | Record::Gid(_) => 4,
        Record::Nanos(_) => 12,
        Record::Special(_) => 9,
        Record::Xattr { name, value } => 1 + name.len() + value.len(),
        Record::Link(_) => 8,
        Record::LinkTable { .. } => 29,
        other => unreachable!("not an extension record: {other:?}"),
    }
}

/// The extension record a tag and body decode to; `None` for tags that are
/// not the extension's.
pub(crate) fn decode_record(t: u8, body: &[u8]) -> Result<Option<Record>> {
    Ok(Some(match t {
        tag::UID => Record::Uid(decode_u32(body, "Uid")?),
        tag::GID => Record::Gid(decode_u32(body, "Gid")?),
        tag::NANOS => Record::Nanos(Nanos::decode(body)?),
        tag::SPECIAL => Record::Special(Special::decode(body)?),
        tag::XATTR => {
            let (name, value) = decode_xattr(body)?;
            Record::Xattr { name, value }
        }
        tag::LINK => {
            let b: [u8; 8] = body
                .try_into()
                .map_err(|_| bad(format!("Link record of {} bytes, not 8", body.len())))?;
            Record::Link(u64::from_be_bytes(b))
        }
        tag::LINK_TABLE => {
            if body.len() != 29 {
                return Err(bad(format!(
                    "LinkTable record of {} bytes, not 29",
                    body.len()
                )));
            }
            Record::LinkTable {
                score: colony_venti::Score(body[..20].try_into().expect("20 bytes")),
                size: u64::from_be_bytes(body[20..28].try_into().expect("8 bytes")),
                depth: body[28],
            }
        }
        _ => return Ok(None),
    }))
}

/// Refuses a second record of a kind that may appear once (an Xattr: once
/// per name) after `before`.
pub(crate) fn check_unique(before: &[Record], r: &Record) -> Result<()> {
    let repeated = before.iter().any(|b| match (b, r) {
        (Record::Xattr { name: a, .. }, Record::Xattr { name: b, .. }) => a == b,
        (Record::Xattr { .. }, _) => false,
        _ => std::mem::discriminant(b) == std::mem::discriminant(r),
    });
    if repeated {
        return Err(bad(format!("repeated record {r:?}")));
    }
    Ok(())
}

/// Whether attribute `name` may be set to `value` on a file whose other
/// attributes are `others` (name, value length) and which has one of that
/// name if `exists`: the name's length, `mode`'s rule, and
/// [`XATTR_SPACE`], counted as the Xattr records would take it. The one
/// rule for every file system that keeps attributes.
pub fn check_xattr<'a>(
    others: impl Iterator<Item = (&'a [u8], usize)>,
    exists: bool,
    name: &[u8],
    value: &[u8],
    mode: XattrMode,
) -> Result<()> {
    if name.is_empty() || name.len() > XATTR_NAME_MAX {
        return Err(Error::BadXattrName(name.len()));
    }
    match (mode, exists) {
        (XattrMode::Create, true) => return Err(Error::Exists),
        (XattrMode::Replace, false) => return Err(Error::NoAttr),
        _ => {}
    }
    let record = |n: &[u8], v: usize| 3 + 1 + n.len() + v;
    let total: usize = others.map(|(n, v)| record(n, v)).sum::<usize>() + record(name, value.len());
    if total > XATTR_SPACE {
        return Err(Error::NoSpace);
    }
    Ok(())
}

/// Where the flags of [`DirEntry::set_xattr`] allow the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum XattrMode {
    /// Create or replace.
    Any,
    /// Only create ([`Error::Exists`] if the attribute exists).
    Create,
    /// Only replace ([`Error::NoAttr`] if it does not).
    Replace,
}

impl DirEntry {
    fn find<T>(&self, f: impl Fn(&Record) -> Option<T>) -> Option<T> {
        self.records.iter().find_map(f)
    }

    /// Replaces (or, with `None`, removes) the one record `same` selects.
    fn put(&mut self, same: impl Fn(&Record) -> bool, r: Option<Record>) {
        self.records.retain(|x| !same(x));
        self.records.extend(r);
    }

    /// The numeric owner, if recorded.
    pub fn uid_number(&self) -> Option<u32> {
        self.find(|r| match r {
            Record::Uid(u) => Some(*u),
            _ => None,
        })
    }

    /// The numeric group, if recorded.
    pub fn gid_number(&self) -> Option<u32> {
        self.find(|r| match r {
            Record::Gid(g) => Some(*g),
            _ => None,
        })
    }

    /// Records (or forgets) the numeric owner.
    pub fn set_uid_number(&mut self, uid: Option<u32>) {
        self.put(|r| matches!(r, Record::Uid(_)), uid.map(Record::Uid));
    }

    /// Records (or forgets) the numeric group.
    pub fn set_gid_number(&mut self, gid: Option<u32>) {
        self.put(|r| matches!(r, Record::Gid(_)), gid.map(Record::Gid));
    }

    /// The nanoseconds of the times (zero where not recorded).
    pub fn nanos(&self) -> Nanos {
        self.find(|r| match r {
            Record::Nanos(n) => Some(*n),
            _ => None,
        })
        .unwrap_or_default()
    }

    /// Records the nanoseconds of the times (none at all when all are 0).
    pub fn set_nanos(&mut self, n: Nanos) {
        let keep = (n != Nanos::default()).then_some(Record::Nanos(n));
        self.put(|r| matches!(r, Record::Nanos(_)), keep);
    }

    /// What kind of special file this is, if it is one.
    pub fn special(&self) -> Option<Special> {
        self.find(|r| match r {
            Record::Special(s) => Some(*s),
            _ => None,
        })
    }

    /// Records what kind of special file this is.
    pub fn set_special(&mut self, s: Option<Special>) {
        self.put(|r| matches!(r, Record::Special(_)), s.map(Record::Special));
    }

    /// The hard-link group this name belongs to, if any.
    pub fn link(&self) -> Option<u64> {
        self.find(|r| match r {
            Record::Link(g) => Some(*g),
            _ => None,
        })
    }

    /// Records (or forgets) the hard-link group.
    pub fn set_link(&mut self, group: Option<u64>) {
        self.put(|r| matches!(r, Record::Link(_)), group.map(Record::Link));
    }

    /// Where the link table is (`/`'s DirEntry): score, size, depth.
    pub fn link_table(&self) -> Option<TableAt> {
        self.find(|r| match r {
            Record::LinkTable { score, size, depth } => Some((*score, *size, *depth)),
            _ => None,
        })
    }

    /// Records (or forgets) where the link table is.
    pub fn set_link_table(&mut self, at: Option<TableAt>) {
        self.put(
            |r| matches!(r, Record::LinkTable { .. }),
            at.map(|(score, size, depth)| Record::LinkTable { score, size, depth }),
        );
    }

    /// The value of the extended attribute `name`.
    pub fn xattr(&self, name: &[u8]) -> Option<&[u8]> {
        self.records.iter().find_map(|r| match r {
            Record::Xattr { name: n, value } if n == name => Some(value.as_slice()),
            _ => None,
        })
    }

    /// The names of the extended attributes, in stored order.
    pub fn xattr_names(&self) -> impl Iterator<Item = &[u8]> {
        self.records.iter().filter_map(|r| match r {
            Record::Xattr { name, .. } => Some(name.as_slice()),
            _ => None,
        })
    }

    /// Sets the extended attribute `name` to `value`, within [`XATTR_SPACE`]
    /// ([`Error::NoSpace`] beyond, as ext4 gives ENOSPC).
    pub fn set_xattr(&mut self, name: &[u8], value: &[u8], mode: XattrMode) -> Result<()> {
        let others = self.records.iter().filter_map(|r| match r {
            Record::Xattr { name: n, value } if n != name => Some((n.as_slice(), value.len())),
            _ => None,
        });
        check_xattr(others, self.xattr(name).is_some(), name, value, mode)?;
        let new = Record::Xattr {
            name: name.to_vec(),
            value: value.to_vec(),
        };
        match self
            .records
            .iter_mut()
            .find(|r| matches!(r, Record::Xattr { name: n, .. } if n == name))
        {
            Some(slot) => *slot = new,
            None => self.records.push(new),
        }
        Ok(())
    }

    /// Removes the extended attribute `name` ([`Error::NoAttr`] if absent).
    pub fn remove_xattr(&mut self, name: &[u8]) -> Result<()> {
        let before = self.records.len();
        self.records
            .retain(|r| !matches!(r, Record::Xattr { name: n, .. } if n == name));
        if self.records.len() == before {
            return Err(Error::NoAttr);
        }
        Ok(())
    }
}

fn bad(why: impl Into<String>) -> Error {
    Error::format("DirEntry", why)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Any set of extension records a DirEntry may hold.
    pub(crate) fn arb_records() -> impl Strategy<Value = Vec<Record>> {
        let special = prop_oneof![
            Just(Special::Socket),
            any::<u64>().prop_map(Special::CharDevice),
            any::<u64>().prop_map(Special::BlockDevice),
        ];
        let ns = || 0u32..1_000_000_000;
        let nanos = (ns(), ns(), ns()).prop_map(|(atime, mtime, ctime)| Nanos {
            atime,
            mtime,
            ctime,
        });
        let xattrs = prop::collection::btree_map(
            prop::collection::vec(any::<u8>(), 1..20),
            prop::collection::vec(any::<u8>(), 0..30),
            0..4,
        );
        (
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>()),
            prop::option::of(nanos),
            prop::option::of(special),
            xattrs,
            prop::option::of(any::<u64>()),
            prop::option::of((any::<[u8; 20]>(), any::<u64>(), 0u8..8)),
        )
            .prop_map(|(uid, gid, nanos, special, xattrs, link, table)| {
                let mut v: Vec<Record> = uid.map(Record::Uid).into_iter().collect();
                v.extend(gid.map(Record::Gid));
                v.extend(nanos.map(Record::Nanos));
                v.extend(special.map(Record::Special));
                v.extend(
                    xattrs
                        .into_iter()
                        .map(|(name, value)| Record::Xattr { name, value }),
                );
                v.extend(link.map(Record::Link));
                v.extend(table.map(|(s, size, depth)| Record::LinkTable {
                    score: colony_venti::Score(s),
                    size,
                    depth,
                }));
                v
            })
    }

    #[test]
    fn repeated_records_are_refused() {
        let mut de = crate::dir_entry::tests::sample(b"f");
        de.records = vec![Record::Uid(1), Record::Uid(2)];
        assert!(DirEntry::decode(&de.encode().unwrap()).is_err());
        let x = Record::Xattr {
            name: b"user.a".to_vec(),
            value: vec![],
        };
        de.records = vec![x.clone(), x];
        assert!(DirEntry::decode(&de.encode().unwrap()).is_err());
    }

    #[test]
    fn xattrs_are_bounded_and_flagged() {
        let mut de = crate::dir_entry::tests::sample(b"f");
        de.set_xattr(b"user.a", b"1", XattrMode::Any).unwrap();
        assert!(matches!(
            de.set_xattr(b"user.a", b"2", XattrMode::Create),
            Err(Error::Exists)
        ));
        assert!(matches!(
            de.set_xattr(b"user.b", b"2", XattrMode::Replace),
            Err(Error::NoAttr)
        ));
        de.set_xattr(b"user.a", b"2", XattrMode::Replace).unwrap();
        assert_eq!(de.xattr(b"user.a"), Some(&b"2"[..]));
        assert!(matches!(
            de.set_xattr(b"user.big", &[0; XATTR_SPACE], XattrMode::Any),
            Err(Error::NoSpace)
        ));
        // Replacing an attribute counts its old size out.
        de.set_xattr(b"user.a", &[0; XATTR_SPACE - 10], XattrMode::Any)
            .unwrap();
        assert!(matches!(
            de.set_xattr(&[b'x'; 256], b"", XattrMode::Any),
            Err(Error::BadXattrName(256))
        ));
        de.remove_xattr(b"user.a").unwrap();
        assert!(matches!(de.remove_xattr(b"user.a"), Err(Error::NoAttr)));
        assert_eq!(de.xattr_names().count(), 0);
    }

    #[test]
    fn bodies_are_checked() {
        assert_eq!(
            Special::decode(&Special::CharDevice(0x0103).encode()).unwrap(),
            Special::CharDevice(0x0103)
        );
        assert!(
            Special::decode(&[1, 0, 0, 0, 0, 0, 0, 0, 1]).is_err(),
            "socket with rdev"
        );
        assert!(Special::decode(&[4, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Special::decode(&[2, 0]).is_err());
        assert!(Nanos::decode(&[0; 11]).is_err());
        let mut big = Nanos::default().encode();
        big[4..8].copy_from_slice(&1_000_000_000u32.to_be_bytes());
        assert!(Nanos::decode(&big).is_err());
        assert!(decode_xattr(&[0]).is_err());
        assert!(decode_xattr(&[3, b'a']).is_err());
        assert_eq!(
            decode_xattr(&encode_xattr(b"user.a", b"")).unwrap(),
            (b"user.a".to_vec(), vec![])
        );
        assert!(decode_u32(&[0; 5], "Uid").is_err());
        assert!(decode_record(tag::LINK, &[0; 7]).is_err());
        assert!(decode_record(tag::LINK_TABLE, &[0; 28]).is_err());
        assert_eq!(
            decode_record(tag::LINK, &7u64.to_be_bytes()).unwrap(),
            Some(Record::Link(7))
        );
    }
}
