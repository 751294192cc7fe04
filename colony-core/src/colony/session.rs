//! [`SessionRuntime`]: environments as Linux sessions rooted in a
//! FUSE-mounted live fossil, each served to its owner by a cpu listener
//! with the grid's mutual TLS ([`Hosted`], which the cpu service runs
//! too).

use std::net::SocketAddr;
use std::sync::Arc;

use colony_fossil::Fossil;
use colony_ns::FossilFs;
use colony_ns::session::LinuxConfig;
use colony_venti::Score;

use super::bare::save_fossil;
use super::config::ColonyConfig;
use super::hosted::{HostSpec, Hosted};
use super::id_ranges::IdRanges;
use super::runtime::{EnvRequest, EnvRuntime, RunningEnv};
use crate::error::Result;
use crate::identity;
use crate::limits::Limits;

/// Starts [`SessionEnv`]s with the node's session helper and TLS.
pub struct SessionRuntime {
    linux: LinuxConfig,
    tls: Arc<rustls::ServerConfig>,
    ids: Arc<IdRanges>,
    limits: Limits,
}

impl SessionRuntime {
    /// The helper from `config`, the node's server TLS (its credential,
    /// client certificates from the grid CA, revoked users refused) and
    /// host id ranges from the data directory's limits.
    pub fn new(config: &ColonyConfig) -> Result<SessionRuntime> {
        let limits = Limits::load(&config.data_dir)?;
        Ok(SessionRuntime {
            linux: config.helper.clone(),
            tls: identity::server_config(&config.data_dir)?,
            ids: IdRanges::open(&config.data_dir, limits.id_base)?,
            limits,
        })
    }
}

/// A running session environment: the session and its cpu listener over
/// the live fossil.
pub struct SessionEnv {
    name: String,
    fossil: Arc<Fossil>,
    hosted: Hosted,
}

impl EnvRuntime for SessionRuntime {
    type Env = SessionEnv;

    async fn start(&self, request: EnvRequest) -> Result<SessionEnv> {
        let name = request.name.to_string();
        let hosted = Hosted::start(HostSpec {
            name: name.clone(),
            // The label is the hostname inside.
            hostname: request.name.label().to_string(),
            owner: request.owner.to_string(),
            fs: Arc::new(FossilFs::with_checkpoint(
                request.fossil.clone(),
                request.checkpoint,
            )),
            mountpoint: request.mountpoint,
            ids: self.ids.clone(),
            limits: self.limits,
            linux: self.linux.clone(),
            cpu_bind: request.cpu_bind,
            tls: self.tls.clone(),
            restored: request.restored,
        })
        .await?;
        Ok(SessionEnv {
            name,
            fossil: request.fossil,
            hosted,
        })
    }
}

impl RunningEnv for SessionEnv {
    fn fossil(&self) -> &Arc<Fossil> {
        &self.fossil
    }

    fn cpu_addr(&self) -> Option<SocketAddr> {
        Some(self.hosted.cpu_addr())
    }

    /// Flushes the mount into the fossil, then saves the fossil.
    async fn save(&self) -> Result<Score> {
        self.hosted.flush().await?;
        save_fossil(&self.name, &self.fossil).await
    }

    async fn stop(&self) -> Result<()> {
        self.hosted.stop().await
    }
}
