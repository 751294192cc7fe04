//! What a session is made of: its name, its root, host directories bound
//! into it, its resource limits, and the commands run in it.

use super::confine::Policy;
use super::network::Network;
use crate::IdRange;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a session's root tree comes from.
///
/// `Dir` is a directory that is already a mount point or a plain directory.
/// A variant that mounts a [`crate::FileSystem`] with FUSE inside the helper
/// and pivots into it belongs here too; the helper then owns the mount, so it
/// disappears with the session's mount namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Root {
    /// An existing directory tree on the host.
    Dir(PathBuf),
}

/// A host directory made visible inside the session (before `pivot_root`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// Host path.
    pub source: PathBuf,
    /// Absolute path inside the session; created if missing.
    pub target: PathBuf,
    /// Mount it read-only.
    pub read_only: bool,
}

/// Per-session resource limits, applied through the machine's cgroups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory ceiling in bytes (v2 `memory.max`, v1 `memory.limit_in_bytes`).
    pub memory_bytes: Option<u64>,
    /// Most processes and threads at once (`pids.max`).
    pub pids: Option<u64>,
    /// CPU weight 1..=10000, 100 being the default (v2 `cpu.weight`; v1
    /// `cpu.shares` = weight × 1024 / 100).
    pub cpu_weight: Option<u64>,
    /// CPU time at most, in thousandths of a core: 1000 is one core's worth
    /// however many threads run (v2 `cpu.max`; v1 `cpu.cfs_quota_us` over
    /// a 100 ms `cpu.cfs_period_us`).
    pub cpu_millis: Option<u64>,
}

/// Everything needed to start a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSpec {
    /// The environment's name; also the session's hostname.
    pub name: String,
    /// The root tree.
    pub root: Root,
    /// Host directories bound into the root.
    pub binds: Vec<Bind>,
    /// Resource limits.
    pub limits: Limits,
    /// The shell, as a path inside the root; checked before pivoting.
    pub shell: String,
    /// The host's network, loopback only, or loopback and outbound NAT.
    pub network: Network,
    /// Run the session in a user namespace of its own whose root is the
    /// first of these host ids (see [`IdRange`]). `None` keeps host ids:
    /// root inside is host root, confined only by capabilities and the
    /// seccomp filter; the grid always gives a range.
    pub ids: Option<IdRange>,
    /// Let the session's processes make user namespaces of their own.
    pub nested_user_namespaces: bool,
}

impl SessionSpec {
    /// A spec with `/bin/sh`, no binds, no limits, the host's network and
    /// host ids.
    pub fn new(name: impl Into<String>, root: Root) -> Self {
        SessionSpec {
            name: name.into(),
            root,
            binds: Vec::new(),
            limits: Limits::default(),
            shell: "/bin/sh".into(),
            network: Network::Host,
            ids: None,
            nested_user_namespaces: false,
        }
    }
}

impl SessionSpec {
    /// What the session's processes are confined to.
    pub(crate) fn policy(&self) -> Policy {
        Policy {
            nested_user_namespaces: self.nested_user_namespaces,
        }
    }
}

/// A command to run inside a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// Program and arguments; a program without `/` is looked up in `PATH`.
    pub argv: Vec<String>,
    /// The whole environment of the command.
    pub env: Vec<(String, String)>,
    /// Working directory inside the session.
    pub cwd: String,
}

impl CommandSpec {
    /// A command with a default environment (`PATH`, `HOME=/root`) run in `/`.
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        CommandSpec {
            argv: argv.into_iter().map(Into::into).collect(),
            env: vec![
                (
                    "PATH".into(),
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ),
                ("HOME".into(), "/root".into()),
            ],
            cwd: "/".into(),
        }
    }

    /// Adds or replaces one environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }
}

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}
