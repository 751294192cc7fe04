//! [`FossilSession`]: an [`FsSession`] whose root is a live fossil, with
//! [`FossilSession::save`] to snapshot what the session wrote.

use super::Session;
use super::fs_session::{FsConfig, FsSession};
use super::linux::{LinuxConfig, LinuxSession};
use super::process::{Process, ProcessInfo, PtyProcess};
use super::spec::{CommandSpec, SessionSpec, WindowSize};
use crate::fossil_fs::FossilFs;
use crate::{Error, Result};
use colony_fossil::Fossil;
use colony_venti::Score;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a [`FossilSession`] needs besides its [`SessionSpec`].
#[derive(Clone)]
pub struct FossilConfig {
    /// How to run the helper process.
    pub linux: LinuxConfig,
    /// The live tree that becomes the session's `/`.
    pub fossil: Arc<Fossil>,
    /// A private host directory to mount it on: created if missing,
    /// removed on stop (it must then be empty).
    pub mountpoint: PathBuf,
}

/// A session rooted in a live fossil. `spec.root` is ignored: the root is
/// the fossil. Everything the session's processes write goes to the
/// fossil; [`FossilSession::save`] makes a snapshot of it.
pub struct FossilSession {
    session: FsSession,
    fossil: Arc<Fossil>,
}

impl FossilSession {
    /// The live tree.
    pub fn fossil(&self) -> &Arc<Fossil> {
        &self.fossil
    }

    /// Where the fossil is mounted on the host (until stopped).
    pub fn mountpoint(&self) -> &Path {
        self.session.mountpoint()
    }

    /// The session underneath, while running (its init, helper, cgroups).
    pub fn linux(&self) -> Option<&LinuxSession> {
        self.session.linux()
    }

    /// Flushes what processes wrote through the mount into the fossil
    /// ([`FsSession::flush`]) and saves it; returns the new snapshot's
    /// root score.
    pub async fn save(&self) -> Result<Score> {
        self.session.flush().await?;
        let fossil = self.fossil.clone();
        tokio::task::spawn_blocking(move || Ok(fossil.save()?))
            .await
            .map_err(|e| Error::SessionSetup(e.to_string()))?
    }
}

impl Session for FossilSession {
    type Config = FossilConfig;

    async fn start(config: &FossilConfig, spec: &SessionSpec) -> Result<Self> {
        let fs_config = FsConfig {
            linux: config.linux.clone(),
            fs: Arc::new(FossilFs::new(config.fossil.clone())),
            mountpoint: config.mountpoint.clone(),
        };
        Ok(FossilSession {
            session: FsSession::start(&fs_config, spec).await?,
            fossil: config.fossil.clone(),
        })
    }

    fn name(&self) -> &str {
        self.session.name()
    }

    fn shell_path(&self) -> &str {
        self.session.shell_path()
    }

    async fn run(&self, cmd: &CommandSpec) -> Result<Process> {
        self.session.run(cmd).await
    }

    async fn run_pty(&self, cmd: &CommandSpec, size: WindowSize) -> Result<PtyProcess> {
        self.session.run_pty(cmd, size).await
    }

    fn processes(&self) -> Result<Vec<ProcessInfo>> {
        self.session.processes()
    }

    async fn stop(&mut self) -> Result<()> {
        self.session.stop().await
    }
}
