//! The node's table of environments: which names run, for whom, and the
//! slots they hold against the node's [`Limits`].
//!
//! A spawn first reserves its slot (so concurrent spawns cannot pass a
//! limit together or start one name twice), then starts the environment
//! outside the lock and fills the slot in; a reservation dropped unfilled
//! (failed or cancelled spawn) frees the slot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::checkpoint::EnvCheckpoint;
use super::info::EnvInfo;
use super::runtime::RunningEnv;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::user::UserName;

/// A running environment and what the node knows about it.
pub(crate) struct Live<E> {
    /// The runtime's environment.
    pub env: E,
    /// The scorename it was spawned from.
    pub name: String,
    /// Its owner.
    pub owner: UserName,
    /// Spawned with `spawndisk`.
    pub disk: bool,
    /// Unix seconds at start.
    pub started: u64,
    /// `host:port` of its cpu listener (empty without one).
    pub cpu_addr: String,
    /// Its checkpoints and record.
    pub checkpoint: Arc<EnvCheckpoint>,
}

impl<E: RunningEnv> Live<E> {
    /// What its owner is told about it.
    pub fn info(&self) -> EnvInfo {
        let stats = self.env.fossil().cache_stats();
        EnvInfo {
            name: self.name.clone(),
            owner: self.owner.to_string(),
            cpu_addr: self.cpu_addr.clone(),
            disk: self.disk,
            local_bytes: stats.dirty_bytes + stats.clean_bytes,
            started: self.started,
            attach: EnvInfo::attach_command(&self.name),
        }
    }
}

enum Slot<E> {
    /// Reserved by a spawn in progress.
    Starting {
        owner: UserName,
        disk: bool,
    },
    Running(Arc<Live<E>>),
}

impl<E> Slot<E> {
    fn owner(&self) -> &UserName {
        match self {
            Slot::Starting { owner, .. } => owner,
            Slot::Running(l) => &l.owner,
        }
    }

    fn disk(&self) -> bool {
        match self {
            Slot::Starting { disk, .. } => *disk,
            Slot::Running(l) => l.disk,
        }
    }
}

struct Inner<E> {
    slots: BTreeMap<String, Slot<E>>,
    closed: bool,
}

/// The table. See the module documentation.
pub(crate) struct EnvTable<E> {
    inner: Mutex<Inner<E>>,
}

/// A reserved slot; freed on drop unless [`fill`](Reservation::fill)ed.
pub(crate) struct Reservation<'a, E> {
    table: &'a EnvTable<E>,
    name: String,
    filled: bool,
}

impl<E> EnvTable<E> {
    /// An empty, open table.
    pub fn new() -> EnvTable<E> {
        EnvTable {
            inner: Mutex::new(Inner {
                slots: BTreeMap::new(),
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<E>> {
        // Every critical section is a few map operations that cannot leave
        // the map half changed.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves `name` for `owner` if it is not running and the limits
    /// allow one more (a disk slot too when `disk`).
    pub fn reserve(
        &self,
        name: &str,
        owner: &UserName,
        disk: bool,
        limits: &Limits,
    ) -> Result<Reservation<'_, E>> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(Error::ShuttingDown);
        }
        if inner.slots.contains_key(name) {
            return Err(Error::AlreadyRunning(name.to_string()));
        }
        let count = |f: &dyn Fn(&Slot<E>) -> bool| {
            u32::try_from(inner.slots.values().filter(|s| f(s)).count()).unwrap_or(u32::MAX)
        };
        let total = count(&|_| true);
        let theirs = count(&|s| s.owner() == owner);
        limits.admit(owner, theirs, total)?;
        if disk {
            limits.admit_disk(count(&|s| s.disk()))?;
        }
        inner.slots.insert(
            name.to_string(),
            Slot::Starting {
                owner: owner.clone(),
                disk,
            },
        );
        Ok(Reservation {
            table: self,
            name: name.to_string(),
            filled: false,
        })
    }

    /// The environment `name` if `owner` runs it.
    pub fn get(&self, owner: &UserName, name: &str) -> Result<Arc<Live<E>>> {
        match self.lock().slots.get(name) {
            Some(Slot::Running(l)) if l.owner == *owner => Ok(l.clone()),
            _ => Err(Error::NotRunning(name.to_string())),
        }
    }

    /// Removes and returns the environment `name` if `owner` runs it.
    pub fn take(&self, owner: &UserName, name: &str) -> Result<Arc<Live<E>>> {
        let mut inner = self.lock();
        let mine = matches!(inner.slots.get(name), Some(Slot::Running(l)) if l.owner == *owner);
        match inner.slots.remove(name) {
            Some(Slot::Running(l)) if mine => Ok(l),
            Some(other) => {
                // Not the caller's: put it back untouched.
                inner.slots.insert(name.to_string(), other);
                Err(Error::NotRunning(name.to_string()))
            }
            None => Err(Error::NotRunning(name.to_string())),
        }
    }

    /// `owner`'s running environments, in name order.
    pub fn owned_by(&self, owner: &UserName) -> Vec<Arc<Live<E>>> {
        self.lock()
            .slots
            .values()
            .filter_map(|s| match s {
                Slot::Running(l) if l.owner == *owner => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    /// Refuses every later reservation and fill, and removes and returns
    /// every running environment.
    pub fn close(&self) -> Vec<Arc<Live<E>>> {
        let mut inner = self.lock();
        inner.closed = true;
        let names: Vec<String> = inner
            .slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Running(_)))
            .map(|(n, _)| n.clone())
            .collect();
        names
            .iter()
            .filter_map(|n| match inner.slots.remove(n) {
                Some(Slot::Running(l)) => Some(l),
                _ => None,
            })
            .collect()
    }
}

impl<E> Reservation<'_, E> {
    /// Puts the started environment in the reserved slot. After
    /// [`EnvTable::close`] it is refused with [`Error::ShuttingDown`], for
    /// the caller to stop it.
    pub fn fill(mut self, live: &Arc<Live<E>>) -> Result<()> {
        let mut inner = self.table.lock();
        if inner.closed {
            return Err(Error::ShuttingDown);
        }
        inner
            .slots
            .insert(self.name.clone(), Slot::Running(live.clone()));
        self.filled = true;
        Ok(())
    }
}

impl<E> Drop for Reservation<'_, E> {
    fn drop(&mut self) {
        if !self.filled {
            let mut inner = self.table.lock();
            if matches!(inner.slots.get(&self.name), Some(Slot::Starting { .. })) {
                inner.slots.remove(&self.name);
            }
        }
    }
}
