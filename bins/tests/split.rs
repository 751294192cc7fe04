//! A node split in two processes, end to end through the binaries over
//! real sockets: `colony init`, `colony-cpu` and `colony-sto --seed` (the
//! minimal test root) on one data directory; a user spawns, writes
//! through the cpu listener, saves and finds the write in the saved
//! name; boom leaves no session process, mount or mount point on the cpu;
//! a user's certificate is refused by the cpu service and by the 9P
//! export; a restarted `colony-sto` keeps the saved names, and one that
//! died has the cpu stop what it left there and resumes it. Needs root and
//! /dev/fuse; without them the test says so and passes, except under CI
//! (env `CI` set), where it fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use colony_core::cpu_service::{CPU_ENVS_DIR, CpuClient};
use colony_core::identity::{NODE_CRED, client_config};
use colony_core::rpc::dial;

mod support;
use support::grid::{envs, init_node, mounts_below, session_helpers, stop};
use support::split::{CPU, Split};
use support::*;

#[test]
fn storage_and_cpu_in_two_processes() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, seed) = init_node(tmp.path(), &["alice"]);
    let split = Split::new(data.clone());
    let grid = &split.grid;
    let cpu = split.start_cpu();
    let (sto, said) = split.start_sto(Some(&seed));
    assert!(said.contains("seeded clean.n1"), "{said}");

    // Spawn, write through the cpu listener, save, spawn the saved name.
    grid.ok("alice", &["spawn", "clean.n1.alice"]);
    let (_, alice_cpu) = envs(&grid.ok("alice", &["status"])).remove(0);
    let wrote = split.cpu_command(
        "alice",
        &alice_cpu,
        &["sh", "-c", "echo written by alice > /root/note && hostname"],
    );
    assert_eq!(ok(wrote), "clean.n1.alice\n");
    // Over the 9P export (9P2000.colony) the environment is the Linux file
    // system a local one is: hard links, nanosecond times.
    let linked = split.cpu_command(
        "alice",
        &alice_cpu,
        &[
            "sh",
            "-c",
            "ln /root/note /root/link && touch -d '2001-02-03 04:05:06.123456789' /root/link \
             && stat -c '%h %y' /root/note && ls -i /root/note /root/link | cut -d' ' -f1 | sort -u | wc -l",
        ],
    );
    assert_eq!(ok(linked), "2 2001-02-03 04:05:06.123456789 +0000\n1\n");
    grid.save_respawn_and_read_note("alice", "written by alice\n");

    // A user's certificate is refused by the cpu service and the export.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let alice_tls = client_config(&grid.cred("alice")).unwrap();
    let by_user = CpuClient::new(&split.cpu, alice_tls.clone());
    let e = runtime.block_on(by_user.running()).unwrap_err().to_string();
    assert!(e.contains("user alice is not a grid node"), "{e}");
    let e = runtime.block_on(async {
        let tls = dial(alice_tls, &split.ninep).await.unwrap();
        colony_ns::client::RemoteFs::connect(tls, "alice", "work@n1")
            .await
            .expect_err("a user attached to the 9P export")
            .to_string()
    });
    assert!(e.contains("user alice is not a grid node"), "{e}");

    // Boom leaves nothing on the cpu.
    for env in ["clean.n1.alice", "work@n1"] {
        assert_eq!(grid.ok("alice", &["boom", env]), format!("{env} BOOMed\n"));
    }
    assert_cpu_empty(&data);

    // A restarted storage node keeps the saved names, and the cpu serves it.
    stop(sto);
    let (sto, said) = split.start_sto(None);
    assert!(!said.contains("seeded"), "seeded again: {said}");
    assert_eq!(grid.ok("alice", &["scores"]), "clean.n1.alice\nwork@n1\n");
    grid.ok("alice", &["spawn", "work@n1"]);
    assert_eq!(
        grid.ok("alice", &["attach", "work@n1", "cat", "/root/note"]),
        "written by alice\n"
    );

    // A storage node that dies leaves its environments on the cpu; its
    // next start has the cpu stop them, and resumes them (they were
    // running) from their last checkpoint.
    let mut sto = sto;
    sto.0.kill().unwrap();
    sto.0.wait().unwrap();
    let (sto, said) = split.start_sto(None);
    assert!(said.contains("resumed work@n1 for alice\n"), "{said}");
    assert_eq!(cpu_running(&split), ["work@n1"]);
    assert_eq!(
        grid.ok("alice", &["attach", "work@n1", "cat", "/root/note"]),
        "written by alice\n"
    );

    // Stopping the storage node booms its environments on the cpu.
    stop(sto);
    assert_cpu_empty(&data);
    stop(cpu);
    assert_eq!(mounts_below(&data), Vec::<String>::new());
}

/// What the cpu service runs, as the node asks it.
fn cpu_running(split: &Split) -> Vec<String> {
    let node = client_config(&split.grid.data.join(NODE_CRED)).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(CpuClient::new(&split.cpu, node).running())
        .unwrap()
}

/// No session process, mount or mount point of the cpu service is left.
fn assert_cpu_empty(data: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !session_helpers(CPU).is_empty() {
        assert!(Instant::now() < deadline, "session processes outlived boom");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(mounts_below(data), Vec::<String>::new());
    let envs_dir: PathBuf = data.join(CPU_ENVS_DIR);
    let left: Vec<_> = std::fs::read_dir(&envs_dir).unwrap().collect();
    assert!(left.is_empty(), "left in {}: {left:?}", envs_dir.display());
}
