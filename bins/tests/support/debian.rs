//! A real Debian root for the real-program suite: `debootstrap
//! --variant=minbase` of bookworm with the programs the suite runs, built
//! once into a cache directory that later runs (and other checkouts on the
//! machine) reuse.
//!
//! Building takes minutes and needs the Debian mirror, so it happens only
//! when [`BUILD_VAR`] is set (`.ci/run` sets it); without it the suite runs
//! on a cached root and otherwise skips, saying how to build one. A root
//! that cannot be built fails the suite under CI (env `CI` set) and skips
//! it elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Set (to anything) to let the suite build the root when it is not
/// cached.
pub const BUILD_VAR: &str = "COLONY_DEBIAN_SUITE";

/// Where built roots are kept, one directory per [`VERSION`].
pub const CACHE: &str = "/var/cache/colony-test-debian";

/// The cached root's name: change it whenever [`SUITE`], [`INCLUDE`] or
/// [`MIRROR`] change, so that a root built to the old recipe is not used.
pub const VERSION: &str = "bookworm-minbase-1";

/// The Debian release.
const SUITE: &str = "bookworm";

/// The mirror debootstrap fetches from.
const MIRROR: &str = "http://deb.debian.org/debian";

/// Packages beyond minbase: account tools and `su` (passwd, login),
/// `ping` (iputils-ping) and `setcap`/`getcap` (libcap2-bin), sqlite3,
/// git, a C compiler with the C library's headers, and `nc -lU` for a Unix
/// socket (netcat-openbsd).
const INCLUDE: &str =
    "passwd,login,iputils-ping,libcap2-bin,sqlite3,git,gcc,libc6-dev,netcat-openbsd";

/// How long debootstrap may take (it takes about 2 minutes here).
const DEADLINE: &str = "900";

/// The cached root, built first if [`BUILD_VAR`] allows; `None` (with a
/// message) when there is none to run on and that is allowed here.
pub fn root() -> Option<PathBuf> {
    let root = Path::new(CACHE).join(VERSION);
    // Only a finished build is renamed to this name.
    if root.is_dir() {
        return Some(root);
    }
    if std::env::var_os(BUILD_VAR).is_none() {
        eprintln!(
            "skipping: no Debian root cached at {}; set {BUILD_VAR}=1 to build one \
             (debootstrap, a few minutes, needs the Debian mirror)",
            root.display()
        );
        return None;
    }
    match build(&root) {
        Ok(()) => Some(root),
        Err(why) => {
            let why = format!("cannot build the Debian root {}: {why}", root.display());
            assert!(std::env::var_os("CI").is_none(), "under CI: {why}");
            eprintln!("skipping: {why}");
            None
        }
    }
}

/// Builds the root at `root` by debootstrap into a scratch directory
/// beside it, renamed into place when complete, so that a build that
/// fails or races another leaves no half root under the cached name.
fn build(root: &Path) -> Result<(), String> {
    let cache = root.parent().unwrap();
    std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    discard_abandoned_builds(cache);
    let scratch = cache.join(format!("{}{}", scratch_prefix(), std::process::id()));
    let started = Instant::now();
    eprintln!("building the Debian root {} (debootstrap)", root.display());
    // A mirror that stops answering must not hold CI until its end.
    let out = Command::new("timeout")
        .args([
            "--kill-after=30",
            DEADLINE,
            "debootstrap",
            "--variant=minbase",
        ])
        .args([&format!("--include={INCLUDE}"), SUITE])
        .arg(&scratch)
        .arg(MIRROR)
        .output()
        .map_err(|e| format!("running debootstrap: {e}"))?;
    let built = if out.status.success() {
        clean_package_cache(&scratch).map_err(|e| format!("finishing {}: {e}", scratch.display()))
    } else {
        let log = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        Err(format!(
            "debootstrap: {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    };
    let placed = built.and_then(|()| match std::fs::rename(&scratch, root) {
        Ok(()) => Ok(()),
        // Another test process finished first: use its root.
        Err(_) if root.is_dir() => Ok(()),
        Err(e) => Err(format!("placing {}: {e}", root.display())),
    });
    if scratch.exists() {
        discard(&scratch);
    }
    placed?;
    eprintln!(
        "built the Debian root in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Removes the downloaded packages (as `apt-get clean` does: a hundred
/// MB that every seed would import for nothing).
fn clean_package_cache(root: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root.join("var/cache/apt/archives"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// How a build's scratch directory is named, before the builder's pid.
fn scratch_prefix() -> String {
    format!("{VERSION}.building.")
}

/// Removes the scratch directories of builds whose process is gone (a
/// test killed half way): half a gigabyte each.
fn discard_abandoned_builds(cache: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(&scratch_prefix())
            && !Path::new("/proc").join(pid).exists()
        {
            discard(&entry.path());
        }
    }
}

/// Removes a scratch root, first detaching what debootstrap had mounted in
/// it (`/proc`, `/sys`) if it was killed before unmounting them, so that
/// the removal never reaches into the kernel's file systems.
fn discard(dir: &Path) {
    let mounts = || -> Vec<String> {
        super::grid::mounts_below(dir)
            .into_iter()
            .filter(|m| Path::new(m).starts_with(dir))
            .collect()
    };
    for mount in mounts().iter().rev() {
        let _ = Command::new("umount").args(["--lazy", mount]).status();
    }
    if mounts().is_empty() {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        eprintln!("leaving {}: mounts below it remain", dir.display());
    }
}
