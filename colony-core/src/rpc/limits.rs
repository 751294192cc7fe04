//! [`RpcLimits`]: what the mutual-TLS listeners (grid server, cpu
//! service, 9P export) let each client hold, so that hundreds of idle or
//! half-open connections cannot slow other users; and [`Tally`], the
//! per-key connection counts behind the caps.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bounds of a mutual-TLS listener.
///
/// What clients can make the server hold stays under about
/// `max_connections × (MAX_REQUEST + TLS buffers)`, some 100 KiB per
/// connection: about 100 MiB with the defaults, and `max_per_address` or
/// `max_per_user` times that for one address or one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcLimits {
    /// Connections served at once. One more is accepted, logged and closed
    /// at once (the listener never stops accepting). Default 1024.
    pub max_connections: usize,
    /// Connections from one IP address that are still in the TLS
    /// handshake or speak for a user; a grid node's connections count
    /// only until their handshake ends (a cpu node holds one per
    /// environment). Beyond: accepted, logged and closed. Default 32.
    pub max_per_address: usize,
    /// Connections one user holds to the grid server; one more is told so
    /// and closed. Default 16.
    pub max_per_user: usize,
    /// How long a client may take over the TLS handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// A request/response connection (grid server, cpu service) with no
    /// request for this long is closed; clients redial. Default 5 min.
    pub idle_timeout: Option<Duration>,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            max_connections: 1024,
            max_per_address: 32,
            max_per_user: 16,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(300)),
        }
    }
}

/// Connections open per key (an address, a user), each at most `max`.
pub(crate) struct Tally<K: Eq + Hash + Clone> {
    counts: Mutex<HashMap<K, usize>>,
    max: usize,
}

/// One connection counted in a [`Tally`]; dropping it gives the place back.
pub(crate) struct Counted<K: Eq + Hash + Clone> {
    tally: Arc<Tally<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Tally<K> {
    /// An empty tally allowing `max` connections per key.
    pub fn new(max: usize) -> Arc<Tally<K>> {
        Arc::new(Tally {
            counts: Mutex::default(),
            max,
        })
    }

    /// The most per key.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Counts one more connection for `key`, unless it has `max` already.
    pub fn take(self: &Arc<Self>, key: K) -> Option<Counted<K>> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Counted {
            tally: self.clone(),
            key,
        })
    }
}

impl<K: Eq + Hash + Clone> Drop for Counted<K> {
    fn drop(&mut self) {
        let mut counts = self.tally.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                // Keys of past clients do not pile up.
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_caps_each_key_and_forgets_idle_ones() {
        let t = Tally::new(2);
        let a1 = t.take("a").unwrap();
        let _a2 = t.take("a").unwrap();
        assert!(t.take("a").is_none());
        let _b = t.take("b").unwrap();
        drop(a1);
        let _a3 = t.take("a").unwrap();
        drop(_b);
        assert!(!t.counts.lock().unwrap().contains_key("b"));
    }
}
