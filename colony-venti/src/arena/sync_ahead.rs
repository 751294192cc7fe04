//! The active arena synced behind its writers, on a background thread.
//!
//! A `sync` must wait until the device holds everything written since the
//! last one. On a disk with a write cache (this machine's virtual disk),
//! that wait grows with the bytes written since the last `fdatasync`, not
//! with the bytes still unwritten: after 26 MB written in 150 ms, each
//! batch already handed to the device ([`Storage::start_writeback`]), the
//! store's `sync` still waited 30 ms for the arena. So once
//! [`Config::sync_ahead`](super::Config::sync_ahead) bytes are written
//! past the last sync, a thread syncs the arena while the writers go on,
//! and a caller's `sync` finds only the last few MiB left (2 ms).
//!
//! An extra sync promises nothing and loses nothing. Its failure is kept
//! and returned by the arena's next [`ArenaFile::sync`], as if that sync
//! had failed: the kernel reports a write-back error to one `fsync` only,
//! so dropping it here would let the next sync succeed over lost data.
//!
//! [`Storage::start_writeback`]: super::disk::Storage::start_writeback

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::file::ArenaFile;

/// What the thread is asked to do next.
#[derive(Debug, Default)]
struct Wanted {
    /// The arena to sync (the latest asked for; asking again before the
    /// thread gets to it costs nothing).
    arena: Option<Arc<ArenaFile>>,
    stop: bool,
}

#[derive(Debug, Default)]
struct Shared {
    wanted: Mutex<Wanted>,
    wake: Condvar,
}

impl Shared {
    fn wanted(&self) -> MutexGuard<'_, Wanted> {
        self.wanted.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One store's background syncer, started on first use.
#[derive(Debug, Default)]
pub struct SyncAhead {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl SyncAhead {
    /// Asks for `arena` to be synced soon. Returns at once.
    pub fn request(&self, arena: &Arc<ArenaFile>) {
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if thread.is_none() {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("arena-sync-ahead".into())
                .spawn(move || run(&shared));
            match spawned {
                Ok(handle) => *thread = Some(handle),
                // Without the thread a `sync` simply waits for more.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the arena's sync-ahead thread");
                    return;
                }
            }
        }
        drop(thread);
        self.shared.wanted().arena = Some(arena.clone());
        self.shared.wake.notify_one();
    }
}

fn run(shared: &Shared) {
    loop {
        let arena = {
            let mut wanted = shared.wanted();
            loop {
                if wanted.stop {
                    return;
                }
                if let Some(a) = wanted.arena.take() {
                    break a;
                }
                wanted = shared.wake.wait(wanted).unwrap_or_else(|e| e.into_inner());
            }
        };
        arena.sync_behind();
    }
}

impl Drop for SyncAhead {
    fn drop(&mut self) {
        self.shared.wanted().stop = true;
        self.shared.wake.notify_one();
        let thread = self.thread.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::Error;
    use crate::arena::faulty_disk::FaultyDisk;
    use crate::arena::file::ArenaFile;
    use crate::arena::mem_disk::MemDisk;

    #[test]
    fn a_failed_sync_behind_the_writers_fails_the_next_sync_once() {
        let disk = FaultyDisk::new(Arc::new(MemDisk::new("/mem")));
        let arena = ArenaFile::create(&disk, 0, 1 << 20).unwrap();
        arena.write_at(b"clumps", 4096).unwrap();
        disk.fail_sync(1);
        arena.sync_behind();
        // The disk's own sync now succeeds; the failure behind it is not lost.
        let err = arena.sync().unwrap_err();
        assert!(matches!(err, Error::Io { op: "sync", .. }), "{err}");
        assert!(err.to_string().contains("injected failure"), "{err}");
        arena.sync().unwrap();
    }
}
