//! A session's network: the host's, loopback only, or loopback plus
//! outbound access through `pasta` (Debian's `passt` package: the
//! user-mode network rootless podman uses).
//!
//! With [`Network::Nat`], pasta joins the session's network namespace,
//! makes its interface, address and default route, and carries the
//! session's connections out through sockets of its own on the host, as
//! any host program's. It is started with `--no-map-gw`, so the gateway
//! address is not the host's loopback, and forwards no ports either way
//! (`-t none -u none -T none -U none`): the host's loopback services and
//! other sessions stay out of reach. An operator who wants a port of a
//! session reachable runs `pasta` with `-t PORT` against it by hand.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::{Error, Result};

/// Where a session's network comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Network {
    /// The host's network namespace: everything the host reaches, its
    /// loopback services included.
    #[default]
    Host,
    /// A network namespace of its own with loopback only.
    Loopback,
    /// Its own namespace with outbound access through pasta.
    Nat,
}

impl Network {
    /// Whether the session gets a network namespace of its own.
    pub fn is_private(self) -> bool {
        self != Network::Host
    }
}

/// pasta for one session, set up in the background while the session
/// starts: commands wait for it ([`NatHandle::ready`]), so none runs
/// before the network is there, and the spawn does not wait for it.
/// Dropping the handle kills pasta, even one that comes up later.
#[derive(Debug)]
pub(crate) struct NatHandle {
    state: Arc<Mutex<NatState>>,
    ready: watch::Receiver<Option<std::result::Result<(), String>>>,
}

#[derive(Debug, Default)]
struct NatState {
    stopped: bool,
    nat: Option<Nat>,
}

impl NatHandle {
    /// Starts pasta for `init_pid`'s namespaces (its user namespace too
    /// when `user_ns`), opened now, while init is known to be ours.
    pub fn start(pasta: PathBuf, init_pid: i32, user_ns: bool) -> Result<NatHandle> {
        let open = |kind: &str| -> Result<OwnedFd> {
            let path = format!("/proc/{init_pid}/ns/{kind}");
            std::fs::File::open(&path)
                .map(OwnedFd::from)
                .map_err(|e| Error::sys_io(path, &e))
        };
        let namespaces = Namespaces {
            user: user_ns.then(|| open("user")).transpose()?,
            net: open("net")?,
        };
        let state = Arc::new(Mutex::new(NatState::default()));
        let (tx, ready) = watch::channel(None);
        let ours = state.clone();
        tokio::spawn(async move {
            let started = Nat::start(&pasta, namespaces).await;
            let mut st = ours.lock().unwrap_or_else(|p| p.into_inner());
            let result = match started {
                // Stopped meanwhile: the Nat is dropped here, killing pasta.
                Ok(nat) if !st.stopped => {
                    st.nat = Some(nat);
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(e) => {
                    tracing::error!("session network: {e}");
                    Err(e.to_string())
                }
            };
            let _ = tx.send(Some(result));
        });
        Ok(NatHandle { state, ready })
    }

    /// Returns once the network is set up, or why it could not be.
    pub async fn ready(&self) -> Result<()> {
        let mut ready = self.ready.clone();
        let done = ready
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::Nat {
                reason: "pasta's start was abandoned".into(),
            })?;
        match &*done {
            Some(Err(reason)) => Err(Error::Nat {
                reason: reason.clone(),
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for NatHandle {
    fn drop(&mut self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.stopped = true;
        st.nat = None;
    }
}

/// The pasta process serving one session; killed when dropped.
#[derive(Debug)]
pub(crate) struct Nat {
    pid: Pid,
}

/// A session's namespaces, as pasta joins them.
#[derive(Debug)]
struct Namespaces {
    /// Its user namespace, if it has one.
    user: Option<OwnedFd>,
    net: OwnedFd,
}

/// The descriptors pasta finds the namespaces and its pid file on.
const USER_FD: i32 = 3;
const NET_FD: i32 = 4;
const PID_FD: i32 = 5;

impl Nat {
    /// Runs `pasta` for `ns`, returning once the interface is configured.
    async fn start(pasta: &Path, ns: Namespaces) -> Result<Nat> {
        let pid_file = memfd_create(c"colony-pasta-pid", MFdFlags::MFD_CLOEXEC)
            .map_err(|e| Error::sys("memfd_create", e))?;
        // Without a user namespace of its own, fd 3 is the net one again.
        let user = ns.user.as_ref().unwrap_or(&ns.net);
        let fds = [
            (user.as_raw_fd(), USER_FD),
            (ns.net.as_raw_fd(), NET_FD),
            (pid_file.as_raw_fd(), PID_FD),
        ];
        let mut c = tokio::process::Command::new(pasta);
        c.args(["--config-net", "--no-map-gw", "--quiet", "--runas", "0:0"])
            .args(["-t", "none", "-u", "none", "-T", "none", "-U", "none"])
            .arg("--netns")
            .arg(format!("/proc/self/fd/{NET_FD}"))
            .arg("-P")
            .arg(format!("/proc/self/fd/{PID_FD}"));
        if ns.user.is_some() {
            c.arg("--userns").arg(format!("/proc/self/fd/{USER_FD}"));
        } else {
            c.arg("--netns-only");
        }
        c.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        // SAFETY: fcntl and dup2 are async-signal-safe; the descriptors
        // stay open in this process until the command has spawned.
        unsafe {
            c.pre_exec(move || {
                // Every source first to a free descriptor above the targets
                // (F_DUPFD never replaces an open one), so placing a target
                // cannot close a source not yet placed.
                let mut moved = [0; 3];
                for (m, (from, _)) in moved.iter_mut().zip(&fds) {
                    *m = nix::libc::fcntl(*from, nix::libc::F_DUPFD, PID_FD + 1);
                    if *m == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for (m, (_, to)) in moved.iter().zip(&fds) {
                    if nix::libc::dup2(*m, *to) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let out = c.output().await.map_err(|e| Error::Nat {
            reason: format!("run {}: {e}", pasta.display()),
        })?;
        if !out.status.success() {
            return Err(Error::Nat {
                reason: format!(
                    "{} {}: {}",
                    pasta.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        let mut text = String::new();
        std::fs::File::from(pid_file)
            .read_to_string(&mut text)
            .map_err(|e| Error::sys_io("read pasta's pid", &e))?;
        let pid = text.trim().parse().map_err(|_| Error::Nat {
            reason: format!("pasta wrote no pid ({text:?})"),
        })?;
        Ok(Nat {
            pid: Pid::from_raw(pid),
        })
    }
}

impl Drop for Nat {
    fn drop(&mut self) {
        // Only if the pid is still pasta's (not reused by another process).
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", self.pid)).unwrap_or_default();
        if comm.starts_with("pasta") || comm.starts_with("passt") {
            let _ = kill(self.pid, Signal::SIGTERM);
        }
    }
}
