//! Issue 13 item 7, end to end: what programs in an environment sync is
//! there after the node is killed with SIGKILL and started again, in the
//! same environment (same name, same owner, listed by `status`), for
//! `spawn` and `spawndisk` alike, on `colony up` and on `colony-sto` +
//! `colony-cpu` (both killed). The stale FUSE mounts the dead node left
//! are cleaned, so the environments mount again. Needs root and
//! /dev/fuse; without them the test says so and passes, except under CI
//! (env `CI` set), where it fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod support;
use support::grid::{Grid, envs, init_node, mounts_below, session_helpers, start_until, stop};
use support::split::{CPU, STO, Split};
use support::*;

/// A seed tree with coreutils' `sync` besides the usual test root: `sync
/// FILE` is fsync(2), `sync -d FILE` fdatasync(2), `sync` sync(2), `sync
/// -f FILE` syncfs(2).
fn init(tmp: &Path) -> (PathBuf, PathBuf) {
    let (data, seed) = init_node(tmp, &["alice", "bob"]);
    colony_ns::session::testroot::build(&seed, &["sync"]).expect("adding sync to the seed");
    (data, seed)
}

/// In alice's `spawn` and bob's `spawndisk` environment: a file written
/// and fsynced, one fdatasynced, a directory fsynced after a rename into
/// it, files followed by `sync` (sync(2)) and `sync -f` (syncfs(2)), and
/// then a file written and never synced.
fn write_and_sync(grid: &Grid) {
    grid.ok("alice", &["spawn", "clean.n1.alice"]);
    grid.ok("bob", &["spawndisk", "clean.n1.bob"]);
    for user in ["alice", "bob"] {
        let env = format!("clean.n1.{user}");
        let script = format!(
            "echo synced by {user} > /root/synced && sync /root/synced && \
             echo data synced > /root/datasync && sync -d /root/datasync && \
             mkdir /root/d && echo moved > /tmp/m && mv /tmp/m /root/d/m && sync /root/d && \
             echo whole > /root/whole && sync && echo fs > /root/fs && sync -f / && \
             echo never synced > /root/unsynced && cat /root/synced"
        );
        assert_eq!(
            grid.ok(user, &["attach", &env, "sh", "-c", &script]),
            format!("synced by {user}\n")
        );
        assert_eq!(
            grid.ok(user, &["shells", &env]),
            format!("no shells in {env}\n")
        );
    }
}

/// Both environments are back for their owners with what was synced.
fn assert_back(grid: &Grid) {
    for (user, disk) in [("alice", false), ("bob", true)] {
        let env = format!("clean.n1.{user}");
        let status = grid.ok(user, &["status"]);
        let listed: Vec<String> = envs(&status).into_iter().map(|(n, _)| n).collect();
        assert_eq!(listed, std::slice::from_ref(&env), "{user}: {status}");
        assert_eq!(status.contains("\tdisk"), disk, "{user}: {status}");
        let read = grid.ok(
            user,
            &[
                "attach",
                &env,
                "sh",
                "-c",
                "cat /root/synced /root/datasync /root/d/m /root/whole /root/fs",
            ],
        );
        assert_eq!(
            read,
            format!("synced by {user}\ndata synced\nmoved\nwhole\nfs\n")
        );
        // Writes work again in the resumed environment.
        let wrote = grid.ok(
            user,
            &[
                "attach",
                &env,
                "sh",
                "-c",
                "echo again > /root/again && cat /root/again",
            ],
        );
        assert_eq!(wrote, "again\n");
        // Named shells do not survive their node: it says so.
        assert_eq!(
            grid.ok(user, &["shells", &env]),
            format!(
                "{env} was restored when its node started again: shells started before then \
                 are gone\nno shells in {env}\n"
            )
        );
    }
}

/// Kills `node` with SIGKILL and waits for it to be gone.
fn kill9(mut node: Killed) {
    node.0.kill().unwrap();
    node.0.wait().unwrap();
}

/// Waits until no session helper of `binary` is alive: a dead node's
/// sessions end when their helper's input closes.
fn sessions_gone(binary: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !session_helpers(binary).is_empty() {
        assert!(Instant::now() < deadline, "sessions outlived their node");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn synced_writes_survive_kill_9_of_colony_up() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, seed) = init(tmp.path());
    let grid = Grid {
        data: data.clone(),
        addr: loopback(),
        netns: None,
    };
    let up = |seed: Option<&Path>| start_until(grid.up(seed), "then:");
    let (node, _) = up(Some(&seed));
    write_and_sync(&grid);
    kill9(node);
    sessions_gone(COLONY);
    // The dead node's FUSE mounts are still there, with nobody serving.
    assert_eq!(mounts_below(&data).len(), 2, "{:?}", mounts_below(&data));

    let (node, said) = up(None);
    assert!(
        said.contains("resumed clean.n1.alice for alice\n"),
        "{said}"
    );
    assert!(said.contains("resumed clean.n1.bob for bob\n"), "{said}");
    assert_back(&grid);
    // Only the live mounts are left: the stale ones were detached.
    assert_eq!(mounts_below(&data).len(), 2, "{:?}", mounts_below(&data));

    // A clean stop keeps them too, unsynced writes included; boom ends one
    // for good.
    grid.ok(
        "alice",
        &[
            "attach",
            "clean.n1.alice",
            "sh",
            "-c",
            "echo at stop > /root/stop",
        ],
    );
    stop(node);
    assert_eq!(mounts_below(&data), Vec::<String>::new());
    let (node, _) = up(None);
    assert_eq!(
        grid.ok("alice", &["attach", "clean.n1.alice", "cat", "/root/stop"]),
        "at stop\n"
    );
    grid.ok("bob", &["boom", "clean.n1.bob"]);
    kill9(node);
    let (node, said) = up(None);
    assert!(!said.contains("clean.n1.bob"), "{said}");
    assert_eq!(
        grid.ok("bob", &["status"]),
        "active grid namespaces for bob\n"
    );
    stop(node);
    assert_eq!(mounts_below(&data), Vec::<String>::new());
    assert_eq!(session_helpers(COLONY), Vec::<String>::new());
}

#[test]
fn synced_writes_survive_kill_9_of_a_split_node() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, seed) = init(tmp.path());
    let split = Split::new(data.clone());
    let cpu = split.start_cpu();
    let (sto, _) = split.start_sto(Some(&seed));
    write_and_sync(&split.grid);
    kill9(sto);
    kill9(cpu);
    sessions_gone(CPU);
    assert!(!mounts_below(&data).is_empty(), "no stale mount to clean");

    let cpu = split.start_cpu();
    let (sto, said) = split.start_sto(None);
    assert!(
        said.contains("resumed clean.n1.alice for alice\n"),
        "{said}"
    );
    assert_back(&split.grid);
    stop(sto);
    stop(cpu);
    assert_eq!(mounts_below(&data), Vec::<String>::new());
    assert_eq!(session_helpers(STO), Vec::<String>::new());
}
