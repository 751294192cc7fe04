//! What an [`ArenaStore`](super::ArenaStore) keeps its files on: a
//! [`Disk`] (the store's directory: names to files) of [`Storage`]s
//! (one file: positioned I/O, in the shape of redb's `StorageBackend`).
//! [`FileDisk`] is the real directory; [`MemDisk`](super::mem_disk),
//! [`FaultyDisk`](super::faulty_disk) and [`CrashDisk`](super::crash_disk)
//! let tests run the store over memory, injected failures, and the image a
//! crash would leave, without killing processes.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};
use crate::private::private_file;

use super::format::io_error;

/// One file of a store.
#[expect(
    clippy::len_without_is_empty,
    reason = "a file's length, as redb's backend has"
)]
pub trait Storage: Send + Sync + Debug {
    /// Reads exactly `buf.len()` bytes at `off`; past the end is
    /// [`io::ErrorKind::UnexpectedEof`].
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()>;
    /// Writes all of `buf` at `off`, extending the file if needed. On
    /// error any part of it may have been written.
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()>;
    /// Makes the file's contents (not its name) durable.
    fn sync_data(&self) -> io::Result<()>;
    /// The file's length.
    fn len(&self) -> io::Result<u64>;
    /// Cuts or extends (with zeros) the file to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves space for `len` bytes without changing the length, so
    /// writes below it cannot meet a full disk. Backends that cannot
    /// reserve do nothing.
    fn reserve(&self, _len: u64) -> io::Result<()> {
        Ok(())
    }
    /// Starts writing `len` bytes at `off` to the device without waiting:
    /// a hint, so that the next [`sync_data`](Self::sync_data) finds less
    /// to write. It promises nothing; backends without it do nothing.
    fn start_writeback(&self, _off: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

/// A store's directory: the files in it by name.
pub trait Disk: Send + Sync + Debug {
    /// The directory's path (it names the files in errors).
    fn path(&self) -> &Path;
    /// Opens an existing file for reading and writing.
    fn open(&self, name: &str) -> io::Result<Arc<dyn Storage>>;
    /// Creates a file, failing if the name exists.
    fn create_new(&self, name: &str) -> io::Result<Arc<dyn Storage>>;
    /// Creates a file or empties an existing one.
    fn create(&self, name: &str) -> io::Result<Arc<dyn Storage>>;
    /// Renames a file, replacing any file of the new name.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// The names of the files.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Makes the names (creations, renames, removals) durable.
    fn sync_names(&self) -> io::Result<()>;
}

/// A file's path on a disk, for errors.
pub(crate) fn path_of(disk: &dyn Disk, name: &str) -> PathBuf {
    disk.path().join(name)
}

/// Opens `name`, mapping failure to the crate's error.
pub(crate) fn open(disk: &dyn Disk, name: &str) -> Result<Arc<dyn Storage>> {
    disk.open(name)
        .map_err(|e| io_error("open", &path_of(disk, name), e))
}

/// [`Disk::sync_names`], mapping failure to the crate's error.
pub(crate) fn sync_names(disk: &dyn Disk) -> Result<()> {
    disk.sync_names()
        .map_err(|e| io_error("sync", disk.path(), e))
}

/// A real directory, its files created with mode 0600, held under an
/// exclusive `flock` on `DIR/lock` while open (one process per store: two
/// writers would append over each other's clumps). The kernel drops the
/// lock when the process dies, so a crash never leaves the store locked.
#[derive(Debug)]
pub struct FileDisk {
    dir: PathBuf,
    _lock: Flock<File>,
}

impl FileDisk {
    /// Makes `dir` a private directory if needed and locks it; another
    /// process holding it is [`Error::Locked`].
    pub fn open(dir: &Path) -> Result<FileDisk> {
        crate::private::private_dir(dir)?;
        let path = dir.join("lock");
        let file = private_file()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error("open", &path, e))?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(
                |(_, errno)| match errno {
                    Errno::EWOULDBLOCK => Error::Locked {
                        dir: dir.to_path_buf(),
                    },
                    e => io_error("lock", &path, e.into()),
                },
            )?;
        Ok(FileDisk {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    fn with(&self, options: &OpenOptions, name: &str) -> io::Result<Arc<dyn Storage>> {
        Ok(Arc::new(FileStorage(options.open(self.dir.join(name))?)))
    }
}

impl Disk for FileDisk {
    fn path(&self) -> &Path {
        &self.dir
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        self.with(OpenOptions::new().read(true).write(true), name)
    }

    fn create_new(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        self.with(private_file().read(true).write(true).create_new(true), name)
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        self.with(
            private_file()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true),
            name,
        )
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.dir.join(from), self.dir.join(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(name))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn sync_names(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

/// A real file.
#[derive(Debug)]
struct FileStorage(File);

impl Storage for FileStorage {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, off)
    }
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        self.0.write_all_at(buf, off)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn start_writeback(&self, off: u64, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // nix has no sync_file_range; the call reads nothing from memory.
        // SAFETY: a plain syscall on an open descriptor; no pointers.
        let r = unsafe {
            libc::sync_file_range(
                self.0.as_raw_fd(),
                off as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn reserve(&self, len: u64) -> io::Result<()> {
        use nix::fcntl::{FallocateFlags, fallocate};
        match fallocate(&self.0, FallocateFlags::FALLOC_FL_KEEP_SIZE, 0, len as i64) {
            Ok(()) | Err(Errno::EOPNOTSUPP | Errno::ENOSYS) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_file_starts_writeback_of_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let disk = FileDisk::open(dir.path()).unwrap();
        let file = disk.create_new("f").unwrap();
        file.write_at(&[7; 1 << 16], 4096).unwrap();
        file.start_writeback(4096, 1 << 16).unwrap();
        file.sync_data().unwrap();
        let mut back = vec![0; 1 << 16];
        file.read_at(&mut back, 4096).unwrap();
        assert_eq!(back, vec![7; 1 << 16]);
        // A range the kernel refuses is an error, not silence.
        assert!(file.start_writeback(u64::MAX, 1).is_err());
    }
}
