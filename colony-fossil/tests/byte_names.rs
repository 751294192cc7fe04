//! Names and symlink targets are bytes, as Linux has them: those that are
//! not UTF-8 survive vac, the live file system, save and unvac exactly.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use colony_fossil::Error;
use colony_fossil::fossil::{DMDIR, Fossil, FossilOptions, NodeId};
use colony_fossil::name::NameFault;
use colony_fossil::vac::{self, VacOptions};
use colony_venti::{MemStore, Score};
use proptest::prelude::*;

const U: &str = "glenda";

/// `dir/name`, the name given as bytes.
fn at(dir: &Path, name: &[u8]) -> std::path::PathBuf {
    dir.join(OsStr::from_bytes(name))
}

/// The names in directory `dir`, sorted, as bytes.
fn listed(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    names
}

/// A tree whose names and link targets are Latin-1 and stray bytes:
/// `caf\xe9` (a file), `\xff\xfe/` holding `l\x80` -> `../caf\xe9` and a
/// second name `g\xe9` of the file.
fn make_tree(top: &Path) {
    std::fs::create_dir(top).unwrap();
    std::fs::write(at(top, b"caf\xe9"), b"latin-1").unwrap();
    let d = at(top, b"\xff\xfe");
    std::fs::create_dir(&d).unwrap();
    std::os::unix::fs::symlink(OsStr::from_bytes(b"../caf\xe9"), at(&d, b"l\x80")).unwrap();
    std::fs::hard_link(at(top, b"caf\xe9"), at(&d, b"g\xe9")).unwrap();
}

/// Checks a tree made by [`make_tree`] (the hard link may be a copy).
fn check_tree(top: &Path) {
    assert_eq!(listed(top), [b"caf\xe9".to_vec(), b"\xff\xfe".to_vec()]);
    let d = at(top, b"\xff\xfe");
    assert_eq!(listed(&d), [b"g\xe9".to_vec(), b"l\x80".to_vec()]);
    let target = std::fs::read_link(at(&d, b"l\x80")).unwrap();
    assert_eq!(target.as_os_str().as_bytes(), b"../caf\xe9");
    assert_eq!(std::fs::read(at(&d, b"l\x80")).unwrap(), b"latin-1");
    assert_eq!(std::fs::read(at(&d, b"g\xe9")).unwrap(), b"latin-1");
}

fn walk(fs: &Fossil, path: &[&[u8]]) -> NodeId {
    path.iter()
        .fold(fs.root(), |d, n| fs.lookup(d, n).unwrap().node())
}

#[test]
fn vac_and_unvac_keep_names_and_targets_that_are_not_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("top");
    make_tree(&top);
    let store = Arc::new(MemStore::new());
    let options = VacOptions {
        linux: true,
        ..VacOptions::default()
    };
    let imported = vac::import_path(&*store, &top, &options, &mut |_| {}).unwrap();
    assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);

    // The live file system sees the names as they were.
    let fs = Fossil::open(store.clone(), imported.score, FossilOptions::default()).unwrap();
    let f = walk(&fs, &[b"top", b"caf\xe9"]);
    let l = walk(&fs, &[b"top", b"\xff\xfe", b"l\x80"]);
    assert_eq!(fs.readlink(l).unwrap(), b"../caf\xe9");
    assert_eq!(walk(&fs, &[b"top", b"\xff\xfe", b"g\xe9"]), f, "one file");
    assert_eq!(fs.stat(f).unwrap().nlink, 2);

    let out = common::export(&store, &imported.score);
    check_tree(&out.path().join("top"));
}

#[test]
fn a_live_fossil_keeps_byte_names_across_save() {
    let store = Arc::new(MemStore::new());
    let options = FossilOptions {
        owner: U.into(),
        ..FossilOptions::default()
    };
    let fs = Fossil::create_empty(store.clone(), options.clone()).unwrap();
    let top = fs
        .create(fs.root(), b"top", DMDIR | 0o755, U)
        .unwrap()
        .node();
    let f = fs.create(top, b"caf\xe9", 0o644, U).unwrap().node();
    fs.write(f, 0, b"latin-1", U).unwrap();
    let d = fs
        .create(top, b"\xff\xfe", DMDIR | 0o755, U)
        .unwrap()
        .node();
    fs.symlink(d, b"l\x80", b"../caf\xe9", U).unwrap();
    fs.link(f, d, b"g\xe9").unwrap();
    let score: Score = fs.save().unwrap();

    let fs = Fossil::open(store.clone(), score, options).unwrap();
    let f = walk(&fs, &[b"top", b"caf\xe9"]);
    assert_eq!(fs.read(f, 0, 100).unwrap(), b"latin-1");
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
    let l = walk(&fs, &[b"top", b"\xff\xfe", b"l\x80"]);
    assert_eq!(fs.readlink(l).unwrap(), b"../caf\xe9");
    let out = common::export(&store, &score);
    check_tree(&out.path().join("top"));
}

#[test]
fn malformed_names_say_what_is_wrong() {
    let store = Arc::new(MemStore::new());
    let fs = Fossil::create_empty(store, FossilOptions::default()).unwrap();
    let long = vec![b'x'; 256];
    for (name, fault) in [
        (&b"a/b"[..], NameFault::Slash),
        (b"a\0b", NameFault::Nul),
        (b"", NameFault::Empty),
        (b"..", NameFault::Dots),
        (&long, NameFault::TooLong(256)),
    ] {
        let e = fs.create(fs.root(), name, 0o644, U).unwrap_err();
        assert!(
            matches!(&e, Error::BadName { name: n, fault: f } if n == name && *f == fault),
            "{e:?}"
        );
    }
    let e = fs.create(fs.root(), b"\xff/", 0o644, U).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad file name \"\\xff/\": the name holds '/'"
    );
}

/// Any bytes that [`colony_fossil::name::check`] accepts.
fn any_name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..=255)
        .prop_filter("a file name", |n| colony_fossil::name::check(n).is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever bytes a name is, a saved and reopened Fossil lists it,
    /// finds it and unvac writes it exactly (names sorted by bytes in the
    /// MetaBlocks, as plan9port's vac sorts them).
    #[test]
    fn every_name_round_trips(names in proptest::collection::btree_set(any_name(), 1..12)) {
        let store = Arc::new(MemStore::new());
        let fs = Fossil::create_empty(store.clone(), FossilOptions::default()).unwrap();
        for (i, n) in names.iter().enumerate() {
            let f = fs.create(fs.root(), n, 0o644, U).unwrap().node();
            fs.write(f, 0, &i.to_le_bytes(), U).unwrap();
        }
        let score = fs.save().unwrap();
        let fs = Fossil::open(store.clone(), score, FossilOptions::default()).unwrap();
        let mut seen = Vec::new();
        fs.readdir(fs.root(), 0, &mut |e| {
            seen.push(e.meta.name);
            true
        })
        .unwrap();
        seen.sort();
        prop_assert_eq!(&seen, &names.iter().cloned().collect::<Vec<_>>());
        for (i, n) in names.iter().enumerate() {
            let f = fs.lookup(fs.root(), n).unwrap().node();
            prop_assert_eq!(fs.read(f, 0, 8).unwrap(), i.to_le_bytes());
        }
        let out = common::export(&store, &score);
        prop_assert_eq!(listed(out.path()), seen);
    }
}
