//! A grid of several nodes on loopback ports, as an operator makes one:
//! node n1 by `colony init`, n2, n3, ... by `colony node add` and `colony
//! init --join`, each run as `colony up --peer ...`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::grid::{Grid, init_node, start_until, stop};
use super::{COLONY, Killed, colony, loopback, ok};

/// A node of the test grid: its data directory and grid address.
pub struct Node {
    /// Its data directory.
    pub data: PathBuf,
    /// Its grid address.
    pub addr: String,
    /// `colony up`, while it runs.
    pub up: Option<Killed>,
}

impl Node {
    /// Starts `colony up` with `peers` and waits until it serves.
    pub fn start(&mut self, seed: &Path, peers: &[&str]) {
        let mut cmd = Command::new(COLONY);
        cmd.args(["up", "--addr", &self.addr, "--data"])
            .arg(&self.data)
            .arg("--seed")
            .arg(seed);
        for p in peers {
            cmd.args(["--peer", p]);
        }
        self.up = Some(start_until(cmd, "then:").0);
    }

    /// Kills `colony up` with SIGKILL.
    pub fn kill(&mut self) {
        let mut up = self.up.take().expect("running");
        up.0.kill().unwrap();
        up.0.wait().unwrap();
    }

    /// Stops `colony up` with SIGTERM; it must exit 0.
    pub fn stop(&mut self) {
        stop(self.up.take().expect("running"));
    }
}

/// Node n1 (users `alice`) and `joined` more nodes n2, n3, ... of its
/// grid, none running; and the seed tree.
pub fn grid(tmp: &Path, joined: usize) -> (Vec<Node>, PathBuf) {
    let (a, seed) = init_node(tmp, &["alice"]);
    let mut nodes = vec![a];
    for i in 2..2 + joined {
        let join = tmp.join(format!("n{i}.join"));
        let node = format!("n{i}");
        ok(colony(&[
            "node",
            "add",
            "--data",
            nodes[0].to_str().unwrap(),
            "--node",
            &node,
            "-o",
            join.to_str().unwrap(),
        ]));
        let data = tmp.join(&node);
        ok(colony(&[
            "init",
            "--data",
            data.to_str().unwrap(),
            "--join",
            join.to_str().unwrap(),
        ]));
        nodes.push(data);
    }
    let nodes = nodes
        .into_iter()
        .map(|data| Node {
            data,
            addr: loopback(),
            up: None,
        })
        .collect();
    (nodes, seed)
}

/// alice as users of `node` see her (her credential is the grid's, made
/// on n1).
pub fn alice_at(n1: &Node, node: &Node) -> Grid {
    Grid {
        data: n1.data.clone(),
        addr: node.addr.clone(),
    }
}
