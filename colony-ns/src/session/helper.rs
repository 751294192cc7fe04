//! The helper process's entry point and the small pieces its tasks share.
//!
//! The tokio process never unshares or pivots: it execs the helper binary
//! (`colony-session-helper`, or any binary that calls [`main`]) with a
//! [`HelperTask`] as the first frame on its standard input.

use super::task::{HelperTask, Report};
use super::{enter, start};
use crate::{Error, Result};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{SigHandler, SigSet, Signal, kill, signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Pid, dup2_stdout, getpid};
use std::io::Write;
use std::path::PathBuf;

/// The helper binary's whole `main`: reads the task from standard input
/// (arguments are ignored: [`super::LinuxConfig::helper_args`] only select
/// this code in a binary that is also something else) and runs it. Never
/// returns.
pub fn main() -> ! {
    match HelperTask::from_stdin() {
        Ok(HelperTask::Start(task)) => start::run(&task),
        Ok(HelperTask::Enter(task)) => enter::run(&task),
        Err(e) => {
            eprintln!("colony-session-helper: {e}");
            std::process::exit(2)
        }
    }
}

/// Writes one report frame to stdout; the reader treats a lost report as
/// a failed start, so errors here need no other handling.
pub(super) fn report(r: &Report) {
    if let Ok(frame) = crate::frame::encode(r) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&frame);
        let _ = out.flush();
    }
}

/// Points stdout at /dev/null, so the reader sees EOF once reports are done.
pub(super) fn detach_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = dup2_stdout(null);
    }
}

/// Moves this process into each cgroup (children inherit it).
pub(super) fn join_cgroups(procs: &[PathBuf]) -> Result<()> {
    let me = getpid().to_string();
    for p in procs {
        std::fs::write(p, &me).map_err(|e| Error::sys_io(format!("join {}", p.display()), &e))?;
    }
    Ok(())
}

/// Waits for `child` and exits the way it did: same code, or the same
/// signal (without a core dump of our own).
pub(super) fn wait_and_exit(child: Pid) -> ! {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => std::process::exit(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => exit_by_signal(sig),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => std::process::exit(125),
        }
    }
}

/// Dies of `sig`, so the waiting parent sees the command's own fate.
pub(super) fn exit_by_signal(sig: Signal) -> ! {
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    // SAFETY: restoring the default disposition is always sound.
    let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    let mut set = SigSet::empty();
    set.add(sig);
    let _ = set.thread_unblock();
    let _ = kill(getpid(), sig);
    std::process::exit(128 + sig as i32)
}
