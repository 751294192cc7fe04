//! What a file server sees of a file: Plan 9 style metadata ([`Meta`]),
//! metadata changes ([`SetMeta`]) and directory entries ([`DirItem`]).
//! colony-ns's `FileSystem` trait speaks these same types, so serving a
//! Fossil needs no conversion.

use serde::{Deserialize, Serialize};

use crate::dir_entry::DirEntry;
use crate::extension::{Nanos, Special};
use crate::mode;

/// Plan 9 mode bit: directory.
pub const DMDIR: u32 = 0x8000_0000;
/// Plan 9 mode bit: append only.
pub const DMAPPEND: u32 = 0x4000_0000;
/// Plan 9 mode bit: exclusive use.
pub const DMEXCL: u32 = 0x2000_0000;
/// Plan 9 mode bit (Unix extension): symbolic link.
pub const DMSYMLINK: u32 = 0x0200_0000;
/// plan9port mode bit: device.
pub const DMDEVICE: u32 = 0x0080_0000;
/// plan9port mode bit: named pipe.
pub const DMNAMEDPIPE: u32 = 0x0020_0000;
/// plan9port mode bit: set-uid.
pub const DMSETUID: u32 = 0x0008_0000;
/// plan9port mode bit: set-gid.
pub const DMSETGID: u32 = 0x0004_0000;

/// Mode bit (Unix extension, 9P2000.u's value): sticky.
pub const DMSETVTX: u32 = 0x0001_0000;

/// Pairs of (vac mode bit, Plan 9 mode bit).
const BITS: [(u32, u32); 9] = [
    (mode::DIR, DMDIR),
    (mode::APPEND, DMAPPEND),
    (mode::EXCLUSIVE, DMEXCL),
    (mode::LINK, DMSYMLINK),
    (mode::DEVICE, DMDEVICE),
    (mode::NAMED_PIPE, DMNAMEDPIPE),
    (mode::SETUID, DMSETUID),
    (mode::SETGID, DMSETGID),
    (mode::STICKY, DMSETVTX),
];

/// A vac mode word as a Plan 9 mode (as vacfs shows it).
pub fn to_plan9(vac: u32) -> u32 {
    BITS.iter()
        .filter(|(v, _)| vac & v != 0)
        .fold(vac & 0o777, |m, (_, p)| m | p)
}

/// A Plan 9 mode as a vac mode word; vac bits the Plan 9 mode cannot
/// express (MS-DOS bits, snapshot) are kept from `old`.
pub fn from_plan9(p9: u32, old: u32) -> u32 {
    let kept = old & 0x1f0000;
    BITS.iter()
        .filter(|(_, p)| p9 & p != 0)
        .fold((p9 & 0o777) | kept, |m, (v, _)| m | v)
}

/// A file's identity, as 9P's qid: type (the mode's top byte), version
/// (bumped on every change) and path (the node id). colony-ns encodes this
/// same type on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Qid {
    /// Top byte of the Plan 9 mode (QT* bits).
    pub ty: u8,
    /// Modification count.
    pub version: u32,
    /// The node id: the vac qid.
    pub path: u64,
}

impl Qid {
    /// The qid type that goes with a Plan 9 mode word: its top byte.
    pub fn type_of_mode(mode: u32) -> u8 {
        (mode >> 24) as u8
    }

    /// Whether this qid names a directory (QTDIR, DMDIR's top byte).
    pub fn is_dir(&self) -> bool {
        self.ty & Qid::type_of_mode(DMDIR) != 0
    }
}

/// A file's metadata with Plan 9 mode bits, and what Linux adds (kept in
/// [`crate::extension`] records).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The file's qid.
    pub qid: Qid,
    /// Permission bits and DM* flags.
    pub mode: u32,
    /// Last access.
    pub atime: u32,
    /// Last modification.
    pub mtime: u32,
    /// Length in bytes (0 for directories).
    pub length: u64,
    /// Last path element ("/" for vac's root): bytes, as Linux has them
    /// ([`crate::name`]).
    pub name: Vec<u8>,
    /// Owner.
    pub uid: String,
    /// Group.
    pub gid: String,
    /// Last modifier.
    pub muid: String,
    /// Last change of contents or metadata.
    pub ctime: u32,
    /// Nanoseconds of atime, mtime and ctime.
    pub nsec: Nanos,
    /// The numeric owner, where recorded (else `uid` names it).
    pub uid_number: Option<u32>,
    /// The numeric group, where recorded (else `gid` names it).
    pub gid_number: Option<u32>,
    /// A socket or device.
    pub special: Option<Special>,
    /// How many names the file has (1 for directories).
    pub nlink: u32,
    /// Bytes of data a file stores: its length less its holes, which cost
    /// nothing (`st_blocks` counts these). `None` where not known, as for
    /// directories: count the length instead.
    pub stored: Option<u64>,
}

impl Meta {
    /// The metadata of `de` with stream length `length`, as node `id`.
    pub fn of(id: u64, de: &DirEntry, length: u64) -> Meta {
        let mode = to_plan9(de.mode);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Meta {
            qid: Qid {
                ty: Qid::type_of_mode(mode),
                version: de.effective_mcount(),
                path: id,
            },
            mode,
            atime: de.atime,
            mtime: de.mtime,
            length: if mode & DMDIR != 0 { 0 } else { length },
            name: de.elem.clone(),
            uid: text(&de.uid),
            gid: text(&de.gid),
            muid: text(&de.mid),
            ctime: de.ctime,
            nsec: de.nanos(),
            uid_number: de.uid_number(),
            gid_number: de.gid_number(),
            special: de.special(),
            nlink: 1,
            stored: None,
        }
    }

    /// The node id (qid path).
    pub fn node(&self) -> u64 {
        self.qid.path
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & DMDIR != 0
    }
}

/// A point in time as the file system keeps it: seconds since the epoch
/// (32 bits, as vac stores them) and nanoseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Time {
    /// Whole seconds.
    pub secs: u32,
    /// Nanoseconds, below 10^9.
    pub nsec: u32,
}

impl From<u32> for Time {
    fn from(secs: u32) -> Time {
        Time { secs, nsec: 0 }
    }
}

impl Time {
    /// Now, clamped to 1970..2106 (vac's 32-bit seconds).
    pub fn now() -> Time {
        Time::from_system(std::time::SystemTime::now())
    }

    /// A system time, clamped to 1970..2106 (as ext4 clamps to its own
    /// range).
    pub fn from_system(t: std::time::SystemTime) -> Time {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) if d.as_secs() > u64::from(u32::MAX) => Time {
                secs: u32::MAX,
                nsec: 999_999_999,
            },
            Ok(d) => Time {
                secs: d.as_secs() as u32,
                nsec: d.subsec_nanos(),
            },
            Err(_) => Time::default(),
        }
    }
}

/// A metadata change; `None` leaves a field alone. Applied all or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMeta {
    /// Rename within the parent directory.
    pub name: Option<Vec<u8>>,
    /// New Plan 9 mode; DMDIR must not change.
    pub mode: Option<u32>,
    /// New access time.
    pub atime: Option<Time>,
    /// New modification time.
    pub mtime: Option<Time>,
    /// Truncate or extend with zeros; directories only to 0.
    pub length: Option<u64>,
    /// New owner.
    pub uid: Option<String>,
    /// New group.
    pub gid: Option<String>,
    /// New numeric owner (with `uid`, its name). A new `uid` without a
    /// number records the name alone (its digits, if it is a number).
    pub uid_number: Option<u32>,
    /// New numeric group, as `uid_number`.
    pub gid_number: Option<u32>,
}

impl SetMeta {
    /// True if nothing is to change.
    pub fn is_empty(&self) -> bool {
        *self == SetMeta::default()
    }

    /// The numeric owner this change records, if it changes it (`None`
    /// leaves it alone): the number given; else, with a new name, the
    /// name's digits if it is a number, or no number at all. The one rule
    /// for every file system that keeps numbers.
    pub fn new_uid_number(&self) -> Option<Option<u32>> {
        new_number(&self.uid, self.uid_number)
    }

    /// The numeric group this change records, as [`SetMeta::new_uid_number`].
    pub fn new_gid_number(&self) -> Option<Option<u32>> {
        new_number(&self.gid, self.gid_number)
    }
}

fn new_number(name: &Option<String>, number: Option<u32>) -> Option<Option<u32>> {
    match name {
        Some(n) => Some(number.or_else(|| n.parse().ok())),
        None => number.map(Some),
    }
}

/// What a new file is and whose, for [`crate::fossil::Fossil::make`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFile<'a> {
    /// Plan 9 mode: permission bits (set-id and sticky included), and
    /// DMDIR, DMSYMLINK, DMNAMEDPIPE or DMDEVICE for those kinds.
    pub perm: u32,
    /// A socket, or a device's kind and number (with DMDEVICE).
    pub special: Option<Special>,
    /// The owner's name, also the last modifier.
    pub user: &'a str,
    /// The group's name; `None`: the directory's group.
    #[serde(borrow)]
    pub group: Option<&'a str>,
    /// The numeric owner, if known.
    pub uid_number: Option<u32>,
    /// The numeric group, if known (with `group`).
    pub gid_number: Option<u32>,
}

/// One entry from [`crate::fossil::Fossil::readdir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirItem {
    /// The entry's metadata.
    pub meta: Meta,
    /// Pass to `readdir` to continue after this entry.
    pub cookie: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_bits() {
        assert_eq!(to_plan9(mode::DIR | 0o755), DMDIR | 0o755);
        assert_eq!(to_plan9(mode::LINK | 0o777), DMSYMLINK | 0o777);
        assert_eq!(
            from_plan9(DMAPPEND | DMEXCL | 0o600, 0),
            mode::APPEND | mode::EXCLUSIVE | 0o600
        );
        assert_eq!(from_plan9(0o644, mode::STICKY | mode::DIR), 0o644);
        assert_eq!(
            from_plan9(DMSETVTX | 0o777, mode::DIR),
            mode::STICKY | 0o777
        );
        assert_eq!(
            to_plan9(mode::DIR | mode::STICKY | 0o777),
            DMDIR | DMSETVTX | 0o777
        );
        assert_eq!(from_plan9(0o644, mode::HIDDEN), mode::HIDDEN | 0o644);
        for m in [
            0o644,
            mode::DIR | 0o700,
            mode::LINK | 0o777,
            mode::NAMED_PIPE | 0o600,
        ] {
            assert_eq!(from_plan9(to_plan9(m), m), m);
        }
    }
}
