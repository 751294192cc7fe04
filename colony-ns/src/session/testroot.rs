//! A minimal Linux root tree for tests and benchmarks: dash as `/bin/sh`, a
//! few coreutils, `ps` and `hostname`, and exactly the shared libraries
//! `ldd` names for them, copied from the host.
//!
//! Used by colony-ns's own session tests and by the tests of the crates
//! above it (grid, cpu, CLI): [`build`] writes the tree into a directory,
//! [`import`] archives such a directory into a block store as a vac
//! snapshot (the tree's contents become `/`), and [`snapshot`] does both in
//! a scratch directory. Needs the programs and `ldd` on the host (Debian
//! and Ubuntu: `dash`, `coreutils`, `procps`, `hostname`, `libc-bin`).

use crate::{Error, Result};
use colony_fossil::vac::{self, Top, VacOptions};
use colony_venti::{BlockStore, Score};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// The programs of the default tree (besides `dash`, which is always
/// there as `/bin/sh`): what the tests of the session and grid crates run.
pub const PROGRAMS: &[&str] = &[
    "cat", "cp", "cut", "date", "env", "false", "head", "hostname", "id", "ln", "ls", "mkdir",
    "mv", "ps", "rm", "seq", "sleep", "sort", "stat", "stty", "tail", "touch", "tr", "true", "wc",
];

/// Where the host's programs are looked up.
const HOST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Empty directories every tree gets (the session mounts `/proc`, `/dev`
/// and `/srv` over theirs).
const DIRS: &[&str] = &["etc", "tmp", "root", "home", "proc", "dev", "srv", "sys"];

/// Whether sessions can run here: root, pid namespaces, and with `fuse`
/// also `/dev/fuse`. Elsewhere it says why on stderr and returns false,
/// except under CI (`CI` set), where it panics so that tests cannot skip.
pub fn sessions_possible(fuse: bool) -> bool {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("not running as root")
    } else if !Path::new("/proc/self/ns/pid").exists() {
        Some("no namespace support in /proc")
    } else if fuse && !Path::new("/dev/fuse").exists() {
        Some("no /dev/fuse")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => panic!("sessions needed under CI: {why}"),
        Some(why) => {
            eprintln!("skipping: {why}");
            false
        }
    }
}

/// Builds a root tree in `dir` (created if missing): `/bin/dash`, `/bin/sh`
/// → `dash`, each of `programs` in `/bin`, the libraries `ldd` lists for
/// them at the paths it lists (the dynamic loader included), the empty
/// folders a session needs, and an `/etc/passwd` and `/etc/group` naming
/// root. Fails naming the program that is not on the host.
pub fn build(dir: &Path, programs: &[&str]) -> Result<()> {
    mkdir(&dir.join("bin"))?;
    for d in DIRS {
        mkdir(&dir.join(d))?;
    }
    set_mode(&dir.join("tmp"), 0o1777)?;
    let mut libraries = Vec::new();
    for name in std::iter::once(&"dash").chain(programs) {
        let host = find_program(name)?;
        copy(&host, &dir.join("bin").join(name))?;
        libraries.extend(shared_libraries(&host)?);
    }
    libraries.sort();
    libraries.dedup();
    for lib in libraries {
        let rel = lib.strip_prefix("/").unwrap_or(&lib);
        copy(&lib, &dir.join(rel))?;
    }
    let sh = dir.join("bin/sh");
    if std::fs::symlink_metadata(&sh).is_err() {
        symlink("dash", &sh).map_err(|e| io(&sh, e))?;
    }
    write(&dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    write(&dir.join("etc/group"), "root:x:0:\n")
}

/// Archives the tree at `dir` into `store` with the tree's contents as the
/// archive's `/`, and returns the snapshot's root score.
pub fn import(store: &dyn BlockStore, dir: &Path) -> Result<Score> {
    let options = VacOptions {
        top: Top::Contents,
        ..VacOptions::default()
    };
    let imported = vac::import_path(store, dir, &options, &mut |_| {})
        .map_err(|e| Error::TestRoot(format!("import {}: {e}", dir.display())))?;
    Ok(imported.score)
}

/// [`build`]s a tree with `programs` in a scratch directory, [`import`]s
/// it into `store` and removes the directory; returns the snapshot.
pub fn snapshot(store: &dyn BlockStore, programs: &[&str]) -> Result<Score> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let scratch = std::env::temp_dir().join(format!(
        "colony-testroot-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let made = build(&scratch, programs).and_then(|()| import(store, &scratch));
    let _ = std::fs::remove_dir_all(&scratch);
    made
}

/// The host's file for `name`, found in [`HOST_PATH`], symlinks resolved.
fn find_program(name: &str) -> Result<PathBuf> {
    HOST_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
        .ok_or_else(|| Error::TestRoot(format!("{name} is not installed on this host")))
}

/// The absolute paths `ldd` prints for `program` (none for a static one).
fn shared_libraries(program: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| Error::TestRoot(format!("run ldd: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if text.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::TestRoot(format!(
            "ldd {}: {}",
            program.display(),
            err.trim()
        )));
    }
    // "libc.so.6 => /lib/.../libc.so.6 (0x…)", or "/lib64/ld-linux… (0x…)";
    // the vDSO has no file.
    let mut found = Vec::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            found.push(PathBuf::from(p));
        }
    }
    Ok(found)
}

/// Copies `from` (its contents, symlinks followed) to `to`, with its mode.
fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        mkdir(parent)?;
    }
    std::fs::copy(from, to).map_err(|e| io(from, e))?;
    Ok(())
}

fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| io(path, e))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io(path, e))
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::TestRoot(format!("{}: {e}", path.display()))
}
