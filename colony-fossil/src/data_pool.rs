//! File data written on worker threads during an import.
//!
//! Hashing, compressing and storing a file's leaves is most of an import's
//! work, and files are independent: the importer walks the tree and lays
//! out directories in order on its own thread while workers read files and
//! write their data streams. A file's entry is collected when the directory
//! holding it is finished, so the archive is the same whatever order the
//! blocks reach the store in.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::Scope;
use std::time::Duration;

use colony_venti::BlockStore;

use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::tree::{TreeWriter, WriteStats};

/// Jobs queued per worker: enough to keep workers busy, few enough to
/// bound the open files.
const QUEUE_PER_WORKER: usize = 4;

/// How a data stream is laid out and stored.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    /// Pointer block size.
    pub psize: u32,
    /// Leaf size.
    pub dsize: u32,
    /// Ask the store before each write and skip blocks it has.
    pub skip_existing: bool,
}

/// A data stream as written.
#[derive(Clone, Copy, Debug)]
pub struct Written {
    /// The stream's entry.
    pub entry: Entry,
    /// Blocks written and skipped.
    pub stats: WriteStats,
    /// Bytes read.
    pub size: u64,
}

/// Writes the data stream read from `r` (`rel` names it in errors) and
/// adds the bytes read to `bytes` as it goes.
pub fn write_stream<S: BlockStore + ?Sized>(
    store: &S,
    g: Geometry,
    r: &mut dyn Read,
    rel: &Path,
    bytes: &AtomicU64,
) -> Result<Written> {
    let mut w = TreeWriter::new(store, g.psize, g.dsize, false).skip_existing(g.skip_existing);
    let mut buf = vec![0u8; g.dsize as usize];
    let mut size = 0u64;
    loop {
        let n = read_full(r, &mut buf).map_err(|e| Error::io("read", rel, e))?;
        if n == 0 {
            break;
        }
        w.push_leaf(&buf[..n])?;
        size += n as u64;
        bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
    let (entry, stats) = w.finish(size)?;
    Ok(Written { entry, stats, size })
}

/// Reads until `buf` is full or the reader ends (vac's `readn`).
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One file for a worker.
struct Job<'a> {
    reader: Box<dyn Read + Send + 'a>,
    rel: PathBuf,
    done: SyncSender<Result<Written>>,
}

/// A file handed to the workers; [`Pending::wait`] gives its stream.
pub struct Pending {
    rel: PathBuf,
    done: Receiver<Result<Written>>,
    /// The result, once [`Pending::is_done`] has seen it.
    result: Option<Result<Written>>,
}

impl Pending {
    /// True once the worker has finished the file (never blocks).
    pub fn is_done(&mut self) -> bool {
        if self.result.is_none() {
            self.result = self.done.try_recv().ok();
        }
        self.result.is_some()
    }

    /// Waits for the stream, calling `tick` now and then meanwhile (for
    /// progress reports).
    pub fn wait(self, tick: &mut dyn FnMut()) -> Result<Written> {
        if let Some(r) = self.result {
            return r;
        }
        loop {
            match self.done.recv_timeout(Duration::from_millis(100)) {
                Ok(r) => return r,
                Err(RecvTimeoutError::Timeout) => tick(),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::io(
                        "write",
                        &self.rel,
                        std::io::Error::other("import worker stopped"),
                    ));
                }
            }
        }
    }
}

/// Worker threads writing data streams, living in a thread scope.
pub struct DataPool<'a> {
    jobs: Option<SyncSender<Job<'a>>>,
    /// Set when the pool is dropped: workers skip what is still queued
    /// (an import that failed does not finish its other files).
    stop: Arc<AtomicBool>,
}

impl<'a> DataPool<'a> {
    /// Starts `workers` threads in `scope` writing into `store`, adding the
    /// bytes they read to `bytes`.
    pub fn start<'scope, 'env, S: BlockStore + ?Sized>(
        scope: &'scope Scope<'scope, 'env>,
        store: &'env S,
        g: Geometry,
        workers: usize,
        bytes: &'env AtomicU64,
    ) -> DataPool<'a>
    where
        'a: 'env,
    {
        let workers = workers.max(1);
        let (tx, rx) = sync_channel::<Job<'a>>(workers * QUEUE_PER_WORKER);
        let rx = Arc::new(Mutex::new(rx));
        let stop = Arc::new(AtomicBool::new(false));
        for _ in 0..workers {
            let (rx, stop) = (rx.clone(), stop.clone());
            scope.spawn(move || {
                loop {
                    // A poisoned lock only means another worker panicked.
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(mut job) = job else { break };
                    if stop.load(Ordering::Relaxed) {
                        continue;
                    }
                    let r = write_stream(store, g, &mut job.reader, &job.rel, bytes);
                    let _ = job.done.send(r);
                }
            });
        }
        DataPool {
            jobs: Some(tx),
            stop,
        }
    }

    /// Queues a file (waits while the queue is full).
    pub fn submit(&self, reader: Box<dyn Read + Send + 'a>, rel: &Path) -> Result<Pending> {
        let (done, rx) = sync_channel(1);
        let job = Job {
            reader,
            rel: rel.to_path_buf(),
            done,
        };
        let stopped = || Error::io("read", rel, std::io::Error::other("import workers stopped"));
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        Ok(Pending {
            rel: rel.to_path_buf(),
            done: rx,
            result: None,
        })
    }
}

impl Drop for DataPool<'_> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Closing the queue ends the workers.
        self.jobs = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_venti::MemStore;

    const G: Geometry = Geometry {
        psize: 60,
        dsize: 512,
        skip_existing: false,
    };

    fn data(i: usize) -> Vec<u8> {
        (0..i * 777).map(|k| (k * 31 + i) as u8).collect()
    }

    /// Fails after handing out `ok` bytes.
    struct Failing {
        ok: usize,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.ok == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.ok);
            buf[..n].fill(1);
            self.ok -= n;
            Ok(n)
        }
    }

    #[test]
    fn workers_write_what_one_thread_writes() {
        let files: Vec<Vec<u8>> = (0..40).map(data).collect();
        let alone = MemStore::new();
        let bytes = AtomicU64::new(0);
        let want: Vec<Entry> = files
            .iter()
            .map(|f| {
                let w = write_stream(&alone, G, &mut &f[..], Path::new("f"), &bytes);
                w.unwrap().entry
            })
            .collect();
        let store = MemStore::new();
        let pooled = AtomicU64::new(0);
        let got: Vec<Entry> = std::thread::scope(|scope| {
            let pool = DataPool::start(scope, &store, G, 3, &pooled);
            let pending: Vec<Pending> = files
                .iter()
                .map(|f| pool.submit(Box::new(&f[..]), Path::new("f")).unwrap())
                .collect();
            pending
                .into_iter()
                .map(|p| p.wait(&mut || {}).unwrap().entry)
                .collect()
        });
        assert_eq!(got, want);
        assert_eq!(
            pooled.load(Ordering::Relaxed),
            bytes.load(Ordering::Relaxed)
        );
        assert_eq!(store.len(), alone.len());
    }

    #[test]
    fn a_failed_read_fails_that_file_alone() {
        let store = MemStore::new();
        let bytes = AtomicU64::new(0);
        std::thread::scope(|scope| {
            let pool = DataPool::start(scope, &store, G, 2, &bytes);
            let bad = pool
                .submit(Box::new(Failing { ok: 1000 }), Path::new("d/bad"))
                .unwrap();
            let good = pool.submit(Box::new(&b"fine"[..]), Path::new("d/good"));
            match bad.wait(&mut || {}) {
                Err(Error::Io { op, path, .. }) => {
                    assert_eq!((op, path.as_path()), ("read", Path::new("d/bad")));
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(good.unwrap().wait(&mut || {}).unwrap().size, 4);
        });
    }

    #[test]
    fn dropping_the_pool_skips_queued_files_and_ends_the_workers() {
        let store = MemStore::new();
        let bytes = AtomicU64::new(0);
        let big = vec![7u8; 1 << 20];
        std::thread::scope(|scope| {
            let pool = DataPool::start(scope, &store, G, 1, &bytes);
            let pending: Vec<Pending> = (0..4)
                .map(|_| pool.submit(Box::new(&big[..]), Path::new("f")).unwrap())
                .collect();
            drop(pool);
            // Each either finished before the drop or reports the stop.
            for p in pending {
                if let Err(e) = p.wait(&mut || {}) {
                    assert!(e.to_string().contains("stopped"), "{e}");
                }
            }
        });
    }
}
