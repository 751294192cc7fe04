//! The client side of named persistent shells: attach (on this process's
//! terminal, or with any streams), list and kill.

use super::client::{CHUNK, Target, Writer, break_on, connect, send};
use super::frames::{
    ClientFrame, SHELLS_VERSION, ServerFrame, ShellAnswer, ShellInfo, ShellRequest,
};
use super::terminal::RawTerminal;
use crate::session::{CommandSpec, ExitStatus, WindowSize, window_size};
use crate::{Error, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// The key that detaches a terminal from its shell: Ctrl-\, as dtach's.
pub const DETACH_KEY: u8 = 0x1c;

/// How an attachment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellEnd {
    /// The shell ended so.
    Exited(ExitStatus),
    /// The user detached; the shell runs on.
    Detached,
}

/// What an attached shell sends next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOutput {
    /// Output (the scrollback first, then live).
    Bytes(Vec<u8>),
    /// This client fell behind: this many bytes of output were skipped.
    Skipped(u64),
    /// The shell ended so; nothing follows.
    Exited(ExitStatus),
}

/// A connection attached to a named shell.
pub struct AttachedShell {
    frames: mpsc::Receiver<Result<ServerFrame>>,
    wr: Writer,
    started: bool,
    restored: bool,
}

/// Attaches to the shell `label` of the session behind `target`,
/// starting it with `command` (the session's shell if `None`) if it is
/// not running, on a terminal of `size` with `TERM` `term`.
pub async fn attach(
    target: &Target,
    label: &str,
    term: &str,
    size: WindowSize,
    command: Option<CommandSpec>,
) -> Result<AttachedShell> {
    let request = ShellRequest::Attach {
        label: label.to_string(),
        term: term.to_string(),
        size,
        command,
    };
    match request_shells(target, request).await? {
        (frames, wr, ShellAnswer::Attached { started, restored }) => Ok(AttachedShell {
            frames,
            wr,
            started,
            restored,
        }),
        (_, _, other) => Err(unexpected(other)),
    }
}

/// The running shells of the session behind `target`, and whether the
/// session was restored when its node started again (shells from before it are gone).
pub async fn list(target: &Target) -> Result<(Vec<ShellInfo>, bool)> {
    match request_shells(target, ShellRequest::List).await? {
        (_, _, ShellAnswer::List { shells, restored }) => Ok((shells, restored)),
        (_, _, other) => Err(unexpected(other)),
    }
}

/// Ends the shell `label`; returns once it has ended.
pub async fn kill(target: &Target, label: &str) -> Result<()> {
    let request = ShellRequest::Kill {
        label: label.to_string(),
    };
    match request_shells(target, request).await? {
        (_, _, ShellAnswer::Killed) => Ok(()),
        (_, _, other) => Err(unexpected(other)),
    }
}

type Answered = (mpsc::Receiver<Result<ServerFrame>>, Writer, ShellAnswer);

/// Sends a shell request; the listener's answer.
async fn request_shells(target: &Target, request: ShellRequest) -> Result<Answered> {
    let frame = ClientFrame::Shells {
        version: SHELLS_VERSION,
        request,
    };
    match connect(target, frame).await? {
        (frames, wr, ServerFrame::Shells(answer)) => Ok((frames, wr, answer)),
        (_, _, other) => Err(Error::Protocol(format!(
            "expected a shell answer, got {other:?}"
        ))),
    }
}

fn unexpected(answer: ShellAnswer) -> Error {
    Error::Protocol(format!("unexpected shell answer {answer:?}"))
}

/// What the input task passes on.
enum Key {
    /// Bytes typed.
    Typed(Vec<u8>),
    /// The detach key.
    Detach,
}

impl AttachedShell {
    /// Whether this attachment started the shell.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Whether the session was restored when its node started again (shells
    /// started before are gone).
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// The next output, or how the shell ended.
    pub async fn recv(&mut self) -> Result<ShellOutput> {
        loop {
            match self.frames.recv().await {
                Some(Ok(ServerFrame::Stdout(bytes))) => return Ok(ShellOutput::Bytes(bytes)),
                Some(Ok(ServerFrame::Exit(status))) => return Ok(ShellOutput::Exited(status)),
                Some(Ok(ServerFrame::Shells(ShellAnswer::Skipped { bytes }))) => {
                    return Ok(ShellOutput::Skipped(bytes));
                }
                other => break_on(other)?,
            }
        }
    }

    /// Types `bytes` at the shell's terminal.
    pub async fn input(&mut self, bytes: &[u8]) -> Result<()> {
        send(&mut self.wr, &ClientFrame::Stdin(bytes.to_vec())).await
    }

    /// Gives the shell's terminal this size.
    pub async fn resize(&mut self, size: WindowSize) -> Result<()> {
        send(&mut self.wr, &ClientFrame::Resize(size)).await
    }

    /// Leaves the shell running and closes the connection.
    pub async fn detach(mut self) -> Result<()> {
        Ok(self.wr.shutdown().await?)
    }

    /// Relays `input` to the shell and its output to `output` until it
    /// ends; the end of `input` only ends the input (kill the client, or
    /// use a terminal, to detach). Output this client fell behind on is
    /// replaced by a line saying how many bytes were skipped.
    pub async fn relay<I, O>(self, input: I, output: O) -> Result<ShellEnd>
    where
        I: AsyncRead + Unpin + Send + 'static,
        O: AsyncWrite + Unpin,
    {
        self.run(input, output, None).await
    }

    /// Relays the terminal `raw` (input and output) until the shell ends
    /// or the user types [`DETACH_KEY`]; the shell's terminal follows this
    /// one's size.
    pub async fn relay_terminal(self, raw: &RawTerminal) -> Result<ShellEnd> {
        let io = raw.io()?;
        self.run(io.clone(), io, Some(raw)).await
    }

    async fn run<I, O>(
        mut self,
        input: I,
        mut output: O,
        terminal: Option<&RawTerminal>,
    ) -> Result<ShellEnd>
    where
        I: AsyncRead + Unpin + Send + 'static,
        O: AsyncWrite + Unpin,
    {
        let (tx, mut keys) = mpsc::channel(16);
        let detach = terminal.map(|_| DETACH_KEY);
        let reader = tokio::spawn(read_keys(input, tx, detach));
        let mut winch = match terminal {
            Some(_) => Some(signal(SignalKind::window_change())?),
            None => None,
        };
        let end = loop {
            tokio::select! {
                out = self.recv() => match out? {
                    ShellOutput::Bytes(bytes) => {
                        output.write_all(&bytes).await?;
                        output.flush().await?;
                    }
                    ShellOutput::Skipped(n) => {
                        let note = format!("\r\n[{n} bytes of output skipped: this client fell behind]\r\n");
                        output.write_all(note.as_bytes()).await?;
                    }
                    ShellOutput::Exited(status) => break ShellEnd::Exited(status),
                },
                Some(key) = keys.recv() => match key {
                    Key::Typed(bytes) => self.input(&bytes).await?,
                    Key::Detach => break ShellEnd::Detached,
                },
                Some(()) = async { winch.as_mut()?.recv().await } => {
                    if let Some(raw) = terminal {
                        self.resize(window_size(raw.fd())?).await?;
                    }
                }
            }
        };
        reader.abort();
        output.flush().await?;
        if end == ShellEnd::Detached {
            self.detach().await?;
        }
        Ok(end)
    }
}

/// Passes what `from` yields on as keys, up to the `detach` key if any.
async fn read_keys<R: AsyncRead + Unpin>(mut from: R, tx: mpsc::Sender<Key>, detach: Option<u8>) {
    let mut buf = vec![0u8; CHUNK];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            return;
        }
        let typed = &buf[..n];
        let at = detach.and_then(|key| typed.iter().position(|&b| b == key));
        let before = &typed[..at.unwrap_or(n)];
        if !before.is_empty() && tx.send(Key::Typed(before.to_vec())).await.is_err() {
            return;
        }
        if at.is_some() {
            let _ = tx.send(Key::Detach).await;
            return;
        }
    }
}
