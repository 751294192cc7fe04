//! Server side of a running job: the client's input, window sizes and
//! signals to the command; its output and exit status back.

use super::frames::{ClientFrame, ServerFrame};
use super::server::{Reader, Writer, send};
use crate::session::{Process, PtyMaster, PtyProcess};
use crate::{Error, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::ChildStdin;
use tokio::sync::mpsc;

/// How long terminal output may trail the command's exit (background jobs
/// can hold the terminal open forever).
const TRAILING_OUTPUT: Duration = Duration::from_millis(200);

/// Output is relayed in chunks of at most this many bytes.
const CHUNK: usize = 16 * 1024;

/// A started command.
pub(super) enum Job {
    /// Piped stdio.
    Piped(Process),
    /// On a session terminal.
    Terminal(PtyProcess),
}

/// Where the client's input goes.
enum Sink {
    /// The command's stdin, until the client ends it.
    Pipe(Option<ChildStdin>),
    /// The terminal.
    Term(PtyMaster),
}

/// Relays until the command exits, then sends its status and closes.
pub(super) async fn run(job: Job, rd: Reader, mut wr: Writer) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<ServerFrame>(16);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            send(&mut wr, &frame).await?;
        }
        wr.shutdown().await?;
        Ok::<_, Error>(())
    });
    let _ = tx.send(ServerFrame::Started).await;
    let status = match job {
        Job::Piped(mut p) => {
            let input = tokio::spawn(input(rd, Sink::Pipe(p.stdin()), p.id()));
            let out = tokio::spawn(pump(p.stdout(), tx.clone(), ServerFrame::Stdout));
            let err = tokio::spawn(pump(p.stderr(), tx.clone(), ServerFrame::Stderr));
            let _ = tokio::join!(out, err);
            let status = p.wait().await;
            input.abort();
            status
        }
        Job::Terminal(mut p) => {
            let input = tokio::spawn(input(rd, Sink::Term(p.master.clone()), p.id()));
            let output = tokio::spawn(pump(
                Some(p.master.clone()),
                tx.clone(),
                ServerFrame::Stdout,
            ));
            let status = p.wait().await;
            let _ = tokio::time::timeout(TRAILING_OUTPUT, output).await;
            input.abort();
            status
        }
    };
    let last = match &status {
        Ok(s) => ServerFrame::Exit(*s),
        Err(e) => ServerFrame::Error(e.to_string()),
    };
    let _ = tx.send(last).await;
    drop(tx);
    writer.await.map_err(|e| Error::Protocol(e.to_string()))??;
    status.map(drop)
}

/// Applies the client's frames until it goes; a vanished client hangs the
/// command up (SIGHUP to its group).
async fn input(mut rd: Reader, mut sink: Sink, helper: Option<u32>) {
    loop {
        match crate::frame::read::<ClientFrame, _>(&mut rd).await {
            Ok(Some(ClientFrame::Stdin(bytes))) => match &mut sink {
                Sink::Pipe(stdin) => {
                    if let Some(w) = stdin
                        && w.write_all(&bytes).await.is_err()
                    {
                        *stdin = None;
                    }
                }
                Sink::Term(m) => {
                    let _ = m.write_all(&bytes).await;
                }
            },
            Ok(Some(ClientFrame::StdinEof)) => {
                if let Sink::Pipe(stdin) = &mut sink {
                    *stdin = None;
                }
            }
            Ok(Some(ClientFrame::Resize(size))) => {
                if let Sink::Term(m) = &sink {
                    let _ = m.resize(size);
                }
            }
            Ok(Some(ClientFrame::Signal(n))) => signal(helper, n),
            // A second request on one connection is ignored.
            Ok(Some(
                ClientFrame::Run(_) | ClientFrame::Shell { .. } | ClientFrame::Shells { .. },
            )) => {}
            Ok(None) | Err(_) => {
                signal(helper, Signal::SIGHUP as i32);
                return;
            }
        }
    }
}

/// Signals the enter helper, which passes it on to the command's group.
fn signal(helper: Option<u32>, number: i32) {
    if let (Some(pid), Ok(sig)) = (helper, Signal::try_from(number)) {
        let _ = kill(Pid::from_raw(pid as i32), sig);
    }
}

/// Sends everything `from` yields as frames made by `make`.
async fn pump<R: AsyncRead + Unpin>(
    from: Option<R>,
    tx: mpsc::Sender<ServerFrame>,
    make: fn(Vec<u8>) -> ServerFrame,
) {
    let Some(mut from) = from else { return };
    let mut buf = vec![0u8; CHUNK];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || tx.send(make(buf[..n].to_vec())).await.is_err() {
            return;
        }
    }
}
