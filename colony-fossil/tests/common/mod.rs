//! Shared test helpers: the plan9port recordings and the tiny tree.
#![allow(dead_code, unused_imports)] // each test binary uses part of this module

use colony_fossil::source::{MemSource, Meta};
use colony_venti::{BlockType, MemStore};

pub use colony_fossil::testdata::{
    TINY_CTIME, TINY_SCORE, TINY_TIME, pattern, testdata, tiny_store, twrites,
};

pub fn root_meta(perm: u32) -> Meta {
    Meta {
        perm,
        uid: "root".into(),
        gid: "root".into(),
        mtime: TINY_TIME,
        atime: TINY_TIME,
    }
}

/// The tiny tree of the README, in the order plan9port vac visited it.
pub fn tiny_source() -> MemSource {
    let mut s = MemSource::new("tiny", root_meta(0o755));
    s.file("empty.txt", b"", root_meta(0o644)).unwrap();
    s.file("hello.txt", b"hello, world\n", root_meta(0o644))
        .unwrap();
    s.dir("sub", root_meta(0o755)).unwrap();
    s.file("sub/nested.txt", b"nested\n", root_meta(0o644))
        .unwrap();
    s.file("pattern.bin", &pattern(), root_meta(0o644)).unwrap();
    s
}

/// The visiting order of the capture machine, by name.
pub const TINY_ORDER: [&str; 5] = ["empty.txt", "hello.txt", "sub", "nested.txt", "pattern.bin"];

/// A store that hides some blocks and reports others corrupt.
pub struct Faulty {
    pub inner: MemStore,
    pub missing: std::collections::HashSet<colony_venti::Score>,
    pub corrupt: std::collections::HashSet<colony_venti::Score>,
}

impl colony_venti::BlockStore for Faulty {
    fn read(&self, s: &colony_venti::Score, t: BlockType) -> colony_venti::Result<Vec<u8>> {
        if self.missing.contains(s) {
            return Err(colony_venti::Error::NotFound { score: *s, ty: t });
        }
        if self.corrupt.contains(s) {
            // As a real store reports a block that fails its hash: stores
            // verify what they hand back, so readers need not hash again.
            return Err(colony_venti::Error::Corrupt {
                score: *s,
                arena: "faulty".into(),
                offset: 0,
                check: colony_venti::arena::clump::ClumpCheck::Sha1,
            });
        }
        self.inner.read(s, t)
    }
    fn write(&self, t: BlockType, d: &[u8]) -> colony_venti::Result<colony_venti::Score> {
        self.inner.write(t, d)
    }
    fn has(&self, s: &colony_venti::Score, t: BlockType) -> colony_venti::Result<bool> {
        self.inner.has(s, t)
    }
    fn sync(&self) -> colony_venti::Result<()> {
        Ok(())
    }
}

/// `YYYY-MM-DD hh:mm` in UTC.
pub fn date(t: u32) -> String {
    let days = t as i64 / 86400;
    let secs = t as i64 % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// The archive `score` extracted by unvac into a new temporary directory;
/// panics on any error.
pub fn export(store: &MemStore, score: &colony_venti::Score) -> tempfile::TempDir {
    let dest = tempfile::tempdir().unwrap();
    let x = colony_fossil::unvac::export(
        store,
        score,
        dest.path(),
        &colony_fossil::unvac::UnvacOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(x.errors.is_empty(), "{:?}", x.errors);
    dest
}
