//! A real tree on disk -> vac -> unvac -> the same tree; re-imports write
//! no new file data.

mod common;

use std::collections::HashSet;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use colony_fossil::archive::Archive;
use colony_fossil::dir::Child;
use colony_fossil::unvac::{self, UnvacOptions};
use colony_fossil::vac::{self, VacOptions};
use colony_venti::{BlockStore, BlockType, MemStore, Score};
use filetime::FileTime;

fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

const MB: usize = 1 << 20;

/// Builds the test tree under `root/tree` and returns its path.
fn make_tree(root: &Path) -> std::path::PathBuf {
    let t = root.join("tree");
    let mk = |p: &str| std::fs::create_dir_all(t.join(p)).unwrap();
    let put = |p: &str, data: &[u8], perm: u32| {
        std::fs::write(t.join(p), data).unwrap();
        std::fs::set_permissions(t.join(p), std::fs::Permissions::from_mode(perm)).unwrap();
    };
    mk("a/b/c");
    mk("empty");
    for (i, n) in [0usize, 1, 8191, 8192, 8193, 3 * MB + 17]
        .into_iter()
        .enumerate()
    {
        put(&format!("size-{n}"), &bytes(n, i as u32), 0o644);
    }
    put("a/exec.sh", b"#!/bin/sh\necho hi\n", 0o755);
    put("a/b/private", &bytes(100, 9), 0o600);
    put("a/b/c/readonly", &bytes(20000, 10), 0o444);
    // All zeros: no data block at all.
    let z = std::fs::File::create(t.join("zeros")).unwrap();
    z.set_len(5 * MB as u64).unwrap();
    // Data, a hole, data.
    let mut s = std::fs::File::create(t.join("sparse")).unwrap();
    s.write_all(&bytes(MB, 11)).unwrap();
    s.seek(SeekFrom::Start(4 * MB as u64)).unwrap();
    s.write_all(&bytes(12345, 12)).unwrap();
    std::os::unix::fs::symlink("size-1", t.join("link-short")).unwrap();
    let long = format!("/nonexistent/{}", "long-target/".repeat(10));
    std::os::unix::fs::symlink(&long, t.join("a/link-long")).unwrap();
    nix::unistd::mkfifo(
        &t.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    std::fs::set_permissions(t.join("a/b"), std::fs::Permissions::from_mode(0o750)).unwrap();
    set_times(&t);
    t
}

/// Sets every path's times, deepest first so directory mtimes stick.
/// Importing reads files and so moves atimes: tests reset them.
fn set_times(t: &Path) {
    let mut all = Vec::new();
    walk(t, &mut all);
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in all.iter().enumerate() {
        let m = FileTime::from_unix_time(1_000_000_000 + i as i64 * 3600, 0);
        let a = FileTime::from_unix_time(1_100_000_000 + i as i64, 0);
        filetime::set_symlink_file_times(p, a, m).unwrap();
    }
}

fn walk(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    out.push(p.to_path_buf());
    if std::fs::symlink_metadata(p).unwrap().is_dir() {
        let mut kids: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        kids.sort();
        for k in kids {
            walk(&k, out);
        }
    }
}

fn assert_same(a: &Path, b: &Path) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    walk(a, &mut xs);
    walk(b, &mut ys);
    let rel = |v: &[std::path::PathBuf], base: &Path| -> Vec<_> {
        v.iter()
            .map(|p| p.strip_prefix(base).unwrap().to_path_buf())
            .collect()
    };
    assert_eq!(rel(&xs, a), rel(&ys, b));
    for (x, y) in xs.iter().zip(&ys) {
        let (mx, my) = (
            std::fs::symlink_metadata(x).unwrap(),
            std::fs::symlink_metadata(y).unwrap(),
        );
        assert_eq!(mx.file_type(), my.file_type(), "{}", x.display());
        assert_eq!(mx.mtime(), my.mtime(), "mtime of {}", x.display());
        if mx.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(x).unwrap(),
                std::fs::read_link(y).unwrap()
            );
            continue;
        }
        assert_eq!(
            mx.mode() & 0o777,
            my.mode() & 0o777,
            "mode of {}",
            x.display()
        );
        if mx.is_file() {
            assert_eq!(mx.len(), my.len(), "{}", x.display());
            assert!(
                std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
                "{}",
                x.display()
            );
        }
    }
}

#[test]
fn disk_tree_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let src = make_tree(tmp.path());
    let store = MemStore::new();
    let total = vac::measure(
        &colony_fossil::source::FsSource::new(&src, Default::default()),
        vac::Top::Named,
    )
    .unwrap();
    let mut last = vac::Progress::default();
    let out = vac::import_path(&store, &src, &VacOptions::default(), &mut |p| last = *p).unwrap();
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    assert_eq!(last.files, out.files + out.dirs);
    assert_eq!(last.bytes, out.bytes);
    assert_eq!(total, last);

    // The all-zero file is a zero score at the top; nothing was stored for it.
    let a = Archive::open(&store, &out.score).unwrap();
    let top = a.root_dir(&store).lookup(b"tree").unwrap().unwrap();
    let Child::Dir { dir, meta } = a.root_dir(&store).open(&top).unwrap() else {
        panic!()
    };
    let tree = colony_fossil::dir::DirReader::new(&store, dir, meta);
    let z = tree.lookup(b"zeros").unwrap().unwrap();
    let Child::File(e) = tree.open(&z).unwrap() else {
        panic!()
    };
    assert_eq!((e.score, e.size, e.depth), (Score::EMPTY, 5 * MB as u64, 2));

    let dest = tempfile::tempdir().unwrap();
    let got = unvac::export(
        &store,
        &out.score,
        dest.path(),
        &UnvacOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_same(&src, &dest.path().join("tree"));
    // Zero subtrees come back as holes.
    let md = std::fs::metadata(dest.path().join("tree/zeros")).unwrap();
    assert!(md.blocks() * 512 < md.len() / 2, "zeros is not sparse");
}

/// Counts writes of blocks the store did not have yet.
#[derive(Default)]
struct Counting {
    inner: MemStore,
    calls: AtomicU64,
    new: Mutex<Vec<(BlockType, Vec<u8>)>>,
}

impl BlockStore for Counting {
    fn read(&self, s: &Score, t: BlockType) -> colony_venti::Result<Vec<u8>> {
        self.inner.read(s, t)
    }
    fn write(&self, t: BlockType, d: &[u8]) -> colony_venti::Result<Score> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !self.inner.has(&Score::of(d), t)? {
            self.new.lock().unwrap().push((t, d.to_vec()));
        }
        self.inner.write(t, d)
    }
    fn has(&self, s: &Score, t: BlockType) -> colony_venti::Result<bool> {
        self.inner.has(s, t)
    }
    fn sync(&self) -> colony_venti::Result<()> {
        Ok(())
    }
}

#[test]
fn reimport_writes_no_new_data() {
    let tmp = tempfile::tempdir().unwrap();
    let src = make_tree(tmp.path());
    let store = Counting::default();
    let opts = VacOptions {
        ctime: Some(1_800_000_000),
        ..VacOptions::default()
    };
    let first = vac::import_path(&store, &src, &opts, &mut |_| {}).unwrap();
    let n = store.new.lock().unwrap().len();
    assert!(n > 400, "{n} blocks");
    store.new.lock().unwrap().clear();

    // Same tree, same run time: the same archive, nothing new.
    set_times(&src);
    let again = vac::import_path(&store, &src, &opts, &mut |_| {}).unwrap();
    assert_eq!(again.score, first.score);
    assert!(store.new.lock().unwrap().is_empty());

    // Asking first: only the root block is sent.
    store.calls.store(0, Ordering::Relaxed);
    set_times(&src);
    let skip = VacOptions {
        skip_existing: true,
        ..opts.clone()
    };
    let s = vac::import_path(&store, &src, &skip, &mut |_| {}).unwrap();
    assert_eq!(
        (s.score, store.calls.load(Ordering::Relaxed)),
        (first.score, 1)
    );

    // A later run (new ctime): only metadata changes, no file data.
    set_times(&src);
    let later = VacOptions {
        ctime: Some(1_800_000_001),
        ..opts
    };
    let third = vac::import_path(&store, &src, &later, &mut |_| {}).unwrap();
    assert_ne!(third.score, first.score);
    let new = store.new.lock().unwrap();
    let magic = [0x56u8, 0x56, 0xfc, 0x79];
    let kinds: HashSet<_> = new
        .iter()
        .map(|(t, d)| match *t {
            BlockType::DATA if d.starts_with(&magic) => "meta",
            BlockType::DATA => "data",
            BlockType::DIR => "dir",
            BlockType::ROOT => "root",
            _ => "pointer",
        })
        .collect();
    assert!(
        !kinds.contains("data") && !kinds.contains("pointer"),
        "{kinds:?}"
    );
    assert!(new.len() <= 2 * 6 + 3, "{} new blocks", new.len());
}

#[test]
fn sockets_are_skipped_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    std::fs::create_dir(&t).unwrap();
    std::fs::write(t.join("f"), b"x").unwrap();
    let _l = std::os::unix::net::UnixListener::bind(t.join("sock")).unwrap();
    let store = MemStore::new();
    let out = vac::import_path(&store, &t, &VacOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(out.skipped.len(), 1);
    assert!(out.skipped[0].0.ends_with("sock") && out.skipped[0].1.contains("socket"));
    assert_eq!(out.files, 1);
    // "." is named as resolved; its contents alone with Top::Contents.
    let dot = vac::import_path(&store, &t.join("."), &VacOptions::default(), &mut |_| {}).unwrap();
    let a = colony_fossil::archive::Archive::open(&store, &dot.score).unwrap();
    assert!(a.root_dir(&store).lookup(b"t").unwrap().is_some());
    let contents = VacOptions {
        top: vac::Top::Contents,
        ..VacOptions::default()
    };
    let c = vac::import_path(&store, &t, &contents, &mut |_| {}).unwrap();
    let a = colony_fossil::archive::Archive::open(&store, &c.score).unwrap();
    assert!(a.root_dir(&store).lookup(b"f").unwrap().is_some());
    // A file that vanishes is an error naming it; the top must exist.
    let gone = vac::import_path(
        &store,
        &tmp.path().join("nope"),
        &VacOptions::default(),
        &mut |_| {},
    );
    assert!(gone.unwrap_err().to_string().contains("nope"));
}
