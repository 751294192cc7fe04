//! The storage work of one server connection: a FIFO of jobs drained by
//! workers on tokio's blocking pool.
//!
//! One blocking task per request costs two thread wake-ups per block,
//! which dominates on small machines; so a worker drains the queue until
//! it is empty, and a burst of pipelined requests costs one wake-up. A
//! slow job must not hold up the rest: the connection's reader calls
//! [`Jobs::check_progress`] every millisecond while jobs wait, and when no
//! job was started since the last check it adds a worker (up to
//! [`MAX_WORKERS`]). Tsync waits for the writes (and syncs) queued before
//! it, whichever worker runs them.

use std::collections::{BTreeSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::block_type::BlockType;
use crate::proto::message::{MAX_STRING, Message, Rread, Rwrite, Tread, Twrite};
use crate::store::{BlockStore, MAX_BLOCK};

/// Most workers one connection runs at once.
pub const MAX_WORKERS: usize = 16;

/// A request that touches the store.
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

    /// Sends one reply.
    fn send(&self, tag: u8, msg: Message) {
        self.send_all(vec![(tag, msg)]);
    }
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
    /// Jobs taken off the queue so far, to see progress.
    started: u64,
    started_at_last_check: u64,
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

    /// Queues a job; starts a worker if none is running.
    pub fn push(self: &Arc<Self>, tag: u8, job: Job) {
        let start = {
            let mut st = self.lock();
            let seq = st.next_seq;
            st.next_seq += 1;
            st.queue.push_back(Queued { seq, tag, job });
            let start = st.workers == 0;
            if start {
                st.workers += 1;
            }
            start
        };
        if start {
            self.spawn_worker();
        }
    }

    /// Where replies go.
    pub fn reply(&self) -> &R {
        &self.reply
    }

    /// True while jobs wait to start or replies wait to be sent.
    pub fn backlog(&self) -> bool {
        let st = self.lock();
        !st.queue.is_empty() || !st.replies.is_empty()
    }

    /// Sends held replies, and adds a worker if jobs wait and none started
    /// since the last check.
    pub fn check_progress(self: &Arc<Self>) {
        let start = {
            let mut st = self.lock();
            if !st.replies.is_empty() {
                self.reply.send_all(std::mem::take(&mut st.replies));
            }
            let stuck = !st.queue.is_empty() && st.started == st.started_at_last_check;
            st.started_at_last_check = st.started;
            let start = stuck && st.workers < MAX_WORKERS;
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

    fn spawn_worker(self: &Arc<Self>) {
        let jobs = self.clone();
        tokio::task::spawn_blocking(move || jobs.work());
    }

    /// A worker: runs jobs until the queue is empty. Each pass takes the
    /// lock once, to file the last reply and take the next job; replies
    /// go out when [`REPLY_BATCH`] are held or the queue is empty (or at
    /// the reader's next progress check, so a slow job holds none back).
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
                        st.started += 1;
                        if !matches!(q.job, Job::Read(_)) {
                            st.unfinished.insert(q.seq);
                        }
                    }
                    None => st.workers -= 1,
                }
                if (next.is_none() && !st.replies.is_empty()) || st.replies.len() >= REPLY_BATCH {
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
                Job::Read(req) => read(&*self.store, req),
                Job::Write(req) => write(&*self.store, req),
                Job::Sync => self.sync(q.seq),
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
        match self.store.sync() {
            Ok(()) => Message::Rsync,
            Err(e) => rerror(e.to_string()),
        }
    }
}

/// Answers a Tread. Both special scores read as an empty block.
fn read(store: &dyn BlockStore, req: &Tread) -> Message {
    if req.score.is_special() {
        return Message::Rread(Rread { data: Vec::new() });
    }
    let ty = match BlockType::from_wire(req.ty) {
        Ok(ty) => ty,
        Err(e) => return rerror(e.to_string()),
    };
    match store.read(&req.score, ty) {
        Ok(data) if data.len() > req.count as usize => rerror(format!(
            "read too small: asked for {} need at least {}",
            req.count,
            data.len()
        )),
        Ok(data) => Message::Rread(Rread { data }),
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
