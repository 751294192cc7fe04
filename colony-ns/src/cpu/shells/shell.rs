//! One named persistent shell: a command on a terminal of the session,
//! the terminal's master end, the scrollback of its output and the
//! clients watching it. It outlives every client: one task drains the
//! terminal whether anyone watches or not, so the command never blocks on
//! output and memory stays at the ring.

use super::ring::Ring;
use crate::cpu::ShellInfo;
use crate::session::{ExitStatus, PtyMaster, PtyProcess, WindowSize};
use crate::{Error, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

/// A piece of output, shared by every client it goes to.
pub(super) type Chunk = Arc<[u8]>;

/// Output is read in pieces of at most this many bytes.
pub(super) const CHUNK: usize = 16 * 1024;

/// Pieces of output queued for one client (at most 1 MiB). Output that
/// finds a client's queue full is skipped for that client, which is told
/// how many bytes it missed (they may still be in the ring: reattach), so
/// a slow client stalls neither the shell nor the others.
const CLIENT_QUEUE: usize = 64;

/// How long output may trail the command's exit (background jobs can hold
/// the terminal open forever).
const TRAILING_OUTPUT: Duration = Duration::from_millis(200);

/// How long a killed shell has to end after its hangup before the kill.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// A running (or just ended) shell.
#[derive(Debug)]
pub(super) struct Shell {
    label: String,
    command: Vec<String>,
    started: Instant,
    master: PtyMaster,
    /// The enter helper's host pid: signals to it reach the command's group.
    helper: Option<u32>,
    state: Mutex<State>,
    /// The command's status once it has ended.
    ended: watch::Sender<Option<ExitStatus>>,
}

/// What a client is sent.
#[derive(Debug)]
pub(super) enum Piece {
    /// Output.
    Bytes(Chunk),
    /// This many bytes of output were skipped: the client fell behind.
    Skipped(u64),
}

/// One client's queue, and what it has missed since it last had room.
#[derive(Debug)]
struct Viewer {
    queue: mpsc::Sender<Piece>,
    skipped: u64,
}

impl Viewer {
    /// Queues `chunk` (after the count of what was skipped, if any), or
    /// counts it skipped; false once the client has gone.
    fn offer(&mut self, chunk: &Chunk) -> bool {
        let piece = match self.skipped {
            0 => Piece::Bytes(chunk.clone()),
            n => Piece::Skipped(n),
        };
        let first_skipped = matches!(piece, Piece::Skipped(_));
        match self.queue.try_send(piece) {
            Ok(()) if first_skipped => {
                self.skipped = 0;
                self.offer(chunk)
            }
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.skipped += chunk.len() as u64;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// What the output task and the clients share.
#[derive(Debug)]
struct State {
    ring: Ring,
    clients: BTreeMap<u64, Viewer>,
    next_client: u64,
    /// Set when the shell ends, under the same lock as the clients go, so
    /// no client joins an ended shell.
    over: bool,
}

/// An attached client: the shell's live output, from just after the
/// scrollback it got with it. Dropping it detaches.
pub(super) struct Client {
    shell: Arc<Shell>,
    id: u64,
    output: mpsc::Receiver<Piece>,
}

impl Client {
    /// The next piece of output; `None` once the shell has ended (see
    /// [`Shell::exit_status`]).
    pub async fn recv(&mut self) -> Option<Piece> {
        self.output.recv().await
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shell.state().clients.remove(&self.id);
    }
}

impl Shell {
    /// A shell named `label` for `process` (running `command`), keeping
    /// `ring` bytes of output; [`Shell::run`] drives it.
    pub fn new(label: &str, command: Vec<String>, process: &PtyProcess, ring: usize) -> Arc<Shell> {
        Arc::new(Shell {
            label: label.to_string(),
            command,
            started: Instant::now(),
            master: process.master.clone(),
            helper: process.id(),
            state: Mutex::new(State {
                ring: Ring::new(ring),
                clients: BTreeMap::new(),
                next_client: 0,
                over: false,
            }),
            ended: watch::channel(None).0,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Each critical section is a few map and ring operations.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drains the terminal until `process` ends (and its trailing output
    /// is in), then ends the shell for every client.
    pub async fn run(self: Arc<Self>, mut process: PtyProcess) {
        let mut reader = tokio::spawn(self.clone().drain());
        let status = match process.wait().await {
            Ok(status) => status,
            Err(e) => {
                tracing::warn!(shell = %self.label, "waiting for the shell: {e}");
                ExitStatus::Signal(Signal::SIGKILL as i32)
            }
        };
        if tokio::time::timeout(TRAILING_OUTPUT, &mut reader)
            .await
            .is_err()
        {
            reader.abort();
        }
        let mut state = self.state();
        state.over = true;
        self.ended.send_replace(Some(status));
        // Their receivers end: each client then reads the status.
        state.clients.clear();
    }

    /// Reads the terminal until it ends, into the ring and to the clients.
    async fn drain(self: Arc<Self>) {
        let mut master = self.master.clone();
        let mut buf = vec![0u8; CHUNK];
        while let Ok(n) = master.read(&mut buf).await {
            if n == 0 {
                return;
            }
            let chunk: Chunk = buf[..n].into();
            let mut state = self.state();
            state.ring.push(&chunk);
            state.clients.retain(|_, viewer| viewer.offer(&chunk));
        }
    }

    /// Attaches a client: the scrollback, and the live output from the
    /// byte after it. Taken under one lock, so nothing is lost or repeated
    /// between the two.
    pub fn join(self: &Arc<Self>) -> Result<(Vec<u8>, Client)> {
        let (tx, output) = mpsc::channel(CLIENT_QUEUE);
        let mut state = self.state();
        if state.over {
            return Err(Error::NoSuchShell(self.label.clone()));
        }
        let id = state.next_client;
        state.next_client += 1;
        state.clients.insert(
            id,
            Viewer {
                queue: tx,
                skipped: 0,
            },
        );
        let scrollback = state.ring.contents();
        drop(state);
        let client = Client {
            shell: self.clone(),
            id,
            output,
        };
        Ok((scrollback, client))
    }

    /// How the command ended, once it has.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self.ended.borrow()
    }

    /// Types `bytes` at the terminal.
    pub async fn write(&self, bytes: &[u8]) -> Result<()> {
        Ok(self.master.clone().write_all(bytes).await?)
    }

    /// Gives the terminal the size of the client that spoke last.
    pub fn resize(&self, size: WindowSize) -> Result<()> {
        self.master.resize(size)
    }

    /// Delivers signal `number` to the command's process group.
    pub fn signal(&self, number: i32) {
        if let (Some(pid), Ok(sig)) = (self.helper, Signal::try_from(number)) {
            let _ = kill(Pid::from_raw(pid as i32), sig);
        }
    }

    /// Hangs the terminal up (SIGHUP to the command's group), as closing
    /// a terminal does; returns at once.
    pub fn hang_up(&self) {
        self.signal(Signal::SIGHUP as i32);
    }

    /// Hangs up, then kills the command if it has not ended within
    /// [`KILL_GRACE`]; returns once it has ended.
    pub async fn kill(&self) {
        let mut ended = self.ended.subscribe();
        self.hang_up();
        let gone = tokio::time::timeout(KILL_GRACE, ended.wait_for(Option::is_some))
            .await
            .is_ok();
        if !gone {
            self.signal(Signal::SIGKILL as i32);
            let _ = ended.wait_for(Option::is_some).await;
        }
    }

    /// The shell as listed.
    pub fn info(&self) -> ShellInfo {
        let state = self.state();
        ShellInfo {
            label: self.label.clone(),
            command: self.command.clone(),
            age_secs: self.started.elapsed().as_secs(),
            clients: state.clients.len() as u32,
            buffered: state.ring.len() as u64,
        }
    }
}
