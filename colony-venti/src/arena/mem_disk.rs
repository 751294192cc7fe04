//! [`MemDisk`]: a store's directory in memory, for tests and for the
//! images [`CrashDisk`](super::crash_disk::CrashDisk) makes.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::disk::{Disk, Storage};

/// Files by name, in memory. Syncs do nothing; cloning shares the files.
#[derive(Clone, Debug)]
pub struct MemDisk {
    path: PathBuf,
    files: Arc<Mutex<HashMap<String, Arc<MemFile>>>>,
}

/// One file of a [`MemDisk`].
#[derive(Debug, Default)]
pub struct MemFile(RwLock<Vec<u8>>);

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no file {name}"))
}

impl MemDisk {
    /// An empty disk; `path` names its files in errors.
    pub fn new(path: impl Into<PathBuf>) -> MemDisk {
        MemDisk::with_files(path, HashMap::new())
    }

    /// A disk holding `files` (name, contents).
    pub fn with_files(path: impl Into<PathBuf>, files: HashMap<String, Vec<u8>>) -> MemDisk {
        let files = files
            .into_iter()
            .map(|(name, bytes)| (name, Arc::new(MemFile(RwLock::new(bytes)))))
            .collect();
        MemDisk {
            path: path.into(),
            files: Arc::new(Mutex::new(files)),
        }
    }

    fn files(&self) -> MutexGuard<'_, HashMap<String, Arc<MemFile>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of file `name`'s contents.
    pub fn contents(&self, name: &str) -> Option<Vec<u8>> {
        self.files().get(name).map(|f| f.bytes().clone())
    }

    /// Replaces file `name`'s contents (to damage a store in tests).
    pub fn set_contents(&self, name: &str, bytes: Vec<u8>) {
        self.files()
            .insert(name.to_string(), Arc::new(MemFile(RwLock::new(bytes))));
    }
}

impl MemFile {
    fn bytes(&self) -> std::sync::RwLockReadGuard<'_, Vec<u8>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes_mut(&self) -> std::sync::RwLockWriteGuard<'_, Vec<u8>> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes `buf` at `off` into `bytes`, growing it with zeros as needed.
pub(crate) fn write_into(bytes: &mut Vec<u8>, buf: &[u8], off: u64) {
    let end = off as usize + buf.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[off as usize..end].copy_from_slice(buf);
}

/// Reads exactly `buf.len()` bytes at `off` out of `bytes`.
pub(crate) fn read_from(bytes: &[u8], buf: &mut [u8], off: u64) -> io::Result<()> {
    let src = usize::try_from(off)
        .ok()
        .and_then(|off| bytes.get(off..off.checked_add(buf.len())?))
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
    buf.copy_from_slice(src);
    Ok(())
}

impl Storage for MemFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        read_from(&self.bytes(), buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        write_into(&mut self.bytes_mut(), buf, off);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.bytes().len() as u64)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.bytes_mut().resize(len as usize, 0);
        Ok(())
    }
}

impl Disk for MemDisk {
    fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let file = self
            .files()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        Ok(file)
    }

    fn create_new(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let mut files = self.files();
        if files.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                name.to_string(),
            ));
        }
        let file = Arc::new(MemFile::default());
        files.insert(name.to_string(), file.clone());
        Ok(file)
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let file = Arc::new(MemFile::default());
        self.files().insert(name.to_string(), file.clone());
        Ok(file)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut files = self.files();
        let file = files.remove(from).ok_or_else(|| not_found(from))?;
        files.insert(to.to_string(), file);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.files()
            .remove(name)
            .map(drop)
            .ok_or_else(|| not_found(name))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files().keys().cloned().collect())
    }

    fn sync_names(&self) -> io::Result<()> {
        Ok(())
    }
}
