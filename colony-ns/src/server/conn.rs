//! One connection: framing, version negotiation, concurrent requests with
//! tags, flush, and cleaning up whatever the client leaves behind.
//!
//! Every reply, Rerror and Rflush included, holds one of the connection's
//! [`ServerConfig::max_inflight`](crate::ServerConfig) permits until it is
//! written: when they run out the reader stops reading, so a client that
//! does not read its replies stalls only itself.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::ninep::{
    Fcall, Message, Rerror, Rflush, Rversion, Tversion, VERSION, VERSION_UNKNOWN, encode_frame,
    frame_tag, linux::VERSION_LINUX, read_frame,
};
use crate::server::Shared;
use crate::server::fid::FidTable;
use crate::server::ops::Ops;

/// The smallest msize granted: room for the I/O header and a useful payload.
pub(crate) const MIN_MSIZE: u32 = 256;

/// A reply's bytes, with the in-flight permit it frees once written.
type Outgoing = (Vec<u8>, OwnedSemaphorePermit);

/// Requests not yet answered: tag -> a receiver that sees its sender
/// dropped once the reply is queued.
type Inflight = Arc<Mutex<HashMap<u16, watch::Receiver<()>>>>;

fn lock_inflight(inflight: &Inflight) -> MutexGuard<'_, HashMap<u16, watch::Receiver<()>>> {
    inflight.lock().unwrap_or_else(|p| p.into_inner())
}

/// Encodes a reply within msize; a reply that cannot be encoded becomes an
/// Rerror saying why (the client must get an answer to its tag).
fn encode_reply(tag: u16, msg: Message, msize: u32) -> Vec<u8> {
    encode_frame(&Fcall::new(tag, msg), msize).unwrap_or_else(|e| {
        Fcall::new(
            tag,
            Rerror {
                ename: e.to_string(),
            },
        )
        .encode()
        .unwrap_or_default()
    })
}

fn error_reply(e: &Error) -> Message {
    Rerror {
        ename: e.to_string(),
    }
    .into()
}

struct Conn {
    shared: Arc<Shared>,
    fids: Arc<FidTable>,
    /// Negotiated msize; 0 until a Tversion succeeds.
    msize: u32,
    /// 9P2000.colony was agreed.
    linux: bool,
    inflight: Inflight,
    tx: mpsc::UnboundedSender<Outgoing>,
    tasks: JoinSet<()>,
    permits: Arc<Semaphore>,
    /// The latest flush of each old tag, so several flushes of one request
    /// are answered in the order they came.
    last_flush: HashMap<u16, watch::Receiver<()>>,
    /// Sees its sender dropped when the writer ends: nothing more can be
    /// answered, so the reader stops too.
    writer_gone: watch::Receiver<()>,
}

/// Serves a connection until EOF, a framing error, or `stop` turning true.
pub(crate) async fn serve<S>(
    shared: Arc<Shared>,
    stream: S,
    stop: Option<watch::Receiver<bool>>,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    let (writer_alive, writer_gone) = watch::channel(());
    let write_timeout = shared.config.write_timeout;
    let writer = tokio::spawn(async move {
        write_replies(wr, rx, write_timeout).await;
        drop(writer_alive);
    });
    let mut conn = Conn {
        permits: Arc::new(Semaphore::new(shared.config.max_inflight.max(1))),
        fids: Arc::new(FidTable::new(shared.config.max_fids)),
        shared,
        msize: 0,
        linux: false,
        inflight: Arc::default(),
        tx,
        tasks: JoinSet::new(),
        last_flush: HashMap::new(),
        writer_gone,
    };
    let result = conn.read_loop(rd, stop).await;
    conn.finish().await;
    drop(conn);
    let _ = writer.await;
    result
}

/// Writes replies in order until the connection ends, or until one makes
/// no progress for `timeout` (the client stopped reading).
async fn write_replies<W: AsyncWrite>(
    mut wr: WriteHalf<W>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    timeout: Duration,
) {
    while let Some((bytes, permit)) = rx.recv().await {
        match tokio::time::timeout(timeout, wr.write_all(&bytes)).await {
            Ok(Ok(())) => drop(permit),
            // The client is gone; the reader sees it too.
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::warn!("9p: {}; closing", Error::WriteTimeout(timeout));
                return;
            }
        }
    }
    let _ = wr.shutdown().await;
}

/// Resolves at `deadline`; never without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Resolves when `stop` turns true; never without a stop signal.
async fn stopped(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(rx) => {
            // A dropped sender means the handle is gone: stop too.
            let _ = rx.wait_for(|s| *s).await;
        }
        None => std::future::pending().await,
    }
}

impl Conn {
    async fn read_loop<S: AsyncRead>(
        &mut self,
        mut rd: ReadHalf<S>,
        mut stop: Option<watch::Receiver<bool>>,
    ) -> Result<()> {
        let handshake = self.shared.config.handshake_timeout;
        let mut handshake_until = Instant::now() + handshake;
        let mut last_frame = Instant::now();
        loop {
            let limit = self.reply_limit();
            // Kept across timer checks: a frame may be half read.
            let mut read = pin!(read_frame(&mut rd, limit));
            let frame = loop {
                let (deadline, timeout) = self.deadline(handshake_until, last_frame);
                tokio::select! {
                    _ = stopped(&mut stop) => return Ok(()),
                    _ = self.writer_gone.changed() => return Ok(()),
                    frame = &mut read => break frame?,
                    _ = sleep_until(deadline) => {
                        while self.tasks.try_join_next().is_some() {}
                        if self.msize != 0 && self.busy() {
                            // Not idle: a request is still running.
                            last_frame = Instant::now();
                            continue;
                        }
                        let e = timeout.expect("a deadline comes with its error");
                        tracing::warn!("9p: {e}");
                        return Err(e);
                    }
                }
            };
            last_frame = Instant::now();
            let Some(frame) = frame else { return Ok(()) };
            // Waiting for a permit (the client not reading its replies)
            // must not hold up a server shutdown.
            let mut writer_gone = self.writer_gone.clone();
            let had_version = self.msize != 0;
            tokio::select! {
                _ = stopped(&mut stop) => return Ok(()),
                _ = writer_gone.changed() => return Ok(()),
                _ = self.dispatch(frame) => {}
            }
            if had_version && self.msize == 0 {
                // A Tversion that failed ended the session: a new one is
                // due within the handshake time from now.
                handshake_until = Instant::now() + handshake;
            }
            while self.tasks.try_join_next().is_some() {}
        }
    }

    /// Whether requests run or flushes wait.
    fn busy(&self) -> bool {
        !self.tasks.is_empty() || !lock_inflight(&self.inflight).is_empty()
    }

    /// When the next frame must have arrived, and the error if it has not:
    /// the handshake deadline until a version is agreed, then the idle
    /// timeout (checked again, not enforced, while requests run).
    fn deadline(
        &self,
        handshake_until: Instant,
        last_frame: Instant,
    ) -> (Option<Instant>, Option<Error>) {
        let config = &self.shared.config;
        if self.msize == 0 {
            let e = Error::HandshakeTimeout(config.handshake_timeout);
            return (Some(handshake_until), Some(e));
        }
        match config.idle_timeout {
            Some(idle) => (Some(last_frame + idle), Some(Error::IdleTimeout(idle))),
            None => (None, None),
        }
    }

    /// The msize replies are held to.
    fn reply_limit(&self) -> u32 {
        if self.msize == 0 {
            self.shared.config.msize
        } else {
            self.msize
        }
    }

    /// A permit for one more reply, waiting while the client has
    /// `max_inflight` of them unwritten. `None` only if the connection is
    /// being torn down.
    async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Queues a reply the connection itself gives (not a file-system one).
    async fn reply(&self, tag: u16, msg: Message) {
        let Some(permit) = self.permit().await else {
            return;
        };
        let _ = self
            .tx
            .send((encode_reply(tag, msg, self.reply_limit()), permit));
    }

    async fn dispatch(&mut self, frame: Vec<u8>) {
        let fcall = match Fcall::decode(&frame) {
            Ok(f) => f,
            Err(e) => {
                // The framing held, so the stream is still in step: answer
                // the undecodable message and carry on.
                if let Some(tag) = frame_tag(&frame) {
                    self.reply(tag, error_reply(&e)).await;
                }
                return;
            }
        };
        match fcall.msg {
            Message::Tversion(v) => self.version(fcall.tag, v).await,
            Message::Tflush(f) => self.flush(fcall.tag, f.oldtag).await,
            msg => self.request(fcall.tag, msg).await,
        }
    }

    /// Tversion: end the old session (wait for its requests, clunk its
    /// fids), then agree on msize and version.
    async fn version(&mut self, tag: u16, v: Tversion) {
        self.finish().await;
        self.msize = 0;
        let msize = v.msize.min(self.shared.config.msize);
        if msize < MIN_MSIZE {
            return self.reply(tag, error_reply(&Error::MsizeTooSmall)).await;
        }
        // "9P2000.u" and the like may be answered with plain "9P2000".
        let known = v.version == VERSION
            || v.version
                .strip_prefix(VERSION)
                .is_some_and(|r| r.starts_with('.'));
        self.linux = self.shared.config.linux && v.version == VERSION_LINUX;
        let version = if self.linux {
            VERSION_LINUX
        } else if known {
            VERSION
        } else {
            VERSION_UNKNOWN
        };
        if version != VERSION_UNKNOWN {
            self.msize = msize;
        }
        self.reply(
            tag,
            Rversion {
                msize,
                version: version.into(),
            }
            .into(),
        )
        .await;
    }

    /// Tflush: answered once the old request's reply is queued (so that
    /// reply, if any, comes first), or at once if it is not outstanding.
    async fn flush(&mut self, tag: u16, oldtag: u16) {
        let pending = lock_inflight(&self.inflight).get(&oldtag).cloned();
        let Some(mut request_done) = pending else {
            self.last_flush.remove(&oldtag);
            return self.reply(tag, Rflush {}.into()).await;
        };
        // The Rflush's permit is taken now, so flushes pile up no faster
        // than other replies.
        let Some(permit) = self.permit().await else {
            return;
        };
        let (flushed, flush_done) = watch::channel(());
        let earlier = self.last_flush.insert(oldtag, flush_done);
        let (tx, limit) = (self.tx.clone(), self.reply_limit());
        self.tasks.spawn(async move {
            // Each errs when its sender is dropped: the request's once its
            // reply is queued, an earlier flush's once its Rflush is.
            let _ = request_done.changed().await;
            if let Some(mut earlier) = earlier {
                let _ = earlier.changed().await;
            }
            let _ = tx.send((encode_reply(tag, Rflush {}.into(), limit), permit));
            drop(flushed);
        });
    }

    async fn request(&mut self, tag: u16, msg: Message) {
        if self.msize == 0 {
            return self.reply(tag, error_reply(&Error::NoVersion)).await;
        }
        let (done_tx, done_rx) = watch::channel(());
        let duplicate = {
            let mut inflight = lock_inflight(&self.inflight);
            let duplicate = inflight.contains_key(&tag);
            if !duplicate {
                inflight.insert(tag, done_rx);
            }
            duplicate
        };
        if duplicate {
            return self.reply(tag, error_reply(&Error::DuplicateTag)).await;
        }
        // Bounded concurrency: wait here (and stop reading) when the client
        // has too many requests or unwritten replies outstanding.
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        let (shared, fids, msize) = (self.shared.clone(), self.fids.clone(), self.msize);
        let (inflight, tx, linux) = (self.inflight.clone(), self.tx.clone(), self.linux);
        // The file system is synchronous: the whole request runs on a
        // blocking thread, which also queues the reply.
        self.tasks.spawn_blocking(move || {
            let ops = Ops {
                shared: &shared,
                fids: &fids,
                msize,
                linux,
            };
            // A panic in a file system must still answer the tag.
            let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ops.handle(msg)))
                .unwrap_or_else(|_| Err(Error::Other("internal error".into())));
            let reply = answer.unwrap_or_else(|e| error_reply(&e));
            let bytes = encode_reply(tag, reply, msize);
            {
                // Retire the tag and queue the reply in one step, so a flush
                // either sees the request outstanding or its reply queued.
                let mut inflight = lock_inflight(&inflight);
                inflight.remove(&tag);
                let _ = tx.send((bytes, permit));
            }
            drop(done_tx);
        });
    }

    /// Waits for every request, then clunks every fid (dropping exclusive
    /// locks, removing ORCLOSE files).
    async fn finish(&mut self) {
        while self.tasks.join_next().await.is_some() {}
        let (shared, fids, msize) = (self.shared.clone(), self.fids.clone(), self.msize);
        let linux = self.linux;
        let _ = tokio::task::spawn_blocking(move || {
            let ops = Ops {
                shared: &shared,
                fids: &fids,
                msize,
                linux,
            };
            for fid in fids.drain() {
                if let Err(e) = ops.release(&fid) {
                    tracing::debug!("9p: clunk at end of session: {e}");
                }
            }
        })
        .await;
    }
}
