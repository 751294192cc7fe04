//! [`CrashDisk`]: a disk in memory that remembers what was made durable
//! and what was not, and produces the image a crash at any moment would
//! leave.
//!
//! The model: a file's contents are durable once `sync_data` on it
//! returns; names (creations, renames, removals) once `sync_names`
//! returns. Everything else is a log of operations in the order they were
//! made. A crash image is the durable state plus the first `k` logged
//! operations, the next one (a write) optionally torn after some of its
//! bytes: so the image after every prefix of what the store did, torn at
//! every byte, can be opened and checked. Disks also reorder what is not
//! synced, so an image may instead lose any one operation and keep every
//! other (say, an index header that reached the disk before its buckets).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::disk::{Disk, Storage};
use super::mem_disk::{MemDisk, read_from, write_into};

/// Index of a file's contents (a name may come to point at another).
type Ino = usize;

/// One operation not yet durable.
#[derive(Clone, Debug)]
enum Op {
    Write { ino: Ino, off: u64, data: Vec<u8> },
    SetLen { ino: Ino, len: u64 },
    Link { name: String, ino: Ino },
    Rename { from: String, to: String },
    Unlink { name: String },
}

#[derive(Debug, Default)]
struct State {
    /// Contents as the process sees them, by inode.
    now: Vec<Vec<u8>>,
    /// Contents as the disk holds them for sure.
    durable: Vec<Vec<u8>>,
    names: HashMap<String, Ino>,
    durable_names: HashMap<String, Ino>,
    /// Operations since the last sync that covers them, in order.
    log: Vec<Op>,
}

/// What a crash leaves: the durable state and the first `applied`
/// operations of the log but `lost`, then `torn` bytes of the next (if a
/// write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    /// Operations of the log that reached the disk whole.
    pub applied: usize,
    /// Bytes of the next write that reached it too.
    pub torn: usize,
    /// One of the first `applied` that did not (reordered after them).
    pub lost: Option<usize>,
}

impl CrashPoint {
    /// The crash that keeps only what was made durable.
    pub const DURABLE: CrashPoint = CrashPoint {
        applied: 0,
        torn: 0,
        lost: None,
    };
}

/// Called before each sync takes effect, so a test can crash the disk
/// inside the store's sync (between its steps), not only between calls.
pub type SyncHook = Arc<dyn Fn(&CrashDisk) + Send + Sync>;

/// A disk that can be crashed (see the module docs). Cloning shares it.
#[derive(Clone)]
pub struct CrashDisk {
    path: PathBuf,
    state: Arc<Mutex<State>>,
    hook: Arc<Mutex<Option<SyncHook>>>,
}

impl std::fmt::Debug for CrashDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrashDisk")
            .field("path", &self.path)
            .finish()
    }
}

impl State {
    fn apply(
        op: &Op,
        files: &mut [Vec<u8>],
        names: &mut HashMap<String, Ino>,
        torn: Option<usize>,
    ) {
        match op {
            Op::Write { ino, off, data } => {
                let data = &data[..torn.unwrap_or(data.len()).min(data.len())];
                write_into(&mut files[*ino], data, *off)
            }
            Op::SetLen { ino, len } => files[*ino].resize(*len as usize, 0),
            Op::Link { name, ino } => {
                names.insert(name.clone(), *ino);
            }
            Op::Rename { from, to } => {
                if let Some(ino) = names.remove(from) {
                    names.insert(to.clone(), ino);
                }
            }
            Op::Unlink { name } => {
                names.remove(name);
            }
        }
    }

    /// Applies `op` to the live state and logs it.
    fn record(&mut self, op: Op) {
        State::apply(&op, &mut self.now, &mut self.names, None);
        self.log.push(op);
    }

    fn new_inode(&mut self) -> Ino {
        self.now.push(Vec::new());
        self.durable.push(Vec::new());
        self.now.len() - 1
    }

    fn ino(&self, name: &str) -> io::Result<Ino> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no file {name}")))
    }
}

impl CrashDisk {
    /// An empty disk; `path` names its files in errors.
    pub fn new(path: impl Into<PathBuf>) -> CrashDisk {
        CrashDisk {
            path: path.into(),
            state: Arc::default(),
            hook: Arc::default(),
        }
    }

    /// Calls `hook` before every sync (of a file or of the names) from
    /// now on.
    pub fn on_sync(&self, hook: SyncHook) {
        *self.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    fn before_sync(&self) {
        let hook = self.hook.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(hook) = hook {
            hook(self);
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Operations made since they were last made durable.
    pub fn pending(&self) -> usize {
        self.state().log.len()
    }

    /// Every crash point: after each prefix of the pending operations,
    /// for a write after each of its bytes (every `step`th, 1 for all),
    /// and all of them but one.
    pub fn crash_points(&self, step: usize) -> Vec<CrashPoint> {
        let state = self.state();
        let n = state.log.len();
        let point = |applied, torn, lost| CrashPoint {
            applied,
            torn,
            lost,
        };
        let mut points = Vec::new();
        for (applied, op) in state.log.iter().enumerate() {
            points.push(point(applied, 0, None));
            if let Op::Write { data, .. } = op {
                let tears = (1..data.len()).step_by(step.max(1));
                points.extend(tears.map(|torn| point(applied, torn, None)));
            }
            if applied + 1 < n {
                points.push(point(n, 0, Some(applied)));
            }
        }
        points.push(point(n, 0, None));
        points
    }

    /// The files a crash at `at` leaves, as a new disk.
    pub fn image(&self, at: CrashPoint) -> MemDisk {
        let state = self.state();
        let mut files = state.durable.clone();
        let mut names = state.durable_names.clone();
        let applied = &state.log[..at.applied.min(state.log.len())];
        for (i, op) in applied.iter().enumerate() {
            if at.lost != Some(i) {
                State::apply(op, &mut files, &mut names, None);
            }
        }
        if at.torn > 0
            && let Some(op @ Op::Write { .. }) = state.log.get(at.applied)
        {
            State::apply(op, &mut files, &mut names, Some(at.torn));
        }
        let files = names
            .into_iter()
            .map(|(name, ino)| (name, files[ino].clone()))
            .collect();
        MemDisk::with_files(self.path.clone(), files)
    }
}

/// A file of a [`CrashDisk`].
#[derive(Debug)]
struct CrashFile {
    disk: CrashDisk,
    ino: Ino,
}

impl Storage for CrashFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        read_from(&self.disk.state().now[self.ino], buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        self.disk.state().record(Op::Write {
            ino: self.ino,
            off,
            data: buf.to_vec(),
        });
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.disk.before_sync();
        let mut state = self.disk.state();
        let ino = self.ino;
        state.durable[ino] = state.now[ino].clone();
        state.log.retain(
            |op| !matches!(op, Op::Write { ino: i, .. } | Op::SetLen { ino: i, .. } if *i == ino),
        );
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.disk.state().now[self.ino].len() as u64)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.disk.state().record(Op::SetLen { ino: self.ino, len });
        Ok(())
    }
}

impl CrashDisk {
    fn file(&self, ino: Ino) -> Arc<dyn Storage> {
        Arc::new(CrashFile {
            disk: self.clone(),
            ino,
        })
    }
}

impl Disk for CrashDisk {
    fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let ino = self.state().ino(name)?;
        Ok(self.file(ino))
    }

    fn create_new(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        if self.state().names.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                name.to_string(),
            ));
        }
        self.create(name)
    }

    /// A new file under `name`: the old one's contents, if any, stay where
    /// a crash before the name is durable finds them.
    fn create(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let mut state = self.state();
        let ino = state.new_inode();
        state.record(Op::Link {
            name: name.to_string(),
            ino,
        });
        drop(state);
        Ok(self.file(ino))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut state = self.state();
        state.ino(from)?;
        state.record(Op::Rename {
            from: from.to_string(),
            to: to.to_string(),
        });
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut state = self.state();
        state.ino(name)?;
        state.record(Op::Unlink {
            name: name.to_string(),
        });
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.state().names.keys().cloned().collect())
    }

    fn sync_names(&self) -> io::Result<()> {
        self.before_sync();
        let mut state = self.state();
        state.durable_names = state.names.clone();
        state
            .log
            .retain(|op| matches!(op, Op::Write { .. } | Op::SetLen { .. }));
        Ok(())
    }
}
