//! Sessions rooted in a live fossil mounted with FUSE, on the real thing:
//! a minimal root tree (testroot) archived into a block store, started,
//! written to, saved, restarted from the saved score and stopped. Needs
//! root and /dev/fuse (skips with a message elsewhere; fails under CI).

mod support;

use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_ns::Error;
use colony_ns::session::{
    ExitStatus, FossilConfig, FossilSession, LinuxConfig, Session, SessionSpec, testroot,
};
use colony_venti::{BlockStore, MemStore, Score};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use support::{config, fuse_sessions_possible, sh};

/// The minimal tree, built once per test binary.
fn tree() -> &'static Path {
    static TREE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TREE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        testroot::build(dir.path(), testroot::PROGRAMS).unwrap();
        dir
    })
    .path()
}

/// A store holding the minimal tree, and its snapshot's score.
fn snapshot() -> (Arc<dyn BlockStore>, Score) {
    let store: Arc<dyn BlockStore> = Arc::new(MemStore::new());
    let score = testroot::import(&*store, tree()).unwrap();
    (store, score)
}

fn open(store: &Arc<dyn BlockStore>, score: Score) -> Arc<Fossil> {
    Arc::new(Fossil::open(store.clone(), score, FossilOptions::default()).unwrap())
}

/// A config mounting `fossil` at a fresh directory under `scratch`.
fn fossil_config(fossil: Arc<Fossil>, scratch: &Path, name: &str) -> FossilConfig {
    FossilConfig {
        linux: config(),
        fossil,
        mountpoint: scratch.join(name),
    }
}

async fn start(fossil: Arc<Fossil>, scratch: &Path, name: &str) -> FossilSession {
    let cfg = fossil_config(fossil, scratch, name);
    FossilSession::start(&cfg, &SessionSpec::new(name, root_unused()))
        .await
        .unwrap()
}

/// `spec.root` is replaced by the fossil; any value will do.
fn root_unused() -> colony_ns::session::Root {
    colony_ns::session::Root::Dir(PathBuf::from("/nonexistent"))
}

/// The contents of the file at `path` (from `/`) in a fossil.
fn fossil_file(fossil: &Fossil, path: &str) -> Option<Vec<u8>> {
    let mut node = fossil.root();
    for name in path.split('/').filter(|n| !n.is_empty()) {
        node = fossil.lookup(node, name.as_bytes()).ok()?.qid.path;
    }
    let len = fossil.stat(node).ok()?.length;
    Some(fossil.read(node, 0, len as u32).unwrap())
}

/// Lines of our /proc/self/mountinfo that mention `path`.
fn mounts_at(path: &Path) -> Vec<String> {
    support::mounts_under(path)
}

/// What most tests start from: a scratch directory for mount points and
/// a store holding the minimal tree's snapshot.
struct Fixture {
    scratch: tempfile::TempDir,
    store: Arc<dyn BlockStore>,
    score: Score,
}

impl Fixture {
    /// The fixture, or `None` where fossil sessions cannot run (see
    /// [`fuse_sessions_possible`]).
    fn new() -> Option<Fixture> {
        if !fuse_sessions_possible() {
            return None;
        }
        let scratch = support::private_dir();
        let (store, score) = snapshot();
        Some(Fixture {
            scratch,
            store,
            score,
        })
    }

    /// A config for a session of the snapshot on a fresh Fossil.
    fn config(&self, name: &str) -> FossilConfig {
        fossil_config(open(&self.store, self.score), self.scratch.path(), name)
    }

    /// A session of the snapshot on a fresh Fossil, started.
    async fn start(&self, name: &str) -> FossilSession {
        start(open(&self.store, self.score), self.scratch.path(), name).await
    }
}

#[tokio::test]
async fn writes_are_in_the_fossil_and_survive_save_and_restart() {
    let Some(f) = Fixture::new() else {
        return;
    };
    let (store, first) = (&f.store, f.score);
    let fossil = open(store, first);
    let mut s = start(fossil.clone(), f.scratch.path(), "keeper").await;
    let script = "echo kept > /root/note && mkdir -p /home/glenda/lib && \
                  seq 1 20000 > /home/glenda/lib/big && ln -s note /root/link && rm /bin/true";
    let (status, _, err) = sh(&s, script).await;
    assert!(status.success(), "{err}");
    // In the fossil already, before any save.
    assert_eq!(fossil_file(&fossil, "root/note").unwrap(), b"kept\n");
    let saved = s.save().await.unwrap();
    assert_ne!(saved, first);
    assert_eq!(s.fossil().score(), Some(saved));
    s.stop().await.unwrap();

    // A new session from the saved score, on a fresh Fossil.
    let mut again = start(open(store, saved), f.scratch.path(), "keeper2").await;
    let (status, out, err) = sh(
        &again,
        "cat /root/link; wc -l < /home/glenda/lib/big; test -e /bin/true || echo gone",
    )
    .await;
    assert!(status.success(), "{err}");
    assert_eq!(out, "kept\n20000\ngone\n");
    again.stop().await.unwrap();

    // The first snapshot is unchanged.
    let mut old = start(open(store, first), f.scratch.path(), "keeper3").await;
    let (_, out, _) = sh(&old, "ls /root; test -e /bin/true && echo here").await;
    assert_eq!(out, "here\n");
    old.stop().await.unwrap();
}

#[tokio::test]
async fn save_captures_pages_written_through_a_shared_mapping() {
    use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
    let Some(f) = Fixture::new() else {
        return;
    };
    let mut s = f.start("mapper").await;
    let (status, _, err) = sh(&s, "seq 1 2000 > /root/mapped").await;
    assert!(status.success(), "{err}");
    // Dirty the file's pages through a shared mapping of the host's mount
    // and leave them to the kernel: only save's syncfs writes them back.
    let path = s.mountpoint().join("root/mapped");
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let marker = b"MAPPED-BYTES";
    let len_nz = std::num::NonZeroUsize::new(len).unwrap();
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    // SAFETY: a fresh shared mapping of a file we hold open, used only here.
    let addr = unsafe { mmap(None, len_nz, prot, MapFlags::MAP_SHARED, &file, 0) }.unwrap();
    // SAFETY: the mapping is `len` bytes long and writable.
    unsafe { std::ptr::copy_nonoverlapping(marker.as_ptr(), addr.as_ptr().cast(), marker.len()) };
    // The mapping stays until after the save: unmapping (or closing) would
    // write the pages back by itself.
    let saved = s.save().await.unwrap();
    // SAFETY: unmapping what we mapped, no longer used.
    unsafe { munmap(addr, len) }.unwrap();
    drop(file);
    s.stop().await.unwrap();
    let reopened = open(&f.store, saved);
    let data = fossil_file(&reopened, "root/mapped").unwrap();
    assert!(data.starts_with(marker), "{:?}", &data[..20]);
    assert_eq!(data.len(), len);
}

#[tokio::test]
async fn two_sessions_of_one_snapshot_do_not_see_each_others_writes() {
    let Some(f) = Fixture::new() else {
        return;
    };
    let mut a = f.start("twin-a").await;
    let mut b = f.start("twin-b").await;
    let (status, _, err) = sh(&a, "echo a > /tmp/mine && rm /bin/ls").await;
    assert!(status.success(), "{err}");
    let (status, _, err) = sh(&b, "echo b > /tmp/mine").await;
    assert!(status.success(), "{err}");
    let (_, out, _) = sh(&a, "cat /tmp/mine").await;
    assert_eq!(out, "a\n");
    let (_, out, _) = sh(&b, "cat /tmp/mine; ls /bin/ls").await;
    assert_eq!(out, "b\n/bin/ls\n");
    let (sa, sb) = (a.save().await.unwrap(), b.save().await.unwrap());
    assert_ne!(sa, sb);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn ps_hostname_and_walls() {
    let Some(f) = Fixture::new() else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "host only").unwrap();
    let mut s = f.start("walled-env").await;

    let (status, out, err) = sh(&s, "ps -e -o pid=,comm=").await;
    assert!(status.success(), "{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(lines.iter().any(|l| l.starts_with("1 ")), "{out}");
    assert!(lines.iter().any(|l| l.ends_with(" ps")), "{out}");
    // init, the shell and ps: nothing of the host (not even its FUSE server).
    assert!(lines.len() <= 3, "host processes visible: {out}");

    let (_, out, _) = sh(&s, "hostname").await;
    assert_eq!(out, "walled-env\n");

    let probe = outside.path().join("secret");
    let (status, _, _) = sh(&s, &format!("cat {}", probe.display())).await;
    assert_eq!(status, ExitStatus::Code(1), "host file reachable");
    let (status, _, _) = sh(&s, &format!("ls {}", f.scratch.path().display())).await;
    assert_eq!(status, ExitStatus::Code(2), "host mount point reachable");
    // `/` is the snapshot: exactly the tree's own top-level names.
    let mut expected: Vec<String> = std::fs::read_dir(tree())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    expected.sort();
    let (_, out, _) = sh(&s, "ls /").await;
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn stop_leaves_no_mount_cgroup_helper_or_mountpoint() {
    let Some(f) = Fixture::new() else {
        return;
    };
    let cfg = f.config("stopped");
    let mut spec = SessionSpec::new("stopped", root_unused());
    spec.limits.pids = Some(64);
    spec.limits.memory_bytes = Some(256 << 20);
    let mut s = FossilSession::start(&cfg, &spec).await.unwrap();
    let mountpoint = cfg.mountpoint.canonicalize().unwrap();
    assert_eq!(mounts_at(&mountpoint).len(), 1, "mounted once on the host");
    let linux = s.linux().unwrap();
    let (init, helper) = (linux.init_pid(), linux.helper_pid().unwrap());
    let groups: Vec<_> = linux.cgroups().iter().map(|g| g.dir.clone()).collect();
    assert!(!groups.is_empty() && groups.iter().all(|g| g.is_dir()));
    // A command holding files open in the mount while we stop.
    let mut busy = s
        .run(&colony_ns::session::CommandSpec::new([
            "sh",
            "-c",
            "exec 3</bin/dash; cd /tmp; sleep 1000",
        ]))
        .await
        .unwrap();
    while s.processes().unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.stop().await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), busy.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExitStatus::Signal(9));
    assert!(mounts_at(&mountpoint).is_empty(), "mount left behind");
    assert!(!mountpoint.exists(), "mount point left behind");
    for pid in [init, helper as i32] {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} survived"
        );
    }
    for g in &groups {
        assert!(!g.exists(), "{} left behind", g.display());
    }
    assert!(matches!(s.save().await, Err(Error::Stopped)));
    assert!(matches!(
        s.run(&colony_ns::session::CommandSpec::new(["true"])).await,
        Err(Error::Stopped)
    ));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn dropping_a_running_session_unmounts_it() {
    let Some(f) = Fixture::new() else {
        return;
    };
    let s = f.start("dropped").await;
    let mountpoint = s.mountpoint().canonicalize().unwrap();
    let init = s.linux().unwrap().init_pid();
    drop(s);
    assert!(mounts_at(&mountpoint).is_empty(), "mount left behind");
    assert!(!mountpoint.exists(), "mount point left behind");
    support::assert_init_dies(init);
}

#[tokio::test]
async fn a_snapshot_without_a_shell_is_refused_at_start() {
    if !fuse_sessions_possible() {
        return;
    }
    let scratch = support::private_dir();
    let bare = tempfile::tempdir().unwrap();
    for d in ["etc", "tmp", "bin"] {
        std::fs::create_dir(bare.path().join(d)).unwrap();
    }
    std::fs::write(bare.path().join("etc/motd"), "no shell here\n").unwrap();
    let store: Arc<dyn BlockStore> = Arc::new(MemStore::new());
    let score = testroot::import(&*store, bare.path()).unwrap();
    let cfg = fossil_config(open(&store, score), scratch.path(), "shell-less");
    let t = std::time::Instant::now();
    let err = FossilSession::start(&cfg, &SessionSpec::new("shell-less", root_unused()))
        .await
        .err()
        .expect("started without a shell");
    support::assert_refused_for_no_shell(t, &err);
    assert!(mounts_at(scratch.path()).is_empty(), "mount left behind");
    assert!(!cfg.mountpoint.exists(), "mount point left behind");
}

#[tokio::test]
async fn the_helper_takes_its_task_after_helper_args() {
    let Some(f) = Fixture::new() else {
        return;
    };
    let mut cfg = f.config("args");
    cfg.linux = LinuxConfig {
        helper_args: vec!["session-helper".into(), "--quiet".into()],
        ..config()
    };
    let mut s = FossilSession::start(&cfg, &SessionSpec::new("args", root_unused()))
        .await
        .unwrap();
    let (status, out, _) = sh(&s, "echo in").await;
    assert!(status.success());
    assert_eq!(out, "in\n");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn an_interactive_shell_works_in_a_fossil_root() {
    let Some(f) = Fixture::new() else {
        return;
    };
    let mut s = f.start("tty-env").await;
    let mut p = s
        .shell(
            colony_ns::session::WindowSize {
                rows: 30,
                cols: 100,
            },
            "vt100",
        )
        .await
        .unwrap();
    support::type_line(&mut p.master, "stty size; echo TERM=$TERM").await;
    let seen = support::expect(&mut p.master, "TERM=vt100").await;
    assert!(seen.contains("30 100\r\n"), "{seen}");
    support::type_line(&mut p.master, "echo typed > /root/typed; cat /root/typed").await;
    support::expect(&mut p.master, "typed\r\n").await;
    support::type_line(&mut p.master, "exit 4").await;
    let status = tokio::time::timeout(Duration::from_secs(10), p.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExitStatus::Code(4));
    assert_eq!(fossil_file(s.fossil(), "root/typed").unwrap(), b"typed\n");
    s.stop().await.unwrap();
}

/// statfs inside the environment (what `df` shows) is its live Fossil's
/// local store: the limit as the size, what it holds as used, and as
/// available what writes may take (cached copies make way).
#[tokio::test]
async fn statfs_inside_is_the_local_store() {
    let Some(f) = Fixture::new() else {
        return;
    };
    let fossil = open(&f.store, f.score);
    let limit = fossil.space().limit;
    let mut s = start(fossil.clone(), f.scratch.path(), "roomy").await;
    let (status, out, err) = sh(&s, "stat -f -c '%S %b %f %a' /").await;
    assert!(status.success(), "{err}");
    let v: Vec<u64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert_eq!(v[..2], [4096, limit / 4096], "{out}");
    // Free and available as they were when stat ran: the limit less what
    // the session's start had read (cached) and written, and no more since.
    let space = fossil.space();
    assert!(v[2] >= (limit - space.used) / 4096 - 1, "{out} {space:?}");
    assert!(v[2] < limit / 4096, "nothing cached? {out}");
    assert!(v[3] >= space.available() / 4096 - 1, "{out} {space:?}");
    assert!(v[3] >= v[2], "{out}");
    s.stop().await.unwrap();
}
