//! The client's own terminal while an interactive session runs: raw mode
//! (so Ctrl-C and every key go to the remote terminal) and non-blocking
//! reads, both undone on drop.

use crate::session::PtyMaster;
use crate::{Error, Result};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use std::os::fd::{AsFd, OwnedFd};

/// A terminal in raw mode; restores its settings when dropped.
pub struct RawTerminal {
    fd: OwnedFd,
    saved: Termios,
    saved_flags: OFlag,
}

impl RawTerminal {
    /// Puts the terminal `fd` refers to into raw mode.
    pub fn new(fd: OwnedFd) -> Result<Self> {
        let saved = tcgetattr(&fd).map_err(|e| Error::sys("tcgetattr", e))?;
        let saved_flags = OFlag::from_bits_truncate(
            fcntl(&fd, FcntlArg::F_GETFL).map_err(|e| Error::sys("F_GETFL", e))?,
        );
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&fd, SetArg::TCSANOW, &raw).map_err(|e| Error::sys("tcsetattr", e))?;
        Ok(RawTerminal {
            fd,
            saved,
            saved_flags,
        })
    }

    /// An async handle on the terminal (sets O_NONBLOCK until drop).
    pub fn io(&self) -> Result<PtyMaster> {
        let dup = self.fd.try_clone()?;
        PtyMaster::new(dup)
    }

    /// The terminal descriptor.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = tcsetattr(&self.fd, SetArg::TCSADRAIN, &self.saved);
        let _ = fcntl(&self.fd, FcntlArg::F_SETFL(self.saved_flags));
    }
}
