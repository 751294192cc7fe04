//! [`Revocations`]: a live view of a data directory's `revoked-users` and
//! `revoked-nodes` files, so that a revocation bites at once: every TLS
//! listener built by [`server_config`](super::server_config) checks the
//! current lists on each new connection, and servers that hold open
//! connections or running environments subscribe and close or stop what a
//! revoked identity holds.
//!
//! The files are watched with inotify (a change is seen within
//! milliseconds, with no polling); one watcher thread per data directory
//! in a process, shared by every listener, stopped when the last user of
//! the view is gone. A file that no longer parses keeps the lists as they
//! were, with an error in the log.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::sync::watch;

use super::Identity;
use super::revoked::{self, REVOKED_FILE};
use crate::error::{Error, Result};
use crate::node::NodeId;
use crate::user::UserName;

/// The revoked-nodes list: node ids, one a line.
pub const REVOKED_NODES_FILE: &str = "revoked-nodes";

/// The identities a node refuses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    /// From `revoked-users`.
    pub users: BTreeSet<UserName>,
    /// From `revoked-nodes`.
    pub nodes: BTreeSet<NodeId>,
}

impl Revoked {
    /// Reads both lists from `data_dir` (a missing file is an empty list).
    pub fn load(data_dir: &Path) -> Result<Revoked> {
        let path = data_dir.join(REVOKED_NODES_FILE);
        let nodes = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.is_empty())
                .map(NodeId::new)
                .collect::<Result<_>>()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        Ok(Revoked {
            users: revoked::load(data_dir)?,
            nodes,
        })
    }

    /// Whether both lists are empty.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.nodes.is_empty()
    }

    /// Whether `id` is refused.
    pub fn refuses(&self, id: &Identity) -> bool {
        match id {
            Identity::User(user) => self.users.contains(user),
            Identity::Node(node) => self.nodes.contains(node),
        }
    }
}

/// A live, shared view of a data directory's revocation lists.
#[derive(Clone, Debug)]
pub struct Revocations {
    watcher: Arc<Watcher>,
}

impl Revocations {
    /// The view of `data_dir`'s lists: read now, and kept current for as
    /// long as any clone or subscription lives. Every call for the same
    /// directory in a process shares one watcher.
    pub fn of(data_dir: &Path) -> Result<Revocations> {
        static WATCHERS: Mutex<Option<HashMap<PathBuf, Weak<Watcher>>>> = Mutex::new(None);
        let dir = data_dir
            .canonicalize()
            .map_err(Error::io("resolve", data_dir))?;
        let mut all = WATCHERS.lock().unwrap_or_else(|p| p.into_inner());
        let all = all.get_or_insert_with(HashMap::new);
        all.retain(|_, w| w.strong_count() > 0);
        if let Some(watcher) = all.get(&dir).and_then(Weak::upgrade) {
            return Ok(Revocations { watcher });
        }
        let watcher = Arc::new(Watcher::start(&dir)?);
        all.insert(dir, Arc::downgrade(&watcher));
        Ok(Revocations { watcher })
    }

    /// The lists as they are now.
    pub fn current(&self) -> Arc<Revoked> {
        self.watcher.rx.borrow().clone()
    }

    /// A receiver that sees every change of the lists.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.watcher.rx.clone(),
            _watcher: self.watcher.clone(),
        }
    }
}

/// Changes of the lists, as a `watch` receiver that keeps the watcher
/// running.
pub struct Subscription {
    rx: watch::Receiver<Arc<Revoked>>,
    _watcher: Arc<Watcher>,
}

impl Subscription {
    /// Waits for the next change; `None` if the watcher has stopped.
    pub async fn changed(&mut self) -> Option<Arc<Revoked>> {
        self.rx.changed().await.ok()?;
        Some(self.rx.borrow_and_update().clone())
    }

    /// Resolves once `id` is revoked (at once if it already is).
    pub async fn until_revoked(&mut self, id: &Identity) {
        // A stopped watcher never revokes: wait forever rather than close.
        if self.rx.wait_for(|r| r.refuses(id)).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A stop signal for one connection of `id`: it turns true when
/// `stopped` (the server's) does, or when `id` is revoked (the connection
/// is then closed with a log line). The helper task ends with the
/// connection (when the returned receiver is dropped).
pub fn stop_when_revoked(
    mut stopped: watch::Receiver<bool>,
    mut revocations: Subscription,
    id: Identity,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(*stopped.borrow());
    tokio::spawn(async move {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            () = revocations.until_revoked(&id) => {
                tracing::warn!(%id, "revoked: closing its connection");
            }
            () = tx.closed() => return,
        }
        let _ = tx.send(true);
    });
    rx
}

/// The thread that follows the files, and how to stop it.
#[derive(Debug)]
struct Watcher {
    rx: watch::Receiver<Arc<Revoked>>,
    /// Writing to (or closing) this pipe stops the thread.
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    fn start(dir: &Path) -> Result<Watcher> {
        let inotify =
            Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).map_err(|source| {
                Error::Watch {
                    dir: dir.to_path_buf(),
                    source,
                }
            })?;
        // The directory, not the files: they may not exist yet, and editors
        // and `revoke` replace or append to them.
        let events = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MODIFY;
        inotify
            .add_watch(dir, events)
            .map_err(|source| Error::Watch {
                dir: dir.to_path_buf(),
                source,
            })?;
        // Read after the watch is in place: no change can fall between.
        let (tx, rx) = watch::channel(Arc::new(Revoked::load(dir)?));
        // Close-on-exec: a process started meanwhile (a session's command)
        // must not keep the write end open, or closing ours would not stop
        // the thread and the drop that joins it would block.
        let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
        let (stop_r, stop_w) = nix::unistd::pipe2(cloexec).map_err(|source| Error::Watch {
            dir: dir.to_path_buf(),
            source,
        })?;
        let dir = dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("colony-revocations".into())
            .spawn(move || follow(&dir, &inotify, &stop_r, &tx))
            .map_err(Error::io("start a thread for", Path::new(REVOKED_FILE)))?;
        Ok(Watcher {
            rx,
            stop: Some(stop_w),
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The watcher thread: reloads the lists whenever one of the files
/// changes, until the stop pipe closes.
fn follow(dir: &Path, inotify: &Inotify, stop: &OwnedFd, tx: &watch::Sender<Arc<Revoked>>) {
    loop {
        let mut fds = [
            PollFd::new(inotify.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                tracing::error!(dir = %dir.display(), "watching revocations: {e}");
                return;
            }
            Ok(_) => {}
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return;
        }
        let ours = inotify.read_events().unwrap_or_default().iter().any(|e| {
            e.name
                .as_deref()
                .is_some_and(|n| n == REVOKED_FILE || n == REVOKED_NODES_FILE)
        });
        if !ours {
            continue;
        }
        match Revoked::load(dir) {
            Ok(now) => {
                tx.send_if_modified(|old| {
                    let changed = **old != now;
                    if changed {
                        tracing::info!(users = ?now.users, nodes = ?now.nodes, "revocations changed");
                        *old = Arc::new(now);
                    }
                    changed
                });
            }
            Err(e) => {
                tracing::error!(dir = %dir.display(), "revocation lists unreadable, kept as they were: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_revocation_is_seen_at_once_and_a_bad_file_keeps_the_lists() {
        let dir = tempfile::tempdir().unwrap();
        let view = Revocations::of(dir.path()).unwrap();
        let again = Revocations::of(dir.path()).unwrap();
        assert!(
            Arc::ptr_eq(&view.watcher, &again.watcher),
            "one watcher per directory"
        );
        let bob = Identity::User(UserName::new("bob").unwrap());
        let n2 = Identity::Node(NodeId::new("n2").unwrap());
        assert!(!view.current().refuses(&bob));
        let mut sub = view.subscribe();
        revoked::revoke(dir.path(), &UserName::new("bob").unwrap()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), sub.until_revoked(&bob))
            .await
            .expect("bob's revocation seen within 2 s");
        assert!(view.current().refuses(&bob));
        std::fs::write(dir.path().join(REVOKED_NODES_FILE), "n2\n").unwrap();
        tokio::time::timeout(Duration::from_secs(2), sub.until_revoked(&n2))
            .await
            .expect("n2's revocation seen");
        // A malformed list changes nothing; the next good one applies.
        std::fs::write(dir.path().join(REVOKED_NODES_FILE), "Not A Node\n").unwrap();
        std::fs::write(dir.path().join(REVOKED_NODES_FILE), "n2\nn3\n").unwrap();
        let n3 = Identity::Node(NodeId::new("n3").unwrap());
        tokio::time::timeout(Duration::from_secs(2), sub.until_revoked(&n3))
            .await
            .expect("n3's revocation seen");
        assert!(view.current().refuses(&n2) && view.current().refuses(&bob));
    }

    #[test]
    fn the_watcher_stops_with_its_last_user() {
        let dir = tempfile::tempdir().unwrap();
        let view = Revocations::of(dir.path()).unwrap();
        let weak = Arc::downgrade(&view.watcher);
        let sub = view.subscribe();
        drop(view);
        assert!(weak.upgrade().is_some(), "a subscription keeps it");
        drop(sub);
        assert!(weak.upgrade().is_none(), "gone with the last user");
    }
}
