//! What the grid's end-to-end tests share: a node's data directory and
//! grid address as its users reach it through `gridorc`, starting a node
//! binary until it serves, and what must be gone after `boom`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::netns::command_in;
use super::{COLONY, Killed, colony, ok};

/// The gridorc binary.
pub const GRIDORC: &str = env!("CARGO_BIN_EXE_gridorc");

/// A node as its users see it.
pub struct Grid {
    /// The node's data directory (users' credentials in `users/`).
    pub data: PathBuf,
    /// The grid server's address.
    pub addr: String,
    /// The network namespace the node's users run in (None: the test's).
    pub netns: Option<String>,
}

impl Grid {
    /// `user`'s credential file.
    pub fn cred(&self, user: &str) -> PathBuf {
        self.data.join(format!("users/{user}.cred"))
    }

    /// A command running `program` where the node's users are (in its
    /// network namespace, if it has one).
    pub fn command(&self, program: &str) -> Command {
        command_in(self.netns.as_deref(), program)
    }

    /// `colony up` serving this node (in its network namespace, if it
    /// has one), seeded from the tree `seed` if given.
    pub fn up(&self, seed: Option<&Path>) -> Command {
        let mut cmd = self.command(COLONY);
        cmd.args(["up", "--addr", &self.addr, "--data"])
            .arg(&self.data);
        if let Some(seed) = seed {
            cmd.arg("--seed").arg(seed);
        }
        cmd
    }

    /// `gridorc ARGS` as `user`.
    pub fn gridorc(&self, user: &str, args: &[&str]) -> Output {
        self.command(GRIDORC)
            .arg("--cred")
            .arg(self.cred(user))
            .args(["--addr", &self.addr])
            .args(args)
            .env_remove("COLONY_CRED")
            .stdin(Stdio::null())
            .output()
            .expect("run gridorc")
    }

    /// Standard output of a gridorc command that must succeed.
    pub fn ok(&self, user: &str, args: &[&str]) -> String {
        let out = self.gridorc(user, args);
        assert!(
            out.status.success(),
            "{user}: gridorc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `user` saves their clean environment as `work`, spawns `work@n1`
    /// and finds `/root/note` there saying `note`.
    pub fn save_respawn_and_read_note(&self, user: &str, note: &str) {
        let clean = format!("clean.n1.{user}");
        assert_eq!(self.ok(user, &["save", &clean, "work"]), "work@n1 saved\n");
        self.ok(user, &["spawn", "work@n1"]);
        assert_eq!(
            self.ok(user, &["attach", "work@n1", "cat", "/root/note"]),
            note
        );
    }

    /// Standard error of a gridorc command that must fail.
    pub fn refused(&self, user: &str, args: &[&str]) -> String {
        let out = self.gridorc(user, args);
        assert!(!out.status.success(), "{user}: gridorc {args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    }
}

/// A new grid's node `n1` made by `colony init` in `tmp/node`, with
/// `users` added by `colony adduser`, and the minimal test root built in
/// `tmp/seed` for `--seed`. Returns the data directory and the seed.
pub fn init_node(tmp: &Path, users: &[&str]) -> (PathBuf, PathBuf) {
    init_node_for(tmp, users, &[])
}

/// [`init_node`] with a node certificate also valid for `hostnames`.
pub fn init_node_for(tmp: &Path, users: &[&str], hostnames: &[&str]) -> (PathBuf, PathBuf) {
    let seed = tmp.join("seed");
    colony_ns::session::testroot::build(&seed, colony_ns::session::testroot::PROGRAMS)
        .expect("building the seed tree");
    let data = tmp.join("node");
    let d = data.to_str().unwrap();
    let mut init = vec!["init", "--data", d, "--node", "n1"];
    for h in hostnames {
        init.extend(["--hostname", h]);
    }
    ok(colony(&init));
    for u in users {
        ok(colony(&["adduser", "--data", d, u]));
    }
    (data, seed)
}

/// Starts `cmd` with its standard output piped and returns it once a line
/// starting with `ready` appeared, with everything it printed so far. Its
/// log (warnings and errors) goes to the test's standard error unless
/// `cmd` sends it elsewhere.
pub fn start_until(mut cmd: Command, ready: &str) -> (Killed, String) {
    cmd.env("RUST_LOG", "warn").stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("start the node");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let child = Killed(child);
    let mut said = String::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        said.push_str(&line);
        said.push('\n');
        if line.starts_with(ready) {
            return (child, said);
        }
    }
    panic!("the node ended before it was serving: {said}");
}

/// Stops a node with SIGTERM; it must exit 0.
pub fn stop(node: Killed) {
    stop_with(node, "-TERM");
}

/// Stops a node with `sig` (`-TERM`, `-INT`); it must exit 0.
pub fn stop_with(mut node: Killed, sig: &str) {
    super::signal(&node.0, sig);
    let status = node.0.wait().unwrap();
    assert!(status.success(), "node stopped with {sig}: {status:?}");
}

/// `status` lines as (name, cpu address).
pub fn envs(status: &str) -> Vec<(String, String)> {
    status
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split('\t');
            let name = f.next().unwrap().to_string();
            let cpu = f.next().unwrap().strip_prefix("cpu ").unwrap().to_string();
            (name, cpu)
        })
        .collect()
}

/// Mounts below `dir` in this mount namespace.
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(dir))
        .map(str::to_string)
        .collect()
}

/// Session helpers of `binary` still alive: `BINARY session-helper`
/// processes (every session's init is one, and so is every command's
/// entry helper).
pub fn session_helpers(binary: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let mut args = cmdline.split(|&b| b == 0);
        if args.next() == Some(binary.as_bytes()) && args.next() == Some(b"session-helper") {
            found.push(pid);
        }
    }
    found
}
