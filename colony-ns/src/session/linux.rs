//! [`LinuxSession`]: a session built by the helper process out of Linux
//! mount, pid, uts and ipc namespaces, `pivot_root` and cgroups.

use super::Session;
use super::cgroup::{Cgroups, Group};
use super::confine::Policy;
use super::network::{NatHandle, Network};
use super::process::{Process, ProcessInfo, PtyProcess};
use super::pty::PtyMaster;
use super::spec::{CommandSpec, Root, SessionSpec, WindowSize};
use super::task::{EnterTask, HelperTask, Report, StartTask};
use crate::{Error, Result};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::unistd::Pid;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// How the tokio process reaches the helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxConfig {
    /// The helper binary (`colony-session-helper`, or a binary whose `main`
    /// calls [`super::helper_main`]).
    pub helper: PathBuf,
    /// Arguments the helper is run with, so that one binary can be its own
    /// helper (`colony session-helper`: `helper_args` is
    /// `["session-helper"]`); [`super::helper_main`] ignores them (the task
    /// comes on standard input).
    pub helper_args: Vec<String>,
    /// The `pasta` program sessions with [`Network::Nat`] get their
    /// outbound network from.
    pub pasta: PathBuf,
}

impl LinuxConfig {
    /// A dedicated helper binary, run with the task as its only argument.
    pub fn new(helper: impl Into<PathBuf>) -> Self {
        LinuxConfig {
            helper: helper.into(),
            helper_args: Vec::new(),
            pasta: PathBuf::from("pasta"),
        }
    }

    /// The command that runs the helper; the task goes first on its
    /// standard input ([`start_helper`]). No pre-exec hook, so spawning
    /// keeps the C library's vfork-style fast path in a large process.
    fn command(&self) -> Command {
        let mut c = Command::new(&self.helper);
        c.args(&self.helper_args).stdin(Stdio::piped());
        c
    }
}

/// Spawns `command` and writes `task` first on its standard input; the
/// rest of the pipe stays the caller's.
async fn start_helper(mut command: Command, task: &HelperTask) -> Result<Child> {
    let frame = task.frame()?;
    let mut child = command.spawn()?;
    let stdin = child
        .stdin
        .as_mut()
        .ok_or(Error::SessionSetup("helper has no stdin".into()))?;
    // A helper that died at once closes the pipe; its exit says the rest.
    stdin.write_all(&frame).await?;
    Ok(child)
}

/// A running Linux session. Dropping it without [`Session::stop`] still
/// kills every process in it, but removes its cgroups only on a best-effort
/// basis.
#[derive(Debug)]
pub struct LinuxSession {
    name: String,
    shell: String,
    helper: LinuxConfig,
    private_network: bool,
    user_ns: bool,
    policy: Policy,
    init_pid: i32,
    /// `/proc/<init>/ns/pid` as read at start: identifies our processes.
    pid_ns: PathBuf,
    /// The inode of that namespace.
    pid_ns_inode: u64,
    /// The start helper; holding its stdin keeps init alive.
    starter: Option<Child>,
    /// The session's outbound network, if it has one.
    nat: Option<NatHandle>,
    cgroups: Cgroups,
}

impl LinuxSession {
    /// The session's init as a host pid.
    pub fn init_pid(&self) -> i32 {
        self.init_pid
    }

    /// The start helper's host pid (init's parent), while running.
    pub fn helper_pid(&self) -> Option<u32> {
        self.starter.as_ref().and_then(Child::id)
    }

    /// The cgroup folders made for the session's limits.
    pub fn cgroups(&self) -> &[Group] {
        self.cgroups.groups()
    }

    /// Returns once the session's network (if it has one through pasta)
    /// is set up: no command runs before.
    async fn network_ready(&self) -> Result<()> {
        match &self.nat {
            Some(nat) => nat.ready().await,
            None => Ok(()),
        }
    }

    /// The enter helper's command and task for `cmd`.
    fn enter(&self, cmd: &CommandSpec, pty: Option<WindowSize>) -> Result<(Command, HelperTask)> {
        if self.starter.is_none() {
            return Err(Error::Stopped);
        }
        let task = HelperTask::Enter(EnterTask {
            init_pid: self.init_pid,
            pid_ns_inode: self.pid_ns_inode,
            private_network: self.private_network,
            user_ns: self.user_ns,
            policy: self.policy,
            cgroup_procs: self.cgroups.procs_files(),
            command: cmd.clone(),
            pty,
        });
        let mut c = self.helper.command();
        c.env_clear();
        Ok((c, task))
    }

    /// Kills init (and with it the pid namespace), reaps the helper and
    /// removes the cgroups.
    async fn shut_down(&mut self) -> Result<()> {
        let Some(mut starter) = self.starter.take() else {
            return Ok(());
        };
        let _ = kill(Pid::from_raw(self.init_pid), Signal::SIGKILL);
        drop(self.nat.take());
        drop(starter.stdin.take());
        starter.wait().await?;
        let mut cgroups = std::mem::take(&mut self.cgroups);
        tokio::task::spawn_blocking(move || cgroups.remove())
            .await
            .map_err(|e| Error::SessionSetup(e.to_string()))?
    }
}

impl Session for LinuxSession {
    type Config = LinuxConfig;

    async fn start(config: &LinuxConfig, spec: &SessionSpec) -> Result<Self> {
        let Root::Dir(root) = &spec.root;
        let root = std::fs::canonicalize(root)
            .map_err(|e| Error::sys_io(format!("root {}", root.display()), &e))?;
        let mut cgroups = Cgroups::create(&spec.name, &spec.limits)?;
        let task = HelperTask::Start(StartTask {
            name: spec.name.clone(),
            root,
            binds: spec.binds.clone(),
            shell: spec.shell.clone(),
            private_network: spec.network.is_private(),
            cgroup_procs: cgroups.procs_files(),
            ids: spec.ids,
            policy: spec.policy(),
        });
        let mut command = config.command();
        command.stdout(Stdio::piped()).kill_on_drop(true);
        let spawned = start_helper(command, &task).await;
        let mut starter = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = cgroups.remove();
                return Err(e);
            }
        };
        let nat = (spec.network == Network::Nat).then(|| NatRequest {
            pasta: config.pasta.clone(),
            user_ns: spec.ids.is_some(),
        });
        match await_ready(&mut starter, nat).await {
            Ok((init_pid, pid_ns, pid_ns_inode, nat)) => Ok(LinuxSession {
                name: spec.name.clone(),
                shell: spec.shell.clone(),
                helper: config.clone(),
                private_network: spec.network.is_private(),
                user_ns: spec.ids.is_some(),
                policy: spec.policy(),
                init_pid,
                pid_ns,
                pid_ns_inode,
                starter: Some(starter),
                nat,
                cgroups,
            }),
            Err(e) => {
                let _ = starter.kill().await;
                let _ = tokio::task::spawn_blocking(move || cgroups.remove()).await;
                Err(e)
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn shell_path(&self) -> &str {
        &self.shell
    }

    async fn run(&self, cmd: &CommandSpec) -> Result<Process> {
        self.network_ready().await?;
        let (mut command, task) = self.enter(cmd, None)?;
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        Ok(Process::new(start_helper(command, &task).await?))
    }

    async fn run_pty(&self, cmd: &CommandSpec, size: WindowSize) -> Result<PtyProcess> {
        self.network_ready().await?;
        let (ours, theirs) = UnixStream::pair()?;
        let (mut command, task) = self.enter(cmd, Some(size))?;
        command.stdout(OwnedFd::from(theirs));
        let mut child = start_helper(command, &task).await?;
        // The terminal is the command's input; the helper's ends here.
        drop(child.stdin.take());
        // The helper sends the master, or exits (closing its end) on failure.
        let master = tokio::task::spawn_blocking(move || receive_fd(&ours))
            .await
            .map_err(|e| Error::SessionSetup(e.to_string()))??;
        Ok(PtyProcess::new(child, PtyMaster::new(master)?))
    }

    fn processes(&self) -> Result<Vec<ProcessInfo>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(host_pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let dir = entry.path();
            if std::fs::read_link(dir.join("ns/pid")).ok().as_ref() != Some(&self.pid_ns) {
                continue;
            }
            let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
            let pid = status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            let command = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            out.push(ProcessInfo {
                host_pid,
                pid,
                command,
            });
        }
        out.sort_by_key(|p| p.pid);
        Ok(out)
    }

    async fn stop(&mut self) -> Result<()> {
        self.shut_down().await
    }
}

impl Drop for LinuxSession {
    fn drop(&mut self) {
        if self.starter.is_some() {
            let _ = kill(Pid::from_raw(self.init_pid), Signal::SIGKILL);
            let _ = self.cgroups.remove();
        }
    }
}

/// A session's outbound network, to start once its namespaces exist.
struct NatRequest {
    pasta: PathBuf,
    user_ns: bool,
}

/// Reads the start helper's reports: init's pid, then ready or failure.
/// The namespaces exist once init does, so pasta (if asked for) starts
/// setting up the network then, in the background.
async fn await_ready(
    starter: &mut Child,
    nat: Option<NatRequest>,
) -> Result<(i32, PathBuf, u64, Option<NatHandle>)> {
    let mut out = starter
        .stdout
        .take()
        .ok_or(Error::SessionSetup("helper has no stdout".into()))?;
    let lost = || Error::SessionSetup("helper exited without a report".into());
    let init_pid = match crate::frame::read::<Report, _>(&mut out).await? {
        Some(Report::Init(pid)) => pid,
        Some(Report::Failed(msg)) => return Err(Error::SessionSetup(msg)),
        _ => return Err(lost()),
    };
    // Read before Ready, which init sends only when set up; from then on it
    // cannot exit (and its pid be reused) until our keep-alive pipe closes.
    // A failing init may be gone already: its report says why.
    let ns_path = format!("/proc/{init_pid}/ns/pid");
    let ns = std::fs::read_link(&ns_path).and_then(|link| {
        let inode = std::fs::metadata(&ns_path)?.ino();
        Ok((link, inode))
    });
    // Dropped (killing pasta) if the session fails to start.
    let nat = nat
        .map(|n| NatHandle::start(n.pasta, init_pid, n.user_ns))
        .transpose();
    match crate::frame::read::<Report, _>(&mut out).await? {
        Some(Report::Ready) => {
            let (link, inode) = ns?;
            Ok((init_pid, link, inode, nat?))
        }
        Some(Report::Failed(msg)) => Err(Error::SessionSetup(msg)),
        _ => Err(lost()),
    }
}

/// Receives one descriptor sent with SCM_RIGHTS.
fn receive_fd(sock: &UnixStream) -> Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::sys("receive terminal", e))?;
    for cmsg in msg.cmsgs().map_err(|e| Error::sys("receive terminal", e))? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the kernel just installed this descriptor for us.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    Err(Error::SessionSetup(
        "helper failed to open a terminal".into(),
    ))
}
