//! [`CpuServer`]: the cpu service's mutual-TLS RPC endpoint. Only grid
//! nodes (node certificates of the grid CA) are served; a user's
//! certificate gets [`CpuResponse::Error`] and the connection is closed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use colony_ns::session::LinuxConfig;
use tokio::sync::watch;

use super::message::CpuResponse;
use super::service::CpuService;
use crate::colony::{IdRanges, clear_envs};
use crate::error::{Error, Result, private_dir};
use crate::identity::revocations::{Revocations, stop_when_revoked};
use crate::identity::{self, Identity, NODE_CRED};
use crate::limits::Limits;
use crate::rpc::{Conn, Handler, RpcLimits, TlsListener, admit, serve_frames};

/// The folder of the cpu service's mount points in its data directory
/// (apart from a storage node's `envs/`, so that both can share one
/// data directory).
pub const CPU_ENVS_DIR: &str = "cpu-envs";

/// How to run a cpu service.
#[derive(Clone, Debug)]
pub struct CpuServiceConfig {
    /// A data directory made by `colony init` (or a copy of its
    /// `node.cred` and `revoked-users`): the node credential serves and
    /// dials, users of its CA reach the cpu listeners. The block store
    /// there is not opened.
    pub data_dir: PathBuf,
    /// How to run the session helper.
    pub helper: LinuxConfig,
}

/// A running cpu service.
pub struct CpuServer {
    listener: TlsListener,
    service: Arc<CpuService>,
}

impl CpuServer {
    /// Binds `addr` and serves storage nodes. Mount points left in
    /// `cpu-envs/` by a service that stopped abruptly are removed.
    pub async fn bind(addr: &str, config: CpuServiceConfig) -> Result<CpuServer> {
        let dir = &config.data_dir;
        let cred = dir.join(NODE_CRED);
        if !cred.is_file() {
            return Err(Error::NotInitialised {
                path: dir.clone(),
                reason: format!("no {NODE_CRED} file"),
            });
        }
        // It holds the node's key: only root reads it (issue 12).
        private_dir(dir)?;
        let limits = Limits::load(dir)?;
        let envs_dir = dir.join(CPU_ENVS_DIR);
        clear_envs(&envs_dir)?;
        let tls = identity::server_config(dir)?;
        let service = Arc::new(CpuService::new(
            config.helper,
            tls.clone(),
            identity::client_config(&cred)?,
            envs_dir,
            IdRanges::open(dir, limits.id_base)?,
            limits,
        ));
        let rpc_limits = RpcLimits::default();
        let serve = Serve {
            service: service.clone(),
            revocations: Revocations::of(dir)?,
            idle: rpc_limits.idle_timeout,
        };
        let listener = TlsListener::bind(addr, tls, serve, "cpu service", &rpc_limits).await?;
        Ok(CpuServer { listener, service })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Stops taking requests, then stops every environment (listeners,
    /// processes, mounts, mount points).
    pub async fn shutdown(self) -> Result<()> {
        self.listener.shutdown().await;
        self.service.shutdown().await
    }
}

struct Serve {
    service: Arc<CpuService>,
    /// Closes a revoked node's connections.
    revocations: Revocations,
    idle: Option<std::time::Duration>,
}

impl Handler for Serve {
    async fn serve(
        self: Arc<Self>,
        mut tls: Conn,
        peer: Identity,
        stopped: watch::Receiver<bool>,
    ) -> Result<()> {
        let node = match peer {
            Identity::Node(node) => Ok(node),
            other => Err(Error::NotANode(other.to_string())),
        };
        let node = admit(&mut tls, node, CpuResponse::Error).await?;
        tracing::debug!(%node, "cpu service connection");
        let revocations = self.revocations.subscribe();
        let stopped = stop_when_revoked(stopped, revocations, Identity::Node(node.clone()));
        let (service, asker) = (&self.service, &node);
        serve_frames(
            &mut tls,
            stopped,
            self.idle,
            CpuResponse::Error,
            move |request| service.answer(asker, request),
        )
        .await
        .map_err(|e| Error::Connection {
            addr: node.to_string(),
            reason: e.to_string(),
        })
    }
}
