//! Shared pieces of the protocol tests: a server on a real socket, raw
//! venti sessions, a store whose operations can be held, and a
//! plan9port-like peer for the client; incompressible test blocks.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use colony_venti::proto::{
    FrameBuffer, Message, Rhello, Rread, Rwrite, ServerHandle, ServerLimits, Thello, VERSION_LINE,
    VentiServer, Version, encode_frame,
};
use colony_venti::{BlockStore, BlockType, MemStore, Result, Score};

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Incompressible bytes (xorshift).
#[allow(unused_imports)] // each test binary uses a different subset
pub use colony_venti::conformance::block as noise;

pub fn testdata(sub: &str) -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/venti")).join(sub);
    assert!(dir.is_dir(), "testdata folder {} is missing", dir.display());
    dir
}

/// A runtime running a server; dropping it stops both.
pub struct Running {
    pub rt: tokio::runtime::Runtime,
    pub handle: Option<ServerHandle>,
    pub addr: SocketAddr,
}

impl Running {
    pub fn shutdown(mut self) {
        let handle = self.handle.take().unwrap();
        self.rt.block_on(handle.shutdown());
    }
}

pub fn start(store: Arc<dyn BlockStore>) -> Running {
    start_with(store, ServerLimits::default())
}

/// A server with `limits`.
pub fn start_with(store: Arc<dyn BlockStore>, limits: ServerLimits) -> Running {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt
        .block_on(VentiServer::with_limits(store, limits).listen("127.0.0.1:0"))
        .unwrap();
    let addr = handle.local_addr();
    Running {
        rt,
        handle: Some(handle),
        addr,
    }
}

/// A raw socket speaking venti frames, for driving the server by hand.
pub struct Raw {
    pub s: TcpStream,
    pub v: Version,
    buf: FrameBuffer,
}

impl Raw {
    /// Connects and sends `line`; checks the server's line.
    pub fn connect(addr: SocketAddr, line: &[u8]) -> Raw {
        Raw::over(TcpStream::connect(addr).unwrap(), line)
    }

    /// Sends `line` on a connected socket; checks the server's line.
    pub fn over(mut s: TcpStream, line: &[u8]) -> Raw {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.write_all(line).unwrap();
        let mut got = [0u8; 21];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, VERSION_LINE);
        Raw {
            s,
            v: Version::V04,
            buf: FrameBuffer::new(),
        }
    }

    /// A session past Thello/Rhello.
    pub fn session(addr: SocketAddr, v: Version) -> Raw {
        Raw::session_over(TcpStream::connect(addr).unwrap(), v)
    }

    /// A session past Thello/Rhello on a connected socket.
    pub fn session_over(s: TcpStream, v: Version) -> Raw {
        let line = format!("venti-{}-test\n", v.token());
        let mut raw = Raw::over(s, line.as_bytes());
        raw.v = v;
        raw.send(0, &Message::Thello(Thello::anonymous(v.token())));
        let (tag, msg) = raw.recv();
        assert_eq!(tag, 0);
        assert_eq!(
            msg,
            Message::Rhello(Rhello {
                sid: "anonymous".into(),
                rcrypto: 0,
                rcodec: 0
            })
        );
        raw
    }

    pub fn send(&mut self, tag: u8, msg: &Message) {
        let mut out = Vec::new();
        encode_frame(self.v, tag, msg, &mut out).unwrap();
        self.s.write_all(&out).unwrap();
    }

    /// Sends `body` in a frame of this session's version.
    pub fn send_body(&mut self, body: &[u8]) {
        let mut out = match self.v {
            Version::V02 => (body.len() as u16).to_be_bytes().to_vec(),
            Version::V04 => (body.len() as u32).to_be_bytes().to_vec(),
        };
        out.extend_from_slice(body);
        self.s.write_all(&out).unwrap();
    }

    pub fn recv(&mut self) -> (u8, Message) {
        loop {
            if let Some(body) = self.buf.next_frame(self.v).unwrap() {
                return Message::decode(body).unwrap();
            }
            let n = self.s.read(self.buf.spare()).expect("reply");
            assert!(n > 0, "server closed the connection instead of replying");
            self.buf.filled(n);
        }
    }

    /// Sends a request and returns the reply, checking the tag.
    pub fn rpc(&mut self, tag: u8, msg: &Message) -> Message {
        self.send(tag, msg);
        let (t, reply) = self.recv();
        assert_eq!(t, tag);
        reply
    }

    /// Asserts the server closes the connection without sending anything more.
    pub fn assert_closed(&mut self) {
        assert!(self.buf.pending().is_empty(), "unread bytes before close");
        let mut rest = [0u8; 64];
        match self.s.read(&mut rest) {
            Ok(0) => {}
            Ok(n) => panic!("server sent {n} more bytes: {:?}", &rest[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("server did not close the connection: {e}"),
        }
    }

    /// Asserts nothing arrives for a little while.
    pub fn assert_quiet(&mut self) {
        self.s
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut b = [0u8; 1];
        match self.s.read(&mut b) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected silence, got {other:?}"),
        }
        self.s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
}

pub fn rerror(text: &str) -> Message {
    Message::error(text)
}

/// A store whose reads of `slow_score` and writes of data starting with
/// `slow` wait until [`Gate::open`]; it counts writes and records how many
/// writes had completed at each sync.
pub struct GateStore {
    pub inner: MemStore,
    pub slow_score: Score,
    open: Mutex<bool>,
    cv: Condvar,
    pub writes: AtomicUsize,
    pub writes_at_sync: Mutex<Vec<usize>>,
}

impl GateStore {
    pub fn new(slow_score: Score) -> Arc<GateStore> {
        Arc::new(GateStore {
            inner: MemStore::new(),
            slow_score,
            open: Mutex::new(false),
            cv: Condvar::new(),
            writes: AtomicUsize::new(0),
            writes_at_sync: Mutex::new(Vec::new()),
        })
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }
}

impl BlockStore for GateStore {
    fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        if *score == self.slow_score {
            self.wait();
        }
        self.inner.read(score, ty)
    }
    fn write(&self, ty: BlockType, data: &[u8]) -> Result<Score> {
        if data.starts_with(b"slow") {
            self.wait();
        }
        let s = self.inner.write(ty, data);
        self.writes.fetch_add(1, Ordering::SeqCst);
        s
    }
    fn has(&self, score: &Score, ty: BlockType) -> Result<bool> {
        self.inner.has(score, ty)
    }
    fn sync(&self) -> Result<()> {
        let n = self.writes.load(Ordering::SeqCst);
        self.writes_at_sync.lock().unwrap().push(n);
        Ok(())
    }
}

/// How the plan9port-like peer misbehaves, if at all.
#[derive(Clone, Copy, Default)]
pub struct PeerMode {
    /// Hang up after this many requests (not counting Thello).
    pub hang_up_after: Option<usize>,
    /// Corrupt Rread data and Rwrite scores.
    pub lie: bool,
    /// Answer every request with Rsync.
    pub wrong_type: bool,
    /// After this many requests, read on but answer nothing.
    pub silent_after: Option<usize>,
}

/// A minimal venti server that behaves as plan9port's does: it sends
/// `line`, negotiates from the client's list, wants Thello with tag 0 and
/// the negotiated version, serves one request at a time in order, answers
/// a read of 20 zero bytes (but not of da39…) with an empty block, and
/// answers everything but read, write and sync (Tping included) with
/// Rerror "unknown request". Serves one connection, then returns the store.
pub fn plan9port_peer(line: &'static [u8], mode: PeerMode) -> (SocketAddr, JoinHandle<MemStore>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let store = MemStore::new();
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(line).unwrap();
        let mut buf = FrameBuffer::new();
        let fill = |s: &mut TcpStream, buf: &mut FrameBuffer| -> bool {
            match s.read(buf.spare()) {
                Ok(0) | Err(_) => false,
                Ok(n) => {
                    buf.filled(n);
                    true
                }
            }
        };
        let client_line = loop {
            if let Some(l) = buf.take_line().unwrap() {
                break l;
            }
            if !fill(&mut s, &mut buf) {
                return store;
            }
        };
        let offered = Version::negotiate(&client_line).unwrap();
        // A peer whose own line lacks 04 speaks only 02, if the client offers it.
        let speaks_04 = line.windows(2).any(|w| w == b"04");
        let v = if speaks_04 {
            offered
        } else if client_line.windows(2).any(|w| w == b"02") {
            Version::V02
        } else {
            return store;
        };
        let mut served = 0usize;
        let mut hello = false;
        loop {
            let Some(body) = buf.next_frame(v).unwrap() else {
                if !fill(&mut s, &mut buf) {
                    return store;
                }
                continue;
            };
            let (tag, msg) = Message::decode(body).unwrap();
            if !hello {
                match &msg {
                    Message::Thello(h) if tag == 0 && h.version == v.token() => hello = true,
                    _ => return store,
                }
                let mut out = Vec::new();
                let rhello = Message::Rhello(Rhello {
                    sid: "anonymous".into(),
                    rcrypto: 0,
                    rcodec: 0,
                });
                encode_frame(v, 0, &rhello, &mut out).unwrap();
                s.write_all(&out).unwrap();
                continue;
            }
            if mode.hang_up_after == Some(served) {
                return store;
            }
            if mode.silent_after.is_some_and(|n| served >= n) {
                continue;
            }
            served += 1;
            let reply = match msg {
                _ if mode.wrong_type => Message::Rsync,
                Message::Tread(r) if r.score == Score::NONE => {
                    Message::Rread(Rread { data: vec![] })
                }
                Message::Tread(r) => {
                    match store.read(&r.score, BlockType::from_wire(r.ty).unwrap()) {
                        Ok(mut data) => {
                            if mode.lie {
                                data[0] ^= 1;
                            }
                            Message::Rread(Rread { data })
                        }
                        Err(e) => Message::error(e.to_string()),
                    }
                }
                Message::Twrite(w) => {
                    let mut score = store
                        .write(BlockType::from_wire(w.ty).unwrap(), &w.data)
                        .unwrap();
                    if mode.lie {
                        score.0[0] ^= 1;
                    }
                    Message::Rwrite(Rwrite { score })
                }
                Message::Tsync => Message::Rsync,
                Message::Tgoodbye => return store,
                _ => Message::error("unknown request"),
            };
            let mut out = Vec::new();
            encode_frame(v, tag, &reply, &mut out).unwrap();
            if s.write_all(&out).is_err() {
                return store;
            }
        }
    });
    (addr, thread)
}

/// A store that panics on every read.
pub struct PanickyStore;

impl BlockStore for PanickyStore {
    fn read(&self, _: &Score, _: BlockType) -> Result<Vec<u8>> {
        panic!("deliberate panic in a test store")
    }
    fn write(&self, _: BlockType, data: &[u8]) -> Result<Score> {
        Ok(Score::of(data))
    }
    fn has(&self, _: &Score, _: BlockType) -> Result<bool> {
        Ok(false)
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
}
