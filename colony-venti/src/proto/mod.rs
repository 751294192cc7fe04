//! The venti wire protocol, byte-compatible with plan9port's: messages
//! and their codec, framing, version negotiation, a tokio server
//! ([`VentiServer`]) over any [`BlockStore`](crate::BlockStore), and a
//! threaded client ([`VentiClient`]) that is itself a `BlockStore`.

pub(crate) mod absent;
mod client;
mod client_session;
mod fault;
mod flight;
mod frame;
mod jobs;
mod limits;
mod message;
mod server;
mod server_session;
mod tags;
mod version;

pub use client::{READ_COUNT, VentiClient};
pub use client_session::{ClientConfig, ClientEvent, ClientSession};
pub use fault::{MessageFault, VersionFault};
pub use frame::{FrameBuffer, FrameWriter, MAX_FRAME_02, MAX_FRAME_04, encode_frame};
pub use jobs::Job;
pub use limits::{ServerLimits, ServerStats};
pub use message::{
    MAX_STRING, Message, Rerror, Rhello, Rread, Rwrite, Thello, Tread, Twrite, kind,
};
pub use server::{ServerHandle, VentiServer};
pub use server_session::{ServerEvent, ServerSession};
pub use tags::TagSet;
pub use version::{MAX_VERSION_LINE, VERSION_LINE, Version};
