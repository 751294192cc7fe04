//! Revocation lists over the peer protocol (issue 15, one identity): a
//! revocation made on any node reaches every node of the grid.
//!
//! Every [`PeerRequest::Log`](super::wire::PeerRequest::Log) carries the
//! [`digest`] of the lists the puller last got from that server (0 for
//! none yet); the server's answer carries its current lists whenever
//! their digest differs, and its long poll wakes when they change. The
//! puller adds what it lacks to its own files
//! ([`union_into`](crate::identity::revoked_union::union_into)), whose
//! watcher applies them at once and wakes its own server's waiting
//! pullers, so a chain relays them.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::identity::revocations::Revoked;
use crate::node::NodeId;
use crate::user::UserName;

/// A node's revocation lists as sent, with their digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRevoked {
    /// [`digest`] of the lists.
    pub digest: u64,
    /// Revoked user names.
    pub users: Vec<String>,
    /// Revoked node ids.
    pub nodes: Vec<String>,
}

impl WireRevoked {
    /// `lists` for the wire.
    pub fn of(lists: &Revoked) -> WireRevoked {
        WireRevoked {
            digest: digest(lists),
            users: lists.users.iter().map(ToString::to_string).collect(),
            nodes: lists.nodes.iter().map(ToString::to_string).collect(),
        }
    }

    /// The lists; an entry that is not a user name or node id is
    /// [`Error::BadUser`](crate::Error::BadUser) or
    /// [`Error::BadNodeId`](crate::Error::BadNodeId).
    pub fn lists(&self) -> Result<Revoked> {
        Ok(Revoked {
            users: self
                .users
                .iter()
                .map(|u| UserName::new(u))
                .collect::<Result<_>>()?,
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeId::new(n))
                .collect::<Result<_>>()?,
        })
    }
}

/// A digest of `lists`: the first 8 bytes of the SHA-1 of both, one
/// entry a line, each list ended by an empty line (names hold no
/// newline, so two different lists never read the same).
pub fn digest(lists: &Revoked) -> u64 {
    let mut text = String::new();
    for user in &lists.users {
        text += &format!("{user}\n");
    }
    text.push('\n');
    for node in &lists.nodes {
        text += &format!("{node}\n");
    }
    text.push('\n');
    let score = colony_venti::Score::of(text.as_bytes());
    u64::from_be_bytes(score.0[..8].try_into().expect("8 of 20 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn lists_round_trip_and_bad_entries_are_refused() {
        let lists = Revoked {
            users: [UserName::new("bob").unwrap()].into(),
            nodes: [NodeId::new("n3").unwrap()].into(),
        };
        let wire = WireRevoked::of(&lists);
        assert_eq!(wire.lists().unwrap(), lists);
        assert_ne!(wire.digest, digest(&Revoked::default()));
        let moved = Revoked {
            users: Default::default(),
            nodes: [NodeId::new("bob").unwrap(), NodeId::new("n3").unwrap()].into(),
        };
        assert_ne!(digest(&moved), wire.digest, "a user is not a node");
        let bad = WireRevoked {
            users: vec!["Bob".into()],
            ..wire.clone()
        };
        assert!(matches!(bad.lists(), Err(Error::BadUser(u)) if u == "Bob"));
        let bad = WireRevoked {
            nodes: vec!["n-3".into()],
            ..wire
        };
        assert!(matches!(bad.lists(), Err(Error::BadNodeId(n)) if n == "n-3"));
    }
}
