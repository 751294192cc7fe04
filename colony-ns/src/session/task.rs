//! What the tokio process asks the helper process to do, passed as one
//! hex-encoded postcard argument so the helper needs no other channel.

use super::spec::{Bind, CommandSpec, WindowSize};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Build a namespace and become (the parent of) its init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartTask {
    /// Hostname inside.
    pub name: String,
    /// Root directory on the host.
    pub root: PathBuf,
    /// Host directories bound in.
    pub binds: Vec<Bind>,
    /// Program that must exist in the root.
    pub shell: String,
    /// Unshare the network namespace too.
    pub private_network: bool,
    /// `cgroup.procs` files the helper joins before unsharing.
    pub cgroup_procs: Vec<PathBuf>,
}

/// Join a running session's namespaces and run one command there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterTask {
    /// The session's init, as a host pid.
    pub init_pid: i32,
    /// Inode of init's pid namespace: a recycled pid fails this check
    /// instead of entering a stranger's namespaces.
    pub pid_ns_inode: u64,
    /// Join its network namespace too.
    pub private_network: bool,
    /// `cgroup.procs` files to join first.
    pub cgroup_procs: Vec<PathBuf>,
    /// The command.
    pub command: CommandSpec,
    /// Run on a new terminal of the session's devpts with this size; the
    /// master is sent back over stdout (a Unix socket).
    pub pty: Option<WindowSize>,
}

/// One helper invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelperTask {
    /// See [`StartTask`].
    Start(StartTask),
    /// See [`EnterTask`].
    Enter(EnterTask),
}

impl HelperTask {
    /// The argument form.
    pub fn encode(&self) -> Result<String> {
        let bytes = postcard::to_allocvec(self).map_err(|e| Error::Frame(e.to_string()))?;
        Ok(hex::encode(bytes))
    }

    /// Parses the argument form.
    pub fn decode(arg: &str) -> Result<Self> {
        let bytes = hex::decode(arg).map_err(|e| Error::Frame(e.to_string()))?;
        crate::frame::decode(&bytes)
    }
}

/// What the start helper tells the tokio process on its stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Report {
    /// The session's init exists, with this host pid.
    Init(i32),
    /// The namespace is built; commands may enter.
    Ready,
    /// Building failed; the helper exits.
    Failed(String),
}
