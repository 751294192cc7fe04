//! User names: the common name of a user's certificate and the owner of
//! scorenames.
//!
//! Grammar: 1 to 32 bytes of `a-z`, `0-9`, `_` and `-`, the first a letter
//! or digit. Names are compared byte for byte: there is no case folding,
//! no prefix or substring matching (the original grid's `grep $user`
//! let "bob" act on "bobby"'s names).

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A valid user name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    /// Longest user name in bytes.
    pub const MAX_LEN: usize = 32;

    /// Checks `text` against the grammar.
    pub fn new(text: &str) -> Result<UserName, Error> {
        let bytes = text.as_bytes();
        let ok = (1..=Self::MAX_LEN).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase() | bytes[0].is_ascii_digit()
            && bytes
                .iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
        if ok {
            Ok(UserName(text.to_string()))
        } else {
            Err(Error::BadUser(text.to_string()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UserName {
    type Err = Error;
    fn from_str(text: &str) -> Result<UserName, Error> {
        UserName::new(text)
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for good in ["glenda", "bob", "a", "x9", "7of9", "a_b-c", &"a".repeat(32)] {
            assert_eq!(UserName::new(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "Bob",
            "-bob",
            "_x",
            "bob smith",
            "bob@x",
            "bö",
            "a/b",
            &"a".repeat(33),
        ] {
            assert!(
                matches!(UserName::new(bad), Err(Error::BadUser(t)) if t == bad),
                "{bad:?}"
            );
        }
    }
}
