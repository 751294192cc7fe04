//! A storage node's 9P export: every running environment's live fossil,
//! served over 9P2000.colony on one mutual-TLS listener to cpu nodes, which root
//! sessions in them. The `aname` of a connection's attach names the
//! environment. Only node certificates of the grid CA are served; a user's
//! gets an `Rerror` saying so and the connection is closed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use colony_ns::fs::{NewFile, RenameMode, XattrMode};
use colony_ns::ninep::{Fcall, NOTAG, Rerror};
use colony_ns::{DirEntry, FileSystem, Meta, NodeId, ServerConfig, SetMeta};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::identity::revocations::{Revocations, stop_when_revoked};
use crate::rpc::{Conn, Handler, RpcLimits, TlsListener};

/// The trees exported, by environment name.
#[derive(Default)]
pub(crate) struct Exports {
    trees: Mutex<BTreeMap<String, Arc<dyn FileSystem>>>,
}

impl Exports {
    fn trees(&self) -> MutexGuard<'_, BTreeMap<String, Arc<dyn FileSystem>>> {
        // Each critical section is one map operation.
        self.trees.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Exports `fs` as `name`, which must not be exported already.
    pub fn add(&self, name: &str, fs: Arc<dyn FileSystem>) -> Result<()> {
        let mut trees = self.trees();
        if trees.contains_key(name) {
            return Err(Error::AlreadyRunning(name.to_string()));
        }
        trees.insert(name.to_string(), fs);
        Ok(())
    }

    /// Stops exporting `name` (connections attached to it keep it until
    /// they close).
    pub fn remove(&self, name: &str) {
        self.trees().remove(name);
    }

    fn get(&self, name: &str) -> Option<Arc<dyn FileSystem>> {
        self.trees().get(name).cloned()
    }
}

/// The listener serving [`Exports`].
pub(crate) struct NinepExport {
    listener: TlsListener,
}

impl NinepExport {
    /// Binds `addr` and serves `exports` with the node's server TLS.
    pub async fn bind(
        addr: &str,
        tls: Arc<rustls::ServerConfig>,
        exports: Arc<Exports>,
        revocations: Revocations,
    ) -> Result<NinepExport> {
        // 9P connections are long-lived and time out by 9P's own rules.
        let limits = RpcLimits {
            idle_timeout: None,
            ..RpcLimits::default()
        };
        let serve = Serve {
            exports,
            revocations,
        };
        let listener = TlsListener::bind(addr, tls, serve, "9P export", &limits).await?;
        Ok(NinepExport { listener })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }
}

struct Serve {
    exports: Arc<Exports>,
    /// Closes a revoked node's connections.
    revocations: Revocations,
}

impl Handler for Serve {
    async fn serve(
        self: Arc<Self>,
        mut tls: Conn,
        peer: Identity,
        stopped: watch::Receiver<bool>,
    ) -> Result<()> {
        let Identity::Node(node) = peer else {
            let e = Error::NotANode(peer.to_string());
            // What a 9P client reads first: the reason, as an error reply.
            let reply = Fcall::new(
                NOTAG,
                Rerror {
                    ename: e.to_string(),
                },
            );
            if let Ok(bytes) = reply.encode() {
                let _ = tls.write_all(&bytes).await;
            }
            let _ = tls.shutdown().await;
            return Err(e);
        };
        tracing::debug!(%node, "9P export connection");
        let revocations = self.revocations.subscribe();
        let mut stopped = stop_when_revoked(stopped, revocations, Identity::Node(node.clone()));
        let fs = Arc::new(Attached {
            exports: self.exports.clone(),
            tree: OnceLock::new(),
        });
        // A cpu node's kernel checks permissions, as for a local
        // environment, and needs every Linux file-system feature.
        let config = ServerConfig {
            service: "colony-sto".into(),
            linux: true,
            ..ServerConfig::default()
        };
        let server = colony_ns::Server::new(fs, config);
        tokio::select! {
            _ = stopped.changed() => Ok(()),
            served = server.serve(tls) => served.map_err(|e| Error::Connection {
                addr: node.to_string(),
                reason: format!("9P: {e}"),
            }),
        }
    }
}

/// One connection's view of the exports: the tree its first attach
/// names; attaching another on the same connection is refused.
struct Attached {
    exports: Arc<Exports>,
    tree: OnceLock<(String, Arc<dyn FileSystem>)>,
}

impl Attached {
    fn fs(&self) -> colony_ns::Result<&Arc<dyn FileSystem>> {
        self.tree
            .get()
            .map(|(_, fs)| fs)
            .ok_or_else(|| colony_ns::Error::Other("not attached".into()))
    }
}

impl FileSystem for Attached {
    fn attach(&self, uname: &str, aname: &str) -> colony_ns::Result<NodeId> {
        let fs = self.exports.get(aname).ok_or_else(|| {
            colony_ns::Error::Other(format!("no environment {aname:?} is exported here"))
        })?;
        let (name, fs) = self.tree.get_or_init(|| (aname.to_string(), fs));
        if name != aname {
            return Err(colony_ns::Error::Other(format!(
                "this connection serves {name}; attach {aname} on another"
            )));
        }
        fs.attach(uname, "")
    }

    fn stat(&self, node: NodeId) -> colony_ns::Result<Meta> {
        self.fs()?.stat(node)
    }

    fn lookup(&self, dir: NodeId, name: &[u8]) -> colony_ns::Result<Meta> {
        self.fs()?.lookup(dir, name)
    }

    fn parent(&self, node: NodeId) -> colony_ns::Result<Meta> {
        self.fs()?.parent(node)
    }

    fn read(&self, node: NodeId, offset: u64, count: u32) -> colony_ns::Result<Vec<u8>> {
        self.fs()?.read(node, offset, count)
    }

    fn write(&self, node: NodeId, offset: u64, data: &[u8], user: &str) -> colony_ns::Result<u32> {
        self.fs()?.write(node, offset, data, user)
    }

    fn create(&self, dir: NodeId, name: &[u8], perm: u32, user: &str) -> colony_ns::Result<Meta> {
        self.fs()?.create(dir, name, perm, user)
    }

    fn remove(&self, node: NodeId) -> colony_ns::Result<()> {
        self.fs()?.remove(node)
    }

    fn wstat(&self, node: NodeId, change: &SetMeta, user: &str) -> colony_ns::Result<Meta> {
        self.fs()?.wstat(node, change, user)
    }

    fn rename(
        &self,
        node: NodeId,
        dir: NodeId,
        name: &[u8],
        user: &str,
    ) -> colony_ns::Result<Meta> {
        self.fs()?.rename(node, dir, name, user)
    }

    fn readdir(
        &self,
        dir: NodeId,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry) -> bool,
    ) -> colony_ns::Result<()> {
        self.fs()?.readdir(dir, cookie, sink)
    }

    fn sync(&self, node: NodeId) -> colony_ns::Result<()> {
        self.fs()?.sync(node)
    }

    fn symlink(
        &self,
        dir: NodeId,
        name: &[u8],
        target: &[u8],
        owner: &NewFile<'_>,
    ) -> colony_ns::Result<Meta> {
        self.fs()?.symlink(dir, name, target, owner)
    }

    fn make(&self, dir: NodeId, name: &[u8], new: &NewFile<'_>) -> colony_ns::Result<Meta> {
        self.fs()?.make(dir, name, new)
    }

    fn rename_as(
        &self,
        node: NodeId,
        dir: NodeId,
        name: &[u8],
        mode: RenameMode,
        user: &str,
    ) -> colony_ns::Result<Meta> {
        self.fs()?.rename_as(node, dir, name, mode, user)
    }

    fn link(&self, node: NodeId, dir: NodeId, name: &[u8]) -> colony_ns::Result<Meta> {
        self.fs()?.link(node, dir, name)
    }

    fn unlink(&self, dir: NodeId, name: &[u8]) -> colony_ns::Result<()> {
        self.fs()?.unlink(dir, name)
    }

    fn rename_at(
        &self,
        from: (NodeId, &[u8]),
        to: (NodeId, &[u8]),
        mode: RenameMode,
        user: &str,
    ) -> colony_ns::Result<Meta> {
        self.fs()?.rename_at(from, to, mode, user)
    }

    fn getxattr(&self, node: NodeId, name: &[u8]) -> colony_ns::Result<Vec<u8>> {
        self.fs()?.getxattr(node, name)
    }

    fn listxattr(&self, node: NodeId) -> colony_ns::Result<Vec<Vec<u8>>> {
        self.fs()?.listxattr(node)
    }

    fn setxattr(
        &self,
        node: NodeId,
        name: &[u8],
        value: &[u8],
        mode: XattrMode,
    ) -> colony_ns::Result<()> {
        self.fs()?.setxattr(node, name, value, mode)
    }

    fn removexattr(&self, node: NodeId, name: &[u8]) -> colony_ns::Result<()> {
        self.fs()?.removexattr(node, name)
    }

    fn readlink(&self, node: NodeId) -> colony_ns::Result<Vec<u8>> {
        self.fs()?.readlink(node)
    }
}
