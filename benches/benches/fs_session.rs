//! A file-heavy shell session (issue 13 item 11), run side by side in a
//! FUSE mount of a live Fossil, the way an environment has its root, and
//! in an overlayfs mount whose layers are on tmpfs (the container norm).
//! Prints the seconds of each step on both, and the ratios.
//!
//! The session, on a deterministic tree of 8,000 files and about 250 MB
//! (`colony_benches::file_tree`) archived in a tar file on tmpfs: `tar x`,
//! `find` + `cat` of every file, `git init`/`add`/`commit`, `cp -a` of the
//! tree, `stat` of every file of both copies, `python3 -m compileall`,
//! 2,000 small files written by the shell, `rm -rf` of everything, `sync`.
//! Each step is one `sh -c` whose wall time is measured.
//!
//! The Fossil is what `spawn` gives an environment: a tree over an
//! ArenaStore on disk (in a temporary directory) with the default 100 MiB
//! local store in memory, served by `colony_ns::fuse::mount` with the
//! options a session mounts with. Each run has a fresh Fossil and a fresh
//! overlay. Everything is mounted in a private mount namespace of this
//! process, so nothing leaks into the host's. Needs root and /dev/fuse,
//! and git, tar and python3; says so and measures nothing otherwise.
//!
//! `FS_SESSION_RUNS` (default 3) sets the number of runs; the medians of
//! each step are printed. `FS_SESSION_FILES` (default 8000) sets the size
//! of the tree. `FS_SESSION_ONLY=colony` (or `overlay`, `disk`) runs one side
//! only, to profile it. `FS_SESSION_THREADS` sets the number of threads
//! serving FUSE requests (default: what an environment has);
//! `FS_SESSION_WRITEBACK=0` turns the kernel's write-back cache off (on
//! by default, as in an environment). `FS_SESSION_COUNT=1` also prints,
//! for each run, the FUSE requests each step sent, per opcode, as the
//! kernel counts them (its `fuse:fuse_request_send` tracepoint:
//! `fuse_requests.rs`). `FS_SESSION_DISK=1` also runs the session in a
//! plain directory of the host's file system on disk (`disk`), beside
//! the two. `FS_SESSION_UPPER_DISK=1` runs colony's side in an overlayfs
//! with the FUSE mount as its lower layer and a directory on disk as its
//! upper: a root whose writes do not cross FUSE. `FS_SESSION_FS=memfs` serves the same mount from
//! a MemFs (the in-memory tree of tests and embedding) instead of a
//! Fossil: its server does next to nothing per request, so what remains
//! of the gap to overlayfs is what FUSE itself costs on this machine.
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_benches::file_tree::write_tree;
use colony_benches::fuse_requests::{Counts, RequestCounter};
use colony_fossil::{Fossil, FossilOptions};
use colony_ns::fuse::{MountOptions, mount};
use colony_ns::{FileSystem, FossilFs, MemFs};
use colony_venti::{ArenaConfig, ArenaStore};
use nix::mount::{MntFlags, MsFlags, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{UsageWho, getrusage};

/// The session's steps: a name and a script run by `sh -ec` in the
/// mount's root. `$TREE_TAR` is the archived tree.
const STEPS: [(&str, &str); 9] = [
    ("tar x", r#"mkdir tree && tar xf "$TREE_TAR" -C tree"#),
    ("find+cat", "find tree -type f -exec cat {} + >/dev/null"),
    (
        "git add+commit",
        // No automatic gc: it would pack in the background, racing later steps.
        "cd tree && git init -q && git add -A && git -c gc.auto=0 commit -qm tree",
    ),
    ("cp -a", "cp -a tree copy"),
    (
        "stat all",
        "find tree copy -print0 | xargs -0 stat >/dev/null",
    ),
    ("compileall", "python3 -m compileall -q tree >/dev/null"),
    (
        "2000 writes",
        r#"mkdir small && i=0 && while [ $i -lt 2000 ]; do echo "$i" >small/f$i; i=$((i+1)); done"#,
    ),
    ("rm -rf", "rm -rf tree copy small"),
    ("sync", "sync"),
];

/// Where the session runs.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Colony,
    Overlay,
    Disk,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Colony => "colony",
            Target::Overlay => "overlay",
            Target::Disk => "disk",
        }
    }
}

/// The bench's scratch space: a directory on disk, and a tmpfs in it
/// holding the tree's tar file, git's home and the overlays.
struct Scratch {
    dir: tempfile::TempDir,
    tmpfs: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let tmpfs = dir.path().join("tmpfs");
        fs::create_dir(&tmpfs).unwrap();
        mount_tmpfs(&tmpfs, "size=8g");
        for d in ["home", "layers"] {
            fs::create_dir(tmpfs.join(d)).unwrap();
        }
        Scratch { dir, tmpfs }
    }

    fn tar(&self) -> PathBuf {
        self.tmpfs.join("tree.tar")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = umount2(&self.tmpfs, MntFlags::MNT_DETACH);
    }
}

fn mount_tmpfs(at: &Path, options: &str) {
    nix::mount::mount(
        Some("colony-bench"),
        at,
        Some("tmpfs"),
        MsFlags::empty(),
        Some(options),
    )
    .expect("mount tmpfs");
}

/// Seconds of each step of the session run in `root`, and with a
/// counter, the requests each step sent.
fn session(
    scratch: &Scratch,
    root: &Path,
    counter: Option<&RequestCounter>,
) -> (Vec<Duration>, Vec<Counts>) {
    let mut counts = Vec::new();
    // What earlier runs left dirty on the host's disks is not this run's.
    nix::unistd::sync();
    let times = STEPS
        .iter()
        .map(|(name, script)| {
            let start = Instant::now();
            let status = Command::new("sh")
                .arg("-ec")
                .arg(script)
                .current_dir(root)
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", scratch.tmpfs.join("home"))
                .env("TREE_TAR", scratch.tar())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_AUTHOR_NAME", "bench")
                .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
                .env("GIT_COMMITTER_NAME", "bench")
                .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
                .status()
                .unwrap();
            assert!(status.success(), "step {name} failed in {}", root.display());
            let took = start.elapsed();
            if let Some(c) = counter {
                counts.push(c.take().expect("count FUSE requests"));
            }
            took
        })
        .collect();
    (times, counts)
}

/// Prints requests per step and opcode, the most frequent opcodes first.
fn print_counts(counts: &[Counts]) {
    let mut totals = Counts::new();
    for (op, n) in counts.iter().flatten() {
        *totals.entry(op.clone()).or_default() += n;
    }
    let mut ops: Vec<(&String, &u64)> = totals.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1));
    let mut header = format!("{:<16}", "requests");
    for (op, _) in &ops {
        header += &format!("{:>9.8}", op);
    }
    eprintln!("{header}{:>9}", "total");
    let names = STEPS.iter().map(|(name, _)| *name).chain(["total"]);
    for (name, step) in names.zip(counts.iter().chain([&totals])) {
        let mut line = format!("{name:<16}");
        for (op, _) in &ops {
            line += &format!("{:>9}", step.get(*op).unwrap_or(&0));
        }
        eprintln!("{line}{:>9}", step.values().sum::<u64>());
    }
}

/// The session in a fresh Fossil mounted as a session mounts its root.
fn colony(scratch: &Scratch, run: usize) -> Vec<Duration> {
    let dir = scratch.dir.path().join(format!("colony{run}"));
    let at = dir.join("root");
    fs::create_dir_all(&at).unwrap();
    let fs: Arc<dyn FileSystem> = if std::env::var("FS_SESSION_FS").is_ok_and(|f| f == "memfs") {
        Arc::new(MemFs::with_root("root", "root", 0o755))
    } else {
        let store = ArenaStore::open(dir.join("venti"), ArenaConfig::default()).unwrap();
        let options = FossilOptions {
            owner: "root".into(),
            ..FossilOptions::default()
        };
        let fossil = Fossil::create_empty(Arc::new(store), options).unwrap();
        Arc::new(FossilFs::new(Arc::new(fossil)))
    };
    let sole_writer = MountOptions::sole_writer();
    let options = MountOptions {
        fs_name: "colony:bench".into(),
        allow_other: true,
        threads: env_number("FS_SESSION_THREADS", sole_writer.threads),
        writeback_cache: env_number("FS_SESSION_WRITEBACK", 1) != 0,
        ..sole_writer
    };
    let handle = mount(fs, &at, &options).unwrap();
    let counter = (env_number("FS_SESSION_COUNT", 0) != 0).then(|| {
        let dev = fs::metadata(handle.mountpoint()).unwrap().dev();
        RequestCounter::start(dev).expect("count FUSE requests")
    });
    // The mount as the lower layer of an overlayfs whose upper layer is on
    // disk: a root whose writes do not cross FUSE.
    let under_overlay = env_number("FS_SESSION_UPPER_DISK", 0) != 0;
    let root = if under_overlay {
        let merged = dir.join("merged");
        mount_overlay(
            handle.mountpoint(),
            &dir.join("upper"),
            &dir.join("work"),
            &merged,
        );
        merged
    } else {
        handle.mountpoint().to_path_buf()
    };
    let before = serving_cpu();
    let (times, counts) = session(scratch, &root, counter.as_ref());
    if under_overlay {
        umount2(&root, MntFlags::empty()).unwrap();
    }
    eprintln!(
        "run {run} colony: the serving process used {:.2} s of CPU",
        (serving_cpu() - before).as_secs_f64()
    );
    if counter.is_some() {
        print_counts(&counts);
    }
    handle.unmount().unwrap();
    fs::remove_dir_all(&dir).unwrap();
    times
}

/// CPU time (user and system) this process has used: while a session
/// runs, that of serving FUSE requests.
fn serving_cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let d = |t: nix::sys::time::TimeVal| {
        Duration::from_micros(t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64)
    };
    d(usage.user_time()) + d(usage.system_time())
}

/// The session in a fresh overlay of an empty lower layer, on tmpfs.
fn overlay(scratch: &Scratch, run: usize) -> Vec<Duration> {
    let dir = scratch.tmpfs.join("layers").join(run.to_string());
    let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|d| dir.join(d));
    fs::create_dir_all(&lower).unwrap();
    mount_overlay(&lower, &upper, &work, &merged);
    let (times, _) = session(scratch, &merged, None);
    umount2(&merged, MntFlags::empty()).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    times
}

/// The session in a fresh directory of the host's own file system (the
/// bench's scratch directory, on disk): what a program gets outside any
/// container.
fn on_disk(scratch: &Scratch, run: usize) -> Vec<Duration> {
    let dir = scratch.dir.path().join(format!("disk{run}"));
    fs::create_dir_all(&dir).unwrap();
    let (times, _) = session(scratch, &dir, None);
    fs::remove_dir_all(&dir).unwrap();
    times
}

/// Mounts an overlayfs of `lower` and `upper` (made here, with `work`
/// and `merged`) on `merged`.
fn mount_overlay(lower: &Path, upper: &Path, work: &Path, merged: &Path) {
    for d in [upper, work, merged] {
        fs::create_dir_all(d).unwrap();
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .expect("mount overlay");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Why this machine cannot run the bench, if it cannot.
fn missing() -> Option<String> {
    if !nix::unistd::geteuid().is_root() || !Path::new("/dev/fuse").exists() {
        return Some("needs root and /dev/fuse".into());
    }
    for program in ["git", "tar", "python3"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("needs {program}"));
        }
    }
    None
}

fn main() {
    if let Some(why) = missing() {
        eprintln!("fs_session bench skipped: {why}");
        return;
    }
    // Before any thread exists, so every mount below is in a namespace of
    // this process alone (unshare moves only the calling thread).
    unshare(CloneFlags::CLONE_NEWNS).expect("unshare a mount namespace");
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make mounts private");
    let runs = env_number("FS_SESSION_RUNS", 3).max(1);
    let files = env_number("FS_SESSION_FILES", 8000);
    let only = std::env::var("FS_SESSION_ONLY").ok();
    let disk = env_number("FS_SESSION_DISK", 0) != 0;
    let targets: Vec<Target> = [Target::Colony, Target::Overlay, Target::Disk]
        .into_iter()
        .filter(|t| match only.as_deref() {
            Some(o) => o == t.name(),
            None => *t != Target::Disk || disk,
        })
        .collect();

    let scratch = Scratch::new();
    let src = scratch.tmpfs.join("src");
    let size = write_tree(&src, files).unwrap();
    let tar = Command::new("tar")
        .arg("cf")
        .arg(scratch.tar())
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(tar.success());
    fs::remove_dir_all(&src).unwrap();
    eprintln!(
        "fs_session: {} files in {} directories, {:.1} MB; {runs} runs; \
         the machine may be shared (noisy)",
        size.files,
        size.dirs,
        size.bytes as f64 / 1e6
    );

    // times[target][step]: one figure per run.
    let mut times = vec![vec![Vec::new(); STEPS.len()]; targets.len()];
    for run in 0..runs {
        for (t, target) in targets.iter().enumerate() {
            let steps = match target {
                Target::Colony => colony(&scratch, run),
                Target::Overlay => overlay(&scratch, run),
                Target::Disk => on_disk(&scratch, run),
            };
            let total: Duration = steps.iter().sum();
            eprintln!("run {run} {}: {:.2} s", target.name(), total.as_secs_f64());
            for (s, d) in steps.into_iter().enumerate() {
                times[t][s].push(d);
            }
        }
    }

    let medians: Vec<Vec<f64>> = times
        .into_iter()
        .map(|steps| steps.into_iter().map(|v| median(v).as_secs_f64()).collect())
        .collect();
    let mut header = format!("{:<16}", "step (median s)");
    for t in &targets {
        header += &format!("{:>10}", t.name());
    }
    // colony / overlay, the issue's measure, when both ran.
    let pair = [Target::Colony, Target::Overlay].map(|p| targets.iter().position(|t| *t == p));
    if let [Some(_), Some(_)] = pair {
        header += &format!("{:>9}", "ratio");
    }
    println!("{header}");
    let row = |name: &str, figures: Vec<f64>| {
        let mut line = format!("{name:<16}");
        for f in &figures {
            line += &format!("{f:>10.2}");
        }
        if let [Some(c), Some(o)] = pair {
            line += &format!("{:>8.1}x", figures[c] / figures[o]);
        }
        println!("{line}");
    };
    for (s, (name, _)) in STEPS.iter().enumerate() {
        row(name, medians.iter().map(|m| m[s]).collect());
    }
    row("total", medians.iter().map(|m| m.iter().sum()).collect());
}
