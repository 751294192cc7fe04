//! `VtRoot`: the 300-byte block a `vac:` score names (spec §4.4).

use colony_venti::{ROOT_SIZE, Score};

use crate::bytes::Reader;
use crate::entry::{big_decode, big_encode};
use crate::error::{Error, Result};

/// The root version; bit 15 set means `blocksize` uses the big encoding.
pub const ROOT_VERSION: u16 = 2;
const VERSION_BIG: u16 = 0x8000;

/// A decoded `VtRoot`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// Archive name, at most 127 bytes ("" from vac, "fossil" from fossil).
    pub name: Vec<u8>,
    /// Archive type, at most 127 bytes; readers require "vac".
    pub kind: Vec<u8>,
    /// Score of the top-level dir block.
    pub score: Score,
    /// The archive's block size.
    pub block_size: u32,
    /// Previous root of the series, or [`Score::NONE`].
    pub prev: Score,
}

impl Root {
    /// A vac root for `score` with the given block size.
    pub fn vac(score: Score, block_size: u32) -> Root {
        Root {
            name: Vec::new(),
            kind: b"vac".to_vec(),
            score,
            block_size,
            prev: Score::NONE,
        }
    }

    /// Encodes the 300 bytes.
    pub fn encode(&self) -> Result<[u8; ROOT_SIZE]> {
        let mut out = [0u8; ROOT_SIZE];
        let (version, bs) = if self.block_size >= 65536 {
            (ROOT_VERSION | VERSION_BIG, big_encode(self.block_size)?)
        } else {
            (ROOT_VERSION, self.block_size as u16)
        };
        for (field, text, at) in [("name", &self.name, 2), ("type", &self.kind, 130)] {
            if text.len() > 127 || text.contains(&0) {
                return Err(Error::Unrepresentable(format!(
                    "root {field} of {} bytes (at most 127, no NUL)",
                    text.len()
                )));
            }
            out[at..at + text.len()].copy_from_slice(text);
        }
        out[0..2].copy_from_slice(&version.to_be_bytes());
        out[258..278].copy_from_slice(&self.score.0);
        out[278..280].copy_from_slice(&bs.to_be_bytes());
        out[280..300].copy_from_slice(&self.prev.0);
        Ok(out)
    }

    /// Decodes a root block, which must be exactly 300 bytes with version 2
    /// and a block size of at least 256. The type is not checked here (see
    /// [`Root::check_vac`]).
    pub fn decode(buf: &[u8]) -> Result<Root> {
        if buf.len() != ROOT_SIZE {
            return Err(Error::format(
                "VtRoot",
                format!("{} bytes, want exactly {ROOT_SIZE}", buf.len()),
            ));
        }
        let mut r = Reader::new(buf, "VtRoot");
        let version = r.u16("version")?;
        if version & !VERSION_BIG != ROOT_VERSION {
            return Err(Error::format(
                "VtRoot",
                format!("unknown root version {version:#x}"),
            ));
        }
        // Readers force byte 127 to NUL: a name is at most 127 bytes.
        let name = cstr(&r.bytes(128, "name")?[..127]);
        let kind = cstr(&r.bytes(128, "type")?[..127]);
        let score = Score::from_slice(r.bytes(20, "score")?);
        let bs = r.u16("blocksize")?;
        let block_size = if version & VERSION_BIG != 0 {
            big_decode(bs)
        } else {
            bs as u32
        };
        if !(256..=crate::entry::MAX_READ_BLOCK).contains(&block_size) {
            return Err(Error::format(
                "VtRoot",
                format!("block size {block_size} out of range"),
            ));
        }
        let prev = Score::from_slice(r.bytes(20, "prev")?);
        Ok(Root {
            name,
            kind,
            score,
            block_size,
            prev,
        })
    }

    /// Fails unless the type is "vac", as unvac, vacfs and fossil require.
    pub fn check_vac(&self) -> Result<()> {
        if self.kind != b"vac" {
            return Err(Error::format(
                "VtRoot",
                format!(
                    "not a vac root: type {:?}",
                    String::from_utf8_lossy(&self.kind)
                ),
            ));
        }
        Ok(())
    }
}

fn cstr(b: &[u8]) -> Vec<u8> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b[..end].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_bad_roots() {
        let good = Root::vac(Score::EMPTY, 8192).encode().unwrap();
        assert!(Root::decode(&good).unwrap().check_vac().is_ok());
        assert!(Root::decode(&good[..299]).is_err());
        let mut v3 = good;
        v3[1] = 3;
        assert!(Root::decode(&v3).is_err());
        let mut small = good;
        small[278..280].copy_from_slice(&255u16.to_be_bytes());
        assert!(Root::decode(&small).is_err());
        // Found by fuzzing: a big-encoded size past 32 bits.
        let mut huge = good;
        huge[0] = 0x80;
        huge[278..280].copy_from_slice(&0x045bu16.to_be_bytes());
        assert!(Root::decode(&huge).is_err());
        let mut other = Root::vac(Score::EMPTY, 8192);
        other.kind = b"ffs".to_vec();
        assert!(
            Root::decode(&other.encode().unwrap())
                .unwrap()
                .check_vac()
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn round_trip(name in "[a-z]{0,127}", kind in "[a-z]{0,127}", score: [u8; 20],
                      bs in prop_oneof![256u32..65536, (11u32..=16).prop_map(|e| 1 << e)],
                      prev: [u8; 20]) {
            let r = Root { name: name.into_bytes(), kind: kind.into_bytes(), score: Score(score),
                           block_size: bs, prev: Score(prev) };
            prop_assert_eq!(Root::decode(&r.encode().unwrap()).unwrap(), r);
        }

        #[test]
        fn decode_never_panics(b in prop::collection::vec(any::<u8>(), 300)) {
            let _ = Root::decode(&b);
        }
    }
}
