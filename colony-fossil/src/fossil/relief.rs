//! Early flushes off the request path. When dirty blocks pass three
//! quarters of the local store's limit, whole dirty streams are written to
//! venti ([`Fossil::relieve_pressure`]): hashing, compressing and storing
//! tens of megabytes. Done by the writer that crossed the line, that one
//! write waits for all of it; a relief thread does it instead, while
//! writes go on, and a writer does it itself only once dirty blocks reach
//! the limit (the thread is behind, or failing: the writer then meets the
//! failure).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

use crate::error::Result;
use crate::fossil::Fossil;

/// What the relief thread is asked to do.
#[derive(Default)]
struct Asked {
    /// A relief thread runs.
    running: bool,
    /// Dirty blocks passed the mark since the thread last looked.
    relieve: bool,
    /// The fossil is going away.
    stop: bool,
}

/// The relief thread's mailbox, shared by the fossil and the thread.
#[derive(Default)]
pub(crate) struct Relief {
    asked: Mutex<Asked>,
    wake: Condvar,
}

impl Relief {
    fn lock(&self) -> MutexGuard<'_, Asked> {
        self.asked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the thread to relieve pressure; false if there is no thread.
    fn ask(&self) -> bool {
        let mut asked = self.lock();
        if asked.running {
            asked.relieve = true;
            self.wake.notify_one();
        }
        asked.running
    }

    /// Tells the thread to end.
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_one();
    }

    /// Waits until asked; false when told to stop.
    fn wait(&self) -> bool {
        let mut asked = self.lock();
        while !asked.relieve && !asked.stop {
            asked = self.wake.wait(asked).unwrap_or_else(|p| p.into_inner());
        }
        asked.relieve = false;
        !asked.stop
    }
}

impl Fossil {
    /// Starts a thread that writes dirty blocks to venti early, so writes
    /// do not wait for it until dirty blocks reach the local store's limit;
    /// `None` if the fossil has one already. It ends soon after the fossil
    /// is dropped. Without it (or if it cannot be started: the error says
    /// why), writers do it themselves.
    pub fn relieve_in_background(this: &Arc<Fossil>) -> std::io::Result<Option<JoinHandle<()>>> {
        let mut asked = this.relief.lock();
        if asked.running {
            return Ok(None);
        }
        let relief = this.relief.clone();
        let fossil = Arc::downgrade(this);
        let thread = std::thread::Builder::new()
            .name("fossil-relief".into())
            .spawn(move || relieve_when_asked(&relief, &fossil))?;
        asked.running = true;
        Ok(Some(thread))
    }

    /// After a change that may have added dirty blocks: relieves pressure
    /// if they passed three quarters of the limit, on the relief thread if
    /// there is one and they are still within the limit.
    pub(crate) fn after_change(&self) -> Result<()> {
        let limit = self.blocks.limit();
        let dirty = self.blocks.dirty_bytes();
        if dirty <= limit / 4 * 3 || (dirty <= limit && self.relief.ask()) {
            return Ok(());
        }
        self.relieve_pressure()
    }
}

impl Drop for Fossil {
    fn drop(&mut self) {
        self.relief.stop();
    }
}

/// The relief thread: relieves pressure each time it is asked, until the
/// fossil is gone. A failure leaves the blocks dirty; the writer that
/// next finds them at the limit retries and reports it.
fn relieve_when_asked(relief: &Relief, fossil: &Weak<Fossil>) {
    while relief.wait() {
        let Some(fs) = fossil.upgrade() else {
            return;
        };
        let _g = fs.gate.read().unwrap_or_else(|p| p.into_inner());
        let _ = fs.relieve_pressure();
    }
}
