//! Linux sessions on the real thing: namespaces, pivot_root, cgroups and
//! terminals. Needs root (skips with a message elsewhere; fails under CI).

mod support;

use colony_ns::Error;
use colony_ns::session::{
    CommandSpec, ExitStatus, Limits, LinuxSession, Root, Session, SessionSpec, WindowSize,
};
use std::time::Duration;
use support::{TestRoot, config, expect, mounts_under, sessions_possible, sh, type_line};

async fn start(spec: &SessionSpec) -> LinuxSession {
    LinuxSession::start(&config(), spec).await.unwrap()
}

#[tokio::test]
async fn ps_sees_only_the_sessions_processes() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let mut s = start(&root.spec("psenv")).await;
    let (status, out, err) = sh(&s, "ps -e -o pid=,comm=").await;
    assert!(status.success(), "{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    // init (pid 1), the shell and ps: nothing of the host.
    assert!(lines.iter().any(|l| l.starts_with("1 ")), "{out}");
    assert!(lines.iter().any(|l| l.ends_with(" ps")), "{out}");
    assert!(lines.len() <= 3, "host processes visible: {out}");
    let procs = s.processes().unwrap();
    assert_eq!(procs.len(), 1, "{procs:?}");
    assert_eq!(procs[0].pid, 1);
    assert_eq!(procs[0].host_pid, s.init_pid());
    s.stop().await.unwrap();
}

#[tokio::test]
async fn host_files_outside_the_root_are_unreachable() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "host only").unwrap();
    let mut s = start(&root.spec("walls")).await;
    let probe = outside.path().join("secret");
    let (status, _, _) = sh(&s, &format!("cat {}", probe.display())).await;
    assert_eq!(status, ExitStatus::Code(1));
    let (_, listing, _) = sh(&s, "ls / | sort | tr '\\n' ' '").await;
    assert_eq!(
        listing,
        "bin dev etc home lib lib64 proc root sbin srv sys tmp usr "
    );
    // The old root is detached, not merely hidden.
    let (_, mounts, _) = sh(&s, "cat /proc/self/mountinfo").await;
    let points: Vec<&str> = mounts.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    assert_eq!(points.iter().filter(|p| **p == "/").count(), 1, "{mounts}");
    let ours = ["/usr", "/etc", "/proc", "/sys", "/dev", "/srv"];
    for p in points.iter().filter(|p| **p != "/") {
        assert!(
            ours.iter().any(|o| p.starts_with(o)),
            "{p} mounted: {mounts}"
        );
    }
    let (status, _, _) = sh(&s, "touch /usr/x").await;
    assert_eq!(status, ExitStatus::Code(1), "/usr is read-only inside");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn hostname_is_the_environment_name() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let host = nix::unistd::gethostname().unwrap();
    let mut s = start(&root.spec("glenda-env")).await;
    let (_, out, _) = sh(&s, "hostname").await;
    assert_eq!(out.trim(), "glenda-env");
    assert_eq!(
        nix::unistd::gethostname().unwrap(),
        host,
        "host name unchanged"
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_private_network_has_only_loopback() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let mut spec = root.spec("netless");
    spec.network = colony_ns::session::Network::Loopback;
    let mut private = start(&spec).await;
    let mut shared = start(&root.spec("netful")).await;
    let interfaces = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '";
    let (_, out, _) = sh(&private, interfaces).await;
    assert_eq!(out, "lo ");
    let host = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .count()
        - 2;
    let (_, out, _) = sh(&shared, interfaces).await;
    assert_eq!(
        out.split_whitespace().count(),
        host,
        "network shared by default"
    );
    // Commands entering later join the same private network.
    let (_, out, _) = sh(&private, "cat /proc/net/dev | wc -l").await;
    assert_eq!(out.trim(), "3");
    private.stop().await.unwrap();
    shared.stop().await.unwrap();
}

#[tokio::test]
async fn files_written_inside_land_in_the_root() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let mut s = start(&root.spec("writer")).await;
    let (status, _, err) = sh(&s, "echo from inside > /home/note && mkdir /tmp/d").await;
    assert!(status.success(), "{err}");
    assert_eq!(
        std::fs::read_to_string(root.path().join("home/note")).unwrap(),
        "from inside\n"
    );
    assert!(root.path().join("tmp/d").is_dir());
    // /srv and /dev are the session's own, not the tree's.
    let (_, _, _) = sh(&s, "echo posted > /srv/svc").await;
    assert!(!root.path().join("srv/svc").exists());
    let (_, out, _) = sh(&s, "ls /dev | tr '\\n' ' '").await;
    for dev in [
        "full", "null", "ptmx", "pts", "random", "tty", "urandom", "zero",
    ] {
        assert!(out.split(' ').any(|d| d == dev), "{dev} missing from {out}");
    }
    s.stop().await.unwrap();
}

#[tokio::test]
async fn a_root_without_a_shell_is_refused_at_start() {
    if !sessions_possible() {
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let mut spec = SessionSpec::new("noshell", Root::Dir(empty.path().to_owned()));
    spec.limits.pids = Some(16);
    let t = std::time::Instant::now();
    let err = LinuxSession::start(&config(), &spec).await.unwrap_err();
    support::assert_refused_for_no_shell(t, &err);
    assert!(mounts_under(empty.path()).is_empty());
    assert!(leftover_cgroups("noshell").is_empty());
}

#[tokio::test]
async fn a_fork_bomb_stops_at_its_pids_limit() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let mut bombed_spec = root.spec("bombed");
    bombed_spec.limits = Limits {
        pids: Some(64),
        ..Limits::default()
    };
    let mut bombed = start(&bombed_spec).await;
    let mut calm = start(&root.spec("calm")).await;
    let (status, out, err) = sh(
        &bombed,
        "i=0; while [ $i -lt 1000 ]; do sleep 60 >/dev/null 2>&1 & i=$((i+1)); done; echo spawned $i",
    )
    .await;
    let seen = bombed.processes().unwrap().len();
    assert!(seen <= 64, "{seen} processes despite pids.max 64");
    assert!(
        !status.success() || !out.contains("spawned 1000"),
        "{status:?} {out}"
    );
    assert!(err.to_lowercase().contains("fork"), "{err}");
    // The other session and the host carry on.
    let (status, out, _) = sh(&calm, "echo fine").await;
    assert!(status.success() && out == "fine\n");
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
    bombed.stop().await.unwrap();
    calm.stop().await.unwrap();
    assert!(leftover_cgroups("bombed").is_empty());
}

#[tokio::test]
async fn a_memory_hog_is_killed_in_its_session_only() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let mut spec = root.spec("hog");
    spec.limits.memory_bytes = Some(32 << 20);
    let mut hog = start(&spec).await;
    let mut calm = start(&root.spec("calm2")).await;
    let (status, _, _) = sh(
        &hog,
        "exec awk 'BEGIN { s = \"xxxxxxxx\"; while (1) s = s s }'",
    )
    .await;
    assert_eq!(status, ExitStatus::Signal(9), "the OOM killer ends the hog");
    let (status, out, _) = sh(&calm, "echo fine").await;
    assert!(status.success() && out == "fine\n");
    let (status, out, _) = sh(&hog, "echo still here").await;
    assert!(
        status.success() && out == "still here\n",
        "the session survives its hog"
    );
    hog.stop().await.unwrap();
    calm.stop().await.unwrap();
}

#[tokio::test]
async fn an_interactive_shell_runs_commands_and_exits_cleanly() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let mut s = start(&root.spec("tty")).await;
    let mut p = s
        .shell(WindowSize { rows: 24, cols: 80 }, "xterm")
        .await
        .unwrap();
    type_line(&mut p.master, "echo answer=$((6*7))").await;
    expect(&mut p.master, "answer=42").await;
    type_line(&mut p.master, "tty; echo TERM=$TERM").await;
    let seen = expect(&mut p.master, "TERM=xterm").await;
    assert!(
        seen.contains("/dev/pts/0"),
        "the session's own devpts: {seen}"
    );
    p.master
        .resize(WindowSize {
            rows: 50,
            cols: 132,
        })
        .unwrap();
    type_line(&mut p.master, "stty size").await;
    expect(&mut p.master, "50 132").await;
    // Ctrl-C reaches the foreground job, not the shell.
    type_line(&mut p.master, "sleep 100").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::io::AsyncWriteExt::write_all(&mut p.master, b"\x03")
        .await
        .unwrap();
    type_line(&mut p.master, "echo status=$?").await;
    expect(&mut p.master, "status=130").await;
    type_line(&mut p.master, "exit 3").await;
    let status = tokio::time::timeout(Duration::from_secs(10), p.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExitStatus::Code(3));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn signals_reach_a_piped_command() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let mut s = start(&root.spec("sig")).await;
    let mut p = s.run(&CommandSpec::new(["sleep", "100"])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.signal(nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), p.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExitStatus::Signal(15));
    let mut p = s.run(&CommandSpec::new(["no-such-program"])).await.unwrap();
    assert_eq!(p.wait().await.unwrap(), ExitStatus::Code(127));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn stop_leaves_no_process_mount_or_cgroup() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let mut spec = root.spec("stopper");
    spec.limits = Limits {
        memory_bytes: Some(256 << 20),
        pids: Some(100),
        cpu_weight: Some(50),
        cpu_millis: Some(1000),
    };
    let mut s = start(&spec).await;
    let groups: Vec<_> = s.cgroups().iter().map(|g| g.dir.clone()).collect();
    assert!(!groups.is_empty());
    for g in &groups {
        assert!(g.is_dir());
    }
    // One core's worth: 100 ms of CPU per 100 ms period.
    let quota = groups.iter().find_map(|g| {
        std::fs::read_to_string(g.join("cpu.max"))
            .or_else(|_| std::fs::read_to_string(g.join("cpu.cfs_quota_us")))
            .ok()
    });
    let quota = quota.expect("a cpu quota file");
    assert!(quota.starts_with("100000"), "{quota}");
    let init = s.init_pid();
    let mut bg = s
        .run(&CommandSpec::new([
            "sh",
            "-c",
            "sleep 1000 & sleep 1000 & wait",
        ]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(s.processes().unwrap().len() >= 4);
    s.stop().await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), bg.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExitStatus::Signal(9));
    assert!(
        !std::path::Path::new(&format!("/proc/{init}")).exists(),
        "init survived"
    );
    for g in &groups {
        assert!(!g.exists(), "{} left behind", g.display());
    }
    assert!(leftover_cgroups("stopper").is_empty());
    assert!(mounts_under(root.path()).is_empty());
    assert!(matches!(
        s.run(&CommandSpec::new(["true"])).await,
        Err(Error::Stopped)
    ));
    s.stop().await.unwrap();
}

/// Session cgroup folders named after `name` anywhere under /sys/fs/cgroup.
fn leftover_cgroups(name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{name}-"))
                {
                    found.push(e.path());
                }
                stack.push(e.path());
            }
        }
    }
    found
}

#[tokio::test]
async fn dropping_a_running_session_kills_it_and_removes_its_cgroups() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let mut spec = root.spec("dropped");
    spec.limits.pids = Some(32);
    let s = start(&spec).await;
    let init = s.init_pid();
    let mut p = s.run(&CommandSpec::new(["sleep", "1000"])).await.unwrap();
    // Let it get in (a command dropped before entering exits 125).
    while s.processes().unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(s);
    let status = tokio::time::timeout(Duration::from_secs(5), p.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, ExitStatus::Signal(9));
    support::assert_init_dies(init);
    assert!(leftover_cgroups("dropped").is_empty());
}
