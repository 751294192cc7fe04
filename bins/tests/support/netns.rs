//! Network namespaces of a test's own, joined by veth through a bridge: a
//! hub namespace holds bridge `br0` (10.77.0.254, the nodes' default
//! route); node namespace i holds `eth0` with address 10.77.0.i/24, the
//! other end of the hub's `ni` on the bridge.
//!
//! Nothing is made in the host's network namespace: every link is created
//! inside the hub (`ip -n`) with its peer end moved straight into a node's
//! namespace, so a host interface or route is never named or touched.
//! Namespace names carry the test's pid and a sequence number, so runs and
//! tests never share one; dropping the [`Net`] (also when a test panics)
//! deletes every namespace it made, and their links go with them; a [`Net`]
//! also deletes namespaces left by test processes that no longer run (one
//! killed before its drop), so leftovers cannot accumulate.
//!
//! Processes join a namespace with `nsenter --net`, not `ip netns exec`:
//! that one also unshares the mount namespace and mounts a new /sys over
//! the host's, which hides the cgroup hierarchies under /sys/fs/cgroup that
//! the node's sessions are confined with, and the node's FUSE mounts would
//! be out of the test's sight.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What every namespace a test makes is called first.
const PREFIX: &str = "colonytest-";

/// The hub's address on its bridge: the nodes' default route, going
/// nowhere further.
const GATEWAY: &str = "10.77.0.254";

/// Where `ip netns add` puts the namespaces it names.
const NETNS_DIR: &str = "/run/netns";

/// Network namespaces for `n` nodes joined through a hub, deleted on drop.
pub struct Net {
    /// `PREFIX` + pid + sequence number: what every namespace name starts with.
    stem: String,
    /// The namespaces made so far, the hub first (what drop deletes).
    made: Vec<String>,
}

impl Net {
    /// `nodes` node namespaces on one bridge; or why they cannot be made
    /// here (not root, no `ip` or `nsenter`, a kernel without veth or
    /// bridges).
    pub fn new(nodes: usize) -> Result<Net, String> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        remove_leftovers();
        let mut net = Net {
            stem: format!(
                "{PREFIX}{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ),
            made: Vec::new(),
        };
        runs("nsenter")?;
        let hub = net.add("hub")?;
        ip(&hub, &["link", "add", "br0", "type", "bridge"])?;
        ip(
            &hub,
            &["addr", "add", &format!("{GATEWAY}/24"), "dev", "br0"],
        )?;
        ip(&hub, &["link", "set", "br0", "up"])?;
        for i in 1..=nodes {
            let ns = net.add(&format!("n{i}"))?;
            let port = format!("n{i}");
            ip(
                &hub,
                &[
                    "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
            ip(&hub, &["link", "set", &port, "master", "br0"])?;
            ip(&hub, &["link", "set", &port, "up"])?;
            let addr = format!("{}/24", Net::address(i));
            ip(&ns, &["addr", "add", &addr, "dev", "eth0"])?;
            ip(&ns, &["link", "set", "eth0", "up"])?;
            ip(&ns, &["link", "set", "lo", "up"])?;
            // Sessions' networks (pasta) need a routable interface.
            ip(&ns, &["route", "add", "default", "via", GATEWAY])?;
        }
        Ok(net)
    }

    /// The address of node `i` (1-based) in its namespace. Each `Net` has
    /// its own namespaces, so every one can use the same addresses.
    pub fn address(i: usize) -> String {
        format!("10.77.0.{i}")
    }

    /// The namespace of node `i` (1-based).
    pub fn node(&self, i: usize) -> String {
        format!("{}-n{i}", self.stem)
    }

    /// Takes node `i`'s link down (its port on the hub's bridge): a
    /// partition that drops its packets, with no reset, as a cut cable.
    pub fn cut(&self, i: usize) {
        ip(&self.hub(), &["link", "set", &format!("n{i}"), "down"]).unwrap();
    }

    /// Brings node `i`'s link up again.
    pub fn heal(&self, i: usize) {
        ip(&self.hub(), &["link", "set", &format!("n{i}"), "up"]).unwrap();
    }

    fn hub(&self) -> String {
        format!("{}-hub", self.stem)
    }

    /// `ip netns add STEM-SUFFIX`, remembered for drop.
    fn add(&mut self, suffix: &str) -> Result<String, String> {
        let ns = format!("{}-{suffix}", self.stem);
        run(Command::new("ip").args(["netns", "add", &ns]))?;
        self.made.push(ns.clone());
        Ok(ns)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Nodes first: deleting a node's namespace deletes its veth pair.
        for ns in self.made.iter().rev() {
            if let Err(e) = run(Command::new("ip").args(["netns", "delete", ns])) {
                eprintln!("{e}");
            }
        }
    }
}

/// A command that runs `program` in network namespace `ns`, or where the
/// test runs when `ns` is None.
pub fn command_in(ns: Option<&str>, program: impl AsRef<OsStr>) -> Command {
    match ns {
        None => Command::new(program),
        Some(ns) => {
            let mut cmd = Command::new("nsenter");
            cmd.arg(format!("--net={NETNS_DIR}/{ns}")).arg(program);
            cmd
        }
    }
}

/// Deletes namespaces named by a test process that no longer runs.
fn remove_leftovers() {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = run(Command::new("ip").args(["netns", "delete", &name]));
        }
    }
}

/// `ip -n NS ARGS`.
fn ip(ns: &str, args: &[&str]) -> Result<(), String> {
    run(Command::new("ip").args(["-n", ns]).args(args))
}

/// Whether `program` runs at all (found and executable).
fn runs(program: &str) -> Result<(), String> {
    run(Command::new(program).arg("--version"))
}

/// Runs `cmd`; its failure as text.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Node namespaces joined through a hub, or None after saying why not:
/// under CI (env `CI` set) they must be available.
pub fn net_or_skip(nodes: usize) -> Option<Net> {
    match Net::new(nodes) {
        Ok(net) => Some(net),
        Err(why) => {
            let why = format!("needs network namespaces (root, ip, nsenter): {why}");
            assert!(std::env::var_os("CI").is_none(), "under CI: {why}");
            eprintln!("skipping: {why}");
            None
        }
    }
}
