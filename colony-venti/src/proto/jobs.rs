//! The storage work of one server connection: a FIFO of jobs drained by
//! workers on tokio's blocking pool.
//!
//! One blocking task per request costs two thread wake-ups per block,
//! which dominates on small machines; so a worker drains the queue until
//! it is empty, and a burst of pipelined requests costs a few wake-ups. A
//! job queued while more jobs wait than workers run starts another, up to
//! one per core; more start only when the queue stalls (up to
//! [`MAX_WORKERS`]), so a slow job holds up only its own worker. Starting
//! a worker for each job queued beyond those started, up to 16 (as this
//! did), ran 16 threads per burst on the job queue's lock and cost the
//! vac_net bench half again the CPU time and four times the context
//! switches of one per core. Nothing polls: while jobs wait or replies
//! are held, [`Jobs::deadline`] is [`STALL`] after the last job started,
//! and the connection's driver wakes then only if no job started
//! meanwhile: [`Jobs::check_progress`] sends the held replies and adds a
//! worker. Tsync waits for the writes (and syncs) queued before it,
//! whichever worker runs them.

use std::collections::{BTreeSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::block_type::BlockType;
use crate::error::Error;
use crate::proto::message::{MAX_STRING, Message, Rerror, Rread, Rwrite, Tread, Twrite};
use crate::store::{BlockStore, MAX_BLOCK};

/// How long queued jobs may wait with no job starting before another
/// worker is added (and held replies are sent).
pub const STALL: Duration = Duration::from_millis(1);

/// Most workers one connection runs at once.
pub const MAX_WORKERS: usize = 16;

/// Workers a burst starts at once: one per core (so a store's work, and
/// its I/O, run in parallel), never more threads than cores on the queue's
/// lock.
fn eager_workers() -> usize {
    static EAGER: OnceLock<usize> = OnceLock::new();
    *EAGER.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_WORKERS)
    })
}

/// A request that touches the store.
#[derive(Debug)]
pub enum Job {
    /// Answer a Tread.
    Read(Tread),
    /// Answer a Twrite.
    Write(Twrite),
    /// Answer a Tsync once earlier writes are done.
    Sync,
}

/// Where finished jobs' replies go.
pub trait Reply: Send + Sync + 'static {
    /// Sends replies, (tag, message), in order.
    fn send_all(&self, replies: Vec<(u8, Message)>);
}

/// Replies held before they go to the writer together: sending each one
/// alone costs a wake-up of the writer per block.
const REPLY_BATCH: usize = 32;

struct Queued {
    seq: u64,
    tag: u8,
    job: Job,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    next_seq: u64,
    workers: usize,
    /// When a job last started (or the queue last became busy).
    progress: Option<Instant>,
    /// Writes and syncs started and not finished, by sequence number.
    unfinished: BTreeSet<u64>,
    /// Replies of finished jobs not yet sent.
    replies: Vec<(u8, Message)>,
}

/// A connection's job queue and its workers.
pub struct Jobs<R: Reply> {
    store: Arc<dyn BlockStore>,
    reply: R,
    state: Mutex<State>,
    /// Signalled when a write or sync finishes.
    finished: Condvar,
}

impl<R: Reply> Jobs<R> {
    /// An empty queue for a connection to `store`.
    pub fn new(store: Arc<dyn BlockStore>, reply: R) -> Arc<Jobs<R>> {
        Arc::new(Jobs {
            store,
            reply,
            state: Mutex::default(),
            finished: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("job queue lock")
    }

    /// Queues a job at `now`; starts a worker if more jobs wait than
    /// workers run, up to one per core.
    pub fn push(self: &Arc<Self>, tag: u8, job: Job, now: Instant) {
        let start = {
            let mut st = self.lock();
            let seq = st.next_seq;
            st.next_seq += 1;
            if st.queue.is_empty() && st.replies.is_empty() {
                st.progress = Some(now);
            }
            st.queue.push_back(Queued { seq, tag, job });
            let start = st.workers < eager_workers() && st.queue.len() > st.workers;
            if start {
                st.workers += 1;
            }
            start
        };
        if start {
            self.spawn_worker();
        }
    }

    /// When to call [`Jobs::check_progress`], if jobs wait or replies are
    /// held.
    pub fn deadline(&self) -> Option<Instant> {
        let st = self.lock();
        if st.queue.is_empty() && st.replies.is_empty() {
            return None;
        }
        st.progress.map(|t| t + STALL)
    }

    /// At the deadline: sends held replies, and adds a worker if jobs wait
    /// and none started for [`STALL`].
    pub fn check_progress(self: &Arc<Self>, now: Instant) {
        let start = {
            let mut st = self.lock();
            if st.progress.is_some_and(|t| now < t + STALL) {
                return;
            }
            st.progress = Some(now);
            if !st.replies.is_empty() {
                self.reply.send_all(std::mem::take(&mut st.replies));
            }
            let start = !st.queue.is_empty() && st.workers < MAX_WORKERS;
            if start {
                st.workers += 1;
            }
            start
        };
        if start {
            tracing::debug!("venti: storage job queue stalled; adding a worker");
            self.spawn_worker();
        }
    }

    /// Drops the jobs not started: the connection is gone.
    pub fn cancel(&self) {
        self.lock().queue.clear();
    }

    fn spawn_worker(self: &Arc<Self>) {
        let jobs = self.clone();
        tokio::task::spawn_blocking(move || jobs.work());
    }

    /// A worker: runs jobs until the queue is empty. Each pass takes the
    /// lock once, to file the last reply and take the next job; replies
    /// go out when [`REPLY_BATCH`] are held, the queue is empty, or the
    /// next job is a sync (which may wait long).
    fn work(&self) {
        let mut done: Option<(u64, bool, u8, Message)> = None;
        loop {
            let (next, finished) = {
                let mut st = self.lock();
                let mut finished = false;
                if let Some((seq, tracked, tag, msg)) = done.take() {
                    st.replies.push((tag, msg));
                    finished = tracked && st.unfinished.remove(&seq);
                }
                let next = st.queue.pop_front();
                match &next {
                    Some(q) => {
                        st.progress = Some(Instant::now());
                        if !matches!(q.job, Job::Read(_)) {
                            st.unfinished.insert(q.seq);
                        }
                    }
                    None => st.workers -= 1,
                }
                let flush = match &next {
                    None => true,
                    Some(q) => matches!(q.job, Job::Sync) || st.replies.len() >= REPLY_BATCH,
                };
                if flush && !st.replies.is_empty() {
                    // Sent under the lock, so batches leave in the order
                    // they were filed: an Rsync never overtakes the
                    // replies of the writes it waited for.
                    self.reply.send_all(std::mem::take(&mut st.replies));
                }
                (next, finished)
            };
            if finished {
                self.finished.notify_all();
            }
            let Some(q) = next else {
                return;
            };
            // A store that panics is a bug, but the tag still gets an
            // answer and the connection goes on.
            let reply = std::panic::catch_unwind(AssertUnwindSafe(|| match &q.job {
                Job::Sync => self.sync(q.seq),
                job => job.answer(&*self.store),
            }))
            .unwrap_or_else(|_| {
                tracing::error!(tag = q.tag, "venti: the block store panicked");
                rerror("internal error: the block store panicked".into())
            });
            done = Some((q.seq, !matches!(q.job, Job::Read(_)), q.tag, reply));
        }
    }

    /// Waits for the writes and syncs queued before `seq` (all of them
    /// started before this one, the queue being FIFO), then syncs.
    fn sync(&self, seq: u64) -> Message {
        let mut st = self.lock();
        while st.unfinished.first().is_some_and(|&s| s < seq) {
            st = self.finished.wait(st).expect("job queue lock");
        }
        drop(st);
        Job::Sync.answer(&*self.store)
    }
}

impl Job {
    /// Does the job on `store` and returns the reply. (A sync here syncs
    /// at once: waiting for earlier writes is the caller's part.)
    pub fn answer(&self, store: &dyn BlockStore) -> Message {
        match self {
            Job::Read(req) => read(store, req),
            Job::Write(req) => write(store, req),
            Job::Sync => match store.sync() {
                Ok(()) => Message::Rsync,
                Err(e) => rerror(e.to_string()),
            },
        }
    }
}

/// Answers a Tread. Both special scores read as an empty block. The
/// block is not hashed here: the client checks it against its score.
fn read(store: &dyn BlockStore, req: &Tread) -> Message {
    if req.score.is_special() {
        return Message::Rread(Rread { data: Vec::new() });
    }
    let ty = match BlockType::from_wire(req.ty) {
        Ok(ty) => ty,
        Err(e) => return rerror(e.to_string()),
    };
    match store.read_unhashed(&req.score, ty) {
        Ok(data) if data.len() > req.count as usize => rerror(format!(
            "read too small: asked for {} need at least {}",
            req.count,
            data.len()
        )),
        Ok(data) => Message::Rread(Rread { data }),
        Err(Error::NotFound { score, ty }) => Message::Rerror(Rerror::absent(&score, ty)),
        Err(e) => rerror(e.to_string()),
    }
}

/// Answers a Twrite.
fn write(store: &dyn BlockStore, req: &Twrite) -> Message {
    let ty = match BlockType::from_wire(req.ty) {
        Ok(ty) => ty,
        Err(e) => return rerror(e.to_string()),
    };
    if req.data.len() > MAX_BLOCK {
        return rerror("lump too large".into());
    }
    match store.write(ty, &req.data) {
        Ok(score) => Message::Rwrite(Rwrite { score }),
        Err(e) => rerror(e.to_string()),
    }
}

/// An `Rerror`, cut to the longest string the protocol carries.
pub fn rerror(mut text: String) -> Message {
    if text.len() > MAX_STRING {
        let mut end = MAX_STRING;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    // NUL cannot travel; no store error should hold one.
    Message::error(text.replace('\0', " "))
}
