//! The next arena, made ahead of need on a background thread.
//!
//! Creating an arena reserves its whole size (`fallocate`), which on
//! tmpfs allocates and zeroes every page: about 130 ms for 512 MiB here.
//! Done when the active arena fills, that happens under the store's writer
//! lock and stalls every writer. So once the active arena is half full
//! the next one is prepared beside it ([`ArenaFile::prepare`]) and
//! installed when needed. A failed preparation is retried in line, so a
//! full disk still fails the write that needed the new arena, and only it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::error::Result;

use super::disk::Disk;
use super::file::ArenaFile;

/// A preparation under way or done: the arena number and its thread.
type Job = (u32, JoinHandle<Result<ArenaFile>>);

/// The next arena of one store directory.
#[derive(Debug)]
pub struct NextArena {
    disk: Arc<dyn Disk>,
    job: Mutex<Option<Job>>,
}

impl NextArena {
    /// No arena prepared yet on `disk`.
    pub fn new(disk: Arc<dyn Disk>) -> NextArena {
        NextArena {
            disk,
            job: Mutex::new(None),
        }
    }

    fn job(&self) -> MutexGuard<'_, Option<Job>> {
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts preparing arena `number` of `size` bytes unless it is
    /// already prepared or being prepared.
    pub fn start(&self, number: u32, size: u64) {
        let mut job = self.job();
        if job.as_ref().is_some_and(|(n, _)| *n == number) {
            return;
        }
        if let Some(stale) = job.take() {
            self.discard(stale);
        }
        let disk = self.disk.clone();
        let spawned = std::thread::Builder::new()
            .name("arena-prepare".into())
            .spawn(move || ArenaFile::prepare(&*disk, number, size));
        match spawned {
            Ok(handle) => *job = Some((number, handle)),
            // Without a thread the arena is made in line when needed.
            Err(e) => tracing::warn!(error = %e, "cannot start preparing the next arena"),
        }
    }

    /// Arena `number`, installed: the prepared one if its preparation
    /// succeeded, else made now.
    pub fn take(&self, number: u32, size: u64) -> Result<ArenaFile> {
        let job = self.job().take();
        if let Some((n, handle)) = job {
            if n == number {
                match handle.join() {
                    Ok(Ok(arena)) => return arena.install(&*self.disk),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "preparing arena {n} failed; retrying")
                    }
                    Err(_) => tracing::warn!("preparing arena {n} panicked; retrying"),
                }
            } else {
                self.discard((n, handle));
            }
        }
        ArenaFile::create(&*self.disk, number, size)
    }
}

impl NextArena {
    /// Waits for a preparation and removes what it made.
    fn discard(&self, (_, handle): Job) {
        if let Ok(Ok(arena)) = handle.join() {
            arena.discard(&*self.disk);
        }
    }
}

impl Drop for NextArena {
    fn drop(&mut self) {
        if let Some(job) = self.job().take() {
            self.discard(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::disk::FileDisk;
    use crate::arena::file::{NEW_SUFFIX, arena_name};

    const SIZE: u64 = 1 << 20;

    #[test]
    fn a_prepared_arena_is_installed_under_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let next = NextArena::new(Arc::new(FileDisk::open(dir.path()).unwrap()));
        next.start(3, SIZE);
        next.start(3, SIZE);
        let arena = next.take(3, SIZE).unwrap();
        assert_eq!(arena.head.number, 3);
        assert_eq!(arena.path, dir.path().join(arena_name(3)));
        assert!(arena.path.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "the lock and the arena, no prepared file");
    }

    #[test]
    fn a_wrong_or_unused_preparation_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let next = NextArena::new(Arc::new(FileDisk::open(dir.path()).unwrap()));
        next.start(5, SIZE);
        let arena = next.take(6, SIZE).unwrap();
        assert_eq!(arena.head.number, 6);
        next.start(7, SIZE);
        drop(next);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [arena_name(6), "lock".into()]);
    }

    #[test]
    fn a_failed_preparation_is_retried_in_line() {
        let dir = tempfile::tempdir().unwrap();
        // A file in the way makes the preparation fail (create_new).
        let blocker = dir.path().join(format!("{}{NEW_SUFFIX}", arena_name(1)));
        std::fs::write(&blocker, b"in the way").unwrap();
        let next = NextArena::new(Arc::new(FileDisk::open(dir.path()).unwrap()));
        next.start(1, SIZE);
        let arena = next.take(1, SIZE).unwrap_err();
        // The in-line retry meets the same blocker: the error names it.
        assert!(arena.to_string().contains(".new"), "{arena}");
        std::fs::remove_file(&blocker).unwrap();
        next.start(1, SIZE);
        assert_eq!(next.take(1, SIZE).unwrap().head.number, 1);
    }
}
