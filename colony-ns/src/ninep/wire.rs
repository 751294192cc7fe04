//! Reading and writing 9P fields: little-endian integers, strings, and the
//! [`Wire`] trait the message macro builds on.

use crate::error::{Error, Result};
use crate::ninep::MAXWELEM;

/// A cursor over the bytes of one message, failing precisely when a field
/// runs past the end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Short {
                what,
                need: n,
                have: self.buf.len(),
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// `len[2]` then that many bytes of UTF-8 without NUL.
    pub(crate) fn string(&mut self, what: &'static str) -> Result<String> {
        let len = self.u16(what)? as usize;
        let bytes = self.take(len, what)?;
        if bytes.contains(&0) {
            return Err(Error::NulInString);
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| Error::BadUtf8)
    }
}

/// Appends little-endian fields to a buffer; lengths are checked against
/// their length fields.
pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The length of a string or list as its `[2]` length field.
pub(crate) fn len16(what: &'static str, len: usize) -> Result<u16> {
    u16::try_from(len).map_err(|_| Error::TooLong { what, len })
}

pub(crate) fn put_string(out: &mut Vec<u8>, s: &str) -> Result<()> {
    if s.as_bytes().contains(&0) {
        return Err(Error::NulInString);
    }
    put_u16(out, len16("string", s.len())?);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// A field of a 9P message.
pub(crate) trait Wire: Sized {
    fn put(&self, out: &mut Vec<u8>) -> Result<()>;
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self>;
}

impl Wire for u8 {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        out.push(*self);
        Ok(())
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        r.u8(what)
    }
}

impl Wire for u16 {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        put_u16(out, *self);
        Ok(())
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        r.u16(what)
    }
}

impl Wire for u32 {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        put_u32(out, *self);
        Ok(())
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        r.u32(what)
    }
}

impl Wire for u64 {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        put_u64(out, *self);
        Ok(())
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        r.u64(what)
    }
}

impl Wire for String {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        put_string(out, self)
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        r.string(what)
    }
}

/// Read and write data: `count[4]` then the bytes.
impl Wire for Vec<u8> {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        let len = u32::try_from(self.len()).map_err(|_| Error::TooLong {
            what: "data",
            len: self.len(),
        })?;
        put_u32(out, len);
        out.extend_from_slice(self);
        Ok(())
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        let len = r.u32(what)? as usize;
        Ok(r.take(len, what)?.to_vec())
    }
}

/// A walk list (names or qids): `n[2]` then n elements, at most MAXWELEM.
pub(crate) trait WalkElement: Wire {}
impl WalkElement for String {}
impl WalkElement for crate::ninep::Qid {}

impl<T: WalkElement> Wire for Vec<T> {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.len() > MAXWELEM {
            return Err(Error::TooManyWalkElements(self.len()));
        }
        put_u16(out, self.len() as u16);
        self.iter().try_for_each(|e| e.put(out))
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        let n = r.u16(what)? as usize;
        if n > MAXWELEM {
            return Err(Error::TooManyWalkElements(n));
        }
        (0..n).map(|_| T::get(r, what)).collect()
    }
}
