//! The cpu service (`colony-cpu`): runs environments for storage nodes.
//!
//! A storage node ([`RemoteRuntime`](crate::colony::RemoteRuntime)) keeps
//! each environment's live fossil and serves it over 9P on mutual TLS;
//! it asks this service ([`CpuClient`] → [`CpuServer`], frames of
//! [`rpc::frame`](crate::rpc::frame)) to start the environment, which
//! dials that export as a node, FUSE-mounts it ([`colony_ns::client::RemoteFs`]),
//! roots a Linux session there and serves it to its owner with a cpu
//! listener, just as [`SessionRuntime`](crate::colony::SessionRuntime)
//! does for a local fossil. Flush (before the storage node saves) and
//! stop travel the same way. Only node certificates of the grid CA are
//! served.

mod client;
mod message;
mod server;
mod service;

pub use client::CpuClient;
pub use message::{CpuRequest, CpuResponse, StartEnv};
pub use server::{CPU_ENVS_DIR, CpuServer, CpuServiceConfig};
