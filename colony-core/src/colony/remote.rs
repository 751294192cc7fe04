//! [`RemoteRuntime`]: a storage node's environments run by a separate cpu
//! service. The fossil stays here, exported over 9P on mutual TLS
//! ([`export`](super::export)); the cpu service roots the session in it
//! and serves the cpu listener ([`crate::cpu_service`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use colony_fossil::Fossil;
use colony_ns::FossilFs;
use colony_venti::Score;

use super::bare::save_fossil;
use super::config::host_port;
use super::export::{Exports, NinepExport};
use super::runtime::{EnvRequest, EnvRuntime, RunningEnv};
use crate::cpu_service::{CpuClient, StartEnv};
use crate::error::{Error, Result};
use crate::identity::revocations::Revocations;
use crate::identity::{self, NODE_CRED};
use crate::rpc::{host_of, is_wildcard};

/// Starts environments on a cpu service, exporting their fossils to it.
pub struct RemoteRuntime {
    cpu: CpuClient,
    exports: Arc<Exports>,
    export: NinepExport,
    /// The export's address as cpu nodes dial it.
    ninep_addr: String,
}

impl RemoteRuntime {
    /// Binds the 9P export at `ninep_addr` (`host:port`, port 0 for any;
    /// `host` is what cpu nodes dial, so not `0.0.0.0`) with the node's
    /// TLS from `data_dir`, and reaches the cpu service at `cpu_addr`
    /// with the node's credential. The cpu service is told this node
    /// (re)started, so that it stops what a crashed predecessor left
    /// running there; a cpu that does not answer yet is only logged.
    pub async fn bind(data_dir: &Path, ninep_addr: &str, cpu_addr: &str) -> Result<RemoteRuntime> {
        let host = host_of(ninep_addr)?;
        if is_wildcard(host) {
            return Err(Error::BadArgument(format!(
                "9P export address {ninep_addr}: cpu nodes need an address to dial, not {host}"
            )));
        }
        let exports = Arc::new(Exports::default());
        let tls = identity::server_config(data_dir)?;
        let revocations = Revocations::of(data_dir)?;
        let export = NinepExport::bind(ninep_addr, tls, exports.clone(), revocations).await?;
        let node_tls = identity::client_config(&data_dir.join(NODE_CRED))?;
        let cpu = CpuClient::new(cpu_addr, node_tls);
        if let Err(e) = cpu.restarted().await {
            tracing::warn!("telling the cpu service this node started: {e}");
        }
        Ok(RemoteRuntime {
            cpu,
            exports,
            ninep_addr: host_port(host, export.local_addr().port()),
            export,
        })
    }

    /// Where the 9P export listens.
    pub fn ninep_addr(&self) -> SocketAddr {
        self.export.local_addr()
    }

    /// The cpu service this runtime uses.
    pub fn cpu(&self) -> &CpuClient {
        &self.cpu
    }
}

/// An environment run by the cpu service over this node's fossil.
pub struct RemoteEnv {
    name: String,
    fossil: Arc<Fossil>,
    cpu: CpuClient,
    exports: Arc<Exports>,
    cpu_addr: SocketAddr,
    stopped: AtomicBool,
}

impl EnvRuntime for RemoteRuntime {
    type Env = RemoteEnv;

    async fn start(&self, request: EnvRequest) -> Result<RemoteEnv> {
        let name = request.name.to_string();
        let fs = Arc::new(FossilFs::with_checkpoint(
            request.fossil.clone(),
            request.checkpoint,
        ));
        self.exports.add(&name, fs)?;
        let start = StartEnv {
            env: name.clone(),
            hostname: request.name.label().to_string(),
            owner: request.owner.to_string(),
            ninep_addr: self.ninep_addr.clone(),
            cpu_bind: request.cpu_bind,
            restored: request.restored,
        };
        match self.cpu.start(start).await {
            Ok(cpu_addr) => Ok(RemoteEnv {
                name,
                fossil: request.fossil,
                cpu: self.cpu.clone(),
                exports: self.exports.clone(),
                cpu_addr,
                stopped: AtomicBool::new(false),
            }),
            Err(e) => {
                self.exports.remove(&name);
                Err(e)
            }
        }
    }
}

impl RunningEnv for RemoteEnv {
    fn fossil(&self) -> &Arc<Fossil> {
        &self.fossil
    }

    fn cpu_addr(&self) -> Option<SocketAddr> {
        Some(self.cpu_addr)
    }

    /// Has the cpu flush its mount (every write then reached the fossil
    /// through 9P), then saves the fossil here.
    async fn save(&self) -> Result<Score> {
        self.cpu.flush(&self.name).await?;
        save_fossil(&self.name, &self.fossil).await
    }

    /// Stops it on the cpu, then stops exporting its fossil; the export
    /// goes even when the cpu cannot be reached.
    async fn stop(&self) -> Result<()> {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let stopped = self.cpu.stop(&self.name).await;
        self.exports.remove(&self.name);
        stopped
    }
}
