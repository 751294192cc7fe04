//! Grid RPC frames, in colony's one framing
//! ([`colony_venti::length_frame`]): `len[4]` big-endian, then `len`
//! bytes of body; the body is a version byte, then the message in postcard.
//!
//! Each direction has its own size cap, checked before a body is read, so
//! a peer cannot make the other side allocate more than the cap; a stream
//! cut inside a frame (its prefix included) is an error, not an end.

use colony_venti::length_frame::{FrameError, Framing};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};

/// The protocol version every body starts with.
pub const VERSION: u8 = 1;

/// The largest request body a server reads: commands are a few words.
pub const MAX_REQUEST: usize = 64 << 10;

/// The largest response body a client reads: room for `scores` of
/// hundreds of thousands of names.
pub const MAX_RESPONSE: usize = 64 << 20;

/// The framing of bodies of at most `max` bytes.
fn framing(max: usize) -> Framing {
    Framing {
        version: VERSION,
        max,
    }
}

/// Encodes `value` as one frame, prefix included; refused if the body
/// would exceed `max`.
pub fn encode<T: Serialize>(value: &T, max: usize) -> Result<Vec<u8>> {
    encode_in(&framing(max), value)
}

/// Encodes `value` as one frame of `framing`, prefix included.
pub(crate) fn encode_in<T: Serialize>(framing: &Framing, value: &T) -> Result<Vec<u8>> {
    let out = postcard::serialize_with_flavor(value, Appender(framing.begin()))
        .map_err(|e| Error::BadFrame(e.to_string()))?;
    framing.finish(out).map_err(frame_error)
}

/// postcard's output into a frame: slices appended whole (its
/// `to_extend` goes byte by byte, and the blocks of a peer's answer are
/// megabytes).
struct Appender(Vec<u8>);

impl postcard::ser_flavors::Flavor for Appender {
    type Output = Vec<u8>;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// Decodes one whole frame, prefix included: the prefix must count
/// exactly the bytes that follow, at most `max`; the body must hold the
/// current version and one message with nothing after it.
pub fn decode<T: DeserializeOwned>(frame: &[u8], max: usize) -> Result<T> {
    message(framing(max).open(frame).map_err(frame_error)?)
}

/// Decodes a frame body as [`read`] returns it (version byte included).
pub fn decode_body<T: DeserializeOwned>(body: &[u8], max: usize) -> Result<T> {
    message(framing(max).message(body).map_err(frame_error)?)
}

/// One postcard message with nothing after it.
pub(crate) fn message<T: DeserializeOwned>(message: &[u8]) -> Result<T> {
    let (value, rest) =
        postcard::take_from_bytes(message).map_err(|e| Error::BadFrame(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::BadFrame(format!(
            "{} bytes after the message",
            rest.len()
        )));
    }
    Ok(value)
}

/// The grid's errors for bytes that are not a frame.
pub(crate) fn frame_error(e: FrameError) -> Error {
    match e {
        FrameError::TooLong { len, max } => Error::FrameTooLong { len, max },
        other => Error::BadFrame(other.to_string()),
    }
}

/// Reads one frame's body (version byte included) of at most `max`
/// bytes; `End` on a clean end of stream between frames. The body is not
/// decoded, so a caller can tell a broken connection from a bad message;
/// a stream cut inside a frame is an error.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<ReadFrame> {
    match framing(max).read(r).await {
        Ok(Some(body)) => Ok(ReadFrame::Frame(body)),
        Ok(None) => Ok(ReadFrame::End),
        Err(FrameError::TooLong { len, .. }) => Ok(ReadFrame::TooLong(len)),
        Err(FrameError::Io(e)) => Err(e),
        Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
    }
}

/// What [`read`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadFrame {
    /// One frame's body (version byte included), for [`decode_body`].
    Frame(Vec<u8>),
    /// A prefix declaring this many bytes, over the cap; the body was not
    /// read, so the stream cannot be resynchronised.
    TooLong(usize),
    /// The stream ended cleanly between frames.
    End,
}

/// Writes one encoded frame and flushes it.
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> std::io::Result<()> {
    w.write_all(frame).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_one_frame() {
        let good = encode(&(7u32, "x".to_string()), 100).unwrap();
        assert_eq!(
            decode::<(u32, String)>(&good, 100).unwrap(),
            (7, "x".into())
        );
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0, 0], "length prefix"),
            (vec![0, 0, 0, 0], "empty frame body"),
            ([&good[..], &[0]].concat(), "prefix declares"),
            (good[..good.len() - 1].to_vec(), "prefix declares"),
            ([&[0, 0, 0, 2, 9], &good[5..6]].concat(), "frame version 9"),
        ];
        for (bytes, want) in cases {
            match decode::<(u32, String)>(&bytes, 100) {
                Err(Error::BadFrame(why)) => assert!(why.contains(want), "{why}"),
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
        // One message, then bytes the message does not use.
        let mut trailing = good.clone();
        trailing.push(0);
        let len = (trailing.len() - 4) as u32;
        trailing[..4].copy_from_slice(&len.to_be_bytes());
        assert!(
            matches!(decode::<(u32, String)>(&trailing, 100), Err(Error::BadFrame(w)) if w.contains("after the message"))
        );
        assert!(matches!(
            decode::<(u32, String)>(&good, 2),
            Err(Error::FrameTooLong { max: 2, .. })
        ));
        assert!(matches!(
            encode(&"y".repeat(50), 10),
            Err(Error::FrameTooLong { len: 52, max: 10 })
        ));
    }

    #[tokio::test]
    async fn reads_frames_end_and_over_long_prefixes() {
        let one = encode(&1u8, 10).unwrap();
        let two = encode(&2u8, 10).unwrap();
        let mut stream: &[u8] = &[&one[..], &two[..], &[0, 1, 0, 0]].concat();
        assert_eq!(
            read(&mut stream, 10).await.unwrap(),
            ReadFrame::Frame(one[4..].to_vec())
        );
        assert_eq!(
            read(&mut stream, 10).await.unwrap(),
            ReadFrame::Frame(two[4..].to_vec())
        );
        assert_eq!(
            read(&mut stream, 10).await.unwrap(),
            ReadFrame::TooLong(65536)
        );
        assert_eq!(read(&mut stream, 10).await.unwrap(), ReadFrame::End);
        // A body or a prefix cut short is a broken stream, not a clean end.
        let mut cut: &[u8] = &[0, 0, 0, 5, 1];
        assert!(read(&mut cut, 10).await.is_err());
        let mut cut: &[u8] = &[0, 0];
        assert!(read(&mut cut, 10).await.is_err());
    }
}
