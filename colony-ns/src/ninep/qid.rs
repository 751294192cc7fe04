//! The qid: the server's unique identity of a file, `type[1] vers[4]
//! path[8]`; two files are the same iff their qids are. The type is
//! colony-fossil's (a Fossil hands out qids); this is its wire form.

use crate::error::Result;
use crate::ninep::wire::{Reader, Wire, put_u32, put_u64};

pub use colony_fossil::fossil::Qid;

impl Wire for Qid {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        out.push(self.ty);
        put_u32(out, self.version);
        put_u64(out, self.path);
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

    fn decode(buf: &[u8]) -> Result<Qid> {
        let mut r = Reader::new(buf);
        let qid = Qid::get(&mut r, "qid")?;
        crate::ninep::codec::expect_end(&r, 0)?;
        Ok(qid)
    }

    proptest! {
        #[test]
        fn round_trip(ty: u8, version: u32, path: u64) {
            let qid = Qid { ty, version, path };
            let mut buf = Vec::new();
            qid.put(&mut buf).unwrap();
            prop_assert_eq!(buf.len(), 13);
            prop_assert_eq!(decode(&buf).unwrap(), qid);
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
        assert_eq!(Qid::type_of_mode(crate::ninep::DMDIR), crate::ninep::QTDIR);
    }

    #[test]
    fn short_and_long_are_errors() {
        assert!(decode(&[0; 12]).is_err());
        assert!(decode(&[0; 14]).is_err());
    }
}
