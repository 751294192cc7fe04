//! The session's user namespace: root inside is an unprivileged host id
//! ([`IdRange`]), so nothing the session runs is host root.
//!
//! A new user namespace's id maps are written from outside it by a process
//! that may set ids there: the start helper forks a one-shot mapper child
//! before it unshares, the mapper writes the maps (as host root), and the
//! helper then becomes root inside.

use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, fork, getppid, pipe, read, setgroups, write};

use crate::{Error, IdRange, Result};

/// Moves the calling (single-threaded) process into a new user namespace
/// whose ids 0..count are `ids` on the host, and makes it root there.
pub fn enter_new(ids: &IdRange) -> Result<()> {
    let (go_r, go_w) = pipe().map_err(|e| Error::sys("pipe", e))?;
    // SAFETY: the helper is single-threaded (a fresh exec).
    match unsafe { fork() }.map_err(|e| Error::sys("fork id mapper", e))? {
        ForkResult::Child => {
            drop(go_w);
            // One byte: the parent has unshared. EOF: it failed; give up.
            let ready = read(&go_r, &mut [0u8; 1]) == Ok(1);
            let mapped = ready && write_maps(getppid(), ids).is_ok();
            std::process::exit(if mapped { 0 } else { 1 })
        }
        ForkResult::Parent { child } => {
            drop(go_r);
            let unshared = unshare(CloneFlags::CLONE_NEWUSER);
            if unshared.is_ok() {
                // A failed write leaves the mapper at EOF: it exits 1.
                let _ = write(&go_w, b"u");
            }
            drop(go_w);
            let mapper = waitpid(child, None);
            unshared.map_err(|e| Error::sys("unshare user namespace", e))?;
            match mapper {
                Ok(WaitStatus::Exited(_, 0)) => become_root(),
                _ => Err(Error::SessionSetup(format!(
                    "could not map ids {} in the session's user namespace",
                    ids.map_line().trim_end()
                ))),
            }
        }
    }
}

/// Writes `ids` as the uid and gid maps of `pid`'s user namespace.
fn write_maps(pid: Pid, ids: &IdRange) -> Result<()> {
    for map in ["uid_map", "gid_map"] {
        let path = format!("/proc/{pid}/{map}");
        std::fs::write(&path, ids.map_line()).map_err(|e| Error::sys_io(&path, &e))?;
    }
    Ok(())
}

/// Becomes root of the user namespace just entered or joined: no
/// supplementary groups, uid and gid 0 (the range's base on the host).
pub fn become_root() -> Result<()> {
    setgroups(&[]).map_err(|e| Error::sys("setgroups", e))?;
    let root_g = Gid::from_raw(0);
    nix::unistd::setresgid(root_g, root_g, root_g).map_err(|e| Error::sys("setresgid", e))?;
    let root_u = Uid::from_raw(0);
    nix::unistd::setresuid(root_u, root_u, root_u).map_err(|e| Error::sys("setresuid", e))
}
