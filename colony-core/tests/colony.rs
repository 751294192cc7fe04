//! `Colony` end to end with real sessions: FUSE-mounted fossils, Linux
//! namespaces, cpu listeners over mutual TLS on real sockets, an arena
//! store and redb names in a real data directory. Needs root and
//! `/dev/fuse` (skips with a message elsewhere; fails when `CI` is set).
//!
//! The test binary is its own session helper (`helper_args =
//! ["session-helper"]`, as the `colony` binary does), so it has its own
//! `main` (`harness = false`): the tests run one after another, named on
//! the command line to pick some.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use colony_core::colony::EnvInfo;
use colony_core::identity::{Credential, revoked, user_credential};
use colony_core::rpc::{GridClient, GridServer};
use colony_core::{Colony, ColonyConfig, Error, UserName};
use colony_ns::cpu::Identity;
use colony_ns::cpu::client::{Target, run_command};
use colony_ns::cpu::shell_client::{self, AttachedShell, ShellOutput};
use colony_ns::session::{CommandSpec, ExitStatus, LinuxConfig, WindowSize, testroot};
use common::user;
use rustls::pki_types::PrivateKeyDer;

mod common;

const HELPER_ARG: &str = "session-helper";

/// The terminal size of named shells here.
const SIZE: WindowSize = WindowSize { rows: 24, cols: 80 };

fn main() {
    if std::env::args().nth(1).as_deref() == Some(HELPER_ARG) {
        colony_ns::session::helper_main();
    }
    if !testroot::sessions_possible(true) {
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tests: [Case; 8] = [
        ("spawn_write_save_respawn_and_invite", || {
            Box::pin(spawn_write_save_respawn_and_invite())
        }),
        ("others_are_refused", || Box::pin(others_are_refused())),
        ("boom_leaves_nothing_running", || {
            Box::pin(boom_leaves_nothing_running())
        }),
        ("reopening_keeps_names_and_blocks", || {
            Box::pin(reopening_keeps_names_and_blocks())
        }),
        ("dropping_the_colony_stops_its_environments", || {
            Box::pin(dropping_the_colony_stops_its_environments())
        }),
        ("a_revocation_bites_within_two_seconds", || {
            Box::pin(a_revocation_bites_within_two_seconds())
        }),
        ("an_unprivileged_host_account_reaches_nothing", || {
            Box::pin(an_unprivileged_host_account_reaches_nothing())
        }),
        (
            "named_shells_are_the_owners_and_end_with_the_environment",
            || Box::pin(named_shells_are_the_owners_and_end_with_the_environment()),
        ),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        runtime.block_on(test());
        println!("test {name} ... ok");
    }
}

/// One test's future.
type Test = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;
/// A test's name and how to start it.
type Case = (&'static str, fn() -> Test);

/// A node `n1` in a temporary data directory with users admin, alice and
/// bob, seeded with the minimal test root.
struct Node {
    dir: tempfile::TempDir,
    colony: Arc<Colony>,
}

impl Node {
    fn new() -> Node {
        let dir = common::node(&["alice", "bob"]);
        let colony = Colony::open(config(dir.path())).unwrap();
        let score = testroot::snapshot(&*colony.store(), testroot::PROGRAMS).unwrap();
        colony.seed(&user("admin"), score).unwrap();
        for u in ["alice", "bob"] {
            colony.grant_seed(&user(u)).unwrap();
        }
        Node {
            dir,
            colony: Arc::new(colony),
        }
    }

    /// `who` spawns their own clean environment, `clean.n1.<who>`, with
    /// no disk store.
    async fn spawn_clean(&self, who: &UserName) -> EnvInfo {
        let name = format!("clean.n1.{who}");
        self.colony.spawn(who, &name, false).await.unwrap()
    }

    /// Runs `sh -c script` in `info`'s environment through its cpu
    /// listener as `who`; returns the exit status and stdout, or the
    /// client's error.
    async fn sh(
        &self,
        who: &str,
        info: &EnvInfo,
        script: &str,
    ) -> colony_ns::Result<(ExitStatus, String)> {
        let target = self.target(who, info);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let status = tokio::time::timeout(
            Duration::from_secs(60),
            run_command(
                &target,
                CommandSpec::new(["/bin/sh", "-c", script]),
                tokio::io::empty(),
                &mut out,
                &mut err,
                false,
            ),
        )
        .await
        .expect("command timed out")?;
        Ok((status, String::from_utf8(out).unwrap()))
    }

    /// How `who` reaches `info`'s cpu listener.
    fn target(&self, who: &str, info: &EnvInfo) -> Target {
        Target {
            addr: info.cpu_addr.clone(),
            server_name: "localhost".into(),
            identity: identity(&user_credential(self.dir.path(), &user(who))),
        }
    }

    /// alice starts the named shell `label` in `info`'s environment
    /// running `sh -c script`, and reads until it prints `ready`.
    async fn shell(&self, info: &EnvInfo, label: &str, script: &str) -> AttachedShell {
        let command = CommandSpec::new(["/bin/sh", "-c", script]);
        let target = self.target("alice", info);
        let mut shell = shell_client::attach(&target, label, "xterm", SIZE, Some(command))
            .await
            .unwrap();
        assert!(shell.started());
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("ready") {
            match shell.recv().await.unwrap() {
                ShellOutput::Bytes(b) => seen.extend_from_slice(&b),
                other => panic!("{other:?}"),
            }
        }
        shell
    }

    /// [`sh`](Node::sh) that must succeed.
    async fn ok(&self, who: &str, info: &EnvInfo, script: &str) -> String {
        let (status, out) = self.sh(who, info, script).await.unwrap();
        assert_eq!(status, ExitStatus::Code(0), "{script}: {out}");
        out
    }
}

fn config(dir: &Path) -> ColonyConfig {
    ColonyConfig {
        data_dir: dir.to_path_buf(),
        cpu_host: "127.0.0.1".into(),
        helper: LinuxConfig {
            helper_args: vec![HELPER_ARG.into()],
            ..LinuxConfig::new(std::env::current_exe().unwrap())
        },
        seed: None,
    }
}

/// A user's credential file as the cpu client's PEM identity.
fn identity(path: &Path) -> Identity {
    let cred = Credential::load(path).unwrap();
    let pem = |label: &str, der: &[u8]| pem::encode(&pem::Pem::new(label, der.to_vec()));
    let key_label = match cred.key {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    Identity {
        ca_pem: pem("CERTIFICATE", &cred.ca),
        cert_pem: pem("CERTIFICATE", &cred.cert),
        key_pem: pem(key_label, cred.key.secret_der()),
    }
}

/// Mounts in this process's namespace under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(dir))
        .map(String::from)
        .collect()
}

/// Host processes whose command line is exactly `argv`.
fn processes(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

async fn spawn_write_save_respawn_and_invite() {
    let node = Node::new();
    let (alice, bob) = (user("alice"), user("bob"));
    let info = node.spawn_clean(&alice).await;
    assert!(info.cpu_addr.starts_with("127.0.0.1:"), "{info:?}");
    assert_eq!(
        node.ok("alice", &info, "hostname").await,
        "clean.n1.alice\n"
    );
    node.ok(
        "alice",
        &info,
        "mkdir /work && echo written in a session > /work/note",
    )
    .await;
    let saved = node
        .colony
        .save(&alice, "clean.n1.alice", "work")
        .await
        .unwrap();
    assert_eq!(saved.name.as_str(), "work@n1");

    let again = node.colony.spawn(&alice, "work@n1", false).await.unwrap();
    assert_ne!(again.cpu_addr, info.cpu_addr);
    assert_eq!(
        node.ok("alice", &again, "cat /work/note").await,
        "written in a session\n"
    );
    // The original environment still runs, unchanged by the other one.
    node.ok("alice", &info, "echo only here > /work/other")
        .await;
    let (_, out) = node.sh("alice", &again, "ls /work").await.unwrap();
    assert_eq!(out, "note\n");

    // Invite bob, who spawns his own name for the snapshot.
    let invite = node
        .colony
        .invite(&alice, &bob, "clean.n1.alice")
        .await
        .unwrap();
    assert_eq!(invite.owner, bob);
    let theirs = node
        .colony
        .spawn(&bob, invite.name.as_str(), false)
        .await
        .unwrap();
    assert_eq!(
        node.ok("bob", &theirs, "cat /work/note /work/other").await,
        "written in a session\nonly here\n"
    );
    assert_eq!(node.colony.status(&alice).unwrap().len(), 2);
    let status = node.colony.status(&bob).unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        (&status[0].name, &status[0].cpu_addr),
        (&theirs.name, &theirs.cpu_addr)
    );
    assert!(status[0].local_bytes > 0);
    node.colony.shutdown().await.unwrap();
}

async fn others_are_refused() {
    let node = Node::new();
    let (alice, bob) = (user("alice"), user("bob"));
    let info = node.spawn_clean(&alice).await;
    // bob's certificate is valid, but the listener lets in alice only.
    let refused = node.sh("bob", &info, "echo in").await.unwrap_err();
    assert!(
        refused.to_string().contains("bob does not own"),
        "{refused}"
    );
    assert!(matches!(
        node.colony.boom(&bob, "clean.n1.alice").await,
        Err(Error::NotRunning(_))
    ));
    assert!(matches!(
        node.colony.spawn(&bob, "clean.n1.alice", false).await,
        Err(Error::NameNotFound(_))
    ));
    node.ok("alice", &info, "true").await;
    node.colony.shutdown().await.unwrap();
}

async fn boom_leaves_nothing_running() {
    let node = Node::new();
    let alice = user("alice");
    let envs = node.dir.path().join("envs");
    let mem = node.spawn_clean(&alice).await;
    node.colony
        .save(&alice, "clean.n1.alice", "disk")
        .await
        .unwrap();
    let disk = node.colony.spawn(&alice, "disk@n1", true).await.unwrap();
    assert!(disk.disk);
    assert!(envs.join("disk@n1.local").is_file());
    for (info, n) in [(&mem, "4321"), (&disk, "4322")] {
        node.ok("alice", info, &format!("sleep {n} >/dev/null 2>&1 &"))
            .await;
    }
    assert_eq!(processes(&["sleep", "4321"]).len(), 1);
    assert_eq!(mounts_under(&envs).len(), 2, "{:?}", mounts_under(&envs));

    node.colony.boom(&alice, "clean.n1.alice").await.unwrap();
    node.colony.boom(&alice, "disk@n1").await.unwrap();
    assert!(node.colony.status(&alice).unwrap().is_empty());
    assert!(processes(&["sleep", "4321"]).is_empty());
    assert!(processes(&["sleep", "4322"]).is_empty());
    assert_eq!(mounts_under(&envs), Vec::<String>::new());
    assert_eq!(std::fs::read_dir(&envs).unwrap().count(), 0);
    // The cpu listener is gone too.
    assert!(node.sh("alice", &mem, "true").await.is_err());
    // Every saved name stays, and spawns again.
    let back = node.colony.spawn(&alice, "disk@n1", false).await.unwrap();
    node.ok("alice", &back, "true").await;
    node.colony.shutdown().await.unwrap();
    assert_eq!(mounts_under(&envs), Vec::<String>::new());
}

async fn reopening_keeps_names_and_blocks() {
    let Node { dir, colony } = Node::new();
    let alice = user("alice");
    let info = colony.spawn(&alice, "clean.n1.alice", false).await.unwrap();
    let node = Node { dir, colony };
    node.ok("alice", &info, "echo kept > /root/kept").await;
    node.colony
        .save(&alice, "clean.n1.alice", "kept")
        .await
        .unwrap();
    let names = node.colony.names().all().unwrap();
    node.colony.shutdown().await.unwrap();
    let Node { dir, colony } = node;
    drop(colony);

    let colony = Arc::new(Colony::open(config(dir.path())).unwrap());
    assert_eq!(colony.names().all().unwrap(), names);
    let node = Node { dir, colony };
    let info = node.colony.spawn(&alice, "kept@n1", false).await.unwrap();
    assert_eq!(node.ok("alice", &info, "cat /root/kept").await, "kept\n");
    node.colony.shutdown().await.unwrap();
}

async fn dropping_the_colony_stops_its_environments() {
    let Node { dir, colony } = Node::new();
    let alice = user("alice");
    let info = colony.spawn(&alice, "clean.n1.alice", false).await.unwrap();
    let node = Node { dir, colony };
    node.ok("alice", &info, "sleep 4323 >/dev/null 2>&1 &")
        .await;
    let Node { dir, colony } = node;
    drop(colony);
    let envs = dir.path().join("envs");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(mounts_under(&envs).is_empty() && processes(&["sleep", "4323"]).is_empty()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still running: {:?}",
            mounts_under(&envs)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Revoking alice while she has a grid connection, a running command and
/// an environment: within 2 s the command ends, the connection is closed,
/// the environment is stopped (her names stay), and the grid refuses her
/// new connections; bob is untouched.
async fn a_revocation_bites_within_two_seconds() {
    let node = Node::new();
    let (alice, bob) = (user("alice"), user("bob"));
    let server = GridServer::bind("127.0.0.1:0", node.colony.clone())
        .await
        .unwrap();
    let addr = server.local_addr().to_string();
    let cred = |u: &UserName| user_credential(node.dir.path(), u);
    let mut grid = GridClient::connect(&cred(&alice), &addr).await.unwrap();
    let info = grid.spawn("clean.n1.alice", false).await.unwrap();
    let bobs = node.spawn_clean(&bob).await;
    let running = node.sh("alice", &info, "sleep 4324");

    let revoke_and_time = async {
        // Revoke once the command runs, then time how long until it ends.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while processes(&["sleep", "4324"]).is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        revoked::revoke(node.dir.path(), &alice).unwrap();
        tokio::time::Instant::now()
    };
    let (ended, revoked_at) = tokio::join!(running, revoke_and_time);
    let took = revoked_at.elapsed();
    println!("revocation: the command ended {took:?} after the file changed");
    assert!(
        took < Duration::from_secs(2),
        "the command ran {took:?} past the revocation"
    );
    assert!(
        !matches!(ended, Ok((ExitStatus::Code(0), _))),
        "the command finished normally: {ended:?}"
    );
    assert!(
        grid.scores(None).await.is_err(),
        "her connection stays open"
    );
    assert!(node.colony.status(&alice).unwrap().is_empty());
    assert!(
        node.colony
            .names()
            .all()
            .unwrap()
            .iter()
            .any(|r| r.name.to_string() == "clean.n1.alice" && r.owner == alice),
        "her names stay"
    );
    let again = GridClient::connect(&cred(&alice), &addr).await;
    let refused = match again {
        Err(_) => true,
        Ok(mut c) => c.scores(None).await.is_err(),
    };
    assert!(refused, "a new connection of hers was served");
    // Bob carries on.
    assert_eq!(node.ok("bob", &bobs, "echo still").await, "still\n");
    let mut bob_grid = GridClient::connect(&cred(&bob), &addr).await.unwrap();
    assert_eq!(bob_grid.status().await.unwrap().len(), 1);
    server.shutdown().await;
    node.colony.shutdown().await.unwrap();
}

/// From the host, as `nobody` (uid and gid 65534, no groups): the node's
/// data, a running environment's mounted root and its processes are all
/// out of reach. Each probe only reads or asks (`kill -0`).
async fn an_unprivileged_host_account_reaches_nothing() {
    let node = Node::new();
    let alice = user("alice");
    let info = node.spawn_clean(&alice).await;
    node.ok(
        "alice",
        &info,
        "echo private > /root/note && (sleep 4325 >/dev/null 2>&1 &)",
    )
    .await;
    let pid = processes(&["sleep", "4325"]);
    assert_eq!(pid.len(), 1, "{pid:?}");
    let dir = node.dir.path();
    let root = dir.join("envs").join("clean.n1.alice.root");
    assert!(root.join("root/note").exists(), "the probe's target exists");
    // std drops root's supplementary groups when it sets the uid.
    let as_nobody = |argv: &[&str]| {
        use std::os::unix::process::CommandExt;
        let out = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let probes = [
        vec!["/bin/ls".to_string(), dir.display().to_string()],
        vec![
            "/bin/cat".into(),
            dir.join("names.redb").display().to_string(),
        ],
        vec![
            "/bin/cat".into(),
            root.join("root/note").display().to_string(),
        ],
        vec![
            "/bin/cat".into(),
            format!("/proc/{}/root/root/note", pid[0]),
        ],
        vec!["/bin/cat".into(), format!("/proc/{}/environ", pid[0])],
        vec!["/bin/kill".into(), "-0".into(), pid[0].to_string()],
    ];
    for argv in &probes {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (ok, err) = as_nobody(&argv);
        assert!(!ok, "nobody ran {argv:?}");
        assert!(
            err.contains("Permission denied") || err.contains("Operation not permitted"),
            "{argv:?}: {err}"
        );
    }
    node.colony.shutdown().await.unwrap();
}

/// Waits (up to 10 s) until the attached `shell` ends, one way or another
/// (its status, or the listener going away), and its `sleep N` is gone.
async fn ends(mut shell: AttachedShell, sleep: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, shell.recv()).await {
            Ok(Ok(ShellOutput::Bytes(_) | ShellOutput::Skipped(_))) => {}
            Ok(_) => break,
            Err(_) => panic!(
                "the shell outlived its environment (sleep {sleep}: {:?})",
                processes(&["sleep", sleep])
            ),
        }
    }
    while !processes(&["sleep", sleep]).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sleep {sleep} runs on"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Named shells (issue 16): bob's certificate gets nothing from alice's
/// environment, nor does hers once revoked; `boom` ends her shells.
async fn named_shells_are_the_owners_and_end_with_the_environment() {
    let node = Node::new();
    let alice = user("alice");
    let info = node.spawn_clean(&alice).await;
    let shell = node
        .shell(&info, "job", "echo ready; exec sleep 4326")
        .await;
    let bob = node.target("bob", &info);
    for refused in [
        shell_client::list(&bob).await.map(drop),
        shell_client::kill(&bob, "job").await,
        shell_client::attach(&bob, "job", "xterm", SIZE, None)
            .await
            .map(drop),
    ] {
        let e = refused.unwrap_err();
        assert!(e.to_string().contains("bob does not own"), "{e}");
    }
    let hers = node.target("alice", &info);
    let (shells, restored) = shell_client::list(&hers).await.unwrap();
    assert!(!restored);
    assert_eq!(shells.len(), 1);
    assert_eq!(shells[0].clients, 1);
    // Revoked: her certificate no longer gets in (the environment runs
    // on here: no grid server enforces the revocation in this test).
    revoked::revoke(node.dir.path(), &alice).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while shell_client::list(&hers).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still let in");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(processes(&["sleep", "4326"]).len(), 1);
    node.colony.boom(&alice, "clean.n1.alice").await.unwrap();
    ends(shell, "4326").await;
    node.colony.shutdown().await.unwrap();
}
