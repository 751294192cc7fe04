//! Scorenames: the grid's immutable map from a name to a root score and
//! the one user who may spawn it.
//!
//! * [`Name`]: the grammar, and why names are unique without
//!   coordination (`label@node`; see [`name`]).
//! * [`NameRecord`]: name, root score, owner, creation time, and for an
//!   invite who invited from which name. The minting node is part of the
//!   name ([`NameRecord::minted_by`]).
//! * [`NameStore`]: the storage trait, with [`MemNames`] and [`RedbNames`].
//! * [`ScoreNames`]: minting, invites, exact lookups and the grow-only
//!   merge replicas use.
//! * [`ndb_io`]: import and export of a Plan 9 spawngrid `scorenames` file.
//!
//! Replication ([`crate::replication`]): each record is numbered in the
//! order this node learned it and carries the block log's durable end at
//! that moment ([`Learned`]; the position comes from the log given to
//! [`ScoreNames::with_log`]). A name is minted after its blocks are
//! synced and merged from a peer after that pull's blocks are synced, so
//! every block its root reaches is in the log before its position.
//!
//! Immutability: a record, once stored, is never changed or removed.
//! Storing an identical record again is a no-op (replication delivers
//! records more than once); storing another record under the same name is
//! refused. Invites follow the original `invite`: the invitee gets a name
//! of their own for a snapshot of the running environment, so every name
//! has exactly one owner and "names shared with me" are the invite
//! records I own.

pub mod name;
pub mod ndb_io;
mod record;
mod redb_store;
mod store;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use colony_venti::Score;
use colony_venti::arena::LogPos;

use crate::error::{Error, Result};
use crate::node::NodeId;
use crate::user::UserName;

pub use name::Name;
pub use record::{Invite, NameRecord};
pub use redb_store::RedbNames;
pub use store::{Learned, MemNames, NameStore};

/// The database file in a data directory.
pub const NAMES_FILE: &str = "names.redb";

/// The block log names are placed in (see [`ScoreNames::with_log`]).
pub trait NameLog: Send + Sync {
    /// The log's durable end now; `None` when the log is not open here
    /// (a tool working on the names file of a stopped node).
    fn end(&self) -> Option<LogPos>;
    /// Called after records were learned (to wake peers waiting for them).
    fn learned(&self);
}

/// No log: records are stored unnumbered, and numbered when the node
/// next opens them with its log.
struct NoLog;

impl NameLog for NoLog {
    fn end(&self) -> Option<LogPos> {
        None
    }
    fn learned(&self) {}
}

/// A node's scorenames: a [`NameStore`] and the node id it mints with.
pub struct ScoreNames<S: NameStore = RedbNames> {
    store: S,
    node: NodeId,
    /// Where records learned now are placed in the block log.
    log: Arc<dyn NameLog>,
}

impl ScoreNames<RedbNames> {
    /// Opens the names of the node initialised in `data_dir` (its
    /// `node-id` file and `names.redb`, created if missing).
    pub fn open(data_dir: &Path) -> Result<ScoreNames<RedbNames>> {
        let node = NodeId::load(data_dir)?;
        Ok(ScoreNames::new(
            RedbNames::open(&data_dir.join(NAMES_FILE))?,
            node,
        ))
    }
}

impl<S: NameStore> ScoreNames<S> {
    /// Names kept in `store`, minted as `node`.
    /// Records are stored unnumbered (not given to peers) until the node
    /// opens them [`with_log`](Self::with_log).
    pub fn new(store: S, node: NodeId) -> ScoreNames<S> {
        ScoreNames {
            store,
            node,
            log: Arc::new(NoLog),
        }
    }

    /// Places every record learned from now on at the durable end of the
    /// node's block log `log`, and records stored by an earlier version
    /// or by a tool while it was stopped (their blocks were synced before
    /// them) at its end now.
    pub fn with_log(mut self, log: Arc<dyn NameLog>) -> Result<ScoreNames<S>> {
        let placed = match log.end() {
            Some(end) => self.store.learn_unnumbered(end)?,
            None => 0,
        };
        if placed > 0 {
            tracing::info!(placed, "numbered the names stored before replication");
        }
        self.log = log;
        Ok(self)
    }

    /// Up to `max` records in the order this node learned them, from the
    /// one numbered `from` on (what a peer pulls).
    pub fn learned_since(&self, from: u64, max: usize) -> Result<Vec<Learned>> {
        self.store.learned_since(from, max)
    }

    /// The id this node mints names with.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Mints `label@node` for `owner`. Refused with [`Error::NameExists`]
    /// if the name is already written, whatever it holds.
    pub fn mint(&self, label: &str, owner: &UserName, score: Score) -> Result<NameRecord> {
        self.mint_record(label, owner, score, None)
    }

    /// The spawngrid's `invite`: `inviter` must own `source` (exactly);
    /// `invitee` gets the new name `label@node` for `score`, the snapshot
    /// of the running environment taken for them.
    pub fn invite(
        &self,
        inviter: &UserName,
        source: &Name,
        invitee: &UserName,
        label: &str,
        score: Score,
    ) -> Result<NameRecord> {
        self.resolve(inviter, source)?;
        let invite = Invite {
            by: inviter.clone(),
            from: source.clone(),
        };
        self.mint_record(label, invitee, score, Some(invite))
    }

    fn mint_record(
        &self,
        label: &str,
        owner: &UserName,
        score: Score,
        invite: Option<Invite>,
    ) -> Result<NameRecord> {
        let record = NameRecord {
            name: Name::minted(label, &self.node)?,
            score,
            owner: owner.clone(),
            created: Some(now()),
            invite,
        };
        match self.insert_all(std::slice::from_ref(&record)) {
            Ok(1) => Ok(record),
            Ok(_) | Err(Error::NameConflict { .. }) => {
                Err(Error::NameExists(record.name.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// Stores one record from elsewhere (a peer, an import). Returns
    /// whether it was new; an identical record already held is `false`,
    /// a different one under the same name is [`Error::NameExists`].
    pub fn insert(&self, record: NameRecord) -> Result<bool> {
        match self.insert_all(std::slice::from_ref(&record)) {
            Ok(n) => Ok(n == 1),
            Err(Error::NameConflict { .. }) => Err(Error::NameExists(record.name.to_string())),
            Err(e) => Err(e),
        }
    }

    /// Grow-only merge: the union of our records and `records`. Returns
    /// how many were new. Idempotent and commutative; a conflicting record
    /// (same name, other content) refuses the whole batch with
    /// [`Error::NameConflict`], and is logged, since it means a peer
    /// minted outside its own node id or is corrupt.
    pub fn merge(&self, records: &[NameRecord]) -> Result<usize> {
        self.insert_all(records).inspect_err(|e| {
            if let Error::NameConflict { ours, theirs } = e {
                tracing::error!(name = %ours.name, ?ours, ?theirs, "refused a conflicting scorename merge");
            }
        })
    }

    /// Stores `records` at the log's end and tells the log.
    fn insert_all(&self, records: &[NameRecord]) -> Result<usize> {
        let added = self.store.insert_all(records, self.log.end())?;
        if added > 0 {
            self.log.learned();
        }
        Ok(added)
    }

    /// Merges the records of a spawngrid `scorenames` file (see
    /// [`ndb_io`]); returns how many were new.
    pub fn import_ndb(&self, file: &[u8]) -> Result<usize> {
        self.merge(&ndb_io::import(file)?)
    }

    /// Every record as a spawngrid `scorenames` file.
    pub fn export_ndb(&self) -> Result<String> {
        Ok(ndb_io::export(&self.all()?))
    }

    /// The record for exactly `name`, whoever owns it (admin view).
    pub fn get(&self, name: &Name) -> Result<Option<NameRecord>> {
        self.store.get(name)
    }

    /// The record `user` may spawn under `name`: it must exist and be owned
    /// by exactly `user`. Anything else is [`Error::NameNotFound`], so a
    /// user learns nothing about other users' names.
    pub fn resolve(&self, user: &UserName, name: &Name) -> Result<NameRecord> {
        match self.store.get(name)? {
            Some(r) if r.owner == *user => Ok(r),
            _ => Err(Error::NameNotFound(name.to_string())),
        }
    }

    /// Every name `user` owns, invites included (the `scores` command).
    pub fn owned_by(&self, user: &UserName) -> Result<Vec<NameRecord>> {
        self.store.owned_by(user)
    }

    /// The names other users shared with `user` by inviting them.
    pub fn shared_with(&self, user: &UserName) -> Result<Vec<NameRecord>> {
        let mut names = self.store.owned_by(user)?;
        names.retain(|r| r.invite.is_some());
        Ok(names)
    }

    /// Every record (admin view), in name order.
    pub fn all(&self) -> Result<Vec<NameRecord>> {
        self.store.all()
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
