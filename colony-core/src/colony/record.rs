//! What a node keeps of each running environment, so that after the node
//! dies (`kill -9`, a power cut) and starts again the environment comes
//! back: the same name, the same owner, holding everything synced.
//!
//! One file per environment in the data directory's `running/` (0700),
//! named for the environment, 0600, a `key value` line per field:
//!
//! ```text
//! name work@n1
//! owner alice
//! disk false
//! from 01d5034ed5ccbdb8a0ec0ed446d0305f8569718e
//! root 8a2b…
//! started 1764950400
//! ```
//!
//! `from` is the snapshot it was spawned from, `root` the latest root
//! made durable by a sync (a checkpoint: a vac root like a save's, never
//! named), `disk` whether it was spawned with `spawndisk` (which decides
//! its local store and limit; the other limits are the node's). A file is
//! replaced atomically (a temporary file written and fsynced, renamed over
//! it, the directory fsynced), and only after the blocks `root` reaches are
//! synced in the block store, so a record never names a root that is not
//! whole on disk.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use colony_venti::Score;

use crate::error::{Error, Result, private_dir};
use crate::user::UserName;

/// The folder of running environments' records in a data directory.
pub const RUNNING_DIR: &str = "running";

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
    fn encode(&self) -> String {
        format!(
            "name {}\nowner {}\ndisk {}\nfrom {}\nroot {}\nstarted {}\n",
            self.name, self.owner, self.disk, self.from, self.root, self.started
        )
    }

    fn decode(text: &str) -> std::result::Result<EnvRecord, String> {
        let mut fields = std::collections::BTreeMap::new();
        for line in text.lines() {
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
            started: take("started")?
                .parse()
                .map_err(|e| format!("started: {e}"))?,
        };
        if let Some(key) = fields.keys().next() {
            return Err(format!("unknown field {key}"));
        }
        crate::names::Name::parse(&record.name).map_err(|e| e.to_string())?;
        Ok(record)
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

    /// Writes `record`, replacing its previous one atomically; durable
    /// when this returns.
    pub fn write(&self, record: &EnvRecord) -> Result<()> {
        let path = self.path(&record.name);
        let tmp = self.dir.join(format!(".{}.tmp", record.name));
        let mut f = colony_venti::private::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(Error::io("create", &tmp))?;
        f.write_all(record.encode().as_bytes())
            .map_err(Error::io("write", &tmp))?;
        f.sync_all().map_err(Error::io("fsync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
        self.sync_dir()
    }

    /// Removes `name`'s record (a missing one is no error); durable when
    /// this returns.
    pub fn remove(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path)(e)),
        }
    }

    fn sync_dir(&self) -> Result<()> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("fsync", &self.dir))
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

/// The record in `path`, which must be named for its environment.
fn read_record(path: &Path) -> Result<EnvRecord> {
    let bad = |reason: String| Error::BadEnvRecord {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let record = EnvRecord::decode(&text).map_err(bad)?;
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

    #[test]
    fn records_round_trip_replace_and_go() {
        let data = tempfile::tempdir().unwrap();
        let records = Records::open(data.path()).unwrap();
        let mut a = record("work@n1");
        records.write(&a).unwrap();
        records.write(&record("clean.n1.alice")).unwrap();
        a.root = Score::of(b"later");
        records.write(&a).unwrap();
        let loaded: Vec<EnvRecord> = records.load().unwrap().into_iter().flatten().collect();
        assert_eq!(loaded, vec![record("clean.n1.alice"), a]);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data.path().join(RUNNING_DIR)), 0o700);
        assert_eq!(mode(&data.path().join("running/work@n1")), 0o600);
        records.remove("work@n1").unwrap();
        records.remove("work@n1").unwrap();
        assert_eq!(records.load().unwrap().len(), 1);
    }

    #[test]
    fn bad_records_say_what_is_wrong_and_temporaries_go() {
        let data = tempfile::tempdir().unwrap();
        let records = Records::open(data.path()).unwrap();
        let good = record("work@n1").encode();
        let dir = data.path().join(RUNNING_DIR);
        let cases = [
            (
                "a@n1",
                good.replace("name work@n1", "name a@n1x"),
                "records a@n1x",
            ),
            (
                "b@n1",
                good.replace("disk true", "disk yes"),
                "disk \"yes\"",
            ),
            ("c@n1", good.replace("owner alice\n", ""), "no owner"),
            ("d@n1", good.replace("root ", "root x"), "root \"x"),
            ("e@n1", format!("{good}extra 1\n"), "unknown field extra"),
            ("f@n1", format!("{good}disk true\n"), "disk given twice"),
            ("g@n1", "garbage".into(), "not `key value`"),
            (
                "h@n1",
                good.replace("owner alice", "owner Al!ce"),
                "bad user",
            ),
        ];
        for (file, text, _) in &cases {
            std::fs::write(dir.join(file), text).unwrap();
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
