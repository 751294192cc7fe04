//! Sessions: time from start to a shell prompt, time to stop, and the
//! memory an idle session holds. Two kinds: a `LinuxSession` on a directory
//! of the host's /usr and /etc, and a `FossilSession` whose root is a
//! minimal tree (`colony_ns::session::testroot`) already archived in a
//! local `ArenaStore`, opened as a fresh `Fossil` and mounted with FUSE at
//! each start. Needs root (and /dev/fuse for the fossil kind); prints why
//! it skips otherwise.
//!
//! Before criterion runs, it prints the figures of 20 starts (median and
//! worst), 20 stops, and the memory of idle sessions.

use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_ns::session::{
    Bind, FossilConfig, FossilSession, LinuxConfig, LinuxSession, PtyMaster, PtyProcess, Root,
    Session, SessionSpec, WindowSize, testroot,
};
use colony_venti::{ArenaConfig, ArenaStore, BlockStore, Score};
use criterion::Criterion;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::runtime::Runtime;

/// A root tree of the host's /usr and /etc (bound read-only inside).
fn spec(dir: &Path) -> SessionSpec {
    for d in ["usr", "etc", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    for (link, to) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        let _ = std::os::unix::fs::symlink(to, dir.join(link));
    }
    let mut spec = SessionSpec::new("bench", Root::Dir(dir.to_owned()));
    spec.binds = ["/usr", "/etc"]
        .into_iter()
        .map(|p| Bind {
            source: PathBuf::from(p),
            target: PathBuf::from(p),
            read_only: true,
        })
        .collect();
    spec.limits.pids = Some(256);
    spec
}

fn config() -> LinuxConfig {
    LinuxConfig::new(env!("CARGO_BIN_EXE_bench-session-helper"))
}

/// The minimal tree archived in an ArenaStore under `dir`: each start
/// opens a fresh Fossil of `score` from it.
struct FossilBench {
    store: Arc<dyn BlockStore>,
    score: Score,
    mounts: PathBuf,
}

impl FossilBench {
    fn new(dir: &Path) -> FossilBench {
        let config = ArenaConfig {
            arena_size: 64 << 20,
            ..ArenaConfig::default()
        };
        let store = ArenaStore::open(dir.join("venti"), config).unwrap();
        let score = testroot::snapshot(&store, testroot::PROGRAMS).unwrap();
        store.sync().unwrap();
        // Sessions mount only under a directory that is ours alone.
        let mounts = dir.join("mnt");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&mounts)
            .unwrap();
        FossilBench {
            store: Arc::new(store),
            score,
            mounts,
        }
    }

    fn config(&self, i: usize) -> FossilConfig {
        let fossil = Fossil::open(self.store.clone(), self.score, FossilOptions::default());
        FossilConfig {
            linux: config(),
            fossil: Arc::new(fossil.unwrap()),
            mountpoint: self.mounts.join(i.to_string()),
        }
    }

    fn spec(&self) -> SessionSpec {
        let mut spec = SessionSpec::new("bench", Root::Dir(PathBuf::from("/")));
        spec.limits.pids = Some(256);
        spec
    }
}

/// Reads until the shell's prompt (`# ` for root).
async fn prompt(master: &mut PtyMaster) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.ends_with(b"# ") {
        let n = master.read(&mut buf).await.unwrap();
        assert!(n > 0, "shell gone: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Starts a session and its shell; returns both once the prompt shows.
async fn start_to_prompt<S: Session>(config: &S::Config, spec: &SessionSpec) -> (S, PtyProcess) {
    let s = S::start(config, spec).await.unwrap();
    let mut shell = s
        .shell(WindowSize { rows: 24, cols: 80 }, "xterm")
        .await
        .unwrap();
    prompt(&mut shell.master).await;
    (s, shell)
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// 20 starts to a prompt and 20 stops; prints median and worst of each.
fn start_stop_figures<S: Session>(
    rt: &Runtime,
    kind: &str,
    config: impl Fn(usize) -> S::Config,
    spec: &SessionSpec,
) {
    let mut starts = Vec::new();
    let mut stops = Vec::new();
    for i in 0..20 {
        let config = config(i);
        let t = Instant::now();
        let (mut s, _shell) = rt.block_on(start_to_prompt::<S>(&config, spec));
        starts.push(t.elapsed());
        let t = Instant::now();
        rt.block_on(s.stop()).unwrap();
        stops.push(t.elapsed());
    }
    starts.sort();
    stops.sort();
    eprintln!(
        "{kind} start to shell prompt, 20 starts: median {:.1} ms, worst {:.1} ms",
        ms(starts[10]),
        ms(starts[19])
    );
    eprintln!(
        "{kind} stop, 20 stops: median {:.1} ms, worst {:.1} ms",
        ms(stops[10]),
        ms(stops[19])
    );
}

fn linux_figures(rt: &Runtime, spec: &SessionSpec) {
    start_stop_figures::<LinuxSession>(rt, "dir session", |_| config(), spec);
    let mut s = rt.block_on(LinuxSession::start(&config(), spec)).unwrap();
    let helper = rss_kib(s.helper_pid().unwrap());
    let init = rss_kib(s.init_pid() as u32);
    eprintln!(
        "idle dir session RSS: helper {helper} KiB + init {init} KiB = {} KiB",
        helper + init
    );
    rt.block_on(s.stop()).unwrap();
}

/// Also counts what a fossil session costs the serving process: its RSS
/// grows by the FUSE threads' stacks and the Fossil's cache, measured over
/// ten idle sessions (each having run one shell that exited).
fn fossil_figures(rt: &Runtime, bench: &FossilBench) {
    let spec = bench.spec();
    start_stop_figures::<FossilSession>(rt, "fossil session", |i| bench.config(i), &spec);
    let before = rss_kib(std::process::id());
    let mut sessions = Vec::new();
    for i in 0..10 {
        let (s, mut shell) = rt.block_on(start_to_prompt::<FossilSession>(
            &bench.config(100 + i),
            &spec,
        ));
        rt.block_on(async {
            tokio::io::AsyncWriteExt::write_all(&mut shell.master, b"exit\n")
                .await
                .unwrap();
            shell.wait().await.unwrap()
        });
        sessions.push(s);
    }
    let ours = rss_kib(std::process::id()).saturating_sub(before) / 10;
    let linux = sessions[0].linux().unwrap();
    let helper = rss_kib(linux.helper_pid().unwrap());
    let init = rss_kib(linux.init_pid() as u32);
    eprintln!(
        "idle fossil session: helper {helper} KiB + init {init} KiB + serving process {ours} KiB \
         = {} KiB",
        helper + init + ours
    );
    for mut s in sessions {
        rt.block_on(s.stop()).unwrap();
    }
}

fn main() {
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        eprintln!("session bench skipped: sessions need root");
        return;
    }
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    linux_figures(&rt, &spec);
    let fuse = Path::new("/dev/fuse").exists();
    let fossil_dir = tempfile::tempdir().unwrap();
    let bench = fuse.then(|| FossilBench::new(fossil_dir.path()));
    match &bench {
        Some(b) => fossil_figures(&rt, b),
        None => eprintln!("fossil session figures skipped: no /dev/fuse"),
    }
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("session");
    g.sample_size(20);
    g.bench_function("start_to_prompt_and_stop", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (mut s, _shell) = start_to_prompt::<LinuxSession>(&config(), &spec).await;
                s.stop().await.unwrap();
            })
        })
    });
    if let Some(bench) = &bench {
        let spec = bench.spec();
        g.bench_function("fossil_start_to_prompt_and_stop", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let cfg = bench.config(1000);
                    let (mut s, _shell) = start_to_prompt::<FossilSession>(&cfg, &spec).await;
                    s.stop().await.unwrap();
                })
            })
        });
    }
    g.finish();
    c.final_summary();
}
