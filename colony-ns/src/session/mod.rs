//! Sessions: a private namespace rooted in a file tree, in which the
//! session's owner runs commands and shells (Plan 9's `rcpu` into a spawned
//! namespace).
//!
//! [`LinuxSession`] never changes the calling (tokio) process's namespaces:
//! a helper process ([`helper_main`]) unshares mount, pid, uts and ipc
//! namespaces, forks the session's init (pid 1, which builds the tree,
//! pivots into it and reaps orphans), and every command is run by another
//! helper that joins those namespaces with `setns` and forks the command.
//!
//! [`FsSession`] is a `LinuxSession` rooted in any file system mounted
//! with FUSE (a live fossil, or a tree served over 9P by a storage node);
//! [`FossilSession`] is one rooted in a live fossil, with
//! [`FossilSession::save`] to snapshot what was written.
//! [`testroot`] builds a minimal root tree (dash, coreutils, `ps`) for
//! tests and benchmarks, here and in the crates above.

mod cgroup;
mod confine;
mod enter;
mod fossil_session;
mod fs_session;
mod helper;
mod init;
mod linux;
mod network;
mod process;
mod pty;
mod setup;
mod spec;
mod start;
mod sync_calls;
mod task;
pub mod testroot;
mod user_ns;

pub use cgroup::{Group, Version as CgroupVersion};
pub use confine::{ALLOWED_CAPS, refused_calls};
pub use fossil_session::{FossilConfig, FossilSession};
pub use fs_session::{FsConfig, FsSession};
pub use helper::main as helper_main;
pub use linux::{LinuxConfig, LinuxSession};
pub use network::Network;
pub use process::{ExitStatus, Process, ProcessInfo, PtyProcess};
pub use pty::{PtyMaster, set_window_size, window_size};
pub use spec::{Bind, CommandSpec, Limits, Root, SessionSpec, WindowSize};

use crate::Result;
use std::future::Future;

/// A running session: start it, run commands and shells in it, list its
/// processes, stop it.
pub trait Session: Send + Sync + Sized {
    /// What the implementation needs besides the spec (e.g. its helper).
    type Config;

    /// Builds the namespace and returns once commands can run in it.
    fn start(
        config: &Self::Config,
        spec: &SessionSpec,
    ) -> impl Future<Output = Result<Self>> + Send;

    /// The environment's name.
    fn name(&self) -> &str;

    /// The session's shell, as a path inside it.
    fn shell_path(&self) -> &str;

    /// Runs a command with piped stdin, stdout and stderr.
    fn run(&self, cmd: &CommandSpec) -> impl Future<Output = Result<Process>> + Send;

    /// Runs a command on a new terminal of the session.
    fn run_pty(
        &self,
        cmd: &CommandSpec,
        size: WindowSize,
    ) -> impl Future<Output = Result<PtyProcess>> + Send;

    /// Opens an interactive shell on a new terminal, with `TERM` set.
    fn shell(
        &self,
        size: WindowSize,
        term: &str,
    ) -> impl Future<Output = Result<PtyProcess>> + Send {
        let cmd = CommandSpec::new([self.shell_path()]).env("TERM", term);
        async move { self.run_pty(&cmd, size).await }
    }

    /// The processes inside the session.
    fn processes(&self) -> Result<Vec<ProcessInfo>>;

    /// Kills every process of the session and removes everything it made.
    /// Stopping twice is harmless.
    fn stop(&mut self) -> impl Future<Output = Result<()>> + Send;
}
