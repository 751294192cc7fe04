//! The server side of the peer protocol: answers one peer node's
//! requests on its connection to the grid port.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use colony_venti::BlockStore;

use crate::error::{Error, Result};
use crate::node::NodeId;
use crate::replication::Replica;
use crate::replication::revoked::WireRevoked;
use crate::replication::wire::{
    self, Bytes, MAX_ENTRIES, MAX_NAMES, MAX_PEER_REQUEST, MAX_PEER_RESPONSE, PeerRequest,
    PeerResponse, from_wire, wire_block,
};
use crate::rpc::{Conn, Response, frame};

/// The longest a request may ask the server to wait for new entries.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// A peer connection with no request for this long is closed (its
/// puller dials again when it needs to).
const IDLE: Duration = Duration::from_secs(300);

/// Serves the peer protocol to `peer` on `tls` until it closes or
/// `stopped` changes (the server's stop, or `peer` revoked); a revoked
/// peer is refused at once. A node that speaks the user protocol instead is
/// told it is not a user, as before nodes replicated.
pub(crate) async fn serve(
    tls: &mut Conn,
    peer: NodeId,
    replica: Arc<Replica>,
    mut stopped: watch::Receiver<bool>,
) -> Result<()> {
    let conn_err = |reason: String| Error::Connection {
        addr: format!("node {peer}"),
        reason,
    };
    if replica.revocations.current().nodes.contains(&peer) {
        // The handshake refuses a revoked node's certificate, but a
        // resumed TLS session presents none.
        let e = Error::Refused(format!("node {peer} is revoked"));
        let answer = wire::encode(&PeerResponse::Error(e.to_string()), MAX_PEER_RESPONSE)?;
        let _ = wire::write(tls, &answer).await;
        let _ = tls.shutdown().await;
        return Err(e);
    }
    loop {
        let read = tokio::select! {
            _ = stopped.changed() => break,
            read = wire::read(tls, MAX_PEER_REQUEST) => read,
            // A live puller asks at least every MAX_WAIT.
            _ = tokio::time::sleep(IDLE) => {
                tracing::info!(%peer, "closing a peer connection idle for {IDLE:?}");
                break;
            }
        };
        let body = match read {
            Ok(Some(body)) => body,
            Ok(None) => return Ok(()),
            Err(e) => {
                let answer = wire::encode(&PeerResponse::Error(e.to_string()), MAX_PEER_RESPONSE)?;
                let _ = wire::write(tls, &answer).await;
                break;
            }
        };
        if body.first() == Some(&frame::VERSION) {
            let e = Error::Refused(format!(
                "node {peer} is not a user; grid commands take a user credential"
            ));
            let answer = frame::encode(&Response::Error(e.to_string()), frame::MAX_RESPONSE)?;
            let _ = frame::write(tls, &answer).await;
            let _ = tls.shutdown().await;
            return Err(e);
        }
        let response = match wire::decode::<PeerRequest>(&body, MAX_PEER_REQUEST) {
            Ok(request) => answer(&replica, &peer, request, stopped.clone()).await,
            Err(e) => Err(e),
        };
        let response = response.unwrap_or_else(|e| {
            tracing::info!(%peer, "peer request refused: {e}");
            PeerResponse::Error(e.to_string())
        });
        let bytes = wire::encode(&response, MAX_PEER_RESPONSE)?;
        wire::write(tls, &bytes)
            .await
            .map_err(|e| conn_err(e.to_string()))?;
    }
    let _ = tls.shutdown().await;
    Ok(())
}

async fn answer(
    replica: &Arc<Replica>,
    peer: &NodeId,
    request: PeerRequest,
    mut stopped: watch::Receiver<bool>,
) -> Result<PeerResponse> {
    match request {
        PeerRequest::Log {
            log,
            names,
            max,
            wait_ms,
            revoked,
        } => {
            let max = max.clamp(1, MAX_ENTRIES) as usize;
            let wait = Duration::from_millis(u64::from(wait_ms)).min(MAX_WAIT);
            let deadline = tokio::time::Instant::now() + wait;
            let mut changes = replica.store.subscribe();
            let mut revocations = replica.revocations.subscribe();
            loop {
                changes.borrow_and_update();
                // Read after subscribing: a change from here on wakes us.
                let lists = WireRevoked::of(&replica.revocations.current());
                let lists = (lists.digest != revoked).then_some(lists);
                let r = replica.clone();
                let slice = blocking(move || r.log_slice(log, names, max, lists)).await?;
                // Nothing new, and the puller is not past our end (then it
                // must hear at once that our log is shorter).
                let waiting = matches!(&slice, PeerResponse::Log { entries, names: n, next, end, revoked, .. }
                    if entries.is_empty() && n.is_empty() && revoked.is_none() && *next == log && log <= *end);
                if let PeerResponse::Log { end, .. } = &slice {
                    replica.status.served(peer, log, *end);
                }
                if !waiting {
                    return Ok(slice);
                }
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return Ok(slice) },
                    // A stopped watcher disables this branch.
                    Some(_) = revocations.changed() => {}
                    _ = tokio::time::sleep_until(deadline) => return Ok(slice),
                    _ = stopped.changed() => return Ok(slice),
                }
            }
        }
        PeerRequest::Blocks(wanted) => {
            let wanted = wanted.iter().map(from_wire).collect::<Result<Vec<_>>>()?;
            let r = replica.clone();
            blocking(move || {
                let mut total = 0;
                let mut out = Vec::with_capacity(wanted.len());
                for (score, ty) in wanted {
                    let block = r.store_read(&score, ty)?;
                    total += block.len();
                    if total > wire::MAX_BLOCK_BYTES {
                        return Err(Error::BadFrame(format!(
                            "more than {} bytes of blocks asked at once",
                            wire::MAX_BLOCK_BYTES
                        )));
                    }
                    out.push(Bytes(block));
                }
                Ok(PeerResponse::Blocks(out))
            })
            .await
        }
    }
}

impl Replica {
    /// A slice of the log after `log`, the records from number `names`
    /// on whose position is within it, and `revoked`.
    fn log_slice(
        &self,
        log: u64,
        names: u64,
        max: usize,
        revoked: Option<WireRevoked>,
    ) -> Result<PeerResponse> {
        let slice = self.store.log_since(log, max).map_err(Error::Store)?;
        // Never past the durable end, even for a cursor from elsewhere.
        let upto = slice.next.min(slice.end);
        let learned = self.names.learned_since(names, MAX_NAMES)?;
        let ready: Vec<_> = learned.into_iter().take_while(|l| l.at <= upto).collect();
        let next_names = ready.last().map_or(names, |l| l.seq + 1);
        Ok(PeerResponse::Log {
            entries: slice
                .entries
                .iter()
                .map(|e| (wire_block(&e.score, e.ty), e.size))
                .collect(),
            next: slice.next,
            end: slice.end,
            names: ready.iter().map(|l| Bytes(l.record.encode())).collect(),
            next_names,
            revoked,
        })
    }

    fn store_read(
        &self,
        score: &colony_venti::Score,
        ty: colony_venti::BlockType,
    ) -> Result<Vec<u8>> {
        // The puller checks every score: hashing here too would cost a
        // second SHA-1 per byte for nothing.
        self.store.read_unhashed(score, ty).map_err(Error::Store)
    }
}

/// Runs `f` on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    joined(tokio::task::spawn_blocking(f)).await
}

/// The result of a blocking task; its panic goes on in the caller.
pub(crate) async fn joined<T>(task: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::ShuttingDown),
    }
}
