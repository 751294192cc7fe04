//! Handles on commands running in a session.

use super::pty::PtyMaster;
use crate::{Error, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::os::unix::process::ExitStatusExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal (by number) killed it.
    Signal(i32),
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }

    /// A shell's `$?` for this status (128 + signal for a killed command).
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}

impl From<std::process::ExitStatus> for ExitStatus {
    fn from(s: std::process::ExitStatus) -> Self {
        match (s.code(), s.signal()) {
            (Some(c), _) => ExitStatus::Code(c),
            (None, Some(sig)) => ExitStatus::Signal(sig),
            (None, None) => ExitStatus::Code(-1),
        }
    }
}

/// A process seen in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its pid on the host.
    pub host_pid: i32,
    /// Its pid inside the session (1 is the session's init).
    pub pid: i32,
    /// Its command line, arguments separated by spaces.
    pub command: String,
}

/// A command running in a session with pipes for its standard streams.
/// Its parent is the enter helper, which passes signals on to its group.
#[derive(Debug)]
pub struct Process {
    child: Child,
}

impl Process {
    pub(super) fn new(child: Child) -> Self {
        Process { child }
    }

    /// The helper's host pid (signals sent to it reach the command's group).
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// The command's stdin (taken once).
    pub fn stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The command's stdout (taken once).
    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The command's stderr (taken once).
    pub fn stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Sends `sig` to the command's process group (SIGKILL kills the helper,
    /// which the session's init then outlives; use it only to abandon).
    pub fn signal(&self, sig: Signal) -> Result<()> {
        signal_helper(&self.child, sig)
    }

    /// Waits for the command to end.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        Ok(self.child.wait().await?.into())
    }
}

/// A command running in a session on a terminal of the session's devpts.
#[derive(Debug)]
pub struct PtyProcess {
    child: Child,
    /// The terminal's master end: read the command's output, write its
    /// input, resize.
    pub master: PtyMaster,
}

impl PtyProcess {
    pub(super) fn new(child: Child, master: PtyMaster) -> Self {
        PtyProcess { child, master }
    }

    /// Sends `sig` to the command's process group.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        signal_helper(&self.child, sig)
    }

    /// The helper's host pid (signals sent to it reach the command's group).
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the command to end.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        Ok(self.child.wait().await?.into())
    }
}

/// Signals the helper, which forwards to the command's group.
fn signal_helper(child: &Child, sig: Signal) -> Result<()> {
    let pid = child.id().ok_or(Error::Stopped)?;
    kill(Pid::from_raw(pid as i32), sig).map_err(|e| Error::sys("kill", e))
}
