//! What operators see of replication: each peer's state, kept in memory by
//! the pullers and the server and written by the running node to
//! `replication/status` in its data directory, which `colony peers` prints.
//!
//! In the file, times are `@SECONDS` since the epoch and errors are
//! quoted; `colony peers` shows the times as ages. "Behind" is in bytes
//! of log (clumps with their headers): inward, the
//! peer's durable log end less our cursor in it; outward, our durable end
//! less the cursor the peer last pulled with. Both are as of the last
//! exchange.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::node::NodeId;
use crate::replication::cursor::REPLICATION_DIR;

/// The status file in a data directory.
pub fn status_path(data_dir: &Path) -> PathBuf {
    data_dir.join(REPLICATION_DIR).join("status")
}

/// How often a running node rewrites its status file when it changed.
pub const STATUS_EVERY: Duration = Duration::from_millis(500);

/// What this node pulls from one peer address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pulling {
    /// The peer's node id, once it answered.
    pub node: Option<NodeId>,
    /// Connected now.
    pub connected: bool,
    /// Log bytes the peer holds that we have not pulled.
    pub behind: Option<u64>,
    /// Blocks and bytes pulled since this node started.
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
    /// Seconds since the epoch of the last answer.
    pub last_exchange: Option<u64>,
    /// The last failure, kept until the next success.
    pub last_error: Option<String>,
}

/// What one peer pulls from this node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Serving {
    /// Log bytes of ours the peer has not pulled yet.
    pub behind: u64,
    /// Seconds since the epoch of its last request.
    pub last_exchange: u64,
}

/// The replication state of a node, shared by its pullers and server.
#[derive(Default)]
pub struct Status {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    pulling: BTreeMap<String, Pulling>,
    serving: BTreeMap<NodeId, Serving>,
    changed: bool,
}

/// Seconds since the epoch now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Status {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes what we know of pulling from `addr`.
    pub fn pulling(&self, addr: &str, f: impl FnOnce(&mut Pulling)) {
        let mut inner = self.lock();
        f(inner.pulling.entry(addr.to_string()).or_default());
        inner.changed = true;
    }

    /// Notes a request of `peer`, which pulls from log position `at` of
    /// ours, whose durable end is `end`.
    pub fn served(&self, peer: &NodeId, at: u64, end: u64) {
        let mut inner = self.lock();
        inner.serving.insert(
            peer.clone(),
            Serving {
                behind: end.saturating_sub(at),
                last_exchange: now(),
            },
        );
        inner.changed = true;
    }

    /// What we know of pulling from `addr`.
    pub fn of(&self, addr: &str) -> Option<Pulling> {
        self.lock().pulling.get(addr).cloned()
    }

    /// The status as `colony peers` prints it; `None` if nothing changed
    /// since the last call that took it.
    pub fn take_report(&self) -> Option<String> {
        let mut inner = self.lock();
        if !std::mem::take(&mut inner.changed) {
            return None;
        }
        Some(inner.report())
    }

    /// Writes the status file if anything changed.
    pub fn write_if_changed(&self, data_dir: &Path) -> Result<()> {
        let Some(report) = self.take_report() else {
            return Ok(());
        };
        crate::error::private_dir(&data_dir.join(REPLICATION_DIR))?;
        let path = status_path(data_dir);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, report).map_err(Error::io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))
    }
}

impl Inner {
    fn report(&self) -> String {
        let mut out = format!("written {}\n", now());
        let bytes = |b: Option<u64>| b.map_or("?".into(), |b| format!("{b} bytes"));
        let when = |t: Option<u64>| t.map_or("never".into(), |t| format!("@{t}"));
        for (addr, p) in &self.pulling {
            let node = p.node.as_ref().map_or("?".into(), |n| n.to_string());
            let out_behind = p
                .node
                .as_ref()
                .and_then(|n| self.serving.get(n))
                .map(|s| s.behind);
            let _ = writeln!(
                out,
                "peer {addr} node {node}: {}; behind: in {}, out {}; pulled {} blocks, {} bytes; last exchange {}; last error {}",
                if p.connected {
                    "connected"
                } else {
                    "not connected"
                },
                bytes(p.behind),
                bytes(out_behind),
                p.blocks,
                p.bytes,
                when(p.last_exchange),
                p.last_error
                    .as_ref()
                    .map_or("none".into(), |e| format!("{e:?}")),
            );
        }
        for (node, s) in &self.serving {
            if self.pulling.values().any(|p| p.node.as_ref() == Some(node)) {
                continue;
            }
            let _ = writeln!(
                out,
                "node {node} (pulls from us only): behind: out {} bytes; last exchange @{}",
                s.behind, s.last_exchange
            );
        }
        out
    }
}

/// The status file as `colony peers` prints it: each `@SECONDS` turned
/// into how long ago that was, or a note when no node has written one.
pub fn read_report(data_dir: &Path) -> Result<String> {
    let path = status_path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(format!(
                "no replication status in {} (no node with peers has run here)\n",
                data_dir.display()
            ));
        }
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    let now = now();
    let ago = |t: &str| {
        t.parse::<u64>()
            .map_or(t.to_string(), |t| format!("{}s ago", now.saturating_sub(t)))
    };
    let mut out = String::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("written ") {
            let _ = writeln!(out, "status written {}", ago(t));
            continue;
        }
        // Times are written `@SECONDS` (errors are quoted, so their
        // words never start with `@`).
        let words: Vec<String> = line
            .split(' ')
            .map(|w| match w.strip_prefix('@') {
                Some(t) if t.starts_with(|c: char| c.is_ascii_digit()) => {
                    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                    let (num, rest) = t.split_at(digits);
                    format!("{}{rest}", ago(num))
                }
                _ => w.to_string(),
            })
            .collect();
        let _ = writeln!(out, "{}", words.join(" "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_names_each_peer_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let s = Status::default();
        assert!(
            read_report(dir.path())
                .unwrap()
                .starts_with("no replication status")
        );
        let n2 = NodeId::new("n2").unwrap();
        s.pulling("127.0.0.1:7", |p| {
            p.node = Some(n2.clone());
            p.connected = true;
            p.behind = Some(10);
            p.blocks = 3;
            p.bytes = 300;
            p.last_exchange = Some(now());
        });
        s.pulling("127.0.0.1:8", |p| {
            p.last_error = Some("refused at 127.0.0.1:8".into())
        });
        s.served(&n2, 5, 25);
        s.served(&NodeId::new("n3").unwrap(), 25, 25);
        s.write_if_changed(dir.path()).unwrap();
        assert_eq!(s.take_report(), None, "written once per change");
        let report = read_report(dir.path()).unwrap();
        let lines: Vec<&str> = report.lines().collect();
        assert!(lines[0].starts_with("status written "), "{report}");
        assert!(lines[0].ends_with("s ago"), "{report}");
        assert_eq!(
            lines[1],
            "peer 127.0.0.1:7 node n2: connected; behind: in 10 bytes, out 20 bytes; pulled 3 blocks, 300 bytes; last exchange 0s ago; last error none"
        );
        assert_eq!(
            lines[2],
            "peer 127.0.0.1:8 node ?: not connected; behind: in ?, out ?; pulled 0 blocks, 0 bytes; last exchange never; last error \"refused at 127.0.0.1:8\""
        );
        assert!(
            lines[3]
                .starts_with("node n3 (pulls from us only): behind: out 0 bytes; last exchange "),
            "{report}"
        );
    }
}
