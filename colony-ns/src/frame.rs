//! Length-prefixed postcard frames: `len[4]` big-endian, then the postcard
//! body. Shared by the session helper's reports and the cpu protocol.

use crate::{Error, Result};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest frame body either side accepts (relayed output comes in
/// chunks far below this).
pub const MAX_FRAME: usize = 1 << 20;

/// Encodes `value` as one frame, prefix included.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out =
        postcard::to_extend(value, vec![0u8; 4]).map_err(|e| Error::Frame(e.to_string()))?;
    let len = out.len() - 4;
    if len > MAX_FRAME {
        return Err(Error::FrameTooLong(len));
    }
    out[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Decodes a frame body (without its prefix); trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let (value, rest) = postcard::take_from_bytes(body).map_err(|e| Error::Frame(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Frame(format!(
            "{} bytes after the frame",
            rest.len()
        )));
    }
    Ok(value)
}

/// Checks a length prefix against [`MAX_FRAME`].
fn body_len(prefix: [u8; 4]) -> Result<usize> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(Error::FrameTooLong(len));
    }
    Ok(len)
}

/// Reads one frame; `Ok(None)` on a clean end of stream before a prefix.
pub async fn read<T: DeserializeOwned, R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<T>> {
    let mut prefix = [0u8; 4];
    match r.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0u8; body_len(prefix)?];
    r.read_exact(&mut body).await?;
    decode(&body).map(Some)
}

/// Blocking [`read`] for the helper process, which has no runtime.
pub fn read_sync<T: DeserializeOwned, R: std::io::Read>(r: &mut R) -> Result<Option<T>> {
    let mut prefix = [0u8; 4];
    match r.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0u8; body_len(prefix)?];
    r.read_exact(&mut body)?;
    decode(&body).map(Some)
}
