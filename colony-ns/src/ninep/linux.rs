//! 9P2000.colony: what 9P2000 lacks to carry a Linux file system, as one
//! extension message pair beside the 9P2000 ones.
//!
//! A client proposes [`VERSION_LINUX`] in Tversion; a server that serves
//! the extension (to trusted clients: a storage node's cpu nodes, whose
//! kernels check permissions themselves) answers with it, any other
//! answers "9P2000" and the client keeps to 9P2000. Then `Tlinux { fid,
//! op }` asks for one [`LinuxOp`] on the fid's file and `Rlinux { reply }`
//! carries its [`LinuxReply`]; a failure is an Rerror, as for any request.
//! `op` and `reply` are postcard encodings of those enums, so each
//! operation's layout is written once, in them. Operations that name a
//! second file (a link's directory, a rename's target directory) carry
//! its fid.
//!
//! What it adds to 9P2000: numeric owners, nanosecond times, link counts
//! and stored bytes in every stat ([`Meta`] whole); hard links; fifos,
//! sockets and devices; removal and rename by name with rename(2)'s and
//! renameat2's rules, across directories; extended attributes; sparse
//! files (SEEK_DATA/SEEK_HOLE, fallocate); statfs; fsync.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::{Allocate, DirEntry, Meta, NewFile, RenameMode, Seek, SetMeta, Space, XattrMode};

/// The version string of the extension.
pub const VERSION_LINUX: &str = "9P2000.colony";

/// One operation on the file of a Tlinux's fid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinuxOp<'a> {
    /// The file's whole metadata ([`LinuxReply::Meta`]).
    Stat,
    /// Changes metadata, as the fid's user ([`LinuxReply::Meta`]).
    Setattr(SetMeta),
    /// Directory entries after `cookie`: at most `max` of them, and as
    /// many as fit one reply ([`LinuxReply::Entries`]).
    Readdir {
        /// Where to go on from (0: the start).
        cookie: u64,
        /// The most entries to send.
        max: u32,
    },
    /// Makes `name` in this directory ([`LinuxReply::Meta`]).
    Make {
        /// The new name.
        #[serde(borrow)]
        name: &'a [u8],
        /// What it is and whose.
        #[serde(borrow)]
        new: NewFile<'a>,
    },
    /// Gives this file another name, in the directory of fid `dir`
    /// ([`LinuxReply::Meta`]).
    Link {
        /// A directory fid.
        dir: u32,
        /// The new name.
        #[serde(borrow)]
        name: &'a [u8],
    },
    /// Removes `name` from this directory ([`LinuxReply::Meta`], of the
    /// file as it was).
    Unlink {
        /// The name.
        #[serde(borrow)]
        name: &'a [u8],
    },
    /// Moves `name` of this directory to `to` in the directory of fid
    /// `dir` ([`LinuxReply::Renamed`]).
    Rename {
        /// The name here.
        #[serde(borrow)]
        name: &'a [u8],
        /// The target directory's fid.
        dir: u32,
        /// The name there.
        #[serde(borrow)]
        to: &'a [u8],
        /// What happens to a file already named `to`.
        mode: RenameMode,
    },
    /// An extended attribute's value ([`LinuxReply::Bytes`]).
    Getxattr {
        /// Its name.
        #[serde(borrow)]
        name: &'a [u8],
    },
    /// The names of the extended attributes ([`LinuxReply::Names`]).
    Listxattr,
    /// Sets an extended attribute ([`LinuxReply::Done`]).
    Setxattr {
        /// Its name.
        #[serde(borrow)]
        name: &'a [u8],
        /// Its value.
        #[serde(borrow)]
        value: &'a [u8],
        /// Whether it may be created, replaced or either.
        mode: XattrMode,
    },
    /// Removes an extended attribute ([`LinuxReply::Done`]).
    Removexattr {
        /// Its name.
        #[serde(borrow)]
        name: &'a [u8],
    },
    /// The next data or hole at or after `offset` ([`LinuxReply::Offset`]).
    SeekData {
        /// Where to look from.
        offset: u64,
        /// Data or a hole.
        whence: Seek,
    },
    /// fallocate of a byte range ([`LinuxReply::Done`]).
    Allocate {
        /// First byte.
        offset: u64,
        /// Bytes.
        len: u64,
        /// What to do to them.
        how: Allocate,
    },
    /// The file system's use and limit ([`LinuxReply::Space`]).
    Space,
    /// Makes the file durable ([`LinuxReply::Done`]).
    Sync,
    /// Asks the file system to keep removed files for their holders
    /// ([`FileSystem::keep_removed`](crate::FileSystem::keep_removed);
    /// [`LinuxReply::Kept`]).
    KeepRemoved,
    /// The client holds node `node` no more
    /// ([`FileSystem::forget`](crate::FileSystem::forget);
    /// [`LinuxReply::Done`]).
    Forget {
        /// The node.
        node: u64,
    },
}

/// What a [`LinuxOp`] gives back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinuxReply {
    /// A file's metadata.
    Meta(Meta),
    /// Directory entries, with their cookies.
    Entries {
        /// The entries, each with the cookie that continues after it.
        entries: Vec<(Meta, u64)>,
        /// True if the directory has no more.
        end: bool,
    },
    /// An attribute's value.
    Bytes(Vec<u8>),
    /// Attribute names.
    Names(Vec<Vec<u8>>),
    /// An offset.
    Offset(u64),
    /// A use and limit, if the file system keeps one.
    Space(Option<Space>),
    /// A rename's file moved, and the node it replaced, if any.
    Renamed {
        /// The file moved, as it is now.
        moved: Meta,
        /// The file that had the new name before.
        replaced: Option<u64>,
    },
    /// Whether removed files are kept for their holders.
    Kept(bool),
    /// Done; nothing to say.
    Done,
}

impl LinuxOp<'_> {
    /// The op's bytes, for a Tlinux.
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode(self, "Tlinux op")
    }
}

impl<'a> LinuxOp<'a> {
    /// The op a Tlinux carries.
    pub fn decode(bytes: &'a [u8]) -> Result<LinuxOp<'a>> {
        decode(bytes)
    }
}

impl LinuxReply {
    /// The reply's bytes, for an Rlinux.
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode(self, "Rlinux reply")
    }

    /// The reply an Rlinux carries.
    pub fn decode(bytes: &[u8]) -> Result<LinuxReply> {
        decode(bytes)
    }
}

fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| Error::Other(format!("{what}: {e}")))
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::BadLinuxMessage(e.to_string()))
}

/// Bytes one directory entry takes in [`LinuxReply::Entries`].
pub fn entry_size(e: &DirEntry) -> usize {
    let counted = postcard::ser_flavors::Size::default();
    postcard::serialize_with_flavor(&(&e.meta, e.cookie), counted).unwrap_or(usize::MAX)
}

/// Directory entries as [`LinuxReply::Entries`] carries them.
pub fn entries(items: Vec<DirEntry>, end: bool) -> LinuxReply {
    LinuxReply::Entries {
        entries: items.into_iter().map(|e| (e.meta, e.cookie)).collect(),
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, u64, u32, u8)> {
        (
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..40),
            any::<u64>(),
            any::<u32>(),
            0u8..15,
        )
    }

    proptest! {
        #[test]
        fn ops_round_trip((a, b, n, m, which) in op()) {
            let new = NewFile { perm: m, user: "u", group: Some("g"), uid_number: Some(m), ..NewFile::default() };
            let op = match which {
                0 => LinuxOp::Stat,
                1 => LinuxOp::Setattr(SetMeta { length: Some(n), uid_number: Some(m), ..SetMeta::default() }),
                2 => LinuxOp::Readdir { cookie: n, max: m },
                3 => LinuxOp::Make { name: &a, new },
                4 => LinuxOp::Link { dir: m, name: &a },
                5 => LinuxOp::Unlink { name: &a },
                6 => LinuxOp::Rename { name: &a, dir: m, to: &b, mode: RenameMode::Exchange },
                7 => LinuxOp::Getxattr { name: &a },
                8 => LinuxOp::Listxattr,
                9 => LinuxOp::Setxattr { name: &a, value: &b, mode: XattrMode::Create },
                10 => LinuxOp::Removexattr { name: &a },
                11 => LinuxOp::SeekData { offset: n, whence: Seek::Hole },
                12 => LinuxOp::Allocate { offset: n, len: u64::from(m), how: Allocate::Zero { keep_size: true } },
                13 => LinuxOp::Forget { node: n },
                _ => LinuxOp::Space,
            };
            let bytes = op.encode().unwrap();
            prop_assert_eq!(LinuxOp::decode(&bytes).unwrap(), op);
            let reply = LinuxReply::Names(vec![a.clone(), b.clone()]);
            prop_assert_eq!(LinuxReply::decode(&reply.encode().unwrap()).unwrap(), reply);
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = LinuxOp::decode(&bytes);
            let _ = LinuxReply::decode(&bytes);
        }
    }
}
