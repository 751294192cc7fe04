//! The enter helper: joins a running session (cgroups, then its user
//! namespace, becoming root there, then its ipc, uts, network, pid and
//! mount namespaces), traps its sync calls ([`super::sync_calls`]), forks
//! the command into it, confined as the session's init is, and stays as
//! its parent, forwarding signals to the command's
//! process group and exiting as the command did.

use super::confine::{self, Filters};
use super::pty::set_window_size;
use super::spec::CommandSpec;
use super::task::EnterTask;
use super::{helper, sync_calls, user_ns};
use crate::{Error, Result};
use nix::fcntl::OFlag;
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{
    AccessFlags, ForkResult, Pid, access, chdir, dup2_stderr, dup2_stdin, dup2_stdout, execve,
    fork, setsid,
};
use std::ffi::CString;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Signals the helper passes on to the command's process group.
const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Does the enter task; never returns.
pub fn run(task: &EnterTask) -> ! {
    let joined = sync_calls::fork_supervisor().and_then(|supervisor| {
        let master = join(task)?;
        supervisor.trap()?;
        Ok((master, task.policy.filters()?))
    });
    let (master, filters) = match joined {
        Ok(j) => j,
        Err(e) => {
            eprintln!("colony: cannot enter session: {e}");
            std::process::exit(125);
        }
    };
    let mut mask = SigSet::empty();
    for s in FORWARDED.into_iter().chain([Signal::SIGCHLD]) {
        mask.add(s);
    }
    if let Err(e) = mask.thread_block() {
        eprintln!("colony: block signals: {e}");
        std::process::exit(125);
    }
    // SAFETY: this process is single-threaded (a fresh exec of the helper).
    match unsafe { fork() } {
        Err(e) => {
            eprintln!("colony: fork in session: {e}");
            std::process::exit(125);
        }
        Ok(ForkResult::Child) => {
            let _ = SigSet::empty().thread_set_mask();
            let err = exec(&task.command, master.as_ref(), &filters);
            eprintln!(
                "colony: {}: {err}",
                task.command.argv.first().map_or("", |a| a)
            );
            std::process::exit(127)
        }
        Ok(ForkResult::Parent { child }) => {
            if let Some(m) = master {
                send_master(m);
            }
            helper::detach_stdout();
            forward_until_exit(child, &mask)
        }
    }
}

/// Joins cgroups and namespaces; opens the terminal if one was asked for.
fn join(task: &EnterTask) -> Result<Option<PtyMaster>> {
    helper::join_cgroups(&task.cgroup_procs)?;
    // User first: the others belong to it, and joining it drops every
    // privilege over the host.
    let mut kinds = Vec::new();
    if task.user_ns {
        kinds.push(("user", CloneFlags::CLONE_NEWUSER));
    }
    kinds.push(("ipc", CloneFlags::CLONE_NEWIPC));
    kinds.push(("uts", CloneFlags::CLONE_NEWUTS));
    if task.private_network {
        kinds.push(("net", CloneFlags::CLONE_NEWNET));
    }
    // Mount last: after it, the host's /proc is out of reach.
    kinds.push(("pid", CloneFlags::CLONE_NEWPID));
    kinds.push(("mnt", CloneFlags::CLONE_NEWNS));
    let files = kinds
        .iter()
        .map(|(name, _)| {
            let path = format!("/proc/{}/ns/{name}", task.init_pid);
            std::fs::File::open(&path).map_err(|e| Error::sys_io(path, &e))
        })
        .collect::<Result<Vec<_>>>()?;
    let pid_ns = &files[files.len() - 2];
    let inode = nix::sys::stat::fstat(pid_ns)
        .map_err(|e| Error::sys("fstat pid ns", e))?
        .st_ino;
    if inode != task.pid_ns_inode {
        return Err(Error::Stopped);
    }
    for (file, (name, flag)) in files.iter().zip(&kinds) {
        setns(file, *flag).map_err(|e| Error::sys(format!("setns {name}"), e))?;
        if *flag == CloneFlags::CLONE_NEWUSER {
            user_ns::become_root()?;
        }
    }
    let Some(size) = task.pty else {
        return Ok(None);
    };
    // The session's own /dev/ptmx: the terminal belongs to its devpts.
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("open /dev/ptmx", e))?;
    grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    set_window_size(master.as_fd(), size)?;
    Ok(Some(master))
}

/// In the child: new session, terminal, confinement, directory, then exec.
fn exec(cmd: &CommandSpec, master: Option<&PtyMaster>, filters: &Filters) -> Error {
    if let Err(e) = setsid() {
        return Error::sys("setsid", e);
    }
    if let Some(m) = master {
        if let Err(e) = attach_terminal(m) {
            return e;
        }
    }
    if let Err(e) = confine::apply(filters) {
        return e;
    }
    if let Err(e) = chdir(cmd.cwd.as_str()) {
        return Error::sys(format!("chdir {}", cmd.cwd), e);
    }
    let cstrings = |items: Vec<String>| {
        items
            .into_iter()
            .map(|s| CString::new(s).map_err(|_| Error::Frame("NUL in argument".into())))
            .collect::<Result<Vec<_>>>()
    };
    let Some(program) = cmd.argv.first() else {
        return Error::Frame("empty command".into());
    };
    let path = match resolve(program, cmd) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let env = cmd.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    match (
        cstrings(cmd.argv.clone()),
        cstrings(env),
        CString::new(path),
    ) {
        (Ok(argv), Ok(env), Ok(path)) => match execve(&path, &argv, &env) {
            Err(e) => Error::sys("exec", e),
            Ok(never) => match never {},
        },
        _ => Error::Frame("NUL in argument".into()),
    }
}

/// Makes the terminal's slave our controlling terminal and stdio.
fn attach_terminal(master: &PtyMaster) -> Result<()> {
    let name = ptsname_r(master).map_err(|e| Error::sys("ptsname", e))?;
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&name)
        .map_err(|e| Error::sys_io(&name, &e))?
        .into();
    // SAFETY: TIOCSCTTY takes an int argument and touches no memory of ours.
    let rc = unsafe { nix::libc::ioctl(slave.as_raw_fd(), nix::libc::TIOCSCTTY, 0) };
    if rc < 0 {
        return Err(Error::sys("TIOCSCTTY", nix::errno::Errno::last()));
    }
    dup2_stdin(&slave)
        .and_then(|()| dup2_stdout(&slave))
        .and_then(|()| dup2_stderr(&slave))
        .map_err(|e| Error::sys("dup2 terminal", e))
}

/// Looks a program up in the command's own PATH, inside the session.
fn resolve(program: &str, cmd: &CommandSpec) -> Result<String> {
    if program.contains('/') {
        return Ok(program.to_owned());
    }
    let path = cmd
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("/usr/bin:/bin", |(_, v)| v);
    path.split(':')
        .map(|dir| format!("{dir}/{program}"))
        .find(|cand| access(cand.as_str(), AccessFlags::X_OK).is_ok())
        .ok_or(Error::sys(
            format!("{program} not found in PATH"),
            nix::errno::Errno::ENOENT,
        ))
}

/// Sends the terminal's master to the tokio process over stdout (a Unix
/// socket) with SCM_RIGHTS.
fn send_master(master: PtyMaster) {
    // SAFETY: fd 1 is open for the life of this process.
    let out = unsafe { BorrowedFd::borrow_raw(1) };
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(b"m")];
    if let Err(e) = sendmsg::<()>(out.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None) {
        eprintln!("colony: pass terminal: {e}");
    }
}

/// Relays signals to the command's group until it exits; exits likewise.
fn forward_until_exit(child: Pid, mask: &SigSet) -> ! {
    let Ok(sfd) = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC) else {
        helper::wait_and_exit(child)
    };
    loop {
        // Check before blocking: the child may be gone already.
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => std::process::exit(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => helper::exit_by_signal(sig),
            Err(_) => std::process::exit(125),
            Ok(_) => {}
        }
        if let Ok(Some(info)) = sfd.read_signal() {
            let sig = Signal::try_from(info.ssi_signo as i32);
            if let Ok(sig) = sig
                && sig != Signal::SIGCHLD
            {
                // The command calls setsid, so its group id is its pid;
                // until it has, the group does not exist and the signal
                // goes to the command itself (else it would be lost).
                if kill(Pid::from_raw(-child.as_raw()), sig) == Err(nix::errno::Errno::ESRCH) {
                    let _ = kill(child, sig);
                }
            }
        }
    }
}
