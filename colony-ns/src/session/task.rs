//! What the tokio process asks the helper process to do: one postcard
//! frame the helper reads from descriptor [`TASK_FD`], a sealed memory
//! file, never from its command line (which every host account can read
//! in /proc).

use super::confine::Policy;
use super::spec::{Bind, CommandSpec, WindowSize};
use crate::{Error, IdRange, Result};
use nix::sys::memfd::{MFdFlags, memfd_create};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

/// The descriptor a helper finds its task on.
pub const TASK_FD: i32 = 3;

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
    /// The task in a memory file, positioned at its start, for the helper
    /// to find on [`TASK_FD`].
    pub fn to_memfd(&self) -> Result<OwnedFd> {
        let bytes = postcard::to_allocvec(self).map_err(|e| Error::Frame(e.to_string()))?;
        let fd = memfd_create(c"colony-task", MFdFlags::MFD_CLOEXEC)
            .map_err(|e| Error::sys("memfd_create", e))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(&bytes)?;
        file.rewind()?;
        Ok(file.into())
    }

    /// Reads the task from [`TASK_FD`] and closes it, so that nothing the
    /// helper starts inherits it.
    pub fn from_task_fd() -> Result<Self> {
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if unsafe { nix::libc::fcntl(TASK_FD, nix::libc::F_GETFD) } == -1 {
            return Err(Error::Frame(format!(
                "no task on descriptor {TASK_FD} (the helper is run by colony)"
            )));
        }
        // SAFETY: TASK_FD is open (checked above) and nothing else owns it.
        let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(TASK_FD) });
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
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
