//! Grid RPC frames: `len[4]` big-endian, then `len` bytes of body; the
//! body is a version byte, then the message in postcard.
//!
//! Each direction has its own size cap, checked before a body is read, so
//! a peer cannot make the other side allocate more than the cap.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};

/// The protocol version every body starts with.
pub const VERSION: u8 = 1;

/// The largest request body a server reads: commands are a few words.
pub const MAX_REQUEST: usize = 64 << 10;

/// The largest response body a client reads: room for `scores` of
/// hundreds of thousands of names.
pub const MAX_RESPONSE: usize = 64 << 20;

const PREFIX: usize = 4;

/// Encodes `value` as one frame, prefix included; refused if the body
/// would exceed `max`.
pub fn encode<T: Serialize>(value: &T, max: usize) -> Result<Vec<u8>> {
    let out = postcard::to_extend(value, vec![0, 0, 0, 0, VERSION])
        .map_err(|e| Error::BadFrame(e.to_string()))?;
    let len = out.len() - PREFIX;
    if len > max {
        return Err(Error::FrameTooLong { len, max });
    }
    let mut out = out;
    out[..PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Decodes one whole frame, prefix included: the prefix must count
/// exactly the bytes that follow, at most `max`; the body must hold the
/// current version and one message with nothing after it.
pub fn decode<T: DeserializeOwned>(frame: &[u8], max: usize) -> Result<T> {
    let (prefix, body) = frame.split_first_chunk::<PREFIX>().ok_or_else(|| {
        Error::BadFrame(format!("{} bytes, shorter than the prefix", frame.len()))
    })?;
    let len = body_len(*prefix, max)?;
    if len != body.len() {
        return Err(Error::BadFrame(format!(
            "prefix declares {len} bytes, {} follow",
            body.len()
        )));
    }
    let (&version, message) = body
        .split_first()
        .ok_or_else(|| Error::BadFrame("empty body".into()))?;
    if version != VERSION {
        return Err(Error::BadFrame(format!(
            "protocol version {version}, this side speaks {VERSION}"
        )));
    }
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

/// Checks a length prefix against `max`.
fn body_len(prefix: [u8; PREFIX], max: usize) -> Result<usize> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(Error::FrameTooLong { len, max });
    }
    Ok(len)
}

/// Reads one whole frame (prefix included) of at most `max` body bytes;
/// `Ok(None)` on a clean end of stream before a prefix. The body is not
/// decoded, so a caller can tell a broken connection from a bad message.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<ReadFrame> {
    let mut prefix = [0u8; PREFIX];
    match r.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(ReadFrame::End),
        Err(e) => return Err(e),
    }
    let len = match body_len(prefix, max) {
        Ok(len) => len,
        Err(_) => return Ok(ReadFrame::TooLong(u32::from_be_bytes(prefix) as usize)),
    };
    let mut frame = vec![0u8; PREFIX + len];
    frame[..PREFIX].copy_from_slice(&prefix);
    r.read_exact(&mut frame[PREFIX..]).await?;
    Ok(ReadFrame::Frame(frame))
}

/// What [`read`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadFrame {
    /// One whole frame, prefix included.
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
            (vec![0, 0], "shorter than the prefix"),
            (vec![0, 0, 0, 0], "empty body"),
            ([&good[..], &[0]].concat(), "prefix declares"),
            (good[..good.len() - 1].to_vec(), "prefix declares"),
            (
                [&[0, 0, 0, 2, 9], &good[5..6]].concat(),
                "protocol version 9",
            ),
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
        let len = (trailing.len() - PREFIX) as u32;
        trailing[..PREFIX].copy_from_slice(&len.to_be_bytes());
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
        assert_eq!(read(&mut stream, 10).await.unwrap(), ReadFrame::Frame(one));
        assert_eq!(read(&mut stream, 10).await.unwrap(), ReadFrame::Frame(two));
        assert_eq!(
            read(&mut stream, 10).await.unwrap(),
            ReadFrame::TooLong(65536)
        );
        assert_eq!(read(&mut stream, 10).await.unwrap(), ReadFrame::End);
        // A body cut short is a broken stream, not a clean end.
        let mut cut: &[u8] = &[0, 0, 0, 5, 1];
        assert!(read(&mut cut, 10).await.is_err());
    }
}
