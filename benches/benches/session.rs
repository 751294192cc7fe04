//! Sessions: time from start to a shell prompt, time to stop, and the
//! memory an idle session holds (helper + init). Needs root; prints why it
//! skips otherwise.
//!
//! Before criterion runs, it prints the figures of 20 cold starts (median
//! and worst) and the RSS of an idle session.

use colony_ns::session::{
    Bind, LinuxConfig, LinuxSession, PtyMaster, Root, Session, SessionSpec, WindowSize,
};
use criterion::Criterion;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
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
async fn start_to_prompt(spec: &SessionSpec) -> (LinuxSession, colony_ns::session::PtyProcess) {
    let s = LinuxSession::start(&config(), spec).await.unwrap();
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

fn figures(rt: &Runtime, spec: &SessionSpec) {
    let mut starts = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (mut s, _shell) = rt.block_on(start_to_prompt(spec));
        starts.push(t.elapsed());
        let t = Instant::now();
        rt.block_on(s.stop()).unwrap();
        stops.push(t.elapsed());
    }
    starts.sort();
    stops.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    eprintln!(
        "session start to shell prompt, 20 starts: median {:.1} ms, worst {:.1} ms",
        ms(starts[10]),
        ms(starts[19])
    );
    eprintln!(
        "session stop, 20 stops: median {:.1} ms, worst {:.1} ms",
        ms(stops[10]),
        ms(stops[19])
    );
    let mut s = rt.block_on(LinuxSession::start(&config(), spec)).unwrap();
    let helper = rss_kib(s.helper_pid().unwrap());
    let init = rss_kib(s.init_pid() as u32);
    eprintln!(
        "idle session RSS: helper {helper} KiB + init {init} KiB = {} KiB",
        helper + init
    );
    rt.block_on(s.stop()).unwrap();
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
    figures(&rt, &spec);
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("session");
    g.sample_size(20);
    g.bench_function("start_to_prompt_and_stop", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (mut s, _shell) = start_to_prompt(&spec).await;
                s.stop().await.unwrap();
            })
        })
    });
    g.finish();
    c.final_summary();
}
