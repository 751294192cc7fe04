//! The stat record (machine-independent directory entry), as in Rstat,
//! Twstat and directory reads.

use crate::error::{Error, Result};
use crate::fs::{Meta, SetMeta};
use crate::ninep::STATFIXLEN;
use crate::ninep::qid::Qid;
use crate::ninep::wire::{Reader, Wire, len16, put_name, put_string, put_u16, put_u32, put_u64};

/// One stat record. In Twstat, all-ones integers and empty strings mean
/// "don't touch" ([`Stat::dont_touch`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stat {
    /// For kernel use; servers send 0.
    pub ty: u16,
    /// For kernel use; servers send 0.
    pub dev: u32,
    /// The file's qid.
    pub qid: Qid,
    /// Permission bits and DM* flags.
    pub mode: u32,
    /// Last access, seconds since the epoch.
    pub atime: u32,
    /// Last modification, seconds since the epoch.
    pub mtime: u32,
    /// Length in bytes; 0 for directories.
    pub length: u64,
    /// Last path element ("/" for the root): bytes, as Linux has them.
    pub name: Vec<u8>,
    /// Owner.
    pub uid: String,
    /// Group.
    pub gid: String,
    /// Last modifier.
    pub muid: String,
}

impl Stat {
    /// A Twstat record that changes nothing: all-ones integers, empty strings.
    pub fn dont_touch() -> Self {
        Stat {
            ty: u16::MAX,
            dev: u32::MAX,
            qid: Qid {
                ty: u8::MAX,
                version: u32::MAX,
                path: u64::MAX,
            },
            mode: u32::MAX,
            atime: u32::MAX,
            mtime: u32::MAX,
            length: u64::MAX,
            name: Vec::new(),
            uid: String::new(),
            gid: String::new(),
            muid: String::new(),
        }
    }

    /// The stat record of `meta` (type and dev 0), as a server sends it.
    pub fn of(meta: &Meta) -> Stat {
        Stat {
            ty: 0,
            dev: 0,
            qid: meta.qid,
            mode: meta.mode,
            atime: meta.atime,
            mtime: meta.mtime,
            length: meta.length,
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            gid: meta.gid.clone(),
            muid: meta.muid.clone(),
        }
    }

    /// The metadata this record describes (type and dev dropped): the
    /// inverse of [`Stat::of`], for a client reading Rstat and directories.
    pub fn meta(&self) -> Meta {
        Meta {
            qid: self.qid,
            mode: self.mode,
            atime: self.atime,
            mtime: self.mtime,
            length: self.length,
            name: self.name.clone(),
            uid: self.uid.clone(),
            gid: self.gid.clone(),
            muid: self.muid.clone(),
            ctime: self.mtime,
            ..Meta::default()
        }
    }

    /// The Twstat record asking for `change`: "don't touch" wherever it is
    /// `None`; the inverse of [`Stat::wstat_change`]. (A `Some("")` name,
    /// owner or group, or an all-ones number, reads as "don't touch" too:
    /// 9P2000 cannot ask for those.)
    pub fn of_change(change: &SetMeta) -> Stat {
        let dont = Stat::dont_touch();
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        Stat {
            mode: change.mode.unwrap_or(dont.mode),
            atime: change.atime.map_or(dont.atime, |t| t.secs),
            mtime: change.mtime.map_or(dont.mtime, |t| t.secs),
            length: change.length.unwrap_or(dont.length),
            name: change.name.clone().unwrap_or_default(),
            uid: text(&change.uid),
            gid: text(&change.gid),
            ..dont
        }
    }

    /// The change a Twstat of this record asks for: all-ones integers and
    /// empty strings are "don't touch". Fields 9P2000 never lets a client
    /// set (type, dev, qid, muid) must be "don't touch", else
    /// [`Error::WstatField`].
    pub fn wstat_change(&self) -> Result<SetMeta> {
        let dont = Stat::dont_touch();
        let fixed_untouched = self.ty == dont.ty
            && self.dev == dont.dev
            && self.qid == dont.qid
            && self.muid.is_empty();
        if !fixed_untouched {
            return Err(Error::WstatField);
        }
        let int = |v: u32| (v != u32::MAX).then_some(v);
        let text = |s: &String| (!s.is_empty()).then(|| s.clone());
        Ok(SetMeta {
            name: (!self.name.is_empty()).then(|| self.name.clone()),
            mode: int(self.mode),
            atime: int(self.atime).map(Into::into),
            mtime: int(self.mtime).map(Into::into),
            length: (self.length != u64::MAX).then_some(self.length),
            uid: text(&self.uid),
            gid: text(&self.gid),
            ..SetMeta::default()
        })
    }

    /// Encoded size, including the leading size[2].
    pub fn encoded_len(&self) -> usize {
        STATFIXLEN + self.name.len() + self.uid.len() + self.gid.len() + self.muid.len()
    }

    /// Appends the record: `size[2]` (the bytes that follow) then the fields.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let size = len16("stat record", self.encoded_len() - 2)?;
        put_u16(out, size);
        put_u16(out, self.ty);
        put_u32(out, self.dev);
        self.qid.put(out)?;
        put_u32(out, self.mode);
        put_u32(out, self.atime);
        put_u32(out, self.mtime);
        put_u64(out, self.length);
        put_name(out, &self.name)?;
        for s in [&self.uid, &self.gid, &self.muid] {
            put_string(out, s)?;
        }
        Ok(())
    }

    /// Decodes exactly one record filling `buf` (plan9port's `statcheck`:
    /// at least 49 bytes, size = len - 2, strings ending at the end).
    pub fn decode(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let stat = Self::get_entry(&mut r)?;
        if r.remaining() != 0 {
            return Err(Error::StatSize {
                declared: buf.len() - r.remaining() - 2,
                actual: buf.len() - 2,
            });
        }
        Ok(stat)
    }

    /// Decodes the record at the reader's position (a directory read holds
    /// several back to back).
    pub(crate) fn get_entry(r: &mut Reader<'_>) -> Result<Self> {
        let size = r.u16("stat size")? as usize;
        if size + 2 < STATFIXLEN {
            return Err(Error::StatSize {
                declared: size,
                actual: STATFIXLEN - 2,
            });
        }
        let body = r.take(size, "stat record")?;
        let mut b = Reader::new(body);
        let stat = Stat {
            ty: b.u16("stat type")?,
            dev: b.u32("stat dev")?,
            qid: Qid::get(&mut b, "stat qid")?,
            mode: b.u32("stat mode")?,
            atime: b.u32("stat atime")?,
            mtime: b.u32("stat mtime")?,
            length: b.u64("stat length")?,
            name: b.name("stat name")?,
            uid: b.string("stat uid")?,
            gid: b.string("stat gid")?,
            muid: b.string("stat muid")?,
        };
        if b.remaining() != 0 {
            return Err(Error::StatSize {
                declared: size,
                actual: size - b.remaining(),
            });
        }
        Ok(stat)
    }

    /// Decodes a directory read's data: whole records back to back.
    pub fn decode_dir(buf: &[u8]) -> Result<Vec<Self>> {
        let mut r = Reader::new(buf);
        let mut out = Vec::new();
        while r.remaining() > 0 {
            out.push(Self::get_entry(&mut r)?);
        }
        Ok(out)
    }
}

/// In Rstat and Twstat a stat travels as `n[2]` then the record, which has
/// its own size[2]: n = size + 2.
impl Wire for Stat {
    fn put(&self, out: &mut Vec<u8>) -> Result<()> {
        put_u16(out, len16("stat record", self.encoded_len())?);
        self.encode(out)
    }
    fn get(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        let n = r.u16(what)? as usize;
        let blob = r.take(n, what)?;
        Stat::decode(blob)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Strings 9P can carry: UTF-8 without NUL.
    pub(crate) fn name() -> impl Strategy<Value = String> {
        "[^\u{0}]{0,12}"
    }

    /// File names 9P can carry: any bytes but NUL, UTF-8 or not.
    pub(crate) fn file_name() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(1..=u8::MAX, 0..12)
    }

    pub(crate) fn any_stat() -> impl Strategy<Value = Stat> {
        (
            any::<(u16, u32, u8, u32, u64, u32, u32, u32, u64)>(),
            (file_name(), name(), name(), name()),
        )
            .prop_map(
                |((ty, dev, qt, qv, qp, mode, atime, mtime, length), (name, uid, gid, muid))| {
                    Stat {
                        ty,
                        dev,
                        qid: Qid {
                            ty: qt,
                            version: qv,
                            path: qp,
                        },
                        mode,
                        atime,
                        mtime,
                        length,
                        name,
                        uid,
                        gid,
                        muid,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(stat in any_stat()) {
            let mut buf = Vec::new();
            stat.encode(&mut buf).unwrap();
            prop_assert_eq!(buf.len(), stat.encoded_len());
            prop_assert_eq!(Stat::decode(&buf).unwrap(), stat);
        }

        #[test]
        fn meta_round_trips(stat in any_stat()) {
            let meta = stat.meta();
            prop_assert_eq!(Stat::of(&meta), Stat { ty: 0, dev: 0, ..stat });
            prop_assert_eq!(Stat::of(&meta).meta(), meta);
        }

        #[test]
        fn change_round_trips(
            name in proptest::option::of(proptest::collection::vec(1..=u8::MAX, 1..12)),
            mode in proptest::option::of(0..u32::MAX),
            atime in proptest::option::of(0..u32::MAX),
            mtime in proptest::option::of(0..u32::MAX),
            length in proptest::option::of(0..u64::MAX),
            gid in proptest::option::of("[a-z]{1,8}"),
            uid in proptest::option::of("[a-z]{1,8}"),
        ) {
            let (atime, mtime) = (atime.map(Into::into), mtime.map(Into::into));
            let change = SetMeta { name, mode, atime, mtime, length, uid, gid, ..SetMeta::default() };
            let stat = Stat::of_change(&change);
            let mut buf = Vec::new();
            stat.encode(&mut buf).unwrap();
            prop_assert_eq!(Stat::decode(&buf).unwrap().wstat_change().unwrap(), change);
        }

        #[test]
        fn truncated_never_decodes(stat in any_stat(), cut in 1usize..40) {
            let mut buf = Vec::new();
            stat.encode(&mut buf).unwrap();
            let cut = cut.min(buf.len());
            prop_assert!(Stat::decode(&buf[..buf.len() - cut]).is_err());
        }
    }

    /// The worked example of the spec (§5): hello.txt, 76 bytes.
    #[test]
    fn spec_example_bytes() {
        let hex = "4a00 0000 00000000 00 00000000 0100000000000000 a4010000 00f15365 00f15365 \
                   0600000000000000 0900 68656c6c6f2e747874 0600 676c656e6461 0600 676c656e6461 0600 676c656e6461";
        let bytes = hex::decode(hex.replace(' ', "")).unwrap();
        let stat = Stat::decode(&bytes).unwrap();
        assert_eq!(
            stat,
            Stat {
                ty: 0,
                dev: 0,
                qid: Qid {
                    ty: 0,
                    version: 0,
                    path: 1
                },
                mode: 0o644,
                atime: 1_700_000_000,
                mtime: 1_700_000_000,
                length: 6,
                name: "hello.txt".into(),
                uid: "glenda".into(),
                gid: "glenda".into(),
                muid: "glenda".into(),
            }
        );
        let mut again = Vec::new();
        stat.encode(&mut again).unwrap();
        assert_eq!(again, bytes);
    }

    #[test]
    fn size_field_must_match() {
        let mut buf = Vec::new();
        Stat::default().encode(&mut buf).unwrap();
        buf.push(0);
        assert!(matches!(Stat::decode(&buf), Err(Error::StatSize { .. })));
        buf.pop();
        buf[0] += 1; // declares one byte more than there is
        assert!(Stat::decode(&buf).is_err());
        let mut small = vec![10, 0];
        small.extend_from_slice(&[0; 10]);
        assert!(matches!(Stat::decode(&small), Err(Error::StatSize { .. })));
    }

    #[test]
    fn strings_past_the_record_are_errors() {
        let mut buf = Vec::new();
        Stat {
            name: "abc".into(),
            ..Stat::default()
        }
        .encode(&mut buf)
        .unwrap();
        // Grow the name's length field by one: the strings now overrun.
        buf[41] = 4;
        assert!(Stat::decode(&buf).is_err());
    }
}
