//! Venti messages: one type per message, each with `encode`/`decode` of its
//! payload, and [`Message`], the tagged union carried in a frame body
//! (`type[1] tag[1] payload`).
//!
//! Parsing is as strict as libventi's `vtfcallunpack`: every field must be
//! present, the payload is consumed exactly, strings are at most
//! [`MAX_STRING`] bytes of UTF-8 without NUL. Block types are kept as raw
//! wire numbers so a server can answer an invalid one with `Rerror` rather
//! than failing the whole message; pad bytes are kept so a decoded message
//! re-encodes to the bytes it came from.

use crate::error::{Error, Result};
use crate::proto::MessageFault;
use crate::score::Score;

/// Longest string libventi sends or accepts (`VtMaxStringSize`).
pub const MAX_STRING: usize = 1024;

/// Message type numbers (venti(7)).
pub mod kind {
    /// Rerror.
    pub const RERROR: u8 = 1;
    /// Tping.
    pub const TPING: u8 = 2;
    /// Rping.
    pub const RPING: u8 = 3;
    /// Thello.
    pub const THELLO: u8 = 4;
    /// Rhello.
    pub const RHELLO: u8 = 5;
    /// Tgoodbye.
    pub const TGOODBYE: u8 = 6;
    /// Tread.
    pub const TREAD: u8 = 12;
    /// Rread.
    pub const RREAD: u8 = 13;
    /// Twrite.
    pub const TWRITE: u8 = 14;
    /// Rwrite.
    pub const RWRITE: u8 = 15;
    /// Tsync.
    pub const TSYNC: u8 = 16;
    /// Rsync.
    pub const RSYNC: u8 = 17;
}

/// Reads fields off a payload, failing on anything missing.
struct Cursor<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Cursor<'a> {
        Cursor { buf, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Malformed(MessageFault::TooShort { what: self.what }));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn score(&mut self) -> Result<Score> {
        Ok(Score::from_slice(self.take(Score::SIZE)?))
    }

    fn string(&mut self) -> Result<String> {
        let n = usize::from(self.u16()?);
        if n > MAX_STRING {
            return Err(Error::Malformed(MessageFault::StringTooLong {
                what: self.what,
                len: n,
                max: MAX_STRING,
            }));
        }
        let bytes = self.take(n)?;
        if bytes.contains(&0) {
            return Err(Error::Malformed(MessageFault::NulInString {
                what: self.what,
            }));
        }
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::Malformed(MessageFault::NotUtf8 { what: self.what }))
    }

    /// A u8 count followed by that many bytes (Thello's crypto and codec lists).
    fn list(&mut self) -> Result<Vec<u8>> {
        let n = usize::from(self.u8()?);
        Ok(self.take(n)?.to_vec())
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn finish(self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Malformed(MessageFault::LeftOver {
                what: self.what,
                left: self.buf.len(),
            }))
        }
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) -> Result<()> {
    if s.len() > MAX_STRING {
        return Err(Error::Malformed(MessageFault::StringTooLong {
            what: "string",
            len: s.len(),
            max: MAX_STRING,
        }));
    }
    if s.as_bytes().contains(&0) {
        return Err(Error::Malformed(MessageFault::NulInString {
            what: "string",
        }));
    }
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_list(out: &mut Vec<u8>, list: &[u8], what: &'static str) -> Result<()> {
    let n = u8::try_from(list.len()).map_err(|_| {
        Error::Malformed(MessageFault::ListTooLong {
            what,
            len: list.len(),
        })
    })?;
    out.push(n);
    out.extend_from_slice(list);
    Ok(())
}

/// `Rerror`: the request failed; `error` says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rerror {
    /// The reason, as text.
    pub error: String,
}

impl Rerror {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        put_string(out, &self.error)
    }
    /// Parses a payload.
    pub fn decode(payload: &[u8]) -> Result<Rerror> {
        let mut c = Cursor::new(payload, "Rerror");
        let error = c.string()?;
        c.finish()?;
        Ok(Rerror { error })
    }
}

/// `Thello`: the first message of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thello {
    /// The negotiated version token, `"04"` or `"02"`.
    pub version: String,
    /// The user; libventi sends `"anonymous"`.
    pub uid: String,
    /// Authentication strength (ignored by plan9port).
    pub strength: u8,
    /// Offered encryption schemes (ignored by plan9port).
    pub crypto: Vec<u8>,
    /// Offered codecs (ignored by plan9port).
    pub codec: Vec<u8>,
}

impl Thello {
    /// The hello libventi sends for `version`: uid `anonymous`, nothing offered.
    pub fn anonymous(version: &str) -> Thello {
        Thello {
            version: version.to_string(),
            uid: "anonymous".to_string(),
            strength: 0,
            crypto: Vec::new(),
            codec: Vec::new(),
        }
    }
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        put_string(out, &self.version)?;
        put_string(out, &self.uid)?;
        out.push(self.strength);
        put_list(out, &self.crypto, "crypto")?;
        put_list(out, &self.codec, "codec")
    }
    /// Parses a payload.
    pub fn decode(payload: &[u8]) -> Result<Thello> {
        let mut c = Cursor::new(payload, "Thello");
        let hello = Thello {
            version: c.string()?,
            uid: c.string()?,
            strength: c.u8()?,
            crypto: c.list()?,
            codec: c.list()?,
        };
        c.finish()?;
        Ok(hello)
    }
}

/// `Rhello`: the server's answer to [`Thello`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rhello {
    /// Session id; plan9port sends `"anonymous"`.
    pub sid: String,
    /// Chosen encryption (0, none).
    pub rcrypto: u8,
    /// Chosen codec (0, none).
    pub rcodec: u8,
}

impl Rhello {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        put_string(out, &self.sid)?;
        out.push(self.rcrypto);
        out.push(self.rcodec);
        Ok(())
    }
    /// Parses a payload.
    pub fn decode(payload: &[u8]) -> Result<Rhello> {
        let mut c = Cursor::new(payload, "Rhello");
        let hello = Rhello {
            sid: c.string()?,
            rcrypto: c.u8()?,
            rcodec: c.u8()?,
        };
        c.finish()?;
        Ok(hello)
    }
}

/// `Tread`: read up to `count` bytes of block (score, type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tread {
    /// The block's score.
    pub score: Score,
    /// Wire block type, unchecked (the server validates it).
    pub ty: u8,
    /// Pad byte; senders put 0, receivers ignore it.
    pub pad: u8,
    /// Most bytes the reader accepts.
    pub count: u32,
    /// True for the 4-byte count form. libventi sends it only for counts
    /// of 65536 and more; receivers tell the forms apart by length.
    pub wide: bool,
}

impl Tread {
    /// A read in the form libventi would send it.
    pub fn new(score: Score, ty: u8, count: u32) -> Tread {
        Tread {
            score,
            ty,
            pad: 0,
            count,
            wide: count > u32::from(u16::MAX),
        }
    }
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.score.0);
        out.push(self.ty);
        out.push(self.pad);
        if self.wide {
            out.extend_from_slice(&self.count.to_be_bytes());
        } else {
            let count = u16::try_from(self.count).map_err(|_| {
                Error::Malformed(MessageFault::CountNeedsWideForm { count: self.count })
            })?;
            out.extend_from_slice(&count.to_be_bytes());
        }
        Ok(())
    }
    /// Parses a payload.
    pub fn decode(payload: &[u8]) -> Result<Tread> {
        let mut c = Cursor::new(payload, "Tread");
        let score = c.score()?;
        let ty = c.u8()?;
        let pad = c.u8()?;
        let rest = c.rest();
        let (count, wide) = match *rest {
            [a, b] => (u32::from(u16::from_be_bytes([a, b])), false),
            [a, b, c, d] => (u32::from_be_bytes([a, b, c, d]), true),
            _ => {
                return Err(Error::Malformed(MessageFault::BadCountSize {
                    len: rest.len(),
                }));
            }
        };
        Ok(Tread {
            score,
            ty,
            pad,
            count,
            wide,
        })
    }
}

/// `Rread`: the block's stored bytes (possibly none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rread {
    /// The block.
    pub data: Vec<u8>,
}

impl Rread {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.data);
        Ok(())
    }
    /// Parses a payload: all of it is data.
    pub fn decode(payload: &[u8]) -> Result<Rread> {
        Ok(Rread {
            data: payload.to_vec(),
        })
    }
}

/// `Twrite`: store `data` as a block of type `ty`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Twrite {
    /// Wire block type, unchecked (the server validates it).
    pub ty: u8,
    /// Pad bytes; senders put 0, receivers ignore them.
    pub pad: [u8; 3],
    /// The block.
    pub data: Vec<u8>,
}

impl Twrite {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        Twrite::encode_parts(self.ty, self.pad, &self.data, out);
        Ok(())
    }
    /// Appends the payload of a write without building a `Twrite` (the
    /// client encodes straight from the caller's slice).
    pub fn encode_parts(ty: u8, pad: [u8; 3], data: &[u8], out: &mut Vec<u8>) {
        out.push(ty);
        out.extend_from_slice(&pad);
        out.extend_from_slice(data);
    }
    /// Parses a payload.
    pub fn decode(payload: &[u8]) -> Result<Twrite> {
        let mut c = Cursor::new(payload, "Twrite");
        let ty = c.u8()?;
        let pad = c.take(3)?;
        Ok(Twrite {
            ty,
            pad: [pad[0], pad[1], pad[2]],
            data: c.rest().to_vec(),
        })
    }
}

/// `Rwrite`: the score of the block written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rwrite {
    /// SHA-1 of the data.
    pub score: Score,
}

impl Rwrite {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.score.0);
        Ok(())
    }
    /// Parses a payload.
    pub fn decode(payload: &[u8]) -> Result<Rwrite> {
        let mut c = Cursor::new(payload, "Rwrite");
        let score = c.score()?;
        c.finish()?;
        Ok(Rwrite { score })
    }
}

/// Checks that a message with no fields has no payload.
fn empty(payload: &[u8], what: &'static str) -> Result<()> {
    Cursor::new(payload, what).finish()
}

/// One venti message, as carried in a frame body after its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Error reply.
    Rerror(Rerror),
    /// Liveness probe.
    Tping,
    /// Reply to Tping.
    Rping,
    /// Session start.
    Thello(Thello),
    /// Reply to Thello.
    Rhello(Rhello),
    /// End of session; never answered.
    Tgoodbye,
    /// Block read.
    Tread(Tread),
    /// Reply to Tread.
    Rread(Rread),
    /// Block write.
    Twrite(Twrite),
    /// Reply to Twrite.
    Rwrite(Rwrite),
    /// Make earlier writes durable.
    Tsync,
    /// Reply to Tsync.
    Rsync,
}

impl Message {
    /// The message type number.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Rerror(_) => kind::RERROR,
            Message::Tping => kind::TPING,
            Message::Rping => kind::RPING,
            Message::Thello(_) => kind::THELLO,
            Message::Rhello(_) => kind::RHELLO,
            Message::Tgoodbye => kind::TGOODBYE,
            Message::Tread(_) => kind::TREAD,
            Message::Rread(_) => kind::RREAD,
            Message::Twrite(_) => kind::TWRITE,
            Message::Rwrite(_) => kind::RWRITE,
            Message::Tsync => kind::TSYNC,
            Message::Rsync => kind::RSYNC,
        }
    }

    /// An `Rerror` carrying `text`.
    pub fn error(text: impl Into<String>) -> Message {
        Message::Rerror(Rerror { error: text.into() })
    }

    /// Appends the frame body `type[1] tag[1] payload`.
    pub fn encode(&self, tag: u8, out: &mut Vec<u8>) -> Result<()> {
        out.push(self.kind());
        out.push(tag);
        match self {
            Message::Rerror(m) => m.encode(out),
            Message::Thello(m) => m.encode(out),
            Message::Rhello(m) => m.encode(out),
            Message::Tread(m) => m.encode(out),
            Message::Rread(m) => m.encode(out),
            Message::Twrite(m) => m.encode(out),
            Message::Rwrite(m) => m.encode(out),
            Message::Tping
            | Message::Rping
            | Message::Tgoodbye
            | Message::Tsync
            | Message::Rsync => Ok(()),
        }
    }

    /// Parses a frame body into (tag, message).
    pub fn decode(body: &[u8]) -> Result<(u8, Message)> {
        let [kind, tag, ref payload @ ..] = *body else {
            return Err(Error::Malformed(MessageFault::NoTypeAndTag {
                len: body.len(),
            }));
        };
        let msg = match kind {
            kind::RERROR => Message::Rerror(Rerror::decode(payload)?),
            kind::TPING => empty(payload, "Tping").map(|_| Message::Tping)?,
            kind::RPING => empty(payload, "Rping").map(|_| Message::Rping)?,
            kind::THELLO => Message::Thello(Thello::decode(payload)?),
            kind::RHELLO => Message::Rhello(Rhello::decode(payload)?),
            kind::TGOODBYE => empty(payload, "Tgoodbye").map(|_| Message::Tgoodbye)?,
            kind::TREAD => Message::Tread(Tread::decode(payload)?),
            kind::RREAD => Message::Rread(Rread::decode(payload)?),
            kind::TWRITE => Message::Twrite(Twrite::decode(payload)?),
            kind::RWRITE => Message::Rwrite(Rwrite::decode(payload)?),
            kind::TSYNC => empty(payload, "Tsync").map(|_| Message::Tsync)?,
            kind::RSYNC => empty(payload, "Rsync").map(|_| Message::Rsync)?,
            other => {
                return Err(Error::Malformed(MessageFault::UnknownType { kind: other }));
            }
        };
        Ok((tag, msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Any UTF-8 without NUL, up to the limit in bytes.
        "[^\u{0}]{0,300}".prop_filter("fits", |s| s.len() <= MAX_STRING)
    }

    pub(crate) fn message() -> impl Strategy<Value = Message> {
        let bytes = |n| prop::collection::vec(any::<u8>(), 0..n);
        prop_oneof![
            text().prop_map(Message::error),
            Just(Message::Tping),
            Just(Message::Rping),
            (text(), text(), any::<u8>(), bytes(8), bytes(8)).prop_map(
                |(version, uid, strength, crypto, codec)| Message::Thello(Thello {
                    version,
                    uid,
                    strength,
                    crypto,
                    codec
                })
            ),
            (text(), any::<u8>(), any::<u8>()).prop_map(|(sid, rcrypto, rcodec)| {
                Message::Rhello(Rhello {
                    sid,
                    rcrypto,
                    rcodec,
                })
            }),
            Just(Message::Tgoodbye),
            (
                any::<[u8; 20]>(),
                any::<u8>(),
                any::<u8>(),
                any::<u32>(),
                any::<bool>()
            )
                .prop_map(|(s, ty, pad, count, wide)| Message::Tread(Tread {
                    score: Score(s),
                    ty,
                    pad,
                    count: if wide { count } else { count & 0xffff },
                    wide
                })),
            bytes(600).prop_map(|data| Message::Rread(Rread { data })),
            (any::<u8>(), any::<[u8; 3]>(), bytes(600))
                .prop_map(|(ty, pad, data)| Message::Twrite(Twrite { ty, pad, data })),
            any::<[u8; 20]>().prop_map(|s| Message::Rwrite(Rwrite { score: Score(s) })),
            Just(Message::Tsync),
            Just(Message::Rsync),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(msg in message(), tag in any::<u8>()) {
            let mut body = Vec::new();
            msg.encode(tag, &mut body).unwrap();
            prop_assert_eq!(body[0], msg.kind());
            let (t, back) = Message::decode(&body).unwrap();
            prop_assert_eq!(t, tag);
            prop_assert_eq!(&back, &msg);
            // Strictness: one byte more or less never decodes to the same message.
            let mut longer = body.clone();
            longer.push(0);
            prop_assert_ne!(Message::decode(&longer).ok(), Some((tag, msg.clone())));
            prop_assert_ne!(Message::decode(&body[..body.len() - 1]).ok(), Some((tag, msg)));
        }

        #[test]
        fn decode_never_panics_and_reencodes(body in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok((tag, msg)) = Message::decode(&body) {
                let mut again = Vec::new();
                msg.encode(tag, &mut again).unwrap();
                prop_assert_eq!(again, body);
            }
        }
    }

    #[test]
    fn spec_examples() {
        // venti-formats.md §7.2, frame bodies without the length.
        let mut b = Vec::new();
        Message::Thello(Thello::anonymous("04"))
            .encode(0, &mut b)
            .unwrap();
        assert_eq!(hex::encode(&b), "0400000230340009616e6f6e796d6f7573000000");
        b.clear();
        Message::Twrite(Twrite {
            ty: 13,
            pad: [0; 3],
            data: b"hello".to_vec(),
        })
        .encode(0, &mut b)
        .unwrap();
        assert_eq!(hex::encode(&b), "0e000d00000068656c6c6f");
        let wide = hex::decode("0c00aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d0d0000000064").unwrap();
        let (_, m) = Message::decode(&wide).unwrap();
        assert_eq!(
            m,
            Message::Tread(Tread {
                wide: true,
                ..Tread::new(Score::of(b"hello"), 13, 100)
            })
        );
    }

    #[test]
    fn strict_parsing() {
        let bad = |hex_body: &str| Message::decode(&hex::decode(hex_body).unwrap()).unwrap_err();
        assert!(bad("").to_string().contains("no type and tag"));
        assert!(bad("02").to_string().contains("no type and tag"));
        assert!(bad("0800").to_string().contains("unknown message type 8"));
        assert!(bad("0200ff").to_string().contains("left over"));
        assert!(bad("0f00aaf4").to_string().contains("too short"));
        // Tread with a 3-byte count.
        assert!(
            bad("0c00aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d0d00000064")
                .to_string()
                .contains("want 2 or 4")
        );
        assert!(bad("0100000100").to_string().contains("NUL"));
        let long = format!("01000401{}", "61".repeat(1025));
        assert!(bad(&long).to_string().contains("the most is 1024"));
        let mut out = Vec::new();
        assert!(
            Message::error("a".repeat(1025))
                .encode(0, &mut out)
                .is_err()
        );
    }
}
