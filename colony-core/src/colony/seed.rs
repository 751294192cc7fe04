//! The node's seed snapshot and each user's own name for it.
//!
//! `colony up` imports a tree and records it as `clean.<node>` owned by
//! the admin (no `@`: node ids are unique, so the seed name cannot clash
//! with a minted `label@node` or another node's seed). Every other user
//! gets an immutable name of their own for the same score,
//! `clean.<node>.<user>`, so ownership stays exact: one owner per name.

use colony_venti::Score;

use super::Colony;
use super::runtime::EnvRuntime;
use crate::error::{Error, Result};
use crate::names::{Name, NameRecord, now};
use crate::user::UserName;

impl<R: EnvRuntime> Colony<R> {
    /// The seed's name on this node, `clean.<node>`.
    pub fn seed_name(&self) -> Result<Name> {
        Name::imported(&format!("clean.{}", self.node))
    }

    /// Records `score` as this node's seed `clean.<node>`, owned by
    /// `user`. Recording the same score for the same owner again returns
    /// the existing record; anything else under the name is
    /// [`Error::NameExists`]. The seed's blocks must already be in the
    /// store.
    pub fn seed(&self, user: &UserName, score: Score) -> Result<NameRecord> {
        let name = self.seed_name()?;
        self.record_once(name, user, score)
    }

    /// Gives `user` their own name for the seed, `clean.<node>.<user>`,
    /// and returns it (the existing record when already granted). Needs
    /// the seed ([`Error::NameNotFound`] for `clean.<node>` otherwise).
    pub fn grant_seed(&self, user: &UserName) -> Result<NameRecord> {
        let seed_name = self.seed_name()?;
        let seed = self
            .names
            .get(&seed_name)?
            .ok_or_else(|| Error::NameNotFound(seed_name.to_string()))?;
        let name = Name::imported(&format!("{seed_name}.{user}"))?;
        self.record_once(name, user, seed.score)
    }

    /// Writes `name` → `score` for `owner`, or returns the record already
    /// written with that score and owner.
    fn record_once(&self, name: Name, owner: &UserName, score: Score) -> Result<NameRecord> {
        match self.names.get(&name)? {
            Some(r) if r.owner == *owner && r.score == score => return Ok(r),
            Some(_) => return Err(Error::NameExists(name.to_string())),
            None => {}
        }
        let record = NameRecord {
            name,
            score,
            owner: owner.clone(),
            created: Some(now()),
            invite: None,
        };
        self.names.insert(record.clone())?;
        Ok(record)
    }
}
