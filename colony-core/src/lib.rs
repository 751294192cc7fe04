//! colony-core: the grid's records and identity.
//!
//! * [`names`]: scorenames, the immutable, grow-only map from a name to a
//!   root score and its owner, unique without coordination
//!   ([`names::ScoreNames`]), with import and export of the Plan 9
//!   spawngrid's ndb file ([`names::ndb_io`], over the general [`ndb`]
//!   parser).
//! * [`identity`]: the grid's private CA, node and user certificates, and
//!   the mutual-TLS configurations built from them.
//! * [`UserName`] and [`NodeId`]: the grammars of the identities above.
//! * [`Limits`]: what a node allows each user and itself to spawn.
//! * [`colony`]: the spawning API, [`Colony`] (scores, spawn, spawndisk,
//!   save, invite, status, boom), one per node.
//! * [`rpc`]: the grid RPC that serves a [`Colony`] to gridorc over mutual
//!   TLS ([`rpc::GridServer`], [`rpc::GridClient`]).
//! * [`replication`]: blocks and names pulled between a grid's storage
//!   nodes, names never ahead of their blocks.
//! * [`cpu_service`]: the cpu service of a node split into storage and
//!   cpu processes ([`cpu_service::CpuServer`]), and its client.
//! * [`fuzz`]: the properties the fuzz targets assert, replayed on the
//!   committed corpus by `cargo test`.

pub mod colony;
pub mod cpu_service;
mod durable;
mod error;
pub mod fuzz;
pub mod identity;
pub mod limits;
pub mod names;
pub mod ndb;
pub mod node;
pub mod replication;
pub mod rpc;
pub mod user;

pub use colony::{Colony, ColonyConfig, EnvInfo};
pub use colony_venti::Score;
pub use error::{Error, Result};
pub use limits::Limits;
pub use names::{Name, NameRecord, NameStore, ScoreNames};
pub use node::NodeId;
pub use user::UserName;
