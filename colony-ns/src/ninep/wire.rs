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

    /// `len[2]` then that many bytes without NUL: a file name, which 9P
    /// carries as the bytes the client has (Linux's v9fs and plan9port
    /// send names that are not UTF-8 as they are).
    pub(crate) fn name(&mut self, what: &'static str) -> Result<Vec<u8>> {
        let len = self.u16(what)? as usize;
        let bytes = self.take(len, what)?;
        if bytes.contains(&0) {
            return Err(Error::NulInString);
        }
        Ok(bytes.to_vec())
    }

    /// A [`Reader::name`] that must be UTF-8: a text (user names, versions,
    /// error texts).
    pub(crate) fn string(&mut self, what: &'static str) -> Result<String> {
        String::from_utf8(self.name(what)?).map_err(|_| Error::BadUtf8)
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

/// Appends a file name: `len[2]` then its bytes (no NUL).
pub(crate) fn put_name(out: &mut Vec<u8>, s: &[u8]) -> Result<()> {
    if s.contains(&0) {
        return Err(Error::NulInString);
    }
    put_u16(out, len16("string", s.len())?);
    out.extend_from_slice(s);
    Ok(())
}

/// Appends a text, as a name of its UTF-8 bytes.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &str) -> Result<()> {
    put_name(out, s.as_bytes())
}

/// A field of a 9P message.
pub(crate) trait Wire: Sized {
    fn put(&self, out: &mut Vec<u8>) -> Result<()>;
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self>;
}

/// How a field of type `T` travels, where its type alone does not say:
/// every [`Wire`] type is its own codec; file names, which are bytes
/// like read and write data but travel as strings, have [`NameField`]
/// and [`WalkNames`].
pub(crate) trait Codec<T> {
    fn put(v: &T, out: &mut Vec<u8>) -> Result<()>;
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<T>;
}

impl<T: Wire> Codec<T> for T {
    fn put(v: &T, out: &mut Vec<u8>) -> Result<()> {
        v.put(out)
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<T> {
        T::get(r, what)
    }
}

/// A file name: a string's `len[2]` and bytes, any but NUL.
pub(crate) struct NameField;

impl Codec<Vec<u8>> for NameField {
    fn put(v: &Vec<u8>, out: &mut Vec<u8>) -> Result<()> {
        put_name(out, v)
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u8>> {
        r.name(what)
    }
}

/// A walk's names: `nwname[2]` then at most MAXWELEM names.
pub(crate) struct WalkNames;

impl Codec<Vec<Vec<u8>>> for WalkNames {
    fn put(v: &Vec<Vec<u8>>, out: &mut Vec<u8>) -> Result<()> {
        put_walk(v, out, |n, out| put_name(out, n))
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<Vec<u8>>> {
        get_walk(r, what, |r| r.name(what))
    }
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

/// Appends a walk list (names or qids): `n[2]` then n elements, at most
/// MAXWELEM.
fn put_walk<T>(
    items: &[T],
    out: &mut Vec<u8>,
    put: impl Fn(&T, &mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    if items.len() > MAXWELEM {
        return Err(Error::TooManyWalkElements(items.len()));
    }
    put_u16(out, items.len() as u16);
    items.iter().try_for_each(|e| put(e, out))
}

/// Reads a walk list written by [`put_walk`].
fn get_walk<'a, T>(
    r: &mut Reader<'a>,
    what: &'static str,
    get: impl Fn(&mut Reader<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let n = r.u16(what)? as usize;
    if n > MAXWELEM {
        return Err(Error::TooManyWalkElements(n));
    }
    (0..n).map(|_| get(r)).collect()
}

/// An Rwalk's qids.
impl Wire for Vec<crate::ninep::Qid> {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        put_walk(self, out, |q, out| q.put(out))
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        get_walk(r, what, |r| <crate::ninep::Qid as Wire>::get(r, what))
    }
}
