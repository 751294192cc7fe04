//! Scorenames and their grammar.
//!
//! ```text
//! name  = label "@" node    ; minted by a colony node
//!       | label             ; imported from a Plan 9 spawngrid's scorenames file
//! label = 1*64 of A-Z a-z 0-9 . _ + -   (first character a letter or digit)
//! node  = the minting node's id: 1*32 of a-z 0-9
//! ```
//!
//! Why this is unique without coordination: a node mints only names that
//! end in its own `@node`, and checks-and-inserts inside one redb write
//! transaction, so two mints on one node cannot both win and two nodes can
//! never produce the same name. The user picks the label (`save mywork`
//! gives `mywork@k3x9qa2m`), exactly as the original grid let the user pick
//! `NEW` and appended `.nonce`, whose last two digits named the server.
//! Alternatives and why not: scoping by user (`alice/mywork`) is not
//! enough on its own, because alice can save on two nodes during a
//! partition; minting only on a user's home node makes saving depend on
//! that node being reachable.
//!
//! Imported names carry no `@`, so they can never equal a minted one. They
//! were unique on the old grid thanks to its nonces, and importing the
//! same file on two nodes yields identical records that merge cleanly.
//! Comparison is exact, byte for byte.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::node::NodeId;

/// A scorename: a label, and the node that minted it unless imported.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

/// Longest label in bytes.
pub const MAX_LABEL: usize = 64;

fn bad(text: &str, reason: &'static str) -> Error {
    Error::BadName {
        text: text.to_string(),
        reason,
    }
}

/// Checks a label (the part a user chooses).
pub fn check_label(label: &str) -> Result<()> {
    let b = label.as_bytes();
    if b.is_empty() || b.len() > MAX_LABEL {
        return Err(bad(label, "a label has 1 to 64 characters"));
    }
    if !b[0].is_ascii_alphanumeric() {
        return Err(bad(label, "a label starts with a letter or digit"));
    }
    if !b
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-'))
    {
        return Err(bad(label, "a label holds only A-Z a-z 0-9 . _ + -"));
    }
    Ok(())
}

impl Name {
    /// The name `label@node`, as `node` mints it.
    pub fn minted(label: &str, node: &NodeId) -> Result<Name> {
        check_label(label)?;
        Ok(Name(format!("{label}@{node}")))
    }

    /// A name without a node, as a Plan 9 scorenames file holds it.
    pub fn imported(label: &str) -> Result<Name> {
        check_label(label)?;
        Ok(Name(label.to_string()))
    }

    /// Parses either form.
    pub fn parse(text: &str) -> Result<Name> {
        match text.split_once('@') {
            Some((label, node)) => {
                let node = NodeId::new(node)
                    .map_err(|_| bad(text, "the part after @ is not a node id"))?;
                Name::minted(label, &node)
                    .map_err(|_| bad(text, "the part before @ is not a label"))
            }
            None => Name::imported(text),
        }
    }

    /// The user-chosen part.
    pub fn label(&self) -> &str {
        self.0.split_once('@').map_or(&self.0, |(l, _)| l)
    }

    /// The node that minted the name; `None` for an imported name.
    pub fn node(&self) -> Option<NodeId> {
        // The constructors checked the node part.
        self.0
            .split_once('@')
            .map(|(_, n)| NodeId::new(n).expect("checked node id"))
    }

    /// The whole name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = Error;
    fn from_str(text: &str) -> Result<Name> {
        Name::parse(text)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let node = NodeId::new("k3x9qa2m").unwrap();
        let n = Name::minted("mywork", &node).unwrap();
        assert_eq!(n.as_str(), "mywork@k3x9qa2m");
        assert_eq!(n.label(), "mywork");
        assert_eq!(n.node(), Some(node));
        assert_eq!(Name::parse("mywork@k3x9qa2m").unwrap(), n);
        let old = Name::parse("clean.fraspasto").unwrap();
        assert_eq!(old.node(), None);
        assert_eq!(old.label(), "clean.fraspasto");
        assert_eq!(Name::parse("mywork.211").unwrap().as_str(), "mywork.211");
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "@node",
            "x@",
            "x@Node",
            "x@a@b",
            ".x",
            "a b",
            "a/b",
            "ä",
            "x@a-b",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(Name::parse(bad), Err(Error::BadName { .. })),
                "{bad:?}"
            );
        }
        assert!(Name::parse(&"a".repeat(64)).is_ok());
    }
}
