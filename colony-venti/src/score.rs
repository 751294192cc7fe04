//! The score: a block's address, the SHA-1 of its stored bytes.

use std::fmt;
use std::str::FromStr;

use sha1::{Digest, Sha1};

use crate::error::Error;

/// The SHA-1 of a block's bytes as stored (after zero truncation).
///
/// ```
/// use colony_venti::Score;
/// let s = Score::of(b"hello");
/// assert_eq!(s.to_string(), "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
/// assert_eq!("vac:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d".parse::<Score>().unwrap(), s);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Score(pub [u8; Score::SIZE]);

impl Score {
    /// Bytes in a score.
    pub const SIZE: usize = 20;

    /// The score of the empty block (libventi's `vtzeroscore`,
    /// `da39a3ee…`): an empty block, or a subtree that is all zeros.
    /// Never stored; readers produce it locally.
    pub const EMPTY: Score = Score([
        0xda, 0x39, 0xa3, 0xee, 0x5e, 0x6b, 0x4b, 0x0d, 0x32, 0x55, 0xbf, 0xef, 0x95, 0x60, 0x18,
        0x90, 0xaf, 0xd8, 0x07, 0x09,
    ]);

    /// Twenty zero bytes: not the hash of anything. vac uses it for "no
    /// previous root"; a venti server answers a read of it with an empty
    /// block.
    pub const NONE: Score = Score([0; Score::SIZE]);

    /// Hashes `data` (with the CPU's SHA instructions where it has them).
    pub fn of(data: &[u8]) -> Score {
        Score(Sha1::digest(data).into())
    }

    /// True for the two scores that name no stored block: [`Score::EMPTY`]
    /// and [`Score::NONE`]. Both read as an empty block.
    pub fn is_special(&self) -> bool {
        *self == Score::EMPTY || *self == Score::NONE
    }

    /// Parses exactly 40 hex digits (either case), with no prefix.
    pub fn from_hex(text: &str) -> Result<Score, Error> {
        Score::parse_hex(text).map_err(|problem| Error::BadScore {
            text: text.to_string(),
            problem,
        })
    }

    fn parse_hex(text: &str) -> Result<Score, ScoreProblem> {
        let bytes = text.as_bytes();
        if bytes.len() != 2 * Score::SIZE {
            return Err(ScoreProblem::Length(bytes.len()));
        }
        let digit = |at: usize| hex_digit(bytes[at]).ok_or(ScoreProblem::NotHex { at });
        let mut out = [0u8; Score::SIZE];
        for (i, b) in out.iter_mut().enumerate() {
            *b = digit(2 * i)? << 4 | digit(2 * i + 1)?;
        }
        Ok(Score(out))
    }

    /// Parses a score that must carry the given label, e.g. `vac:`.
    ///
    /// ```
    /// use colony_venti::Score;
    /// assert!(Score::parse_labelled("vac:16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35", "vac").is_ok());
    /// assert!(Score::parse_labelled("16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35", "vac").is_err());
    /// ```
    pub fn parse_labelled(text: &str, label: &str) -> Result<Score, Error> {
        let parsed = match text.trim_end().split_once(':') {
            Some((l, hex)) if l == label => Score::parse_hex(hex),
            _ => Err(ScoreProblem::Label(label.to_string())),
        };
        parsed.map_err(|problem| Error::BadScore {
            text: text.to_string(),
            problem,
        })
    }

    /// The score as `label:hex`, e.g. `vac:16ff…`.
    pub fn labelled(&self, label: &str) -> String {
        format!("{label}:{self}")
    }

    /// Reads a score from the first 20 bytes of `bytes`.
    ///
    /// # Panics
    /// If `bytes` is shorter than 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Score {
        let mut out = [0u8; Score::SIZE];
        out.copy_from_slice(&bytes[..Score::SIZE]);
        Score(out)
    }
}

/// Why text is not a score.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScoreProblem {
    /// Not 40 characters of hex (after any label).
    #[error("want 40 hex digits, got {0} characters")]
    Length(usize),
    /// The character at this offset (in the hex part) is not a hex digit.
    #[error("character {at} is not a hex digit")]
    NotHex {
        /// Offset of the character in the hex part.
        at: usize,
    },
    /// The label before the colon is missing or another one.
    #[error("want the label \"{0}:\"")]
    Label(String),
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Accepts `HEX` or `label:HEX` (the text after the first colon), as
/// plan9port's `vtparsescore` does.
impl FromStr for Score {
    type Err = Error;
    fn from_str(text: &str) -> Result<Score, Error> {
        let hex = text.split_once(':').map_or(text, |(_, h)| h);
        Score::parse_hex(hex).map_err(|problem| Error::BadScore {
            text: text.to_string(),
            problem,
        })
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Score({self})")
    }
}

impl AsRef<[u8]> for Score {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_hashes() {
        assert_eq!(Score::of(b""), Score::EMPTY);
        assert_eq!(
            Score::of(b"The quick brown fox jumps over the lazy dog").to_string(),
            "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"
        );
        assert_eq!(
            Score::of(b"hello\n").to_string(),
            "f572d396fae9206628714fb2ce00f72e94f2258f"
        );
    }

    #[test]
    fn rejects_bad_text_naming_the_check() {
        let label = || ScoreProblem::Label("vac".into());
        for (bad, want) in [
            ("", ScoreProblem::Length(0)),
            ("abc", ScoreProblem::Length(3)),
            (
                "2fd4e1c67a2d28fced849ee1bb76e7391b93eb1",
                ScoreProblem::Length(39),
            ),
            (
                "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12a",
                ScoreProblem::Length(41),
            ),
            (
                "2fd4e1c67a2d28fced849ee1bb76e7391b93eb1g",
                ScoreProblem::NotHex { at: 39 },
            ),
            ("vac:", ScoreProblem::Length(0)),
            ("vac:2fd4", ScoreProblem::Length(4)),
        ] {
            match bad.parse::<Score>() {
                Err(Error::BadScore { text, problem }) => {
                    assert_eq!((text.as_str(), problem), (bad, want))
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        for (bad, want) in [
            ("ffs:2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", label()),
            ("2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", label()),
            (
                "vac:x2fd4e1c67a2d28fced849ee1bb76e7391b93eb1",
                ScoreProblem::NotHex { at: 0 },
            ),
        ] {
            match Score::parse_labelled(bad, "vac") {
                Err(Error::BadScore { problem, .. }) => assert_eq!(problem, want, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn specials() {
        assert!(Score::EMPTY.is_special());
        assert!(Score::NONE.is_special());
        assert!(!Score::of(b"x").is_special());
    }

    proptest! {
        #[test]
        fn text_round_trip(bytes in any::<[u8; 20]>(), label in "[a-z]{1,8}") {
            let s = Score(bytes);
            prop_assert_eq!(s.to_string().parse::<Score>().unwrap(), s);
            prop_assert_eq!(s.to_string().to_uppercase().parse::<Score>().unwrap(), s);
            prop_assert_eq!(Score::parse_labelled(&s.labelled(&label), &label).unwrap(), s);
            prop_assert_eq!(s.labelled(&label).parse::<Score>().unwrap(), s);
        }
    }
}
