//! [`CpuClient`]: how a storage node asks its cpu service, one mutual-TLS
//! connection per request (requests are few and may run at once: a
//! start takes as long as mounting and starting a session).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ClientConfig;

use super::message::{CpuRequest, CpuResponse, StartEnv};
use crate::error::{Error, Result};
use crate::rpc::{dial, exchange};

/// A cpu service's address and the node credential to reach it with.
#[derive(Clone)]
pub struct CpuClient {
    addr: String,
    tls: Arc<ClientConfig>,
}

impl CpuClient {
    /// The cpu service at `addr` (`host:port`; its certificate must name
    /// `host`), reached with `tls` (a node credential's client config).
    pub fn new(addr: &str, tls: Arc<ClientConfig>) -> CpuClient {
        CpuClient {
            addr: addr.to_string(),
            tls,
        }
    }

    /// The service's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `request` and returns the answer; a [`CpuResponse::Error`]
    /// is [`Error::CpuRefused`], a connection that fails
    /// [`Error::CpuUnreachable`].
    pub async fn call(&self, request: &CpuRequest) -> Result<CpuResponse> {
        let unreachable = |e: Error| Error::CpuUnreachable {
            addr: self.addr.clone(),
            reason: match e {
                Error::Connection { reason, .. } => reason,
                other => other.to_string(),
            },
        };
        let bytes = request.encode()?;
        let mut tls = dial(self.tls.clone(), &self.addr)
            .await
            .map_err(unreachable)?;
        let answer = exchange(&mut tls, &self.addr, &bytes)
            .await
            .map_err(unreachable)?;
        match answer {
            CpuResponse::Error(reason) => Err(Error::CpuRefused {
                addr: self.addr.clone(),
                reason,
            }),
            answer => Ok(answer),
        }
    }

    /// Starts an environment; returns its cpu listener's address.
    pub async fn start(&self, env: StartEnv) -> Result<SocketAddr> {
        match self.call(&CpuRequest::Start(env)).await? {
            CpuResponse::Started { cpu_addr } => Ok(cpu_addr),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Flushes an environment's writes through to the storage node.
    pub async fn flush(&self, env: &str) -> Result<()> {
        let env = env.to_string();
        match self.call(&CpuRequest::Flush { env }).await? {
            CpuResponse::Flushed => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Stops an environment.
    pub async fn stop(&self, env: &str) -> Result<()> {
        let env = env.to_string();
        match self.call(&CpuRequest::Stop { env }).await? {
            CpuResponse::Stopped => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Tells the service this node has just started: it stops every
    /// environment it ran for it.
    pub async fn restarted(&self) -> Result<()> {
        match self.call(&CpuRequest::Restarted).await? {
            CpuResponse::Stopped => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    /// The environments the service runs.
    pub async fn running(&self) -> Result<Vec<String>> {
        match self.call(&CpuRequest::Status).await? {
            CpuResponse::Running(envs) => Ok(envs),
            other => Err(self.unexpected(&other)),
        }
    }

    fn unexpected(&self, answer: &CpuResponse) -> Error {
        Error::CpuRefused {
            addr: self.addr.clone(),
            reason: format!("unexpected answer {answer:?}"),
        }
    }
}
