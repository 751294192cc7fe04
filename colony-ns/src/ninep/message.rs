//! Every 9P2000 T- and R-message, each a type, and [`Fcall`]: a tagged
//! message with `encode`/`decode` of the whole frame.

use crate::error::{Error, Result};
use crate::ninep::codec::expect_end;
use crate::ninep::qid::Qid;
use crate::ninep::stat::Stat;
use crate::ninep::wire::{Codec, NameField, Reader, WalkNames};

/// The codec of a message field: its type's own, or the one after `as`.
macro_rules! field_codec {
    ($fty:ty) => {
        $fty
    };
    ($fty:ty, $codec:ty) => {
        $codec
    };
}

/// Declares each message as a struct of wire fields (in wire order) and the
/// [`Message`] enum over them, so the layout is written down once.
macro_rules! messages {
    ($(
        $(#[$doc:meta])*
        $name:ident = $num:literal { $( $(#[$fdoc:meta])* $field:ident : $fty:ty $(as $codec:ty)? ),* $(,)? }
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Eq)]
            pub struct $name { $( $(#[$fdoc])* pub $field: $fty, )* }

            impl $name {
                /// The message's type byte.
                pub const TYPE: u8 = $num;

                fn put_body(&self, out: &mut Vec<u8>) -> Result<()> {
                    let _ = &out;
                    $( <field_codec!($fty $(, $codec)?) as Codec<$fty>>::put(&self.$field, out)?; )*
                    Ok(())
                }

                fn get_body(r: &mut Reader<'_>) -> Result<Self> {
                    let _ = &r;
                    Ok(Self { $( $field: <field_codec!($fty $(, $codec)?) as Codec<$fty>>::get(r, concat!(stringify!($name), ".", stringify!($field)))?, )* })
                }
            }

            impl From<$name> for Message {
                fn from(m: $name) -> Self {
                    Message::$name(m)
                }
            }

            /// The message if it is this type; otherwise it comes back.
            impl TryFrom<Message> for $name {
                type Error = Message;
                fn try_from(m: Message) -> std::result::Result<Self, Message> {
                    match m {
                        Message::$name(m) => Ok(m),
                        other => Err(other),
                    }
                }
            }
        )*

        /// Any 9P2000 message (Terror, type 106, is illegal and not here).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $( $(#[$doc])* $name($name), )*
        }

        impl Message {
            /// The message's name ("Twalk"), for errors and logs.
            pub fn name(&self) -> &'static str {
                match self { $( Message::$name(_) => stringify!($name), )* }
            }

            /// The type byte on the wire.
            pub fn type_byte(&self) -> u8 {
                match self { $( Message::$name(_) => $num, )* }
            }

            fn put_body(&self, out: &mut Vec<u8>) -> Result<()> {
                match self { $( Message::$name(m) => m.put_body(out), )* }
            }

            fn get_body(ty: u8, r: &mut Reader<'_>) -> Result<Self> {
                match ty {
                    $( $num => Ok(Message::$name($name::get_body(r)?)), )*
                    other => Err(Error::UnknownType(other)),
                }
            }
        }
    };
}

messages! {
    /// Start a session: propose msize and version.
    Tversion = 100 {
        /// Largest message the client will send or accept.
        msize: u32,
        /// Protocol version, "9P2000".
        version: String,
    }
    /// The negotiated msize and version ("unknown" if not understood).
    Rversion = 101 {
        /// Negotiated msize (≤ the client's).
        msize: u32,
        /// Agreed version.
        version: String,
    }
    /// Establish an authentication fid.
    Tauth = 102 {
        /// The new auth fid.
        afid: u32,
        /// User name.
        uname: String,
        /// Tree to attach.
        aname: String,
    }
    /// The auth fid's qid.
    Rauth = 103 {
        /// Qid of type QTAUTH.
        aqid: Qid,
    }
    /// Bind a fid to the root of a tree for a user.
    Tattach = 104 {
        /// The new fid.
        fid: u32,
        /// Auth fid, or NOFID.
        afid: u32,
        /// User name.
        uname: String,
        /// Tree to attach.
        aname: String,
    }
    /// The root's qid.
    Rattach = 105 {
        /// The root's qid.
        qid: Qid,
    }
    /// A request failed.
    Rerror = 107 {
        /// Error text.
        ename: String,
    }
    /// Abort an outstanding request.
    Tflush = 108 {
        /// Tag of the request to abort.
        oldtag: u16,
    }
    /// The flush is done; the old tag may be reused.
    Rflush = 109 {}
    /// Walk from a fid along names to a new fid.
    Twalk = 110 {
        /// Starting fid.
        fid: u32,
        /// Fid for the result (may equal fid).
        newfid: u32,
        /// Up to 16 path elements.
        wnames: Vec<Vec<u8>> as WalkNames,
    }
    /// Qids of the elements walked (fewer than asked: the walk stopped).
    Rwalk = 111 {
        /// One qid per element that succeeded.
        wqids: Vec<Qid>,
    }
    /// Open a fid for I/O.
    Topen = 112 {
        /// The fid.
        fid: u32,
        /// OREAD/OWRITE/ORDWR/OEXEC plus OTRUNC, ORCLOSE.
        mode: u8,
    }
    /// Opened.
    Ropen = 113 {
        /// The file's qid.
        qid: Qid,
        /// Largest atomic I/O, or 0.
        iounit: u32,
    }
    /// Create a file in the fid's directory and open it; the fid moves to it.
    Tcreate = 114 {
        /// A directory fid.
        fid: u32,
        /// New file's name.
        name: Vec<u8> as NameField,
        /// Permissions and DM bits (DMDIR makes a directory).
        perm: u32,
        /// Open mode.
        mode: u8,
    }
    /// Created and opened.
    Rcreate = 115 {
        /// The new file's qid.
        qid: Qid,
        /// Largest atomic I/O, or 0.
        iounit: u32,
    }
    /// Read from an open fid.
    Tread = 116 {
        /// The fid.
        fid: u32,
        /// Byte offset.
        offset: u64,
        /// Most bytes wanted.
        count: u32,
    }
    /// The bytes read (count[4] then data).
    Rread = 117 {
        /// The data; empty at end of file.
        data: Vec<u8>,
    }
    /// Write to an open fid.
    Twrite = 118 {
        /// The fid.
        fid: u32,
        /// Byte offset (ignored for append-only files).
        offset: u64,
        /// The bytes (count[4] then data).
        data: Vec<u8>,
    }
    /// Bytes written.
    Rwrite = 119 {
        /// How many.
        count: u32,
    }
    /// Forget a fid.
    Tclunk = 120 {
        /// The fid.
        fid: u32,
    }
    /// Forgotten.
    Rclunk = 121 {}
    /// Remove the fid's file and forget the fid.
    Tremove = 122 {
        /// The fid.
        fid: u32,
    }
    /// Removed.
    Rremove = 123 {}
    /// Ask for a fid's stat.
    Tstat = 124 {
        /// The fid.
        fid: u32,
    }
    /// The stat (n[2] then the record with its own size[2]).
    Rstat = 125 {
        /// The record.
        stat: Stat,
    }
    /// Change a fid's stat; "don't touch" fields are all-ones or empty.
    Twstat = 126 {
        /// The fid.
        fid: u32,
        /// The changes (n[2] then the record).
        stat: Stat,
    }
    /// Changed.
    Rwstat = 127 {}
    /// 9P2000.colony: one [`LinuxOp`](crate::ninep::linux::LinuxOp) on
    /// the fid's file ([`linux`](crate::ninep::linux)).
    Tlinux = 150 {
        /// The fid.
        fid: u32,
        /// The op, encoded.
        op: Vec<u8>,
    }
    /// 9P2000.colony: the op's [`LinuxReply`](crate::ninep::linux::LinuxReply).
    Rlinux = 151 {
        /// The reply, encoded.
        reply: Vec<u8>,
    }
}

/// A tagged message: one frame on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fcall {
    /// Matches a reply to its request.
    pub tag: u16,
    /// The message.
    pub msg: Message,
}

impl Fcall {
    /// A tagged message.
    pub fn new(tag: u16, msg: impl Into<Message>) -> Self {
        Fcall {
            tag,
            msg: msg.into(),
        }
    }

    /// The whole frame: `size[4] type[1] tag[2] payload`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![0; 4];
        out.push(self.msg.type_byte());
        out.extend_from_slice(&self.tag.to_le_bytes());
        self.msg.put_body(&mut out)?;
        let size = u32::try_from(out.len()).map_err(|_| Error::TooLong {
            what: "message",
            len: out.len(),
        })?;
        out[..4].copy_from_slice(&size.to_le_bytes());
        Ok(out)
    }

    /// Decodes exactly one whole frame; its size field must equal its length
    /// and every byte must belong to a field.
    pub fn decode(frame: &[u8]) -> Result<Self> {
        let mut r = Reader::new(frame);
        let size = r.u32("size")?;
        if (size as usize) < crate::ninep::HEADER_LEN {
            return Err(Error::FrameTooSmall(size));
        }
        if size as usize != frame.len() {
            return Err(Error::SizeMismatch {
                declared: size,
                actual: frame.len(),
            });
        }
        let ty = r.u8("type")?;
        let tag = r.u16("tag")?;
        let msg = Message::get_body(ty, &mut r)?;
        expect_end(&r, ty)?;
        Ok(Fcall { tag, msg })
    }
}

/// The tag of a frame whose header is intact, so a server can answer a
/// message it could not decode.
pub fn frame_tag(frame: &[u8]) -> Option<u16> {
    frame.get(5..7).map(|b| u16::from_le_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ninep::stat::tests::{any_stat, file_name, name};
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn qid() -> impl Strategy<Value = Qid> {
        any::<(u8, u32, u64)>().prop_map(|(ty, version, path)| Qid { ty, version, path })
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (any::<u32>(), name()).prop_map(|(msize, version)| Tversion { msize, version }.into()),
            (any::<u32>(), name()).prop_map(|(msize, version)| Rversion { msize, version }.into()),
            (any::<u32>(), name(), name()).prop_map(|(afid, uname, aname)| Tauth {
                afid,
                uname,
                aname
            }
            .into()),
            qid().prop_map(|aqid| Rauth { aqid }.into()),
            (any::<(u32, u32)>(), name(), name()).prop_map(|((fid, afid), uname, aname)| Tattach {
                fid,
                afid,
                uname,
                aname
            }
            .into()),
            qid().prop_map(|qid| Rattach { qid }.into()),
            name().prop_map(|ename| Rerror { ename }.into()),
            any::<u16>().prop_map(|oldtag| Tflush { oldtag }.into()),
            Just(Rflush {}.into()),
            (any::<(u32, u32)>(), vec(file_name(), 0..=16)).prop_map(|((fid, newfid), wnames)| {
                Twalk {
                    fid,
                    newfid,
                    wnames,
                }
                .into()
            }),
            vec(qid(), 0..=16).prop_map(|wqids| Rwalk { wqids }.into()),
            any::<(u32, u8)>().prop_map(|(fid, mode)| Topen { fid, mode }.into()),
            (qid(), any::<u32>()).prop_map(|(qid, iounit)| Ropen { qid, iounit }.into()),
            (any::<u32>(), file_name(), any::<(u32, u8)>()).prop_map(
                |(fid, name, (perm, mode))| {
                    Tcreate {
                        fid,
                        name,
                        perm,
                        mode,
                    }
                    .into()
                }
            ),
            (qid(), any::<u32>()).prop_map(|(qid, iounit)| Rcreate { qid, iounit }.into()),
            any::<(u32, u64, u32)>()
                .prop_map(|(fid, offset, count)| Tread { fid, offset, count }.into()),
            vec(any::<u8>(), 0..64).prop_map(|data| Rread { data }.into()),
            (any::<(u32, u64)>(), vec(any::<u8>(), 0..64))
                .prop_map(|((fid, offset), data)| Twrite { fid, offset, data }.into()),
            any::<u32>().prop_map(|count| Rwrite { count }.into()),
            any::<u32>().prop_map(|fid| Tclunk { fid }.into()),
            Just(Rclunk {}.into()),
            any::<u32>().prop_map(|fid| Tremove { fid }.into()),
            Just(Rremove {}.into()),
            any::<u32>().prop_map(|fid| Tstat { fid }.into()),
            any_stat().prop_map(|stat| Rstat { stat }.into()),
            (any::<u32>(), any_stat()).prop_map(|(fid, stat)| Twstat { fid, stat }.into()),
            Just(Rwstat {}.into()),
            (any::<u32>(), vec(any::<u8>(), 0..64)).prop_map(|(fid, op)| Tlinux { fid, op }.into()),
            vec(any::<u8>(), 0..64).prop_map(|reply| Rlinux { reply }.into()),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(tag: u16, msg in message()) {
            let fcall = Fcall { tag, msg };
            let bytes = fcall.encode().unwrap();
            prop_assert_eq!(u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize, bytes.len());
            prop_assert_eq!(bytes[4], fcall.msg.type_byte());
            prop_assert_eq!(Fcall::decode(&bytes).unwrap(), fcall);
        }

        #[test]
        fn every_truncation_is_an_error(tag: u16, msg in message()) {
            let bytes = Fcall { tag, msg }.encode().unwrap();
            for cut in 1..bytes.len() {
                let mut short = bytes[..bytes.len() - cut].to_vec();
                // Keep the size field honest so the body parser itself must notice.
                if short.len() >= 4 {
                    let n = short.len() as u32;
                    short[..4].copy_from_slice(&n.to_le_bytes());
                }
                prop_assert!(Fcall::decode(&short).is_err());
            }
        }
    }

    /// The worked bytes of the spec (§7).
    /// File names are the client's bytes (v9fs and plan9port send what
    /// Linux has); texts such as error strings stay UTF-8.
    #[test]
    fn names_are_bytes_texts_are_utf8() {
        let walk = Fcall::new(
            1,
            Twalk {
                fid: 0,
                newfid: 1,
                wnames: vec![b"caf\xe9".to_vec(), b"\xff\xfe".to_vec()],
            },
        );
        let bytes = walk.encode().unwrap();
        assert_eq!(Fcall::decode(&bytes).unwrap(), walk);
        let create = Fcall::new(
            1,
            Tcreate {
                fid: 0,
                name: b"\x80".to_vec(),
                perm: 0o644,
                mode: 0,
            },
        );
        let bytes = create.encode().unwrap();
        assert_eq!(Fcall::decode(&bytes).unwrap(), create);
        let nul = Tcreate {
            name: b"a\0b".to_vec(),
            ..Tcreate::try_from(create.msg).unwrap()
        };
        assert!(matches!(
            Fcall::new(1, nul).encode(),
            Err(Error::NulInString)
        ));
    }

    #[test]
    fn spec_worked_bytes() {
        let cases: [(&str, Fcall); 6] = [
            (
                "13000000 64 ffff 00200000 0600 395032303030",
                Fcall::new(
                    0xffff,
                    Tversion {
                        msize: 8192,
                        version: "9P2000".into(),
                    },
                ),
            ),
            (
                "13000000 65 ffff 00200000 0600 395032303030",
                Fcall::new(
                    0xffff,
                    Rversion {
                        msize: 8192,
                        version: "9P2000".into(),
                    },
                ),
            ),
            (
                "19000000 68 0100 00000000 ffffffff 0600 676c656e6461 0000",
                Fcall::new(
                    1,
                    Tattach {
                        fid: 0,
                        afid: 0xffff_ffff,
                        uname: "glenda".into(),
                        aname: "".into(),
                    },
                ),
            ),
            (
                "14000000 69 0100 80 00000000 0100000000000000",
                Fcall::new(
                    1,
                    Rattach {
                        qid: Qid {
                            ty: 0x80,
                            version: 0,
                            path: 1,
                        },
                    },
                ),
            ),
            (
                "1c000000 6e 0200 00000000 01000000 0100 0900 68656c6c6f2e747874",
                Fcall::new(
                    2,
                    Twalk {
                        fid: 0,
                        newfid: 1,
                        wnames: vec!["hello.txt".into()],
                    },
                ),
            ),
            (
                "1c000000 6b 0200 1300 66696c6520646f6573206e6f74206578697374",
                Fcall::new(
                    2,
                    Rerror {
                        ename: "file does not exist".into(),
                    },
                ),
            ),
        ];
        for (hex, fcall) in cases {
            let bytes = hex::decode(hex.replace(' ', "")).unwrap();
            assert_eq!(Fcall::decode(&bytes).unwrap(), fcall);
            assert_eq!(fcall.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn malformed_frames_get_precise_errors() {
        let good = Fcall::new(1, Tclunk { fid: 7 }).encode().unwrap();
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            Fcall::decode(&long),
            Err(Error::SizeMismatch {
                declared: 11,
                actual: 12
            })
        ));
        let mut trailing = long.clone();
        trailing[0] = 12;
        assert!(matches!(
            Fcall::decode(&trailing),
            Err(Error::Trailing { ty: 120, extra: 1 })
        ));
        assert!(matches!(
            Fcall::decode(&[3, 0, 0, 0]),
            Err(Error::FrameTooSmall(3))
        ));
        assert!(matches!(Fcall::decode(&[7, 0]), Err(Error::Short { .. })));
        let terror = [7, 0, 0, 0, 106, 0, 0];
        assert!(matches!(
            Fcall::decode(&terror),
            Err(Error::UnknownType(106))
        ));
        let mut walk = Fcall::new(
            1,
            Twalk {
                fid: 0,
                newfid: 1,
                wnames: vec![],
            },
        )
        .encode()
        .unwrap();
        walk[15] = 17;
        assert!(matches!(
            Fcall::decode(&walk),
            Err(Error::TooManyWalkElements(17))
        ));
        let bad_utf8 = Fcall::new(1, Rerror { ename: "ab".into() })
            .encode()
            .unwrap();
        let mut b = bad_utf8.clone();
        b[9] = 0xff;
        assert!(matches!(Fcall::decode(&b), Err(Error::BadUtf8)));
        b[9] = 0;
        assert!(matches!(Fcall::decode(&b), Err(Error::NulInString)));
        let too_many = Twalk {
            fid: 0,
            newfid: 1,
            wnames: vec![Vec::new(); 17],
        };
        assert!(matches!(
            Fcall::new(1, too_many).encode(),
            Err(Error::TooManyWalkElements(17))
        ));
        assert!(matches!(
            Fcall::new(
                1,
                Rerror {
                    ename: "x".repeat(70_000)
                }
            )
            .encode(),
            Err(Error::TooLong { .. })
        ));
    }

    #[test]
    fn stat_outer_count_must_match_record() {
        let mut bytes = Fcall::new(
            1,
            Rstat {
                stat: Stat::default(),
            },
        )
        .encode()
        .unwrap();
        // n[2] sits right after the header; make it claim one byte fewer.
        bytes[7] -= 1;
        assert!(Fcall::decode(&bytes).is_err());
    }
}
