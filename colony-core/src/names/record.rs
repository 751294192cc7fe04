//! One scorename record and its stored form.

use colony_venti::Score;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::Name;
use crate::node::NodeId;
use crate::user::UserName;

/// Where an invited name came from: the spawngrid's `invite` gave the
/// invitee a name of their own for a snapshot of the inviter's running
/// environment; this remembers who invited and from which name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Invite {
    /// The user who invited.
    pub by: UserName,
    /// The inviter's name the environment was spawned from.
    pub from: Name,
}

/// A scorename record: immutable once written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameRecord {
    /// The name.
    pub name: Name,
    /// The root score (`vac:` score of the fossil root).
    pub score: Score,
    /// The one user who may spawn it.
    pub owner: UserName,
    /// When it was minted, in seconds since the Unix epoch; `None` for a
    /// name imported from a Plan 9 file, which recorded no time.
    pub created: Option<u64>,
    /// Set when this name was made by an invite.
    pub invite: Option<Invite>,
}

/// Version byte that starts every stored record.
const VERSION: u8 = 1;

/// The serialised shape: plain strings and bytes, re-checked on decode.
#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    score: [u8; Score::SIZE],
    owner: String,
    created: Option<u64>,
    invite: Option<(String, String)>,
}

impl NameRecord {
    /// The node that minted the name (`None` when imported).
    pub fn minted_by(&self) -> Option<NodeId> {
        self.name.node()
    }

    /// The stored bytes: a version byte, then the record in postcard.
    pub fn encode(&self) -> Vec<u8> {
        let stored = Stored {
            name: self.name.to_string(),
            score: self.score.0,
            owner: self.owner.to_string(),
            created: self.created,
            invite: self
                .invite
                .as_ref()
                .map(|i| (i.by.to_string(), i.from.to_string())),
        };
        let mut out = vec![VERSION];
        // Serialising plain strings, bytes and integers into a Vec cannot fail.
        out.extend(postcard::to_stdvec(&stored).expect("postcard into a Vec"));
        out
    }

    /// Decodes [`encode`](Self::encode)'s bytes, checking every field's
    /// grammar and that nothing trails.
    pub fn decode(bytes: &[u8]) -> Result<NameRecord> {
        let bad = |why: String| Error::BadRecord(why);
        let (&version, body) = bytes.split_first().ok_or_else(|| bad("empty".into()))?;
        if version != VERSION {
            return Err(bad(format!("version {version}, want {VERSION}")));
        }
        let (s, rest): (Stored, _) =
            postcard::take_from_bytes(body).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} bytes after the record", rest.len())));
        }
        let invite = match s.invite {
            Some((by, from)) => Some(Invite {
                by: UserName::new(&by)?,
                from: Name::parse(&from)?,
            }),
            None => None,
        };
        Ok(NameRecord {
            name: Name::parse(&s.name)?,
            score: Score(s.score),
            owner: UserName::new(&s.owner)?,
            created: s.created,
            invite,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Records over a small alphabet, so that generated sets share names.
    pub(crate) fn record() -> impl Strategy<Value = NameRecord> {
        (
            "[a-c]{1,2}(\\.[0-9])?",
            prop::option::of("[a-c]{1,2}"),
            any::<[u8; 20]>(),
            "[a-z][a-z0-9_-]{0,5}",
            prop::option::of(any::<u64>()),
            prop::option::of(("[a-z]{1,4}", "[a-z]{1,4}@[a-z0-9]{1,4}")),
        )
            .prop_map(|(label, node, score, owner, created, invite)| NameRecord {
                name: match node {
                    Some(n) => Name::minted(&label, &NodeId::new(&n).unwrap()).unwrap(),
                    None => Name::imported(&label).unwrap(),
                },
                score: Score(score),
                owner: UserName::new(&owner).unwrap(),
                created,
                invite: invite.map(|(by, from)| Invite {
                    by: UserName::new(&by).unwrap(),
                    from: Name::parse(&from).unwrap(),
                }),
            })
    }

    proptest! {
        #[test]
        fn round_trip(r in record()) {
            prop_assert_eq!(NameRecord::decode(&r.encode()).unwrap(), r);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = NameRecord::decode(&bytes);
        }
    }

    #[test]
    fn refuses_bad_bytes() {
        let r = NameRecord {
            name: Name::parse("x@n1").unwrap(),
            score: Score::of(b"x"),
            owner: UserName::new("bob").unwrap(),
            created: Some(5),
            invite: None,
        };
        let mut bytes = r.encode();
        assert!(matches!(NameRecord::decode(&[]), Err(Error::BadRecord(_))));
        assert!(matches!(NameRecord::decode(&[9]), Err(Error::BadRecord(_))));
        bytes.push(0);
        assert!(matches!(
            NameRecord::decode(&bytes),
            Err(Error::BadRecord(_))
        ));
        bytes.pop();
        bytes.truncate(bytes.len() - 3);
        assert!(matches!(
            NameRecord::decode(&bytes),
            Err(Error::BadRecord(_))
        ));
    }
}
