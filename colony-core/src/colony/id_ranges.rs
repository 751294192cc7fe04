//! [`IdRanges`]: the host uid/gid ranges of a node's running environments.
//!
//! Each environment's user namespace maps its 65,536 ids onto a range of
//! its own, taken from slots above the limits' `id-base`: slot `n` is
//! `id-base + n * 65536`. A slot is never given to two environments at once,
//! and a slot that holds an id of a host account (`/etc/passwd`,
//! `/etc/group`) or a range delegated in `/etc/subuid` or `/etc/subgid` is
//! never given at all. The ranges in use are recorded in the data
//! directory's `id-ranges` file (`SLOT BASE COUNT ENV` a line, 0600), for
//! operators and audits. A node starts with no environment running (those
//! of a previous run died with it; those it resumes lease anew, possibly
//! another slot: their files' owners are stored relative to the
//! environment), so it starts the file afresh.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use colony_ns::IdRange;

use crate::error::{Error, Result};

/// The record of ranges in use, in a data directory.
pub const ID_RANGES_FILE: &str = "id-ranges";

/// Ids per environment.
const SPAN: u32 = IdRange::ENVIRONMENT;

/// Files in `/etc` naming ids (`name:x:ID:...`) and delegated ranges
/// (`name:START:COUNT`) that environments must not overlap.
const ACCOUNT_FILES: [&str; 2] = ["passwd", "group"];
const DELEGATION_FILES: [&str; 2] = ["subuid", "subgid"];

/// The node's allocator of environment id ranges.
#[derive(Debug)]
pub struct IdRanges {
    file: PathBuf,
    base: u32,
    /// Where host accounts are listed (the real files, or a test's).
    etc: PathBuf,
    in_use: Mutex<BTreeMap<u32, String>>,
}

/// One environment's range, given back when dropped.
#[derive(Debug)]
pub struct IdLease {
    ranges: Arc<IdRanges>,
    slot: u32,
    range: IdRange,
}

impl IdLease {
    /// The range.
    pub fn range(&self) -> IdRange {
        self.range
    }
}

impl Drop for IdLease {
    fn drop(&mut self) {
        let mut in_use = self.ranges.lock();
        in_use.remove(&self.slot);
        if let Err(e) = self.ranges.record(&in_use) {
            tracing::warn!("recording id ranges: {e}");
        }
    }
}

impl IdRanges {
    /// An allocator recording in `data_dir`, with slots from `base`,
    /// avoiding the host's accounts as `/etc` lists them.
    pub fn open(data_dir: &Path, base: u32) -> Result<Arc<IdRanges>> {
        IdRanges::with_etc(data_dir, base, Path::new("/etc"))
    }

    /// As [`open`](IdRanges::open), with the account files read from
    /// `etc` instead of `/etc`.
    pub fn with_etc(data_dir: &Path, base: u32, etc: &Path) -> Result<Arc<IdRanges>> {
        let ranges = IdRanges {
            file: data_dir.join(ID_RANGES_FILE),
            base,
            etc: etc.to_path_buf(),
            in_use: Mutex::new(BTreeMap::new()),
        };
        ranges.record(&BTreeMap::new())?;
        Ok(Arc::new(ranges))
    }

    /// Gives `env` the lowest free slot that overlaps no host account.
    pub fn lease(self: &Arc<Self>, env: &str) -> Result<IdLease> {
        let taken = self.host_ranges();
        let mut in_use = self.lock();
        let slots = (u32::MAX - self.base) / SPAN;
        let found = (0..slots).find_map(|slot| {
            let range = IdRange::new(self.base + slot * SPAN, SPAN);
            let free = !in_use.contains_key(&slot) && !taken.iter().any(|t| t.overlaps(&range));
            free.then_some((slot, range))
        });
        let Some((slot, range)) = found else {
            return Err(Error::LimitReached(format!(
                "no free id range above {} for {env}",
                self.base
            )));
        };
        in_use.insert(slot, env.to_string());
        if let Err(e) = self.record(&in_use) {
            in_use.remove(&slot);
            return Err(e);
        }
        Ok(IdLease {
            ranges: self.clone(),
            slot,
            range,
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, String>> {
        // Each critical section is one map change and a file write.
        self.in_use.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ids the host's accounts and delegations hold.
    fn host_ranges(&self) -> Vec<IdRange> {
        let mut taken = Vec::new();
        for name in ACCOUNT_FILES {
            let text = std::fs::read_to_string(self.etc.join(name)).unwrap_or_default();
            taken.extend(
                text.lines()
                    .filter_map(|l| l.split(':').nth(2)?.trim().parse().ok())
                    .map(|id| IdRange::new(id, 1)),
            );
        }
        for name in DELEGATION_FILES {
            let text = std::fs::read_to_string(self.etc.join(name)).unwrap_or_default();
            taken.extend(text.lines().filter_map(|l| {
                let mut f = l.split(':').skip(1);
                Some(IdRange::new(
                    f.next()?.trim().parse().ok()?,
                    f.next()?.trim().parse().ok()?,
                ))
            }));
        }
        taken
    }

    /// Rewrites the record: a new file renamed over the old, mode 0600.
    fn record(&self, in_use: &BTreeMap<u32, String>) -> Result<()> {
        let tmp = self.file.with_extension("tmp");
        let mut text = String::from("# slot host-base count environment\n");
        for (slot, env) in in_use {
            text += &format!("{slot} {} {SPAN} {env}\n", self.base + slot * SPAN);
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Error::io("create", &tmp))?;
        f.write_all(text.as_bytes())
            .map_err(Error::io("write", &tmp))?;
        std::fs::rename(&tmp, &self.file).map_err(Error::io("rename", &self.file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etc(passwd: &str, subuid: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("passwd"), passwd).unwrap();
        std::fs::write(dir.path().join("group"), "root:x:0:\n").unwrap();
        std::fs::write(dir.path().join("subuid"), subuid).unwrap();
        dir
    }

    #[test]
    fn leases_are_disjoint_recorded_and_given_back() {
        let data = tempfile::tempdir().unwrap();
        let etc = etc("root:x:0:0::/:/bin/sh\n", "");
        let ranges = IdRanges::with_etc(data.path(), 1 << 24, etc.path()).unwrap();
        let a = ranges.lease("a@n1").unwrap();
        let b = ranges.lease("b@n1").unwrap();
        assert_eq!(a.range(), IdRange::new(1 << 24, SPAN));
        assert_eq!(b.range(), IdRange::new((1 << 24) + SPAN, SPAN));
        assert!(!a.range().overlaps(&b.range()));
        let file = data.path().join(ID_RANGES_FILE);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains(&format!("0 {} 65536 a@n1\n", 1 << 24)),
            "{text}"
        );
        assert!(text.contains("1 16842752 65536 b@n1\n"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(a);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("a@n1"), "{text}");
        // The freed slot is the next one given.
        assert_eq!(ranges.lease("c@n1").unwrap().range().host_base, 1 << 24);
    }

    #[test]
    fn slots_holding_host_accounts_or_delegations_are_skipped() {
        let data = tempfile::tempdir().unwrap();
        let base = 1 << 24;
        let etc = etc(
            &format!("svc:x:{}:0::/:/bin/sh\n", base + 10),
            &format!("alice:{}:65536\n", base + SPAN + 5),
        );
        let ranges = IdRanges::with_etc(data.path(), base, etc.path()).unwrap();
        let lease = ranges.lease("x@n1").unwrap();
        assert_eq!(lease.range().host_base, base + 3 * SPAN);
    }

    #[test]
    fn no_room_is_a_limit() {
        let data = tempfile::tempdir().unwrap();
        let etc = etc("", "");
        let ranges = IdRanges::with_etc(data.path(), u32::MAX - SPAN - 1, etc.path()).unwrap();
        let _only = ranges.lease("a@n1").unwrap();
        assert!(matches!(ranges.lease("b@n1"), Err(Error::LimitReached(_))));
    }
}
