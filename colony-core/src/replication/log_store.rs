//! [`LogStore`]: a node's arena store as the block store its users write
//! and the log its peers pull, with a wake-up for pullers waiting at the
//! end of the log: every sync that moves the durable end, and every name
//! learned, bumps a counter they watch.

use std::sync::Arc;

use colony_venti::arena::{LogPos, LogSlice};
use colony_venti::{ArenaStore, BlockStore, BlockType, Score};
use tokio::sync::watch;

use crate::names::NameLog;

/// The node's [`ArenaStore`]: every write of the node goes through it, and
/// every sync announces the log's new durable end to waiting pullers.
pub struct LogStore {
    store: Arc<ArenaStore>,
    /// Bumped when the durable end moves or a name is learned.
    changes: watch::Sender<u64>,
}

impl LogStore {
    /// `store` as the node's log.
    pub fn new(store: ArenaStore) -> LogStore {
        LogStore {
            store: Arc::new(store),
            changes: watch::Sender::new(0),
        }
    }

    /// The durable end of the log.
    pub fn synced_end(&self) -> LogPos {
        self.store.synced_end()
    }

    /// See [`ArenaStore::log_since`].
    pub fn log_since(&self, after: LogPos, max: usize) -> colony_venti::Result<LogSlice> {
        self.store.log_since(after, max)
    }

    /// A counter bumped by every sync that moves the durable end and
    /// every name learned.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn bump(&self) {
        self.changes.send_modify(|n| *n += 1);
    }
}

impl NameLog for LogStore {
    fn end(&self) -> Option<LogPos> {
        Some(self.synced_end())
    }

    fn learned(&self) {
        self.bump();
    }
}

impl BlockStore for LogStore {
    fn read(&self, score: &Score, ty: BlockType) -> colony_venti::Result<Vec<u8>> {
        self.store.read(score, ty)
    }

    fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<colony_venti::Result<Vec<u8>>> {
        self.store.read_many(blocks)
    }

    fn read_unhashed(&self, score: &Score, ty: BlockType) -> colony_venti::Result<Vec<u8>> {
        self.store.read_unhashed(score, ty)
    }

    fn write(&self, ty: BlockType, data: &[u8]) -> colony_venti::Result<Score> {
        self.store.write(ty, data)
    }

    fn has(&self, score: &Score, ty: BlockType) -> colony_venti::Result<bool> {
        self.store.has(score, ty)
    }

    fn sync(&self) -> colony_venti::Result<()> {
        let before = self.store.synced_end();
        self.store.sync()?;
        if self.store.synced_end() != before {
            self.bump();
        }
        Ok(())
    }
}
