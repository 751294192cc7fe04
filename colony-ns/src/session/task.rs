//! What the tokio process asks the helper process to do: one length-
//! prefixed postcard frame, the first bytes on the helper's standard
//! input, never its command line (which every host account can read in
//! /proc). The helper reads exactly that frame; what follows on standard
//! input is the command's (or, for the start helper, the keep-alive pipe).

use super::confine::Policy;
use super::spec::{Bind, CommandSpec, WindowSize};
use crate::{Error, IdRange, Result};
use serde::{Deserialize, Serialize};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
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
    /// The host ids of the session's user namespace; `None` runs the
    /// session as host root (confined by `policy` all the same).
    pub ids: Option<IdRange>,
    /// What the session's processes may do.
    pub policy: Policy,
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
    /// Join its user namespace first (the session has one).
    pub user_ns: bool,
    /// What the command may do.
    pub policy: Policy,
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
    /// The frame to write first on the helper's standard input.
    pub fn frame(&self) -> Result<Vec<u8>> {
        crate::frame::encode(self)
    }

    /// Reads the task from standard input, byte for byte (unbuffered, so
    /// nothing after the frame is taken from the command).
    pub fn from_stdin() -> Result<Self> {
        // SAFETY: fd 0 is open for the life of the process; ManuallyDrop
        // keeps this File from closing it.
        let mut stdin = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
        crate::frame::read_sync(&mut *stdin)?.ok_or_else(|| {
            Error::Frame("no task on standard input (the helper is run by colony)".into())
        })
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
