//! [`GridServer`]: serves a [`Colony`] to its users over mutual TLS.
//!
//! The user is the client certificate's common name (a certificate from
//! the grid CA, checked by [`server_config`]); a node certificate speaks
//! the peer protocol instead ([`crate::replication`]); a user on the
//! revoked list (live: see
//! [`Revocations`](crate::identity::revocations::Revocations)) is answered
//! with an error and the connection closed. A revocation also closes the
//! user's open connections and stops their environments while the server
//! runs. A user added while the node runs gets
//! their own name for the seed (`clean.<node>.<user>`) on first contact.
//! Each connection is its own task and every
//! answer goes back on the connection that asked, to the asker only (the
//! original grid wrote every answer to hub files all users read).
//! A frame that does not decode gets a [`Response::Error`] and the
//! connection carries on; an over-long one gets the error and is closed,
//! since its body cannot be skipped safely.
//!
//! Bad clients cannot starve good ones ([`RpcLimits`]): connections are
//! capped in all, per source address and per user (past the user cap the
//! client is told so, then closed); handshakes and idle connections time
//! out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::colony::{Colony, EnvRuntime};
use crate::error::{Error, Result};
use crate::identity::revocations::stop_when_revoked;
use crate::identity::{Identity, server_config};
use crate::rpc::Response;
use crate::rpc::dispatch::answer;
use crate::rpc::limits::{Counted, RpcLimits, Tally};
use crate::rpc::listener::{Conn, Handler, TlsListener, admit, serve_frames};
use crate::user::UserName;

/// A running grid server.
pub struct GridServer {
    listener: TlsListener,
    /// Stops revoked users' environments while the server runs.
    _enforcer: Enforcer,
}

/// The revocation enforcer's task, ended with the server.
struct Enforcer(tokio::task::JoinHandle<()>);

impl Drop for Enforcer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl GridServer {
    /// Binds `addr` and serves `colony`, with the node's TLS identity and
    /// revoked list from `colony`'s data directory, within the default
    /// [`RpcLimits`].
    pub async fn bind<R: EnvRuntime>(addr: &str, colony: Arc<Colony<R>>) -> Result<GridServer> {
        GridServer::bind_with(addr, colony, &RpcLimits::default()).await
    }

    /// [`bind`](Self::bind) within `limits`.
    pub async fn bind_with<R: EnvRuntime>(
        addr: &str,
        colony: Arc<Colony<R>>,
        limits: &RpcLimits,
    ) -> Result<GridServer> {
        let data_dir = colony.config().data_dir.clone();
        let tls = server_config(&data_dir)?;
        let enforcer = Enforcer(tokio::spawn(colony.clone().enforce_revocations()));
        let serve = Serve {
            colony,
            users: Tally::new(limits.max_per_user),
            idle: limits.idle_timeout,
        };
        let listener = TlsListener::bind(addr, tls, serve, "grid server", limits).await?;
        Ok(GridServer {
            listener,
            _enforcer: enforcer,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Stops accepting connections and waits until those open have
    /// finished their current request and closed.
    pub async fn shutdown(self) {
        self.listener.shutdown().await;
    }
}

struct Serve<R: EnvRuntime> {
    colony: Arc<Colony<R>>,
    /// Connections per user.
    users: Arc<Tally<UserName>>,
    idle: Option<Duration>,
}

impl<R: EnvRuntime> Handler for Serve<R> {
    async fn serve(
        self: Arc<Self>,
        mut tls: Conn,
        peer: Identity,
        stopped: watch::Receiver<bool>,
    ) -> Result<()> {
        let user = match peer {
            Identity::User(user) => user,
            // A node's certificate speaks the peer protocol (replication),
            // until the node is revoked.
            Identity::Node(node) => {
                let replica = self.colony.replica().clone();
                let revocations = self.colony.revocations().subscribe();
                let stopped = stop_when_revoked(stopped, revocations, Identity::Node(node.clone()));
                return crate::replication::serve::serve(&mut tls, node, replica, stopped).await;
            }
        };
        let admitted = self.user_of(user).and_then(|user| self.count(user));
        let (user, _counted) = admit(&mut tls, admitted, Response::Error).await?;
        tracing::debug!(%user, "grid connection");
        let revocations = self.colony.revocations().subscribe();
        let stopped = stop_when_revoked(stopped, revocations, Identity::User(user.clone()));
        let (colony, asker) = (&self.colony, &user);
        serve_frames(
            &mut tls,
            stopped,
            self.idle,
            Response::Error,
            move |request| answer(colony, asker, request),
        )
        .await
        .map_err(|e| Error::Connection {
            addr: user.to_string(),
            reason: e.to_string(),
        })
    }
}

impl<R: EnvRuntime> Serve<R> {
    /// Counts a connection of `user`, unless they hold the most already.
    fn count(&self, user: UserName) -> Result<(UserName, Counted<UserName>)> {
        match self.users.take(user.clone()) {
            Some(counted) => Ok((user, counted)),
            None => {
                let e = Error::TooManyConnections {
                    scope: format!("user {user}"),
                    max: self.users.max(),
                };
                tracing::warn!("grid server: {e}");
                Err(e)
            }
        }
    }

    /// `user`, if still allowed.
    fn user_of(&self, user: UserName) -> Result<UserName> {
        if self.colony.is_revoked(&user) {
            return Err(Error::Refused(format!("user {user} is revoked")));
        }
        // A user added while the node runs gets their name for the seed
        // on first contact (the running node holds the names database).
        match self.colony.grant_seed(&user) {
            Ok(_) | Err(Error::NameNotFound(_)) => {}
            Err(e) => tracing::warn!(%user, "granting the seed: {e}"),
        }
        Ok(user)
    }
}
