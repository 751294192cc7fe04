//! A 9P2000 server over a [`FileSystem`], on tokio.
//!
//! Requests of a connection run concurrently (each on a blocking thread,
//! since file systems are synchronous), so a client may pipeline them with
//! distinct tags; replies go out as they are ready. Many connections are
//! served at once, on TCP or a Unix socket. A connection that sends garbage
//! or vanishes mid-request ends alone; the server keeps serving.

mod conn;
mod fid;
mod linux_ops;
mod listen;
mod ops;
mod perm;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Result;
use crate::fs::{FileSystem, NodeId};
use crate::ninep::IOHDRSZ;

pub(crate) use conn::MIN_MSIZE;
pub use listen::{ListenAddr, ServerHandle};

/// How a server behaves, and what it lets each client hold, so that bad
/// clients cannot starve good ones.
///
/// Memory held for clients stays under about `max_connections ×
/// (max_inflight × msize + max_fids × 200 + max_uname)` bytes (a fid's
/// uname is shared with the attach it was walked from): with the
/// defaults 64 × (4 MiB + 13 MiB) ≈ 1.1 GiB at the very worst, where one
/// client could take 471 MiB before; a few KiB per connection in practice.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest msize granted; a client asking more gets this.
    pub msize: u32,
    /// Names the service in the Rerror to Tauth ("NAME: authentication not
    /// required"), as plan9port's vacfs does with its program name.
    pub service: String,
    /// Replies of one connection not yet written, every Rerror and Rflush
    /// included, counting requests still running: past it the server
    /// stops reading that connection until the client reads its replies.
    /// Default 64.
    pub max_inflight: usize,
    /// Fids one connection may hold; a Tattach or Twalk past it gets
    /// [`Error::TooManyFids`](crate::Error). Default 65536: a FUSE or
    /// kernel client holds a fid or two per file it has looked up.
    pub max_fids: usize,
    /// Longest Tattach uname, in bytes (Rerror beyond). Default 256.
    pub max_uname: usize,
    /// Longest Tattach aname, in bytes (Rerror beyond). Default 1024.
    pub max_aname: usize,
    /// Connections a listener serves at once; one more is accepted, logged
    /// and closed, so the listener never stops accepting. Default 64.
    pub max_connections: usize,
    /// Time from connecting to a successful Tversion; a client that says
    /// nothing is dropped after it. Default 10 s.
    pub handshake_timeout: Duration,
    /// A connection with nothing in flight that sends nothing for this
    /// long is closed. Default `None`: kernel 9P clients keep mounts idle
    /// for days and do not redial.
    pub idle_timeout: Option<Duration>,
    /// A reply that makes no progress for this long (the client stopped
    /// reading) closes the connection. Default 30 s.
    pub write_timeout: Duration,
    /// Serves 9P2000.colony ([`crate::ninep::linux`]) to a client that
    /// asks: hard links, devices, xattrs, numeric owners and the rest,
    /// without Plan 9's permission checks, which the client's kernel
    /// makes. Only for trusted clients (a storage node's cpu nodes).
    /// Default false.
    pub linux: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            msize: 65536 + IOHDRSZ,
            service: "colony".into(),
            max_inflight: 64,
            max_fids: 65536,
            max_uname: 256,
            max_aname: 1024,
            max_connections: 64,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: None,
            write_timeout: Duration::from_secs(30),
            linux: false,
        }
    }
}

/// State shared by every connection of a server.
pub(crate) struct Shared {
    pub fs: Arc<dyn FileSystem>,
    pub config: ServerConfig,
    /// Nodes with an open exclusive-use (DMEXCL) fid, across connections.
    excl: Mutex<HashSet<NodeId>>,
}

impl Shared {
    fn excl(&self) -> std::sync::MutexGuard<'_, HashSet<NodeId>> {
        self.excl.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a node's exclusive-use lock; false if someone holds it.
    pub fn lock_excl(&self, node: NodeId) -> bool {
        self.excl().insert(node)
    }

    /// Gives a node's exclusive-use lock back.
    pub fn unlock_excl(&self, node: NodeId) {
        self.excl().remove(&node);
    }
}

/// Serves `fs` over 9P on `addr` with the default configuration until the
/// returned handle is shut down: what `colony` calls to export a tree. Must
/// run inside a tokio runtime.
pub async fn serve_9p(fs: Arc<dyn FileSystem>, addr: &ListenAddr) -> Result<ServerHandle> {
    Server::new(fs, ServerConfig::default()).bind(addr).await
}

/// A 9P server: serves one [`FileSystem`] to any number of connections.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// A server for `fs`.
    pub fn new(fs: Arc<dyn FileSystem>, config: ServerConfig) -> Self {
        Server {
            shared: Arc::new(Shared {
                fs,
                config,
                excl: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Serves one connection until the client closes it (`Ok`), breaks the
    /// framing or the socket fails (`Err`), or the server shuts down.
    pub async fn serve<S>(&self, stream: S) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        conn::serve(self.shared.clone(), stream, None).await
    }
}
