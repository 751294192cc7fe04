//! The cpu listener: a mutual-TLS endpoint through which a session's owner,
//! and nobody else, runs a command or an interactive shell in the session
//! (Plan 9's `rcpu` into a spawned namespace, with the "custom manufactured
//! cpu listener to allow only specified user access" the spawngrid wanted).
//!
//! Identity is the client certificate's common name, and only a user
//! certificate (its organisational unit, [`CpuConfig::user_unit`]) names a
//! user; a wrong or missing certificate fails the handshake, another
//! user's, or a node's of the owner's spelling, is refused with an
//! [`ServerFrame::Error`] before any process starts.

pub mod client;
mod frames;
mod relay;
mod server;
pub mod shell_client;
mod shells;
mod terminal;
mod tls;

pub use frames::{ClientFrame, SHELLS_VERSION, ServerFrame, ShellAnswer, ShellInfo, ShellRequest};
pub use server::{CpuConfig, CpuHandle, MAX_CONNECTIONS, listen};
pub use shells::ShellLimits;
pub use terminal::RawTerminal;
pub use tls::{Identity, user_name};
