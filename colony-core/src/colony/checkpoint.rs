//! [`EnvCheckpoint`]: what a sync inside an environment does — fsync,
//! fdatasync and fsync of a directory through the FUSE mount, or a 9P
//! client's empty Twstat through a storage node's export.
//!
//! A checkpoint is a [`Fossil::save`]: it writes only the blocks changed
//! since the last one (with their pointer paths up to a new root) and syncs
//! the block store; then the environment's record gets the new root
//! ([`Records::update`]: one block overwritten in place and
//! fdatasynced). So a sync costs what changed plus the store's and the
//! record's data flushes, never the whole tree. Checkpoints and the record's
//! writes are serialized, so the record only moves forward. The roots are
//! never named; each records the previous one (or the snapshot spawned
//! from) as `prev`, as saves do.

use std::sync::{Arc, Mutex, MutexGuard};

use colony_fossil::Fossil;
use colony_venti::Score;

use super::record::{EnvRecord, Records};
use crate::error::{Error, Result};

/// One environment's checkpoints and record.
pub(crate) struct EnvCheckpoint {
    records: Arc<Records>,
    fossil: Arc<Fossil>,
    state: Mutex<State>,
}

struct State {
    record: EnvRecord,
    /// The sequence number of the record file's last write.
    seq: u64,
    /// Boomed: the record is gone and must not come back.
    forgotten: bool,
}

impl EnvCheckpoint {
    /// Checkpoints of `fossil`, recorded as `record` (not written yet).
    pub fn new(records: Arc<Records>, fossil: Arc<Fossil>, record: EnvRecord) -> EnvCheckpoint {
        EnvCheckpoint {
            records,
            fossil,
            state: Mutex::new(State {
                record,
                seq: 0,
                forgotten: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Held across a save; a panic inside leaves the record as it was.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the record as it stands as a new file (at spawn, or resumed).
    pub fn record(&self) -> Result<()> {
        let mut state = self.lock();
        self.records.create(&state.record)?;
        state.seq = 0;
        Ok(())
    }

    /// Saves the fossil (only what changed; the store synced) and records
    /// the new root; returns it. Blocking.
    pub fn sync(&self) -> Result<Score> {
        let mut state = self.lock();
        let root = self.fossil.save().map_err(|e| Error::Env {
            name: state.record.name.clone(),
            reason: format!("checkpoint: {e}"),
        })?;
        if root != state.record.root && !state.forgotten {
            let mut next = state.record.clone();
            next.root = root;
            self.records.update(&next, state.seq + 1)?;
            state.record = next;
            state.seq += 1;
        }
        Ok(root)
    }

    /// Removes the record for good (boom): later checkpoints write none.
    pub fn forget(&self) -> Result<()> {
        let mut state = self.lock();
        state.forgotten = true;
        self.records.remove(&state.record.name)
    }
}

impl colony_ns::Checkpoint for EnvCheckpoint {
    fn checkpoint(&self) -> std::result::Result<(), String> {
        self.sync().map(|_| ()).map_err(|e| e.to_string())
    }
}
