//! `DirEntry` ("VacDir"): the metadata record of one file inside a
//! MetaBlock (spec §5.4). Versions 7, 8 and 9 are read; 8 and 9 written.

use colony_venti::Score;

use crate::bytes::{Reader, put_string};
use crate::error::{Error, Result};
use crate::extension::{self, Nanos, Special};

/// Magic number that starts every record.
pub const DIR_MAGIC: u32 = 0x1c4d9072;

/// Optional-record tags.
pub mod tag {
    /// Plan 9 qid path and version (versions < 9 only).
    pub const PLAN9: u8 = 1;
    /// Windows NT data (skipped by readers).
    pub const NT: u8 = 2;
    /// Qid space: offset and max.
    pub const QID_SPACE: u8 = 3;
    /// Generation (versions < 9 only; ignored on read).
    pub const GEN: u8 = 4;
}

/// One optional record, kept in stored order so records round-trip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Tag 1: the Plan 9 qid of the file that was archived.
    Plan9 {
        /// Qid path.
        path: u64,
        /// Qid version.
        version: u32,
    },
    /// Tag 3: this subtree's qids are offset by `offset`; `max` bounds them.
    QidSpace {
        /// Added to every qid below.
        offset: u64,
        /// Largest qid used.
        max: u64,
    },
    /// Tag 4: generation (v8 writes it only when non-zero).
    Gen(u32),
    /// colony's extension ([`crate::extension`]): numeric owner.
    Uid(u32),
    /// colony's extension: numeric group.
    Gid(u32),
    /// colony's extension: nanoseconds of the times.
    Nanos(Nanos),
    /// colony's extension: socket or device.
    Special(Special),
    /// colony's extension: one extended attribute.
    Xattr {
        /// Its name (`user.x`, `security.capability`, ...).
        name: Vec<u8>,
        /// Its value.
        value: Vec<u8>,
    },
    /// colony's extension: member of this hard-link group.
    Link(u64),
    /// colony's extension (`/` only): where the link table stream is.
    LinkTable {
        /// Its top score.
        score: Score,
        /// Its length in bytes.
        size: u64,
        /// Its pointer-tree depth.
        depth: u8,
    },
    /// Any other record (NT, unknown tags, or tags invalid for the version).
    Other {
        /// The tag byte.
        tag: u8,
        /// The body.
        body: Vec<u8>,
    },
}

/// A decoded DirEntry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Record version: 7, 8 or 9.
    pub version: u16,
    /// File name (`/` for vac's root).
    pub elem: Vec<u8>,
    /// Index of the file's stream (a dir's dir stream) in the parent.
    pub entry: u32,
    /// Gen of that VtEntry (stored in v9; 0 for older versions).
    pub generation: u32,
    /// Index of a dir's meta stream (stored in v9; `entry + 1` before).
    pub mentry: u32,
    /// Gen of the meta VtEntry (stored in v9; 0 before).
    pub mgen: u32,
    /// Unique id within the archive.
    pub qid: u64,
    /// v7 only: the obsolete score field, kept to round-trip.
    pub v7_score: Option<Score>,
    /// Owner.
    pub uid: Vec<u8>,
    /// Group.
    pub gid: Vec<u8>,
    /// Last modifier.
    pub mid: Vec<u8>,
    /// Modification time, seconds since the epoch.
    pub mtime: u32,
    /// Modification count.
    pub mcount: u32,
    /// Creation/change time.
    pub ctime: u32,
    /// Access time.
    pub atime: u32,
    /// Mode word, see [`crate::mode`].
    pub mode: u32,
    /// Optional records, in stored order.
    pub records: Vec<Record>,
}

impl DirEntry {
    /// The v8 entry for an archive's root `/` (qid 0, its dir stream in
    /// slot 0 and meta stream in slot 1), owned by `owner`, with all three
    /// times `time` and the given mode bits.
    pub fn root(owner: &[u8], time: u32, mode: u32) -> DirEntry {
        DirEntry {
            version: 8,
            elem: b"/".to_vec(),
            entry: 0,
            generation: 0,
            mentry: 1,
            mgen: 0,
            qid: 0,
            v7_score: None,
            uid: owner.to_vec(),
            gid: owner.to_vec(),
            mid: Vec::new(),
            mtime: time,
            mcount: 0,
            ctime: time,
            atime: time,
            mode,
            records: Vec::new(),
        }
    }

    /// The QidSpace record, if present.
    pub fn qid_space(&self) -> Option<(u64, u64)> {
        self.records.iter().find_map(|r| match r {
            Record::QidSpace { offset, max } => Some((*offset, *max)),
            _ => None,
        })
    }

    /// Sets (or replaces) the QidSpace record.
    pub fn set_qid_space(&mut self, offset: u64, max: u64) {
        self.records
            .retain(|r| !matches!(r, Record::QidSpace { .. }));
        self.records.push(Record::QidSpace { offset, max });
    }

    /// The Plan9 record, if present.
    pub fn plan9(&self) -> Option<(u64, u32)> {
        self.records.iter().find_map(|r| match r {
            Record::Plan9 { path, version } => Some((*path, *version)),
            _ => None,
        })
    }

    /// The modification count readers report: libvac takes the Plan9
    /// record's version when `mcount` is 0.
    pub fn effective_mcount(&self) -> u32 {
        match (self.mcount, self.plan9()) {
            (0, Some((_, v))) => v,
            (m, _) => m,
        }
    }

    /// Encoded length in bytes (libvac's `vdsize`).
    pub fn size(&self) -> usize {
        let mut n = 4 + 2 + 4 + 8 + 5 * 4;
        if self.version >= 9 {
            n += 12;
        }
        if self.version == 7 {
            n += Score::SIZE;
        }
        n += 8 + self.elem.len() + self.uid.len() + self.gid.len() + self.mid.len();
        n + self
            .records
            .iter()
            .map(|r| 3 + record_body_len(r))
            .sum::<usize>()
    }

    /// Encodes the record.
    pub fn encode(&self) -> Result<Vec<u8>> {
        if !(7..=9).contains(&self.version) {
            return Err(Error::Unrepresentable(format!(
                "DirEntry version {}",
                self.version
            )));
        }
        let mut out = Vec::with_capacity(self.size());
        out.extend_from_slice(&DIR_MAGIC.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        put_string(&mut out, &self.elem, "elem")?;
        out.extend_from_slice(&self.entry.to_be_bytes());
        if self.version >= 9 {
            for v in [self.generation, self.mentry, self.mgen] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        out.extend_from_slice(&self.qid.to_be_bytes());
        if self.version == 7 {
            out.extend_from_slice(&self.v7_score.unwrap_or(Score::NONE).0);
        }
        put_string(&mut out, &self.uid, "uid")?;
        put_string(&mut out, &self.gid, "gid")?;
        put_string(&mut out, &self.mid, "mid")?;
        for v in [self.mtime, self.mcount, self.ctime, self.atime, self.mode] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for r in &self.records {
            let (t, body) = match r {
                Record::Plan9 { path, version } => {
                    let mut b = path.to_be_bytes().to_vec();
                    b.extend_from_slice(&version.to_be_bytes());
                    (tag::PLAN9, b)
                }
                Record::QidSpace { offset, max } => {
                    let mut b = offset.to_be_bytes().to_vec();
                    b.extend_from_slice(&max.to_be_bytes());
                    (tag::QID_SPACE, b)
                }
                Record::Gen(g) => (tag::GEN, g.to_be_bytes().to_vec()),
                Record::Other { tag, body } => (*tag, body.clone()),
                ext => extension::encode_record(ext),
            };
            out.push(t);
            put_string(&mut out, &body, "optional record")?;
        }
        Ok(out)
    }

    /// Decodes one record, which must be consumed exactly (`vdunpack`).
    pub fn decode(buf: &[u8]) -> Result<DirEntry> {
        let mut r = Reader::new(buf, "DirEntry");
        let magic = r.u32("magic")?;
        if magic != DIR_MAGIC {
            return Err(Error::format(
                "DirEntry",
                format!("bad magic {magic:#010x}"),
            ));
        }
        let version = r.u16("version")?;
        if !(7..=9).contains(&version) {
            return Err(Error::format(
                "DirEntry",
                format!("unknown version {version}"),
            ));
        }
        let elem = r.string("elem")?;
        let entry = r.u32("entry")?;
        let (generation, mentry, mgen) = if version >= 9 {
            (r.u32("gen")?, r.u32("mentry")?, r.u32("mgen")?)
        } else {
            (0, entry.wrapping_add(1), 0)
        };
        let qid = r.u64("qid")?;
        let v7_score = if version == 7 {
            Some(Score::from_slice(r.bytes(Score::SIZE, "v7 score")?))
        } else {
            None
        };
        let uid = r.string("uid")?;
        let gid = r.string("gid")?;
        let mid = r.string("mid")?;
        let mtime = r.u32("mtime")?;
        let mcount = r.u32("mcount")?;
        let ctime = r.u32("ctime")?;
        let atime = r.u32("atime")?;
        let mode = r.u32("mode")?;
        let mut records = Vec::new();
        while r.remaining() > 0 {
            let t = r.u8("record tag")?;
            let body = r.string("record body")?;
            let rec = match (t, body.len()) {
                (tag::PLAN9, n) if version < 9 => {
                    if n != 12 || records.iter().any(|x| matches!(x, Record::Plan9 { .. })) {
                        return Err(Error::format("DirEntry", "bad or repeated Plan9 record"));
                    }
                    Record::Plan9 {
                        path: u64::from_be_bytes(body[..8].try_into().expect("12 bytes")),
                        version: u32::from_be_bytes(body[8..].try_into().expect("12 bytes")),
                    }
                }
                (tag::QID_SPACE, n) => {
                    if n != 16 || records.iter().any(|x| matches!(x, Record::QidSpace { .. })) {
                        return Err(Error::format("DirEntry", "bad or repeated QidSpace record"));
                    }
                    Record::QidSpace {
                        offset: u64::from_be_bytes(body[..8].try_into().expect("16 bytes")),
                        max: u64::from_be_bytes(body[8..].try_into().expect("16 bytes")),
                    }
                }
                (tag::GEN, 4) if version < 9 => {
                    Record::Gen(u32::from_be_bytes(body[..].try_into().expect("4 bytes")))
                }
                (t, _) => match extension::decode_record(t, &body)? {
                    Some(rec) => {
                        extension::check_unique(&records, &rec)?;
                        rec
                    }
                    None => Record::Other { tag: t, body },
                },
            };
            records.push(rec);
        }
        Ok(DirEntry {
            version,
            elem,
            entry,
            generation,
            mentry,
            mgen,
            qid,
            v7_score,
            uid,
            gid,
            mid,
            mtime,
            mcount,
            ctime,
            atime,
            mode,
            records,
        })
    }
}

fn record_body_len(r: &Record) -> usize {
    match r {
        Record::Plan9 { .. } => 12,
        Record::QidSpace { .. } => 16,
        Record::Gen(_) => 4,
        Record::Other { body, .. } => body.len(),
        ext => extension::body_len(ext),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_hello_record() {
        // §7.4: the hello.txt record, 67 bytes.
        let hex = concat!(
            "1c4d9072000800096865",
            "6c6c6f2e74787400000000",
            "0000000000000001",
            "0006676c656e64610006676c656e64610000",
            "6553f100000000006553f1006553f100000001a4"
        );
        let bytes = hex::decode(hex).unwrap();
        let de = DirEntry::decode(&bytes).unwrap();
        assert_eq!(de.elem, b"hello.txt");
        assert_eq!((de.qid, de.mode, de.mentry, de.size()), (1, 0o644, 1, 67));
        assert_eq!(de.encode().unwrap(), bytes);
    }

    #[test]
    fn rejects_malformed() {
        let de = arb_example();
        let b = de.encode().unwrap();
        for cut in 0..b.len() {
            if cut == b.len() - 19 {
                continue; // the fixed part alone, without the QidSpace record, is valid
            }
            assert!(DirEntry::decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = b.clone();
        bad[0] ^= 1;
        assert!(DirEntry::decode(&bad).is_err());
        let mut v10 = b.clone();
        v10[5] = 10;
        assert!(DirEntry::decode(&v10).is_err());
        let mut two = de.clone();
        two.records.push(Record::QidSpace { offset: 1, max: 2 });
        assert!(DirEntry::decode(&two.encode().unwrap()).is_err());
    }

    /// A small v8 record named `elem`.
    pub(crate) fn sample(elem: &[u8]) -> DirEntry {
        DirEntry {
            elem: elem.to_vec(),
            ..arb_example()
        }
    }

    fn arb_example() -> DirEntry {
        DirEntry {
            version: 8,
            elem: b"x".to_vec(),
            entry: 3,
            generation: 0,
            mentry: 4,
            mgen: 0,
            qid: 9,
            v7_score: None,
            uid: b"u".to_vec(),
            gid: b"g".to_vec(),
            mid: vec![],
            mtime: 1,
            mcount: 0,
            ctime: 2,
            atime: 3,
            mode: 0x81ed,
            records: vec![Record::QidSpace { offset: 0, max: 7 }],
        }
    }

    /// Any valid DirEntry of version 7, 8 or 9.
    pub(crate) fn arb_dir_entry() -> impl Strategy<Value = DirEntry> {
        let strs = (
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..12),
            prop::collection::vec(any::<u8>(), 0..12),
            prop::collection::vec(any::<u8>(), 0..12),
        );
        let nums = (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<[u32; 5]>(),
        );
        let recs = (
            prop::option::of((any::<u64>(), any::<u32>())),
            prop::option::of((any::<u64>(), any::<u64>())),
            prop::option::of(any::<u32>()),
            prop::collection::vec((5u8..0x80, prop::collection::vec(any::<u8>(), 0..8)), 0..3),
            crate::extension::tests::arb_records(),
        );
        (7u16..=9, strs, nums, any::<[u8; 20]>(), recs).prop_map(
            |(
                version,
                (elem, uid, gid, mid),
                (entry, g, mg, qid, t),
                s7,
                (p9, qs, generation, other, ext),
            )| {
                let v9 = version >= 9;
                let mut records = Vec::new();
                if let (false, Some((path, v))) = (v9, p9) {
                    records.push(Record::Plan9 { path, version: v });
                }
                if let Some((offset, max)) = qs {
                    records.push(Record::QidSpace { offset, max });
                }
                if let (false, Some(g)) = (v9, generation) {
                    records.push(Record::Gen(g));
                }
                records.extend(
                    other
                        .into_iter()
                        .map(|(tag, body)| Record::Other { tag, body }),
                );
                records.extend(ext);
                DirEntry {
                    version,
                    elem,
                    entry,
                    generation: if v9 { g } else { 0 },
                    mentry: if v9 { mg } else { entry.wrapping_add(1) },
                    mgen: if v9 { g ^ mg } else { 0 },
                    qid,
                    v7_score: (version == 7).then_some(Score(s7)),
                    uid,
                    gid,
                    mid,
                    mtime: t[0],
                    mcount: t[1],
                    ctime: t[2],
                    atime: t[3],
                    mode: t[4],
                    records,
                }
            },
        )
    }

    proptest! {
        #[test]
        fn round_trip(de in arb_dir_entry()) {
            let b = de.encode().unwrap();
            prop_assert_eq!(b.len(), de.size());
            prop_assert_eq!(DirEntry::decode(&b).unwrap(), de);
        }

        #[test]
        fn decode_never_panics(b in prop::collection::vec(any::<u8>(), 0..120)) {
            let _ = DirEntry::decode(&b);
        }
    }
}
