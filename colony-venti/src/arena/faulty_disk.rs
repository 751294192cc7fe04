//! [`FaultyDisk`]: another disk with failures injected on demand: the
//! Nth write failing (an I/O error, or short: part written, then the
//! error), the Nth sync failing, a full disk, and reads failing.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::disk::{Disk, Storage};

/// How an injected write failure looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// Nothing written; EIO.
    Error,
    /// The first this many bytes written; then EIO.
    Short(usize),
}

/// A file's current name, shared by its handles and renamed with it.
type Name = Arc<Mutex<String>>;

#[derive(Debug, Default)]
struct Plan {
    /// The names of files opened or created, kept current across renames.
    names: HashMap<String, Name>,
    syncs: u64,
    /// Writes to each file so far.
    writes: HashMap<String, u64>,
    /// The file, the write to it (counted from 1 over the disk's life)
    /// that fails, and how.
    fail_write: Option<(String, u64, WriteFault)>,
    /// The sync (of data or names) that fails.
    fail_sync: Option<u64>,
    /// While set, writes, reservations and creations fail with ENOSPC.
    full: bool,
    /// While set, reads fail with EIO.
    unreadable: bool,
}

/// A disk over `inner` that fails as told. Cloning shares the plan.
#[derive(Clone, Debug)]
pub struct FaultyDisk {
    inner: Arc<dyn Disk>,
    plan: Arc<Mutex<Plan>>,
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("injected failure: {what}"))
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(nix::libc::ENOSPC)
}

impl FaultyDisk {
    /// A disk that fails nothing yet.
    pub fn new(inner: Arc<dyn Disk>) -> FaultyDisk {
        FaultyDisk {
            inner,
            plan: Arc::default(),
        }
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `n`th write from now (1 is the next) to file `name` fails as
    /// `fault`.
    pub fn fail_write(&self, name: &str, n: u64, fault: WriteFault) {
        let mut plan = self.plan();
        let done = plan.writes.get(name).copied().unwrap_or(0);
        plan.fail_write = Some((name.to_string(), done + n, fault));
    }

    /// The `n`th sync from now (of a file's data or of the names) fails.
    pub fn fail_sync(&self, n: u64) {
        let mut plan = self.plan();
        plan.fail_sync = Some(plan.syncs + n);
    }

    /// Makes the disk full (ENOSPC on every write, reservation and
    /// creation) or gives it room again.
    pub fn set_full(&self, full: bool) {
        self.plan().full = full;
    }

    /// Makes every read fail (EIO), or succeed again.
    pub fn set_unreadable(&self, unreadable: bool) {
        self.plan().unreadable = unreadable;
    }

    fn check_sync(&self) -> io::Result<()> {
        let mut plan = self.plan();
        plan.syncs += 1;
        if plan.fail_sync == Some(plan.syncs) {
            return Err(eio("sync"));
        }
        Ok(())
    }

    fn check_room(&self) -> io::Result<()> {
        if self.plan().full {
            return Err(enospc());
        }
        Ok(())
    }

    fn wrap(&self, name: &str, file: Arc<dyn Storage>) -> Arc<dyn Storage> {
        let name = self
            .plan()
            .names
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(name.to_string())))
            .clone();
        Arc::new(FaultyFile {
            disk: self.clone(),
            name,
            inner: file,
        })
    }
}

/// A file of a [`FaultyDisk`].
#[derive(Debug)]
struct FaultyFile {
    disk: FaultyDisk,
    name: Name,
    inner: Arc<dyn Storage>,
}

impl Storage for FaultyFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        if self.disk.plan().unreadable {
            return Err(eio("read"));
        }
        self.inner.read_at(buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        let fault = {
            let mut plan = self.disk.plan();
            if plan.full {
                return Err(enospc());
            }
            let name = self.name.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let count = plan.writes.entry(name.clone()).or_default();
            *count += 1;
            let count = *count;
            plan.fail_write
                .as_ref()
                .filter(|(failing, n, _)| *failing == name && *n == count)
                .map(|(_, _, f)| *f)
        };
        match fault {
            None => self.inner.write_at(buf, off),
            Some(WriteFault::Error) => Err(eio("write")),
            Some(WriteFault::Short(n)) => {
                self.inner.write_at(&buf[..n.min(buf.len())], off)?;
                Err(eio("short write"))
            }
        }
    }
    fn sync_data(&self) -> io::Result<()> {
        self.disk.check_sync()?;
        self.inner.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn reserve(&self, len: u64) -> io::Result<()> {
        self.disk.check_room()?;
        self.inner.reserve(len)
    }
}

impl Disk for FaultyDisk {
    fn path(&self) -> &Path {
        self.inner.path()
    }
    fn open(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        Ok(self.wrap(name, self.inner.open(name)?))
    }
    fn create_new(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        self.check_room()?;
        Ok(self.wrap(name, self.inner.create_new(name)?))
    }
    fn create(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        self.check_room()?;
        Ok(self.wrap(name, self.inner.create(name)?))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.rename(from, to)?;
        let mut plan = self.plan();
        if let Some(name) = plan.names.remove(from) {
            *name.lock().unwrap_or_else(|e| e.into_inner()) = to.to_string();
            plan.names.insert(to.to_string(), name);
        }
        Ok(())
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)?;
        self.plan().names.remove(name);
        Ok(())
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn sync_names(&self) -> io::Result<()> {
        self.check_sync()?;
        self.inner.sync_names()
    }
}
