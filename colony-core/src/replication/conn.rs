//! [`PeerConn`]: this node's side of one connection to a peer's grid
//! port, speaking the peer protocol (what the puller and read-through
//! repair both ask over).

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::node::NodeId;
use crate::replication::wire::{
    self, MAX_PEER_REQUEST, MAX_PEER_RESPONSE, PeerRequest, PeerResponse,
};
use crate::rpc::dial;

/// A connection to another node of the grid.
pub struct PeerConn {
    tls: TlsStream<TcpStream>,
    addr: String,
    peer: NodeId,
}

impl PeerConn {
    /// Dials `addr` with this node's credential (`config`); the server
    /// must hold a node certificate of the grid other than `this` node's.
    pub async fn connect(config: Arc<ClientConfig>, addr: &str, this: &NodeId) -> Result<PeerConn> {
        let tls = dial(config, addr).await?;
        let refuse = |reason: String| Error::Connection {
            addr: addr.to_string(),
            reason,
        };
        let peer = match Identity::of_peer(tls.get_ref().1)? {
            Identity::Node(n) if n == *this => {
                return Err(refuse(format!("that is this node ({n})")));
            }
            Identity::Node(n) => n,
            Identity::User(u) => return Err(refuse(format!("user {u} is not a node"))),
        };
        Ok(PeerConn {
            tls,
            addr: addr.to_string(),
            peer,
        })
    }

    /// The peer's node id.
    pub fn peer(&self) -> &NodeId {
        &self.peer
    }

    /// The address dialled.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one request and reads its answer, within `limit`.
    pub async fn call(&mut self, request: &PeerRequest, limit: Duration) -> Result<PeerResponse> {
        self.send(request).await?;
        self.receive(limit).await
    }

    /// Sends one request; its answer comes after those of the requests
    /// sent before it.
    pub async fn send(&mut self, request: &PeerRequest) -> Result<()> {
        let bytes = wire::encode(request, MAX_PEER_REQUEST)?;
        wire::write(&mut self.tls, &bytes)
            .await
            .map_err(|e| self.conn_err(e.to_string()))
    }

    /// Reads the answer to the oldest request unanswered, within `limit`;
    /// the peer's refusal is [`Error::Refused`].
    pub async fn receive(&mut self, limit: Duration) -> Result<PeerResponse> {
        let read = wire::read(&mut self.tls, MAX_PEER_RESPONSE);
        match tokio::time::timeout(limit, read).await {
            Err(_) => Err(self.conn_err(format!("no answer within {limit:?}"))),
            Ok(Ok(None)) => Err(self.conn_err("the peer closed the connection".into())),
            Ok(Ok(Some(body))) => match wire::decode::<PeerResponse>(&body, MAX_PEER_RESPONSE)? {
                PeerResponse::Error(why) => {
                    Err(Error::Refused(format!("peer {}: {why}", self.peer)))
                }
                r => Ok(r),
            },
            Ok(Err(e)) => Err(e),
        }
    }

    /// A failure of this connection.
    pub fn conn_err(&self, reason: String) -> Error {
        Error::Connection {
            addr: self.addr.clone(),
            reason,
        }
    }

    /// An answer of the wrong kind.
    pub fn unexpected(&self, want: &str) -> Error {
        Error::BadFrame(format!("peer {} did not answer with {want}", self.peer))
    }
}
