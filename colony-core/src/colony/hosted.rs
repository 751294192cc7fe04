//! [`Hosted`]: what both the local [`SessionRuntime`](super::SessionRuntime)
//! and the cpu service run per environment — a Linux session rooted in a
//! FUSE-mounted [`FileSystem`] (a live fossil here, or one a storage node
//! serves over 9P) and the owner-only cpu listener serving it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use colony_ns::FileSystem;
use colony_ns::cpu::{self, CpuConfig, CpuHandle};
use colony_ns::session::{
    CommandSpec, FsConfig, FsSession, LinuxConfig, Process, ProcessInfo, PtyProcess, Root, Session,
    SessionSpec, WindowSize,
};
use tokio::sync::RwLock;

use super::id_ranges::{IdLease, IdRanges};
use crate::error::{Error, Result};
use crate::limits::Limits;

/// What [`Hosted::start`] needs.
pub(crate) struct HostSpec {
    /// The environment's name, for messages.
    pub name: String,
    /// The hostname inside the session.
    pub hostname: String,
    /// The only user the cpu listener lets in.
    pub owner: String,
    /// The tree that becomes `/`.
    pub fs: Arc<dyn FileSystem>,
    /// A private host directory for the mount.
    pub mountpoint: PathBuf,
    /// Where the session's user namespace gets its host ids.
    pub ids: Arc<IdRanges>,
    /// The node's limits: the session's memory, processes, CPU and network.
    pub limits: Limits,
    /// How to run the session helper.
    pub linux: LinuxConfig,
    /// `host:port` the cpu listener binds.
    pub cpu_bind: String,
    /// The cpu listener's TLS (the node's credential, users of the CA).
    pub tls: Arc<rustls::ServerConfig>,
    /// Resumed when its node started again: its named shells are gone.
    pub restored: bool,
}

/// A running session and its cpu listener.
pub(crate) struct Hosted {
    name: String,
    session: Arc<Shared>,
    addr: SocketAddr,
    cpu: Mutex<Option<CpuHandle>>,
    /// The session's host ids, given back when it is gone.
    _ids: IdLease,
}

impl Hosted {
    /// Mounts the tree, starts the session in it and its cpu listener;
    /// on failure, leaves nothing behind.
    pub async fn start(spec: HostSpec) -> Result<Hosted> {
        let name = spec.name;
        let config = FsConfig {
            linux: spec.linux,
            fs: spec.fs,
            mountpoint: spec.mountpoint.clone(),
        };
        let ids = spec.ids.lease(&name)?;
        let mut session_spec = SessionSpec::new(&spec.hostname, Root::Dir(spec.mountpoint));
        session_spec.ids = Some(ids.range());
        session_spec.limits = spec.limits.session();
        session_spec.network = spec.limits.network;
        let session = Shared::start(&config, &session_spec)
            .await
            .map_err(|e| env_error(&name, "start", e))?;
        let session = Arc::new(session);
        let cpu_config = CpuConfig {
            owner: spec.owner,
            // Only a user certificate names the owner, not a node's of the
            // same spelling.
            user_unit: crate::identity::USER_UNIT.into(),
            tls: spec.tls,
            max_connections: cpu::MAX_CONNECTIONS,
            shells: spec.limits.shells(),
            restored: spec.restored,
        };
        match cpu::listen(&spec.cpu_bind, cpu_config, session.clone()).await {
            Ok(handle) => Ok(Hosted {
                name,
                session,
                addr: handle.local_addr(),
                cpu: Mutex::new(Some(handle)),
                _ids: ids,
            }),
            Err(e) => {
                if let Err(stop) = session.close().await {
                    tracing::warn!(env = %name, "stopping after a failed cpu listener: {stop}");
                }
                Err(env_error(&name, "cpu listener", e))
            }
        }
    }

    /// Where the cpu listener listens.
    pub fn cpu_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns once everything written through the mount has reached the
    /// tree ([`FsSession::flush`]).
    pub async fn flush(&self) -> Result<()> {
        self.session
            .flush()
            .await
            .map_err(|e| env_error(&self.name, "flush", e))
    }

    /// Closes the cpu listener (hanging up its named shells), kills the
    /// session, unmounts and removes the mount point. Stopping twice is
    /// harmless.
    pub async fn stop(&self) -> Result<()> {
        let cpu = self.cpu.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(cpu) = cpu {
            cpu.shutdown().await;
        }
        self.session
            .close()
            .await
            .map_err(|e| env_error(&self.name, "stop", e))
    }
}

/// [`Error::Env`] for `what` failing in environment `name`.
pub(crate) fn env_error(name: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Env {
        name: name.to_string(),
        reason: format!("{what}: {e}"),
    }
}

/// An [`FsSession`] shared between the environment and its cpu
/// listener's connections, which may outlive the listener: stopping
/// takes the session out from under them (later commands get
/// [`colony_ns::Error::Stopped`]) instead of waiting for every reference
/// to go.
struct Shared {
    name: String,
    shell: String,
    inner: RwLock<Option<FsSession>>,
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

    async fn flush(&self) -> colony_ns::Result<()> {
        let guard = self.inner.read().await;
        guard
            .as_ref()
            .ok_or(colony_ns::Error::Stopped)?
            .flush()
            .await
    }
}

impl Session for Shared {
    type Config = FsConfig;

    async fn start(config: &FsConfig, spec: &SessionSpec) -> colony_ns::Result<Shared> {
        let session = FsSession::start(config, spec).await?;
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
