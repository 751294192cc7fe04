//! The bounded local store under a live [`crate::fossil::Fossil`]: where
//! dirty blocks (not yet in venti) and cached clean blocks live, by a local
//! key. [`MemLocal`] keeps them in memory; [`FileLocal`] in a file on disk
//! (for `spawndisk`), in fixed-size slots reused after removal.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Blocks by local key. Implementations are internally synchronized.
pub trait LocalStore: Send + Sync {
    /// Stores (or replaces) the block `key`.
    fn put(&self, key: u64, data: &[u8]) -> Result<()>;
    /// The block `key`, or `None` if absent.
    fn get(&self, key: u64) -> Result<Option<Vec<u8>>>;
    /// Forgets the block `key` (absent keys are ignored).
    fn remove(&self, key: u64);
}

/// A [`LocalStore`] in memory.
#[derive(Default)]
pub struct MemLocal {
    blocks: Mutex<HashMap<u64, Vec<u8>>>,
}

impl MemLocal {
    /// An empty store.
    pub fn new() -> MemLocal {
        MemLocal::default()
    }
}

impl LocalStore for MemLocal {
    fn put(&self, key: u64, data: &[u8]) -> Result<()> {
        let mut b = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        match b.get_mut(&key) {
            Some(v) => {
                v.clear();
                v.extend_from_slice(data);
            }
            None => {
                b.insert(key, data.to_vec());
            }
        }
        Ok(())
    }

    fn get(&self, key: u64) -> Result<Option<Vec<u8>>> {
        let b = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        Ok(b.get(&key).cloned())
    }

    fn remove(&self, key: u64) {
        let mut b = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        b.remove(&key);
    }
}

/// A [`LocalStore`] in one file of fixed-size slots. The file is removed
/// when the store is dropped: it holds a live session's blocks, not a
/// durable state (durable state is what `save` writes to venti).
pub struct FileLocal {
    file: File,
    path: PathBuf,
    slot_size: usize,
    index: Mutex<SlotIndex>,
}

#[derive(Default)]
struct SlotIndex {
    /// key -> (slot, length)
    slots: HashMap<u64, (u64, usize)>,
    free: Vec<u64>,
    next: u64,
}

impl FileLocal {
    /// Creates (or truncates) the file at `path`; blocks may be up to
    /// `slot_size` bytes.
    pub fn create(path: &Path, slot_size: usize) -> Result<FileLocal> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        Ok(FileLocal {
            file,
            path: path.to_path_buf(),
            slot_size,
            index: Mutex::new(SlotIndex::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotIndex> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FileLocal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl LocalStore for FileLocal {
    fn put(&self, key: u64, data: &[u8]) -> Result<()> {
        if data.len() > self.slot_size {
            return Err(Error::Unrepresentable(format!(
                "local block of {} bytes, slots hold {}",
                data.len(),
                self.slot_size
            )));
        }
        // The index lock is held across the I/O so a slot is never reused
        // while it is being read or written.
        let mut ix = self.lock();
        let slot = match ix.slots.get(&key) {
            Some(&(s, _)) => s,
            None => match ix.free.pop() {
                Some(s) => s,
                None => {
                    ix.next += 1;
                    ix.next - 1
                }
            },
        };
        self.file
            .write_all_at(data, slot * self.slot_size as u64)
            .map_err(|e| Error::io("write", &self.path, e))?;
        ix.slots.insert(key, (slot, data.len()));
        Ok(())
    }

    fn get(&self, key: u64) -> Result<Option<Vec<u8>>> {
        let ix = self.lock();
        let Some(&(slot, len)) = ix.slots.get(&key) else {
            return Ok(None);
        };
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, slot * self.slot_size as u64)
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok(Some(buf))
    }

    fn remove(&self, key: u64) {
        let mut ix = self.lock();
        if let Some((slot, _)) = ix.slots.remove(&key) {
            ix.free.push(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(s: &dyn LocalStore) {
        s.put(1, b"one").unwrap();
        s.put(2, &[7u8; 300]).unwrap();
        assert_eq!(s.get(1).unwrap().unwrap(), b"one");
        s.put(1, b"uno!").unwrap();
        assert_eq!(s.get(1).unwrap().unwrap(), b"uno!");
        s.remove(1);
        assert_eq!(s.get(1).unwrap(), None);
        s.put(3, b"three").unwrap();
        assert_eq!(s.get(3).unwrap().unwrap(), b"three");
        assert_eq!(s.get(2).unwrap().unwrap(), vec![7u8; 300]);
        s.remove(99);
    }

    #[test]
    fn mem_local() {
        exercise(&MemLocal::new());
    }

    #[test]
    fn file_local_reuses_slots_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("local");
        let s = FileLocal::create(&path, 512).unwrap();
        exercise(&s);
        // Key 1's slot was reused by key 3: the file holds two slots.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 512 + 300);
        assert!(s.put(4, &[0u8; 513]).is_err());
        drop(s);
        assert!(!path.exists());
    }
}
