//! [`Replicator`]: a running node's pullers, one per peer address, each
//! retried with capped exponential backoff, and the status file writer.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::identity::{Identity, NODE_CRED, client_config};
use crate::replication::Replica;
use crate::replication::pull::Puller;
use crate::replication::status::STATUS_EVERY;

/// The file of peer addresses in a data directory, one a line.
pub const PEERS_FILE: &str = "peers";

/// The first wait before dialling a peer again.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait between attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(5);

/// The peer addresses given (`--peer`) and those in the data directory's
/// `peers` file (one `HOST:PORT` a line; blank lines and `#` comments
/// skipped), each once, in that order.
pub fn peer_addresses(data_dir: &Path, given: &[String]) -> Result<Vec<String>> {
    let path = data_dir.join(PEERS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    let mut out: Vec<String> = Vec::new();
    let listed = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    for addr in given.iter().map(String::as_str).chain(listed) {
        crate::rpc::host_of(addr)?;
        if !out.iter().any(|a| a == addr) {
            out.push(addr.to_string());
        }
    }
    Ok(out)
}

/// The pullers of a running node.
pub struct Replicator {
    replica: Arc<Replica>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Replicator {
    /// Starts pulling from each of `peers` with the node's credential,
    /// repairing reads from them ([`ReadThrough`](super::ReadThrough)),
    /// and writing the status file. Needs a tokio runtime.
    pub fn start(replica: Arc<Replica>, peers: &[String]) -> Result<Replicator> {
        let config = client_config(&replica.data_dir.join(NODE_CRED))?;
        replica
            .read_through
            .start_repair(config.clone(), peers, &replica.node)?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks: Vec<JoinHandle<()>> = peers
            .iter()
            .map(|addr| {
                let follow = follow(
                    replica.clone(),
                    config.clone(),
                    addr.clone(),
                    stopped.clone(),
                );
                tokio::spawn(follow)
            })
            .collect();
        tasks.push(tokio::spawn(write_status(replica.clone(), stopped)));
        Ok(Replicator {
            replica,
            stop,
            tasks,
        })
    }

    /// Stops every puller (a pull in progress ends without saving its
    /// cursor, so it is done again next time) and repairing, and writes
    /// the status.
    pub async fn stop(self) {
        self.replica.read_through.stop_repair();
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Pulls from `addr` until stopped: connects, steps while there is
/// more, waits at the end of the peer's log; on any failure logs it,
/// notes it in the status and tries again after a backoff.
async fn follow(
    replica: Arc<Replica>,
    config: Arc<ClientConfig>,
    addr: String,
    mut stopped: watch::Receiver<bool>,
) {
    let mut retry = FIRST_RETRY;
    loop {
        let pulled = tokio::select! {
            _ = stopped.changed() => return,
            r = pull_until_error(&replica, &config, &addr, &mut retry) => r,
        };
        let Err(e) = pulled;
        tracing::warn!(peer = %addr, retry = ?retry, "replication: {e}");
        replica.status.pulling(&addr, |p| {
            p.connected = false;
            p.last_error = Some(e.to_string());
        });
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Connects and pulls until something fails or the peer is revoked; a
/// success resets `retry`.
async fn pull_until_error(
    replica: &Arc<Replica>,
    config: &Arc<ClientConfig>,
    addr: &str,
    retry: &mut Duration,
) -> Result<std::convert::Infallible> {
    let mut puller = Puller::connect(replica.clone(), config.clone(), addr).await?;
    *retry = FIRST_RETRY;
    let mut revocations = replica.revocations.subscribe();
    let peer = Identity::Node(puller.peer().clone());
    let mut caught_up = false;
    loop {
        // Dropping a round midway is safe: its cursor is not saved.
        let step = tokio::select! {
            step = puller.step(caught_up) => step?,
            () = revocations.until_revoked(&peer) => {
                return Err(Error::Refused(format!("{peer} is revoked: stopped pulling from it")));
            }
        };
        if step.blocks > 0 || step.names > 0 || step.revoked > 0 {
            tracing::debug!(peer = %puller.peer(), blocks = step.blocks, bytes = step.bytes, names = step.names, revoked = step.revoked, "pulled");
        }
        if step.caught_up && !caught_up {
            tracing::info!(peer = %puller.peer(), log = puller.cursor().log, "caught up with peer");
        }
        caught_up = step.caught_up;
    }
}

/// Writes the status file whenever it changed, until stopped (and once
/// more then).
async fn write_status(replica: Arc<Replica>, mut stopped: watch::Receiver<bool>) {
    loop {
        let stop = tokio::select! {
            _ = stopped.changed() => true,
            _ = tokio::time::sleep(STATUS_EVERY) => false,
        };
        if let Err(e) = replica.status.write_if_changed(&replica.data_dir) {
            tracing::warn!("writing the replication status: {e}");
        }
        if stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_from_arguments_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            peer_addresses(dir.path(), &[]).unwrap(),
            Vec::<String>::new()
        );
        std::fs::write(
            dir.path().join(PEERS_FILE),
            "# the grid\nb.example:16999\n\n  127.0.0.1:7 \na.example:1\n",
        )
        .unwrap();
        let given = vec!["a.example:1".to_string()];
        assert_eq!(
            peer_addresses(dir.path(), &given).unwrap(),
            vec!["a.example:1", "b.example:16999", "127.0.0.1:7"]
        );
        std::fs::write(dir.path().join(PEERS_FILE), "nonsense\n").unwrap();
        assert!(matches!(
            peer_addresses(dir.path(), &[]),
            Err(Error::Connection { .. })
        ));
    }
}
