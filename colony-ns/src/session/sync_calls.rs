//! `sync(2)` and `syncfs(2)` inside a session reach its root's file
//! system as an fsync of the root directory.
//!
//! Linux sends a FUSE server nothing for either call (it keeps FUSE_SYNCFS
//! for virtiofs), so a session rooted in a FUSE mount could never learn of
//! them, and a grid environment would lose what `sync` promised. So the
//! helper that enters a session to run a command (every command runs so;
//! init runs none) installs, before forking it, a seccomp filter handing
//! these two calls to a listener (seccomp user notification, Linux 5.5 or
//! later). A supervisor process answers them: it fsyncs the session's root
//! (which a live fossil's owner makes a checkpoint of the whole tree), then
//! lets the call go on as the kernel would run it; a failed fsync fails the
//! call with its error instead.

use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use nix::unistd::{ForkResult, fork};

use crate::{Error, Result};

/// The architecture the filter's numbers are for (others are killed by
/// the session's own filter before they get here).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// x32's system call numbers are x86_64's with this bit.
const X32_BIT: u32 = 0x4000_0000;

/// A session's root and the listener of its sync calls.
struct SyncCalls {
    listener: OwnedFd,
    root: File,
}

/// Installs the filter on this process, so that every process it forks
/// from now on hands its sync calls to the returned listener.
fn trap() -> Result<OwnedFd> {
    let ld = |offset: u32| bpf(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset, 0, 0);
    let is = |nr: u32, to_notify: u8| {
        bpf(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            nr,
            to_notify,
            0,
        )
    };
    let ret = |action: u32| bpf(libc::BPF_RET | libc::BPF_K, action, 0, 0);
    let (sync, syncfs) = (libc::SYS_sync as u32, libc::SYS_syncfs as u32);
    let program = [
        ld(4), // seccomp_data.arch
        bpf(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH,
            0,
            5,
        ),
        ld(0), // seccomp_data.nr
        is(sync, 4),
        is(syncfs, 3),
        is(sync | X32_BIT, 2),
        is(syncfs | X32_BIT, 1),
        ret(libc::SECCOMP_RET_ALLOW),
        ret(libc::SECCOMP_RET_USER_NOTIF),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `program`, alive for the call; the kernel
    // copies the filter before returning. The result is a new descriptor
    // (close-on-exec) or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(Error::sys(
            "install the sync filter (seccomp user notification needs Linux 5.5)",
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn bpf(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

impl SyncCalls {
    /// Answers sync calls until no process holds the filter.
    fn serve(self) {
        let fd = self.listener.as_fd();
        loop {
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                continue;
            }
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            if !revents.contains(PollFlags::POLLIN) {
                // POLLHUP: every process that held the filter is gone.
                return;
            }
            // SAFETY: a plain C struct the kernel fills; RECV wants it zeroed.
            let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: the listener is open and `req` the struct RECV takes.
            let rc =
                unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
            if rc < 0 {
                // Interrupted, or the caller died before we read it.
                continue;
            }
            // SAFETY: as for `req`.
            let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
            resp.id = req.id;
            match self.root.sync_all() {
                Ok(()) => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
                Err(e) => resp.error = -e.raw_os_error().unwrap_or(libc::EIO),
            }
            // SAFETY: as for RECV. A caller that died meanwhile makes this
            // fail with ENOENT, which leaves nothing to do.
            unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
        }
    }
}

/// The enter helper's end of the socket to its sync supervisor.
pub(super) struct Supervisor(UnixStream);

/// Forks the supervisor of the sync calls of the command the helper is
/// about to run, and of whatever that command starts (which may outlive
/// the helper, so the helper cannot answer the calls itself). Forked
/// before the helper joins the session, it is invisible inside (no extra
/// process in the session's `ps`) and holds no filter itself; it gets the
/// listener and the session's root from [`Supervisor::trap`] and exits
/// once no process holds the filter (the session stopped, say), or at once
/// if the helper gives up before. Call single-threaded.
pub(super) fn fork_supervisor() -> Result<Supervisor> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| Error::sys_io("socketpair", &e))?;
    // SAFETY: single-threaded (a fresh exec of the helper); the child only
    // makes system calls and exits.
    match unsafe { fork() }.map_err(|e| Error::sys("fork the sync supervisor", e))? {
        ForkResult::Child => {
            drop(ours);
            let code = match supervisor(theirs) {
                Some(calls) => {
                    calls.serve();
                    0
                }
                None => 1,
            };
            // SAFETY: ends this forked process without running the
            // parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { .. } => Ok(Supervisor(ours)),
    }
}

impl Supervisor {
    /// Traps the sync calls of every process this one forks from now on
    /// and hands them to the supervisor, with the current root (call
    /// after joining the session's mount namespace), single-threaded and
    /// before forking.
    pub(super) fn trap(self) -> Result<()> {
        let root = File::open("/").map_err(|e| Error::sys_io("open the session's root", &e))?;
        let listener = trap()?;
        let fds = [listener.as_raw_fd(), root.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(b"l")],
            &cmsg,
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| Error::sys("pass the sync listener", e))?;
        Ok(())
    }
}

/// In the supervisor: closes every inherited descriptor (the helper's
/// output pipes and terminal must close when the helper and its command
/// are done, not when this is), then waits for the listener and the root
/// on `sock`.
fn supervisor(sock: UnixStream) -> Option<SyncCalls> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .ok()?;
    for std_fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which we own.
        unsafe { libc::dup2(null.as_raw_fd(), std_fd) };
    }
    drop(null);
    let keep = sock.as_raw_fd() as u32;
    close_range(3, keep.saturating_sub(1));
    close_range(keep + 1, u32::MAX);
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    let fds: Vec<OwnedFd> = msg
        .cmsgs()
        .ok()?
        .flat_map(|c| match c {
            // SAFETY: the kernel just installed these descriptors for us.
            ControlMessageOwned::ScmRights(fds) => fds
                .into_iter()
                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let [listener, root]: [OwnedFd; 2] = fds.try_into().ok()?;
    Some(SyncCalls {
        listener,
        root: File::from(root),
    })
}

/// Closes descriptors `first..=last` (nothing if the range is empty).
fn close_range(first: u32, last: u32) {
    if first <= last {
        // SAFETY: closing descriptors this process no longer uses.
        unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    }
}
