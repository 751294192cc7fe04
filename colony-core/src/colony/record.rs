//! What a node keeps of each running environment, so that after the node
//! dies (`kill -9`, a power cut) and starts again the environment comes
//! back: the same name, the same owner, holding everything synced.
//!
//! One file per environment in the data directory's `running/` (0700),
//! named for the environment, 0600. It holds two slots of [`SLOT`] bytes,
//! each a record as text, a `key value` line per field, then its sequence
//! number and a CRC-32C of the lines before, padded with NULs:
//!
//! ```text
//! name work@n1
//! owner alice
//! disk false
//! from 01d5034ed5ccbdb8a0ec0ed446d0305f8569718e
//! root 8a2b…
//! started 1764950400
//! seq 7
//! crc 1c2d3e4f
//! ```
//!
//! `from` is the snapshot it was spawned from, `root` the latest root
//! made durable by a sync (a checkpoint: a vac root like a save's, never
//! named), `disk` whether it was spawned with `spawndisk` (which decides
//! its local store and limit; the other limits are the node's). The valid
//! slot with the higher `seq` is the record.
//!
//! A spawn writes a new file atomically (a temporary file written and
//! fsynced, renamed into place, the directory fsynced). Each checkpoint
//! then overwrites the older slot in place and `fdatasync`s it: one flush
//! of one block and no journal commit, so a sync stays cheap on a busy
//! disk; a write torn by a crash leaves the other slot, the previous root.
//! A slot is written only after the blocks its root reaches are synced in
//! the block store, so a record never names a root that is not whole on
//! disk.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use colony_venti::Score;

use crate::error::{Error, Result, private_dir};
use crate::user::UserName;

/// The folder of running environments' records in a data directory.
pub const RUNNING_DIR: &str = "running";

/// Bytes per slot of a record file (a record is under 300).
pub(crate) const SLOT: usize = 512;

/// One running environment, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EnvRecord {
    /// The scorename it was spawned from (its name on the node).
    pub name: String,
    /// Its owner.
    pub owner: UserName,
    /// Spawned with `spawndisk`.
    pub disk: bool,
    /// The snapshot it was spawned from.
    pub from: Score,
    /// The latest root made durable.
    pub root: Score,
    /// Unix seconds at its first start.
    pub started: u64,
}

impl EnvRecord {
    /// Slot `seq`'s bytes: the record, its sequence number and checksum,
    /// padded to [`SLOT`].
    fn encode(&self, seq: u64) -> Result<Vec<u8>> {
        let mut text = format!(
            "name {}\nowner {}\ndisk {}\nfrom {}\nroot {}\nstarted {}\nseq {seq}\n",
            self.name, self.owner, self.disk, self.from, self.root, self.started
        );
        text += &format!("crc {:08x}\n", crc32c::crc32c(text.as_bytes()));
        let mut bytes = text.into_bytes();
        if bytes.len() > SLOT {
            return Err(Error::BadArgument(format!(
                "environment record of {} is {} bytes, over {SLOT}",
                self.name,
                bytes.len()
            )));
        }
        bytes.resize(SLOT, 0);
        Ok(bytes)
    }

    /// A slot's record and sequence number.
    fn decode(slot: &[u8]) -> std::result::Result<(EnvRecord, u64), String> {
        let end = slot.iter().position(|&b| b == 0).unwrap_or(slot.len());
        let text = std::str::from_utf8(&slot[..end]).map_err(|_| "not UTF-8".to_string())?;
        let body = text
            .strip_suffix('\n')
            .and_then(|t| t.rsplit_once('\n'))
            .and_then(|(body, crc)| Some((body, crc.strip_prefix("crc ")?)))
            .ok_or("no crc line at the end")?;
        let (body, crc) = (format!("{}\n", body.0), body.1);
        let want = format!("{:08x}", crc32c::crc32c(body.as_bytes()));
        if crc != want {
            return Err(format!("crc {crc} is not the lines' {want} (torn write?)"));
        }
        let mut fields = std::collections::BTreeMap::new();
        for line in body.lines() {
            let (key, value) = line
                .split_once(' ')
                .ok_or_else(|| format!("line {line:?} is not `key value`"))?;
            if fields.insert(key, value).is_some() {
                return Err(format!("{key} given twice"));
            }
        }
        let mut take = |key: &str| fields.remove(key).ok_or_else(|| format!("no {key}"));
        let score = |key: &str, v: &str| {
            v.parse::<Score>()
                .map_err(|e| format!("{key} {v:?} is not a score: {e}"))
        };
        let number = |key: &str, v: &str| v.parse::<u64>().map_err(|e| format!("{key}: {e}"));
        let record = EnvRecord {
            name: take("name")?.to_string(),
            owner: UserName::new(take("owner")?).map_err(|e| e.to_string())?,
            disk: match take("disk")? {
                "true" => true,
                "false" => false,
                v => return Err(format!("disk {v:?} is neither true nor false")),
            },
            from: score("from", take("from")?)?,
            root: score("root", take("root")?)?,
            started: number("started", take("started")?)?,
        };
        let seq = number("seq", take("seq")?)?;
        if let Some(key) = fields.keys().next() {
            return Err(format!("unknown field {key}"));
        }
        crate::names::Name::parse(&record.name).map_err(|e| e.to_string())?;
        Ok((record, seq))
    }
}

/// The records of a data directory.
#[derive(Debug)]
pub(crate) struct Records {
    dir: PathBuf,
}

impl Records {
    /// The records in `data_dir`'s `running/` (made 0700 if missing).
    pub fn open(data_dir: &Path) -> Result<Records> {
        let dir = data_dir.join(RUNNING_DIR);
        private_dir(&dir)?;
        Ok(Records { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `record` as a new file (sequence 0, the other slot empty),
    /// replacing any previous one atomically; durable when this returns.
    pub fn create(&self, record: &EnvRecord) -> Result<()> {
        let mut bytes = record.encode(0)?;
        bytes.resize(2 * SLOT, 0);
        crate::durable::replace_file(&self.dir, &record.name, &bytes)
    }

    /// Overwrites the slot of `seq` (which must follow the sequence of the
    /// file's last write) with `record`; durable when this returns.
    pub fn update(&self, record: &EnvRecord, seq: u64) -> Result<()> {
        let path = self.path(&record.name);
        let bytes = record.encode(seq)?;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        f.write_all_at(&bytes, (seq % 2) * SLOT as u64)
            .map_err(Error::io("write", &path))?;
        f.sync_data().map_err(Error::io("fdatasync", &path))
    }

    /// Removes `name`'s record (a missing one is no error); durable when
    /// this returns.
    pub fn remove(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => crate::durable::sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path)(e)),
        }
    }

    /// Every record, in name order; a file that does not parse is an
    /// [`Error::BadEnvRecord`] in its place. Temporary files a crash left
    /// are removed.
    pub fn load(&self) -> Result<Vec<Result<EnvRecord>>> {
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(Error::io("read", &self.dir))? {
            let path = entry.map_err(Error::io("read", &self.dir))?.path();
            let dot = path
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."));
            if dot {
                std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
            } else {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths.into_iter().map(|p| read_record(&p)).collect())
    }
}

/// The record in `path`, which must be named for its environment: the
/// valid slot with the higher sequence number.
fn read_record(path: &Path) -> Result<EnvRecord> {
    let bad = |reason: String| Error::BadEnvRecord {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    if bytes.len() != 2 * SLOT {
        return Err(bad(format!("{} bytes, not {}", bytes.len(), 2 * SLOT)));
    }
    let (a, b) = bytes.split_at(SLOT);
    let record = match (EnvRecord::decode(a), EnvRecord::decode(b)) {
        (Ok(x), Ok(y)) => {
            if x.1 >= y.1 {
                x.0
            } else {
                y.0
            }
        }
        (Ok((r, _)), Err(_)) | (Err(_), Ok((r, _))) => r,
        (Err(e), Err(_)) => return Err(bad(e)),
    };
    if path.file_name() != Some(record.name.as_ref()) {
        return Err(bad(format!("it records {}", record.name)));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> EnvRecord {
        EnvRecord {
            name: name.into(),
            owner: UserName::new("alice").unwrap(),
            disk: true,
            from: Score::of(b"from"),
            root: Score::of(b"root"),
            started: 1_764_950_400,
        }
    }

    fn loaded(records: &Records) -> Vec<EnvRecord> {
        records
            .load()
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn records_are_created_updated_in_turn_and_removed() {
        let data = tempfile::tempdir().unwrap();
        let records = Records::open(data.path()).unwrap();
        let mut a = record("work@n1");
        records.create(&a).unwrap();
        records.create(&record("clean.n1.alice")).unwrap();
        for seq in 1..=3 {
            a.root = Score::of(&[seq as u8]);
            records.update(&a, seq).unwrap();
            assert_eq!(loaded(&records), vec![record("clean.n1.alice"), a.clone()]);
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let file = data.path().join("running/work@n1");
        assert_eq!(mode(&data.path().join(RUNNING_DIR)), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 2 * SLOT as u64);
        records.remove("work@n1").unwrap();
        records.remove("work@n1").unwrap();
        assert_eq!(records.load().unwrap().len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn slots_round_trip(
            name in "[a-z][a-z0-9]{0,15}@[a-z0-9]{1,8}",
            owner in "[a-z][a-z0-9_-]{0,31}",
            disk: bool,
            from: [u8; 20],
            root: [u8; 20],
            started: u64,
            seq: u64,
        ) {
            let record = EnvRecord {
                name,
                owner: UserName::new(&owner).unwrap(),
                disk,
                from: Score(from),
                root: Score(root),
                started,
            };
            let slot = record.encode(seq).unwrap();
            proptest::prop_assert_eq!(slot.len(), SLOT);
            proptest::prop_assert_eq!(EnvRecord::decode(&slot).unwrap(), (record, seq));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..SLOT)) {
            let _ = EnvRecord::decode(&bytes);
        }
    }

    #[test]
    fn a_torn_slot_leaves_the_other() {
        let data = tempfile::tempdir().unwrap();
        let records = Records::open(data.path()).unwrap();
        let mut a = record("work@n1");
        records.create(&a).unwrap();
        let first = a.clone();
        a.root = Score::of(b"second");
        records.update(&a, 1).unwrap();
        // The write of seq 2 (slot 0) torn halfway: seq 1 stands.
        let file = data.path().join("running/work@n1");
        let mut bytes = std::fs::read(&file).unwrap();
        let mut next = a.clone();
        next.root = Score::of(b"third");
        let slot = next.encode(2).unwrap();
        bytes[..SLOT / 4].copy_from_slice(&slot[..SLOT / 4]);
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(loaded(&records), vec![a.clone()]);
        // Slot 1 damaged instead: seq 0 stands.
        records.create(&first).unwrap();
        records.update(&a, 1).unwrap();
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[SLOT + 10] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(loaded(&records), vec![first]);
    }

    #[test]
    fn bad_records_say_what_is_wrong_and_temporaries_go() {
        let data = tempfile::tempdir().unwrap();
        let records = Records::open(data.path()).unwrap();
        let dir = data.path().join(RUNNING_DIR);
        let text = |r: &EnvRecord, extra: &str| {
            let t = format!(
                "name {}\nowner {}\ndisk true\nfrom {}\nroot {}\nstarted 1\n{extra}seq 0\n",
                r.name, r.owner, r.from, r.root
            );
            t.clone() + &format!("crc {:08x}\n", crc32c::crc32c(t.as_bytes()))
        };
        let good = record("work@n1");
        let slots = |s: &str| {
            let mut b = s.as_bytes().to_vec();
            b.resize(2 * SLOT, 0);
            b
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("a@n1", good.encode(0).unwrap(), "bytes, not 1024"),
            ("b@n1", slots(&text(&record("b@n1x"), "")), "records b@n1x"),
            (
                "c@n1",
                slots(&text(&record("c@n1"), "extra 1\n")),
                "unknown field extra",
            ),
            (
                "d@n1",
                slots(&text(&record("d@n1"), "disk no\n")),
                "disk given twice",
            ),
            (
                "e@n1",
                slots(&text(&record("e@n1"), "").replace("crc ", "crc 0")),
                "torn write",
            ),
            ("f@n1", slots("garbage\n"), "no crc line"),
            (
                "g@n1",
                slots(&text(&record("g@n1"), "").replace("name g@n1\n", "")),
                "crc",
            ),
        ];
        for (file, bytes, _) in &cases {
            std::fs::write(dir.join(file), bytes).unwrap();
        }
        std::fs::write(dir.join(".work@n1.tmp"), "half").unwrap();
        let loaded = records.load().unwrap();
        assert_eq!(loaded.len(), cases.len());
        for (got, (file, _, want)) in loaded.iter().zip(&cases) {
            let e = got.as_ref().unwrap_err();
            assert!(matches!(e, Error::BadEnvRecord { .. }), "{e}");
            let text = e.to_string();
            assert!(text.contains(file) && text.contains(want), "{file}: {text}");
        }
        assert!(!dir.join(".work@n1.tmp").exists());
    }
}
