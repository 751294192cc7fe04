//! Big-endian cursor used by every decoder: bounds-checked reads that turn a
//! short buffer into a precise error instead of a panic.

use crate::error::{Error, Result};

/// Reads big-endian fields from a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, pos: 0, what }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::format(
                self.what,
                format!(
                    "truncated at {field}: need {n} bytes, {} left",
                    self.remaining()
                ),
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8> {
        Ok(self.bytes(1, field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &str) -> Result<u16> {
        let b = self.bytes(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32> {
        let b = self.bytes(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64> {
        let b = self.bytes(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A `str`: u16 length then that many bytes, kept as raw bytes so
    /// non-UTF-8 names survive a round trip.
    pub(crate) fn string(&mut self, field: &str) -> Result<Vec<u8>> {
        let n = self.u16(field)? as usize;
        Ok(self.bytes(n, field)?.to_vec())
    }
}

/// Appends a `str` field; fails on strings longer than a u16 count.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &[u8], field: &str) -> Result<()> {
    let n = u16::try_from(s.len())
        .map_err(|_| Error::Unrepresentable(format!("{field} of {} bytes", s.len())))?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(s);
    Ok(())
}
