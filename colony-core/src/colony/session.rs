//! [`SessionRuntime`]: environments as Linux sessions rooted in a
//! FUSE-mounted live fossil ([`FossilSession`]), each served to its owner
//! by a cpu listener with the grid's mutual TLS.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use colony_fossil::Fossil;
use colony_ns::cpu::{self, CpuConfig, CpuHandle};
use colony_ns::session::{
    CommandSpec, FossilConfig, FossilSession, LinuxConfig, Process, ProcessInfo, PtyProcess, Root,
    Session, SessionSpec, WindowSize,
};
use colony_venti::Score;
use tokio::sync::RwLock;

use super::config::ColonyConfig;
use super::runtime::{EnvRequest, EnvRuntime, RunningEnv};
use crate::error::{Error, Result};
use crate::identity;

/// Starts [`SessionEnv`]s with the node's session helper and TLS.
pub struct SessionRuntime {
    linux: LinuxConfig,
    tls: Arc<rustls::ServerConfig>,
}

impl SessionRuntime {
    /// The helper from `config` and the node's server TLS (its credential,
    /// client certificates from the grid CA, revoked users refused).
    pub fn new(config: &ColonyConfig) -> Result<SessionRuntime> {
        Ok(SessionRuntime {
            linux: config.helper.clone(),
            tls: identity::server_config(&config.data_dir)?,
        })
    }
}

/// A running session environment: the session and its cpu listener.
pub struct SessionEnv {
    name: String,
    fossil: Arc<Fossil>,
    session: Arc<Shared>,
    addr: SocketAddr,
    cpu: Mutex<Option<CpuHandle>>,
}

impl SessionEnv {
    fn fail<'a>(&'a self, what: &'a str) -> impl FnOnce(colony_ns::Error) -> Error + 'a {
        move |e| env_error(&self.name, what, e)
    }
}

fn env_error(name: &str, what: &str, e: colony_ns::Error) -> Error {
    Error::Env {
        name: name.to_string(),
        reason: format!("{what}: {e}"),
    }
}

impl EnvRuntime for SessionRuntime {
    type Env = SessionEnv;

    async fn start(&self, request: EnvRequest) -> Result<SessionEnv> {
        let name = request.name.to_string();
        let config = FossilConfig {
            linux: self.linux.clone(),
            fossil: request.fossil.clone(),
            mountpoint: request.mountpoint.clone(),
        };
        // The label is the hostname inside (FossilSession replaces the root).
        let spec = SessionSpec::new(request.name.label(), Root::Dir(request.mountpoint));
        let session = Shared::start(&config, &spec)
            .await
            .map_err(|e| env_error(&name, "start", e))?;
        let session = Arc::new(session);
        let cpu_config = CpuConfig {
            owner: request.owner.to_string(),
            tls: self.tls.clone(),
        };
        match cpu::listen(&request.cpu_bind, cpu_config, session.clone()).await {
            Ok(handle) => Ok(SessionEnv {
                name,
                fossil: request.fossil,
                session,
                addr: handle.local_addr(),
                cpu: Mutex::new(Some(handle)),
            }),
            Err(e) => {
                if let Err(stop) = session.close().await {
                    tracing::warn!(env = %name, "stopping after a failed cpu listener: {stop}");
                }
                Err(env_error(&name, "cpu listener", e))
            }
        }
    }
}

impl RunningEnv for SessionEnv {
    fn fossil(&self) -> &Arc<Fossil> {
        &self.fossil
    }

    fn cpu_addr(&self) -> Option<SocketAddr> {
        Some(self.addr)
    }

    async fn save(&self) -> Result<Score> {
        self.session.save().await.map_err(self.fail("save"))
    }

    async fn stop(&self) -> Result<()> {
        let cpu = self.cpu.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(cpu) = cpu {
            cpu.shutdown().await;
        }
        self.session.close().await.map_err(self.fail("stop"))
    }
}

/// A [`FossilSession`] shared between the environment and its cpu
/// listener's connections, which may outlive the listener: stopping
/// takes the session out from under them (later commands get
/// [`colony_ns::Error::Stopped`]) instead of waiting for every reference
/// to go.
struct Shared {
    name: String,
    shell: String,
    inner: RwLock<Option<FossilSession>>,
}

impl Shared {
    /// Stops the session if it still runs.
    async fn close(&self) -> colony_ns::Result<()> {
        let taken = self.inner.write().await.take();
        match taken {
            Some(mut session) => session.stop().await,
            None => Ok(()),
        }
    }

    async fn save(&self) -> colony_ns::Result<Score> {
        let guard = self.inner.read().await;
        guard
            .as_ref()
            .ok_or(colony_ns::Error::Stopped)?
            .save()
            .await
    }
}

impl Session for Shared {
    type Config = FossilConfig;

    async fn start(config: &FossilConfig, spec: &SessionSpec) -> colony_ns::Result<Shared> {
        let session = FossilSession::start(config, spec).await?;
        Ok(Shared {
            name: session.name().to_string(),
            shell: session.shell_path().to_string(),
            inner: RwLock::new(Some(session)),
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn shell_path(&self) -> &str {
        &self.shell
    }

    async fn run(&self, cmd: &CommandSpec) -> colony_ns::Result<Process> {
        let guard = self.inner.read().await;
        guard
            .as_ref()
            .ok_or(colony_ns::Error::Stopped)?
            .run(cmd)
            .await
    }

    async fn run_pty(&self, cmd: &CommandSpec, size: WindowSize) -> colony_ns::Result<PtyProcess> {
        let guard = self.inner.read().await;
        guard
            .as_ref()
            .ok_or(colony_ns::Error::Stopped)?
            .run_pty(cmd, size)
            .await
    }

    fn processes(&self) -> colony_ns::Result<Vec<ProcessInfo>> {
        // Only a stop holds the lock exclusively.
        let guard = self
            .inner
            .try_read()
            .map_err(|_| colony_ns::Error::Stopped)?;
        guard.as_ref().ok_or(colony_ns::Error::Stopped)?.processes()
    }

    async fn stop(&mut self) -> colony_ns::Result<()> {
        self.close().await
    }
}
