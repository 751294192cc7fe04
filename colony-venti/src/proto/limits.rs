//! [`ServerLimits`]: what one venti server lets its clients hold, so that
//! a flooding client cannot starve the others; and [`ServerStats`], the
//! counters that show the limits hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Bounds of a [`VentiServer`](crate::proto::VentiServer).
///
/// Memory held for clients stays under about `max_connections ×
/// (max_reply_bytes + 2 × MAX_FRAME_04 + 256 KiB)`: each connection's
/// replies not yet written, its receive buffer and its write batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections served at once. One more is accepted, logged and closed
    /// at once, so the listener never stops accepting. Default 1024.
    pub max_connections: usize,
    /// How long a client may take from connecting to its `Thello` (the
    /// version lines included). Default 10 s.
    pub handshake_timeout: Duration,
    /// Bytes of replies a connection may have in flight: reserved when a
    /// request is read (its reply's largest size), released once the reply
    /// is written to the socket. At the bound the server stops reading that
    /// connection until replies drain (a client that never reads its
    /// replies stalls only itself). A request is always admitted when none
    /// is in flight. Default 4 MiB (about 70 maximal reads).
    pub max_reply_bytes: usize,
    /// A write of replies that makes no progress for this long (the client
    /// stopped reading) closes the connection, so such clients cannot hold
    /// the connection slots for ever. Default 30 s.
    pub write_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            max_reply_bytes: 4 << 20,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Live counters of a running server.
#[derive(Clone, Debug, Default)]
pub struct ServerStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicUsize,
    refused: AtomicUsize,
    reply_bytes: AtomicUsize,
}

impl ServerStats {
    /// Connections being served (past the cap check).
    pub fn connections(&self) -> usize {
        self.0.connections.load(Ordering::Relaxed)
    }

    /// Connections closed at once because the server was full.
    pub fn refused(&self) -> usize {
        self.0.refused.load(Ordering::Relaxed)
    }

    /// Bytes of replies reserved and not yet written, over all connections.
    pub fn reply_bytes(&self) -> usize {
        self.0.reply_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn opened(&self) {
        self.0.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn refuse(&self) {
        self.0.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reserve(&self, n: usize) {
        self.0.reply_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn release(&self, n: usize) {
        self.0.reply_bytes.fetch_sub(n, Ordering::Relaxed);
    }
}
