//! The session's pid 1: reaps every orphan of the namespace and exits when
//! the tokio process lets go of its keep-alive pipe (stdin), which takes the
//! whole pid namespace down with it.

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use std::os::fd::{AsFd, BorrowedFd};

/// Runs the reaper loop; never returns.
pub fn run() -> ! {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    // Without the signalfd pid 1 could not reap; nothing to do but leave.
    let Ok(()) = mask.thread_block() else {
        std::process::exit(1)
    };
    let Ok(sfd) = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    else {
        std::process::exit(1)
    };
    // SAFETY: fd 0 stays open for the life of this process.
    let keepalive = unsafe { BorrowedFd::borrow_raw(0) };
    loop {
        let mut fds = [
            PollFd::new(keepalive, PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let host_gone = fds[0].revents().is_some_and(|r| !r.is_empty());
        let child_done = fds[1].revents().is_some_and(|r| !r.is_empty());
        if child_done {
            while sfd.read_signal().ok().flatten().is_some() {}
            reap();
        }
        // The pipe only ever closes (nobody writes to it): readable means EOF.
        if host_gone {
            std::process::exit(0);
        }
    }
}

/// Collects every exited child without blocking.
fn reap() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}
