//! What the `colony` binary's end-to-end tests share: running the binary,
//! free ports, signals, and children that die with a failing test.
// Each test file uses its own subset of these.
#![allow(dead_code)]

pub mod debian;
pub mod grid;
pub mod netns;
pub mod nodes;
pub mod split;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The binary under test.
pub const COLONY: &str = env!("CARGO_BIN_EXE_colony");

/// Runs `colony ARGS` with no `$venti` and collects its output.
pub fn colony(args: &[&str]) -> Output {
    Command::new(COLONY)
        .args(args)
        .env_remove("venti")
        .output()
        .expect("run colony")
}

/// Standard output of a command that must have succeeded.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "colony failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A loopback port nobody listens on (at the moment of asking).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback `host:port` nobody listens on (at the moment of asking).
pub fn loopback() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// Waits (up to 30 s) until a server listens on `addr` (`host:port`). A
/// probe of a free loopback port can connect to itself (TCP simultaneous
/// open, when the kernel picks that port as the probe's source port),
/// which would pass for the server being up: such a connection does not
/// count.
pub fn wait_listening(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = TcpStream::connect(addr)
            && s.local_addr().ok() != s.peer_addr().ok()
        {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` (e.g. "-HUP") to `child`.
pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A child process killed if a test fails before stopping it.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Extracts `score` from the local store `data` into a new directory `dest`.
pub fn unvac(score: &str, data: &Path, dest: &Path) {
    std::fs::create_dir(dest).unwrap();
    ok(colony(&[
        "unvac",
        score,
        dest.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]));
}

/// Makes `data` a node's data directory (node id `testnode`) if it is not
/// one yet, and names `score` (`vac:…`) `label` there; returns the name.
pub fn mint(data: &Path, label: &str, score: &str) -> String {
    if !data.join("node-id").exists() {
        let node = colony_core::NodeId::new("testnode").unwrap();
        node.store(data).unwrap();
    }
    let names = colony_core::ScoreNames::open(data).unwrap();
    let owner = colony_core::UserName::new("glenda").unwrap();
    let record = names.mint(label, &owner, score.parse().unwrap()).unwrap();
    record.name.to_string()
}

/// Whether FUSE mounts can be made here; under CI they must be.
pub fn can_mount() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let fuse = Path::new("/dev/fuse").exists();
    if root && fuse {
        return true;
    }
    let why = format!("needs root and /dev/fuse (root: {root}, /dev/fuse: {fuse})");
    assert!(std::env::var_os("CI").is_none(), "under CI: {why}");
    eprintln!("skipping: {why}");
    false
}
