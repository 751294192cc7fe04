//! The tree `colony up` seeds `clean.<node>` from: the host's root file
//! system (as the spawngrid seeded `clean.$sysname` from its own), or a
//! directory the operator names.
//!
//! [`SeedSource`] wraps the plain file-system source: the directories it
//! is told to leave out (`/proc`, `/sys`, `/dev`, `/run`, `/tmp`, the data
//! directory) and, when asked, every directory on another file system,
//! appear as empty directories, so the seed still has its mountpoints.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use colony_fossil::source::{FsOptions, FsSource, Listing, Node, Source};
use colony_fossil::vac::{self, Imported, Top, VacOptions};
use colony_venti::BlockStore;

use crate::progress;

/// Host directories a root seed never holds the contents of.
pub const HOST_SKIP: [&str; 5] = ["/proc", "/sys", "/dev", "/run", "/tmp"];

/// A tree to seed from, with what to leave out.
pub struct SeedSource {
    inner: FsSource,
    top: PathBuf,
    emptied: BTreeSet<PathBuf>,
    /// The device of `top`, when the import stays on its file system.
    device: Option<u64>,
}

impl SeedSource {
    /// The host's root: one file system, without [`HOST_SKIP`] or
    /// `data_dir`'s contents.
    pub fn host_root(data_dir: &Path) -> anyhow::Result<SeedSource> {
        let mut skip: Vec<PathBuf> = HOST_SKIP.iter().map(PathBuf::from).collect();
        skip.push(data_dir.to_path_buf());
        SeedSource::new(Path::new("/"), &skip, true)
    }

    /// The tree at `top`, without the contents of the directories in
    /// `skip` (those outside `top` or missing are ignored) and, with
    /// `one_fs`, of directories on other file systems.
    pub fn new(top: &Path, skip: &[PathBuf], one_fs: bool) -> anyhow::Result<SeedSource> {
        let top = top
            .canonicalize()
            .with_context(|| format!("seed tree {}", top.display()))?;
        let md = std::fs::metadata(&top).with_context(|| format!("seed tree {}", top.display()))?;
        anyhow::ensure!(
            md.is_dir(),
            "seed tree {} is not a directory",
            top.display()
        );
        let emptied = skip
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .filter(|p| p.starts_with(&top) && *p != top)
            .collect();
        Ok(SeedSource {
            inner: FsSource::new(&top, FsOptions::default()),
            top,
            emptied,
            device: one_fs.then(|| md.dev()),
        })
    }

    /// Whether the directory at `rel` is listed as empty.
    fn is_emptied(&self, rel: &Path) -> bool {
        let path = self.top.join(rel);
        if self.emptied.contains(&path) {
            return true;
        }
        match (self.device, std::fs::symlink_metadata(&path)) {
            (Some(dev), Ok(md)) => md.dev() != dev,
            _ => false,
        }
    }
}

impl Source for SeedSource {
    fn top(&self) -> colony_fossil::Result<Node> {
        self.inner.top()
    }

    fn list(&self, dir: &Path) -> colony_fossil::Result<Listing> {
        if self.is_emptied(dir) {
            return Ok(Listing::default());
        }
        self.inner.list(dir)
    }

    fn open(&self, file: &Path) -> colony_fossil::Result<Box<dyn Read + Send + '_>> {
        self.inner.open(file)
    }

    fn read_link(&self, link: &Path) -> colony_fossil::Result<Vec<u8>> {
        self.inner.read_link(link)
    }
}

/// Imports `source` into `store` as a root tree (its contents become `/`),
/// with a progress bar on a terminal.
pub fn import(store: &dyn BlockStore, source: &SeedSource) -> anyhow::Result<Imported> {
    let options = VacOptions {
        top: Top::Contents,
        ..VacOptions::default()
    };
    let total = vac::measure(source, options.top)?;
    let bar = progress::bytes_bar("seed");
    bar.set_length(total.bytes);
    let imported = vac::import(store, source, &options, &mut |done| {
        progress::update(&bar, done.bytes, total.bytes.max(done.bytes));
    })
    .with_context(|| format!("importing {}", source.top.display()))?;
    bar.finish_and_clear();
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_directories_are_empty_mountpoints() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        for d in ["proc/1", "data/venti", "etc", "tmpx"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        std::fs::write(top.join("etc/hostname"), "h\n").unwrap();
        std::fs::write(top.join("proc/1/status"), "x").unwrap();
        std::fs::write(top.join("data/venti/arena"), "x").unwrap();
        let skip = [
            top.join("proc"),
            top.join("data"),
            PathBuf::from("/elsewhere"),
        ];
        let src = SeedSource::new(top, &skip, true).unwrap();
        let names = |rel: &str| -> Vec<String> {
            src.list(Path::new(rel))
                .unwrap()
                .nodes
                .iter()
                .map(|n| String::from_utf8_lossy(&n.name).into_owned())
                .collect()
        };
        assert_eq!(names(""), ["data", "etc", "proc", "tmpx"]);
        assert!(names("proc").is_empty());
        assert!(names("data").is_empty());
        assert_eq!(names("etc"), ["hostname"]);
        let store = colony_venti::MemStore::new();
        let imported = import(&store, &src).unwrap();
        assert_eq!(imported.files, 1);
        assert_eq!(imported.bytes, 2);
        assert!(SeedSource::new(&top.join("etc/hostname"), &[], false).is_err());
    }
}
