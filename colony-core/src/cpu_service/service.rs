//! What the cpu service does for its storage nodes: each environment is a
//! [`Hosted`] session (FUSE mount, Linux session, owner-only cpu listener)
//! rooted in a [`RemoteFs`]: the environment's live fossil, served by the
//! storage node over 9P on mutual TLS.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use colony_ns::client::RemoteFs;
use colony_ns::fuse::ids::IdMap;
use colony_ns::session::LinuxConfig;
use rustls::{ClientConfig, ServerConfig};

use super::message::{CpuRequest, CpuResponse, StartEnv};
use crate::colony::IdRanges;
use crate::colony::config::env_path;
use crate::colony::hosted::{HostSpec, Hosted, env_error};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::node::NodeId;
use crate::rpc::dial;

/// The running environments by name, each with the node that started it
/// (`None` while it starts), and whether the service still takes new
/// ones.
#[derive(Default)]
struct Table {
    envs: BTreeMap<String, (NodeId, Option<Arc<Hosted>>)>,
    closed: bool,
}

impl Table {
    /// `node`'s running environment `env`.
    fn get(&self, node: &NodeId, env: &str) -> Result<Arc<Hosted>> {
        match self.envs.get(env) {
            Some((by, Some(hosted))) if by == node => Ok(hosted.clone()),
            _ => Err(Error::NotOnCpu(env.to_string())),
        }
    }
}

/// The cpu service's state.
pub(crate) struct CpuService {
    /// How to run the session helper.
    pub helper: LinuxConfig,
    /// The cpu listeners' TLS: the node's certificate, users of the CA.
    pub users_tls: Arc<ServerConfig>,
    /// How this node dials storage nodes' 9P exports.
    pub node_tls: Arc<ClientConfig>,
    /// Where mount points go.
    pub envs_dir: PathBuf,
    /// Where sessions' user namespaces get their host ids.
    pub ids: Arc<IdRanges>,
    /// What sessions are held to (this node's `limits` file).
    pub limits: Limits,
    table: Mutex<Table>,
}

impl CpuService {
    /// A service with no environments.
    pub fn new(
        helper: LinuxConfig,
        users_tls: Arc<ServerConfig>,
        node_tls: Arc<ClientConfig>,
        envs_dir: PathBuf,
        ids: Arc<IdRanges>,
        limits: Limits,
    ) -> CpuService {
        CpuService {
            helper,
            users_tls,
            node_tls,
            envs_dir,
            ids,
            limits,
            table: Mutex::new(Table::default()),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Each critical section is one map operation.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers one request of `node`; failures become
    /// [`CpuResponse::Error`]. A node flushes and stops only the
    /// environments it started.
    pub async fn answer(&self, node: &NodeId, request: CpuRequest) -> CpuResponse {
        let what = format!("{request:?}");
        let answered = match request {
            CpuRequest::Start(start) => self
                .start(node, start)
                .await
                .map(|cpu_addr| CpuResponse::Started { cpu_addr }),
            CpuRequest::Flush { env } => {
                self.flush(node, &env).await.map(|()| CpuResponse::Flushed)
            }
            CpuRequest::Stop { env } => self.stop(node, &env).await.map(|()| CpuResponse::Stopped),
            CpuRequest::Restarted => self.restarted(node).await.map(|()| CpuResponse::Stopped),
            CpuRequest::Status => Ok(CpuResponse::Running(
                self.table().envs.keys().cloned().collect(),
            )),
        };
        match answered {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(%node, request = %what, "refused: {e}");
                CpuResponse::Error(e.to_string())
            }
        }
    }

    /// Roots `start.env` in the storage node's 9P export of it.
    async fn start(&self, node: &NodeId, start: StartEnv) -> Result<std::net::SocketAddr> {
        let name = start.env.clone();
        {
            let mut table = self.table();
            if table.closed {
                return Err(Error::ShuttingDown);
            }
            if table.envs.contains_key(&name) {
                return Err(env_error(&name, "start", "already running on this cpu"));
            }
            table.envs.insert(name.clone(), (node.clone(), None));
        }
        let started = self.host(start).await;
        let hosted = {
            let mut table = self.table();
            match started {
                Err(e) => {
                    table.envs.remove(&name);
                    return Err(e);
                }
                // Shut down meanwhile: the reservation went with the rest.
                Ok(hosted) if table.closed => hosted,
                Ok(hosted) => {
                    let addr = hosted.cpu_addr();
                    table
                        .envs
                        .insert(name.clone(), (node.clone(), Some(Arc::new(hosted))));
                    tracing::info!(env = %name, %addr, "started");
                    return Ok(addr);
                }
            }
        };
        hosted.stop().await?;
        Err(Error::ShuttingDown)
    }

    async fn host(&self, start: StartEnv) -> Result<Hosted> {
        let name = start.env;
        let tls = dial(self.node_tls.clone(), &start.ninep_addr)
            .await
            .map_err(|e| env_error(&name, "storage node's 9P export", e))?;
        // The mounting user acts for every caller, as a local FUSE mount
        // of the fossil does; the kernel checks each caller's rights.
        let uname = IdMap::system().users.name(nix::unistd::geteuid().as_raw());
        let fs = RemoteFs::connect(tls, &uname, &name)
            .await
            .map_err(|e| env_error(&name, "attach over 9P", e))?;
        Hosted::start(HostSpec {
            name: name.clone(),
            hostname: start.hostname,
            owner: start.owner,
            fs: Arc::new(fs),
            mountpoint: env_path(&self.envs_dir, &name, "root"),
            ids: self.ids.clone(),
            limits: self.limits,
            linux: self.helper.clone(),
            cpu_bind: start.cpu_bind,
            tls: self.users_tls.clone(),
            restored: start.restored,
        })
        .await
    }

    /// Flushes `node`'s running environment `env`.
    async fn flush(&self, node: &NodeId, env: &str) -> Result<()> {
        let hosted = self.table().get(node, env)?;
        hosted.flush().await
    }

    /// Stops `node`'s environment `env` and forgets it, even when
    /// stopping reports an error.
    async fn stop(&self, node: &NodeId, env: &str) -> Result<()> {
        let hosted = {
            let mut table = self.table();
            let hosted = table.get(node, env)?;
            table.envs.remove(env);
            hosted
        };
        hosted.stop().await?;
        tracing::info!(env, "stopped");
        Ok(())
    }

    /// Stops every environment `node` started.
    async fn restarted(&self, node: &NodeId) -> Result<()> {
        let orphans: Vec<String> = self
            .table()
            .envs
            .iter()
            .filter(|(_, (by, hosted))| by == node && hosted.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        let mut first = None;
        for env in orphans {
            tracing::info!(env, %node, "stopping what the restarted node left");
            if let Err(e) = self.stop(node, &env).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Refuses later starts and stops every environment; reports the
    /// first failure after trying all.
    pub async fn shutdown(&self) -> Result<()> {
        let running: Vec<Arc<Hosted>> = {
            let mut table = self.table();
            table.closed = true;
            std::mem::take(&mut table.envs)
                .into_values()
                .filter_map(|(_, hosted)| hosted)
                .collect()
        };
        let mut first = None;
        for hosted in running {
            if let Err(e) = hosted.stop().await {
                tracing::warn!("stopping at shutdown: {e}");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
