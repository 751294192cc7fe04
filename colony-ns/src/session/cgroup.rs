//! Per-session cgroups on whatever hierarchy the machine has. Each needed
//! controller is taken from cgroup v2 when the unified hierarchy offers it,
//! else from its v1 hierarchy; the choice is made at run time.

use super::spec::Limits;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The folder under which session cgroups are made.
const PARENT: &str = "colony";

/// The period CPU quotas are counted over, in microseconds.
const CPU_PERIOD_US: u64 = 100_000;

/// How long [`Cgroups::remove`] lets members exit on their own.
const GRACE: Duration = Duration::from_millis(500);

/// How long [`Cgroups::remove`] waits for the last member to exit.
const DRAIN: Duration = Duration::from_secs(5);

/// Which hierarchy a controller was found on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// Unified hierarchy.
    V2,
    /// Per-controller hierarchy.
    V1,
}

/// One created cgroup folder and the hierarchy it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The folder.
    pub dir: PathBuf,
    /// Its hierarchy.
    pub version: Version,
}

/// The cgroups of one session (none when it has no limits).
#[derive(Debug, Default)]
pub struct Cgroups {
    groups: Vec<Group>,
}

/// The machine's cgroup mounts and this process's place in them.
struct Hierarchies {
    /// Mount point of cgroup2 and the controllers its root offers.
    v2: Option<(PathBuf, Vec<String>)>,
    /// v1 controller name → our own cgroup folder in its hierarchy.
    v1: BTreeMap<String, PathBuf>,
}

impl Cgroups {
    /// Creates `colony/<name>-<unique>` on each hierarchy the limits need
    /// and writes the limits.
    pub fn create(name: &str, limits: &Limits) -> Result<Cgroups> {
        let needed: Vec<&'static str> = [
            ("memory", limits.memory_bytes.is_some()),
            ("pids", limits.pids.is_some()),
            (
                "cpu",
                limits.cpu_weight.is_some() || limits.cpu_millis.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(c, on)| on.then_some(c))
        .collect();
        if needed.is_empty() {
            return Ok(Cgroups::default());
        }
        let h = Hierarchies::discover()?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let leaf = format!(
            "{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut cg = Cgroups::default();
        let mut v2_controllers = Vec::new();
        for controller in needed {
            if h.v2
                .as_ref()
                .is_some_and(|(_, c)| c.iter().any(|x| x == controller))
            {
                v2_controllers.push(controller);
            } else if let Some(own) = h.v1.get(controller) {
                let dir = own.join(PARENT).join(&leaf);
                cg.add(dir, Version::V1)?;
            } else {
                cg.remove()?;
                return Err(Error::NoCgroup(controller));
            }
        }
        if let Some((mount, _)) = h.v2.as_ref().filter(|_| !v2_controllers.is_empty()) {
            let enable: String = v2_controllers.iter().map(|c| format!("+{c} ")).collect();
            let parent = mount.join(PARENT);
            let made = make_dir(&parent)
                .and_then(|()| write(&mount.join("cgroup.subtree_control"), enable.trim()))
                .and_then(|()| write(&parent.join("cgroup.subtree_control"), enable.trim()))
                .and_then(|()| cg.add(parent.join(&leaf), Version::V2));
            if let Err(e) = made {
                let _ = cg.remove();
                return Err(e);
            }
        }
        if let Err(e) = cg.apply(limits) {
            let _ = cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    /// The created folders.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The `cgroup.procs` files a member process writes itself into.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.groups
            .iter()
            .map(|g| g.dir.join("cgroup.procs"))
            .collect()
    }

    /// Host pids of every member.
    pub fn members(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .procs_files()
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .flat_map(|s| {
                s.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<_>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Waits for the members to go (killing stragglers after [`GRACE`]) and
    /// removes the folders (and the shared parent, when this was its last
    /// child). Enter helpers are given the grace period because they must
    /// reap their command before the session's dying init can finish.
    pub fn remove(&mut self) -> Result<()> {
        let start = Instant::now();
        let mut killed = false;
        while let Some(g) = self.groups.last() {
            match std::fs::remove_dir(&g.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Busy: members are still exiting.
                Err(e) if start.elapsed() < DRAIN && e.raw_os_error() == Some(nix::libc::EBUSY) => {
                    if !killed && start.elapsed() > GRACE {
                        killed = true;
                        for pid in self.members() {
                            let _ = nix::sys::signal::kill(
                                nix::unistd::Pid::from_raw(pid),
                                nix::sys::signal::Signal::SIGKILL,
                            );
                        }
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                Err(e) => return Err(Error::sys_io(g.dir.display(), &e)),
            }
            if let Some(parent) = g.dir.parent() {
                // Other sessions may still use it: ENOTEMPTY/EBUSY are fine.
                let _ = std::fs::remove_dir(parent);
            }
            self.groups.pop();
        }
        Ok(())
    }

    /// Records and makes one folder.
    fn add(&mut self, dir: PathBuf, version: Version) -> Result<()> {
        if let Some(parent) = dir.parent() {
            make_dir(parent)?;
        }
        match std::fs::create_dir(&dir) {
            // Named by our pid: left by a killed process that had it
            // before us (killed nodes leave theirs). Empty, it goes.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::remove_dir(&dir)
                .and_then(|()| std::fs::create_dir(&dir))
                .map_err(|e| Error::sys_io(dir.display(), &e))?,
            made => made.map_err(|e| Error::sys_io(dir.display(), &e))?,
        }
        self.groups.push(Group { dir, version });
        Ok(())
    }

    /// Writes the limits into the files of whichever hierarchy holds them.
    fn apply(&self, limits: &Limits) -> Result<()> {
        for g in &self.groups {
            let has = |file: &str| g.dir.join(file).exists();
            let files: [(Option<u64>, &str, &str); 3] = [
                (limits.memory_bytes, "memory.max", "memory.limit_in_bytes"),
                (limits.pids, "pids.max", "pids.max"),
                (limits.cpu_weight, "cpu.weight", "cpu.shares"),
            ];
            for (value, v2, v1) in files {
                let (Some(value), file) = (value, if g.version == Version::V2 { v2 } else { v1 })
                else {
                    continue;
                };
                if !has(file) {
                    continue;
                }
                let value = if file == "cpu.shares" {
                    (value.clamp(1, 10_000) * 1024 / 100).max(2)
                } else if file == "cpu.weight" {
                    value.clamp(1, 10_000)
                } else {
                    value
                };
                write(&g.dir.join(file), &value.to_string())?;
            }
            if let Some(millis) = limits.cpu_millis {
                // A quota per period of CPU_PERIOD_US; the kernel's least is 1 ms.
                let quota = (millis * CPU_PERIOD_US / 1000).max(1000);
                if g.version == Version::V2 && has("cpu.max") {
                    write(&g.dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
                } else if g.version == Version::V1 && has("cpu.cfs_quota_us") {
                    write(&g.dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                    write(&g.dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
            }
        }
        Ok(())
    }
}

impl Hierarchies {
    /// Reads /proc/self/mountinfo and /proc/self/cgroup.
    fn discover() -> Result<Hierarchies> {
        let mountinfo = read("/proc/self/mountinfo")?;
        let own = read("/proc/self/cgroup")?;
        let mut h = Hierarchies {
            v2: None,
            v1: BTreeMap::new(),
        };
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mount_point = left.split(' ').nth(4).unwrap_or("");
            let mut right = right.split(' ');
            let (fstype, super_opts) = (right.next(), right.nth(1).unwrap_or(""));
            match fstype {
                Some("cgroup2") if h.v2.is_none() => {
                    let mp = PathBuf::from(mount_point);
                    let controllers = std::fs::read_to_string(mp.join("cgroup.controllers"))
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(String::from)
                        .collect();
                    h.v2 = Some((mp, controllers));
                }
                Some("cgroup") => {
                    for opt in super_opts.split(',') {
                        if let Some(rel) = own_path(&own, opt) {
                            h.v1.entry(opt.to_owned())
                                .or_insert_with(|| Path::new(mount_point).join(rel));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(h)
    }
}

/// This process's cgroup path (relative) in the v1 hierarchy of `controller`.
fn own_path(proc_cgroup: &str, controller: &str) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        list.split(',')
            .any(|c| c == controller)
            .then(|| path.trim_start_matches('/').to_owned())
    })
}

/// Makes a folder unless it exists.
fn make_dir(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(Error::sys_io(dir.display(), &e))
        }
        _ => Ok(()),
    }
}

/// Writes a cgroup control file.
fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| Error::sys_io(path.display(), &e))
}

/// Reads a whole text file.
fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::sys_io(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A killed node leaves its groups; one of a later process that gets
    /// the same pid is named the same. The leftover (empty) is replaced.
    #[test]
    fn a_leftover_group_under_our_name_is_replaced() {
        if !nix::unistd::Uid::effective().is_root() {
            assert!(std::env::var_os("CI").is_none(), "under CI: needs root");
            eprintln!("skipping: needs root");
            return;
        }
        let h = Hierarchies::discover().unwrap();
        let parent = match (h.v1.get("pids"), &h.v2) {
            (Some(own), _) => own.join(PARENT),
            (None, Some((mount, _))) => mount.join(PARENT),
            (None, None) => panic!("no pids controller"),
        };
        make_dir(&parent).unwrap();
        let name = "leftover-test";
        // Whatever this process's counter is at, its next name is taken.
        let left: Vec<PathBuf> = (0..256)
            .map(|n| parent.join(format!("{name}-{}-{n}", std::process::id())))
            .collect();
        for dir in &left {
            make_dir(dir).unwrap();
        }
        let limits = Limits {
            pids: Some(64),
            ..Limits::default()
        };
        let made = Cgroups::create(name, &limits);
        for dir in &left {
            let _ = std::fs::remove_dir(dir);
        }
        let mut made = made.unwrap();
        assert!(!made.groups().is_empty());
        made.remove().unwrap();
    }

    #[test]
    fn own_path_finds_the_controller_line() {
        let text =
            "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/c39\n2:cpu,cpuacct:/a\n0::/\n";
        assert_eq!(own_path(text, "memory").as_deref(), Some("process_api/c39"));
        assert_eq!(own_path(text, "cpuacct").as_deref(), Some("a"));
        assert_eq!(own_path(text, "pids").as_deref(), Some(""));
        assert_eq!(own_path(text, "hugetlb"), None);
    }
}
