//! Where name records live: the [`NameStore`] trait and its in-memory
//! implementation ([`MemNames`]); [`RedbNames`](super::RedbNames) keeps
//! them in a file.

use std::collections::BTreeMap;
use std::sync::Mutex;

use colony_venti::arena::LogPos;

use crate::error::{Error, Result};
use crate::names::{Name, NameRecord};
use crate::user::UserName;

/// A record with when this node learned it: its number in the order
/// records were learned, and the block log's durable end at that moment
/// (every block its root reaches was in the log before it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Learned {
    /// The record's number, from 0, in the order learned.
    pub seq: u64,
    /// The block log's durable end when it was learned.
    pub at: LogPos,
    /// The record.
    pub record: NameRecord,
}

/// A grow-only set of name records, keyed by name.
pub trait NameStore: Send + Sync {
    /// The record for exactly `name`.
    fn get(&self, name: &Name) -> Result<Option<NameRecord>>;

    /// Adds `batch` atomically and returns how many records were new.
    /// A record identical to a stored one (or to an earlier one in the
    /// batch) is skipped; a record whose name is held with other content
    /// refuses the whole batch with [`Error::NameConflict`]. With `at`,
    /// each new record is learned at log position `at` and numbered after
    /// every record learned before ([`NameStore::learned_since`]); without,
    /// it waits unnumbered for [`NameStore::learn_unnumbered`].
    fn insert_all(&self, batch: &[NameRecord], at: Option<LogPos>) -> Result<usize>;

    /// Up to `max` records in the order they were learned, from the one
    /// numbered `from` on.
    fn learned_since(&self, from: u64, max: usize) -> Result<Vec<Learned>>;

    /// Numbers the records stored before records were numbered (a names
    /// file of an earlier version), as learned at `at`; returns how many.
    fn learn_unnumbered(&self, at: LogPos) -> Result<usize>;

    /// Every record whose owner is exactly `owner`, in name order.
    fn owned_by(&self, owner: &UserName) -> Result<Vec<NameRecord>>;

    /// Every record, in name order.
    fn all(&self) -> Result<Vec<NameRecord>>;
}

/// A shared or boxed store is a store (one database behind several
/// users of it).
impl<S: NameStore + ?Sized> NameStore for std::sync::Arc<S> {
    fn get(&self, name: &Name) -> Result<Option<NameRecord>> {
        (**self).get(name)
    }
    fn insert_all(&self, batch: &[NameRecord], at: Option<LogPos>) -> Result<usize> {
        (**self).insert_all(batch, at)
    }
    fn learned_since(&self, from: u64, max: usize) -> Result<Vec<Learned>> {
        (**self).learned_since(from, max)
    }
    fn learn_unnumbered(&self, at: LogPos) -> Result<usize> {
        (**self).learn_unnumbered(at)
    }
    fn owned_by(&self, owner: &UserName) -> Result<Vec<NameRecord>> {
        (**self).owned_by(owner)
    }
    fn all(&self) -> Result<Vec<NameRecord>> {
        (**self).all()
    }
}

/// The records of `batch` that `stored` does not hold yet, once each;
/// or the first conflict. Shared by every store so they agree exactly.
pub(crate) fn new_records(
    batch: &[NameRecord],
    mut stored: impl FnMut(&Name) -> Result<Option<NameRecord>>,
) -> Result<Vec<&NameRecord>> {
    let mut fresh: BTreeMap<&Name, &NameRecord> = BTreeMap::new();
    for theirs in batch {
        let ours = match fresh.get(&theirs.name) {
            Some(&r) => Some(r.clone()),
            None => stored(&theirs.name)?,
        };
        match ours {
            Some(ours) if ours == *theirs => {}
            Some(ours) => {
                return Err(Error::NameConflict {
                    ours: Box::new(ours),
                    theirs: Box::new(theirs.clone()),
                });
            }
            None => {
                fresh.insert(&theirs.name, theirs);
            }
        }
    }
    Ok(fresh.into_values().collect())
}

/// Name records in memory, for tests and embedding.
#[derive(Default)]
pub struct MemNames {
    records: Mutex<Records>,
}

/// [`MemNames`]' records by name, and in the order learned.
#[derive(Default)]
struct Records {
    by_name: BTreeMap<Name, NameRecord>,
    learned: Vec<Learned>,
}

impl Records {
    fn learn(&mut self, record: NameRecord, at: LogPos) {
        let seq = self.learned.len() as u64;
        self.learned.push(Learned { seq, at, record });
    }
}

impl MemNames {
    /// An empty store.
    pub fn new() -> MemNames {
        MemNames::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        // A panic elsewhere cannot leave a half-written map: an insert
        // pushes to both only after every check.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl NameStore for MemNames {
    fn get(&self, name: &Name) -> Result<Option<NameRecord>> {
        Ok(self.lock().by_name.get(name).cloned())
    }

    fn insert_all(&self, batch: &[NameRecord], at: Option<LogPos>) -> Result<usize> {
        let mut records = self.lock();
        let fresh = new_records(batch, |n| Ok(records.by_name.get(n).cloned()))?;
        for r in &fresh {
            records.by_name.insert(r.name.clone(), (*r).clone());
            if let Some(at) = at {
                records.learn((*r).clone(), at);
            }
        }
        Ok(fresh.len())
    }

    fn learned_since(&self, from: u64, max: usize) -> Result<Vec<Learned>> {
        let records = self.lock();
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        Ok(records
            .learned
            .iter()
            .skip(from)
            .take(max)
            .cloned()
            .collect())
    }

    fn learn_unnumbered(&self, at: LogPos) -> Result<usize> {
        let mut records = self.lock();
        let numbered: std::collections::BTreeSet<Name> = records
            .learned
            .iter()
            .map(|l| l.record.name.clone())
            .collect();
        let unnumbered: Vec<NameRecord> = records
            .by_name
            .values()
            .filter(|r| !numbered.contains(&r.name))
            .cloned()
            .collect();
        for r in &unnumbered {
            records.learn(r.clone(), at);
        }
        Ok(unnumbered.len())
    }

    fn owned_by(&self, owner: &UserName) -> Result<Vec<NameRecord>> {
        Ok(self
            .lock()
            .by_name
            .values()
            .filter(|r| r.owner == *owner)
            .cloned()
            .collect())
    }

    fn all(&self) -> Result<Vec<NameRecord>> {
        Ok(self.lock().by_name.values().cloned().collect())
    }
}
