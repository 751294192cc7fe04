//! The tail of the active arena's log that is not yet in its file: clumps
//! collected into batches, each put in the file with one `pwrite`.
//!
//! Many small `pwrite`s cost far more than one large one, so clumps are
//! appended to an open batch. A full batch is written *after* the writer
//! that filled it releases the store's writer lock, so writers go on
//! hashing while one copies into the page cache; the log order is still
//! decided under the lock. One thread at a time writes (the *I/O claim*):
//! two `pwrite`s to one file serialise on its inode lock anyway, and the
//! second would spin or sleep there instead of working. A writer that
//! finds the claim taken queues its batch for the holder and goes on.
//! Until its `pwrite` succeeds a batch stays here, where readers find its
//! clumps.
//!
//! Batches may land out of order, leaving a hole for a moment. A crash
//! then keeps the log up to the hole (recovery cuts there, as at any torn
//! tail); nothing past the last `sync` was promised, and `sync` first
//! waits for every batch to be in the file.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Clumps that belong in the file at `start`, in log order.
#[derive(Debug, Default)]
pub struct Batch {
    /// File offset of the first byte.
    pub start: u64,
    /// The clumps' bytes.
    pub bytes: Vec<u8>,
}

impl Batch {
    /// The part of this batch's bytes at file offset `off`, `len` long.
    fn get(&self, off: u64, len: usize) -> Option<&[u8]> {
        let at = usize::try_from(off.checked_sub(self.start)?).ok()?;
        self.bytes.get(at..at.checked_add(len)?)
    }
}

/// Batches queued for the holder of the I/O claim before writers wait.
const MAX_QUEUED: usize = 8;

/// Spare buffers kept for new batches: reusing them avoids touching fresh
/// memory for every batch.
const SPARES: usize = 4;

#[derive(Debug, Default)]
struct State {
    /// The batch clumps are appended to.
    open: Batch,
    /// Closed batches being written outside the writer lock.
    writing: Vec<Arc<Batch>>,
    /// Batches whose write failed, kept readable until written again.
    failed: Vec<Arc<Batch>>,
    /// Emptied buffers of written batches.
    spare: Vec<Vec<u8>>,
    /// Closed batches waiting for the holder of the I/O claim, oldest
    /// first (they are in `writing` too).
    queue: VecDeque<Arc<Batch>>,
    /// A thread is writing batches and will write the queued ones.
    io_claimed: bool,
}

/// The unwritten tail of one arena's log.
#[derive(Debug, Default)]
pub struct Tail {
    state: Mutex<State>,
    /// Signalled whenever a batch leaves `writing`.
    landed: Condvar,
}

impl Tail {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `parts` (one clump) at file offset `at`, the end of the log.
    /// Once the open batch holds at least `limit` bytes it is closed and
    /// returned: the caller writes it ([`Tail::written`] after) once it has
    /// released the store's writer lock. Only the store's writer calls this.
    pub fn push(&self, parts: &[&[u8]], at: u64, limit: usize) -> Option<Arc<Batch>> {
        let mut s = self.state();
        if s.open.bytes.is_empty() {
            s.open.start = at;
        }
        debug_assert_eq!(s.open.start + s.open.bytes.len() as u64, at);
        for p in parts {
            s.open.bytes.extend_from_slice(p);
        }
        if s.open.bytes.len() < limit {
            return None;
        }
        Some(s.close())
    }

    /// Offers a batch [`Tail::push`] closed for writing. Returns it if the
    /// caller now holds the I/O claim and must write it (then report with
    /// [`Tail::landed`]); `None` if the holder will write it.
    /// When writers fill batches faster than one thread writes them, they
    /// wait here once [`MAX_QUEUED`] are queued, so memory stays bounded.
    pub fn claim(&self, batch: Arc<Batch>) -> Option<Arc<Batch>> {
        let mut s = self.state();
        while s.io_claimed && s.queue.len() >= MAX_QUEUED {
            s = self.landed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.io_claimed {
            s.queue.push_back(batch);
            return None;
        }
        s.io_claimed = true;
        Some(batch)
    }

    /// The holder of the I/O claim reports writing `batch` (as
    /// [`Tail::written`]) and gets the next queued batch to write, or
    /// `None` and no longer holds the claim.
    pub fn landed(&self, batch: Arc<Batch>, ok: bool) -> Option<Arc<Batch>> {
        let mut s = self.state();
        s.record(batch, ok);
        let next = s.queue.pop_front();
        s.io_claimed = next.is_some();
        drop(s);
        self.landed.notify_all();
        next
    }

    /// Records the outcome of writing `batch`: on success it leaves the
    /// tail; on failure it stays readable, to be written again by
    /// [`Tail::close_all`]'s caller.
    pub fn written(&self, batch: Arc<Batch>, ok: bool) {
        self.state().record(batch, ok);
        self.landed.notify_all();
    }

    /// Waits until no batch is being written, then closes the open batch
    /// and returns it with the failed ones, oldest first, for the caller to
    /// write (and report with [`Tail::written`]). The caller holds the
    /// store's writer lock, so nothing is appended meanwhile.
    pub fn close_all(&self) -> Vec<Arc<Batch>> {
        let mut s = self.state();
        while !s.writing.is_empty() {
            s = self.landed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        let mut all = std::mem::take(&mut s.failed);
        if !s.open.bytes.is_empty() {
            all.push(s.close());
        }
        all.sort_by_key(|b| b.start);
        s.writing.extend(all.iter().cloned());
        all
    }

    /// Copies the bytes at file offset `off` into `out` if they are all in
    /// one unwritten batch.
    pub fn read(&self, out: &mut [u8], off: u64) -> bool {
        let s = self.state();
        let found = std::iter::once(&s.open)
            .chain(s.writing.iter().map(|b| &**b))
            .chain(s.failed.iter().map(|b| &**b))
            .find_map(|b| b.get(off, out.len()));
        match found {
            Some(src) => {
                out.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

impl State {
    /// Takes a written batch out of `writing`: its buffer becomes a spare
    /// on success; on failure it stays readable in `failed`.
    fn record(&mut self, batch: Arc<Batch>, ok: bool) {
        self.writing.retain(|b| !Arc::ptr_eq(b, &batch));
        if ok {
            if let Ok(mut b) = Arc::try_unwrap(batch)
                && self.spare.len() < SPARES
            {
                b.bytes.clear();
                self.spare.push(b.bytes);
            }
        } else {
            self.failed.push(batch);
        }
    }

    /// Moves the open batch to `writing` and returns it; the next batch
    /// starts where it ends, in a spare buffer when there is one.
    fn close(&mut self) -> Arc<Batch> {
        let end = self.open.start + self.open.bytes.len() as u64;
        let next = Batch {
            start: end,
            bytes: self
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(self.open.bytes.capacity())),
        };
        let batch = Arc::new(std::mem::replace(&mut self.open, next));
        self.writing.push(batch.clone());
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_close_at_the_limit_and_stay_readable_until_written() {
        let tail = Tail::default();
        assert!(tail.push(&[b"abc", b"de"], 100, 8).is_none());
        let batch = tail.push(&[b"fgh"], 105, 8).expect("full batch");
        assert_eq!((batch.start, &batch.bytes[..]), (100, &b"abcdefgh"[..]));
        assert!(tail.push(&[b"ij"], 108, 8).is_none());
        let mut out = [0u8; 3];
        assert!(tail.read(&mut out, 103));
        assert_eq!(&out, b"def");
        tail.written(batch.clone(), false);
        assert!(tail.read(&mut out, 105), "a failed batch stays readable");
        let all = tail.close_all();
        let starts: Vec<u64> = all.iter().map(|b| b.start).collect();
        assert_eq!(starts, [100, 108]);
        for b in all {
            tail.written(b, true);
        }
        assert!(!tail.read(&mut out, 103), "written batches leave the tail");
        assert!(tail.close_all().is_empty());
    }

    #[test]
    fn one_thread_at_a_time_writes_and_takes_the_queued_batches() {
        let tail = Tail::default();
        let first = tail.push(&[b"abcd"], 0, 4).expect("full batch");
        let second = tail.push(&[b"efgh"], 4, 4).expect("full batch");
        let third = tail.push(&[b"ijkl"], 8, 4).expect("full batch");
        let first = tail.claim(first).expect("the claim is free");
        assert!(
            tail.claim(second.clone()).is_none(),
            "queued for the holder"
        );
        assert!(tail.claim(third.clone()).is_none(), "queued for the holder");
        let next = tail.landed(first, true).expect("the holder gets the queue");
        assert!(Arc::ptr_eq(&next, &second));
        let mut out = [0u8; 4];
        assert!(tail.read(&mut out, 8), "a queued batch is readable");
        let next = tail.landed(next, false).expect("then the next");
        assert!(Arc::ptr_eq(&next, &third));
        assert!(
            tail.landed(next, true).is_none(),
            "queue empty: claim let go"
        );
        let again = tail.push(&[b"mnop"], 12, 4).expect("full batch");
        assert!(tail.claim(again).is_some(), "the claim is free again");
        assert!(tail.read(&mut out, 4), "the failed batch stays readable");
    }

    #[test]
    fn close_all_waits_for_batches_being_written() {
        let tail = Arc::new(Tail::default());
        let batch = tail.push(&[b"abcd"], 0, 4).expect("full batch");
        let t = tail.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            t.written(batch, true);
        });
        assert!(tail.close_all().is_empty());
        let mut out = [0u8; 4];
        assert!(
            !tail.read(&mut out, 0),
            "close_all returned before the write landed"
        );
        writer.join().unwrap();
    }
}
