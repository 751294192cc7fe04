//! A minimal venti client written from venti(7) alone, over a plain
//! `TcpStream`: the load generator's, so what it measures is the server and
//! not colony's client library (which shares the server's codec). Version
//! 04 framing (4-byte length), one request in flight, blocking I/O.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpStream};

const RERROR: u8 = 1;
const THELLO: u8 = 4;
const RHELLO: u8 = 5;
const TREAD: u8 = 12;
const RREAD: u8 = 13;
const TWRITE: u8 = 14;
const RWRITE: u8 = 15;

/// Wire type of a data block.
pub const DATA: u8 = 13;

/// Largest block read back (venti's 56 KiB lump limit).
const READ_COUNT: u32 = 57344;

/// One venti session.
pub struct WireClient {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    body: Vec<u8>,
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl WireClient {
    /// Connects, exchanges version lines and says hello as `anonymous`.
    pub fn connect(addr: SocketAddr) -> io::Result<WireClient> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let mut c = WireClient {
            reader: BufReader::new(stream.try_clone()?),
            writer: BufWriter::new(stream),
            body: Vec::new(),
        };
        c.writer.write_all(b"venti-04-load\n")?;
        c.writer.flush()?;
        let mut line = Vec::new();
        c.reader.read_until(b'\n', &mut line)?;
        if !line.starts_with(b"venti-") || !line.ends_with(b"\n") {
            return Err(bad(format!("version line {line:?}")));
        }
        let mut hello = Vec::new();
        for s in ["04", "anonymous"] {
            hello.extend_from_slice(&(s.len() as u16).to_be_bytes());
            hello.extend_from_slice(s.as_bytes());
        }
        hello.extend_from_slice(&[0, 0, 0]); // strength, no crypto, no codec
        c.rpc(THELLO, &[&hello], RHELLO)?;
        Ok(c)
    }

    /// Sends one request (type, tag 0, `parts` as the payload) and returns
    /// the reply's payload, checking its type.
    fn rpc(&mut self, kind: u8, parts: &[&[u8]], want: u8) -> io::Result<&[u8]> {
        let len: usize = 2 + parts.iter().map(|p| p.len()).sum::<usize>();
        self.writer.write_all(&(len as u32).to_be_bytes())?;
        self.writer.write_all(&[kind, 0])?;
        for p in parts {
            self.writer.write_all(p)?;
        }
        self.writer.flush()?;
        let mut len = [0u8; 4];
        self.reader.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if !(2..=READ_COUNT as usize + 64).contains(&len) {
            return Err(bad(format!("reply frame of {len} bytes")));
        }
        self.body.resize(len, 0);
        self.reader.read_exact(&mut self.body)?;
        match self.body[0] {
            k if k == want => Ok(&self.body[2..]),
            RERROR => Err(io::Error::other(format!(
                "Rerror {:?}",
                String::from_utf8_lossy(self.body.get(4..).unwrap_or_default())
            ))),
            k => Err(bad(format!("reply type {k} to request type {kind}"))),
        }
    }

    /// Writes a block; returns the score the server gives it.
    pub fn write(&mut self, ty: u8, data: &[u8]) -> io::Result<[u8; 20]> {
        let reply = self.rpc(TWRITE, &[&[ty, 0, 0, 0], data], RWRITE)?;
        reply
            .try_into()
            .map_err(|_| bad(format!("Rwrite of {} bytes", reply.len())))
    }

    /// Reads a block (the caller verifies it).
    pub fn read(&mut self, score: &[u8; 20], ty: u8) -> io::Result<&[u8]> {
        let mut req = [0u8; 26];
        req[..20].copy_from_slice(score);
        req[20] = ty;
        req[22..].copy_from_slice(&READ_COUNT.to_be_bytes());
        self.rpc(TREAD, &[&req], RREAD)
    }
}
