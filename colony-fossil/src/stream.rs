//! `std::io::Read` + `Seek` over a data stream, for callers that want
//! bytes rather than leaves (the live file system, `cat`-like tools).

use std::io::{self, Read, Seek, SeekFrom};

use colony_venti::BlockStore;

use crate::entry::Entry;
use crate::error::Result;
use crate::tree::TreeReader;

/// Reads a stream's bytes; leaves are fetched on demand and the last one
/// is kept. Errors (missing or corrupt blocks) surface as
/// `io::ErrorKind::Other` wrapping [`crate::Error`].
pub struct StreamReader<'a, S: BlockStore + ?Sized> {
    tree: TreeReader<'a, S>,
    pos: u64,
    leaf: Option<(u64, Vec<u8>)>,
}

impl<'a, S: BlockStore + ?Sized> StreamReader<'a, S> {
    /// A reader positioned at 0.
    pub fn new(store: &'a S, entry: Entry) -> Result<StreamReader<'a, S>> {
        Ok(StreamReader {
            tree: TreeReader::new(store, entry)?,
            pos: 0,
            leaf: None,
        })
    }

    /// The stream's length.
    pub fn len(&self) -> u64 {
        self.tree.entry().size
    }

    /// True for an empty stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: BlockStore + ?Sized> Read for StreamReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.len();
        if self.pos >= size || buf.is_empty() {
            return Ok(0);
        }
        let dsize = self.tree.entry().dsize as u64;
        let bn = self.pos / dsize;
        if self.leaf.as_ref().is_none_or(|(n, _)| *n != bn) {
            let data = self.tree.read_leaf(bn).map_err(io::Error::other)?;
            self.leaf = Some((bn, data));
        }
        let (_, data) = self.leaf.as_ref().expect("just loaded");
        let off = (self.pos % dsize) as usize;
        let n = buf
            .len()
            .min(data.len() - off)
            .min((size - self.pos) as usize);
        buf[..n].copy_from_slice(&data[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<S: BlockStore + ?Sized> Seek for StreamReader<'_, S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before 0"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::TreeWriter;
    use colony_venti::MemStore;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reads_match(len in 0usize..3000, reads in prop::collection::vec((0u64..3100, 1usize..700), 1..20)) {
            let data: Vec<u8> = (0..len).map(|i| if (i / 256) % 3 == 1 { 0 } else { (i * 7) as u8 }).collect();
            let store = MemStore::new();
            let mut w = TreeWriter::new(&store, 300, 256, false);
            for c in data.chunks(256) { w.push_leaf(c).unwrap(); }
            let (e, _) = w.finish(len as u64).unwrap();
            let mut r = StreamReader::new(&store, e).unwrap();
            let mut all = Vec::new();
            r.read_to_end(&mut all).unwrap();
            prop_assert_eq!(&all, &data);
            for (at, n) in reads {
                r.seek(SeekFrom::Start(at)).unwrap();
                let mut buf = vec![0; n];
                let got = r.read(&mut buf).unwrap();
                let want = &data[(at as usize).min(len)..];
                prop_assert!(got <= n && want.starts_with(&buf[..got]));
                prop_assert_eq!(got == 0, want.is_empty());
            }
        }
    }
}
