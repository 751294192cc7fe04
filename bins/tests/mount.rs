//! `colony mount` end to end: vac a tree into a local store, mount it with
//! FUSE, write through the mount with plain std::fs calls, save with SIGHUP
//! and SIGTERM, check the mount is gone, and unvac the printed scores.
//! Needs /dev/fuse and root; without them the tests say so and pass,
//! except under CI (env `CI` set), where they fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

mod support;
use support::*;

/// Whether `dir` is a mount point, per /proc/self/mountinfo (field 5).
fn mounted(dir: &Path) -> bool {
    let dir = dir.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(dir))
}

/// A running `colony mount`; killed (and its mount detached) if a test
/// fails before stopping it.
struct Mounted {
    child: Child,
    dir: PathBuf,
    lines: Receiver<String>,
}

impl Mounted {
    /// Mounts `archive` on a new directory `dir`, with blocks from
    /// `store` (`["--data", DIR]` or `["--venti", ADDR]`).
    fn start(archive: &str, store: [&str; 2], dir: &Path) -> Mounted {
        std::fs::create_dir(dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        let mut child = Command::new(COLONY)
            .args(["mount", archive])
            .arg(&dir)
            .args(store)
            .env_remove("venti")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start colony mount");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        let mut m = Mounted { child, dir, lines };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !mounted(&m.dir) {
            if let Some(status) = m.child.try_wait().unwrap() {
                panic!("colony mount exited early: {status:?}");
            }
            assert!(Instant::now() < deadline, "mount did not appear");
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    fn next_score(&self) -> String {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a score line");
        assert!(line.starts_with("vac:") && line.len() == 44, "{line}");
        line
    }

    /// SIGTERM: returns the last score once the process exited 0 and the
    /// mount is gone.
    fn stop(mut self) -> String {
        signal(&self.child, "-TERM");
        let last = self.next_score();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit {status:?}");
        assert!(self.lines.recv().is_err(), "nothing more on stdout");
        assert!(!mounted(&self.dir), "mount left behind");
        last
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// A `colony venti serve`, stopped (SIGTERM, so it syncs) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        signal(&self.0, "-TERM");
        let _ = self.0.wait();
    }
}

/// Vacs a tree holding `tree/hello.txt` into `data`; returns the score.
fn vac_tree(tmp: &Path, data: &Path) -> String {
    let tree = tmp.join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("hello.txt"), "hello, world\n").unwrap();
    let line = ok(colony(&[
        "vac",
        tree.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]));
    line.trim().to_string()
}

#[test]
fn mount_write_save_unmount_and_unvac() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("store");
    let original = vac_tree(tmp.path(), &data);
    let store = ["--data", data.to_str().unwrap()];
    let m = Mounted::start(&original, store, &tmp.path().join("mnt"));
    let t = m.dir.join("tree");
    assert_eq!(
        std::fs::read_to_string(t.join("hello.txt")).unwrap(),
        "hello, world\n"
    );
    std::fs::write(t.join("first.txt"), "written through FUSE\n").unwrap();
    std::fs::create_dir(t.join("sub")).unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(t.join("sub/big.bin"), &big).unwrap();

    signal(&m.child, "-HUP");
    let first = m.next_score();
    assert_ne!(first, original);
    // Still mounted and writable after a SIGHUP save.
    assert!(mounted(&m.dir));
    std::fs::write(t.join("second.txt"), "after the first save\n").unwrap();
    std::fs::remove_file(t.join("hello.txt")).unwrap();
    let last = m.stop();
    assert_ne!(last, first);

    let out = tmp.path().join("out-last");
    unvac(&last, &data, &out);
    let o = out.join("tree");
    let read = |p: &str| std::fs::read_to_string(o.join(p)).unwrap();
    assert_eq!(read("first.txt"), "written through FUSE\n");
    assert_eq!(read("second.txt"), "after the first save\n");
    assert_eq!(std::fs::read(o.join("sub/big.bin")).unwrap(), big);
    assert!(!o.join("hello.txt").exists());

    let out = tmp.path().join("out-first");
    unvac(&first, &data, &out);
    let o = out.join("tree");
    assert_eq!(
        std::fs::read_to_string(o.join("hello.txt")).unwrap(),
        "hello, world\n"
    );
    assert_eq!(std::fs::read(o.join("sub/big.bin")).unwrap(), big);
    assert!(!o.join("second.txt").exists());
}

#[test]
fn two_mounts_of_one_score_are_independent() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("store");
    let score = vac_tree(tmp.path(), &data);
    // A --data store is one process's at a time: both mounts use a venti
    // server over it.
    let addr = loopback();
    let server = Command::new(COLONY)
        .args(["venti", "serve", "--data", data.to_str().unwrap()])
        .args(["--addr", &addr])
        .env_remove("venti")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start colony venti serve");
    let server = Server(server);
    wait_listening(&addr);
    let store = ["--venti", addr.as_str()];
    let a = Mounted::start(&score, store, &tmp.path().join("a"));
    let b = Mounted::start(&score, store, &tmp.path().join("b"));
    std::fs::write(a.dir.join("tree/only-a.txt"), "a\n").unwrap();
    std::fs::create_dir(b.dir.join("tree/only-b")).unwrap();
    std::fs::write(b.dir.join("tree/hello.txt"), "changed in b\n").unwrap();
    assert!(!b.dir.join("tree/only-a.txt").exists());
    assert!(!a.dir.join("tree/only-b").exists());
    assert_eq!(
        std::fs::read_to_string(a.dir.join("tree/hello.txt")).unwrap(),
        "hello, world\n"
    );
    let sa = a.stop();
    let sb = b.stop();
    assert_ne!(sa, sb);
    drop(server);
    let out = tmp.path().join("out-a");
    unvac(&sa, &data, &out);
    assert!(out.join("tree/only-a.txt").exists());
    assert!(!out.join("tree/only-b").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("tree/hello.txt")).unwrap(),
        "hello, world\n"
    );
    let out = tmp.path().join("out-b");
    unvac(&sb, &data, &out);
    assert!(!out.join("tree/only-a.txt").exists());
    assert!(out.join("tree/only-b").is_dir());
    assert_eq!(
        std::fs::read_to_string(out.join("tree/hello.txt")).unwrap(),
        "changed in b\n"
    );
}

#[test]
fn mount_refuses_what_it_cannot_open() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("store");
    let missing = "vac:0123456789abcdef0123456789abcdef01234567";
    let out = colony(&["mount", missing, "/mnt", "--data", d.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opening vac:0123456789abcdef"), "{err}");
    let score = vac_tree(tmp.path(), &d);
    let nodir = tmp.path().join("no-such-dir");
    let out = colony(&[
        "mount",
        &score,
        nodir.to_str().unwrap(),
        "--data",
        d.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("resolving ") && err.contains("no-such-dir"),
        "{err}"
    );
}

#[test]
fn save_by_name_through_the_control_socket() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("store");
    let original = vac_tree(tmp.path(), &data);
    let name = mint(&data, "work", &original);
    let store = ["--data", data.to_str().unwrap()];
    let dir = tmp.path().join("mnt");
    let mut m = Mounted::start(&name, store, &dir);
    let t = m.dir.join("tree");
    std::fs::create_dir(t.join("a")).unwrap();
    std::fs::create_dir(t.join("b")).unwrap();
    std::fs::write(t.join("a/x"), "moved across\n").unwrap();
    std::fs::write(t.join("b/y"), "replaced\n").unwrap();
    std::fs::rename(t.join("a/x"), t.join("b/y")).unwrap();
    std::fs::rename(t.join("a"), t.join("b/a")).unwrap();

    let dir = m.dir.to_str().unwrap().to_string();
    let dir = dir.as_str();
    let saved = ok(colony(&["save", dir]));
    let saved = saved.trim();
    assert_eq!(saved, m.next_score(), "the mount prints what save prints");
    assert_ne!(saved, original);
    assert!(mounted(&m.dir), "still mounted");
    // Nothing changed since: the same score again.
    assert_eq!(ok(colony(&["save", dir])).trim(), saved);
    assert_eq!(m.next_score(), saved);

    // A mount that died leaves its socket: the next mount replaces it.
    // What was saved survives the kill.
    m.child.kill().unwrap();
    m.child.wait().unwrap();
    assert!(
        Command::new("umount")
            .arg("-l")
            .arg(&m.dir)
            .status()
            .unwrap()
            .success()
    );
    let out = tmp.path().join("out");
    unvac(saved, &data, &out);
    let o = out.join("tree");
    assert_eq!(
        std::fs::read_to_string(o.join("b/y")).unwrap(),
        "moved across\n"
    );
    assert!(o.join("b/a").is_dir() && !o.join("a").exists());
    let e = colony(&["save", dir]);
    assert!(!e.status.success());
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(err.contains("no colony mount serves"), "{err}");
    std::fs::remove_dir(&m.dir).unwrap();
    let again = Mounted::start(saved, store, &m.dir);
    std::fs::write(again.dir.join("tree/c"), "c\n").unwrap();
    let next = ok(colony(&["save", dir]));
    assert_ne!(next.trim(), saved);
    assert_eq!(again.next_score(), next.trim());
    assert_eq!(again.stop(), next.trim());

    // Not a mount at all.
    let e = colony(&["save", tmp.path().to_str().unwrap()]);
    assert!(!e.status.success());
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(err.contains("no colony mount serves"), "{err}");
}
