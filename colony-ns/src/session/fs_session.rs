//! [`FsSession`]: a [`LinuxSession`] whose root is any [`FileSystem`]
//! (a live fossil, a remote tree over 9P), mounted with FUSE on a private
//! host directory for the session's life.
//!
//! The mount is made by this (tokio) process and served by its FUSE
//! threads; the session's helper then unshares a mount namespace that holds
//! a copy of it and pivots into that. Stopping kills the session first (its
//! namespace, and with it the copy, goes away with its last process), then
//! unmounts the host's copy and removes the directory.

use super::Session;
use super::linux::{LinuxConfig, LinuxSession};
use super::process::{Process, ProcessInfo, PtyProcess};
use super::spec::{CommandSpec, Root, SessionSpec, WindowSize};
use crate::fs::FileSystem;
use crate::fuse::{MountHandle, MountOptions, mount};
use crate::{Error, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What an [`FsSession`] needs besides its [`SessionSpec`].
#[derive(Clone)]
pub struct FsConfig {
    /// How to run the helper process.
    pub linux: LinuxConfig,
    /// The tree that becomes the session's `/` (its default attach).
    pub fs: Arc<dyn FileSystem>,
    /// A private host directory to mount it on: created if missing,
    /// removed on stop (it must then be empty). Its parent must be ours
    /// alone (mode 0700 or tighter): see [`Error::MountPointNotPrivate`].
    pub mountpoint: PathBuf,
}

/// A session rooted in a mounted [`FileSystem`]. `spec.root` is ignored:
/// the root is the file system, and everything the session's processes
/// write goes to it.
pub struct FsSession {
    /// The running session; `None` once stopped.
    linux: Option<LinuxSession>,
    /// The host's mount of the tree; `None` once unmounted.
    mount: Option<MountHandle>,
    mountpoint: PathBuf,
    name: String,
    shell: String,
}

impl FsSession {
    /// Where the tree is mounted on the host (until stopped).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The session underneath, while running (its init, helper, cgroups).
    pub fn linux(&self) -> Option<&LinuxSession> {
        self.linux.as_ref()
    }

    /// Returns once everything processes wrote through the mount has
    /// reached the file system: pages the kernel still holds dirty (the
    /// mount uses its write-back cache; shared `mmap`s too) are written
    /// back ([`crate::fuse::Flusher::flush`]).
    pub async fn flush(&self) -> Result<()> {
        let flusher = self.mount.as_ref().ok_or(Error::Stopped)?.flusher();
        tokio::task::spawn_blocking(move || flusher.flush())
            .await
            .map_err(|e| Error::SessionSetup(e.to_string()))?
    }

    fn running(&self) -> Result<&LinuxSession> {
        self.linux.as_ref().ok_or(Error::Stopped)
    }

    /// Unmounts the host's copy (waiting for the FUSE session to end) and
    /// removes the mount point.
    async fn unmount(&mut self) -> Result<()> {
        if let Some(handle) = self.mount.take() {
            tokio::task::spawn_blocking(move || handle.unmount())
                .await
                .map_err(|e| Error::SessionSetup(e.to_string()))??;
        }
        remove_mountpoint(&self.mountpoint)
    }
}

impl Session for FsSession {
    type Config = FsConfig;

    async fn start(config: &FsConfig, spec: &SessionSpec) -> Result<Self> {
        let dir = config.mountpoint.clone();
        check_private_parent(&dir)?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::sys_io(format!("create {}", dir.display()), &e))?;
        // The session is the only writer of its tree: the kernel may cache
        // and write back as for a local file system.
        let options = MountOptions {
            fs_name: format!("colony:{}", spec.name),
            // Programs in the session may run as any user; the kernel still
            // checks permission bits (default_permissions). Other host
            // accounts cannot reach it: the mount point's parent is private.
            allow_other: true,
            ids: spec.ids,
            ..MountOptions::sole_writer()
        };
        let fs = config.fs.clone();
        let at = dir.clone();
        let mounted = tokio::task::spawn_blocking(move || mount(fs, &at, &options))
            .await
            .map_err(|e| Error::SessionSetup(e.to_string()))
            .and_then(|r| r);
        let mut session = FsSession {
            linux: None,
            mount: None,
            mountpoint: dir.clone(),
            name: spec.name.clone(),
            shell: spec.shell.clone(),
        };
        match mounted {
            Ok(handle) => session.mount = Some(handle),
            Err(e) => {
                let _ = remove_mountpoint(&dir);
                return Err(e);
            }
        }
        let mut linux_spec = spec.clone();
        linux_spec.root = Root::Dir(dir);
        match LinuxSession::start(&config.linux, &linux_spec).await {
            Ok(linux) => {
                session.linux = Some(linux);
                Ok(session)
            }
            Err(e) => {
                let _ = session.unmount().await;
                Err(e)
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn shell_path(&self) -> &str {
        &self.shell
    }

    async fn run(&self, cmd: &CommandSpec) -> Result<Process> {
        self.running()?.run(cmd).await
    }

    async fn run_pty(&self, cmd: &CommandSpec, size: WindowSize) -> Result<PtyProcess> {
        self.running()?.run_pty(cmd, size).await
    }

    fn processes(&self) -> Result<Vec<ProcessInfo>> {
        self.running()?.processes()
    }

    async fn stop(&mut self) -> Result<()> {
        if let Some(mut linux) = self.linux.take() {
            linux.stop().await?;
        }
        self.unmount().await
    }
}

impl Drop for FsSession {
    /// Kills the session (see [`LinuxSession`]'s drop), then unmounts and
    /// removes the mount point, blocking until the FUSE session ends.
    fn drop(&mut self) {
        drop(self.linux.take());
        if let Some(handle) = self.mount.take() {
            drop(handle);
            let _ = remove_mountpoint(&self.mountpoint);
        }
    }
}

/// Refuses a mount point other host accounts could reach: the root is
/// mounted `allow_other` (the session's processes run as other ids), so
/// only a directory that is ours alone (no group or other bits) keeps
/// host accounts from reading the session's files or planting their own.
fn check_private_parent(dir: &Path) -> Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let md = std::fs::metadata(parent)
        .map_err(|e| Error::sys_io(format!("stat {}", parent.display()), &e))?;
    if md.uid() != nix::unistd::geteuid().as_raw() || md.mode() & 0o077 != 0 {
        return Err(Error::MountPointNotPrivate {
            parent: parent.to_path_buf(),
            mode: md.mode() & 0o7777,
            uid: md.uid(),
        });
    }
    Ok(())
}

/// Removes the (empty) mount point; gone already is fine.
fn remove_mountpoint(dir: &Path) -> Result<()> {
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::sys_io(format!("remove {}", dir.display()), &e))
        }
        _ => Ok(()),
    }
}
