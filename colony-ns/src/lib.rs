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
//! * [`client`]: a 9P2000 client, [`RemoteFs`], that is itself a
//!   [`FileSystem`]: a remote tree to use or FUSE-mount like a local one.
//! * [`fuse`]: the same trees mounted with FUSE ([`fuse::mount`]), so
//!   ordinary Linux programs use them.
//! * [`session`]: private namespaces rooted in a file tree ([`session::Session`],
//!   [`session::LinuxSession`]) and their helper process.
//! * [`cpu`]: the cpu listener, a mutual-TLS endpoint through which a session's
//!   owner runs commands and shells, and its client.
//! * [`frame`]: length-prefixed postcard frames for our own protocols.
//! * [`fuzz`]: the properties the fuzz targets assert, replayed on the
//!   committed corpus by `cargo test`.

pub mod client;
pub mod cpu;
mod error;
mod fossil_fs;
pub mod frame;
pub mod fs;
pub mod fuse;
pub mod fuzz;
mod id_range;
mod memfs;
pub mod ninep;
pub mod server;
pub mod session;
mod sparse_bytes;

pub use client::RemoteFs;
pub use error::{Error, Result};
pub use fossil_fs::{Checkpoint, FossilFs};
pub use fs::{Allocate, DirEntry, FileSystem, Meta, NodeId, Seek, SetMeta, Space};
pub use fuse::{MountHandle, MountOptions, mount};
pub use id_range::{IdRange, OVERFLOW_ID};
pub use memfs::MemFs;
pub use server::{ListenAddr, Server, ServerConfig, ServerHandle, serve_9p};
