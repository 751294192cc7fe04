//! How the wire says a block is absent. Venti has no message for it:
//! plan9port's server answers a read of a missing block with an `Rerror`
//! whose text is `no block with score SCORE/TYPE exists` (SCORE in hex,
//! TYPE in libventi's numbering). colony's server sends exactly those
//! bytes, so plan9port's tools understand it, and the client reads them
//! back into [`Error::NotFound`] here, the one place that knows the text:
//! it is parsed (hex score, type number), not compared with a string, and
//! counts only for the block that was asked for.

use std::fmt;

use crate::block_type::BlockType;
use crate::error::Error;
use crate::proto::message::Rerror;
use crate::score::Score;

const PREFIX: &str = "no block with score ";
const SUFFIX: &str = " exists";

/// plan9port's text for an absent block, as [`Error::NotFound`] displays
/// it.
pub(crate) struct AbsentText<'a>(pub &'a Score, pub BlockType);

impl fmt::Display for AbsentText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}/{}{SUFFIX}", self.0, self.1.libventi())
    }
}

impl Rerror {
    /// plan9port's answer to a read of a block it does not have.
    pub fn absent(score: &Score, ty: BlockType) -> Rerror {
        Rerror {
            error: AbsentText(score, ty).to_string(),
        }
    }

    /// The block this error says is absent, if it is that answer.
    pub fn absent_block(&self) -> Option<(Score, BlockType)> {
        let rest = self.error.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
        let (score, ty) = rest.split_once('/')?;
        // A number, not "+1" or "01": the text is plan9port's `%d`.
        if ty.is_empty() || !ty.bytes().all(|b| b.is_ascii_digit()) || ty.len() > 2 {
            return None;
        }
        let ty = BlockType::from_libventi(ty.parse().ok()?).ok()?;
        Some((score.parse().ok()?, ty))
    }

    /// The error this reply stands for, to a request for `asked` (a read;
    /// `None` for others): [`Error::NotFound`] if it says that block is
    /// absent, else [`Error::Remote`] with its text.
    pub fn into_error(self, asked: Option<(&Score, BlockType)>) -> Error {
        match (self.absent_block(), asked) {
            (Some((s, t)), Some((score, ty))) if s == *score && t.wire() == ty.wire() => {
                Error::NotFound { score: s, ty }
            }
            _ => Error::Remote(self.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plan9ports_bytes() {
        let r = Rerror::absent(&Score::EMPTY, BlockType::DATA);
        assert_eq!(
            r.error,
            "no block with score da39a3ee5e6b4b0d3255bfef95601890afd80709/0 exists"
        );
        assert_eq!(
            Rerror::absent(&Score::EMPTY, BlockType::pointer(1).unwrap()).error,
            "no block with score da39a3ee5e6b4b0d3255bfef95601890afd80709/9 exists"
        );
        let err = Error::NotFound {
            score: Score::EMPTY,
            ty: BlockType::ROOT,
        };
        assert_eq!(
            err.to_string(),
            Rerror::absent(&Score::EMPTY, BlockType::ROOT).error
        );
    }

    #[test]
    fn only_that_answer_for_that_block_is_absent() {
        let s = Score::of(b"x");
        let asked = Some((&s, BlockType::DIR));
        let absent = Rerror::absent(&s, BlockType::DIR);
        assert!(matches!(
            absent.clone().into_error(asked),
            Error::NotFound { score, ty } if score == s && ty == BlockType::DIR
        ));
        // Another block's, another type's, or not a read: the server's text.
        let other = Score::of(b"y");
        for (reply, asked) in [
            (absent.clone(), None),
            (absent.clone(), Some((&other, BlockType::DIR))),
            (absent.clone(), Some((&s, BlockType::DATA))),
        ] {
            assert!(matches!(reply.into_error(asked), Error::Remote(t) if t == absent.error));
        }
        let garbled = |text: String| Rerror { error: text };
        for text in [
            "no block with score da39/0 exists".to_string(),
            format!("no block with score {s}/17 exists"),
            format!("no block with score {s}/+1 exists"),
            format!("no block with score {s}/ exists"),
            format!("no block with score {s}/0 exists!"),
            format!("disk full; no block with score {s}/0 exists"),
            "lump too large".to_string(),
        ] {
            assert_eq!(garbled(text.clone()).absent_block(), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn absent_round_trips(score in any::<[u8; 20]>(), wire in prop::sample::select(vec![1u8, 2, 3, 4, 5, 6, 7, 8, 9, 13])) {
            let (score, ty) = (Score(score), BlockType::from_wire(wire).unwrap());
            prop_assert_eq!(Rerror::absent(&score, ty).absent_block(), Some((score, ty)));
        }
    }
}
