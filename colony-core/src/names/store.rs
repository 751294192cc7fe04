//! Where name records live: the [`NameStore`] trait and its in-memory
//! implementation ([`MemNames`]); [`RedbNames`](super::RedbNames) keeps
//! them in a file.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::names::{Name, NameRecord};
use crate::user::UserName;

/// A grow-only set of name records, keyed by name.
pub trait NameStore: Send + Sync {
    /// The record for exactly `name`.
    fn get(&self, name: &Name) -> Result<Option<NameRecord>>;

    /// Adds `batch` atomically and returns how many records were new.
    /// A record identical to a stored one (or to an earlier one in the
    /// batch) is skipped; a record whose name is held with other content
    /// refuses the whole batch with [`Error::NameConflict`].
    fn insert_all(&self, batch: &[NameRecord]) -> Result<usize>;

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
    fn insert_all(&self, batch: &[NameRecord]) -> Result<usize> {
        (**self).insert_all(batch)
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
    records: Mutex<BTreeMap<Name, NameRecord>>,
}

impl MemNames {
    /// An empty store.
    pub fn new() -> MemNames {
        MemNames::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Name, NameRecord>> {
        // A panic elsewhere cannot leave a half-written map: inserts are
        // single BTreeMap operations.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl NameStore for MemNames {
    fn get(&self, name: &Name) -> Result<Option<NameRecord>> {
        Ok(self.lock().get(name).cloned())
    }

    fn insert_all(&self, batch: &[NameRecord]) -> Result<usize> {
        let mut map = self.lock();
        let fresh = new_records(batch, |n| Ok(map.get(n).cloned()))?;
        for r in &fresh {
            map.insert(r.name.clone(), (*r).clone());
        }
        Ok(fresh.len())
    }

    fn owned_by(&self, owner: &UserName) -> Result<Vec<NameRecord>> {
        Ok(self
            .lock()
            .values()
            .filter(|r| r.owner == *owner)
            .cloned()
            .collect())
    }

    fn all(&self) -> Result<Vec<NameRecord>> {
        Ok(self.lock().values().cloned().collect())
    }
}
