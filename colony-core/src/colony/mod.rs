//! The spawning API: [`Colony`], one per node, embeddable.
//!
//! The Plan 9 spawngrid's commands (`scores`, `spawn`, `spawndisk`,
//! `save`, `invite`, `status`, `boom`) over this node's block store and
//! scorenames, with the original's faults fixed: ownership is exact (a
//! user's own names only, compared byte for byte); every refusal says
//! precisely why, and a name or environment of another user is refused
//! exactly like one that does not exist; limits hold per node, per user
//! and for disk slots; output goes only to the caller.
//!
//! * [`config`]: [`ColonyConfig`] and the data directory's layout.
//! * [`EnvInfo`]: what `spawn` and `status` report.
//! * [`EnvRuntime`] / [`RunningEnv`]: how an opened fossil becomes a
//!   running environment — [`SessionRuntime`] (FUSE mount, Linux session,
//!   cpu listener; root), [`RemoteRuntime`] (the same on a separate cpu
//!   service, the fossil exported to it over 9P) or [`BareRuntime`] (the
//!   live fossil alone).
//! * `spawn.rs` (spawn, boom, resume), `snapshot.rs` (save, invite),
//!   `seed.rs` (`clean.<node>` and each user's name for it), `table.rs`
//!   (the running environments and their slots), `record.rs` and
//!   `checkpoint.rs` (what survives a crash: each running environment's
//!   record in `running/`, moved forward by every sync inside it).

mod bare;
mod checkpoint;
pub mod config;
mod export;
pub(crate) mod hosted;
mod id_ranges;
mod info;
mod record;
mod remote;
mod revoke;
mod runtime;
mod seed;
mod session;
mod snapshot;
mod spawn;
mod stale;
mod table;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use colony_fossil::Fossil;
use colony_venti::{ArenaConfig, ArenaStore, BlockStore};

use crate::error::{Error, Result, private_dir};
use crate::identity::revocations::Revocations;
use crate::limits::Limits;
use crate::names::{NameRecord, ScoreNames};
use crate::node::{NODE_ID_FILE, NodeId};
use crate::replication::{LogStore, ReadThrough, Replica, Status};
use crate::user::UserName;

pub use bare::{BareEnv, BareRuntime};
pub use config::ColonyConfig;
pub use id_ranges::{ID_RANGES_FILE, IdLease, IdRanges};
pub use info::EnvInfo;
pub use record::RUNNING_DIR;
pub use remote::{RemoteEnv, RemoteRuntime};
pub use runtime::{EnvRequest, EnvRuntime, RunningEnv};
pub use session::{SessionEnv, SessionRuntime};

use record::Records;
pub(crate) use stale::clear_envs;
use table::EnvTable;

/// One node's spawning API. `Send + Sync`; share it with an `Arc`.
///
/// `R` is how environments run; [`Colony::open`] gives the full
/// [`SessionRuntime`], [`Colony::with_runtime`] any other.
pub struct Colony<R: EnvRuntime = SessionRuntime> {
    config: ColonyConfig,
    node: NodeId,
    names: Arc<ScoreNames>,
    store: Arc<dyn BlockStore>,
    /// The store, names and status replication works on.
    replica: Arc<Replica>,
    limits: Limits,
    runtime: R,
    envs: EnvTable<R::Env>,
    /// The running environments' records.
    records: Arc<Records>,
    /// The data directory's revocation lists, live.
    revocations: Revocations,
}

impl<R: EnvRuntime> Colony<R> {
    /// Opens the node initialised in `config.data_dir` (its node id, names
    /// database, limits and block store in `venti/`), running
    /// environments with `runtime`. Private files and FUSE mounts left in
    /// `envs/` by a node that died are removed (the mounts detached). The
    /// environments recorded in `running/` are not started:
    /// [`resume`](Colony::resume) does that. A data directory that group
    /// or others may read is tightened to 0700 (logged).
    pub fn with_runtime(config: ColonyConfig, runtime: R) -> Result<Colony<R>> {
        let dir = &config.data_dir;
        if !dir.join(NODE_ID_FILE).is_file() {
            return Err(Error::NotInitialised {
                path: dir.clone(),
                reason: format!("no {NODE_ID_FILE} file"),
            });
        }
        // A directory made by an earlier version (0755) exposed every
        // user's data; from now on only root (the node) reads it.
        private_dir(dir)?;
        let node = NodeId::load(dir)?;
        let limits = Limits::load(dir)?;
        // The store first: its lock keeps a second process off the node.
        let store =
            ArenaStore::open(config.venti_dir(), ArenaConfig::default()).map_err(Error::Store)?;
        let log = Arc::new(LogStore::new(store));
        let names = Arc::new(ScoreNames::open(dir)?.with_log(log.clone())?);
        let revocations = Revocations::of(dir)?;
        let read_through = Arc::new(ReadThrough::new(log.clone()));
        let replica = Arc::new(Replica {
            data_dir: dir.clone(),
            node: node.clone(),
            store: log,
            read_through: read_through.clone(),
            names: names.clone(),
            status: Status::default(),
            revocations: revocations.clone(),
        });
        clear_envs(&config.envs_dir())?;
        let records = Arc::new(Records::open(dir)?);
        Ok(Colony {
            config,
            node,
            names,
            store: read_through,
            replica,
            limits,
            runtime,
            envs: EnvTable::new(),
            records,
            revocations,
        })
    }

    /// This node's id.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The node's scorenames, every user's (admin and seeding use).
    pub fn names(&self) -> &ScoreNames {
        &self.names
    }

    /// What replication works on: the node's log, names and status.
    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }

    /// The node's block store (admin and seeding use).
    pub fn store(&self) -> Arc<dyn BlockStore> {
        self.store.clone()
    }

    /// The limits read from the data directory at open.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The configuration the node was opened with.
    pub fn config(&self) -> &ColonyConfig {
        &self.config
    }

    /// `scores [filter]`: the names `user` owns (invites to them
    /// included), in name order; with a filter, those whose name contains
    /// it. Other users' names are never listed.
    pub fn scores(&self, user: &UserName, filter: Option<&str>) -> Result<Vec<NameRecord>> {
        let mut names = self.names.owned_by(user)?;
        if let Some(f) = filter {
            names.retain(|r| r.name.as_str().contains(f));
        }
        Ok(names)
    }

    /// `status`: `user`'s running environments on this node, in name order.
    pub fn status(&self, user: &UserName) -> Result<Vec<EnvInfo>> {
        Ok(self.envs.owned_by(user).iter().map(|l| l.info()).collect())
    }

    /// The live file system of `user`'s running environment `env`, for
    /// embedders that work on the tree in process.
    pub fn env_fossil(&self, user: &UserName, env: &str) -> Result<Arc<Fossil>> {
        Ok(self.envs.get(user, env)?.env.fossil().clone())
    }

    /// What a sync inside `user`'s running environment `env` does (an
    /// fsync through its mount, say), for embedders that work on the tree
    /// in process: checkpoints its fossil and records the root, which is
    /// returned. After a crash, [`resume`](Colony::resume) brings the
    /// environment back with everything written before this returned.
    pub async fn sync_env(&self, user: &UserName, env: &str) -> Result<colony_venti::Score> {
        let live = self.envs.get(user, env)?;
        let checkpoint = live.checkpoint.clone();
        tokio::task::spawn_blocking(move || checkpoint.sync())
            .await
            .map_err(|e| hosted::env_error(env, "sync", e))?
    }

    /// Checkpoints and stops every environment, keeping its record (the
    /// next start [`resume`](Colony::resume)s it with everything written
    /// so far) and every saved name; refuses later spawns and syncs the
    /// block store. Reports the first failure after trying everything.
    pub async fn shutdown(&self) -> Result<()> {
        let mut first = None;
        for live in self.envs.close() {
            if let Err(e) = self.checkpoint(&live).await {
                tracing::warn!(env = %live.name, "checkpoint at shutdown: {e}");
                first.get_or_insert(e);
            }
            if let Err(e) = live.env.stop().await {
                tracing::warn!(env = %live.name, "stopping at shutdown: {e}");
                first.get_or_insert(e);
            }
        }
        if let Err(e) = self.sync().await {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }

    /// Makes every block written so far durable.
    async fn sync(&self) -> Result<()> {
        let store = self.store.clone();
        let synced = tokio::task::spawn_blocking(move || store.sync()).await;
        match synced {
            Ok(r) => r.map_err(Error::Store),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only a runtime shutting down cancels a blocking task.
            Err(_) => Err(Error::ShuttingDown),
        }
    }
}

impl Colony<SessionRuntime> {
    /// Opens the node initialised in `config.data_dir`, running
    /// environments as Linux sessions rooted in FUSE-mounted fossils with
    /// a cpu listener each (TLS from the node's credential and CA).
    pub fn open(config: ColonyConfig) -> Result<Colony<SessionRuntime>> {
        let runtime = SessionRuntime::new(&config)?;
        Colony::with_runtime(config, runtime)
    }
}
