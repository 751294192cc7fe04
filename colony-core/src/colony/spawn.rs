//! `spawn`, `spawndisk` and `boom`.

use std::sync::Arc;

use colony_fossil::fossil::LocalKind;
use colony_fossil::{Fossil, FossilOptions};

use super::Colony;
use super::config::{env_path, host_port};
use super::info::EnvInfo;
use super::runtime::{EnvRequest, EnvRuntime, RunningEnv};
use super::table::Live;
use crate::error::{Error, Result};
use crate::names::{Name, now};
use crate::user::UserName;

impl<R: EnvRuntime> Colony<R> {
    /// `spawn NAME` (`disk` false) or `spawndisk NAME` (`disk` true):
    /// starts an environment rooted in a live fossil of `name`'s snapshot,
    /// with a local store in memory or, for `spawndisk`, in a file under
    /// `envs/` taking one of the node's disk slots.
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
        let record = self.names.resolve(user, &name)?;
        let key = name.to_string();
        let slot = self.envs.reserve(&key, user, disk, &self.limits)?;
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
        let opened =
            tokio::task::spawn_blocking(move || Fossil::open(store, record.score, options))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
        let fossil = Arc::new(opened.map_err(|reason| Error::Env {
            name: key.clone(),
            reason: format!("open {}: {reason}", record.score),
        })?);
        let env = self
            .runtime
            .start(EnvRequest {
                name,
                owner: user.clone(),
                fossil,
                mountpoint: env_path(&envs, &key, "root"),
                cpu_bind: host_port(&self.config.cpu_host, 0),
            })
            .await?;
        let cpu_addr = env
            .cpu_addr()
            .map_or_else(String::new, |a| self.config.cpu_address(a.port()));
        let live = Arc::new(Live {
            env,
            name: key,
            owner: user.clone(),
            disk,
            started: now(),
            cpu_addr,
        });
        if let Err(e) = slot.fill(&live) {
            if let Err(stop) = live.env.stop().await {
                tracing::warn!(env = %live.name, "stopping a spawn refused at shutdown: {stop}");
            }
            return Err(e);
        }
        // Revoked while it started: the revocation enforcer may have looked
        // before the slot was filled. Checked after filling, so one of the
        // two sees it.
        if self.is_revoked(user) {
            self.boom_all_of(user).await;
            return Err(Error::Refused(format!("user {user} is revoked")));
        }
        tracing::info!(env = %live.name, %user, disk, "spawned");
        Ok(live.info())
    }

    /// `boom NAME`: stops `user`'s running environment `env` and frees its
    /// slot; every name saved from it stays. Another user's environment is
    /// refused exactly like one not running ([`Error::NotRunning`]). The
    /// slot is freed even when stopping reports an error.
    pub async fn boom(&self, user: &UserName, env: &str) -> Result<()> {
        let live = self.envs.take(user, env)?;
        live.env.stop().await?;
        tracing::info!(env, %user, "boomed");
        Ok(())
    }
}
