//! The grid RPC between gridorc and a node: the spawngrid's commands as
//! [`Request`]s, each answered by one [`Response`] to the asker alone,
//! over mutual TLS ([`GridServer`], [`GridClient`]).
//!
//! Wire format ([`frame`]): `len[4]` big-endian, then a body of a version
//! byte and the message in postcard. Requests are capped at
//! [`frame::MAX_REQUEST`] bytes, responses at [`frame::MAX_RESPONSE`].
//! The client sends one request and reads its response before the next;
//! a connection carries any number of them.
//!
//! This replaces the original grid's request path (a TLS request service
//! that posted a srv file, then a doorbell line in a world-writable hub,
//! and answers in hub files every connected user read): identity is the
//! client certificate, and answers travel only on the asking connection.

mod client;
mod dispatch;
pub mod frame;
mod limits;
mod listener;
mod request;
mod response;
mod server;

pub(crate) use client::exchange;
pub use client::{GridClient, dial, host_of, is_wildcard};
pub use dispatch::answer;
pub use limits::RpcLimits;
pub(crate) use listener::{Conn, Handler, TlsListener, admit, serve_frames};
pub use request::{COMMANDS, MENU, Request, usage};
pub use response::{NameInfo, Response, age, bytes};
pub use server::GridServer;
