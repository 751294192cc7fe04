//! The peer protocol's messages and framing: colony's one framing
//! ([`colony_venti::length_frame`]) with a version byte of its own, so a
//! frame of the user protocol is never taken for one of these (and the
//! other way round), and postcard bodies.
//!
//! The puller asks; the server answers each request in order:
//! * [`PeerRequest::Log`]: up to `max` entries of the server's log after
//!   `log` (waiting up to `wait_ms` when there are none), the records
//!   the server learned, numbered from `names` on, whose log position is
//!   at or before where that slice ends, and the server's revocation
//!   lists when their digest is not `revoked` ([`super::revoked`]; a
//!   change of them also ends the wait).
//! * [`PeerRequest::Blocks`]: the blocks the puller lacks, in order.

use colony_venti::arena::LogPos;
use colony_venti::length_frame::Framing;
use colony_venti::{BlockType, Score};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{Error, Result};
use crate::replication::revoked::WireRevoked;
use crate::rpc::frame::{self, frame_error};

/// The version byte of peer frames (`P`); the user protocol's is 1.
pub const PEER_VERSION: u8 = b'P';

/// The largest request body: a [`PeerRequest::Blocks`] of
/// [`MAX_ENTRIES`] scores fits with room to spare.
pub const MAX_PEER_REQUEST: usize = 1 << 20;

/// The largest response body: [`MAX_BLOCK_BYTES`] of blocks, or a slice
/// of the log with its names.
pub const MAX_PEER_RESPONSE: usize = 64 << 20;

/// Most log entries one [`PeerRequest::Log`] may ask for: each round ends
/// in a sync, so a long slice (128 MB of 8 KB blocks) keeps syncs rare.
pub const MAX_ENTRIES: u32 = 16384;

/// Most block bytes one [`PeerRequest::Blocks`] may ask for (the sizes
/// come from the log entries), which bounds what a pull holds in memory.
pub const MAX_BLOCK_BYTES: usize = 16 << 20;

/// Most records one [`PeerResponse::Log`] carries.
pub const MAX_NAMES: usize = 4096;

/// A (score, type) on the wire.
pub type WireBlock = ([u8; Score::SIZE], u8);

/// What a puller asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerRequest {
    /// The log after `log` and the records numbered from `names` on.
    Log {
        /// The log position to continue after.
        log: LogPos,
        /// The number of the first record wanted.
        names: u64,
        /// Most entries wanted (at most [`MAX_ENTRIES`]).
        max: u32,
        /// How long to wait for new entries if there are none.
        wait_ms: u32,
        /// The digest of the revocation lists last got from this server
        /// (0: none yet).
        revoked: u64,
    },
    /// These blocks, in order.
    Blocks(Vec<WireBlock>),
}

/// What a server answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerResponse {
    /// A slice of the log and the records it covers.
    Log {
        /// (score, type, size) of each clump after the asked position.
        entries: Vec<(WireBlock, u16)>,
        /// Where the next slice starts.
        next: LogPos,
        /// The server's durable log end.
        end: LogPos,
        /// Encoded [`NameRecord`](crate::NameRecord)s, in the order learned.
        names: Vec<Bytes>,
        /// The number of the first record not sent.
        next_names: u64,
        /// The server's revocation lists, if their digest is not the one
        /// asked with.
        revoked: Option<WireRevoked>,
    },
    /// The asked blocks, in order.
    Blocks(Vec<Bytes>),
    /// The request was refused.
    Error(String),
}

/// Bytes that postcard writes as one length and the bytes (a `Vec<u8>`
/// would go byte by byte through serde).
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Bytes, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(Visit)
    }
}

/// (score, type) for the wire.
pub fn wire_block(score: &Score, ty: BlockType) -> WireBlock {
    (score.0, ty.wire())
}

/// (score, type) from the wire; an unknown type is [`Error::BadFrame`].
pub fn from_wire((score, ty): &WireBlock) -> Result<(Score, BlockType)> {
    let ty = BlockType::from_wire(*ty).map_err(|e| Error::BadFrame(e.to_string()))?;
    Ok((Score(*score), ty))
}

/// The peer protocol's framing for bodies of at most `max` bytes.
fn framing(max: usize) -> Framing {
    Framing {
        version: PEER_VERSION,
        max,
    }
}

/// Encodes `value` as one peer frame of at most `max` body bytes.
pub fn encode<T: Serialize>(value: &T, max: usize) -> Result<Vec<u8>> {
    frame::encode_in(&framing(max), value)
}

/// Decodes a frame body read by [`read`]: our version, one message,
/// nothing after it.
pub fn decode<T: DeserializeOwned>(body: &[u8], max: usize) -> Result<T> {
    frame::message(framing(max).message(body).map_err(frame_error)?)
}

/// Reads one frame body of at most `max` bytes (version byte included,
/// unchecked); `None` at a clean end of stream.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<Option<Vec<u8>>> {
    framing(max).read(r).await.map_err(frame_error)
}

/// Writes one encoded frame and flushes it.
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> Result<()> {
    frame::write(w, frame)
        .await
        .map_err(|e| Error::BadFrame(format!("writing a peer frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request() -> impl Strategy<Value = PeerRequest> {
        prop_oneof![
            (
                any::<u64>(),
                any::<u64>(),
                any::<u32>(),
                any::<u32>(),
                any::<u64>()
            )
                .prop_map(|(log, names, max, wait_ms, revoked)| PeerRequest::Log {
                    log,
                    names,
                    max,
                    wait_ms,
                    revoked
                }),
            prop::collection::vec((any::<[u8; 20]>(), any::<u8>()), 0..20)
                .prop_map(PeerRequest::Blocks),
        ]
    }

    fn revoked() -> impl Strategy<Value = Option<WireRevoked>> {
        let names = || prop::collection::vec("[a-z0-9]{0,8}", 0..4);
        prop::option::of(
            (any::<u64>(), names(), names()).prop_map(|(digest, users, nodes)| WireRevoked {
                digest,
                users,
                nodes,
            }),
        )
    }

    fn response() -> impl Strategy<Value = PeerResponse> {
        let bytes = || prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..5);
        prop_oneof![
            (
                prop::collection::vec(((any::<[u8; 20]>(), any::<u8>()), any::<u16>()), 0..20),
                any::<u64>(),
                any::<u64>(),
                bytes(),
                any::<u64>(),
                revoked()
            )
                .prop_map(|(entries, next, end, names, next_names, revoked)| {
                    PeerResponse::Log {
                        entries,
                        next,
                        end,
                        names: names.into_iter().map(Bytes).collect(),
                        next_names,
                        revoked,
                    }
                }),
            bytes().prop_map(|b| PeerResponse::Blocks(b.into_iter().map(Bytes).collect())),
            ".{0,40}".prop_map(PeerResponse::Error),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(r in request()) {
            let frame = encode(&r, MAX_PEER_REQUEST).unwrap();
            prop_assert_eq!(decode::<PeerRequest>(&frame[4..], MAX_PEER_REQUEST).unwrap(), r);
        }

        #[test]
        fn responses_round_trip(r in response()) {
            let frame = encode(&r, MAX_PEER_RESPONSE).unwrap();
            prop_assert_eq!(decode::<PeerResponse>(&frame[4..], MAX_PEER_RESPONSE).unwrap(), r);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<PeerRequest>(&bytes, MAX_PEER_REQUEST);
            let _ = decode::<PeerResponse>(&bytes, MAX_PEER_RESPONSE);
        }
    }

    #[test]
    fn a_user_protocol_frame_is_not_a_peer_frame() {
        let user = crate::rpc::Request::Status.encode().unwrap();
        match decode::<PeerRequest>(&user[4..], MAX_PEER_REQUEST) {
            Err(Error::BadFrame(why)) => assert!(why.contains("version"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            encode(&PeerRequest::Blocks(vec![([0; 20], 0); 100]), 100),
            Err(Error::FrameTooLong { .. })
        ));
    }
}
