//! The qid: the server's unique identity of a file.

use crate::error::Result;
use crate::ninep::QTDIR;
use crate::ninep::wire::{Reader, Wire, put_u32, put_u64};

/// `type[1] vers[4] path[8]`: two files are the same iff their qids are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Qid {
    /// QT* bits: the top byte of the file's mode.
    pub ty: u8,
    /// Bumped on every modification.
    pub version: u32,
    /// Unique per file on the server.
    pub path: u64,
}

impl Qid {
    /// Encoded size.
    pub const LEN: usize = 13;

    /// The qid type that goes with a mode word (its top byte).
    pub fn type_of_mode(mode: u32) -> u8 {
        (mode >> 24) as u8
    }

    /// Whether this qid names a directory.
    pub fn is_dir(&self) -> bool {
        self.ty & QTDIR != 0
    }

    /// Appends the 13 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.ty);
        put_u32(out, self.version);
        put_u64(out, self.path);
    }

    /// Decodes exactly 13 bytes.
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let qid = Self::get(&mut r, "qid")?;
        crate::ninep::codec::expect_end(&r, 0)?;
        Ok(qid)
    }
}

impl Wire for Qid {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        self.encode(out);
        Ok(())
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        Ok(Qid {
            ty: r.u8(what)?,
            version: r.u32(what)?,
            path: r.u64(what)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(ty: u8, version: u32, path: u64) {
            let qid = Qid { ty, version, path };
            let mut buf = Vec::new();
            qid.encode(&mut buf);
            prop_assert_eq!(buf.len(), Qid::LEN);
            prop_assert_eq!(Qid::decode(&buf).unwrap(), qid);
        }
    }

    #[test]
    fn directory_mode_gives_directory_type() {
        assert!(
            Qid {
                ty: Qid::type_of_mode(crate::ninep::DMDIR | 0o755),
                version: 0,
                path: 1
            }
            .is_dir()
        );
        assert_eq!(Qid::type_of_mode(0o644), crate::ninep::QTFILE);
    }

    #[test]
    fn short_and_long_are_errors() {
        assert!(Qid::decode(&[0; 12]).is_err());
        assert!(Qid::decode(&[0; 14]).is_err());
    }
}
