//! `save` and `invite`: snapshots of a running environment under new
//! names.

use super::Colony;
use super::runtime::EnvRuntime;
use crate::error::{Error, Result};
use crate::identity::user_credential;
use crate::names::name::MAX_LABEL;
use crate::names::{Name, NameRecord};
use crate::user::UserName;

/// Most numbered labels an invite tries (`base`, `base.2`, ...) before
/// giving up.
const INVITE_TRIES: u32 = 999;

impl<R: EnvRuntime> Colony<R> {
    /// `save OLD NEW`: snapshots `user`'s running environment `env` and
    /// mints `label@node` for it, owned by `user`. The name is checked
    /// before the snapshot is taken: a bad label is [`Error::BadName`], a
    /// name already written is [`Error::NameExists`]; an environment
    /// `user` does not run here is [`Error::NotRunning`]. The snapshot is
    /// a checkpoint (its blocks synced, the environment's record moved to
    /// it) before the name is written, so a name always points at durable
    /// blocks.
    pub async fn save(&self, user: &UserName, env: &str, label: &str) -> Result<NameRecord> {
        let live = self.envs.get(user, env)?;
        let name = Name::minted(label, &self.node)?;
        if self.names.get(&name)?.is_some() {
            return Err(Error::NameExists(name.to_string()));
        }
        let score = self.checkpoint(&live).await?;
        let record = self.names.mint(label, user, score)?;
        tracing::info!(env, name = %record.name, %user, "saved");
        Ok(record)
    }

    /// `invite USER NAME`: snapshots `user`'s running environment `env`
    /// for `invitee`, who gets a fresh name of their own,
    /// `LABEL.INVITEE@node` (numbered `.2`, `.3`, ... when taken), where
    /// LABEL is `env`'s label (shortened to fit). The inviter does not own
    /// the new name. Refused: an environment `user` does not run
    /// ([`Error::NotRunning`]), inviting oneself ([`Error::BadArgument`]),
    /// an invitee without a credential on this node
    /// ([`Error::UnknownUser`]).
    pub async fn invite(
        &self,
        user: &UserName,
        invitee: &UserName,
        env: &str,
    ) -> Result<NameRecord> {
        let live = self.envs.get(user, env)?;
        if invitee == user {
            return Err(Error::BadArgument(format!(
                "invite {invitee} {env}: you cannot invite yourself; use save"
            )));
        }
        if !user_credential(&self.config.data_dir, invitee).is_file() {
            return Err(Error::UnknownUser(invitee.to_string()));
        }
        let source = Name::parse(env)?;
        let score = self.checkpoint(&live).await?;
        let base = invite_base(source.label(), invitee);
        for n in 1..=INVITE_TRIES {
            let label = match n {
                1 => base.clone(),
                n => format!("{base}.{n}"),
            };
            if self
                .names
                .get(&Name::minted(&label, &self.node)?)?
                .is_some()
            {
                continue;
            }
            match self.names.invite(user, &source, invitee, &label, score) {
                // Minted by someone else since the look-up: try the next.
                Err(Error::NameExists(_)) => continue,
                Ok(record) => {
                    tracing::info!(env, name = %record.name, %user, %invitee, "invited");
                    return Ok(record);
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::BadArgument(format!(
            "invite {invitee} {env}: {INVITE_TRIES} invite names for {base} are taken"
        )))
    }
}

/// `LABEL.INVITEE`, with LABEL shortened so that a `.NNN` suffix still
/// fits in a label. LABEL starts with a letter or digit, so the result
/// is a valid label.
fn invite_base(label: &str, invitee: &UserName) -> String {
    let room = MAX_LABEL - invitee.as_str().len() - ".".len() - ".999".len();
    // Labels are ASCII, so any byte index is a character boundary.
    let label = &label[..label.len().min(room)];
    format!("{label}.{invitee}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::name::check_label;

    #[test]
    fn invite_labels_fit() {
        let bob = UserName::new("bob").unwrap();
        assert_eq!(invite_base("clean.k3x9", &bob), "clean.k3x9.bob");
        let long = UserName::new(&"u".repeat(32)).unwrap();
        let base = invite_base(&"a".repeat(64), &long);
        check_label(&format!("{base}.999")).unwrap();
        assert!(base.starts_with('a') && base.ends_with(&format!(".{long}")));
    }
}
