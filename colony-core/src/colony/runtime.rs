//! The machinery that turns an opened fossil into a running environment,
//! behind two small traits so that [`Colony`](super::Colony)'s bookkeeping
//! does not depend on how: [`SessionRuntime`](super::SessionRuntime) mounts
//! the fossil with FUSE, roots a Linux session in it and serves it to its
//! owner over a cpu listener (needs root); [`BareRuntime`](super::BareRuntime)
//! runs the live fossil alone, for embedders that work on the tree in
//! process (and for tests without root).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use colony_fossil::Fossil;
use colony_venti::Score;

use crate::error::Result;
use crate::names::Name;
use crate::user::UserName;

/// What [`EnvRuntime::start`] gets.
pub struct EnvRequest {
    /// The scorename the environment is spawned from.
    pub name: Name,
    /// The only user let in.
    pub owner: UserName,
    /// The live file system, opened on the name's root score (or, for an
    /// environment resumed after a restart, on its last checkpoint).
    pub fossil: Arc<Fossil>,
    /// What a sync of the tree does: serve it with
    /// `FossilFs::with_checkpoint`, so fsync inside is a checkpoint.
    pub checkpoint: Arc<dyn colony_ns::Checkpoint>,
    /// A private host directory for the mount (created by the runtime,
    /// removed on stop).
    pub mountpoint: PathBuf,
    /// `host:0`: where to bind the environment's cpu listener.
    pub cpu_bind: String,
    /// Resumed when its node started again (after a crash or a stop):
    /// the named shells it ran are gone, and its listener says so.
    pub restored: bool,
}

/// Starts environments.
pub trait EnvRuntime: Send + Sync + 'static {
    /// A running environment.
    type Env: RunningEnv;

    /// Starts an environment over `request.fossil`.
    fn start(&self, request: EnvRequest) -> impl Future<Output = Result<Self::Env>> + Send;
}

/// A running environment.
pub trait RunningEnv: Send + Sync + 'static {
    /// The live file system under it.
    fn fossil(&self) -> &Arc<Fossil>;

    /// Where its cpu listener listens; `None` when it has none.
    fn cpu_addr(&self) -> Option<SocketAddr>;

    /// Flushes what was written into the fossil and saves it; returns the
    /// new root score (its blocks are written, not yet synced).
    fn save(&self) -> impl Future<Output = Result<Score>> + Send;

    /// Stops it: kills its processes, closes its listener and removes what
    /// it made on the host. Stopping twice is harmless.
    fn stop(&self) -> impl Future<Output = Result<()>> + Send;
}
