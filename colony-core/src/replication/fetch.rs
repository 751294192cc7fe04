//! [`Fetcher`]: the network half of read-through repair. A thread of its
//! own runs a small tokio runtime that fetches blocks from the peers, so
//! the synchronous [`BlockStore`] reads that wait on it (FUSE threads,
//! blocking tasks, even a tokio worker) never wait on a future of their
//! own runtime.
//!
//! Each block is asked of the peers in turn ([`PeerRequest::Blocks`],
//! each attempt within [`PER_PEER`]), its score checked before it is
//! written (a peer sending other bytes is logged and the next one asked),
//! then written and synced into this node's log; a peer that fails is
//! left out for [`DOWN_FOR`]. Requests for one block
//! are coalesced; at most [`MAX_REPAIRS`] run at once and at most
//! [`MAX_QUEUED`] wait, so a flood of reads cannot make the node hammer
//! its peers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use colony_venti::{BlockStore, BlockType, Score};
use rustls::ClientConfig;
use tokio::sync::{Semaphore, mpsc};

use crate::error::{Error, Result};
use crate::node::NodeId;
use crate::replication::LogStore;
use crate::replication::conn::PeerConn;
use crate::replication::wire::{PeerRequest, PeerResponse, wire_block};

/// The longest one peer may take to give one block (dialling included).
pub const PER_PEER: Duration = Duration::from_secs(3);

/// How long a peer that failed (unreachable, silent, garbled) is not
/// asked: a partition costs each repair nothing, not [`PER_PEER`].
pub const DOWN_FOR: Duration = Duration::from_secs(5);

/// Most repairs running at once.
pub const MAX_REPAIRS: usize = 4;

/// Most distinct blocks waiting for a repair to start.
pub const MAX_QUEUED: usize = 256;

/// A block asked for.
pub(crate) type Key = (Score, BlockType);

/// How a repair ended.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    /// A peer had it; these are its bytes, checked and stored here.
    Fetched(Vec<u8>),
    /// No peer reached had it.
    Absent,
    /// No peer had it, and one sent bytes whose score is `got`.
    Wrong {
        /// The score of what that peer sent.
        got: Score,
    },
}

/// Readers waiting for each block being repaired.
type Waiters = Arc<Mutex<HashMap<Key, Vec<std_mpsc::Sender<Outcome>>>>>;

/// The repair thread of a node with peers; dropping it stops the thread
/// (repairs in progress end, their readers told the block is absent).
pub(crate) struct Fetcher {
    jobs: mpsc::Sender<Key>,
    waiters: Waiters,
}

/// What every repair shares.
struct Peers {
    config: Arc<ClientConfig>,
    addrs: Vec<String>,
    node: NodeId,
    store: Weak<LogStore>,
    /// One idle connection per peer address, kept between repairs.
    idle: Mutex<HashMap<String, PeerConn>>,
    /// Blocks repaired since the start.
    repaired: AtomicU64,
    /// Peers that failed lately, and when.
    down: Mutex<HashMap<String, Instant>>,
}

impl Peers {
    fn is_down(&self, addr: &str) -> bool {
        let down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        down.get(addr).is_some_and(|at| at.elapsed() < DOWN_FOR)
    }

    fn failed(&self, addr: &str) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        down.insert(addr.to_string(), Instant::now());
    }
}

impl Fetcher {
    /// Starts the repair thread asking `addrs` in turn (with this node's
    /// credential `config`) and storing into `store`.
    pub(crate) fn start(
        config: Arc<ClientConfig>,
        addrs: Vec<String>,
        node: NodeId,
        store: Weak<LogStore>,
    ) -> Result<Fetcher> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::RepairStart)?;
        let (jobs, queue) = mpsc::channel(MAX_QUEUED);
        let waiters = Waiters::default();
        let peers = Arc::new(Peers {
            config,
            addrs,
            node,
            store,
            idle: Mutex::new(HashMap::new()),
            repaired: AtomicU64::new(0),
            down: Mutex::new(HashMap::new()),
        });
        let w = waiters.clone();
        std::thread::Builder::new()
            .name("colony-repair".into())
            .spawn(move || runtime.block_on(serve(queue, peers, w)))
            .map_err(Error::RepairStart)?;
        Ok(Fetcher { jobs, waiters })
    }

    /// Asks for `key` to be repaired (joining a repair of it in
    /// progress); `None` when too many are waiting already.
    pub(crate) fn request(&self, key: Key) -> Option<std_mpsc::Receiver<Outcome>> {
        let (tx, rx) = std_mpsc::channel();
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = waiters.get_mut(&key) {
            w.push(tx);
            return Some(rx);
        }
        if self.jobs.try_send(key).is_err() {
            tracing::warn!(score = %key.0, "read-through repair: {MAX_QUEUED} blocks already wait; not fetching this one");
            return None;
        }
        waiters.insert(key, vec![tx]);
        Some(rx)
    }
}

/// Runs repairs until the [`Fetcher`] is dropped.
async fn serve(mut queue: mpsc::Receiver<Key>, peers: Arc<Peers>, waiters: Waiters) {
    let running = Arc::new(Semaphore::new(MAX_REPAIRS));
    while let Some(key) = queue.recv().await {
        let Ok(permit) = running.clone().acquire_owned().await else {
            return;
        };
        let (peers, waiters) = (peers.clone(), waiters.clone());
        tokio::spawn(async move {
            let outcome = repair(&peers, key).await;
            let told = waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key)
                .unwrap_or_default();
            for w in told {
                let _ = w.send(outcome.clone());
            }
            drop(permit);
        });
    }
}

/// Asks each peer in turn for `key` until one gives the right bytes,
/// which are stored durably.
async fn repair(peers: &Peers, key: Key) -> Outcome {
    let (want, ty) = key;
    let mut wrong = None;
    for addr in peers.addrs.iter().filter(|a| !peers.is_down(a)) {
        let block = match tokio::time::timeout(PER_PEER, ask(peers, addr, key)).await {
            Ok(Ok(block)) => block,
            Ok(Err(e @ Error::Refused(_))) => {
                tracing::debug!(peer = %addr, score = %want, "read-through repair: {e}");
                continue;
            }
            Ok(Err(e)) => {
                tracing::warn!(peer = %addr, score = %want, "read-through repair: {e}; not asked for {DOWN_FOR:?}");
                peers.failed(addr);
                continue;
            }
            Err(_) => {
                tracing::warn!(peer = %addr, score = %want, "read-through repair: no block within {PER_PEER:?}; not asked for {DOWN_FOR:?}");
                peers.failed(addr);
                continue;
            }
        };
        let got = Score::of(&block);
        if got != want {
            tracing::warn!(peer = %addr, want = %want, got = %got, "read-through repair: refused a block whose score is not the one asked for");
            wrong = Some(got);
            continue;
        }
        store(peers, ty, &block).await;
        tracing::debug!(peer = %addr, score = %want, bytes = block.len(), "read-through repair: fetched a block this node lacked");
        // A lost arena may cost many repairs: say so at 1, 2, 4, ...
        let repaired = peers.repaired.fetch_add(1, Ordering::Relaxed) + 1;
        if repaired.is_power_of_two() {
            tracing::info!(peer = %addr, "read-through repair: {repaired} blocks this node lacked fetched from its peers so far");
        }
        return Outcome::Fetched(block);
    }
    match wrong {
        Some(got) => Outcome::Wrong { got },
        None => Outcome::Absent,
    }
}

/// Writes and syncs a checked block into this node's log. A failure is
/// logged only: the reader still gets the (verified) bytes.
async fn store(peers: &Peers, ty: BlockType, block: &[u8]) {
    let Some(store) = peers.store.upgrade() else {
        return;
    };
    let block = block.to_vec();
    let written = tokio::task::spawn_blocking(move || {
        store.write(ty, &block)?;
        store.sync()
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("read-through repair: storing a fetched block: {e}"),
        Err(e) => tracing::warn!("read-through repair: storing a fetched block: {e}"),
    }
}

/// One peer's answer for `key`: on the idle connection to it if there
/// is one and it works (the peer may have closed it), else on a new one;
/// a connection still in step is kept for the next repair.
async fn ask(peers: &Peers, addr: &str, key: Key) -> Result<Vec<u8>> {
    let pooled = peers
        .idle
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(addr);
    if let Some(mut conn) = pooled {
        let answer = call(&mut conn, key).await;
        if in_step(&answer) {
            keep(peers, addr, conn);
            return answer;
        }
    }
    let mut conn = PeerConn::connect(peers.config.clone(), addr, &peers.node).await?;
    let answer = call(&mut conn, key).await;
    if in_step(&answer) {
        keep(peers, addr, conn);
    }
    answer
}

/// True when the connection read an answer to its request (a block or a
/// refusal), so the next request's answer is the next frame.
fn in_step(answer: &Result<Vec<u8>>) -> bool {
    matches!(answer, Ok(_) | Err(Error::Refused(_)))
}

fn keep(peers: &Peers, addr: &str, conn: PeerConn) {
    let mut idle = peers.idle.lock().unwrap_or_else(|e| e.into_inner());
    idle.entry(addr.to_string()).or_insert(conn);
}

/// Asks `conn` for the one block `key`.
async fn call(conn: &mut PeerConn, (score, ty): Key) -> Result<Vec<u8>> {
    let request = PeerRequest::Blocks(vec![wire_block(&score, ty)]);
    match conn.call(&request, PER_PEER).await? {
        PeerResponse::Blocks(mut blocks) => match blocks.as_mut_slice() {
            [block] => Ok(std::mem::take(&mut block.0)),
            _ => Err(conn.unexpected("the one block asked for")),
        },
        _ => Err(conn.unexpected("the one block asked for")),
    }
}
