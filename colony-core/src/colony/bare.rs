//! [`BareRuntime`]: an environment that is just the live fossil, without a
//! namespace, a mount or a cpu listener.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use colony_fossil::Fossil;
use colony_venti::Score;

use colony_ns::session::LinuxConfig;

use super::hosted::env_error;
use super::runtime::{EnvRequest, EnvRuntime, RunningEnv};
use super::{Colony, ColonyConfig};
use crate::error::Result;

/// Runs environments as bare live fossils: embedders reach the tree with
/// [`Colony::env_fossil`](super::Colony::env_fossil) and work on it in
/// process; `save`, `invite` and `boom` behave as for full sessions.
#[derive(Clone, Copy, Debug, Default)]
pub struct BareRuntime;

impl Colony<BareRuntime> {
    /// Opens the node initialised in `data_dir` with bare environments:
    /// no sessions, so no cpu listener and no session helper (the
    /// configuration names none that could run).
    pub fn open_bare(data_dir: &Path) -> Result<Colony<BareRuntime>> {
        let config = ColonyConfig {
            data_dir: data_dir.to_path_buf(),
            cpu_host: "127.0.0.1".into(),
            helper: LinuxConfig::new("/nonexistent/colony-session-helper"),
            seed: None,
        };
        Colony::with_runtime(config, BareRuntime)
    }
}

/// A bare environment: the fossil and its name.
pub struct BareEnv {
    name: String,
    fossil: Arc<Fossil>,
}

impl EnvRuntime for BareRuntime {
    type Env = BareEnv;

    async fn start(&self, request: EnvRequest) -> Result<BareEnv> {
        Ok(BareEnv {
            name: request.name.to_string(),
            fossil: request.fossil,
        })
    }
}

impl RunningEnv for BareEnv {
    fn fossil(&self) -> &Arc<Fossil> {
        &self.fossil
    }

    fn cpu_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn save(&self) -> Result<Score> {
        save_fossil(&self.name, &self.fossil).await
    }

    async fn stop(&self) -> Result<()> {
        // Nothing runs beside the fossil; dropping it frees its local store.
        Ok(())
    }
}

/// Saves `fossil` (environment `name`) on a blocking thread; returns the
/// new root score (its blocks written, not yet synced).
pub(crate) async fn save_fossil(name: &str, fossil: &Arc<Fossil>) -> Result<Score> {
    let fossil = fossil.clone();
    tokio::task::spawn_blocking(move || fossil.save())
        .await
        .map_err(|e| env_error(name, "save", e))?
        .map_err(|e| env_error(name, "save", e))
}
