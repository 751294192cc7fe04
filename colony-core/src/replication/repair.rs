//! [`ReadThrough`]: the node's block store as everything on the node
//! reads it (spawn, fossils, seeding). A block this node lacks (a lost
//! arena, names imported before their blocks) is fetched from a peer that
//! has it ([`fetch`](super::fetch)), its score checked, stored in this
//! node's log and returned; the read fails with the store's
//! [`NotFound`](colony_venti::Error::NotFound) only when no reachable peer
//! has it. Writes, `has` and `sync` are the log's own, and peers are
//! served from the log alone, never read through, so nodes that all lack
//! a block do not ask each other round and round.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use colony_venti::{BlockStore, BlockType, Score};
use rustls::ClientConfig;
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::error::Result;
use crate::node::NodeId;
use crate::replication::LogStore;
use crate::replication::fetch::{Fetcher, Key, Outcome};

/// How long a block no peer had is not asked for again: a burst of reads
/// of an absent block costs the peers one request each.
pub const MISS_TTL: Duration = Duration::from_secs(2);

/// Most blocks remembered as missed (the list is emptied when full of
/// fresh ones, so it bounds memory, not the peers' load: the fetcher's
/// caps do that).
pub const MAX_MISSES: usize = 4096;

/// The node's log as a store that repairs what it lacks from its peers.
pub struct ReadThrough {
    log: Arc<LogStore>,
    /// Present while the node has peers.
    fetcher: Mutex<Option<Fetcher>>,
    /// Blocks no peer had lately, and when.
    misses: Mutex<HashMap<Key, Instant>>,
}

impl ReadThrough {
    /// `log`, repairing nothing until [`start_repair`](Self::start_repair).
    pub fn new(log: Arc<LogStore>) -> ReadThrough {
        ReadThrough {
            log,
            fetcher: Mutex::new(None),
            misses: Mutex::new(HashMap::new()),
        }
    }

    /// From now on, a block this node (`node`) lacks is asked of `peers`
    /// in turn, dialled with `config` (this node's credential). Replaces
    /// the peers of an earlier call; no peers is
    /// [`stop_repair`](Self::stop_repair).
    pub fn start_repair(
        &self,
        config: Arc<ClientConfig>,
        peers: &[String],
        node: &NodeId,
    ) -> Result<()> {
        let fetcher = if peers.is_empty() {
            None
        } else {
            Some(Fetcher::start(
                config,
                peers.to_vec(),
                node.clone(),
                Arc::downgrade(&self.log),
            )?)
        };
        *self.fetcher.lock().unwrap_or_else(|e| e.into_inner()) = fetcher;
        // Other peers may have what these did not.
        self.misses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    /// Repairs nothing any more; repairs in progress end, their reads
    /// failing as absent.
    pub fn stop_repair(&self) {
        self.fetcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// The block (score, ty), which this node lacks, from a peer.
    fn repair(&self, score: &Score, ty: BlockType) -> colony_venti::Result<Vec<u8>> {
        let absent = || colony_venti::Error::NotFound { score: *score, ty };
        let key = (*score, ty);
        if self.missed_lately(&key) {
            return Err(absent());
        }
        let asked = self
            .fetcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|f| f.request(key));
        let Some(answer) = asked else {
            return Err(absent());
        };
        match wait(answer) {
            Some(Outcome::Fetched(block)) => Ok(block),
            Some(Outcome::Wrong { got }) => {
                self.missed(key);
                Err(colony_venti::Error::HashMismatch { want: *score, got })
            }
            // A fetcher stopped before it answered: as good as absent.
            Some(Outcome::Absent) | None => {
                self.missed(key);
                Err(absent())
            }
        }
    }

    fn missed_lately(&self, key: &Key) -> bool {
        let misses = self.misses.lock().unwrap_or_else(|e| e.into_inner());
        misses.get(key).is_some_and(|at| at.elapsed() < MISS_TTL)
    }

    fn missed(&self, key: Key) {
        let mut misses = self.misses.lock().unwrap_or_else(|e| e.into_inner());
        if misses.len() >= MAX_MISSES {
            misses.retain(|_, at| at.elapsed() < MISS_TTL);
            if misses.len() >= MAX_MISSES {
                misses.clear();
            }
        }
        misses.insert(key, Instant::now());
    }
}

/// The fetcher's answer. On a worker of a multi-threaded tokio runtime
/// the wait is announced ([`tokio::task::block_in_place`]) so the
/// worker's other tasks move elsewhere meanwhile; the fetcher runs on a
/// thread of its own, so no wait here can hold up the fetch itself.
fn wait(answer: Receiver<Outcome>) -> Option<Outcome> {
    let on_runtime =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if on_runtime {
        tokio::task::block_in_place(|| answer.recv().ok())
    } else {
        answer.recv().ok()
    }
}

impl BlockStore for ReadThrough {
    fn read(&self, score: &Score, ty: BlockType) -> colony_venti::Result<Vec<u8>> {
        match self.log.read(score, ty) {
            Err(colony_venti::Error::NotFound { .. }) => self.repair(score, ty),
            read => read,
        }
    }

    fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<colony_venti::Result<Vec<u8>>> {
        let mut read = self.log.read_many(blocks);
        for (r, (score, ty)) in read.iter_mut().zip(blocks) {
            if matches!(r, Err(colony_venti::Error::NotFound { .. })) {
                *r = self.repair(score, *ty);
            }
        }
        read
    }

    fn write(&self, ty: BlockType, data: &[u8]) -> colony_venti::Result<Score> {
        self.log.write(ty, data)
    }

    fn has(&self, score: &Score, ty: BlockType) -> colony_venti::Result<bool> {
        self.log.has(score, ty)
    }

    fn sync(&self) -> colony_venti::Result<()> {
        self.log.sync()
    }
}
