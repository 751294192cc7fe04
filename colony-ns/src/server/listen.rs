//! Listening on TCP or a Unix socket, and the handle that stops it.
//!
//! The server does no authentication: anyone who can connect is served as
//! whatever uname they attach with. A Unix socket is created mode 0600 so
//! that only its owner (and root) can connect; TCP should stay on loopback.
//! Past [`ServerConfig::max_connections`](crate::ServerConfig) a new
//! connection is accepted, logged and closed, so the listener never stops
//! accepting.

use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, ToSocketAddrs, UnixListener};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{Error, Result};
use crate::server::{Server, Shared, conn};

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket's path.
    Unix(PathBuf),
}

impl fmt::Display for ListenAddr {
    /// Plan 9 dial-string form: `tcp!host!port` or `unix!path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "tcp!{}!{}", a.ip(), a.port()),
            ListenAddr::Unix(p) => write!(f, "unix!{}", p.display()),
        }
    }
}

/// A running server: its address, and a way to stop it. Dropping the handle
/// stops the server too, without waiting for it.
pub struct ServerHandle {
    addr: ListenAddr,
    /// Set to true to stop this listener and its connections.
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A connection's byte stream, whichever kind of socket it came from.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                // Small replies should not wait for Nagle.
                s.set_nodelay(true)?;
                Box::new(s)
            }
            Listener::Unix(l) => Box::new(l.accept().await?.0),
        })
    }
}

impl Server {
    /// Listens on a TCP address (port 0 picks a free port; see
    /// [`ServerHandle::local_addr`]) and serves until shut down.
    pub async fn bind_tcp(&self, addr: impl ToSocketAddrs) -> Result<ServerHandle> {
        let l = TcpListener::bind(addr).await?;
        let addr = ListenAddr::Tcp(l.local_addr()?);
        Ok(self.start(Listener::Tcp(l), addr))
    }

    /// Listens on a Unix socket at `path` (which must not exist), created
    /// mode 0600, and serves until shut down; the socket file is removed at
    /// shutdown.
    pub async fn bind_unix(&self, path: impl AsRef<Path>) -> Result<ServerHandle> {
        let path = path.as_ref().to_path_buf();
        let l = bind_private(&path)?;
        Ok(self.start(Listener::Unix(l), ListenAddr::Unix(path)))
    }

    /// Listens on either kind of address ([`Server::bind_tcp`] or
    /// [`Server::bind_unix`]).
    pub async fn bind(&self, addr: &ListenAddr) -> Result<ServerHandle> {
        match addr {
            ListenAddr::Tcp(a) => self.bind_tcp(a).await,
            ListenAddr::Unix(p) => self.bind_unix(p).await,
        }
    }

    fn start(&self, listener: Listener, addr: ListenAddr) -> ServerHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, self.shared.clone(), stopped));
        ServerHandle { addr, stop, task }
    }
}

/// Binds a Unix socket at `path` that only its owner can connect to. It is
/// bound inside a fresh 0700 directory next to `path`, set to 0600, then
/// renamed into place: at no moment can another user connect.
fn bind_private(path: &Path) -> Result<UnixListener> {
    if path.symlink_metadata().is_ok() {
        return Err(std::io::Error::from(std::io::ErrorKind::AddrInUse).into());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let private = parent.join(format!(".9p-socket.{}.{n}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let staged = private.join("s");
    let placed = (|| {
        let listener = UnixListener::bind(&staged)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)?;
        Ok::<_, std::io::Error>(listener)
    })();
    if placed.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    let _ = std::fs::remove_dir(&private);
    Ok(placed?)
}

async fn accept_loop(listener: Listener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let max = shared.config.max_connections;
    let mut conns = JoinSet::new();
    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            _ = async { drop(stopped.wait_for(|s| *s).await) } => break,
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    while conns.try_join_next().is_some() {}
                    if conns.len() >= max {
                        let e = Error::TooManyConnections { what: "9P server", open: conns.len(), max };
                        tracing::warn!("9p: {e}");
                        drop(stream);
                        continue;
                    }
                    let (shared, stop) = (shared.clone(), stop.clone());
                    conns.spawn(async move {
                        if let Err(e) = conn::serve(shared, stream, Some(stop)).await {
                            tracing::debug!("9p connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    // Out of descriptors and the like: back off, keep serving.
                    tracing::warn!("9p accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

impl ServerHandle {
    /// The address it listens on (with the real port if 0 was asked).
    pub fn local_addr(&self) -> &ListenAddr {
        &self.addr
    }

    /// Stops accepting, lets every connection finish the requests it has
    /// started (their replies are sent), closes the connections, and removes
    /// a Unix socket file.
    pub async fn shutdown(self) -> Result<()> {
        self.stop.send_replace(true);
        self.task
            .await
            .map_err(|e| Error::Other(format!("9p server task: {e}")))?;
        if let ListenAddr::Unix(path) = &self.addr {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }
}
