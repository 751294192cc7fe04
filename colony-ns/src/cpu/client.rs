//! The client side of `colony cpu`: run a command in a remote session, or
//! an interactive shell on the caller's terminal.

use super::frames::{ClientFrame, ServerFrame};
use super::terminal::RawTerminal;
use super::tls::Identity;
use crate::session::{CommandSpec, ExitStatus, window_size};
use crate::{Error, Result};
use rustls::pki_types::ServerName;
use std::os::fd::OwnedFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Where a cpu listener is and how to prove who we are.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` to connect to.
    pub addr: String,
    /// The name the listener's certificate must carry.
    pub server_name: String,
    /// Our certificate, key and the grid CA.
    pub identity: Identity,
}

type Reader = ReadHalf<TlsStream<TcpStream>>;
pub(super) type Writer = WriteHalf<TlsStream<TcpStream>>;

/// Input is sent in chunks of at most this many bytes.
pub(super) const CHUNK: usize = 16 * 1024;

/// Runs `cmd` in the remote session: `stdin` is sent to it, its stdout and
/// stderr are written to `stdout` and `stderr`. With `forward_interrupt`
/// this process's SIGINT is passed on to the remote command instead.
pub async fn run_command<I, O, E>(
    target: &Target,
    cmd: CommandSpec,
    stdin: I,
    mut stdout: O,
    mut stderr: E,
    forward_interrupt: bool,
) -> Result<ExitStatus>
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let (mut frames, mut wr) = open(target, ClientFrame::Run(cmd)).await?;
    let (tx, mut rx) = mpsc::channel::<ClientFrame>(16);
    let input = tokio::spawn(read_input(stdin, tx.clone()));
    let mut interrupts = if forward_interrupt {
        Some(signal(SignalKind::interrupt())?)
    } else {
        None
    };
    let status = loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(Ok(ServerFrame::Stdout(b))) => stdout.write_all(&b).await?,
                Some(Ok(ServerFrame::Stderr(b))) => stderr.write_all(&b).await?,
                Some(Ok(ServerFrame::Exit(s))) => break s,
                other => break_on(other)?,
            },
            Some(frame) = rx.recv() => send(&mut wr, &frame).await?,
            Some(()) = async { interrupts.as_mut()?.recv().await } => {
                send(&mut wr, &ClientFrame::Signal(nix::libc::SIGINT)).await?;
            }
        }
    };
    input.abort();
    stdout.flush().await?;
    stderr.flush().await?;
    Ok(status)
}

/// Opens the session's shell on this process's terminal (stdin), in raw
/// mode, following window-size changes, until the shell exits.
pub async fn interactive(target: &Target, term: &str) -> Result<ExitStatus> {
    let tty = std::io::stdin().as_fd_owned()?;
    interactive_on(target, term, tty).await
}

/// [`interactive`] on the terminal `tty` (for input and output).
pub async fn interactive_on(target: &Target, term: &str, tty: OwnedFd) -> Result<ExitStatus> {
    let raw = RawTerminal::new(tty)?;
    let size = window_size(raw.fd())?;
    let request = ClientFrame::Shell {
        term: term.to_owned(),
        size,
        command: None,
    };
    let (mut frames, mut wr) = open(target, request).await?;
    let io = raw.io()?;
    let (tx, mut rx) = mpsc::channel::<ClientFrame>(16);
    let input = tokio::spawn(read_input(io.clone(), tx));
    let mut winch = signal(SignalKind::window_change())?;
    let mut out = io;
    let status = loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(Ok(ServerFrame::Stdout(b))) => out.write_all(&b).await?,
                Some(Ok(ServerFrame::Exit(s))) => break s,
                other => break_on(other)?,
            },
            Some(frame) = rx.recv() => send(&mut wr, &frame).await?,
            Some(()) = winch.recv() => {
                send(&mut wr, &ClientFrame::Resize(window_size(raw.fd())?)).await?;
            }
        }
    };
    input.abort();
    drop(raw);
    Ok(status)
}

/// The result of a frame the loops do not expect: an error, or nothing for
/// frames to ignore.
pub(super) fn break_on(frame: Option<Result<ServerFrame>>) -> Result<()> {
    match frame {
        Some(Ok(ServerFrame::Error(msg))) => Err(Error::Refused(msg)),
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(e),
        None => Err(Error::Protocol(
            "listener closed before the exit status".into(),
        )),
    }
}

/// Connects, sends the request and waits for Started (or the refusal).
async fn open(
    target: &Target,
    request: ClientFrame,
) -> Result<(mpsc::Receiver<Result<ServerFrame>>, Writer)> {
    match connect(target, request).await? {
        (frames, wr, ServerFrame::Started) => Ok((frames, wr)),
        (_, _, other) => Err(Error::Protocol(format!("expected Started, got {other:?}"))),
    }
}

/// Connects, sends the request and returns the first answer (a refusal
/// is [`Error::Refused`]), the later frames and the write half.
pub(super) async fn connect(
    target: &Target,
    request: ClientFrame,
) -> Result<(mpsc::Receiver<Result<ServerFrame>>, Writer, ServerFrame)> {
    let connector = TlsConnector::from(target.identity.client_config()?);
    let name =
        ServerName::try_from(target.server_name.clone()).map_err(|e| Error::Tls(e.to_string()))?;
    let tcp = TcpStream::connect(&target.addr).await?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| Error::Tls(e.to_string()))?;
    let (rd, mut wr) = tokio::io::split(tls);
    send(&mut wr, &request).await?;
    let mut frames = frames(rd);
    match frames.recv().await {
        Some(Ok(ServerFrame::Error(msg))) => Err(Error::Refused(msg)),
        Some(Ok(first)) => Ok((frames, wr, first)),
        // A rejected certificate surfaces as a TLS alert on the first read.
        Some(Err(Error::Io(e))) => Err(Error::Tls(e.to_string())),
        Some(Err(e)) => Err(e),
        None => Err(Error::Refused("listener closed the connection".into())),
    }
}

/// Reads server frames on their own task (reads are not cancel-safe).
fn frames(mut rd: Reader) -> mpsc::Receiver<Result<ServerFrame>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let frame = crate::frame::read::<ServerFrame, _>(&mut rd).await;
            let end = !matches!(frame, Ok(Some(_)));
            if let Some(frame) = frame.transpose()
                && tx.send(frame).await.is_err()
            {
                return;
            }
            if end {
                return;
            }
        }
    });
    rx
}

/// Turns local input into Stdin frames, then StdinEof.
async fn read_input<R: AsyncRead + Unpin>(mut from: R, tx: mpsc::Sender<ClientFrame>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buf).await {
            Ok(n) if n > 0 => {
                if tx
                    .send(ClientFrame::Stdin(buf[..n].to_vec()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            _ => {
                let _ = tx.send(ClientFrame::StdinEof).await;
                return;
            }
        }
    }
}

/// Writes one frame.
pub(super) async fn send(wr: &mut Writer, frame: &ClientFrame) -> Result<()> {
    wr.write_all(&frame.encode()?).await?;
    wr.flush().await?;
    Ok(())
}

/// An owned duplicate of a standard stream's descriptor.
trait AsFdOwned {
    fn as_fd_owned(&self) -> std::io::Result<OwnedFd>;
}

impl AsFdOwned for std::io::Stdin {
    fn as_fd_owned(&self) -> std::io::Result<OwnedFd> {
        std::os::fd::AsFd::as_fd(self).try_clone_to_owned()
    }
}
