//! [`GridClient`]: one mutual-TLS connection to a grid server, one
//! request and its response at a time.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::colony::EnvInfo;
use crate::error::{Error, Result};
use crate::identity::client_config;
use crate::rpc::frame::{self, ReadFrame};
use crate::rpc::{NameInfo, Request, Response};

/// How long connecting and the TLS handshake may take.
const CONNECT: Duration = Duration::from_secs(10);

/// A connection to a grid server as the user of a credential file. A
/// connection the server closed while idle is dialled again at the next
/// call.
pub struct GridClient {
    tls: TlsStream<TcpStream>,
    addr: String,
    config: Arc<ClientConfig>,
}

/// The host part of `host:port` or `[v6]:port`, as the server's
/// certificate must name it.
pub fn host_of(addr: &str) -> Result<&str> {
    let bad = |reason: &str| Error::Connection {
        addr: addr.to_string(),
        reason: reason.to_string(),
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("want HOST:PORT"))?;
    port.parse::<u16>().map_err(|_| bad("bad port"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(host)
}

/// True for a wildcard host (`0.0.0.0`, `::`): fine to listen on, but
/// not an address anyone can be told to dial.
pub fn is_wildcard(host: &str) -> bool {
    host == "0.0.0.0" || host == "::"
}

impl GridClient {
    /// Connects to `addr` (`host:port`) with the credential file at
    /// `credential`; the server must hold a certificate from the same CA
    /// naming `host`.
    pub async fn connect(credential: &Path, addr: &str) -> Result<GridClient> {
        GridClient::connect_with(client_config(credential)?, addr).await
    }

    /// [`connect`](Self::connect) with a ready client configuration.
    pub async fn connect_with(config: Arc<ClientConfig>, addr: &str) -> Result<GridClient> {
        Ok(GridClient {
            tls: dial(config.clone(), addr).await?,
            addr: addr.to_string(),
            config,
        })
    }

    /// Sends `request` and returns the server's answer as it is, a
    /// [`Response::Error`] included.
    pub async fn call(&mut self, request: &Request) -> Result<Response> {
        let bytes = request.encode()?;
        self.raw_call(&bytes).await
    }

    /// Sends `bytes` as they are (a test of what servers do with bad
    /// frames uses this) and reads one response.
    pub async fn raw_call(&mut self, bytes: &[u8]) -> Result<Response> {
        if self.closed_by_server().await {
            tracing::debug!(addr = %self.addr, "the grid server closed an idle connection; dialling again");
            self.tls = dial(self.config.clone(), &self.addr).await?;
        }
        exchange(&mut self.tls, &self.addr, bytes).await
    }

    /// True if the server has closed the connection since the last answer
    /// (its idle timeout): nothing else arrives between answers, so
    /// anything readable now — the end, an error — means it is gone.
    async fn closed_by_server(&mut self) -> bool {
        let mut byte = [0u8; 1];
        // A zero timeout still polls the read once.
        tokio::time::timeout(Duration::ZERO, self.tls.read(&mut byte))
            .await
            .is_ok()
    }

    /// [`call`](Self::call), with [`Response::Error`] as [`Error::Refused`].
    pub async fn ask(&mut self, request: &Request) -> Result<Response> {
        match self.call(request).await? {
            Response::Error(msg) => Err(Error::Refused(msg)),
            r => Ok(r),
        }
    }

    /// `scores [filter]`.
    pub async fn scores(&mut self, filter: Option<&str>) -> Result<Vec<NameInfo>> {
        let filter = filter.map(str::to_string);
        match self.ask(&Request::Scores { filter }).await? {
            Response::Names(names) => Ok(names),
            other => Err(unexpected(&other)),
        }
    }

    /// `spawn NAME` or, with `disk`, `spawndisk NAME`.
    pub async fn spawn(&mut self, name: &str, disk: bool) -> Result<EnvInfo> {
        let name = name.to_string();
        match self.ask(&Request::Spawn { name, disk }).await? {
            Response::Spawned(env) => Ok(env),
            other => Err(unexpected(&other)),
        }
    }

    /// `save ENV LABEL`.
    pub async fn save(&mut self, env: &str, label: &str) -> Result<NameInfo> {
        let (env, label) = (env.to_string(), label.to_string());
        match self.ask(&Request::Save { env, label }).await? {
            Response::Saved(name) => Ok(name),
            other => Err(unexpected(&other)),
        }
    }

    /// `invite USER ENV`: the invitee's new name.
    pub async fn invite(&mut self, user: &str, env: &str) -> Result<NameInfo> {
        let (user, env) = (user.to_string(), env.to_string());
        match self.ask(&Request::Invite { user, env }).await? {
            Response::Invited { name, .. } => Ok(name),
            other => Err(unexpected(&other)),
        }
    }

    /// `status`: the caller's running environments.
    pub async fn status(&mut self) -> Result<Vec<EnvInfo>> {
        match self.ask(&Request::Status).await? {
            Response::Status { envs, .. } => Ok(envs),
            other => Err(unexpected(&other)),
        }
    }

    /// `boom ENV`.
    pub async fn boom(&mut self, env: &str) -> Result<()> {
        let env = env.to_string();
        match self.ask(&Request::Boom { env }).await? {
            Response::Boomed(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

/// Connects to `addr` (`host:port`) with mutual TLS; the server's
/// certificate must name `host`.
pub async fn dial(config: Arc<ClientConfig>, addr: &str) -> Result<TlsStream<TcpStream>> {
    let conn_err = |reason: String| Error::Connection {
        addr: addr.to_string(),
        reason,
    };
    let name =
        ServerName::try_from(host_of(addr)?.to_string()).map_err(|e| conn_err(e.to_string()))?;
    let connect = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| conn_err(e.to_string()))?;
        tcp.set_nodelay(true).map_err(|e| conn_err(e.to_string()))?;
        TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| conn_err(e.to_string()))
    };
    tokio::time::timeout(CONNECT, connect)
        .await
        .map_err(|_| conn_err(format!("no answer within {CONNECT:?}")))?
}

/// Sends one encoded request frame on `tls` (to `addr`) and reads and
/// decodes the one response.
pub(crate) async fn exchange<Resp: DeserializeOwned>(
    tls: &mut TlsStream<TcpStream>,
    addr: &str,
    bytes: &[u8],
) -> Result<Resp> {
    let conn_err = |reason: String| Error::Connection {
        addr: addr.to_string(),
        reason,
    };
    frame::write(tls, bytes)
        .await
        .map_err(|e| conn_err(e.to_string()))?;
    // A refused certificate shows as a TLS alert on this first read.
    match frame::read(tls, frame::MAX_RESPONSE).await {
        Ok(ReadFrame::Frame(f)) => frame::decode_body(&f, frame::MAX_RESPONSE),
        Ok(ReadFrame::TooLong(len)) => Err(Error::FrameTooLong {
            len,
            max: frame::MAX_RESPONSE,
        }),
        Ok(ReadFrame::End) => Err(conn_err("the server closed the connection".into())),
        Err(e) => Err(conn_err(e.to_string())),
    }
}

fn unexpected(r: &Response) -> Error {
    Error::BadFrame(format!("unexpected answer {r:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("localhost:16999").unwrap(), "localhost");
        assert_eq!(host_of("127.0.0.1:1").unwrap(), "127.0.0.1");
        assert_eq!(host_of("[::1]:16999").unwrap(), "::1");
        for bad in ["localhost", ":16999", "h:port", "h:70000"] {
            assert!(
                matches!(host_of(bad), Err(Error::Connection { .. })),
                "{bad}"
            );
        }
    }
}
