//! Name records in a redb database file.
//!
//! Two tables: `names` maps the name to its encoded [`NameRecord`];
//! `owners` holds the pair (owner, name) so one user's names are an exact
//! range scan, never a substring match.

use std::path::{Path, PathBuf};

use redb::{Builder, Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{Error, Result};
use crate::names::store::new_records;
use crate::names::{Name, NameRecord, NameStore};
use crate::user::UserName;

const NAMES: TableDefinition<&str, &[u8]> = TableDefinition::new("names");
const OWNERS: TableDefinition<(&str, &str), ()> = TableDefinition::new("owners");

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
        // Create both tables so that read transactions always find them.
        let txn = store.db.begin_write().map_err(|e| store.fail(e))?;
        txn.open_table(NAMES).map_err(|e| store.fail(e))?;
        txn.open_table(OWNERS).map_err(|e| store.fail(e))?;
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

impl NameStore for RedbNames {
    fn get(&self, name: &Name) -> Result<Option<NameRecord>> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(NAMES).map_err(|e| self.fail(e))?;
        let guard = table.get(name.as_str()).map_err(|e| self.fail(e))?;
        guard.map(|g| NameRecord::decode(g.value())).transpose()
    }

    fn insert_all(&self, batch: &[NameRecord]) -> Result<usize> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        let added = {
            let mut names = txn.open_table(NAMES).map_err(|e| self.fail(e))?;
            let mut owners = txn.open_table(OWNERS).map_err(|e| self.fail(e))?;
            let fresh = new_records(batch, |n| {
                let guard = names.get(n.as_str()).map_err(|e| self.fail(e))?;
                guard.map(|g| NameRecord::decode(g.value())).transpose()
            })?;
            for r in &fresh {
                names
                    .insert(r.name.as_str(), r.encode().as_slice())
                    .map_err(|e| self.fail(e))?;
                owners
                    .insert((r.owner.as_str(), r.name.as_str()), ())
                    .map_err(|e| self.fail(e))?;
            }
            fresh.len()
        };
        // Dropping an uncommitted transaction (on any error above) aborts it.
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
