//! The escape suite: probes run inside a real sandboxed session (its own
//! user namespace mapped to an unprivileged host range, Docker's
//! capabilities, the seccomp filter, masked /proc, its own network), each
//! trying a way out, and each harmless if it succeeded (it reads, or
//! writes back the value already there). Needs root and /dev/fuse (skips
//! with a message elsewhere; fails under CI).

mod support;

use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_ns::IdRange;
use colony_ns::session::{
    ALLOWED_CAPS, ExitStatus, FossilConfig, FossilSession, Network, Session, SessionSpec, testroot,
};
use colony_venti::{BlockStore, MemStore};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use support::{config, fuse_sessions_possible, sh};

/// Programs the probes use, besides the usual ones.
const PROBES: &[&str] = &[
    "bash", "setpriv", "mknod", "chown", "chmod", "unshare", "mount", "timeout", "ping",
];

/// A fresh host id range per session, far above any host account.
fn next_range() -> IdRange {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) + u32::from(std::process::id() as u16) * 16;
    IdRange::new(
        0x6000_0000 + (n % 4096) * IdRange::ENVIRONMENT,
        IdRange::ENVIRONMENT,
    )
}

/// The minimal tree with the probe programs, archived once per binary.
fn tree() -> &'static Path {
    static TREE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TREE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let programs: Vec<&str> = testroot::PROGRAMS.iter().chain(PROBES).copied().collect();
        testroot::build(dir.path(), &programs).unwrap();
        dir
    })
    .path()
}

struct Sandbox {
    session: FossilSession,
    ids: IdRange,
    mountpoint: PathBuf,
    _scratch: tempfile::TempDir,
}

/// A sandboxed session of the tree, or `None` (with a message) where
/// sessions cannot run.
async fn sandbox(name: &str) -> Option<Sandbox> {
    if !fuse_sessions_possible() {
        return None;
    }
    let store: Arc<dyn BlockStore> = Arc::new(MemStore::new());
    let score = testroot::import(&*store, tree()).unwrap();
    let fossil = Arc::new(Fossil::open(store, score, FossilOptions::default()).unwrap());
    let scratch = support::private_dir();
    let mountpoint = scratch.path().join(name);
    let cfg = FossilConfig {
        linux: config(),
        fossil,
        mountpoint: mountpoint.clone(),
    };
    let ids = next_range();
    let mut spec = SessionSpec::new(name, colony_ns::session::Root::Dir("/unused".into()));
    spec.ids = Some(ids);
    spec.network = Network::Nat;
    let session = FossilSession::start(&cfg, &spec).await.unwrap();
    Some(Sandbox {
        session,
        ids,
        mountpoint,
        _scratch: scratch,
    })
}

/// Runs `script`, expecting success; returns its output.
async fn ok(s: &FossilSession, script: &str) -> String {
    let (status, out, err) = sh(s, script).await;
    assert_eq!(status, ExitStatus::Code(0), "{script}: {err}");
    out
}

/// Runs `script`, expecting failure; returns its error output.
async fn refused(s: &FossilSession, script: &str) -> String {
    let (status, out, err) = sh(s, script).await;
    assert_ne!(status, ExitStatus::Code(0), "{script} succeeded: {out}");
    err
}

/// A hex capability mask from a /proc status line.
fn cap_field(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

#[tokio::test]
async fn root_inside_is_an_unprivileged_host_range() {
    let Some(mut sb) = sandbox("userns").await else {
        return;
    };
    let s = &sb.session;
    let map = ok(s, "cat /proc/self/uid_map /proc/self/gid_map").await;
    let want = format!("0 {} {}", sb.ids.host_base, sb.ids.count);
    for line in map.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.join(" "), want, "{map}");
    }
    assert_eq!(ok(s, "id -u; id -g").await, "0\n0\n");
    // Owners in the snapshot show as stored; chown to any id in the range
    // works and reads back.
    assert_eq!(ok(s, "stat -c %u:%g /bin/sh /etc").await, "0:0\n0:0\n");
    let out = ok(
        s,
        "touch /tmp/f && chown 4242:4343 /tmp/f && stat -c %u:%g /tmp/f",
    )
    .await;
    assert_eq!(out, "4242:4343\n");
    // On the host, every process of the session runs in the range, and the
    // file it chowned belongs to the range's 4242.
    let _bg = s
        .run(&colony_ns::session::CommandSpec::new(["sleep", "30"]))
        .await
        .unwrap();
    // The command has entered once the session lists it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let procs = loop {
        let procs = s.processes().unwrap();
        if procs.iter().any(|p| p.command.starts_with("sleep")) {
            break procs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sleep never listed: {procs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    for p in procs {
        let status = std::fs::read_to_string(format!("/proc/{}/status", p.host_pid)).unwrap();
        for field in ["Uid:", "Gid:"] {
            let line = status.lines().find_map(|l| l.strip_prefix(field)).unwrap();
            for id in line.split_whitespace() {
                let id: u32 = id.parse().unwrap();
                assert!(
                    sb.ids.contains(id),
                    "{} runs as host {field} {id}",
                    p.command
                );
            }
        }
    }
    let md = std::fs::metadata(sb.mountpoint.join("tmp/f")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (md.uid(), md.gid()),
        (sb.ids.host_base + 4242, sb.ids.host_base + 4343)
    );
    sb.session.stop().await.unwrap();
}

#[tokio::test]
async fn capabilities_are_dockers_and_the_filter_is_on() {
    let Some(mut sb) = sandbox("caps").await else {
        return;
    };
    let want = ALLOWED_CAPS.iter().fold(0u64, |m, c| m | c.bitmask());
    let status = ok(&sb.session, "cat /proc/self/status").await;
    for field in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(cap_field(&status, field), want, "{field}\n{status}");
    }
    assert_eq!(cap_field(&status, "CapAmb:"), 0);
    assert!(status.contains("Seccomp:\t2"), "{status}");
    // setuid programs still raise: a setuid-root copy of `id` run as 1000.
    let out = ok(
        &sb.session,
        "cp /bin/id /bin/suid-id && chmod 4755 /bin/suid-id && \
         setpriv --reuid=1000 --regid=1000 --clear-groups /bin/suid-id -u",
    )
    .await;
    assert_eq!(out, "0\n", "setuid root inside works");
    // Nested user namespaces are refused (not enabled for this session).
    let err = refused(&sb.session, "unshare -U true").await;
    assert!(err.contains("Operation not permitted"), "{err}");
    sb.session.stop().await.unwrap();
}

#[tokio::test]
async fn kernel_interfaces_are_masked_or_read_only() {
    let Some(mut sb) = sandbox("kernel").await else {
        return;
    };
    let s = &sb.session;
    // Writing back the value already there: refused (read-only /proc/sys).
    refused(
        s,
        "v=$(cat /proc/sys/kernel/core_pattern) && echo \"$v\" > /proc/sys/kernel/core_pattern",
    )
    .await;
    refused(
        s,
        "v=$(cat /proc/sys/kernel/hostname) && echo \"$v\" > /proc/sys/kernel/hostname",
    )
    .await;
    // Opening for writing is refused, so nothing can reach the trigger.
    refused(s, ": >> /proc/sysrq-trigger").await;
    for masked in ["kcore", "keys", "timer_list", "kmsg"] {
        let out = ok(
            s,
            &format!("[ ! -e /proc/{masked} ] || wc -c < /proc/{masked}"),
        )
        .await;
        assert!(out.is_empty() || out.trim() == "0", "/proc/{masked}: {out}");
    }
    // /sys is mounted read-only, and a kernel knob there cannot be written
    // (the probe writes back only a value it could read).
    let mounts = ok(s, "cat /proc/self/mountinfo").await;
    let sys = mounts
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/sys"))
        .unwrap_or_else(|| panic!("no /sys: {mounts}"));
    let options = sys.split(' ').nth(5).unwrap_or("");
    assert!(options.split(',').any(|o| o == "ro"), "{sys}");
    if ok(s, "[ -e /sys/kernel/mm/ksm/run ] && echo yes || true").await == "yes\n" {
        refused(
            s,
            "v=$(cat /sys/kernel/mm/ksm/run) && echo \"$v\" > /sys/kernel/mm/ksm/run",
        )
        .await;
    }
    // /dev holds only the basic devices.
    let dev = ok(s, "ls /dev").await;
    let mut names: Vec<&str> = dev.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
            "tty", "urandom", "zero"
        ]
    );
    // The host's disk: a device node cannot be made, nor is one usable.
    refused(s, "mknod /tmp/disk b 8 0").await;
    // No mounting, so nothing of the host can be brought in.
    refused(s, "mkdir -p /mnt && mount -t tmpfs none /mnt").await;
    sb.session.stop().await.unwrap();
}

#[tokio::test]
async fn the_network_is_private_and_host_loopback_unreachable() {
    let Some(mut sb) = sandbox("net").await else {
        return;
    };
    // pasta gave the session an interface and a default route out.
    let routes = ok(&sb.session, "cat /proc/net/route").await;
    let gateway = routes
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().nth(1) == Some("00000000"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_else(|| panic!("no default route: {routes}"));
    let gw = u32::from_str_radix(gateway, 16).unwrap().to_le_bytes();
    let gateway = std::net::Ipv4Addr::from(gw);
    // A service on the host's loopback, as the grid's ports are: neither
    // the session's own loopback nor the gateway leads there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for addr in [std::net::Ipv4Addr::LOCALHOST, gateway] {
        // Refused, unreachable or silent (cut at 2 s): never connected.
        refused(
            &sb.session,
            &format!("timeout 2 bash -c 'exec 3<>/dev/tcp/{addr}/{port}'"),
        )
        .await;
    }
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the host service was reached");
    // Root keeps CAP_NET_RAW for its own namespace: ping works there.
    let out = ok(&sb.session, "ping -c 1 -W 2 127.0.0.1").await;
    assert!(out.contains("1 received"), "{out}");
    sb.session.stop().await.unwrap();
}

#[tokio::test]
async fn other_host_accounts_cannot_reach_the_root() {
    let Some(mut sb) = sandbox("hostside").await else {
        return;
    };
    // nobody on the host: the mount point's parent is private.
    let out = std::process::Command::new("/bin/ls")
        .arg(&sb.mountpoint)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(!out.status.success(), "nobody listed the root");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sb.session.stop().await.unwrap();
}

#[tokio::test]
async fn raw_sockets_and_other_environments_see_only_their_own() {
    let Some(mut a) = sandbox("env-a").await else {
        return;
    };
    let Some(mut b) = sandbox("env-b").await else {
        return;
    };
    // A raw socket (CAP_NET_RAW is kept) sees the session's own network
    // namespace: its loopback and pasta's interface, none of the host's.
    let devs = ok(&a.session, "cat /proc/net/dev").await;
    let names: Vec<&str> = devs
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert!(names.contains(&"lo") && names.len() == 2, "{devs}");
    // Each has its own host range, tree and processes.
    assert!(!a.ids.overlaps(&b.ids));
    ok(
        &a.session,
        "echo mine > /tmp/secret-a && (sleep 60 >/dev/null 2>&1 &)",
    )
    .await;
    refused(&b.session, "cat /tmp/secret-a").await;
    let theirs = ok(&a.session, "ps -e -o comm=").await;
    assert!(theirs.contains("sleep"), "{theirs}");
    let procs = ok(&b.session, "ps -e -o comm=").await;
    assert!(!procs.contains("sleep"), "{procs}");
    a.session.stop().await.unwrap();
    b.session.stop().await.unwrap();
}
