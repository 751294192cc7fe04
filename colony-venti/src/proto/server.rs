//! `VentiServer`: serves any [`BlockStore`] over the venti protocol with
//! tokio.
//!
//! Each connection has a reader (the task that parses frames, answers
//! what needs no storage and queues the rest), storage workers on tokio's
//! blocking pool (see `jobs.rs`: a slow read never stalls other requests),
//! and a writer task that sends replies in completion order, batching
//! whatever is ready into one socket write.
//!
//! Behaviour follows plan9port's venti server (venti-formats.md §3.7) with
//! these deliberate differences:
//! * `Tping` gets `Rping` (plan9port answers `Rerror "unknown request"`);
//! * Tread of [`Score::EMPTY`](crate::Score::EMPTY) gets an empty `Rread`,
//!   like [`Score::NONE`](crate::Score::NONE);
//! * invalid wire types get `Rerror` (plan9port stores them as corrupt
//!   clumps);
//! * a message that does not parse gets `Rerror` with its tag (plan9port
//!   drops it silently and the client hangs);
//! * replies may come out of order (tags match them up), since requests
//!   run concurrently;
//! * a frame longer than [`MAX_FRAME_04`](crate::proto::MAX_FRAME_04), a
//!   frame too short to hold a tag, or a tag already in flight closes the
//!   connection: the stream, or the tag, can no longer be trusted.
//!
//! So that bad clients cannot starve good ones ([`ServerLimits`]): a
//! connection past the cap is accepted, logged and closed; a client that
//! does not finish its handshake in time is dropped; a tag stays taken
//! until its reply is written, and the bytes of replies in flight are
//! bounded per connection — at the bound the server stops reading that
//! connection (see `flight.rs`).

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::proto::flight::{Admit, Flight, reply_bound};
use crate::proto::frame::{FrameBuffer, encode_frame};
use crate::proto::jobs::{Job, Jobs, Reply, rerror};
use crate::proto::limits::{ServerLimits, ServerStats};
use crate::proto::message::{Message, Rhello};
use crate::proto::version::{VERSION_LINE, Version};
use crate::store::BlockStore;

/// A venti server over a shared block store.
#[derive(Clone)]
pub struct VentiServer {
    store: Arc<dyn BlockStore>,
    limits: ServerLimits,
    stats: ServerStats,
}

/// A running server started by [`VentiServer::bind`] or
/// [`VentiServer::spawn`]. Dropping it stops the server as
/// [`ServerHandle::shutdown`] does, without waiting.
pub struct ServerHandle {
    local_addr: SocketAddr,
    stats: ServerStats,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's live counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Stops accepting, lets every connection finish the requests it has
    /// read (their replies are sent), closes the connections, and waits.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            warn!("venti server task failed: {e}");
        }
    }
}

impl VentiServer {
    /// A server for `store` with the default [`ServerLimits`].
    pub fn new(store: Arc<dyn BlockStore>) -> VentiServer {
        VentiServer::with_limits(store, ServerLimits::default())
    }

    /// A server for `store` with `limits`.
    pub fn with_limits(store: Arc<dyn BlockStore>, limits: ServerLimits) -> VentiServer {
        VentiServer {
            store,
            limits,
            stats: ServerStats::default(),
        }
    }

    /// The server's live counters (shared by every copy of it).
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Listens on `addr` (port 0 picks a free port) and serves in a new task.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use colony_venti::{MemStore, proto::VentiServer};
    /// let server = VentiServer::bind("127.0.0.1:0", Arc::new(MemStore::new())).await.unwrap();
    /// assert_ne!(server.local_addr().port(), 0);
    /// server.shutdown().await;
    /// # });
    /// ```
    pub async fn bind(
        addr: impl ToSocketAddrs,
        store: Arc<dyn BlockStore>,
    ) -> Result<ServerHandle> {
        VentiServer::new(store).listen(addr).await
    }

    /// Listens on `addr` and serves in a new task, with this server's limits.
    pub async fn listen(self, addr: impl ToSocketAddrs) -> Result<ServerHandle> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Net { op: "bind", source })?;
        self.spawn(listener)
    }

    /// Serves `listener` in a new task on the current runtime.
    pub fn spawn(self, listener: TcpListener) -> Result<ServerHandle> {
        let local_addr = listener.local_addr().map_err(|source| Error::Net {
            op: "local address",
            source,
        })?;
        let (stop, stopped) = watch::channel(false);
        let stats = self.stats.clone();
        let task = tokio::spawn(self.run(listener, stopped));
        Ok(ServerHandle {
            local_addr,
            stats,
            stop,
            task,
        })
    }

    /// Serves `listener` until the future is dropped.
    pub async fn serve(self, listener: TcpListener) {
        let (_stop, stopped) = watch::channel(false);
        self.run(listener, stopped).await
    }

    async fn run(self, listener: TcpListener, stopped: watch::Receiver<bool>) {
        let mut conns = JoinSet::new();
        let mut stop = stopped.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        while conns.try_join_next().is_some() {}
                        if conns.len() >= self.limits.max_connections {
                            // Accept and close: the listener keeps draining
                            // its queue, so clients are told at once.
                            self.stats.refuse();
                            let e = Error::TooManyConnections {
                                open: conns.len(),
                                max: self.limits.max_connections,
                            };
                            warn!(%peer, "{e}");
                            drop(stream);
                            continue;
                        }
                        debug!(%peer, "venti connection");
                        let conn = Connection::new(&self, peer, stopped.clone());
                        let stats = self.stats.clone();
                        stats.opened();
                        conns.spawn(async move {
                            conn.run(stream).await;
                            stats.closed();
                        });
                    }
                    Err(e) => {
                        // Out of descriptors and the like: back off, keep serving.
                        warn!("venti accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                _ = stopping(&mut stop) => break,
            }
            while conns.try_join_next().is_some() {}
        }
        drop(listener);
        while conns.join_next().await.is_some() {}
    }
}

/// How often a connection checks that its storage jobs progress.
const PROGRESS_TICK: std::time::Duration = std::time::Duration::from_millis(1);

/// Resolves once the server is told to stop (or its handle is dropped).
async fn stopping(stopped: &mut watch::Receiver<bool>) {
    // An error means the handle is gone, which also means stop.
    let _ = stopped.wait_for(|s| *s).await;
}

/// Replies on their way to the writer task: (tag, message) in order.
type Outgoing = Vec<(u8, Message)>;

/// The way back to the client. Unbounded, but what it carries is not:
/// every reply was admitted by the connection's [`Flight`].
#[derive(Clone)]
struct Replier {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl Reply for Replier {
    fn send_all(&self, replies: Vec<(u8, Message)>) {
        // The writer is gone only if the client is; nobody is left to tell.
        let _ = self.tx.send(replies);
    }
}

/// A request frame, parsed: its tag and message (or why it does not parse).
struct Request {
    tag: u8,
    kind: u8,
    msg: Result<Message>,
}

struct Connection {
    store: Arc<dyn BlockStore>,
    limits: ServerLimits,
    stats: ServerStats,
    peer: SocketAddr,
    stopped: watch::Receiver<bool>,
    buf: FrameBuffer,
}

impl Connection {
    fn new(server: &VentiServer, peer: SocketAddr, stopped: watch::Receiver<bool>) -> Self {
        Connection {
            store: server.store.clone(),
            limits: server.limits.clone(),
            stats: server.stats.clone(),
            peer,
            stopped,
            buf: FrameBuffer::new(),
        }
    }

    async fn run(mut self, stream: TcpStream) {
        if let Err(e) = stream.set_nodelay(true) {
            debug!(peer = %self.peer, "set TCP_NODELAY: {e}");
        }
        let (mut rd, mut wr) = stream.into_split();
        let timeout = self.limits.handshake_timeout;
        let handshake = async {
            // Our line goes first, without waiting for the client's.
            if let Err(e) = wr.write_all(VERSION_LINE).await {
                debug!(peer = %self.peer, "venti: sending version line: {e}");
                return None;
            }
            self.handshake(&mut rd, &mut wr).await
        };
        let version = match tokio::time::timeout(timeout, handshake).await {
            Ok(Some(version)) => version,
            Ok(None) => return,
            Err(_) => {
                warn!(peer = %self.peer, "{}", Error::HandshakeTimeout(timeout));
                return;
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let flight = Arc::new(Flight::new(self.limits.max_reply_bytes, self.stats.clone()));
        let out = Out {
            wr,
            version,
            peer: self.peer,
            timeout: self.limits.write_timeout,
        };
        let writer = tokio::spawn(write_replies(out, rx, flight.clone()));
        let jobs = Jobs::new(self.store.clone(), Replier { tx });
        self.serve_requests(&mut rd, version, &jobs, &flight).await;
        // Jobs already read still run and are answered.
        while jobs.backlog() {
            tokio::time::sleep(PROGRESS_TICK).await;
            jobs.check_progress();
        }
        // Workers hold the queue (and its sender); the writer ends after the last reply.
        drop(jobs);
        if let Err(e) = writer.await {
            warn!(peer = %self.peer, "venti writer task failed: {e}");
        }
        debug!(peer = %self.peer, "venti connection closed");
    }

    /// Reads more bytes; false at EOF, on error, or when the server stops.
    /// While storage jobs wait, checks every tick that they progress.
    async fn fill(&mut self, rd: &mut OwnedReadHalf, jobs: Option<&Arc<Jobs<Replier>>>) -> bool {
        loop {
            let backlog = jobs.filter(|j| j.backlog());
            tokio::select! {
                n = rd.read(self.buf.spare()) => return self.got(n),
                _ = stopping(&mut self.stopped) => {
                    debug!(peer = %self.peer, "venti server stopping; closing connection");
                    return false;
                }
                _ = tokio::time::sleep(PROGRESS_TICK), if backlog.is_some() => {
                    if let Some(jobs) = backlog {
                        jobs.check_progress();
                    }
                }
            }
        }
    }

    /// Accounts for a read from the socket; false at EOF or error.
    fn got(&mut self, n: std::io::Result<usize>) -> bool {
        match n {
            Ok(0) => {
                if self.buf.pending().is_empty() {
                    debug!(peer = %self.peer, "venti client closed the connection");
                } else {
                    warn!(peer = %self.peer, pending = self.buf.pending().len(),
                              "venti client vanished in the middle of a message");
                }
                false
            }
            Ok(n) => {
                self.buf.filled(n);
                true
            }
            Err(e) => {
                warn!(peer = %self.peer, "venti read: {e}");
                false
            }
        }
    }

    /// Version lines and Thello. `None` closes the connection without a
    /// reply, as plan9port does for any failure here.
    async fn handshake(
        &mut self,
        rd: &mut OwnedReadHalf,
        wr: &mut OwnedWriteHalf,
    ) -> Option<Version> {
        let line = loop {
            match self.buf.take_line() {
                Ok(Some(line)) => break line,
                Ok(None) if self.fill(rd, None).await => {}
                Ok(None) => return None,
                Err(e) => {
                    warn!(peer = %self.peer, "venti: {e}");
                    return None;
                }
            }
        };
        let version = match Version::negotiate(&line) {
            Ok(v) => v,
            Err(e) => {
                warn!(peer = %self.peer, "venti: {e}");
                return None;
            }
        };
        let hello = loop {
            match self.buf.next_frame(version).map(|f| f.map(Message::decode)) {
                Ok(Some(hello)) => break hello,
                Ok(None) if self.fill(rd, None).await => {}
                Ok(None) => return None,
                Err(e) => {
                    warn!(peer = %self.peer, "venti hello: {e}");
                    return None;
                }
            }
        };
        match hello {
            Ok((0, Message::Thello(h))) if h.version == version.token() => {
                debug!(peer = %self.peer, uid = %h.uid, %version, "venti hello");
            }
            Ok((tag, Message::Thello(h))) => {
                warn!(peer = %self.peer, tag, version = %h.version, negotiated = %version,
                      "venti: bad hello (tag must be 0, version the negotiated one); closing");
                return None;
            }
            Ok((tag, msg)) => {
                warn!(peer = %self.peer, tag, kind = msg.kind(),
                      "venti: first message is not Thello; closing");
                return None;
            }
            Err(e) => {
                warn!(peer = %self.peer, "venti hello: {e}; closing");
                return None;
            }
        }
        let rhello = Message::Rhello(Rhello {
            sid: "anonymous".into(),
            rcrypto: 0,
            rcodec: 0,
        });
        let mut out = Vec::new();
        encode_frame(version, 0, &rhello, &mut out).expect("Rhello fits any frame");
        if let Err(e) = wr.write_all(&out).await {
            debug!(peer = %self.peer, "venti: sending Rhello: {e}");
            return None;
        }
        Some(version)
    }

    async fn serve_requests(
        &mut self,
        rd: &mut OwnedReadHalf,
        version: Version,
        jobs: &Arc<Jobs<Replier>>,
        flight: &Flight,
    ) {
        loop {
            loop {
                let request = match self.buf.next_frame(version) {
                    Ok(Some(body)) => parse(body),
                    Ok(None) => break,
                    Err(e) => {
                        warn!(peer = %self.peer, "venti: {e}; closing");
                        return;
                    }
                };
                let Some(request) = request else {
                    warn!(peer = %self.peer, "venti: frame too short for a type and tag; closing");
                    return;
                };
                if matches!(request.msg, Ok(Message::Tgoodbye)) {
                    debug!(peer = %self.peer, "venti goodbye");
                    return;
                }
                let bound = reply_bound(request.msg.as_ref().ok());
                if !self.admit(jobs, flight, request.tag, bound).await {
                    return;
                }
                dispatch(jobs, self.peer, request);
            }
            if !self.fill(rd, Some(jobs)).await {
                return;
            }
        }
    }

    /// Takes the tag and `bytes` for a request, waiting (without reading
    /// more) while the connection's replies in flight are at the bound.
    /// False closes the connection.
    async fn admit(
        &mut self,
        jobs: &Arc<Jobs<Replier>>,
        flight: &Flight,
        tag: u8,
        bytes: usize,
    ) -> bool {
        loop {
            let mut written = pin!(flight.written());
            written.as_mut().enable();
            match flight.admit(tag, bytes) {
                Admit::Admitted => return true,
                Admit::Reused => {
                    warn!(peer = %self.peer, "{}", Error::TagInFlight(tag));
                    return false;
                }
                Admit::Closed => return false,
                Admit::Wait => {}
            }
            // Held replies must still go out, and stalled jobs get workers.
            let backlog = jobs.backlog();
            tokio::select! {
                _ = written => {}
                _ = stopping(&mut self.stopped) => return false,
                _ = tokio::time::sleep(PROGRESS_TICK), if backlog => jobs.check_progress(),
            }
        }
    }
}

/// Splits a request frame into tag and message; `None` if too short to
/// hold a type and a tag.
fn parse(body: &[u8]) -> Option<Request> {
    let [kind, tag, ..] = *body else {
        return None;
    };
    Some(Request {
        tag,
        kind,
        msg: Message::decode(body).map(|(_, msg)| msg),
    })
}

/// Starts the work for one admitted request.
fn dispatch(jobs: &Arc<Jobs<Replier>>, peer: SocketAddr, request: Request) {
    let replier = jobs.reply();
    let Request { tag, kind, msg } = request;
    let msg = match msg {
        Ok(msg) => msg,
        Err(e) => {
            warn!(%peer, tag, kind, "venti: {e}");
            return replier.send(tag, rerror(e.to_string()));
        }
    };
    match msg {
        Message::Tread(req) => jobs.push(tag, Job::Read(req)),
        Message::Twrite(req) => jobs.push(tag, Job::Write(req)),
        Message::Tsync => jobs.push(tag, Job::Sync),
        Message::Tping => replier.send(tag, Message::Rping),
        other => {
            warn!(%peer, tag, kind = other.kind(), "venti: unknown request");
            replier.send(tag, rerror("unknown request".into()));
        }
    }
}

/// Where a connection's replies go.
struct Out {
    wr: OwnedWriteHalf,
    version: Version,
    peer: SocketAddr,
    /// The longest a write may make no progress.
    timeout: std::time::Duration,
}

/// Sends replies as they complete, everything ready in one write; frees
/// their tags and bytes once written.
async fn write_replies(out: Out, mut rx: mpsc::UnboundedReceiver<Outgoing>, flight: Arc<Flight>) {
    let Out {
        mut wr,
        version,
        peer,
        timeout,
    } = out;
    let mut out = Vec::with_capacity(256 * 1024);
    let mut tags = Vec::with_capacity(256);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(replies) = next {
            for (tag, msg) in replies {
                tags.push(tag);
                if let Err(e) = encode_frame(version, tag, &msg, &mut out) {
                    warn!(%peer, tag, "venti: reply does not fit a frame: {e}");
                    encode_frame(version, tag, &rerror(e.to_string()), &mut out)
                        .expect("short Rerror fits any frame");
                }
            }
            next = if out.len() < 256 * 1024 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        flight.writing(&tags);
        match tokio::time::timeout(timeout, wr.write_all(&out)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(%peer, "venti write: {e}");
                flight.close();
                return;
            }
            Err(_) => {
                warn!(%peer, "{}", Error::WriteTimeout(timeout));
                flight.close();
                return;
            }
        }
        flight.wrote(&tags);
        tags.clear();
        out.clear();
    }
    flight.close();
    let _ = wr.shutdown().await;
    debug!(%peer, "venti replies done");
}
