//! Framing: splitting a byte stream into frames, with the msize limit.
//!
//! Like plan9port's `read9pmsg`, a frame whose size field is below the header
//! or above msize is refused: after it the stream cannot be trusted.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{Error, Result};
use crate::ninep::HEADER_LEN;
use crate::ninep::message::Fcall;
use crate::ninep::wire::Reader;

/// Fails if the message left bytes unread.
pub(crate) fn expect_end(r: &Reader<'_>, ty: u8) -> Result<()> {
    match r.remaining() {
        0 => Ok(()),
        extra => Err(Error::Trailing { ty, extra }),
    }
}

/// Checks a size field against the header length and msize.
fn check_size(size: u32, msize: u32) -> Result<usize> {
    if (size as usize) < HEADER_LEN {
        return Err(Error::FrameTooSmall(size));
    }
    if size > msize {
        return Err(Error::FrameTooLarge {
            size: size.into(),
            msize,
        });
    }
    Ok(size as usize)
}

/// The length of the first frame in `buf` if it is complete, `None` if more
/// bytes are needed; an error if its size field is impossible.
pub fn split_frame(buf: &[u8], msize: u32) -> Result<Option<usize>> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let size = check_size(
        u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
        msize,
    )?;
    Ok((buf.len() >= size).then_some(size))
}

/// Decodes one whole frame that must fit in msize.
pub fn decode_frame(frame: &[u8], msize: u32) -> Result<Fcall> {
    if let Some(head) = frame.get(..4) {
        check_size(
            u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
            msize,
        )?;
    }
    Fcall::decode(frame)
}

/// Encodes a frame, refusing one larger than msize.
pub fn encode_frame(fcall: &Fcall, msize: u32) -> Result<Vec<u8>> {
    let bytes = fcall.encode()?;
    if bytes.len() as u64 > u64::from(msize) {
        return Err(Error::FrameTooLarge {
            size: bytes.len() as u64,
            msize,
        });
    }
    Ok(bytes)
}

/// Reads one frame's bytes. `Ok(None)` at a clean end of stream (between
/// frames); an end inside a frame is an error.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, msize: u32) -> Result<Option<Vec<u8>>> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut head[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        got += n;
    }
    let size = check_size(u32::from_le_bytes(head), msize)?;
    let mut frame = vec![0u8; size];
    frame[..4].copy_from_slice(&head);
    r.read_exact(&mut frame[4..]).await?;
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ninep::message::{Rread, Tclunk};

    #[test]
    fn split_needs_whole_frames() {
        let frame = Fcall::new(3, Tclunk { fid: 1 }).encode().unwrap();
        let mut stream = frame.clone();
        stream.extend_from_slice(&frame[..5]);
        assert_eq!(split_frame(&stream, 8192).unwrap(), Some(11));
        assert_eq!(split_frame(&stream[11..], 8192).unwrap(), None);
        assert_eq!(split_frame(&stream[..3], 8192).unwrap(), None);
        assert!(matches!(
            split_frame(&[4, 0, 0, 0], 8192),
            Err(Error::FrameTooSmall(4))
        ));
        assert!(matches!(
            split_frame(&[1, 0x20, 0, 0], 8192),
            Err(Error::FrameTooLarge {
                size: 8193,
                msize: 8192
            })
        ));
    }

    #[test]
    fn msize_is_enforced_both_ways() {
        let big = Fcall::new(1, Rread { data: vec![0; 100] });
        assert!(matches!(
            encode_frame(&big, 100),
            Err(Error::FrameTooLarge { size: 111, .. })
        ));
        let bytes = encode_frame(&big, 111).unwrap();
        assert!(decode_frame(&bytes, 110).is_err());
        assert_eq!(decode_frame(&bytes, 111).unwrap(), big);
    }

    #[tokio::test]
    async fn read_frame_reports_eof_inside_a_frame() {
        let frame = Fcall::new(3, Tclunk { fid: 1 }).encode().unwrap();
        let mut whole: &[u8] = &frame;
        assert_eq!(
            read_frame(&mut whole, 8192).await.unwrap(),
            Some(frame.clone())
        );
        assert_eq!(read_frame(&mut whole, 8192).await.unwrap(), None);
        let mut cut: &[u8] = &frame[..9];
        assert!(matches!(
            read_frame(&mut cut, 8192).await,
            Err(Error::Io(_))
        ));
        let mut cut_head: &[u8] = &frame[..2];
        assert!(matches!(
            read_frame(&mut cut_head, 8192).await,
            Err(Error::Io(_))
        ));
    }
}
