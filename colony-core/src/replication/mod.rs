//! Replication between storage nodes: blocks and names, continuous,
//! incremental, both ways, over any connected topology (issue 15).
//!
//! **Pull, by log position.** A node's block log (its arenas' clumps in
//! the order they were appended, [`ArenaStore::log_since`]) is the
//! replication cursor. Each node pulls from each of its peers
//! ([`pull`]): "entries of your log after C" gets (score, type, size)
//! of up to [`wire::MAX_ENTRIES`] clumps; the puller asks for just those
//! it lacks, writes each after checking its score, syncs, and only then
//! saves C' for that peer ([`Cursor`], `replication/<node>.cursor`). A `kill
//! -9` anywhere replays from the last saved cursor, and writing a block
//! again changes nothing. Only scores cross for blocks the puller has, so
//! a block it got from a peer is not sent back (~25 bytes instead), and a
//! chain A–B–C works because B's log holds what B got from A. The server
//! gives out only the durable part of its log, so a cursor never points
//! past what a crash could rewrite. At the end of the log the puller's
//! request waits on the server (long poll) until a sync or a new name
//! wakes it ([`LogStore`]); memory is bounded by one slice of the log and
//! [`wire::MAX_BLOCK_BYTES`] of blocks per peer.
//!
//! **Names never ahead of blocks.** Each record carries the log's durable
//! end when this node learned it ([`Learned`](crate::names::Learned)):
//! minted after its blocks were synced, merged from a peer after that
//! pull's blocks were synced. A peer's answer carries the records whose
//! position is at or before where its slice of the log ends, and the
//! puller merges them only after syncing the blocks of that slice. By
//! induction every block reachable from a visible root is local.
//! Conflicting records are refused and logged (one at a time, so one bad
//! record does not hold back the others).
//!
//! **Revocations** replicate too, as grow-only sets ([`revoked`]): a
//! revocation made on any node bites on every node within moments.
//!
//! **Transport.** Replication runs on the grid port: a connection whose
//! client certificate is a node's speaks the peer protocol ([`wire`],
//! frames of its own version byte); a user's certificate never reaches
//! it, nor does a revoked node (its certificate is refused, its open
//! connections closed, and no puller pulls from it). A peer that is down
//! is retried with capped exponential backoff, so a partition heals by
//! itself. [`Status`] is what `colony peers` shows.
//!
//! **Read-through repair.** Everything on the node reads the store
//! through [`ReadThrough`]: a block the node lacks is asked of its peers
//! in turn, checked, stored in the log and returned (see `repair.rs`).

pub mod conn;
pub mod cursor;
mod fetch;
mod log_store;
pub mod peers;
pub mod pull;
mod repair;
pub mod revoked;
pub mod serve;
pub mod status;
pub mod wire;

use std::path::PathBuf;
use std::sync::Arc;

#[cfg(doc)]
use colony_venti::ArenaStore;

use crate::identity::revocations::Revocations;
use crate::names::ScoreNames;
use crate::node::NodeId;

pub use cursor::Cursor;
pub use log_store::LogStore;
pub use peers::{Replicator, peer_addresses};
pub use repair::ReadThrough;
pub use status::Status;

/// What replication works on: one node's log, names and status.
pub struct Replica {
    /// The node's data directory (cursors, status file, credential).
    pub data_dir: PathBuf,
    /// This node.
    pub node: NodeId,
    /// Its block store and log (this node's blocks only: what peers are
    /// served).
    pub store: Arc<LogStore>,
    /// The same store as the node reads it: blocks it lacks repaired
    /// from its peers.
    pub read_through: Arc<ReadThrough>,
    /// Its scorenames.
    pub names: Arc<ScoreNames>,
    /// What operators see.
    pub status: Status,
    /// Its revocation lists, live: sent to pullers, merged from peers.
    pub revocations: Revocations,
}
