//! `VentiClient`: a [`BlockStore`] on a remote venti server, driving a
//! sans-IO [`ClientSession`] over a TCP socket.
//!
//! Built on std threads and sockets, so it works from plain threads and
//! from `spawn_blocking` inside a tokio runtime alike. Callers start
//! requests and write their frames themselves; one reader thread feeds
//! the server's bytes to the session and routes each reply by tag. Any
//! number of threads may have requests in flight (256 tags in all), and
//! [`BlockStore::read_many`] keeps many in flight for a single caller.
//!
//! Writes stream: [`BlockStore::write`] returns the block's score (its
//! SHA-1, computed here) once the request is queued, without waiting for
//! the server; the reply is checked when it comes, and a failed write
//! fails the next [`BlockStore::sync`] (or [`VentiClient::write_many`]).
//! A read of a block whose write is in flight waits for that write.
//!
//! Nothing polls: callers waiting for replies (or for a free tag, or for
//! writes to settle) wake at the session's next deadline and run its
//! watchdog (see [`ClientSession`]), so a silent server fails every call
//! with [`Error::Silent`] within twice [`ClientConfig::silence`].

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::block_type::BlockType;
use crate::error::{Error, Result};
use crate::proto::client_session::{ClientConfig, ClientEvent, ClientSession};
use crate::proto::frame::{FrameWriter, encode_frame};
use crate::proto::message::{Message, Tread, Twrite, kind};
use crate::proto::version::Version;
use crate::score::Score;
use crate::store::{BlockStore, check_block_size};

/// The count our reads ask for: venti/read's, the most a 2-byte count
/// holds (and so valid in `02`).
pub const READ_COUNT: u32 = u16::MAX as u32;

/// Bytes of requests queued before they are written to the socket: few
/// syscalls, yet the server gets work early. Anyone who then waits
/// writes what is queued first.
const BATCH_BYTES: usize = 64 * 1024;

/// Bytes the reader thread reads at once.
const READ_BUFFER: usize = 256 * 1024;

/// How long a waiter sleeps when the session has no deadline (nothing in
/// flight: its own reply is on the way, or the session is over).
const NO_DEADLINE: Duration = Duration::from_secs(3600);

/// A connection to a venti server.
///
/// ```no_run
/// use colony_venti::{BlockStore, BlockType, proto::VentiClient};
/// let venti = VentiClient::connect("127.0.0.1:17034").unwrap();
/// let score = venti.write(BlockType::DATA, b"hello").unwrap();
/// venti.sync().unwrap();
/// assert_eq!(venti.read(&score, BlockType::DATA).unwrap(), b"hello");
/// let scores = venti.write_many(&[(BlockType::DATA, &b"a"[..]), (BlockType::DATA, b"b")]).unwrap();
/// ```
pub struct VentiClient {
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
}

/// One request, as the pipeline sends it.
enum Request<'a> {
    Read { score: Score, ty: BlockType },
    Write { ty: BlockType, data: &'a [u8] },
    Sync,
    Ping,
}

impl Request<'_> {
    fn kind(&self) -> u8 {
        match self {
            Request::Read { .. } => kind::TREAD,
            Request::Write { .. } => kind::TWRITE,
            Request::Sync => kind::TSYNC,
            Request::Ping => kind::TPING,
        }
    }

    fn encode(&self, version: Version, tag: u8, out: &mut Vec<u8>) -> Result<()> {
        match *self {
            Request::Read { score, ty } => {
                let msg = Message::Tread(Tread::new(score, ty.wire(), READ_COUNT));
                encode_frame(version, tag, &msg, out)
            }
            // Encoded from the caller's slice: no intermediate copy.
            Request::Write { ty, data } => {
                let f = FrameWriter::begin(version, out);
                f.out.extend_from_slice(&[kind::TWRITE, tag]);
                Twrite::encode_parts(ty.wire(), [0; 3], data, f.out);
                f.finish()
            }
            Request::Sync => encode_frame(version, tag, &Message::Tsync, out),
            Request::Ping => encode_frame(version, tag, &Message::Tping, out),
        }
    }
}

/// Where the reader thread delivers a reply: the caller's channel, with
/// the request's index in the caller's batch.
type Completion = (usize, Result<Message>);

/// Who is owed a reply.
enum Waiter {
    /// A caller, waiting on its channel.
    Call {
        index: usize,
        done: mpsc::Sender<Completion>,
    },
    /// A streamed write: the reply is checked against the block's score.
    Write { score: Score },
}

struct State {
    session: ClientSession,
    waiters: Vec<Option<Waiter>>,
    /// Why the connection is unusable, once it is.
    dead: Option<Arc<Error>>,
    /// Streamed writes not yet answered, by score.
    writing: HashMap<Score, usize>,
    /// Their number.
    streamed: usize,
    /// The first streamed write that failed since the last sync.
    write_error: Option<Error>,
}

struct Shared {
    version: Version,
    /// The socket, for writing frames; the lock keeps frames whole and in
    /// the order the session queued them.
    writer: Mutex<TcpStream>,
    /// The socket again, to shut it down without waiting for a writer.
    control: TcpStream,
    state: Mutex<State>,
    /// Signalled when a tag is freed, a streamed write is answered, or the
    /// connection dies.
    changed: Condvar,
}

impl VentiClient {
    /// Connects to `addr`, exchanges version lines (we offer `04:02`; the
    /// server's order decides) and says hello.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<VentiClient> {
        VentiClient::connect_with(addr, ClientConfig::default())
    }

    /// [`VentiClient::connect`] with the timing of `config`.
    pub fn connect_with(addr: impl ToSocketAddrs, config: ClientConfig) -> Result<VentiClient> {
        let stream = TcpStream::connect(addr).map_err(|source| Error::Net {
            op: "connect",
            source,
        })?;
        VentiClient::handshake_with(stream, config)
    }

    /// Starts a session on an already connected stream.
    pub fn handshake(stream: TcpStream) -> Result<VentiClient> {
        VentiClient::handshake_with(stream, ClientConfig::default())
    }

    /// [`VentiClient::handshake`] with the timing of `config`.
    pub fn handshake_with(stream: TcpStream, config: ClientConfig) -> Result<VentiClient> {
        let net = |op| move |source| Error::Net { op, source };
        stream.set_nodelay(true).map_err(net("set TCP_NODELAY"))?;
        let mut rd = stream.try_clone().map_err(net("clone socket"))?;
        let control = stream.try_clone().map_err(net("clone socket"))?;
        let mut wr = stream;
        let mut session = ClientSession::new(config, Instant::now());
        let mut buf = vec![0; READ_BUFFER];
        let version = loop {
            let out = session.take_transmit();
            if !out.is_empty() {
                if let Err(e) = wr.write_all(&out) {
                    session.fail(Error::Net {
                        op: "send handshake",
                        source: e,
                    });
                }
            }
            match session.poll_event() {
                Some(ClientEvent::Open(version)) => break version,
                Some(ClientEvent::Failed(e)) => {
                    // Only the event holds the cause now: hand it over whole.
                    drop(session);
                    return Err(Arc::try_unwrap(e).unwrap_or_else(Error::Disconnected));
                }
                Some(ClientEvent::Reply { .. }) | None => {}
            }
            let wait = until(session.poll_timeout()).max(Duration::from_millis(1));
            rd.set_read_timeout(Some(wait))
                .map_err(net("set read timeout"))?;
            match rd.read(&mut buf) {
                Ok(n) => session.handle_input(&buf[..n], Instant::now()),
                Err(e) if is_timeout(&e) => session.handle_timeout(Instant::now()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => session.read_failed(e),
            }
        };
        rd.set_read_timeout(None)
            .map_err(net("clear read timeout"))?;
        debug!(%version, "venti session open");
        let shared = Arc::new(Shared {
            version,
            writer: Mutex::new(wr),
            control,
            state: Mutex::new(State {
                session,
                waiters: (0..256).map(|_| None).collect(),
                dead: None,
                writing: HashMap::new(),
                streamed: 0,
                write_error: None,
            }),
            changed: Condvar::new(),
        });
        let reader = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("venti-client-reader".into())
                .spawn(move || shared.read_replies(rd, buf))
                .map_err(net("start reader thread"))?
        };
        Ok(VentiClient {
            shared,
            reader: Some(reader),
        })
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Version {
        self.shared.version
    }

    /// Checks the server is alive. Any answer counts, `Rerror` included:
    /// plan9port's server answers Tping with `Rerror "unknown request"`.
    pub fn ping(&self) -> Result<()> {
        self.call(Request::Ping).map(|_| ())
    }

    /// Writes many blocks, streamed; returns their scores in order once
    /// every write is answered. Empty blocks are answered locally. The
    /// first failure (of these or of earlier streamed writes) is returned.
    pub fn write_many(&self, blocks: &[(BlockType, &[u8])]) -> Result<Vec<Score>> {
        let scores = blocks
            .iter()
            .map(|(ty, data)| self.write(*ty, data))
            .collect::<Result<Vec<Score>>>()?;
        self.shared.settle()?;
        Ok(scores)
    }

    fn call(&self, req: Request) -> Result<Message> {
        let mut out = None;
        self.pipeline(std::slice::from_ref(&req), |_, reply| out = Some(reply));
        out.expect("the pipeline answers every request")
    }

    /// Sends `reqs`, keeping as many in flight as tags allow, and hands
    /// every reply (or failure) to `done` with the request's index.
    fn pipeline(&self, reqs: &[Request], mut done: impl FnMut(usize, Result<Message>)) {
        let shared = &*self.shared;
        let (tx, rx) = mpsc::channel::<Completion>();
        let mut next = 0;
        let mut outstanding = 0usize;
        while next < reqs.len() || outstanding > 0 {
            while next < reqs.len() {
                let req = &reqs[next];
                let waiter = Waiter::Call {
                    index: next,
                    done: tx.clone(),
                };
                // Block for a tag only when none of ours is in flight: our
                // own replies free tags otherwise.
                match shared.start(
                    req.kind(),
                    |v, t, o| req.encode(v, t, o),
                    waiter,
                    outstanding == 0,
                ) {
                    Ok(true) => outstanding += 1,
                    Ok(false) => break,
                    Err(e) => done(next, Err(e)),
                }
                next += 1;
            }
            // On failure the connection is marked dead and every waiter,
            // ours included, gets the error.
            shared.flush();
            if outstanding > 0 {
                let (i, reply) = shared.recv(&rx);
                done(i, reply);
                outstanding -= 1;
                while let Ok((i, reply)) = rx.try_recv() {
                    done(i, reply);
                    outstanding -= 1;
                }
            }
        }
    }
}

/// Time from now until `at` (zero if past), or [`NO_DEADLINE`].
fn until(at: Option<Instant>) -> Duration {
    at.map_or(NO_DEADLINE, |at| {
        at.saturating_duration_since(Instant::now())
    })
}

/// A read that ran into its socket timeout.
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Checks an Rwrite against the score of the data sent.
fn write_reply(msg: Message, want: Score) -> Result<Score> {
    match msg {
        Message::Rwrite(r) if r.score == want => Ok(r.score),
        Message::Rwrite(r) => Err(Error::HashMismatch { want, got: r.score }),
        other => Err(unexpected(other)),
    }
}

/// Checks an Rread against the score asked for. An Rerror saying this
/// block is absent is [`Error::NotFound`] (see [`Rerror::into_error`](crate::proto::Rerror::into_error)).
fn read_reply(msg: Message, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
    match msg {
        Message::Rread(r) => {
            if r.data.len() > READ_COUNT as usize {
                return Err(Error::ReadTooLong {
                    score: *score,
                    len: r.data.len(),
                    max: READ_COUNT as usize,
                });
            }
            let got = Score::of(&r.data);
            if got != *score {
                return Err(Error::HashMismatch { want: *score, got });
            }
            Ok(r.data)
        }
        Message::Rerror(e) => Err(e.into_error(Some((score, ty)))),
        other => Err(unexpected(other)),
    }
}

/// A reply that is neither the expected one nor Rerror was already refused
/// by the reader; this maps Rerror (and anything else) to an error.
fn unexpected(msg: Message) -> Error {
    match msg {
        Message::Rerror(e) => e.into_error(None),
        other => Error::UnexpectedReply {
            sent: other.kind().wrapping_sub(1),
            got: other.kind(),
        },
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("venti client state lock")
    }

    /// Starts a request owed to `waiter`. With `block` false, returns
    /// false instead of waiting for a free tag.
    fn start(
        &self,
        kind: u8,
        encode: impl Fn(Version, u8, &mut Vec<u8>) -> Result<()>,
        waiter: Waiter,
        block: bool,
    ) -> Result<bool> {
        let mut st = self.lock();
        loop {
            if let Some(why) = &st.dead {
                return Err(Error::Disconnected(why.clone()));
            }
            if let Some(tag) = st
                .session
                .start_with(kind, Instant::now(), |v, t, o| encode(v, t, o))?
            {
                if let Waiter::Write { score } = &waiter {
                    *st.writing.entry(*score).or_default() += 1;
                    st.streamed += 1;
                }
                st.waiters[usize::from(tag)] = Some(waiter);
                let full = st.session.transmit_len() >= BATCH_BYTES;
                drop(st);
                if full {
                    self.flush();
                }
                return Ok(true);
            }
            if !block {
                return Ok(false);
            }
            if st.session.transmit_len() > 0 {
                // Our queued requests must reach the server before a tag
                // can come back; then look again under the lock, since
                // every reply may have come in meanwhile.
                drop(st);
                self.flush();
                st = self.lock();
                continue;
            }
            // Checked and waited on under one lock: a freed tag's
            // notification cannot fall in between.
            st = self.wait(st);
        }
    }

    /// Waits for a change (or the session's next deadline, when its
    /// watchdog runs).
    fn wait<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let wait = until(st.session.poll_timeout());
        let (mut st, timeout) = self
            .changed
            .wait_timeout(st, wait)
            .expect("venti client state lock");
        if timeout.timed_out() {
            st.session.handle_timeout(Instant::now());
            self.process(&mut st);
            if st.session.transmit_len() > 0 {
                drop(st);
                self.flush();
                st = self.lock();
            }
        }
        st
    }

    /// Waits for a caller's next completion, running the watchdog at the
    /// session's deadlines.
    fn recv(&self, rx: &mpsc::Receiver<Completion>) -> Completion {
        loop {
            let wait = until(self.lock().session.poll_timeout());
            match rx.recv_timeout(wait) {
                Ok(c) => return c,
                Err(RecvTimeoutError::Timeout) => {
                    let mut st = self.lock();
                    st.session.handle_timeout(Instant::now());
                    self.process(&mut st);
                    drop(st);
                    self.flush();
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the caller holds a sender"),
            }
        }
    }

    /// Waits until `ready` holds (checked under the state lock).
    fn wait_until(&self, ready: impl Fn(&State) -> bool) {
        self.flush();
        let mut st = self.lock();
        while !ready(&st) {
            st = self.wait(st);
        }
    }

    /// Waits for every streamed write to be answered; returns the first
    /// that failed since the last call.
    fn settle(&self) -> Result<()> {
        self.wait_until(|st| st.streamed == 0);
        self.lock().write_error.take().map_or(Ok(()), Err)
    }

    /// Writes the queued frames; a failure kills the connection.
    fn flush(&self) {
        let mut w = self.writer.lock().expect("venti client writer lock");
        let frames = self.lock().session.take_transmit();
        if frames.is_empty() {
            return;
        }
        if let Err(e) = w.write_all(&frames) {
            drop(w);
            let mut st = self.lock();
            st.session.fail(Error::Net {
                op: "send to the venti server",
                source: e,
            });
            self.process(&mut st);
        }
    }

    /// Hands the session's events to their waiters.
    fn process(&self, st: &mut State) {
        while let Some(event) = st.session.poll_event() {
            match event {
                ClientEvent::Open(_) => {}
                ClientEvent::Reply { tag, msg } => {
                    match st.waiters[usize::from(tag)].take() {
                        Some(Waiter::Call { index, done }) => {
                            let _ = done.send((index, Ok(msg)));
                        }
                        Some(Waiter::Write { score }) => {
                            let result = write_reply(msg, score);
                            st.wrote(score, result.err());
                        }
                        None => unreachable!("the session answers only tags in flight"),
                    }
                    self.changed.notify_all();
                }
                ClientEvent::Failed(e) => self.fail(st, e),
            }
        }
    }

    /// Marks the connection dead and fails every request in flight.
    fn fail(&self, st: &mut State, e: Arc<Error>) {
        let why = st
            .dead
            .get_or_insert_with(|| {
                warn!("venti connection lost: {e}");
                e
            })
            .clone();
        let waiters: Vec<Waiter> = st.waiters.iter_mut().filter_map(Option::take).collect();
        for w in waiters {
            match w {
                Waiter::Call { index, done } => {
                    let _ = done.send((index, Err(Error::Disconnected(why.clone()))));
                }
                Waiter::Write { .. } => st.write_error_once(&why),
            }
        }
        st.writing.clear();
        st.streamed = 0;
        let _ = self.control.shutdown(Shutdown::Both);
        self.changed.notify_all();
    }

    /// The reader thread: feeds the server's bytes to the session until
    /// the connection ends.
    fn read_replies(&self, mut rd: TcpStream, mut buf: Vec<u8>) {
        loop {
            let got = rd.read(&mut buf);
            let mut st = self.lock();
            match got {
                Ok(n) => st.session.handle_input(&buf[..n], Instant::now()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => st.session.read_failed(e),
            }
            self.process(&mut st);
            if st.session.is_failed() {
                return;
            }
        }
    }
}

impl State {
    /// Files the answer to a streamed write of `score`.
    fn wrote(&mut self, score: Score, failure: Option<Error>) {
        if let Some(n) = self.writing.get_mut(&score) {
            *n -= 1;
            if *n == 0 {
                self.writing.remove(&score);
            }
        }
        self.streamed -= 1;
        if let Some(e) = failure {
            self.write_error.get_or_insert(e);
        }
    }

    /// Records a streamed write lost with the connection.
    fn write_error_once(&mut self, why: &Arc<Error>) {
        self.write_error
            .get_or_insert_with(|| Error::Disconnected(why.clone()));
    }
}

impl BlockStore for VentiClient {
    fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        if score.is_special() {
            // plan9port's server has no block for EMPTY: answer locally.
            return Ok(Vec::new());
        }
        self.shared.wait_until(|st| !st.writing.contains_key(score));
        self.call(Request::Read { score: *score, ty })
            .and_then(|m| read_reply(m, score, ty))
    }

    /// Streams the write: returns the block's score once the request is
    /// queued; a failure shows at the next sync.
    fn write(&self, ty: BlockType, data: &[u8]) -> Result<Score> {
        check_block_size(data)?;
        if data.is_empty() {
            return Ok(Score::EMPTY);
        }
        let score = Score::of(data);
        let req = Request::Write { ty, data };
        self.shared.start(
            kind::TWRITE,
            |v, t, o| req.encode(v, t, o),
            Waiter::Write { score },
            true,
        )?;
        Ok(score)
    }

    /// Reads many blocks with up to 256 requests in flight; one result per
    /// block, in order, each verified against its score.
    fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<Result<Vec<u8>>> {
        let mut results: Vec<Result<Vec<u8>>> = blocks.iter().map(|_| Ok(Vec::new())).collect();
        let sent: Vec<usize> = (0..blocks.len())
            .filter(|&i| !blocks[i].0.is_special())
            .collect();
        self.shared.wait_until(|st| {
            st.streamed == 0 || sent.iter().all(|&i| !st.writing.contains_key(&blocks[i].0))
        });
        let reqs: Vec<Request> = sent
            .iter()
            .map(|&i| Request::Read {
                score: blocks[i].0,
                ty: blocks[i].1,
            })
            .collect();
        self.pipeline(&reqs, |j, reply| {
            let (score, ty) = blocks[sent[j]];
            results[sent[j]] = reply.and_then(|m| read_reply(m, &score, ty));
        });
        results
    }

    /// A read (venti has no "has" message): absent is `false`, any other
    /// failure an error.
    fn has(&self, score: &Score, ty: BlockType) -> Result<bool> {
        match self.read(score, ty) {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Syncs the server, then waits for every streamed write: a write that
    /// failed fails the sync.
    fn sync(&self) -> Result<()> {
        let synced = match self.call(Request::Sync) {
            Ok(Message::Rsync) => Ok(()),
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(e),
        };
        let settled = self.shared.settle();
        settled.and(synced)
    }
}

impl Drop for VentiClient {
    fn drop(&mut self) {
        // Streamed writes are owed answers: wait for them (the watchdog
        // bounds the wait), and say if one failed, since no sync will.
        if let Err(e) = self.shared.settle() {
            warn!("venti: a write was not stored: {e}");
        }
        // Like plan9port's tools: no Tgoodbye, just close. The reader
        // thread sees the shutdown and ends; marking the connection dead
        // first keeps that quiet.
        self.shared
            .lock()
            .dead
            .get_or_insert_with(|| Arc::new(Error::ClientClosed));
        let _ = self.shared.control.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
