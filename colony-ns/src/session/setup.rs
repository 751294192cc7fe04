//! Building the session's file tree: the host side ([`enter_tree`]) by the
//! start helper as host root, the inside ([`build_inside`]) by the
//! session's init (pid 1 of the new pid namespace) before it reaps.

use super::task::StartTask;
use crate::{Error, IdRange, Result};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{SFlag, fstat};
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{chdir, pivot_root, sethostname};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Host devices a session gets (bound from the host's /dev).
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Files of the session's /proc that would tell about the host (memory,
/// keys, timers, hardware): `/dev/null` is bound over each (as runc does).
const PROC_MASKED_FILES: [&str; 7] = [
    "kcore",
    "keys",
    "timer_list",
    "timer_stats",
    "latency_stats",
    "sched_debug",
    "kmsg",
];

/// Directories of /proc hidden under an empty read-only tmpfs.
const PROC_MASKED_DIRS: [&str; 3] = ["acpi", "scsi", "asound"];

/// Parts of /proc that change the kernel when written: read-only.
const PROC_READ_ONLY: [&str; 5] = ["sys", "sysrq-trigger", "irq", "bus", "fs"];

/// The host side, run as host root in the helper's own mount namespace
/// before any user namespace: binds the root (with `nodev`, so a device
/// node stored in a snapshot opens nothing) and the binds, builds /dev,
/// leaves the host's /proc and /sys visible under the tree (the kernel
/// lets a user namespace mount a fresh proc or sysfs only where one is
/// already fully visible; the session's own go over them), and pivots.
/// `ids` owns /dev and its mount point when the session has a user
/// namespace.
pub fn enter_tree(task: &StartTask) -> Result<()> {
    let root = &task.root;
    bind(root, root, false)?;
    add_flags(root, MsFlags::MS_NODEV)?;
    for b in &task.binds {
        let target = inside(root, &b.target);
        make_mount_point(&target, b.source.is_dir())?;
        bind(&b.source, &target, b.read_only)?;
    }
    // Fail fast, with a message, on a tree we could never start a shell in.
    check_program(root, &task.shell)?;

    let proc_dir = root.join("proc");
    make_mount_point(&proc_dir, true)?;
    bind_one(Path::new("/proc"), &proc_dir)?;
    let sys_dir = root.join("sys");
    make_mount_point(&sys_dir, true)?;
    bind_one(Path::new("/sys"), &sys_dir)?;
    add_flags(&sys_dir, MsFlags::MS_RDONLY)?;
    build_dev(&root.join("dev"), task.ids.as_ref())?;
    // Plan 9's /srv: where the session posts its services, private to it.
    make_mount_point(&root.join("srv"), true)?;
    pivot(root)
}

/// The inside, run by the session's init (root of its user namespace, in
/// its own mount, pid and uts namespaces): its /proc, with the host's
/// kernel interfaces masked or read-only; /sys (fresh and read-only when
/// the session has its own network, else the host's, read-only); the
/// terminals, shared memory and /srv; the hostname.
pub fn build_inside(task: &StartTask) -> Result<()> {
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_fs("proc", Path::new("/proc"), "proc", nosuid, None)?;
    mask_proc()?;
    // A fresh sysfs needs a network namespace of the session's own; the
    // host's read-only one stays otherwise.
    if task.private_network {
        mount_fs(
            "sysfs",
            Path::new("/sys"),
            "sysfs",
            nosuid | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    mask_dir(Path::new("/sys/firmware"))?;
    let pts_flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount_fs(
        "devpts",
        Path::new("/dev/pts"),
        "devpts",
        pts_flags,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    let tmp_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount_fs(
        "shm",
        Path::new("/dev/shm"),
        "tmpfs",
        tmp_flags,
        Some("mode=1777"),
    )?;
    mount_fs(
        "srv",
        Path::new("/srv"),
        "tmpfs",
        tmp_flags,
        Some("mode=1777"),
    )?;
    sethostname(&task.name).map_err(|e| Error::sys("sethostname", e))
}

/// Masks and write-protects the kernel's interfaces in the new /proc.
fn mask_proc() -> Result<()> {
    let proc_dir = Path::new("/proc");
    for name in PROC_MASKED_FILES {
        let path = proc_dir.join(name);
        if path.exists() {
            bind_one(Path::new("/dev/null"), &path)?;
        }
    }
    for name in PROC_MASKED_DIRS {
        mask_dir(&proc_dir.join(name))?;
    }
    for name in PROC_READ_ONLY {
        let path = proc_dir.join(name);
        if path.exists() {
            bind_one(&path, &path)?;
            add_flags(&path, MsFlags::MS_RDONLY)?;
        }
    }
    Ok(())
}

/// Hides a directory, if there, under an empty read-only tmpfs.
fn mask_dir(path: &Path) -> Result<()> {
    if !path.is_dir() {
        return Ok(());
    }
    mount_fs(
        "masked",
        path,
        "tmpfs",
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("size=0"),
    )
}

/// Makes `root` the process's root and detaches the host's tree.
fn pivot(root: &Path) -> Result<()> {
    chdir(root).map_err(|e| Error::sys(format!("chdir {}", root.display()), e))?;
    // pivot_root(".", ".") stacks the old root under the new one; detaching
    // "." then removes it without needing a put_old directory in the tree.
    pivot_root(".", ".").map_err(|e| Error::sys("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("detach old root", e))?;
    chdir("/").map_err(|e| Error::sys("chdir /", e))
}

/// A tmpfs /dev with the basic devices and mount points for the
/// terminals and shared memory, owned by the session's root.
fn build_dev(dev: &Path, ids: Option<&IdRange>) -> Result<()> {
    make_mount_point(dev, true)?;
    let owner = ids.map_or(0, |r| r.host_base);
    let options = format!("mode=755,size=64k,uid={owner},gid={owner}");
    mount_fs("dev", dev, "tmpfs", MsFlags::MS_NOSUID, Some(&options))?;
    for name in DEVICES {
        let target = dev.join(name);
        make_mount_point(&target, false)?;
        bind(&Path::new("/dev").join(name), &target, false)?;
    }
    for dir in ["pts", "shm"] {
        make_mount_point(&dev.join(dir), true)?;
    }
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(to, dev.join(link)).map_err(|e| Error::sys_io(dev.join(link).display(), &e))?;
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
    let dir = fs::File::open(root).map_err(|e| Error::sys_io(root.display(), &e))?;
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
    made.map_err(|e| Error::sys_io(path.display(), &e))
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
        add_flags(target, MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

/// Bind-mounts `source` alone (no mounts under it) on `target`.
fn bind_one(source: &Path, target: &Path) -> Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        Error::sys(
            format!("bind {} on {}", source.display(), target.display()),
            e,
        )
    })
}

/// Adds `flags` (read-only, nodev, ...) to the bind mount at `target`,
/// keeping those it has: a bind remount sets them all at once.
fn add_flags(target: &Path, flags: MsFlags) -> Result<()> {
    let have = statvfs(target)
        .map_err(|e| Error::sys(format!("statvfs {}", target.display()), e))?
        .flags();
    let kept = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(st, _)| have.contains(*st))
    .fold(flags, |acc, (_, ms)| acc | ms);
    let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | kept;
    mount(None::<&str>, target, None::<&str>, remount, None::<&str>)
        .map_err(|e| Error::sys(format!("remount {} {flags:?}", target.display()), e))
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
