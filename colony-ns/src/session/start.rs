//! The start helper: joins the session's cgroups; as host root, builds the
//! tree in a mount namespace of its own and pivots into it; enters the
//! session's user namespace; unshares the others, forks the session's init
//! (which builds the inside and confines itself) and waits for it. Runs in
//! a freshly exec'd, single-threaded process.

use super::confine::{self, Filters};
use super::task::{Report, StartTask};
use super::{helper, init, setup, user_ns};
use crate::{Error, Result};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, fork, pipe, read};

/// Does the start task; never returns.
pub fn run(task: &StartTask) -> ! {
    let filters = match prepare(task) {
        Ok(f) => f,
        Err(e) => fail(e),
    };
    // The child waits on `gate` so that our Init report precedes its own.
    let (gate_r, gate_w) = match pipe() {
        Ok(p) => p,
        Err(e) => fail(Error::sys("pipe", e)),
    };
    // SAFETY: this process is single-threaded (a fresh exec of the helper).
    match unsafe { fork() } {
        Err(e) => fail(Error::sys("fork init", e)),
        Ok(ForkResult::Child) => {
            drop(gate_w);
            let _ = read(&gate_r, &mut [0u8; 1]);
            // Dies with the helper, so a killed helper leaves no session.
            let _ = prctl::set_pdeathsig(Signal::SIGKILL);
            let built = setup::build_inside(task).and_then(|()| confine::apply(&filters));
            match built {
                Ok(()) => helper::report(&Report::Ready),
                Err(e) => {
                    helper::report(&Report::Failed(e.to_string()));
                    std::process::exit(1);
                }
            }
            helper::detach_stdout();
            init::run()
        }
        Ok(ForkResult::Parent { child }) => {
            helper::report(&Report::Init(child.as_raw()));
            drop(gate_w);
            helper::detach_stdout();
            helper::wait_and_exit(child)
        }
    }
}

/// Everything before the fork: cgroups, the tree, the namespaces; returns
/// the compiled filters init installs.
fn prepare(task: &StartTask) -> Result<Filters> {
    helper::join_cgroups(&task.cgroup_procs)?;
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| Error::sys("unshare mount namespace", e))?;
    make_private()?;
    setup::enter_tree(task)?;
    if let Some(ids) = &task.ids {
        user_ns::enter_new(ids)?;
    }
    let filters = task.policy.filters()?;
    // Owned by the user namespace (if any) from here on: its root may
    // mount in them, set the hostname, and nothing more.
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if task.private_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).map_err(|e| Error::sys("unshare", e))?;
    make_private()?;
    Ok(filters)
}

/// Nothing mounted from here on may propagate back to the host.
fn make_private() -> Result<()> {
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
        .map_err(|e| Error::sys("make mounts private", e))
}

/// Reports `e` and exits.
fn fail(e: Error) -> ! {
    helper::report(&Report::Failed(e.to_string()));
    std::process::exit(1)
}
