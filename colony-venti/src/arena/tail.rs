//! The tail of the active arena's log that is not yet in its file: clumps
//! collected into batches, each put in the file with one `pwrite`.
//!
//! Many small `pwrite`s cost far more than one large one, so clumps are
//! appended to an open batch. A full batch is written by the writer that
//! filled it *after* it releases the store's writer lock, so two writers
//! copy into the page cache at the same time while the log order is still
//! decided under the lock. Until its `pwrite` succeeds a batch stays here,
//! where readers find its clumps.
//!
//! Batches may land out of order, leaving a hole for a moment. A crash
//! then keeps the log up to the hole (recovery cuts there, as at any torn
//! tail); nothing past the last `sync` was promised, and `sync` first
//! waits for every batch to be in the file.

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

    /// Records the outcome of writing `batch`: on success it leaves the
    /// tail; on failure it stays readable, to be written again by
    /// [`Tail::close_all`]'s caller.
    pub fn written(&self, batch: Arc<Batch>, ok: bool) {
        let mut s = self.state();
        s.writing.retain(|b| !Arc::ptr_eq(b, &batch));
        if ok {
            if let Ok(mut b) = Arc::try_unwrap(batch)
                && s.spare.len() < SPARES
            {
                b.bytes.clear();
                s.spare.push(b.bytes);
            }
        } else {
            s.failed.push(batch);
        }
        drop(s);
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
