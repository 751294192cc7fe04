//! The pulling side: one peer's log, followed into this node's store and
//! names (see the [module docs](super) for the guarantees).

use std::sync::Arc;
use std::time::Duration;

use colony_venti::{BlockStore, BlockType, Score};
use rustls::ClientConfig;

use crate::error::{Error, Result};
use crate::identity::revoked_union::union_into;
use crate::names::NameRecord;
use crate::node::NodeId;
use crate::replication::conn::PeerConn;
use crate::replication::revoked::WireRevoked;
use crate::replication::serve::{blocking, joined};
use crate::replication::status::now;
use crate::replication::wire::{
    self, Bytes, MAX_ENTRIES, PeerRequest, PeerResponse, from_wire, wire_block,
};
use crate::replication::{Cursor, Replica};

/// How long the server may hold a request at the end of its log.
pub const WAIT: Duration = Duration::from_secs(20);

/// Block bytes asked per request: small enough that writing one chunk
/// overlaps the transfer of the next, at most [`wire::MAX_BLOCK_BYTES`].
const FETCH_BYTES: usize = 4 << 20;

/// Block requests outstanding at once.
const IN_FLIGHT: usize = 2;

/// Chunks written at once: hashing and packing a chunk's blocks is the
/// pull's costliest step, and two threads share it (the store's writer
/// lock covers only the append). Memory stays within [`IN_FLIGHT`]
/// chunks on the way and this many being written.
const WRITING: usize = 2;

/// How long an answer may take beyond the wait.
const ANSWER: Duration = Duration::from_secs(60);

/// One connection to a peer, pulling its log.
pub struct Puller {
    replica: Arc<Replica>,
    conn: PeerConn,
    cursor: Cursor,
    /// Log entries asked per round.
    batch: u32,
    /// The digest of the revocation lists last got from the peer.
    revoked: u64,
    /// The next round's log request is already sent: its answer comes
    /// after this round's blocks, so the peer walks its log while this
    /// node writes.
    asked: bool,
    /// The last round's commit (sync, names, cursor), running while this
    /// round's blocks come; it returns the records it merged.
    committing: Option<tokio::task::JoinHandle<Result<usize>>>,
}

/// What one round of [`Puller::step`] moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Log entries the peer listed.
    pub listed: usize,
    /// Blocks fetched and written (the rest were here).
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Records new here: merged by this round's commit, or the last
    /// round's if this one's still runs (see [`Puller::step`]).
    pub names: usize,
    /// Users and nodes newly revoked here.
    pub revoked: usize,
    /// The peer had nothing more when it answered.
    pub caught_up: bool,
}

impl Puller {
    /// Dials `addr` with this node's credential (`config`); the server
    /// must hold a node certificate of the grid other than ours. Starts
    /// from the cursor saved for that node.
    pub async fn connect(
        replica: Arc<Replica>,
        config: Arc<ClientConfig>,
        addr: &str,
    ) -> Result<Puller> {
        let conn = PeerConn::connect(config, addr, &replica.node).await?;
        if replica.revocations.current().nodes.contains(conn.peer()) {
            return Err(Error::Connection {
                addr: addr.to_string(),
                reason: format!("node {} is revoked", conn.peer()),
            });
        }
        let cursor = Cursor::load(&replica.data_dir, conn.peer())?;
        tracing::info!(%addr, peer = %conn.peer(), log = cursor.log, names = cursor.names, "pulling from peer");
        Ok(Puller {
            replica,
            conn,
            cursor,
            batch: MAX_ENTRIES,
            revoked: 0,
            asked: false,
            committing: None,
        })
    }

    /// Asks for at most `entries` log entries a round (tests use small
    /// slices to stop between them).
    pub fn with_batch(mut self, entries: u32) -> Puller {
        self.batch = entries.clamp(1, MAX_ENTRIES);
        self
    }

    /// The peer's node id.
    pub fn peer(&self) -> &NodeId {
        self.conn.peer()
    }

    /// Where this puller is in the peer's log and records.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// One round: a slice of the peer's log (waiting at its end when
    /// `wait`) and its revocation lists if they changed, merged into ours
    /// at once; the blocks of the slice this node lacks; then its commit: a
    /// sync, the records the slice covers, the cursor saved. When the
    /// peer has more, the commit runs on while the next round's blocks
    /// come, and that round waits for it before its own; a round that
    /// catches up returns once everything is committed.
    pub async fn step(&mut self, wait: bool) -> Result<Step> {
        let wait = if wait { WAIT } else { Duration::ZERO };
        if !std::mem::take(&mut self.asked) {
            let request = self.log_request(self.cursor, wait);
            self.conn.send(&request).await?;
        }
        let PeerResponse::Log {
            entries,
            next,
            end,
            names,
            next_names,
            revoked,
        } = self.conn.receive(wait + ANSWER).await?
        else {
            return Err(self.conn.unexpected("a log slice"));
        };
        let revoked_here = match revoked {
            Some(lists) => self.revoke(lists).await?,
            None => 0,
        };
        if next > end {
            // The peer's log is shorter than our cursor in it: it is a new
            // store under the same node id. Start over (what is here stays).
            tracing::warn!(peer = %self.conn.peer(), cursor = self.cursor.log, end, "the peer's log ends before our cursor; pulling it again from the start");
            let names = self.settle().await?;
            self.cursor = Cursor::default();
            return Ok(Step {
                names,
                ..Step::default()
            });
        }
        let mut step = Step {
            listed: entries.len(),
            revoked: revoked_here,
            caught_up: next == end && names.len() < wire::MAX_NAMES,
            ..Step::default()
        };
        let wanted = entries
            .iter()
            .map(|(b, size)| Ok((from_wire(b)?, *size)))
            .collect::<Result<Vec<_>>>()?;
        let replica = self.replica.clone();
        let missing: Vec<((Score, BlockType), u16)> = blocking(move || {
            let mut missing = Vec::new();
            for ((score, ty), size) in wanted {
                if !replica.store.has(&score, ty).map_err(Error::Store)? {
                    missing.push(((score, ty), size));
                }
            }
            Ok(missing)
        })
        .await?;
        let moved = Cursor {
            log: next,
            names: next_names,
        };
        // More is there: ask for it now (the answer cannot wait).
        let then = (!step.caught_up).then(|| self.log_request(moved, Duration::ZERO));
        (step.blocks, step.bytes) = self.fetch(&missing, then).await?;
        let records = names
            .iter()
            .map(|b| NameRecord::decode(&b.0))
            .collect::<Result<Vec<_>>>()?;
        step.names = self.settle().await?;
        let commit = self.commit(step.blocks > 0 || !records.is_empty(), records, moved);
        self.cursor = moved;
        if step.caught_up {
            step.names += joined(commit).await?;
        } else {
            self.committing = Some(commit);
        }
        self.replica.status.pulling(self.conn.addr(), |p| {
            p.node = Some(self.conn.peer().clone());
            p.connected = true;
            p.behind = Some(end.saturating_sub(next));
            p.blocks += step.blocks;
            p.bytes += step.bytes;
            p.last_exchange = Some(now());
            p.last_error = None;
        });
        Ok(step)
    }

    /// Waits for the last round's commit, if one runs; returns the records
    /// it merged.
    async fn settle(&mut self) -> Result<usize> {
        match self.committing.take() {
            Some(commit) => joined(commit).await,
            None => Ok(0),
        }
    }

    /// Starts a round's commit: when the round brought blocks or
    /// `records`, a sync, then the records merged (every block of the
    /// slice is durable before any name that needs it is visible); then
    /// the cursor `moved` saved.
    fn commit(
        &self,
        sync: bool,
        records: Vec<NameRecord>,
        moved: Cursor,
    ) -> tokio::task::JoinHandle<Result<usize>> {
        let (replica, peer) = (self.replica.clone(), self.conn.peer().clone());
        let unmoved = moved == self.cursor;
        tokio::task::spawn_blocking(move || {
            let mut new = 0;
            if sync {
                replica.store.sync().map_err(Error::Store)?;
                new = merge_each(&replica, &records)?;
            }
            if !unmoved {
                moved.store(&replica.data_dir, &peer)?;
            }
            Ok(new)
        })
    }

    /// The log request for the round starting at `from`.
    fn log_request(&self, from: Cursor, wait: Duration) -> PeerRequest {
        PeerRequest::Log {
            log: from.log,
            names: from.names,
            max: self.batch,
            wait_ms: wait.as_millis() as u32,
            revoked: self.revoked,
        }
    }

    /// Fetches `missing` in chunks of at most [`FETCH_BYTES`], with
    /// [`IN_FLIGHT`] requests outstanding, writing each chunk (every
    /// block's score checked) while the next ones travel; sends `then`
    /// after the last chunk's request. Returns the blocks and bytes
    /// written.
    async fn fetch(
        &mut self,
        missing: &[((Score, BlockType), u16)],
        mut then: Option<PeerRequest>,
    ) -> Result<(u64, u64)> {
        let chunks = chunks(missing, FETCH_BYTES);
        self.send_then(chunks.is_empty(), &mut then).await?;
        let mut sent = 0;
        let mut writing = std::collections::VecDeque::with_capacity(WRITING);
        let mut bytes = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            while sent < chunks.len() && sent < i + IN_FLIGHT {
                let request = PeerRequest::Blocks(
                    chunks[sent]
                        .iter()
                        .map(|((s, t), _)| wire_block(s, *t))
                        .collect(),
                );
                self.conn.send(&request).await?;
                sent += 1;
                self.send_then(sent == chunks.len(), &mut then).await?;
            }
            let PeerResponse::Blocks(blocks) = self.conn.receive(ANSWER).await? else {
                return Err(self.conn.unexpected("blocks"));
            };
            if blocks.len() != chunk.len() {
                return Err(Error::BadFrame(format!(
                    "peer {} sent {} blocks for {} asked",
                    self.conn.peer(),
                    blocks.len(),
                    chunk.len()
                )));
            }
            if writing.len() == WRITING
                && let Some(w) = writing.pop_front()
            {
                bytes += joined(w).await?;
            }
            let (replica, peer) = (self.replica.clone(), self.conn.peer().clone());
            let wanted: Vec<(Score, BlockType)> = chunk.iter().map(|(b, _)| *b).collect();
            writing.push_back(tokio::task::spawn_blocking(move || {
                write_checked(&replica, &peer, &wanted, blocks)
            }));
        }
        for w in writing {
            bytes += joined(w).await?;
        }
        Ok((missing.len() as u64, bytes))
    }

    /// Sends `then`, if any, once `now`.
    async fn send_then(&mut self, now: bool, then: &mut Option<PeerRequest>) -> Result<()> {
        if let Some(request) = then.take_if(|_| now) {
            self.conn.send(&request).await?;
            self.asked = true;
        }
        Ok(())
    }

    /// Adds the peer's revocation lists to ours (revocations first,
    /// before any block: they are what keeps a revoked user out); returns
    /// how many identities are newly revoked here.
    async fn revoke(&mut self, lists: WireRevoked) -> Result<usize> {
        let theirs = lists.lists()?;
        let dir = self.replica.data_dir.clone();
        let added = blocking(move || union_into(&dir, &theirs)).await?;
        if !added.is_empty() {
            tracing::warn!(peer = %self.conn.peer(), users = ?added.users, nodes = ?added.nodes, "revoked as the peer has");
        }
        self.revoked = lists.digest;
        Ok(added.users.len() + added.nodes.len())
    }
}

/// Writes `blocks`, each of which must have the score asked for
/// (`wanted`, in order); returns their bytes.
fn write_checked(
    replica: &Replica,
    peer: &NodeId,
    wanted: &[(Score, BlockType)],
    blocks: Vec<Bytes>,
) -> Result<u64> {
    let mut bytes = 0;
    for ((want, ty), block) in wanted.iter().zip(blocks) {
        // The store hashes what it writes: a block under another score is
        // stored under its own (harmless) and refused here.
        let got = replica.store.write(*ty, &block.0).map_err(Error::Store)?;
        if got != *want {
            return Err(Error::BadBlockFromPeer {
                peer: peer.to_string(),
                want: *want,
                got,
            });
        }
        bytes += block.0.len() as u64;
    }
    Ok(bytes)
}

/// Consecutive runs of `missing` of at most `max` bytes each.
fn chunks<T>(missing: &[(T, u16)], max: usize) -> Vec<&[(T, u16)]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (_, size)) in missing.iter().enumerate() {
        let size = usize::from(*size);
        if bytes + size > max && i > start {
            out.push(&missing[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < missing.len() {
        out.push(&missing[start..]);
    }
    out
}

/// Merges `records` one at a time, so a conflicting one (refused and
/// logged by [`ScoreNames::merge`](crate::ScoreNames::merge)) does not
/// hold back the others. Returns how many were new; any other failure
/// stops the pull before its cursor moves.
fn merge_each(replica: &Replica, records: &[NameRecord]) -> Result<usize> {
    let mut new = 0;
    for r in records {
        match replica.names.merge(std::slice::from_ref(r)) {
            Ok(n) => new += n,
            Err(Error::NameConflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_stay_under_the_cap() {
        let sizes = vec![((), 60000u16); 1000];
        let c = chunks(&sizes, wire::MAX_BLOCK_BYTES);
        assert!(c.iter().all(
            |c| c.iter().map(|(_, s)| usize::from(*s)).sum::<usize>() <= wire::MAX_BLOCK_BYTES
        ));
        assert_eq!(c.iter().map(|c| c.len()).sum::<usize>(), 1000);
        assert!(chunks::<()>(&[], wire::MAX_BLOCK_BYTES).is_empty());
    }
}
