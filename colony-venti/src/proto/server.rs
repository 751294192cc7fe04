//! `VentiServer`: serves any [`BlockStore`] over the venti protocol with
//! tokio.
//!
//! Each connection is one task driving a sans-IO
//! [`ServerSession`](crate::proto::ServerSession) (which parses frames,
//! answers what needs no storage and hands out the rest as jobs), and
//! storage workers on tokio's blocking pool (see `jobs.rs`: a slow read
//! never stalls other requests). Replies go out in completion order,
//! whatever is ready in one socket write.
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

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::proto::jobs::{Jobs, Reply};
use crate::proto::limits::{ServerLimits, ServerStats};
use crate::proto::message::Message;
use crate::proto::server_session::{ServerEvent, ServerSession};
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

/// Resolves once the server is told to stop (or its handle is dropped).
async fn stopping(stopped: &mut watch::Receiver<bool>) {
    // An error means the handle is gone, which also means stop.
    let _ = stopped.wait_for(|s| *s).await;
}

/// Replies on their way from the storage workers to the connection.
type Outgoing = Vec<(u8, Message)>;

/// The way back to the connection. Unbounded, but what it carries is not:
/// every reply was admitted by the session's bound on replies in flight.
struct Replier {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl Reply for Replier {
    fn send_all(&self, replies: Vec<(u8, Message)>) {
        // The connection is gone only if the client is; nobody is left to tell.
        let _ = self.tx.send(replies);
    }
}

struct Connection {
    store: Arc<dyn BlockStore>,
    limits: ServerLimits,
    stats: ServerStats,
    peer: SocketAddr,
    stopped: watch::Receiver<bool>,
}

impl Connection {
    fn new(server: &VentiServer, peer: SocketAddr, stopped: watch::Receiver<bool>) -> Self {
        Connection {
            store: server.store.clone(),
            limits: server.limits.clone(),
            stats: server.stats.clone(),
            peer,
            stopped,
        }
    }

    /// Drives a [`ServerSession`] over `stream`: readiness of the socket,
    /// replies from the storage workers, the session's timer, the job
    /// queue's stall deadline and the server's stop are all that wake it.
    async fn run(mut self, stream: TcpStream) {
        if let Err(e) = stream.set_nodelay(true) {
            debug!(peer = %self.peer, "set TCP_NODELAY: {e}");
        }
        let mut session =
            ServerSession::new(&self.limits, self.stats.clone(), self.peer, Instant::now());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let jobs = Jobs::new(self.store.clone(), Replier { tx });
        let mut stop_seen = false;
        loop {
            let now = Instant::now();
            while let Some(ServerEvent::Job { tag, job }) = session.poll_event(now) {
                jobs.push(tag, job, now);
            }
            if session.is_finished() {
                break;
            }
            let timer = session.poll_timeout();
            let stall = jobs.deadline();
            let reading = session.wants_input();
            let writing = !session.transmit().is_empty();
            tokio::select! {
                r = stream.readable(), if reading => {
                    if r.is_ok() {
                        match stream.try_read(session.recv_buffer()) {
                            Ok(n) => session.received(n),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                            Err(e) => session.read_failed(&e),
                        }
                    }
                }
                r = stream.writable(), if writing => {
                    if r.is_ok() {
                        match stream.try_write(session.transmit()) {
                            Ok(n) => session.transmitted(n, Instant::now()),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                            Err(e) => session.write_failed(&e),
                        }
                    }
                }
                Some(batch) = rx.recv() => {
                    let now = Instant::now();
                    for (tag, msg) in batch.into_iter().chain(std::iter::from_fn(|| rx.try_recv().ok()).flatten()) {
                        session.reply(tag, msg, now);
                    }
                }
                _ = sleep_until(timer) => session.handle_timeout(Instant::now()),
                _ = sleep_until(stall) => jobs.check_progress(Instant::now()),
                _ = stopping(&mut self.stopped), if !stop_seen => {
                    stop_seen = true;
                    session.finish_input();
                }
            }
        }
        jobs.cancel();
        debug!(peer = %self.peer, "venti connection closed");
    }
}

/// Sleeps until `at`, or for ever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
