//! The tree `colony up` seeds `clean.<node>` from: the host's root file
//! system (as the spawngrid seeded `clean.$sysname` from its own), or a
//! directory the operator names.
//!
//! [`SeedSource`] wraps the plain file-system source and leaves out, each
//! with its [`LeftOut`] reason: the kernel's and the runtime's directories
//! (`/proc`, `/sys`, `/dev`, `/run`, `/tmp`), every colony data directory
//! (the node's own, and any holding the [`DATA_MARKER`]), what the
//! operator excludes, and, for the host's root, secrets (password hashes,
//! ssh host keys) and home directories; with `one_fs`, every directory on
//! another file system too. Directories left out stay as empty
//! directories, so the seed keeps its mountpoints.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use colony_fossil::source::{FsOptions, FsSource, Listing, Node, NodeKind, Source};
use colony_fossil::vac::{self, Imported, Top, VacOptions};
use colony_venti::{BlockStore, is_data_dir};

use crate::progress::{Amount, Meter, Output};

/// Host directories a root seed never holds the contents of.
pub const HOST_SKIP: [&str; 5] = ["/proc", "/sys", "/dev", "/run", "/tmp"];

/// Host directories of people's own files: a seed is given to every grid
/// user, so a root seed keeps them empty.
pub const HOST_HOMES: [&str; 2] = ["/root", "/home"];

/// Host files that hold secrets (password hashes), left out of a root seed.
pub const HOST_SECRETS: [&str; 4] = [
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
];

/// Where the ssh host keys are: the private ones (`ssh_host_*_key`) are
/// left out of a root seed.
const SSH_DIR: &str = "/etc/ssh";

/// Why a path is not in the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeftOut {
    /// `/proc`, `/sys`, `/dev`, `/run`, `/tmp`.
    Runtime,
    /// A colony data directory: the node's own or one with the marker.
    ColonyData,
    /// Password hashes and ssh host keys.
    Secret,
    /// `/root` and `/home`.
    Home,
    /// Named with `--exclude`.
    Excluded,
    /// On another file system than the seed's top.
    OtherFileSystem,
}

impl LeftOut {
    /// The reason as the summary and the debug log give it.
    pub fn reason(self) -> &'static str {
        match self {
            LeftOut::Runtime => "kernel and runtime directories, kept empty",
            LeftOut::ColonyData => "colony data directories, kept empty",
            LeftOut::Secret => "secrets: password hashes and ssh host keys",
            LeftOut::Home => "home directories, kept empty",
            LeftOut::Excluded => "named by --exclude",
            LeftOut::OtherFileSystem => "other file systems, kept as empty directories",
        }
    }
}

/// A tree to seed from, with what to leave out.
pub struct SeedSource {
    inner: FsSource,
    top: PathBuf,
    /// Paths (canonical, under `top`) left out, with why.
    left_out: BTreeMap<PathBuf, LeftOut>,
    /// Whether private ssh host keys are left out (a root seed).
    no_host_keys: bool,
    /// The device of `top`, when the import stays on its file system.
    device: Option<u64>,
}

impl SeedSource {
    /// The host's root: one file system, without [`HOST_SKIP`]'s, the
    /// homes', `data_dir`'s and `exclude`'s contents, and without secrets.
    pub fn host_root(data_dir: &Path, exclude: &[PathBuf]) -> anyhow::Result<SeedSource> {
        let mut leave: Vec<(PathBuf, LeftOut)> = HOST_SKIP
            .iter()
            .map(|p| (PathBuf::from(p), LeftOut::Runtime))
            .collect();
        leave.extend(HOST_HOMES.iter().map(|p| (PathBuf::from(p), LeftOut::Home)));
        leave.extend(
            HOST_SECRETS
                .iter()
                .map(|p| (PathBuf::from(p), LeftOut::Secret)),
        );
        let mut source = SeedSource::new(Path::new("/"), data_dir, exclude, true)?;
        source.leave_out(leave);
        source.no_host_keys = true;
        Ok(source)
    }

    /// The tree at `top`, without the contents of `data_dir`, of the paths
    /// in `exclude` (those outside `top` or missing are ignored) and, with
    /// `one_fs`, of directories on other file systems.
    pub fn new(
        top: &Path,
        data_dir: &Path,
        exclude: &[PathBuf],
        one_fs: bool,
    ) -> anyhow::Result<SeedSource> {
        let top = top
            .canonicalize()
            .with_context(|| format!("seed tree {}", top.display()))?;
        let md = std::fs::metadata(&top).with_context(|| format!("seed tree {}", top.display()))?;
        anyhow::ensure!(
            md.is_dir(),
            "seed tree {} is not a directory",
            top.display()
        );
        let mut source = SeedSource {
            inner: FsSource::new(&top, FsOptions::default()),
            top,
            left_out: BTreeMap::new(),
            no_host_keys: false,
            device: one_fs.then(|| md.dev()),
        };
        let mut leave = vec![(data_dir.to_path_buf(), LeftOut::ColonyData)];
        leave.extend(exclude.iter().map(|p| (p.clone(), LeftOut::Excluded)));
        source.leave_out(leave);
        Ok(source)
    }

    fn leave_out(&mut self, paths: Vec<(PathBuf, LeftOut)>) {
        for (path, why) in paths {
            if let Ok(p) = path.canonicalize()
                && p.starts_with(&self.top)
                && p != self.top
            {
                self.left_out.entry(p).or_insert(why);
            }
        }
    }

    /// Why the directory at `rel` is listed as empty, if it is.
    fn emptied(&self, rel: &Path) -> Option<LeftOut> {
        let path = self.top.join(rel);
        if let Some(why) = self.left_out.get(&path) {
            return Some(*why);
        }
        if is_data_dir(&path) {
            return Some(LeftOut::ColonyData);
        }
        match (self.device, std::fs::symlink_metadata(&path)) {
            (Some(dev), Ok(md)) if md.dev() != dev => Some(LeftOut::OtherFileSystem),
            _ => None,
        }
    }

    /// Why the file `name` of the directory at `rel` is left out, if it is.
    fn dropped(&self, rel: &Path, node: &Node) -> Option<LeftOut> {
        if node.kind == NodeKind::Dir {
            return None;
        }
        let path = self.top.join(rel).join(OsStr::from_bytes(&node.name));
        if let Some(why) = self.left_out.get(&path) {
            return Some(*why);
        }
        let host_key = self.no_host_keys
            && path.parent() == Some(Path::new(SSH_DIR))
            && node.name.starts_with(b"ssh_host_")
            && node.name.ends_with(b"_key");
        host_key.then_some(LeftOut::Secret)
    }
}

impl Source for SeedSource {
    fn top(&self) -> colony_fossil::Result<Node> {
        self.inner.top()
    }

    fn list(&self, dir: &Path) -> colony_fossil::Result<Listing> {
        if let Some(why) = self.emptied(dir) {
            return Ok(Listing {
                nodes: Vec::new(),
                skipped: vec![(dir.to_path_buf(), why.reason().to_string())],
            });
        }
        let mut listing = self.inner.list(dir)?;
        let mut kept = Vec::with_capacity(listing.nodes.len());
        for node in listing.nodes {
            match self.dropped(dir, &node) {
                Some(why) => listing.skipped.push((
                    dir.join(OsStr::from_bytes(&node.name)),
                    why.reason().to_string(),
                )),
                None => kept.push(node),
            }
        }
        listing.nodes = kept;
        Ok(listing)
    }

    fn open(&self, file: &Path) -> colony_fossil::Result<Box<dyn Read + Send + '_>> {
        self.inner.open(file)
    }

    fn read_link(&self, link: &Path) -> colony_fossil::Result<Vec<u8>> {
        self.inner.read_link(link)
    }
}

/// Imports `source` into `store` as a root tree (its contents become `/`),
/// reporting progress on standard output: a bar on a terminal, a line
/// every few seconds otherwise.
pub fn import(store: &dyn BlockStore, source: &SeedSource) -> anyhow::Result<Imported> {
    // An environment is a Linux machine: keep owners by number, set-id
    // bits, times to the nanosecond, sockets, devices and attributes
    // (file capabilities: ping).
    let options = VacOptions {
        top: Top::Contents,
        linux: true,
        ..VacOptions::default()
    };
    let mut meter = Meter::new("seed", Output::Stdout);
    meter.note(&format!(
        "counting what to import from {}",
        source.top.display()
    ));
    let total = vac::measure(source, options.top)?;
    meter.note(&format!(
        "importing {} files and directories, {} bytes",
        total.files, total.bytes
    ));
    meter.set_total(Amount::of(&total));
    let imported = vac::import(store, source, &options, &mut |done| {
        meter.update(Amount::of(done))
    })
    .with_context(|| format!("importing {}", source.top.display()))?;
    meter.finish();
    Ok(imported)
}

/// What was left out of an import of `source`, a line per reason in the
/// order met: how many paths, the first few, and why
/// (`left out 2: /etc/shadow, /etc/gshadow (secrets: ...)`).
pub fn left_out_summary(source: &SeedSource, skipped: &[(PathBuf, String)]) -> Vec<String> {
    const SHOWN: usize = 6;
    let mut by_reason: Vec<(&str, Vec<&Path>)> = Vec::new();
    for (path, why) in skipped {
        match by_reason.iter_mut().find(|(w, _)| w == why) {
            Some((_, paths)) => paths.push(path),
            None => by_reason.push((why, vec![path])),
        }
    }
    by_reason
        .into_iter()
        .map(|(why, paths)| {
            let mut shown: Vec<String> = paths
                .iter()
                .take(SHOWN)
                .map(|p| source.top.join(p).display().to_string())
                .collect();
            if paths.len() > SHOWN {
                shown.push(format!("and {} more", paths.len() - SHOWN));
            }
            format!("left out {}: {} ({why})", paths.len(), shown.join(", "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &SeedSource, rel: &str) -> Vec<String> {
        src.list(Path::new(rel))
            .unwrap()
            .nodes
            .iter()
            .map(|n| String::from_utf8_lossy(&n.name).into_owned())
            .collect()
    }

    #[test]
    fn skipped_directories_are_empty_mountpoints() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        for d in ["proc/1", "data/venti", "etc", "tmpx", "other/store", "srv"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        std::fs::write(top.join("etc/hostname"), "h\n").unwrap();
        std::fs::write(top.join("etc/secret"), "s\n").unwrap();
        std::fs::write(top.join("proc/1/status"), "x").unwrap();
        std::fs::write(top.join("data/venti/arena"), "x").unwrap();
        std::fs::write(top.join("srv/file"), "x").unwrap();
        colony_venti::mark_data_dir(&top.join("other/store")).unwrap();
        std::fs::write(top.join("other/store/arena"), "x").unwrap();
        let exclude = [
            top.join("proc"),
            top.join("etc/secret"),
            top.join("srv"),
            PathBuf::from("/elsewhere"),
        ];
        let src = SeedSource::new(top, &top.join("data"), &exclude, true).unwrap();
        assert_eq!(
            names(&src, ""),
            ["data", "etc", "other", "proc", "srv", "tmpx"]
        );
        assert!(names(&src, "proc").is_empty());
        assert!(names(&src, "data").is_empty());
        assert!(names(&src, "srv").is_empty());
        assert!(names(&src, "other/store").is_empty(), "the marker");
        assert_eq!(names(&src, "etc"), ["hostname"]);
        let store = colony_venti::MemStore::new();
        let imported = import(&store, &src).unwrap();
        assert_eq!(imported.files, 1);
        assert_eq!(imported.bytes, 2);
        let summary = left_out_summary(&src, &imported.skipped).join("\n");
        for (path, why) in [
            ("data", LeftOut::ColonyData),
            ("other/store", LeftOut::ColonyData),
            ("etc/secret", LeftOut::Excluded),
            ("proc", LeftOut::Excluded),
        ] {
            let path = Path::new(path);
            assert!(
                imported
                    .skipped
                    .iter()
                    .any(|(p, w)| *p == path && w == why.reason()),
                "{} {why:?} in {:?}",
                path.display(),
                imported.skipped
            );
            assert!(summary.contains(why.reason()), "{summary}");
        }
        assert!(SeedSource::new(&top.join("etc/hostname"), top, &[], false).is_err());
    }

    #[test]
    fn the_host_root_leaves_out_secrets_homes_and_host_keys() {
        let src = SeedSource::host_root(Path::new("/nonexistent-colony-data"), &[]).unwrap();
        for home in HOST_HOMES {
            if Path::new(home).is_dir() {
                assert!(names(&src, &home[1..]).is_empty(), "{home}");
            }
        }
        let etc = names(&src, "etc");
        assert!(!etc.is_empty());
        for secret in HOST_SECRETS {
            assert!(!etc.contains(&secret[5..].to_string()), "{secret}");
        }
        if Path::new(SSH_DIR).is_dir() {
            for name in names(&src, "etc/ssh") {
                assert!(
                    !(name.starts_with("ssh_host_") && name.ends_with("_key")),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn the_summary_groups_by_reason_and_shortens_long_lists() {
        let why = LeftOut::Runtime.reason().to_string();
        let mut skipped: Vec<(PathBuf, String)> = (0..8)
            .map(|i| (PathBuf::from(format!("/d{i}")), why.clone()))
            .collect();
        skipped.push(("/x.sock".into(), "socket".into()));
        let src = SeedSource::new(Path::new("/"), Path::new("/nonexistent"), &[], false).unwrap();
        let lines = left_out_summary(&src, &skipped);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            format!("left out 8: /d0, /d1, /d2, /d3, /d4, /d5, and 2 more ({why})")
        );
        assert_eq!(lines[1], "left out 1: /x.sock (socket)");
    }
}
