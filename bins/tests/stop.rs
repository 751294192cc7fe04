//! A `colony up` stopped with SIGTERM, or SIGINT (Ctrl-C), exits 0 and
//! leaves nothing behind: no FUSE mount under its data directory, no
//! session helper, no failed unmount in its log. Its environments are
//! checkpointed and recorded, so the next start resumes them with what
//! was written, synced or not. Needs root and /dev/fuse; without them the
//! test says so and passes, except under CI (env `CI` set), where it fails.

use std::fs::File;
use std::path::Path;
use std::process::Command;

mod support;
use support::grid::{Grid, init_node, mounts_below, session_helpers, start_until, stop_with};
use support::*;

#[test]
fn a_stopped_node_leaves_nothing_mounted_and_resumes_its_environments() {
    if !can_mount() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, seed) = init_node(tmp.path(), &["alice"]);
    let grid = Grid {
        data: data.clone(),
        addr: loopback(),
        netns: None,
    };
    let log = tmp.path().join("up.log");
    let up = |seed: Option<&Path>| {
        let mut cmd = Command::new(COLONY);
        cmd.args(["up", "--addr", &grid.addr, "--data"]).arg(&data);
        if let Some(seed) = seed {
            cmd.arg("--seed").arg(seed);
        }
        cmd.stderr(File::create(&log).unwrap());
        start_until(cmd, "then:")
    };
    let env = "clean.n1.alice";
    let (mut node, _) = up(Some(&seed));
    grid.ok("alice", &["spawn", env]);
    let mut written = String::new();
    for sig in ["-TERM", "-INT"] {
        // Never synced: the stop's checkpoint keeps it.
        let line = format!("before {sig}\n");
        written.push_str(&line);
        let script = format!("printf '{line}' >> /root/note");
        grid.ok("alice", &["attach", env, "sh", "-c", &script]);
        assert_eq!(mounts_below(&data).len(), 1, "{:?}", mounts_below(&data));

        stop_with(node, sig);
        assert_eq!(mounts_below(&data), Vec::<String>::new(), "after {sig}");
        assert_eq!(session_helpers(COLONY), Vec::<String>::new(), "after {sig}");
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(!logged.contains("mount"), "after {sig}: {logged}");
        let running = std::fs::read_dir(data.join("running")).unwrap().count();
        assert_eq!(running, 1, "the stopped environment stays recorded");

        let said;
        (node, said) = up(None);
        assert!(
            said.contains(&format!("resumed {env} for alice\n")),
            "{said}"
        );
        assert_eq!(
            grid.ok("alice", &["attach", env, "cat", "/root/note"]),
            written
        );
    }
    stop_with(node, "-TERM");
    assert_eq!(mounts_below(&data), Vec::<String>::new());
}
