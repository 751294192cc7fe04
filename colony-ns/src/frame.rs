//! The session helper's reports and the cpu protocol's frames: postcard
//! messages in colony's one framing ([`colony_venti::length_frame`]:
//! `len[4]` big-endian, a version byte, the message; size-capped; a stream
//! cut inside a frame is an error, not an end).

use colony_venti::length_frame::{FrameError, Framing};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::AsyncRead;

use crate::{Error, Result};

/// The largest frame body either side accepts (relayed output comes in
/// chunks far below this).
pub const MAX_FRAME: usize = 1 << 20;

/// This protocol's version byte and cap.
const FRAMING: Framing = Framing {
    version: 1,
    max: MAX_FRAME,
};

/// Encodes `value` as one frame, prefix included.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let out =
        postcard::to_extend(value, FRAMING.begin()).map_err(|e| Error::Frame(e.to_string()))?;
    Ok(FRAMING.finish(out)?)
}

/// Decodes a frame body (without its prefix, with its version byte);
/// another version, or bytes after the message, are errors.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let message = FRAMING.message(body)?;
    let (value, rest) =
        postcard::take_from_bytes(message).map_err(|e| Error::Frame(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Frame(format!(
            "{} bytes after the frame",
            rest.len()
        )));
    }
    Ok(value)
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read<T: DeserializeOwned, R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<T>> {
    match FRAMING.read(r).await.map_err(read_error)? {
        Some(body) => decode(&body).map(Some),
        None => Ok(None),
    }
}

/// Blocking [`read`] for the helper process, which has no runtime.
pub fn read_sync<T: DeserializeOwned, R: std::io::Read>(r: &mut R) -> Result<Option<T>> {
    match FRAMING.read_sync(r).map_err(read_error)? {
        Some(body) => decode(&body).map(Some),
        None => Ok(None),
    }
}

/// A read's failure: I/O errors as the crate classifies them (a TLS alert
/// is [`Error::Tls`]), the rest as [`Error::Framing`].
fn read_error(e: FrameError) -> Error {
    match e {
        FrameError::Io(e) => e.into(),
        other => Error::Framing(other),
    }
}
