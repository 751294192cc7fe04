//! What a storage node asks its cpu service, and the answers: the frames
//! of [`rpc::frame`](crate::rpc::frame), version byte and postcard, over
//! mutual TLS between nodes.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::rpc::frame;

/// What [`CpuRequest::Start`] carries: one environment to root in a tree
/// the storage node serves over 9P.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartEnv {
    /// The environment's name (its scorename): the key on the cpu, and
    /// the `aname` that selects its tree on the storage node's 9P export.
    pub env: String,
    /// The hostname inside the session.
    pub hostname: String,
    /// The only user let into the cpu listener.
    pub owner: String,
    /// `host:port` of the storage node's 9P-over-TLS export.
    pub ninep_addr: String,
    /// `host:port` the cpu listener binds (port 0: any).
    pub cpu_bind: String,
    /// Resumed when the storage node started again: the named shells it
    /// ran are gone, and its listener says so.
    pub restored: bool,
}

/// A storage node's request to the cpu service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CpuRequest {
    /// Mount the environment's tree, start its session and cpu listener.
    Start(StartEnv),
    /// Return once everything written in the environment has reached
    /// the storage node.
    Flush {
        /// The environment.
        env: String,
    },
    /// Stop the environment: its listener, processes, mount and
    /// mount point.
    Stop {
        /// The environment.
        env: String,
    },
    /// The environments running here.
    Status,
    /// The asking node has just started and runs no environment: stop
    /// every one it started before (a crash leaves them orphaned here).
    Restarted,
}

/// The cpu service's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CpuResponse {
    /// Started; where its cpu listener listens.
    Started {
        /// The listener's bound address and port (an IPv6 scope or flow
        /// label is not carried).
        cpu_addr: std::net::SocketAddr,
    },
    /// Flushed.
    Flushed,
    /// Stopped (for [`CpuRequest::Restarted`]: every environment of
    /// the node).
    Stopped,
    /// The names of the environments running here, in name order.
    Running(Vec<String>),
    /// Refused or failed; why.
    Error(String),
}

impl CpuRequest {
    /// The frame for the wire, prefix included.
    pub fn encode(&self) -> Result<Vec<u8>> {
        frame::encode(self, frame::MAX_REQUEST)
    }

    /// Decodes one whole frame (see [`frame::decode`]).
    pub fn decode(bytes: &[u8]) -> Result<CpuRequest> {
        frame::decode(bytes, frame::MAX_REQUEST)
    }
}

impl CpuResponse {
    /// The frame for the wire, prefix included.
    pub fn encode(&self) -> Result<Vec<u8>> {
        frame::encode(self, frame::MAX_RESPONSE)
    }

    /// Decodes one whole frame (see [`frame::decode`]).
    pub fn decode(bytes: &[u8]) -> Result<CpuResponse> {
        frame::decode(bytes, frame::MAX_RESPONSE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        "\\PC{0,24}"
    }

    fn request() -> impl Strategy<Value = CpuRequest> {
        prop_oneof![
            (text(), text(), text(), text(), text(), any::<bool>()).prop_map(
                |(env, hostname, owner, ninep_addr, cpu_bind, restored)| {
                    CpuRequest::Start(StartEnv {
                        env,
                        hostname,
                        owner,
                        ninep_addr,
                        cpu_bind,
                        restored,
                    })
                }
            ),
            text().prop_map(|env| CpuRequest::Flush { env }),
            text().prop_map(|env| CpuRequest::Stop { env }),
            Just(CpuRequest::Status),
            Just(CpuRequest::Restarted),
        ]
    }

    fn response() -> impl Strategy<Value = CpuResponse> {
        prop_oneof![
            (any::<std::net::IpAddr>(), any::<u16>()).prop_map(|(ip, port)| CpuResponse::Started {
                cpu_addr: std::net::SocketAddr::new(ip, port)
            }),
            Just(CpuResponse::Flushed),
            Just(CpuResponse::Stopped),
            prop::collection::vec(text(), 0..8).prop_map(CpuResponse::Running),
            text().prop_map(CpuResponse::Error),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(r in request()) {
            prop_assert_eq!(CpuRequest::decode(&r.encode().unwrap()).unwrap(), r);
        }

        #[test]
        fn responses_round_trip(r in response()) {
            prop_assert_eq!(CpuResponse::decode(&r.encode().unwrap()).unwrap(), r);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
            let _ = CpuRequest::decode(&bytes);
            let _ = CpuResponse::decode(&bytes);
        }
    }
}
