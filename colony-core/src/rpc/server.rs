//! [`GridServer`]: serves a [`Colony`] to its users over mutual TLS.
//!
//! The user is the client certificate's common name (a certificate from
//! the grid CA, checked by [`server_config`]); a node certificate or a
//! user on the revoked list (read again for every connection, so a
//! revocation takes effect without a restart) is answered with an error
//! and the connection closed. A user added while the node runs gets
//! their own name for the seed (`clean.<node>.<user>`) on first contact.
//! Each connection is its own task and every
//! answer goes back on the connection that asked, to the asker only (the
//! original grid wrote every answer to hub files all users read).
//! A frame that does not decode gets a [`Response::Error`] and the
//! connection carries on; an over-long one gets the error and is closed,
//! since its body cannot be skipped safely.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::colony::{Colony, EnvRuntime};
use crate::error::{Error, Result};
use crate::identity::{Identity, revoked, server_config};
use crate::rpc::dispatch::answer;
use crate::rpc::frame::{self, ReadFrame};
use crate::rpc::{Request, Response};
use crate::user::UserName;

/// How long a client may take over the TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 256;

/// A running grid server.
pub struct GridServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GridServer {
    /// Binds `addr` and serves `colony`, with the node's TLS identity and
    /// revoked list from `colony`'s data directory.
    pub async fn bind<R: EnvRuntime>(addr: &str, colony: Arc<Colony<R>>) -> Result<GridServer> {
        let data_dir = colony.config().data_dir.clone();
        let acceptor = TlsAcceptor::from(server_config(&data_dir)?);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Connection {
                addr: addr.to_string(),
                reason: format!("bind: {e}"),
            })?;
        let local = listener.local_addr().map_err(Error::io("bind", addr))?;
        let (stop, stopped) = watch::channel(false);
        let serve = Serve {
            colony,
            acceptor,
            data_dir,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        };
        let task = tokio::spawn(serve.accept_loop(listener, stopped));
        tracing::info!(addr = %local, "grid server listening");
        Ok(GridServer {
            addr: local,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits until those open have
    /// finished their current request and closed.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Serve<R: EnvRuntime> {
    colony: Arc<Colony<R>>,
    acceptor: TlsAcceptor,
    data_dir: PathBuf,
    slots: Arc<Semaphore>,
}

impl<R: EnvRuntime> Serve<R> {
    async fn accept_loop(self, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
        let this = Arc::new(self);
        loop {
            let Ok(slot) = this.slots.clone().acquire_owned().await else {
                return;
            };
            let (tcp, peer) = tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("grid accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let this = this.clone();
            let stopped = stopped.clone();
            tokio::spawn(async move {
                if let Err(e) = this.connection(tcp, stopped).await {
                    tracing::info!(%peer, "grid connection: {e}");
                }
                // The colony is let go before the slot, so that once
                // shutdown holds every slot nothing here holds the colony.
                drop(this);
                drop(slot);
            });
        }
        let slots = this.slots.clone();
        drop(this);
        // Every connection ends at its next request boundary.
        let _ = slots.acquire_many(MAX_CONNECTIONS as u32).await;
    }

    async fn connection(&self, tcp: TcpStream, stopped: watch::Receiver<bool>) -> Result<()> {
        let peer = tcp
            .peer_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        let conn_err = |reason: String| Error::Connection {
            addr: peer.clone(),
            reason,
        };
        tcp.set_nodelay(true).map_err(|e| conn_err(e.to_string()))?;
        let mut tls = tokio::time::timeout(HANDSHAKE, self.acceptor.accept(tcp))
            .await
            .map_err(|_| conn_err("TLS handshake timed out".into()))?
            .map_err(|e| conn_err(format!("TLS handshake: {e}")))?;
        let user = match self.user_of(&tls) {
            Ok(user) => user,
            Err(e) => {
                let _ = send(&mut tls, &Response::Error(e.to_string())).await;
                let _ = tls.shutdown().await;
                return Err(e);
            }
        };
        tracing::debug!(%user, %peer, "grid connection");
        self.serve_user(&mut tls, &user, stopped)
            .await
            .map_err(|e| conn_err(e.to_string()))
    }

    /// The user a verified connection speaks for, if still allowed.
    fn user_of(&self, tls: &TlsStream<TcpStream>) -> Result<UserName> {
        let user = match Identity::of_peer(tls.get_ref().1)? {
            Identity::User(user) => user,
            Identity::Node(node) => {
                return Err(Error::Refused(format!(
                    "node {node} is not a user; grid commands take a user credential"
                )));
            }
        };
        if is_revoked(&self.data_dir, &user)? {
            return Err(Error::Refused(format!("user {user} is revoked")));
        }
        // A user added while the node runs gets their name for the seed
        // on first contact (the running node holds the names database).
        match self.colony.grant_seed(&user) {
            Ok(_) | Err(Error::NameNotFound(_)) => {}
            Err(e) => tracing::warn!(%user, "granting the seed: {e}"),
        }
        Ok(user)
    }

    async fn serve_user(
        &self,
        tls: &mut TlsStream<TcpStream>,
        user: &UserName,
        mut stopped: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
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
                    send(tls, &Response::Error(e.to_string())).await?;
                    return tls.shutdown().await;
                }
                ReadFrame::Frame(bytes) => match Request::decode(&bytes) {
                    Ok(request) => answer(&self.colony, user, request).await,
                    Err(e) => {
                        tracing::info!(%user, "bad request frame: {e}");
                        Response::Error(e.to_string())
                    }
                },
            };
            send(tls, &response).await?;
        }
    }
}

fn is_revoked(data_dir: &Path, user: &UserName) -> Result<bool> {
    Ok(revoked::load(data_dir)?.contains(user))
}

async fn send(tls: &mut TlsStream<TcpStream>, response: &Response) -> std::io::Result<()> {
    let bytes = match response.encode() {
        Ok(b) => b,
        // Only an answer over the cap (an enormous `scores`) can fail.
        Err(e) => Response::Error(format!("the answer is too large to send: {e}"))
            .encode()
            .map_err(std::io::Error::other)?,
    };
    frame::write(tls, &bytes).await
}
