//! Name records in a redb database file.
//!
//! Three tables: `names` maps the name to its encoded [`NameRecord`];
//! `owners` holds the pair (owner, name) so one user's names are an exact
//! range scan, never a substring match; `learned` maps each record's
//! number in the order learned to the log position it was learned at and
//! its name (what replication serves peers from).

use std::path::{Path, PathBuf};

use std::collections::BTreeSet;

use colony_venti::arena::LogPos;
use redb::{
    Builder, Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

use crate::error::{Error, Result};
use crate::names::store::{Learned, new_records};
use crate::names::{Name, NameRecord, NameStore};
use crate::user::UserName;

const NAMES: TableDefinition<&str, &[u8]> = TableDefinition::new("names");
const OWNERS: TableDefinition<(&str, &str), ()> = TableDefinition::new("owners");
const LEARNED: TableDefinition<u64, (u64, &str)> = TableDefinition::new("learned");

/// A [`NameStore`] in one redb file.
pub struct RedbNames {
    db: Database,
    path: PathBuf,
}

impl RedbNames {
    /// Opens the database at `path`, creating it (mode 0600) if it does
    /// not exist.
    pub fn open(path: &Path) -> Result<RedbNames> {
        let fail = |e: redb::Error| Error::Database {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        // redb would create the file 0644; made here, it is 0600 (issue 12).
        let file = colony_venti::private::private_file()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(Error::io("open", path))?;
        let db = Builder::new()
            .create_file(file)
            .map_err(|e| fail(e.into()))?;
        let store = RedbNames {
            db,
            path: path.to_path_buf(),
        };
        // Create the tables so that read transactions always find them.
        let txn = store.db.begin_write().map_err(|e| store.fail(e))?;
        txn.open_table(NAMES).map_err(|e| store.fail(e))?;
        txn.open_table(OWNERS).map_err(|e| store.fail(e))?;
        txn.open_table(LEARNED).map_err(|e| store.fail(e))?;
        txn.commit().map_err(|e| store.fail(e))?;
        Ok(store)
    }

    fn fail(&self, e: impl Into<redb::Error>) -> Error {
        Error::Database {
            path: self.path.clone(),
            reason: e.into().to_string(),
        }
    }

    fn read_records<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
        table: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> Result<Vec<NameRecord>> {
        let mut out = Vec::new();
        for name in names {
            let guard = table
                .get(name)
                .map_err(|e| self.fail(e))?
                .ok_or_else(|| Error::BadRecord(format!("owner index names missing {name}")))?;
            out.push(NameRecord::decode(guard.value())?);
        }
        Ok(out)
    }
}

impl RedbNames {
    /// The number the next learned record gets.
    fn next_seq(&self, learned: &impl ReadableTable<u64, (u64, &'static str)>) -> Result<u64> {
        let last = learned.last().map_err(|e| self.fail(e))?;
        Ok(last.map_or(0, |(seq, _)| seq.value() + 1))
    }
}

impl NameStore for RedbNames {
    fn get(&self, name: &Name) -> Result<Option<NameRecord>> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(NAMES).map_err(|e| self.fail(e))?;
        let guard = table.get(name.as_str()).map_err(|e| self.fail(e))?;
        guard.map(|g| NameRecord::decode(g.value())).transpose()
    }

    fn insert_all(&self, batch: &[NameRecord], at: Option<LogPos>) -> Result<usize> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        let added = {
            let mut names = txn.open_table(NAMES).map_err(|e| self.fail(e))?;
            let mut owners = txn.open_table(OWNERS).map_err(|e| self.fail(e))?;
            let mut learned = txn.open_table(LEARNED).map_err(|e| self.fail(e))?;
            let fresh = new_records(batch, |n| {
                let guard = names.get(n.as_str()).map_err(|e| self.fail(e))?;
                guard.map(|g| NameRecord::decode(g.value())).transpose()
            })?;
            let mut seq = self.next_seq(&learned)?;
            for r in &fresh {
                names
                    .insert(r.name.as_str(), r.encode().as_slice())
                    .map_err(|e| self.fail(e))?;
                owners
                    .insert((r.owner.as_str(), r.name.as_str()), ())
                    .map_err(|e| self.fail(e))?;
                if let Some(at) = at {
                    learned
                        .insert(seq, (at, r.name.as_str()))
                        .map_err(|e| self.fail(e))?;
                    seq += 1;
                }
            }
            fresh.len()
        };
        // Dropping an uncommitted transaction (on any error above) aborts it.
        txn.commit().map_err(|e| self.fail(e))?;
        Ok(added)
    }

    fn learned_since(&self, from: u64, max: usize) -> Result<Vec<Learned>> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let learned = txn.open_table(LEARNED).map_err(|e| self.fail(e))?;
        let names = txn.open_table(NAMES).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for entry in learned.range(from..).map_err(|e| self.fail(e))?.take(max) {
            let (seq, value) = entry.map_err(|e| self.fail(e))?;
            let (at, name) = value.value();
            let record = self.read_records(std::iter::once(name), &names)?.remove(0);
            out.push(Learned {
                seq: seq.value(),
                at,
                record,
            });
        }
        Ok(out)
    }

    fn learn_unnumbered(&self, at: LogPos) -> Result<usize> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        let added = {
            let names = txn.open_table(NAMES).map_err(|e| self.fail(e))?;
            let mut learned = txn.open_table(LEARNED).map_err(|e| self.fail(e))?;
            let all = names.len().map_err(|e| self.fail(e))?;
            if all == learned.len().map_err(|e| self.fail(e))? {
                0
            } else {
                let mut known = BTreeSet::new();
                for entry in learned.iter().map_err(|e| self.fail(e))? {
                    let (_, value) = entry.map_err(|e| self.fail(e))?;
                    known.insert(value.value().1.to_string());
                }
                let mut seq = self.next_seq(&learned)?;
                let mut added = 0;
                for entry in names.iter().map_err(|e| self.fail(e))? {
                    let (name, _) = entry.map_err(|e| self.fail(e))?;
                    if !known.contains(name.value()) {
                        learned
                            .insert(seq, (at, name.value()))
                            .map_err(|e| self.fail(e))?;
                        seq += 1;
                        added += 1;
                    }
                }
                added
            }
        };
        txn.commit().map_err(|e| self.fail(e))?;
        Ok(added)
    }

    fn owned_by(&self, owner: &UserName) -> Result<Vec<NameRecord>> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let owners = txn.open_table(OWNERS).map_err(|e| self.fail(e))?;
        let names = txn.open_table(NAMES).map_err(|e| self.fail(e))?;
        let mut keys = Vec::new();
        for entry in owners
            .range((owner.as_str(), "")..)
            .map_err(|e| self.fail(e))?
        {
            let (key, _) = entry.map_err(|e| self.fail(e))?;
            let (who, name) = key.value();
            if who != owner.as_str() {
                break;
            }
            keys.push(name.to_string());
        }
        self.read_records(keys.iter().map(String::as_str), &names)
    }

    fn all(&self) -> Result<Vec<NameRecord>> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let names = txn.open_table(NAMES).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for entry in names.iter().map_err(|e| self.fail(e))? {
            let (_, value) = entry.map_err(|e| self.fail(e))?;
            out.push(NameRecord::decode(value.value())?);
        }
        Ok(out)
    }
}
