//! The 9P2000 wire protocol: messages, qids, stat records and framing.
//!
//! All integers are little-endian. A frame is `size[4] type[1] tag[2]
//! payload`, where `size` counts the whole frame including itself.

mod codec;
pub mod error_strings;
pub mod linux;
mod message;
mod qid;
mod stat;
mod wire;

pub use codec::{decode_frame, encode_frame, read_frame, split_frame};
pub use message::*;
pub use qid::Qid;
pub use stat::Stat;

/// The version string this crate speaks.
pub const VERSION: &str = "9P2000";
/// What Rversion carries when the client's version is not understood.
pub const VERSION_UNKNOWN: &str = "unknown";
/// The tag of Tversion.
pub const NOTAG: u16 = 0xFFFF;
/// "No fid", e.g. the afid of Tattach without authentication.
pub const NOFID: u32 = 0xFFFF_FFFF;
/// The most names in a Twalk (and qids in an Rwalk).
pub const MAXWELEM: usize = 16;
/// Room conventionally kept for the header of Twrite/Rread: iounit = msize - IOHDRSZ.
pub const IOHDRSZ: u32 = 24;
/// Fixed bytes of a stat record, including its size[2] and four string lengths.
pub const STATFIXLEN: usize = 49;
/// The smallest frame: size[4] type[1] tag[2].
pub const HEADER_LEN: usize = 7;

/// Open mode: read.
pub const OREAD: u8 = 0;
/// Open mode: write.
pub const OWRITE: u8 = 1;
/// Open mode: read and write.
pub const ORDWR: u8 = 2;
/// Open mode: execute (read access checked against the x bit).
pub const OEXEC: u8 = 3;
/// Open flag: truncate the file (ignored for append-only files).
pub const OTRUNC: u8 = 0x10;
/// Open flag: remove the file when the fid is clunked.
pub const ORCLOSE: u8 = 0x40;

/// Mode bit: directory.
pub const DMDIR: u32 = 0x8000_0000;
/// Mode bit: append-only; writes go to the end and OTRUNC is ignored.
pub const DMAPPEND: u32 = 0x4000_0000;
/// Mode bit: exclusive use; only one open fid at a time.
pub const DMEXCL: u32 = 0x2000_0000;
/// Mode bit: mounted channel (kernel use).
pub const DMMOUNT: u32 = 0x1000_0000;
/// Mode bit: authentication file.
pub const DMAUTH: u32 = 0x0800_0000;
/// Mode bit: not included in archival dumps.
pub const DMTMP: u32 = 0x0400_0000;
/// Mode bit: symbolic link (Unix extension); the file's contents are the target.
pub const DMSYMLINK: u32 = 0x0200_0000;
/// Mode bit: device (Unix extension, 9P2000.u's value).
pub const DMDEVICE: u32 = 0x0080_0000;
/// Mode bit: named pipe (Unix extension, 9P2000.u's value).
pub const DMNAMEDPIPE: u32 = 0x0020_0000;
/// Mode bit: set-user-id (Unix extension, 9P2000.u's value).
pub const DMSETUID: u32 = 0x0008_0000;
/// Mode bit: set-group-id (Unix extension, 9P2000.u's value).
pub const DMSETGID: u32 = 0x0004_0000;
/// Mode bit: sticky (Unix extension, 9P2000.u's value).
pub const DMSETVTX: u32 = 0x0001_0000;

/// Qid type: directory.
pub const QTDIR: u8 = 0x80;
/// Qid type: append-only file.
pub const QTAPPEND: u8 = 0x40;
/// Qid type: exclusive-use file.
pub const QTEXCL: u8 = 0x20;
/// Qid type: authentication file.
pub const QTAUTH: u8 = 0x08;
/// Qid type: not archived.
pub const QTTMP: u8 = 0x04;
/// Qid type: symbolic link.
pub const QTSYMLINK: u8 = 0x02;
/// Qid type: plain file.
pub const QTFILE: u8 = 0x00;
