//! Revocation bites on a running node: every environment of a revoked
//! user is stopped (names saved from it stay), whenever the lists change
//! and for a spawn that finishes after its user was revoked.

use std::sync::Arc;

use super::Colony;
use super::runtime::EnvRuntime;
use crate::identity::Identity;
use crate::identity::revocations::Revocations;
use crate::user::UserName;

impl<R: EnvRuntime> Colony<R> {
    /// The data directory's revocation lists, live.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Whether `user` is revoked now.
    pub fn is_revoked(&self, user: &UserName) -> bool {
        self.revocations
            .current()
            .refuses(&Identity::User(user.clone()))
    }

    /// Stops every running environment of `user`, keeping every name
    /// saved from them; returns how many were stopped.
    pub async fn boom_all_of(&self, user: &UserName) -> usize {
        let mut stopped = 0;
        for live in self.envs.owned_by(user) {
            match self.boom(user, &live.name).await {
                Ok(()) => stopped += 1,
                Err(e) => {
                    tracing::warn!(env = %live.name, %user, "stopping a revoked user's environment: {e}")
                }
            }
        }
        stopped
    }

    /// Stops the environments of every revoked user now and whenever the
    /// revocation lists change; runs until the task is dropped.
    pub async fn enforce_revocations(self: Arc<Self>) {
        let mut changes = self.revocations.subscribe();
        let mut revoked = self.revocations.current();
        loop {
            for user in &revoked.users {
                let n = self.boom_all_of(user).await;
                if n > 0 {
                    tracing::warn!(%user, environments = n, "revoked: stopped the user's environments");
                }
            }
            match changes.changed().await {
                Some(now) => revoked = now,
                None => return,
            }
        }
    }
}
