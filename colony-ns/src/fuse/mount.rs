//! Mounting a [`FileSystem`] with FUSE, and the handle that unmounts it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use fuser::{Config, MountOption, Session, SessionACL, SessionUnmounter};
use nix::mount::{MntFlags, umount2};

use crate::IdRange;
use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::fuse::adapter::{Adapter, Tuning};
use crate::fuse::attr::Inodes;
use crate::fuse::holders;
use crate::fuse::ids::IdMap;
use crate::fuse::open_files::OpenFiles;
use std::os::unix::fs::MetadataExt;

/// How a file system is mounted.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// The mount's source, as /proc/self/mountinfo shows it.
    pub fs_name: String,
    /// The tree to attach (the `aname` of [`FileSystem::attach`]).
    pub aname: String,
    /// Refuse every change (the kernel enforces it).
    pub read_only: bool,
    /// Let every user in, not only the one who mounted; permission bits are
    /// enforced by the kernel either way (`default_permissions`).
    pub allow_other: bool,
    /// Threads serving kernel requests.
    pub threads: usize,
    /// How long the kernel caches attributes.
    pub attr_ttl: Duration,
    /// How long the kernel caches names (and their absence).
    pub entry_ttl: Duration,
    /// The host id range of the user namespace this mount is the root of:
    /// owners show shifted into it (see [`IdMap::range`]) and set-uid bits
    /// take effect (they can only raise to ids of the range). `None` shows
    /// stored ids as they are, and the mount is `nosuid`.
    pub ids: Option<IdRange>,
    /// Keep a file's page cache across opens. Safe while this mount is the
    /// only writer of the tree; turn off when the same file system is also
    /// changed another way (say, served over 9P at the same time), else
    /// readers here may see stale data until the attributes expire.
    pub keep_cache: bool,
    /// Use the kernel's write-back cache: `write(2)` fills the page cache
    /// and the kernel writes dirty pages back in large requests (at the
    /// latest when the file is closed or fsynced), keeping a file's size
    /// and times itself meanwhile. Only for a mount that is the only
    /// writer of the tree: the kernel then ignores sizes and times the
    /// file system reports for files it has cached.
    pub writeback_cache: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            fs_name: "colony".into(),
            aname: String::new(),
            read_only: false,
            allow_other: false,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8)),
            attr_ttl: Duration::from_secs(1),
            entry_ttl: Duration::from_secs(1),
            keep_cache: true,
            writeback_cache: false,
            ids: None,
        }
    }
}

impl MountOptions {
    /// The options for a tree that nothing but this mount changes (an
    /// environment's root): the kernel trusts what it caches (names,
    /// attributes, pages) until it changes them itself, and writes back
    /// through its write-back cache. Everything a program changes goes
    /// through the kernel, which updates or drops its own cache as it does;
    /// only changes made to the tree another way would go unseen.
    pub fn sole_writer() -> MountOptions {
        MountOptions {
            attr_ttl: SOLE_WRITER_TTL,
            entry_ttl: SOLE_WRITER_TTL,
            keep_cache: true,
            writeback_cache: true,
            ..MountOptions::default()
        }
    }
}

/// How long a sole writer's kernel trusts names and attributes: long
/// enough that a session never asks twice (the kernel still drops what it
/// changes, and entries under memory pressure).
const SOLE_WRITER_TTL: Duration = Duration::from_secs(24 * 3600);

/// A mounted file system. [`MountHandle::unmount`] (or dropping the handle)
/// unmounts it; no mount is left behind either way.
#[derive(Debug)]
pub struct MountHandle {
    dir: PathBuf,
    /// The thread running the session; None once joined.
    session: Option<JoinHandle<std::io::Result<()>>>,
    /// The session's own unmount, which takes the mount from the session so
    /// that it is unmounted once: a session left to unmount itself did so
    /// again when it ended, which failed with EINVAL after a clean unmount
    /// and, ending late after a busy mount was detached, could take down
    /// another mount made at the same path meanwhile.
    unmounter: SessionUnmounter,
    flusher: Flusher,
}

/// Writes back what programs changed through shared mappings of a mounted
/// file system (see [`Flusher::flush`]). Cheap to clone; usable from any
/// thread while the mount lasts.
#[derive(Debug, Clone)]
pub struct Flusher {
    dir: PathBuf,
    /// The mount's device number (`st_dev` of its files).
    dev: u64,
}

impl Flusher {
    /// Returns once every page changed before the call, through a shared
    /// mapping or (with the write-back cache) by `write(2)`, has reached
    /// the file system.
    ///
    /// Closed files need nothing: closing a file writes its dirty pages
    /// back before `close` returns. `syncfs` alone is not enough for open
    /// ones: FUSE ends a page's writeback when it has queued the WRITE,
    /// before the server has it, and only `fsync` of the file waits for
    /// those. Every file with dirty pages is held writable (open for
    /// writing, or mapped shared and writable), so each such file of the
    /// mount that any process holds is `fsync`ed.
    pub fn flush(&self) -> Result<()> {
        let root = std::fs::File::open(&self.dir)?;
        nix::unistd::syncfs(&root).map_err(io_error)?;
        for file in holders::writable_files(self.dev) {
            match file.sync_all() {
                // Removed meanwhile by a file system that does not keep
                // removed files: its data is gone with its name.
                Err(e) if e.raw_os_error() == Some(nix::libc::ESTALE) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                r => r?,
            }
        }
        Ok(())
    }
}

/// Mounts `fs` on the directory `dir` and serves it on background threads
/// until the handle is unmounted or dropped. Needs /dev/fuse and the right
/// to mount (root, or CAP_SYS_ADMIN; otherwise the `fusermount3` helper
/// from the fuse3 package is used if installed).
pub fn mount(fs: Arc<dyn FileSystem>, dir: &Path, options: &MountOptions) -> Result<MountHandle> {
    let dir = dir.canonicalize()?;
    let ids = IdMap {
        range: options.ids,
        ..IdMap::system()
    };
    let me = ids.users.name(nix::unistd::geteuid().as_raw());
    let root = fs.attach(&me, &options.aname)?;
    let open = Arc::new(OpenFiles::new(fs.keep_removed()));
    let skip_open = options.writeback_cache && options.keep_cache && fs.keep_removed();
    let notifier = Arc::new(OnceLock::new());
    let adapter = Adapter {
        fs,
        inodes: Inodes::new(root),
        ids,
        tuning: Tuning {
            attr_ttl: options.attr_ttl,
            entry_ttl: options.entry_ttl,
            keep_cache: options.keep_cache,
            writeback_cache: options.writeback_cache,
            skip_open,
        },
        open: open.clone(),
        acls: false,
        dont_mask: false,
        killpriv: false,
        notifier: notifier.clone(),
    };
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName(options.fs_name.clone()),
        MountOption::DefaultPermissions,
        MountOption::NoAtime,
        if options.read_only {
            MountOption::RO
        } else {
            MountOption::RW
        },
    ];
    // Set-uid files raise only within a user namespace's range (owners show
    // shifted into it), so there they may work, as `su` and `passwd` need;
    // elsewhere a stored set-uid-root file would raise to host root.
    if options.ids.is_some() {
        config.mount_options.push(MountOption::Suid);
    }
    config.acl = if options.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    config.n_threads = Some(options.threads.max(1));
    config.clone_fd = true;
    // Mounts and completes the INIT handshake before returning, so the file
    // system answers as soon as `mount` does.
    let mut session = Session::new(adapter, &dir, &config)?;
    let _ = notifier.set(session.notifier());
    let unmounter = session.unmount_callable();
    let thread = std::thread::Builder::new()
        .name("colony-fuse".into())
        .spawn(move || session.run())?;
    let mut handle = MountHandle {
        flusher: Flusher {
            dir: dir.clone(),
            dev: 0,
        },
        dir,
        session: Some(thread),
        unmounter,
    };
    // Served from here on, so the mount's root can be looked at (dropping
    // the handle unmounts if it cannot).
    handle.flusher.dev = std::fs::metadata(&handle.dir)?.dev();
    Ok(handle)
}

impl MountHandle {
    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.dir
    }

    /// A handle that flushes pages changed through shared mappings.
    pub fn flusher(&self) -> Flusher {
        self.flusher.clone()
    }

    /// Unmounts and waits for the session to end. If the mount is busy (a
    /// process has a file open or its working directory inside), it is
    /// detached instead: gone from the namespace at once, served until the
    /// last user lets go.
    pub fn unmount(mut self) -> Result<()> {
        self.unmount_now()
    }

    fn unmount_now(&mut self) -> Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        match self.unmounter.unmount() {
            Ok(()) => {}
            // Unmounted behind our back (umount(8)): the session has ended.
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {}
            Err(e) => {
                // Busy (or refused): detached instead, gone from the
                // namespace at once. The session ends when the kernel lets
                // go; do not wait.
                tracing::warn!("unmounting {}: {e}; detaching it", self.dir.display());
                umount2(&self.dir, MntFlags::MNT_DETACH).map_err(io_error)?;
                return Ok(());
            }
        }
        let ended = session
            .join()
            .map_err(|_| Error::Other("FUSE session thread panicked".into()))?;
        Ok(ended.or_else(aborted_by_unmount)?)
    }
}

/// The end of a session that an unmount closed. The unmount aborts the
/// connection; a serving thread that had taken a request off the queue at
/// that moment reads ECONNABORTED instead of ENODEV. The session ended all
/// the same (the file system's `destroy` has run): that is no error.
fn aborted_by_unmount(e: std::io::Error) -> std::io::Result<()> {
    match e.raw_os_error() {
        Some(nix::libc::ECONNABORTED) => Ok(()),
        _ => Err(e),
    }
}

impl Drop for MountHandle {
    fn drop(&mut self) {
        if let Err(e) = self.unmount_now() {
            tracing::warn!("unmounting {}: {e}", self.dir.display());
        }
    }
}

fn io_error(e: nix::errno::Errno) -> Error {
    Error::Io(std::io::Error::from(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_aborted_connection_ends_a_session_cleanly() {
        let aborted = std::io::Error::from_raw_os_error(nix::libc::ECONNABORTED);
        assert!(aborted_by_unmount(aborted).is_ok());
        let other = std::io::Error::from_raw_os_error(nix::libc::EIO);
        assert_eq!(
            aborted_by_unmount(other).unwrap_err().raw_os_error(),
            Some(nix::libc::EIO)
        );
    }
}
