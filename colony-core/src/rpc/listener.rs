//! [`TlsListener`]: the accept loop every mutual-TLS service of a node
//! shares (the grid server, the cpu service, a storage node's 9P export),
//! and [`serve_frames`], the request/response loop of the two RPC ones.
//!
//! The listener bounds the connections served at once, times out slow
//! handshakes, hands each verified connection and its peer's [`Identity`]
//! to a [`Handler`] task, and on shutdown waits for every connection
//! (each watches the stop signal and ends at its next boundary).

use std::future::Future;
use std::net::SocketAddr;
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

/// How long a client may take over the TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 256;

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
    /// `tls` handshake with `handler`. `what` names the service in logs.
    pub async fn bind<H: Handler>(
        addr: &str,
        tls: Arc<rustls::ServerConfig>,
        handler: H,
        what: &'static str,
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
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
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
    slots: Arc<Semaphore>,
    what: &'static str,
}

impl<H: Handler> Accept<H> {
    async fn run(self, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
        let what = self.what;
        loop {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
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
            let (handler, acceptor, stopped) =
                (self.handler.clone(), self.acceptor.clone(), stopped.clone());
            tokio::spawn(async move {
                if let Err(e) = connection(handler, acceptor, tcp, stopped).await {
                    tracing::info!(%peer, "{what} connection: {e}");
                }
                drop(slot);
            });
        }
        // Every connection ends at its next boundary.
        let _ = self.slots.acquire_many(MAX_CONNECTIONS as u32).await;
    }
}

async fn connection<H: Handler>(
    handler: Arc<H>,
    acceptor: TlsAcceptor,
    tcp: TcpStream,
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
    let tls = tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp))
        .await
        .map_err(|_| conn_err("TLS handshake timed out".into()))?
        .map_err(|e| conn_err(format!("TLS handshake: {e}")))?;
    let identity = Identity::of_peer(tls.get_ref().1)?;
    handler.serve(tls, identity, stopped).await
}

/// Serves requests of type `Req` on `tls`, one [`Resp`] each from
/// `answer`, until the client closes or `stopped` changes. A frame that
/// does not decode is answered with `error(why)` and the connection goes
/// on; an over-long one gets the error and the connection is closed,
/// since its body cannot be skipped safely.
pub(crate) async fn serve_frames<Req, Resp, F, Fut>(
    tls: &mut Conn,
    mut stopped: watch::Receiver<bool>,
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
            ReadFrame::Frame(bytes) => match frame::decode::<Req>(&bytes, frame::MAX_REQUEST) {
                Ok(request) => answer(request).await,
                Err(e) => {
                    tracing::info!("bad request frame: {e}");
                    error(e.to_string())
                }
            },
        };
        send(tls, &response, error).await?;
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
