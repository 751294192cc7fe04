//! A grid of several nodes, as an operator makes one: node n1 by `colony
//! init`, n2, n3, ... by `colony node add` and `colony init --join`, each
//! run as `colony up --peer ...`; on loopback ports, or each in its own
//! network namespace of a [`Net`].

use std::path::{Path, PathBuf};

use super::grid::{Grid, init_node_for, start_until, stop};
use super::netns::Net;
use super::{Killed, colony, loopback, ok};

/// The grid port of a node in a network namespace (each has its own ports).
const NETNS_PORT: u16 = 16999;

/// A node of the test grid: its data directory and grid address.
pub struct Node {
    /// Its data directory.
    pub data: PathBuf,
    /// Its grid address.
    pub addr: String,
    /// Its network namespace (None: the test's).
    pub netns: Option<String>,
    /// `colony up`, while it runs.
    pub up: Option<Killed>,
}

impl Node {
    /// The node as its own users see it.
    fn grid(&self) -> Grid {
        Grid {
            data: self.data.clone(),
            addr: self.addr.clone(),
            netns: self.netns.clone(),
        }
    }

    /// Starts `colony up` with `peers` and waits until it serves.
    pub fn start(&mut self, seed: &Path, peers: &[&str]) {
        let mut cmd = self.grid().up(Some(seed));
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

/// Starts every node, node i peering with the nodes `peers[i]` lists
/// (indices into `nodes`).
pub fn start_all(nodes: &mut [Node], seed: &Path, peers: &[&[usize]]) {
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    for (node, peers) in nodes.iter_mut().zip(peers) {
        let peers: Vec<&str> = peers.iter().map(|&p| addrs[p].as_str()).collect();
        node.start(seed, &peers);
    }
}

/// Two nodes, each the other's peer.
pub const PAIR: [&[usize]; 2] = [&[1], &[0]];

/// A chain of three: n1 - n2 - n3 (n2 relays).
pub const CHAIN: [&[usize]; 3] = [&[1], &[0, 2], &[1]];

/// Three nodes, each peering with both others.
pub const MESH: [&[usize]; 3] = [&[1, 2], &[0, 2], &[0, 1]];

/// Node n1 (users `alice`) and `joined` more nodes n2, n3, ... of its
/// grid on loopback ports, none running; and the seed tree.
pub fn grid(tmp: &Path, joined: usize) -> (Vec<Node>, PathBuf) {
    grid_at(tmp, (0..=joined).map(|_| (loopback(), None)).collect())
}

/// The grid of [`grid`] with node i in `net`'s namespace of node i, at its
/// address there: nodes n1 to n`nodes`, each certificate valid for it.
pub fn grid_in(tmp: &Path, net: &Net, nodes: usize) -> (Vec<Node>, PathBuf) {
    let places = (1..=nodes)
        .map(|i| {
            let addr = format!("{}:{NETNS_PORT}", Net::address(i));
            (addr, Some(net.node(i)))
        })
        .collect();
    grid_at(tmp, places)
}

/// Nodes n1, n2, ... at `places` (grid address, network namespace); a node
/// in a namespace has a certificate valid for its address there.
fn grid_at(tmp: &Path, places: Vec<(String, Option<String>)>) -> (Vec<Node>, PathBuf) {
    let hostnames: Vec<Vec<&str>> = places
        .iter()
        .map(|(addr, netns)| match netns {
            Some(_) => vec![addr.rsplit_once(':').unwrap().0],
            None => vec![],
        })
        .collect();
    let (a, seed) = init_node_for(tmp, &["alice"], &hostnames[0]);
    let mut nodes = vec![a];
    for (i, hostnames) in hostnames.iter().enumerate().skip(1) {
        let i = i + 1;
        let join = tmp.join(format!("n{i}.join"));
        let node = format!("n{i}");
        let mut add = vec![
            "node",
            "add",
            "--data",
            nodes[0].to_str().unwrap(),
            "--node",
            &node,
            "-o",
            join.to_str().unwrap(),
        ];
        for h in hostnames {
            add.extend(["--hostname", h]);
        }
        ok(colony(&add));
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
        .zip(places)
        .map(|(data, (addr, netns))| Node {
            data,
            addr,
            netns,
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
        ..node.grid()
    }
}
