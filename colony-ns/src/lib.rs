//! colony-ns: the 9P2000 protocol and a 9P server over a file-system trait.
//!
//! * [`ninep`]: every 9P2000 message as a type with `encode`/`decode`, qids,
//!   stat records and the framing (`size[4]` little-endian, counting itself).
//! * [`FileSystem`]: what a served tree implements, in terms of inode-like
//!   node ids (the qid path). The server owns fids; the tree never sees them.
//!   [`MemFs`] is an in-memory implementation for tests and embedding;
//!   [`FossilFs`] serves a live `colony_fossil::Fossil`.
//! * [`server`]: a tokio 9P server (TCP or Unix socket) with a handle for
//!   binding, the local address and graceful shutdown.

mod error;
mod fossil_fs;
pub mod fs;
mod memfs;
pub mod ninep;
pub mod server;

pub use error::{Error, Result};
pub use fossil_fs::FossilFs;
pub use fs::{DirEntry, FileSystem, Meta, NodeId, SetMeta};
pub use memfs::MemFs;
pub use server::{ListenAddr, Server, ServerConfig, ServerHandle};
