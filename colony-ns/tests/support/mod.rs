//! Shared pieces of the session and cpu tests: a root tree built from the
//! host's /usr and /etc, the helper binary, and the root/namespace check.

#![allow(dead_code)]

pub mod cpu;
pub mod pki;

use colony_ns::session::{
    Bind, CommandSpec, ExitStatus, LinuxConfig, PtyMaster, Root, Session, SessionSpec, testroot,
};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// True when sessions can run here (see `testroot::sessions_possible`).
pub fn sessions_possible() -> bool {
    testroot::sessions_possible(false)
}

/// True when sessions rooted in a FUSE mount can run here.
pub fn fuse_sessions_possible() -> bool {
    testroot::sessions_possible(true)
}

/// A temporary directory only we may enter (0700): where session mount
/// points go (sessions refuse a parent other accounts can reach).
pub fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .unwrap()
}

/// The helper binary cargo built for these tests.
pub fn config() -> LinuxConfig {
    LinuxConfig::new(env!("CARGO_BIN_EXE_colony-session-helper"))
}

/// A root tree: a temp dir with the host's /usr and /etc bound read-only
/// (inside the session only) and the usr-merge symlinks, plus writable
/// /tmp, /home and /root.
pub struct TestRoot {
    dir: tempfile::TempDir,
}

impl TestRoot {
    /// Makes the tree.
    pub fn new() -> TestRoot {
        let dir = tempfile::tempdir().unwrap();
        for d in ["usr", "etc", "tmp", "home", "root"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        for (link, to) in [
            ("bin", "usr/bin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
            ("sbin", "usr/sbin"),
        ] {
            std::os::unix::fs::symlink(to, dir.path().join(link)).unwrap();
        }
        TestRoot { dir }
    }

    /// The tree's directory on the host.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A spec for a session named `name` on this tree.
    pub fn spec(&self, name: &str) -> SessionSpec {
        let mut spec = SessionSpec::new(name, Root::Dir(self.path().to_owned()));
        spec.binds = ["/usr", "/etc"]
            .into_iter()
            .map(|p| Bind {
                source: PathBuf::from(p),
                target: PathBuf::from(p),
                read_only: true,
            })
            .collect();
        spec
    }
}

/// Runs `sh -c script` in the session; returns status, stdout, stderr.
pub async fn sh<S: Session>(session: &S, script: &str) -> (ExitStatus, String, String) {
    let mut p = session
        .run(&CommandSpec::new(["/bin/sh", "-c", script]))
        .await
        .unwrap();
    drop(p.stdin());
    let (mut out, mut err) = (p.stdout().unwrap(), p.stderr().unwrap());
    let (mut o, mut e) = (String::new(), String::new());
    let (r1, r2) = tokio::join!(out.read_to_string(&mut o), err.read_to_string(&mut e));
    r1.unwrap();
    r2.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), p.wait())
        .await
        .unwrap()
        .unwrap();
    (status, o, e)
}

/// Reads from a terminal until `pattern` appears (or fails after 10 s);
/// returns everything read.
pub async fn expect(master: &mut PtyMaster, pattern: &str) -> String {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains(pattern) {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, master.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {pattern:?} in {:?}", String::from_utf8_lossy(&seen)))
            .unwrap();
        assert!(
            n > 0,
            "terminal closed before {pattern:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Types a line into a terminal.
pub async fn type_line(master: &mut PtyMaster, line: &str) {
    master.write_all(line.as_bytes()).await.unwrap();
    master.write_all(b"\n").await.unwrap();
}

/// Mount points in our mount namespace that mention `path`.
pub fn mounts_under(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_str().unwrap();
    text.lines()
        .filter(|l| l.contains(p))
        .map(String::from)
        .collect()
}

/// Asserts that a session start begun at `started` was refused promptly
/// (within 5 s) because its root has no executable /bin/sh.
pub fn assert_refused_for_no_shell(started: std::time::Instant, err: &colony_ns::Error) {
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(err, colony_ns::Error::SessionSetup(m) if m.contains("has no executable /bin/sh")),
        "{err}"
    );
}

/// Asserts that a session's init, host pid `init`, is dead within 2 s:
/// gone, or a zombie left to whoever inherits it from the helper.
pub fn assert_init_dies(init: i32) {
    let dead = || {
        let state = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap_or_default();
        state.is_empty() || state.contains("State:\tZ")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !dead() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(dead(), "init survived");
}
