//! [`TlsListener`]: the accept loop every mutual-TLS service of a node
//! shares (the grid server, the cpu service, a storage node's 9P export),
//! and [`serve_frames`], the request/response loop of the two RPC ones.
//!
//! The listener bounds the connections served at once, in all and per
//! source address ([`RpcLimits`]; past a cap a connection is accepted,
//! logged and closed, so the listener never stops accepting), times out
//! slow handshakes, hands each verified connection and its peer's
//! [`Identity`] to a [`Handler`] task, and on shutdown waits for every
//! connection (each watches the stop signal and ends at its next
//! boundary).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::rpc::frame::{self, ReadFrame};
use crate::rpc::limits::{Counted, RpcLimits, Tally};

/// A server's accepted, verified connection.
pub(crate) type Conn = TlsStream<TcpStream>;

/// Serves one verified connection.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Serves `tls` from `peer` (the client certificate's identity) until
    /// it ends or `stopped` changes.
    fn serve(
        self: Arc<Self>,
        tls: Conn,
        peer: Identity,
        stopped: watch::Receiver<bool>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// A running listener. Dropping it stops accepting without waiting.
pub(crate) struct TlsListener {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TlsListener {
    /// Binds `addr` and serves every connection that completes the
    /// `tls` handshake with `handler`, within `limits`. `what` names the
    /// service in logs.
    pub async fn bind<H: Handler>(
        addr: &str,
        tls: Arc<rustls::ServerConfig>,
        handler: H,
        what: &'static str,
        limits: &RpcLimits,
    ) -> Result<TlsListener> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Connection {
                addr: addr.to_string(),
                reason: format!("bind: {e}"),
            })?;
        let local = listener.local_addr().map_err(Error::io("bind", addr))?;
        let (stop, stopped) = watch::channel(false);
        let accept = Accept {
            handler: Arc::new(handler),
            acceptor: TlsAcceptor::from(tls),
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            max: limits.max_connections,
            per_address: Tally::new(limits.max_per_address),
            handshake: limits.handshake_timeout,
            what,
        };
        let task = tokio::spawn(accept.run(listener, stopped));
        tracing::info!(addr = %local, "{what} listening");
        Ok(TlsListener {
            addr: local,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits until those open have ended.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Accept<H> {
    handler: Arc<H>,
    acceptor: TlsAcceptor,
    /// One permit per connection served.
    slots: Arc<Semaphore>,
    max: usize,
    per_address: Arc<Tally<IpAddr>>,
    handshake: Duration,
    what: &'static str,
}

impl<H: Handler> Accept<H> {
    async fn run(self, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
        let what = self.what;
        loop {
            let (tcp, peer) = tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("{what} accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // Accept and close past a cap: the queue keeps draining, so a
            // flood costs a descriptor for a moment, never a stalled accept.
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                self.refuse(peer, what.to_string(), self.max);
                continue;
            };
            let Some(counted) = self.per_address.take(peer.ip()) else {
                let scope = format!("address {}", peer.ip());
                self.refuse(peer, scope, self.per_address.max());
                continue;
            };
            let (handler, acceptor, stopped) =
                (self.handler.clone(), self.acceptor.clone(), stopped.clone());
            let handshake = self.handshake;
            tokio::spawn(async move {
                let served = connection(handler, acceptor, tcp, handshake, counted, stopped);
                if let Err(e) = served.await {
                    tracing::info!(%peer, "{what} connection: {e}");
                }
                drop(slot);
            });
        }
        // Every connection ends at its next boundary.
        let _ = self.slots.acquire_many(self.max as u32).await;
    }

    /// Logs a connection closed at once (dropping it closes it).
    fn refuse(&self, peer: SocketAddr, scope: String, max: usize) {
        let e = Error::TooManyConnections { scope, max };
        tracing::warn!(%peer, "{}: {e}", self.what);
    }
}

async fn connection<H: Handler>(
    handler: Arc<H>,
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    handshake: Duration,
    counted: Counted<IpAddr>,
    stopped: watch::Receiver<bool>,
) -> Result<()> {
    let peer = tcp
        .peer_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string());
    let conn_err = |reason: String| Error::Connection {
        addr: peer.clone(),
        reason,
    };
    tcp.set_nodelay(true).map_err(|e| conn_err(e.to_string()))?;
    let tls = tokio::time::timeout(handshake, acceptor.accept(tcp))
        .await
        .map_err(|_| conn_err(format!("TLS handshake not done within {handshake:?}")))?
        .map_err(|e| conn_err(format!("TLS handshake: {e}")))?;
    let identity = Identity::of_peer(tls.get_ref().1)?;
    // A grid node is trusted with as many connections as it needs (a cpu
    // node holds one per environment); users stay counted by address.
    let _counted = match identity {
        Identity::Node(_) => {
            drop(counted);
            None
        }
        Identity::User(_) => Some(counted),
    };
    handler.serve(tls, identity, stopped).await
}

/// Serves requests of type `Req` on `tls`, one [`Resp`] each from
/// `answer`, until the client closes, sends no request for `idle`, or
/// `stopped` changes. A frame that does not decode is answered with
/// `error(why)` and the connection goes on; an over-long one gets the
/// error and the connection is closed, since its body cannot be skipped
/// safely.
pub(crate) async fn serve_frames<Req, Resp, F, Fut>(
    tls: &mut Conn,
    mut stopped: watch::Receiver<bool>,
    idle: Option<Duration>,
    error: fn(String) -> Resp,
    mut answer: F,
) -> std::io::Result<()>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Resp>,
{
    loop {
        let read = tokio::select! {
            // Dropping a half-read frame is fine: the server is closing.
            _ = stopped.changed() => return tls.shutdown().await,
            read = frame::read(tls, frame::MAX_REQUEST) => read?,
            _ = sleep_or_never(idle) => {
                // The client redials when it needs us again.
                tracing::info!("closing a connection idle for {:?}", idle.unwrap_or_default());
                return tls.shutdown().await;
            }
        };
        let response = match read {
            ReadFrame::End => return Ok(()),
            ReadFrame::TooLong(len) => {
                let e = Error::FrameTooLong {
                    len,
                    max: frame::MAX_REQUEST,
                };
                send(tls, &error(e.to_string()), error).await?;
                return tls.shutdown().await;
            }
            ReadFrame::Frame(bytes) => {
                match frame::decode_body::<Req>(&bytes, frame::MAX_REQUEST) {
                    Ok(request) => answer(request).await,
                    Err(e) => {
                        tracing::info!("bad request frame: {e}");
                        error(e.to_string())
                    }
                }
            }
        };
        send(tls, &response, error).await?;
    }
}

/// Sleeps for `d`; never without it.
async fn sleep_or_never(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Whom a peer speaks for, `asker`, when it is let in; otherwise tells
/// the peer why (as `error`), closes the connection and returns the
/// refusal.
pub(crate) async fn admit<A, Resp: Serialize>(
    tls: &mut Conn,
    asker: Result<A>,
    error: fn(String) -> Resp,
) -> Result<A> {
    if let Err(e) = &asker {
        let _ = send(tls, &error(e.to_string()), error).await;
        let _ = tls.shutdown().await;
    }
    asker
}

/// Writes one response; one over the cap becomes `error` saying so.
async fn send<Resp: Serialize>(
    tls: &mut Conn,
    response: &Resp,
    error: fn(String) -> Resp,
) -> std::io::Result<()> {
    let bytes = match frame::encode(response, frame::MAX_RESPONSE) {
        Ok(b) => b,
        // Only an answer over the cap (an enormous `scores`) can fail.
        Err(e) => frame::encode(
            &error(format!("the answer is too large to send: {e}")),
            frame::MAX_RESPONSE,
        )
        .map_err(std::io::Error::other)?,
    };
    frame::write(tls, &bytes).await
}
