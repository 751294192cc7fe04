//! The grid end to end through the binaries, over real sockets: `colony
//! init`/`adduser`, `colony up --seed` (a minimal root tree with dash and a
//! few coreutils), `gridorc` one-shot and interactive, `gridorc attach`
//! and `colony cpu` into real sessions rooted in FUSE-mounted fossils.
//! Needs root and /dev/fuse; without them the test says so and passes,
//! except under CI (env `CI` set), where it fails.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::grid::{
    GRIDORC, Grid, envs, init_node, mounts_below, session_helpers, start_until, stop,
};
use support::*;

/// `colony up` on a data directory, and its users.
struct Node {
    grid: Grid,
    up: Option<Killed>,
}

impl std::ops::Deref for Node {
    type Target = Grid;

    fn deref(&self) -> &Grid {
        &self.grid
    }
}

impl Node {
    /// Starts `colony up` and waits for its connect instructions.
    fn start(&mut self, seed: Option<&Path>) -> String {
        let (up, said) = start_until(self.grid.up(seed), "then:");
        self.up = Some(up);
        said
    }

    /// Stops `colony up` with SIGTERM; it must exit 0.
    fn stop(&mut self) {
        stop(self.up.take().expect("running"));
    }
}

#[test]
fn two_users_on_one_node() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, seed) = init_node(tmp.path(), &["alice", "bob", "bobby"]);
    std::fs::write(
        data.join("limits"),
        "limits sessions-per-node=4 sessions-per-user=2\n",
    )
    .unwrap();
    let mut node = Node {
        grid: Grid {
            data: data.clone(),
            addr: loopback(),
            netns: None,
        },
        up: None,
    };
    let said = node.start(Some(&seed));
    assert!(said.contains("seeded clean.n1"), "{said}");
    // Its output is a pipe, not a terminal: the seed reports in lines.
    for progress in ["seed: counting what to import from ", "seed: importing "] {
        assert!(said.lines().any(|l| l.starts_with(progress)), "{said}");
    }
    assert!(
        said.contains(&format!(
            "gridorc --cred {} --addr {}",
            node.cred("admin").display(),
            node.addr
        )),
        "{said}"
    );

    // A spawns, writes through the cpu client, saves, spawns the saved
    // name and finds the write.
    assert_eq!(node.ok("alice", &["scores"]), "clean.n1.alice\n");
    let spawned = node.ok("alice", &["spawn", "clean.n1.alice"]);
    let attach = format!(
        "attach with: gridorc --cred {} --addr {} attach clean.n1.alice\n",
        node.cred("alice").display(),
        node.addr
    );
    assert!(spawned.ends_with(&attach), "{spawned}");
    let status = node.ok("alice", &["status"]);
    assert!(
        status.starts_with("active grid namespaces for alice\n"),
        "{status}"
    );
    let (_, cpu) = envs(&status).remove(0);
    let wrote = colony(&[
        "cpu",
        "--cred",
        node.cred("alice").to_str().unwrap(),
        "--addr",
        &cpu,
        "sh",
        "-c",
        "echo written by alice > /root/note && cat /root/note",
    ]);
    assert_eq!(ok(wrote), "written by alice\n");
    node.save_respawn_and_read_note("alice", "written by alice\n");

    // A invites B; B spawns the invite name and finds the same state.
    let invited = node.ok("alice", &["invite", "bob", "work@n1"]);
    let invite_name = invited
        .strip_suffix(" saved for bob\n")
        .unwrap_or_else(|| panic!("{invited}"))
        .to_string();
    let bob_scores = node.ok("bob", &["scores"]);
    assert_eq!(
        bob_scores,
        format!("clean.n1.bob\n{invite_name}\t(invited by alice)\n")
    );
    assert!(!node.ok("alice", &["scores"]).contains(&invite_name));
    node.ok("bob", &["spawn", &invite_name]);
    assert_eq!(
        node.ok("bob", &["attach", &invite_name, "cat", "/root/note"]),
        "written by alice\n"
    );

    // B cannot spawn A's names, attach to A's environment or boom it;
    // bobby is not bob.
    let e = node.refused("bob", &["spawn", "work@n1"]);
    assert!(e.contains("work@n1 not found"), "{e}");
    node.refused("bobby", &["spawn", &invite_name]);
    let e = node.refused("bob", &["attach", "work@n1", "true"]);
    assert!(e.contains("not one of your running environments"), "{e}");
    let e = node.refused("bob", &["boom", "work@n1"]);
    assert!(e.contains("work@n1"), "{e}");
    node.refused("bob", &["save", "work@n1", "mine"]);
    let alice_cpu = envs(&node.ok("alice", &["status"]))
        .into_iter()
        .find(|(n, _)| n == "work@n1")
        .unwrap()
        .1;
    let sneak = colony(&[
        "cpu",
        "--cred",
        node.cred("bob").to_str().unwrap(),
        "--addr",
        &alice_cpu,
        "true",
    ]);
    assert!(!sneak.status.success(), "bob got into alice's environment");

    // No certificate, or one from another grid: refused.
    let out = Command::new(GRIDORC)
        .args([
            "--cred",
            "/nonexistent.cred",
            "--addr",
            &node.addr,
            "scores",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let other = tmp.path().join("other");
    let o = other.to_str().unwrap();
    ok(colony(&[
        "init", "--data", o, "--node", "n2", "--admin", "alice",
    ]));
    let out = Command::new(GRIDORC)
        .arg("--cred")
        .arg(other.join("users/alice.cred"))
        .args(["--addr", &node.addr, "scores"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a foreign certificate was accepted");

    // Limits: alice runs 2 of 2.
    node.ok("alice", &["save", "work@n1", "more"]);
    let e = node.refused("alice", &["spawn", "more@n1"]);
    assert!(e.contains("limit reached"), "{e}");
    let e = node.refused("alice", &["spawn", "clean.n1.alice"]);
    assert!(e.contains("already running"), "{e}");
    let e = node.refused("alice", &["spawn"]);
    assert!(e.contains("usage: spawn SCORENAME"), "{e}");

    // The interactive mode reads commands from its input too.
    let mut child = Command::new(GRIDORC)
        .arg("--cred")
        .arg(node.cred("alice"))
        .args(["--addr", &node.addr, "--history"])
        .arg(tmp.path().join("history"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"scores more\nboom more@n1\nexit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(colony_core::rpc::MENU), "{text}");
    assert!(text.contains("more@n1\n"), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("more@n1"),
        "boom of a name that is not running says so"
    );

    // Boom leaves nothing running.
    for (user, env) in [
        ("alice", "clean.n1.alice"),
        ("alice", "work@n1"),
        ("bob", invite_name.as_str()),
    ] {
        assert_eq!(node.ok(user, &["boom", env]), format!("{env} BOOMed\n"));
    }
    for user in ["alice", "bob"] {
        assert_eq!(
            node.ok(user, &["status"]),
            format!("active grid namespaces for {user}\n")
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !session_helpers(COLONY).is_empty() {
        assert!(Instant::now() < deadline, "session processes outlived boom");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(mounts_below(&data), Vec::<String>::new());

    // A restart keeps every name and block.
    node.stop();
    let said = node.start(None);
    assert!(
        !said.contains("seeded"),
        "the second up seeded again: {said}"
    );
    let scores = node.ok("alice", &["scores"]);
    assert_eq!(scores, "clean.n1.alice\nmore@n1\nwork@n1\n");
    node.ok("alice", &["spawn", "more@n1"]);
    assert_eq!(
        node.ok("alice", &["attach", "more@n1", "cat", "/root/note"]),
        "written by alice\n"
    );
    node.stop();
    assert_eq!(mounts_below(&data), Vec::<String>::new());
    assert_eq!(session_helpers(COLONY), Vec::<String>::new());
}

/// A second node joins node A's grid (`colony node add` on A, `colony init
/// --join` on B): B serves A's users with the credentials A made, and B's
/// certificate is the grid CA's; another grid's users are refused.
#[test]
fn a_node_joins_the_grid() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a_data, seed) = init_node(tmp.path(), &[]);
    let a = a_data.to_str().unwrap();
    let join = tmp.path().join("n2.join");
    let said = ok(colony(&[
        "node",
        "add",
        "--data",
        a,
        "--node",
        "n2",
        "-o",
        join.to_str().unwrap(),
    ]));
    assert!(said.starts_with("join file for node n2: "), "{said}");
    let b_data = tmp.path().join("b");
    let said = ok(colony(&[
        "init",
        "--data",
        b_data.to_str().unwrap(),
        "--join",
        join.to_str().unwrap(),
    ]));
    assert!(said.starts_with(&format!("initialised {} as node n2\n", b_data.display())));
    // Made on A after B joined: users are the grid's, not a node's.
    ok(colony(&["adduser", "--data", a, "alice"]));

    let mut b = Node {
        grid: Grid {
            data: b_data.clone(),
            addr: loopback(),
            netns: None,
        },
        up: None,
    };
    let said = b.start(Some(&seed));
    assert!(said.contains("colony node n2 serving the grid"), "{said}");
    // gridorc trusts only the CA in alice's credential (A's), and B
    // accepts her certificate.
    let a_users_at_b = Grid {
        data: a_data.clone(),
        addr: b.addr.clone(),
        netns: None,
    };
    assert_eq!(
        a_users_at_b.ok("alice", &["status"]),
        "active grid namespaces for alice\n"
    );
    let a_ca = colony_core::identity::Ca::load(&a_data)
        .unwrap()
        .cert()
        .unwrap();
    let b_cred = colony_core::identity::Credential::load(&b_data.join("node.cred")).unwrap();
    assert_eq!(
        colony_core::identity::verify_node(&b_cred.cert, &a_ca).unwrap(),
        colony_core::NodeId::new("n2").unwrap()
    );

    let other = tmp.path().join("other");
    ok(colony(&[
        "init",
        "--data",
        other.to_str().unwrap(),
        "--admin",
        "alice",
    ]));
    let foreign = Grid {
        data: other,
        addr: b.addr.clone(),
        netns: None,
    };
    foreign.refused("alice", &["status"]);
    b.stop();
}

/// Named shells (issue 16) through the binaries: the gridorc that started
/// a shell is killed in the middle of its output; another gridorc process
/// reattaches and gets every line, those written with nobody attached
/// included, once each; `shells` lists it and `--kill` ends it.
#[test]
fn a_named_shell_outlives_a_killed_gridorc() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, seed) = init_node(tmp.path(), &["alice"]);
    let mut node = Node {
        grid: Grid {
            data,
            addr: loopback(),
            netns: None,
        },
        up: None,
    };
    node.start(Some(&seed));
    node.ok("alice", &["spawn", "clean.n1.alice"]);
    // 30 batches of 100 lines, a tenth of a second apart.
    let script = "for i in $(seq 1 30); do seq -f \"line $i.%g\" 1 100; sleep 0.1; done; \
                  echo done; exec sleep 1000";
    let shell = |extra: &[&str]| {
        let mut cmd = Command::new(GRIDORC);
        cmd.arg("--cred")
            .arg(node.cred("alice"))
            .args(["--addr", &node.addr, "attach", "clean.n1.alice"])
            .args(["--shell", "job"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        Killed(cmd.spawn().unwrap())
    };
    let mut first = shell(&["sh", "-c", script]);
    let seen = read_until(&mut first, "line 3.1\r\n");
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    assert!(seen.starts_with("line 1.1\r\n"), "{seen}");
    let listed = node.ok("alice", &["shells", "clean.n1.alice"]);
    assert!(listed.starts_with("label\tclients\tbuffered\tage\tcommand\njob\t"));
    assert!(listed.ends_with(&format!("\tsh -c {script}\n")), "{listed}");

    let t = Instant::now();
    let mut again = shell(&[]);
    let all = read_until(&mut again, "done\r\n");
    println!("gridorc reattached to `done` in {:?}", t.elapsed());
    let want: Vec<String> = (1..=30)
        .flat_map(|i| (1..=100).map(move |j| format!("line {i}.{j}")))
        .collect();
    let got: Vec<&str> = all
        .split("\r\n")
        .filter(|l| l.starts_with("line "))
        .collect();
    assert_eq!(got, want);
    drop(again);

    node.ok(
        "alice",
        &["attach", "clean.n1.alice", "--shell", "job", "--kill"],
    );
    assert_eq!(
        node.ok("alice", &["shells", "clean.n1.alice"]),
        "no shells in clean.n1.alice\n"
    );
    let other = node.refused("alice", &["shells", "work@n1"]);
    assert!(
        other.contains("not one of your running environments"),
        "{other}"
    );
    node.stop();
}

/// Reads a child's standard output until `want` appears (60 s at most).
fn read_until(child: &mut Killed, want: &str) -> String {
    use std::io::Read;
    let out = child.0.stdout.as_mut().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(want) {
        assert!(Instant::now() < deadline, "no {want:?}");
        let n = out.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "ended before {want:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(seen).unwrap()
}
