//! The bounded local store under a live [`crate::fossil::Fossil`]: where
//! dirty blocks (not yet in venti) and cached clean blocks live, by a local
//! key. [`MemLocal`] keeps them in memory; [`FileLocal`] in a file on disk
//! (for `spawndisk`), in slots reused after removal.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

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
    blocks: RwLock<HashMap<u64, Vec<u8>>>,
}

impl MemLocal {
    /// An empty store.
    pub fn new() -> MemLocal {
        MemLocal::default()
    }
}

impl LocalStore for MemLocal {
    fn put(&self, key: u64, data: &[u8]) -> Result<()> {
        let mut b = self.blocks.write().unwrap_or_else(|p| p.into_inner());
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
        let b = self.blocks.read().unwrap_or_else(|p| p.into_inner());
        Ok(b.get(&key).cloned())
    }

    fn remove(&self, key: u64) {
        let mut b = self.blocks.write().unwrap_or_else(|p| p.into_inner());
        b.remove(&key);
    }
}

/// A [`LocalStore`] in one file. Blocks go in slots of power-of-two
/// sizes (at least 512 bytes), reused after removal through a free list
/// per size. The file is removed when the store is dropped: it holds a
/// live session's blocks, not a durable state (durable state is what
/// `save` writes to venti).
pub struct FileLocal {
    file: File,
    path: PathBuf,
    index: RwLock<SlotIndex>,
}

#[derive(Default)]
struct SlotIndex {
    /// key -> (offset, slot size, length)
    slots: HashMap<u64, (u64, u64, usize)>,
    /// slot size -> free offsets
    free: HashMap<u64, Vec<u64>>,
    end: u64,
}

/// Smallest slot size.
const MIN_SLOT: u64 = 512;

impl FileLocal {
    /// Creates (or truncates) the file at `path`, mode 0600: it holds an
    /// environment's unsaved data.
    pub fn create(path: &Path) -> Result<FileLocal> {
        let file = colony_venti::private::private_file()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        Ok(FileLocal {
            file,
            path: path.to_path_buf(),
            index: RwLock::new(SlotIndex::default()),
        })
    }

    fn shared(&self) -> RwLockReadGuard<'_, SlotIndex> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn exclusive(&self) -> RwLockWriteGuard<'_, SlotIndex> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FileLocal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl LocalStore for FileLocal {
    fn put(&self, key: u64, data: &[u8]) -> Result<()> {
        let size = (data.len() as u64).next_power_of_two().max(MIN_SLOT);
        // The index lock is held across the I/O so a slot is never reused
        // while it is being read or written; reads share it.
        let mut ix = self.exclusive();
        let offset = match ix.slots.get(&key) {
            Some(&(o, s, _)) if s == size => o,
            old => {
                if let Some(&(o, s, _)) = old {
                    ix.free.entry(s).or_default().push(o);
                }
                match ix.free.get_mut(&size).and_then(Vec::pop) {
                    Some(o) => o,
                    None => {
                        ix.end += size;
                        ix.end - size
                    }
                }
            }
        };
        self.file
            .write_all_at(data, offset)
            .map_err(|e| Error::io("write", &self.path, e))?;
        ix.slots.insert(key, (offset, size, data.len()));
        Ok(())
    }

    fn get(&self, key: u64) -> Result<Option<Vec<u8>>> {
        let ix = self.shared();
        let Some(&(offset, _, len)) = ix.slots.get(&key) else {
            return Ok(None);
        };
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok(Some(buf))
    }

    fn remove(&self, key: u64) {
        let mut ix = self.exclusive();
        if let Some((offset, size, _)) = ix.slots.remove(&key) {
            ix.free.entry(size).or_default().push(offset);
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
        let s = FileLocal::create(&path).unwrap();
        exercise(&s);
        // Key 1's slot was reused by key 3: the file holds two slots.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 512 + 300);
        // A bigger block takes a bigger slot; its old slot is reused.
        s.put(3, &[5u8; 5000]).unwrap();
        s.put(4, b"four").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1024 + 5000);
        assert_eq!(s.get(3).unwrap().unwrap(), vec![5u8; 5000]);
        assert_eq!(s.get(4).unwrap().unwrap(), b"four");
        drop(s);
        assert!(!path.exists());
    }
}
