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
use crate::colony::config::env_path;
use crate::colony::hosted::{HostSpec, Hosted, env_error};
use crate::error::{Error, Result};
use crate::rpc::dial;

/// The running environments, by name (`None` while one starts), and
/// whether the service still takes new ones.
#[derive(Default)]
struct Table {
    envs: BTreeMap<String, Option<Arc<Hosted>>>,
    closed: bool,
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
    table: Mutex<Table>,
}

impl CpuService {
    /// A service with no environments.
    pub fn new(
        helper: LinuxConfig,
        users_tls: Arc<ServerConfig>,
        node_tls: Arc<ClientConfig>,
        envs_dir: PathBuf,
    ) -> CpuService {
        CpuService {
            helper,
            users_tls,
            node_tls,
            envs_dir,
            table: Mutex::new(Table::default()),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Each critical section is one map operation.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers one request; failures become [`CpuResponse::Error`].
    pub async fn answer(&self, request: CpuRequest) -> CpuResponse {
        let what = format!("{request:?}");
        let answered = match request {
            CpuRequest::Start(start) => self
                .start(start)
                .await
                .map(|cpu_addr| CpuResponse::Started { cpu_addr }),
            CpuRequest::Flush { env } => self.flush(&env).await.map(|()| CpuResponse::Flushed),
            CpuRequest::Stop { env } => self.stop(&env).await.map(|()| CpuResponse::Stopped),
            CpuRequest::Status => Ok(CpuResponse::Running(
                self.table().envs.keys().cloned().collect(),
            )),
        };
        match answered {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(request = %what, "refused: {e}");
                CpuResponse::Error(e.to_string())
            }
        }
    }

    /// Roots `start.env` in the storage node's 9P export of it.
    async fn start(&self, start: StartEnv) -> Result<std::net::SocketAddr> {
        let name = start.env.clone();
        {
            let mut table = self.table();
            if table.closed {
                return Err(Error::ShuttingDown);
            }
            if table.envs.contains_key(&name) {
                return Err(env_error(&name, "start", "already running on this cpu"));
            }
            table.envs.insert(name.clone(), None);
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
                    table.envs.insert(name.clone(), Some(Arc::new(hosted)));
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
            linux: self.helper.clone(),
            cpu_bind: start.cpu_bind,
            tls: self.users_tls.clone(),
        })
        .await
    }

    /// Flushes the running environment `env`.
    async fn flush(&self, env: &str) -> Result<()> {
        let hosted = match self.table().envs.get(env) {
            Some(Some(hosted)) => hosted.clone(),
            _ => return Err(Error::NotOnCpu(env.to_string())),
        };
        hosted.flush().await
    }

    /// Stops `env` and forgets it, even when stopping reports an error.
    async fn stop(&self, env: &str) -> Result<()> {
        let hosted = {
            let mut table = self.table();
            match table.envs.get(env) {
                Some(Some(_)) => table.envs.remove(env).flatten(),
                _ => None,
            }
        };
        let hosted = hosted.ok_or_else(|| Error::NotOnCpu(env.to_string()))?;
        hosted.stop().await?;
        tracing::info!(env, "stopped");
        Ok(())
    }

    /// Refuses later starts and stops every environment; reports the
    /// first failure after trying all.
    pub async fn shutdown(&self) -> Result<()> {
        let running: Vec<Arc<Hosted>> = {
            let mut table = self.table();
            table.closed = true;
            std::mem::take(&mut table.envs)
                .into_values()
                .flatten()
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
