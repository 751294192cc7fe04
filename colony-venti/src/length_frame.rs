//! Length-prefixed, size-capped, versioned frames: `len[4]` big-endian,
//! then `len` bytes of body, whose first byte is the protocol's version.
//! The one framing of colony's own protocols: the grid RPC (colony-core)
//! and the cpu and session-helper messages (colony-ns) encode their
//! messages into it. (Venti's and 9P's framing are fixed by Plan 9.)
//!
//! A stream may end cleanly only between frames: one that ends inside a
//! length prefix or a body is an error, not an end.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of the length prefix.
pub const PREFIX: usize = 4;

/// Why bytes are not a frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The prefix declares more than the cap.
    #[error("frame of {len} bytes, the most is {max}")]
    TooLong {
        /// The declared (or encoded) body length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The stream ended inside a length prefix.
    #[error("stream ended {got} bytes into a frame's 4-byte length prefix")]
    PartialPrefix {
        /// Bytes of the prefix that came.
        got: usize,
    },
    /// A whole frame whose prefix does not count the bytes after it.
    #[error("frame prefix declares {len} bytes, {got} follow")]
    LengthMismatch {
        /// Declared.
        len: usize,
        /// Present.
        got: usize,
    },
    /// A body without even its version byte.
    #[error("empty frame body: no version byte")]
    Empty,
    /// The peer speaks another version.
    #[error("frame version {got}, this side speaks {want}")]
    Version {
        /// The frame's.
        got: u8,
        /// Ours.
        want: u8,
    },
    /// Reading failed, or the stream ended inside a body.
    #[error("reading a frame: {0}")]
    Io(#[source] io::Error),
}

/// One protocol's framing: its version byte and its cap on bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    /// The version byte every body starts with.
    pub version: u8,
    /// The largest body (version byte included) sent or accepted.
    pub max: usize,
}

impl Framing {
    /// Starts a frame: room for the prefix, then the version byte. Append
    /// the message, then [`Framing::finish`].
    pub fn begin(&self) -> Vec<u8> {
        vec![0, 0, 0, 0, self.version]
    }

    /// Fills in the prefix of a frame started with [`Framing::begin`];
    /// refused if the body is over the cap.
    pub fn finish(&self, mut frame: Vec<u8>) -> Result<Vec<u8>, FrameError> {
        let len = frame.len() - PREFIX;
        self.check_len(len)?;
        frame[..PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(frame)
    }

    fn check_len(&self, len: usize) -> Result<(), FrameError> {
        if len > self.max {
            return Err(FrameError::TooLong { len, max: self.max });
        }
        Ok(())
    }

    /// The message inside one whole frame (prefix included): the prefix
    /// must count exactly the bytes after it, within the cap, and the body
    /// must start with our version.
    pub fn open<'a>(&self, frame: &'a [u8]) -> Result<&'a [u8], FrameError> {
        let Some((prefix, body)) = frame.split_first_chunk::<PREFIX>() else {
            return Err(FrameError::PartialPrefix { got: frame.len() });
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        self.check_len(len)?;
        if len != body.len() {
            return Err(FrameError::LengthMismatch {
                len,
                got: body.len(),
            });
        }
        self.message(body)
    }

    /// The message after a body's version byte.
    pub fn message<'a>(&self, body: &'a [u8]) -> Result<&'a [u8], FrameError> {
        match body.split_first() {
            None => Err(FrameError::Empty),
            Some((&v, message)) if v == self.version => Ok(message),
            Some((&got, _)) => Err(FrameError::Version {
                got,
                want: self.version,
            }),
        }
    }

    /// Reads one frame's body (version byte included, not checked, so a
    /// caller can answer a peer of another version); `Ok(None)` if the
    /// stream ends cleanly before a frame. A prefix over the cap is
    /// [`FrameError::TooLong`], and its body is left unread.
    pub async fn read<R: AsyncRead + Unpin>(
        &self,
        r: &mut R,
    ) -> Result<Option<Vec<u8>>, FrameError> {
        let mut prefix = Prefix::default();
        let len = loop {
            let n = r.read(prefix.spare()).await;
            if let Some(len) = prefix.advance(n, self) {
                break len?;
            }
        };
        let Some(len) = len else {
            return Ok(None);
        };
        // Read into spare capacity: no zeroing of a body about to be
        // overwritten (they are megabytes of blocks).
        let mut body = Vec::with_capacity(len);
        let got = r
            .take(len as u64)
            .read_to_end(&mut body)
            .await
            .map_err(FrameError::Io)?;
        if got < len {
            return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(Some(body))
    }

    /// Blocking [`Framing::read`], for processes without a runtime.
    pub fn read_sync<R: io::Read>(&self, r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
        let mut prefix = Prefix::default();
        let len = loop {
            let n = r.read(prefix.spare());
            if let Some(len) = prefix.advance(n, self) {
                break len?;
            }
        };
        let Some(len) = len else {
            return Ok(None);
        };
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).map_err(FrameError::Io)?;
        Ok(Some(body))
    }
}

/// A length prefix being read.
#[derive(Default)]
struct Prefix {
    bytes: [u8; PREFIX],
    got: usize,
}

impl Prefix {
    /// Where the next read goes.
    fn spare(&mut self) -> &mut [u8] {
        &mut self.bytes[self.got..]
    }

    /// Accounts for a read: `None` to read on; else the body's length
    /// (checked against the cap), or `None` inside for a clean end before
    /// the prefix (an end inside it is an error).
    fn advance(
        &mut self,
        read: io::Result<usize>,
        framing: &Framing,
    ) -> Option<Result<Option<usize>, FrameError>> {
        match read {
            Ok(0) if self.got == 0 => Some(Ok(None)),
            Ok(0) => Some(Err(FrameError::PartialPrefix { got: self.got })),
            Ok(n) => {
                self.got += n;
                (self.got == PREFIX).then(|| {
                    let len = u32::from_be_bytes(self.bytes) as usize;
                    framing.check_len(len).map(|()| Some(len))
                })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Err(e) => Some(Err(FrameError::Io(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const F: Framing = Framing {
        version: 3,
        max: 100,
    };

    fn frame(message: &[u8]) -> Vec<u8> {
        let mut f = F.begin();
        f.extend_from_slice(message);
        F.finish(f).unwrap()
    }

    #[test]
    fn refuses_what_is_not_one_frame() {
        let good = frame(b"hi");
        assert_eq!(good, [0, 0, 0, 3, 3, b'h', b'i']);
        assert_eq!(F.open(&good).unwrap(), b"hi");
        assert!(matches!(
            F.open(&good[..3]),
            Err(FrameError::PartialPrefix { got: 3 })
        ));
        assert!(matches!(
            F.open(&good[..6]),
            Err(FrameError::LengthMismatch { len: 3, got: 2 })
        ));
        assert!(matches!(F.open(&[0, 0, 0, 0]), Err(FrameError::Empty)));
        assert!(matches!(
            F.open(&[0, 0, 0, 1, 9]),
            Err(FrameError::Version { got: 9, want: 3 })
        ));
        assert!(matches!(
            F.open(&[0, 0, 1, 0]),
            Err(FrameError::TooLong { len: 256, max: 100 })
        ));
        let mut big = F.begin();
        big.resize(PREFIX + 101, 0);
        assert!(matches!(
            F.finish(big),
            Err(FrameError::TooLong { len: 101, max: 100 })
        ));
    }

    #[test]
    fn a_stream_ends_cleanly_only_between_frames() {
        let one = frame(b"one");
        for cut in 0..one.len() {
            let mut s = &one[..cut];
            let got = F.read_sync(&mut s);
            match cut {
                0 => assert!(matches!(got, Ok(None))),
                1..=3 => assert!(
                    matches!(got, Err(FrameError::PartialPrefix { got }) if got == cut),
                    "{cut}"
                ),
                _ => assert!(matches!(got, Err(FrameError::Io(_))), "{cut}"),
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut s: &[u8] = &[&one[..], &[0, 0]].concat();
            assert_eq!(F.read(&mut s).await.unwrap().unwrap(), &one[PREFIX..]);
            assert!(matches!(
                F.read(&mut s).await,
                Err(FrameError::PartialPrefix { got: 2 })
            ));
            let mut over: &[u8] = &[0, 0, 1, 0, 3];
            assert!(matches!(
                F.read(&mut over).await,
                Err(FrameError::TooLong { len: 256, .. })
            ));
        });
    }

    proptest! {
        #[test]
        fn frames_round_trip_through_a_stream(
            messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..99), 0..20)
        ) {
            let stream: Vec<u8> = messages.iter().flat_map(|m| frame(m)).collect();
            let mut s = &stream[..];
            let mut got = Vec::new();
            while let Some(body) = F.read_sync(&mut s).unwrap() {
                got.push(F.message(&body).unwrap().to_vec());
            }
            prop_assert_eq!(got, messages);
        }
    }
}
