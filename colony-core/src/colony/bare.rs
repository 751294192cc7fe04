//! [`BareRuntime`]: an environment that is just the live fossil, without a
//! namespace, a mount or a cpu listener.

use std::net::SocketAddr;
use std::sync::Arc;

use colony_fossil::Fossil;
use colony_venti::Score;

use super::runtime::{EnvRequest, EnvRuntime, RunningEnv};
use crate::error::{Error, Result};

/// Runs environments as bare live fossils: embedders reach the tree with
/// [`Colony::env_fossil`](super::Colony::env_fossil) and work on it in
/// process; `save`, `invite` and `boom` behave as for full sessions.
#[derive(Clone, Copy, Debug, Default)]
pub struct BareRuntime;

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
        let fossil = self.fossil.clone();
        let saved = tokio::task::spawn_blocking(move || fossil.save())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        saved.map_err(|reason| Error::Env {
            name: self.name.clone(),
            reason: format!("save: {reason}"),
        })
    }

    async fn stop(&self) -> Result<()> {
        // Nothing runs beside the fossil; dropping it frees its local store.
        Ok(())
    }
}
