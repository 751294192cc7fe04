//! Building the session's file tree inside its fresh mount namespace: run by
//! the session's init (pid 1 of the new pid namespace) before it reaps.

use super::task::StartTask;
use crate::{Error, Result};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{SFlag, fstat};
use nix::unistd::{chdir, pivot_root, sethostname};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Host devices a session gets (bound from the host's /dev).
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Builds the tree and pivots into it. On return the process's root is the
/// session root and the host's tree is detached.
pub fn build(task: &StartTask) -> Result<()> {
    let root = &task.root;
    bind(root, root, false)?;
    for b in &task.binds {
        let target = inside(root, &b.target);
        make_mount_point(&target, b.source.is_dir())?;
        bind(&b.source, &target, b.read_only)?;
    }
    // Fail fast, with a message, on a tree we could never start a shell in.
    check_program(root, &task.shell)?;

    let proc_dir = root.join("proc");
    make_mount_point(&proc_dir, true)?;
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_fs("proc", &proc_dir, "proc", nosuid, None)?;
    build_dev(&root.join("dev"))?;
    // Plan 9's /srv: where the session posts its services, private to it.
    let srv = root.join("srv");
    make_mount_point(&srv, true)?;
    mount_fs("srv", &srv, "tmpfs", MsFlags::MS_NODEV, Some("mode=1777"))?;

    sethostname(&task.name).map_err(|e| Error::sys("sethostname", e))?;
    chdir(root.as_path()).map_err(|e| Error::sys(format!("chdir {}", root.display()), e))?;
    // pivot_root(".", ".") stacks the old root under the new one; detaching
    // "." then removes it without needing a put_old directory in the tree.
    pivot_root(".", ".").map_err(|e| Error::sys("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("detach old root", e))?;
    chdir("/").map_err(|e| Error::sys("chdir /", e))
}

/// A tmpfs /dev with the basic devices, a private devpts and /dev/shm.
fn build_dev(dev: &Path) -> Result<()> {
    make_mount_point(dev, true)?;
    mount_fs(
        "dev",
        dev,
        "tmpfs",
        MsFlags::MS_NOSUID,
        Some("mode=755,size=64k"),
    )?;
    for name in DEVICES {
        let target = dev.join(name);
        make_mount_point(&target, false)?;
        bind(&Path::new("/dev").join(name), &target, false)?;
    }
    let pts = dev.join("pts");
    make_mount_point(&pts, true)?;
    let pts_flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount_fs(
        "devpts",
        &pts,
        "devpts",
        pts_flags,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    let shm = dev.join("shm");
    make_mount_point(&shm, true)?;
    mount_fs(
        "shm",
        &shm,
        "tmpfs",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(to, dev.join(link)).map_err(|e| io_err(&dev.join(link), e))?;
    }
    Ok(())
}

/// `path` (absolute, as seen inside) under `root`.
fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Checks that `program` resolves, inside the root, to an executable file.
/// Symlinks resolve as they will after the pivot (RESOLVE_IN_ROOT).
fn check_program(root: &Path, program: &str) -> Result<()> {
    let missing = || Error::NoShell {
        root: root.to_owned(),
        program: program.to_owned(),
    };
    let dir = fs::File::open(root).map_err(|e| io_err(root, e))?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT);
    let rel = program.trim_start_matches('/');
    let fd = openat2(&dir, rel, how).map_err(|_| missing())?;
    let st = fstat(&fd).map_err(|_| missing())?;
    let is_file = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
    if !is_file || st.st_mode & 0o111 == 0 {
        return Err(missing());
    }
    Ok(())
}

/// Creates an empty directory or file to mount on, if none is there.
fn make_mount_point(path: &Path, dir: bool) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    let made = if dir {
        fs::create_dir_all(path)
    } else {
        fs::File::create(path).map(drop)
    };
    made.map_err(|e| io_err(path, e))
}

/// Bind-mounts `source` on `target` (recursively), read-only if asked.
fn bind(source: &Path, target: &Path, read_only: bool) -> Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(source), target, None::<&str>, flags, None::<&str>).map_err(|e| {
        Error::sys(
            format!("bind {} on {}", source.display(), target.display()),
            e,
        )
    })?;
    if read_only {
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, target, None::<&str>, ro, None::<&str>)
            .map_err(|e| Error::sys(format!("remount {} read-only", target.display()), e))?;
    }
    Ok(())
}

/// Mounts a fresh file system of type `fstype` on `target`.
fn mount_fs(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(Some(source), target, Some(fstype), flags, data)
        .map_err(|e| Error::sys(format!("mount {fstype} on {}", target.display()), e))
}

/// An I/O failure on `path`, as a session error.
fn io_err(path: &Path, e: std::io::Error) -> Error {
    let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0));
    Error::sys(path.display().to_string(), errno)
}
