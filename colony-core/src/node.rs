//! Node ids: the short random name each node makes once, at `init`.
//!
//! Every scorename a node mints carries its id (`label@nodeid`), which is
//! what keeps names unique without the nodes ever talking to each other.
//! Grammar: 1 to 32 bytes of `a-z0-9`. Generated ids are 8 characters of
//! the RFC 4648 base32 alphabet in lower case: 40 random bits, so even
//! among a thousand nodes two share an id with probability below 10⁻⁶;
//! the CA that signs a node's certificate (CN = node id) can refuse a
//! duplicate outright.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A valid node id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

/// The file in a data directory that holds the node id.
pub const NODE_ID_FILE: &str = "node-id";

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

impl NodeId {
    /// Longest node id in bytes.
    pub const MAX_LEN: usize = 32;

    /// Checks `text` against the grammar.
    pub fn new(text: &str) -> Result<NodeId> {
        let b = text.as_bytes();
        if (1..=Self::MAX_LEN).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            Ok(NodeId(text.to_string()))
        } else {
            Err(Error::BadNodeId(text.to_string()))
        }
    }

    /// A fresh random id (8 base32 characters from the system's secure
    /// random source).
    pub fn generate() -> Result<NodeId> {
        let mut bits = [0u8; 5];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut bits)
            .map_err(|_| Error::Cert("no secure random source".into()))?;
        let word = bits.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        let id = (0..8)
            .map(|i| BASE32[(word >> (35 - 5 * i) & 31) as usize] as char)
            .collect();
        Ok(NodeId(id))
    }

    /// Reads the id stored in `data_dir`.
    pub fn load(data_dir: &Path) -> Result<NodeId> {
        let path = data_dir.join(NODE_ID_FILE);
        let text = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        NodeId::new(text.trim_end_matches('\n'))
    }

    /// Writes the id into `data_dir` (a new file mode 0600).
    pub fn store(&self, data_dir: &Path) -> Result<()> {
        let path = data_dir.join(NODE_ID_FILE);
        colony_venti::private::write_private(&path, format!("{}\n", self.0).as_bytes())
            .map_err(Error::io("write", &path))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeId {
    type Err = Error;
    fn from_str(text: &str) -> Result<NodeId> {
        NodeId::new(text)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_differ() {
        let a = NodeId::generate().unwrap();
        let b = NodeId::generate().unwrap();
        assert_eq!(a.as_str().len(), 8);
        assert_eq!(NodeId::new(a.as_str()).unwrap(), a);
        assert_ne!(a, b);
    }

    #[test]
    fn grammar_and_file() {
        for bad in ["", "A1", "a-b", "a.b", "x@y", &"a".repeat(33)] {
            assert!(
                matches!(NodeId::new(bad), Err(Error::BadNodeId(_))),
                "{bad:?}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(NodeId::load(dir.path()), Err(Error::Io { .. })));
        let id = NodeId::new("fraspasto").unwrap();
        id.store(dir.path()).unwrap();
        assert_eq!(NodeId::load(dir.path()).unwrap(), id);
    }
}
