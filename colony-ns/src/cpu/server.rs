//! The cpu listener: accepts mutual-TLS connections, lets in the session's
//! owner only, and runs one command or terminal per connection, or
//! answers one request about the session's named shells.

use super::frames::{ClientFrame, ServerFrame};
use super::relay;
use super::shells::{ShellLimits, Shells};
use super::tls::user_name;
use crate::session::{CommandSpec, Session};
use crate::{Error, Result};
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a peer may take over the TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// A sane [`CpuConfig::max_connections`]: a session's owner runs a few
/// terminals and commands at once, not hundreds.
pub const MAX_CONNECTIONS: usize = 64;

/// The read half of an accepted connection.
pub(super) type Reader = ReadHalf<TlsStream<TcpStream>>;
/// The write half of an accepted connection.
pub(super) type Writer = WriteHalf<TlsStream<TcpStream>>;

/// Who may use the listener and how it proves itself.
#[derive(Debug, Clone)]
pub struct CpuConfig {
    /// The only user (client certificate common name) let in.
    pub owner: String,
    /// The organisational unit that marks a user's certificate (the grid's
    /// `colony-user`): any other kind is refused whatever its common name.
    pub user_unit: String,
    /// TLS with client verification (see [`super::Identity::server_config`]).
    pub tls: Arc<ServerConfig>,
    /// Connections served at once, handshakes included (see
    /// [`MAX_CONNECTIONS`]); one more is accepted, logged and closed, so a
    /// flood of handshakes cannot pile up and the listener never stops
    /// accepting.
    pub max_connections: usize,
    /// What the session's named persistent shells are held to.
    pub shells: ShellLimits,
    /// The session was restored when its node started again: clients asking
    /// for shells are told the earlier ones are gone.
    pub restored: bool,
}

/// A running listener.
#[derive(Debug)]
pub struct CpuHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    shells: Arc<Shells>,
}

impl CpuHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and hangs up every named shell; other
    /// connections in progress carry on.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.shells.close().await;
    }
}

/// Binds `addr` and serves `session` to its owner.
pub async fn listen<S: Session + 'static>(
    addr: &str,
    config: CpuConfig,
    session: Arc<S>,
) -> Result<CpuHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let acceptor = TlsAcceptor::from(config.tls.clone());
    let max = config.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let owner = Arc::new(Owner {
        name: config.owner,
        unit: config.user_unit,
    });
    let shells = Shells::new(config.shells, config.restored);
    let served = shells.clone();
    let task = tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("cpu accept: {e}");
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                let open = max;
                let e = Error::TooManyConnections {
                    what: "cpu listener",
                    open,
                    max,
                };
                tracing::warn!(%peer, "{e}");
                continue;
            };
            let (acceptor, owner, session) = (acceptor.clone(), owner.clone(), session.clone());
            let shells = served.clone();
            tokio::spawn(async move {
                if let Err(e) = serve(stream, acceptor, &owner, &*session, &shells).await {
                    tracing::info!("cpu connection from {peer}: {e}");
                }
                drop(slot);
            });
        }
    });
    Ok(CpuHandle {
        addr,
        stop,
        task,
        shells,
    })
}

/// Whom the listener lets in.
#[derive(Debug)]
struct Owner {
    /// The user's name.
    name: String,
    /// The organisational unit of user certificates.
    unit: String,
}

/// One connection: handshake, owner check, request, relay.
async fn serve<S: Session>(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    owner: &Owner,
    session: &S,
    shells: &Arc<Shells>,
) -> Result<()> {
    // The verifier rejects missing and foreign certificates here.
    let tls = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream))
        .await
        .map_err(|_| Error::Tls("handshake timed out".into()))?
        .map_err(|e| Error::Tls(e.to_string()))?;
    let user = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| Error::Refused("no client certificate".into()))
        .and_then(|cert| user_name(cert, &owner.unit));
    let (mut rd, mut wr) = tokio::io::split(tls);
    let user = match user {
        Ok(u) if u == owner.name => u,
        Ok(u) => return refuse(&mut wr, format!("{u} does not own {}", session.name())).await,
        Err(e) => return refuse(&mut wr, e.to_string()).await,
    };
    let request = crate::frame::read::<ClientFrame, _>(&mut rd)
        .await?
        .ok_or_else(|| Error::Protocol("connection closed before a request".into()))?;
    // Commands and their arguments are the user's business: debug only (issue 12).
    tracing::debug!("cpu: {user} in {}: {request:?}", session.name());
    let started = match request {
        ClientFrame::Run(cmd) => session.run(&cmd).await.map(relay::Job::Piped),
        ClientFrame::Shell {
            term,
            size,
            command,
        } => {
            let cmd = command.unwrap_or_else(|| CommandSpec::new([session.shell_path()]));
            session
                .run_pty(&cmd.env("TERM", &term), size)
                .await
                .map(relay::Job::Terminal)
        }
        ClientFrame::Shells { version, request } => {
            return super::shells::serve(shells, session, version, request, rd, wr).await;
        }
        other => Err(Error::Protocol(format!(
            "expected Run, Shell or Shells, got {other:?}"
        ))),
    };
    match started {
        Ok(job) => relay::run(job, rd, wr).await,
        Err(e) => fail(&mut wr, e).await,
    }
}

/// Tells the peer the request failed, closes, and reports `e`.
pub(super) async fn fail(wr: &mut Writer, e: Error) -> Result<()> {
    send(wr, &ServerFrame::Error(e.to_string())).await?;
    wr.shutdown().await?;
    Err(e)
}

/// Tells the peer why, closes, and reports the refusal.
async fn refuse(wr: &mut Writer, why: String) -> Result<()> {
    send(wr, &ServerFrame::Error(format!("refused: {why}"))).await?;
    wr.shutdown().await?;
    Err(Error::Refused(why))
}

/// Writes one frame.
pub(super) async fn send(wr: &mut Writer, frame: &ServerFrame) -> Result<()> {
    wr.write_all(&frame.encode()?).await?;
    wr.flush().await?;
    Ok(())
}
