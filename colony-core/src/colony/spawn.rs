//! `spawn`, `spawndisk` and `boom`, and resuming the environments a node
//! ran when it stopped or died.

use std::sync::Arc;

use colony_fossil::fossil::LocalKind;
use colony_fossil::{Fossil, FossilOptions};

use super::Colony;
use super::checkpoint::EnvCheckpoint;
use super::config::{env_path, host_port};
use super::hosted::env_error;
use super::info::EnvInfo;
use super::record::EnvRecord;
use super::runtime::{EnvRequest, EnvRuntime, RunningEnv};
use super::table::Live;
use crate::error::{Error, Result};
use crate::names::{Name, now};
use crate::user::UserName;

impl<R: EnvRuntime> Colony<R> {
    /// `spawn NAME` (`disk` false) or `spawndisk NAME` (`disk` true):
    /// starts an environment rooted in a live fossil of `name`'s snapshot,
    /// with a local store in memory or, for `spawndisk`, in a file under
    /// `envs/` taking one of the node's disk slots. It is recorded in
    /// `running/` before the spawn is answered, so it comes back after a
    /// restart ([`resume`](Colony::resume)).
    ///
    /// Refused, in this order: a name that does not parse
    /// ([`Error::BadName`]); one `user` does not own, exactly, or that
    /// does not exist ([`Error::NameNotFound`], the same for both); one
    /// already running here ([`Error::AlreadyRunning`]); past the node's,
    /// the user's or the disk slots' limit ([`Error::LimitReached`]).
    /// After [`shutdown`](Colony::shutdown) every spawn of an owned name
    /// is [`Error::ShuttingDown`].
    pub async fn spawn(&self, user: &UserName, name: &str, disk: bool) -> Result<EnvInfo> {
        let name = Name::parse(name)?;
        let named = self.names.resolve(user, &name)?;
        let record = EnvRecord {
            name: name.to_string(),
            owner: user.clone(),
            disk,
            from: named.score,
            root: named.score,
            started: now(),
        };
        let info = self.start(name, record, true).await?;
        tracing::info!(env = %info.name, %user, disk, "spawned");
        Ok(info)
    }

    /// Starts again every environment recorded in `running/`: the same
    /// name and owner, `spawn` or `spawndisk` as it was, from the root its
    /// last sync recorded. A user revoked meanwhile gets nothing back (the
    /// record goes, as a boom's does). A record that does not parse, or an
    /// environment that does not start (a limit lowered meanwhile, say), is
    /// logged and its record kept for the next start. Returns what runs.
    pub async fn resume(&self) -> Result<Vec<EnvInfo>> {
        let records = self.records.clone();
        let loaded = blocking("running", move || records.load()).await?;
        let mut resumed = Vec::new();
        for record in loaded {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("not resumed: {e}");
                    continue;
                }
            };
            let (env, user) = (record.name.clone(), record.owner.clone());
            if self.is_revoked(&user) {
                tracing::warn!(%env, %user, "not resumed: the user is revoked");
                self.records.remove(&env)?;
                continue;
            }
            let started = match Name::parse(&env) {
                Ok(name) => self.start(name, record, false).await,
                Err(e) => Err(e),
            };
            match started {
                Ok(info) => {
                    tracing::info!(%env, %user, "resumed");
                    resumed.push(info);
                }
                Err(e) => tracing::error!(%env, %user, "not resumed (its record stays): {e}"),
            }
        }
        Ok(resumed)
    }

    /// Starts the environment `record` describes from its root, (re)writes
    /// its record and puts it in the table. A `fresh` one (a spawn, not a
    /// resume) that fails to start leaves no record.
    async fn start(&self, name: Name, record: EnvRecord, fresh: bool) -> Result<EnvInfo> {
        let key = record.name.clone();
        let user = record.owner.clone();
        let disk = record.disk;
        let slot = self.envs.reserve(&key, &user, disk, &self.limits)?;
        let envs = self.config.envs_dir();
        let options = FossilOptions {
            local_limit: if disk {
                self.limits.disk_store
            } else {
                self.limits.local_store
            },
            local: if disk {
                LocalKind::File(env_path(&envs, &key, "local"))
            } else {
                LocalKind::Memory
            },
            ..FossilOptions::default()
        };
        let store = self.store.clone();
        let root = record.root;
        let opened = tokio::task::spawn_blocking(move || Fossil::open(store, root, options))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        let fossil = Arc::new(opened.map_err(|reason| Error::Env {
            name: key.clone(),
            reason: format!("open {root}: {reason}"),
        })?);
        let started = record.started;
        let checkpoint = Arc::new(EnvCheckpoint::new(
            self.records.clone(),
            fossil.clone(),
            record,
        ));
        // Recorded before anything can sync in it, and before the spawn is
        // answered: from here on it comes back after a crash.
        let recorder = checkpoint.clone();
        blocking(&key, move || recorder.record()).await?;
        let request = EnvRequest {
            name,
            owner: user.clone(),
            fossil,
            checkpoint: checkpoint.clone(),
            mountpoint: env_path(&envs, &key, "root"),
            cpu_bind: host_port(&self.config.cpu_host, 0),
            restored: !fresh,
        };
        let env = match self.runtime.start(request).await {
            Ok(env) => env,
            Err(e) => {
                unrecord(fresh, checkpoint, &key).await;
                return Err(e);
            }
        };
        let cpu_addr = env
            .cpu_addr()
            .map_or_else(String::new, |a| self.config.cpu_address(a.port()));
        let live = Arc::new(Live {
            env,
            name: key.clone(),
            owner: user.clone(),
            disk,
            started,
            cpu_addr,
            checkpoint: checkpoint.clone(),
        });
        if let Err(e) = slot.fill(&live) {
            if let Err(stop) = live.env.stop().await {
                tracing::warn!(env = %live.name, "stopping a spawn refused at shutdown: {stop}");
            }
            unrecord(fresh, checkpoint, &key).await;
            return Err(e);
        }
        // Revoked while it started: the revocation enforcer may have looked
        // before the slot was filled. Checked after filling, so one of the
        // two sees it.
        if self.is_revoked(&user) {
            self.boom_all_of(&user).await;
            return Err(Error::Refused(format!("user {user} is revoked")));
        }
        Ok(live.info())
    }

    /// `boom NAME`: stops `user`'s running environment `env`, frees its
    /// slot and removes its record (it will not come back); every name
    /// saved from it stays. Another user's environment is refused exactly
    /// like one not running ([`Error::NotRunning`]). The slot is freed even
    /// when stopping reports an error.
    pub async fn boom(&self, user: &UserName, env: &str) -> Result<()> {
        let live = self.envs.take(user, env)?;
        let checkpoint = live.checkpoint.clone();
        let forgotten = blocking(env, move || checkpoint.forget()).await;
        live.env.stop().await?;
        forgotten?;
        tracing::info!(env, %user, "boomed");
        Ok(())
    }

    /// Flushes what the environment's programs wrote into its fossil and
    /// checkpoints it; returns the root recorded.
    pub(crate) async fn checkpoint(&self, live: &Live<R::Env>) -> Result<colony_venti::Score> {
        live.env.save().await?;
        let checkpoint = live.checkpoint.clone();
        blocking(&live.name, move || checkpoint.sync()).await
    }
}

/// Removes the record of a spawn that did not happen; a resumed
/// environment (`fresh` false) keeps its record for the next start.
async fn unrecord(fresh: bool, checkpoint: Arc<EnvCheckpoint>, name: &str) {
    if fresh && let Err(e) = blocking(name, move || checkpoint.forget()).await {
        tracing::warn!(env = %name, "removing the record of a failed spawn: {e}");
    }
}

/// Runs `f` on a blocking thread (file and store I/O with fsyncs).
async fn blocking<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| env_error(name, "record", e))?
}
