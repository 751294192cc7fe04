//! Framing: a big-endian length (2 bytes in `02`, 4 in `04`) before each
//! message body, and [`FrameBuffer`], the receive buffer both the async
//! server and the threaded client parse frames (and the version line) from.

use crate::error::{Error, Result};
use crate::proto::message::Message;
use crate::proto::version::{MAX_VERSION_LINE, Version};
use crate::proto::{MessageFault, VersionFault};

/// Largest frame body we send or accept in `04`: a maximal `Rread` or
/// `Twrite` (65535 bytes of data, the most a 2-byte count asks for) plus
/// headers. libventi's reader has no cap; ours refuses anything larger.
pub const MAX_FRAME_04: usize = 64 * 1024 + 64;

/// Largest frame body in `02`, fixed by its 2-byte length.
pub const MAX_FRAME_02: usize = u16::MAX as usize;

impl Version {
    /// Bytes of the length field.
    pub fn length_size(self) -> usize {
        match self {
            Version::V02 => 2,
            Version::V04 => 4,
        }
    }

    /// Largest body a frame may carry.
    pub fn max_body(self) -> usize {
        match self {
            Version::V02 => MAX_FRAME_02,
            Version::V04 => MAX_FRAME_04,
        }
    }
}

/// Appends `msg` with `tag` as one frame. On error `out` is left as it was.
pub fn encode_frame(version: Version, tag: u8, msg: &Message, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    let f = FrameWriter::begin(version, out);
    match msg.encode(tag, f.out) {
        Ok(()) => f.finish(),
        Err(e) => {
            f.out.truncate(start);
            Err(e)
        }
    }
}

/// Writes one frame in place: reserve the length, append the body, patch
/// the length. Lets a caller encode a body straight from its own buffers.
pub struct FrameWriter<'a> {
    version: Version,
    start: usize,
    /// The buffer the body is appended to.
    pub out: &'a mut Vec<u8>,
}

impl<'a> FrameWriter<'a> {
    /// Reserves the length field.
    pub fn begin(version: Version, out: &'a mut Vec<u8>) -> FrameWriter<'a> {
        let start = out.len();
        out.resize(start + version.length_size(), 0);
        FrameWriter {
            version,
            start,
            out,
        }
    }

    /// Patches the length of the body appended since `begin`.
    pub fn finish(self) -> Result<()> {
        let n = self.version.length_size();
        let len = self.out.len() - self.start - n;
        if len > self.version.max_body() {
            self.out.truncate(self.start);
            return Err(Error::Malformed(MessageFault::FrameTooLong {
                len,
                max: self.version.max_body(),
            }));
        }
        let field = &mut self.out[self.start..self.start + n];
        match self.version {
            Version::V02 => field.copy_from_slice(&(len as u16).to_be_bytes()),
            Version::V04 => field.copy_from_slice(&(len as u32).to_be_bytes()),
        }
        Ok(())
    }
}

/// Received bytes not yet parsed. The owner reads from its socket into
/// [`FrameBuffer::spare`], reports the count with [`FrameBuffer::filled`],
/// then takes whole lines or frames out; a partial frame stays for the
/// next read, so many pipelined frames cost one read.
pub struct FrameBuffer {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

/// Bytes the buffer holds: two maximal frames, so one read can carry many
/// pipelined messages. (Pages are only touched as they are used.)
const BUFFER_SIZE: usize = 2 * MAX_FRAME_04;

impl Default for FrameBuffer {
    fn default() -> Self {
        FrameBuffer::new()
    }
}

impl FrameBuffer {
    /// An empty buffer.
    pub fn new() -> FrameBuffer {
        FrameBuffer {
            data: vec![0; BUFFER_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// Unparsed bytes.
    pub fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Free space to read into; never empty (a whole frame always fits, so
    /// when none is complete there is room for more of it).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.end == self.data.len() || self.start > self.data.len() / 2 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.data[self.end..]
    }

    /// Records that `n` bytes were read into [`FrameBuffer::spare`].
    pub fn filled(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.data.len());
    }

    /// Takes the version line (without its `\n`) once it is complete.
    /// Bytes after the `\n` stay for the frames. A line longer than
    /// libventi allows is an error.
    pub fn take_line(&mut self) -> Result<Option<Vec<u8>>> {
        let pending = self.pending();
        match pending.iter().position(|&b| b == b'\n') {
            Some(i) if i <= MAX_VERSION_LINE => {
                let line = pending[..i].to_vec();
                self.start += i + 1;
                Ok(Some(line))
            }
            Some(_) => Err(too_long_line()),
            None if pending.len() > MAX_VERSION_LINE => Err(too_long_line()),
            None => Ok(None),
        }
    }

    /// Takes the next complete frame's body, or `None` if more bytes are
    /// needed. A length past the version's maximum is an error: the stream
    /// cannot be trusted after it.
    pub fn next_frame(&mut self, version: Version) -> Result<Option<&[u8]>> {
        let n = version.length_size();
        let pending = &self.data[self.start..self.end];
        if pending.len() < n {
            return Ok(None);
        }
        let len = match version {
            Version::V02 => usize::from(u16::from_be_bytes([pending[0], pending[1]])),
            Version::V04 => {
                u32::from_be_bytes([pending[0], pending[1], pending[2], pending[3]]) as usize
            }
        };
        if len > version.max_body() {
            return Err(Error::Malformed(MessageFault::FrameTooLong {
                len,
                max: version.max_body(),
            }));
        }
        if pending.len() < n + len {
            return Ok(None);
        }
        let body = self.start + n..self.start + n + len;
        self.start = body.end;
        if self.start == self.end {
            // Empty again: the next read starts at the front.
            self.start = 0;
            self.end = 0;
        }
        Ok(Some(&self.data[body]))
    }
}

fn too_long_line() -> Error {
    Error::Version(VersionFault::LineTooLong {
        max: MAX_VERSION_LINE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed(fb: &mut FrameBuffer, bytes: &[u8]) {
        let spare = fb.spare();
        spare[..bytes.len()].copy_from_slice(bytes);
        fb.filled(bytes.len());
    }

    #[test]
    fn spec_frames() {
        let mut out = Vec::new();
        encode_frame(Version::V04, 0, &Message::Tping, &mut out).unwrap();
        encode_frame(Version::V02, 0, &Message::Tping, &mut out).unwrap();
        assert_eq!(hex::encode(&out), "0000000202000002 0200".replace(' ', ""));
        let big = Message::Rread(crate::proto::message::Rread {
            data: vec![0; MAX_FRAME_02 - 1],
        });
        let mut out = vec![9];
        assert!(encode_frame(Version::V02, 1, &big, &mut out).is_err());
        assert_eq!(out, vec![9], "failed encode leaves the buffer alone");
        encode_frame(Version::V04, 1, &big, &mut out).unwrap();
        assert_eq!(out.len(), 1 + 4 + MAX_FRAME_02 + 1);
    }

    #[test]
    fn line_then_frames_split_anywhere() {
        let mut stream = b"venti-02-x\n".to_vec();
        encode_frame(Version::V02, 7, &Message::Tsync, &mut stream).unwrap();
        for split in 0..stream.len() {
            let mut fb = FrameBuffer::new();
            feed(&mut fb, &stream[..split]);
            let mut line = fb.take_line().unwrap();
            if line.is_none() {
                feed(&mut fb, &stream[split..]);
                line = fb.take_line().unwrap();
            } else {
                feed(&mut fb, &stream[split..]);
            }
            assert_eq!(line.unwrap(), b"venti-02-x");
            assert_eq!(fb.next_frame(Version::V02).unwrap().unwrap(), &[16, 7]);
            assert_eq!(fb.next_frame(Version::V02).unwrap(), None);
        }
    }

    #[test]
    fn limits() {
        let mut fb = FrameBuffer::new();
        feed(&mut fb, &[b'v'; MAX_VERSION_LINE + 1]);
        assert!(fb.take_line().is_err());
        let mut fb = FrameBuffer::new();
        feed(&mut fb, &((MAX_FRAME_04 + 1) as u32).to_be_bytes());
        assert!(matches!(
            fb.next_frame(Version::V04),
            Err(Error::Malformed(_))
        ));
        let mut fb = FrameBuffer::new();
        feed(&mut fb, &(MAX_FRAME_04 as u32).to_be_bytes());
        assert_eq!(fb.next_frame(Version::V04).unwrap(), None);
    }

    proptest! {
        #[test]
        fn frames_survive_any_read_sizes(
            bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..40),
            chunk in 1usize..5000,
            v4 in any::<bool>()
        ) {
            let version = if v4 { Version::V04 } else { Version::V02 };
            let mut stream = Vec::new();
            for b in &bodies {
                let f = FrameWriter::begin(version, &mut stream);
                f.out.extend_from_slice(b);
                f.finish().unwrap();
            }
            let mut fb = FrameBuffer::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                let mut piece = piece;
                while !piece.is_empty() {
                    let spare = fb.spare();
                    let n = spare.len().min(piece.len());
                    spare[..n].copy_from_slice(&piece[..n]);
                    fb.filled(n);
                    piece = &piece[n..];
                    while let Some(body) = fb.next_frame(version).unwrap() {
                        got.push(body.to_vec());
                    }
                }
            }
            prop_assert_eq!(got, bodies);
            prop_assert!(fb.pending().is_empty());
        }
    }
}
