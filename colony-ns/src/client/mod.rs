//! A 9P2000 client that is a [`FileSystem`](crate::FileSystem):
//! [`RemoteFs`], so a tree served by any 9P2000 server (ours over a Fossil,
//! say, across mutual TLS) can be used like a local one, and FUSE-mounted
//! with [`crate::fuse::mount`].
//!
//! * `conn`: one connection, tags multiplexed; an I/O task owns the stream
//!   and synchronous callers wait for their own replies, many at once; a
//!   watchdog ends a connection whose server fell silent ([`SILENCE`]).
//! * `fids`: fid numbers and handles that clunk when dropped.
//! * `nodes`: each node's fids (one unopened, one per open access), a
//!   cache within a budget, and where it was seen, to walk to it again.
//! * `listing`: readdir cookies over 9P's sequential directory reads.
//! * `remote`: connecting, and the fid work the calls share.
//! * `filesystem`: the trait's methods as 9P requests.
//!
//! Limits of 9P2000 that show through: renames stay within a directory
//! ([`Error::CrossDir`](crate::Error::CrossDir), which FUSE reports as
//! EXDEV so `mv` copies instead); owners cannot be given away; the
//! connection's user acts for every caller.

mod conn;
mod fids;
mod filesystem;
mod linux;
mod listing;
mod nodes;
mod remote;

pub use remote::{MSIZE, RemoteFs, SILENCE};

#[cfg(test)]
mod tests;
