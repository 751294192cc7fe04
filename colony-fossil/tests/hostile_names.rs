//! Names from archives (issue 12): a directory entry named `.`, `..`, the
//! empty name, or holding `/` or NUL is refused wherever a directory's
//! entries are decoded, with an error naming the entry and the directory;
//! unvac writes nothing outside its destination and the live file system
//! never lists such a name.

use std::path::Path;
use std::sync::Arc;

use colony_fossil::archive::Archive;
use colony_fossil::testdata::hostile_archive;
use colony_fossil::unvac::{self, UnvacOptions};
use colony_fossil::{Error, Fossil, FossilOptions};
use colony_venti::MemStore;

const HOSTILE: [&[u8]; 5] = [b"..", b".", b"a/b", b"", b"a\0b"];

/// The bad name inside `e`, and the path an enclosing `AtPath` gives.
fn bad_entry(e: &Error) -> (Option<&str>, &[u8]) {
    match e {
        Error::AtPath { path, source } => (Some(path), bad_entry(source).1),
        Error::BadEntryName { name, .. } => (None, name),
        other => panic!("want BadEntryName, got {other:?}"),
    }
}

/// Every path below `top`, relative to it.
fn tree(top: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![top.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(top).unwrap().display().to_string());
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                todo.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn decoding_and_lookup_refuse_the_name() {
    for name in HOSTILE {
        for nested in [false, true] {
            let store = MemStore::new();
            let score = hostile_archive(&store, name, nested);
            let a = Archive::open(&store, &score).unwrap();
            let root = a.root_dir(&store);
            let dir = if nested {
                let d = root.lookup(b"d").unwrap().expect("d is listed");
                match root.open(&d).unwrap() {
                    colony_fossil::dir::Child::Dir { dir, meta } => {
                        colony_fossil::dir::DirReader::new(&store, dir, meta)
                    }
                    colony_fossil::dir::Child::File(_) => panic!("d is a directory"),
                }
            } else {
                root
            };
            let e = dir.list().unwrap_err();
            assert_eq!(bad_entry(&e), (None, name), "{}", e);
            let e = dir.lookup(name).unwrap_err();
            assert_eq!(bad_entry(&e), (None, name), "{}", e);
            // A good sibling is still found by name.
            let good: &[u8] = if nested { b"good" } else { b"ok" };
            assert!(dir.lookup(good).unwrap().is_some());
        }
    }
}

#[test]
fn the_error_text_escapes_the_name() {
    let e = Error::BadEntryName {
        name: b"a\0b/\xff".to_vec(),
        fault: colony_fossil::name::NameFault::Slash,
    }
    .at_path("/d");
    assert_eq!(
        e.to_string(),
        "/d: directory entry \"a\\0b/\\xff\" is not a file name: the name holds '/'"
    );
}

#[test]
fn the_live_file_system_never_lists_the_name() {
    for name in HOSTILE {
        for nested in [false, true] {
            let store = MemStore::new();
            let score = hostile_archive(&store, name, nested);
            let fs = Fossil::open(Arc::new(store), score, FossilOptions::default()).unwrap();
            let dir = if nested {
                fs.lookup(fs.root(), b"d").unwrap().qid.path
            } else {
                fs.root()
            };
            let mut listed = Vec::new();
            let e = fs
                .readdir(dir, 0, &mut |item| {
                    listed.push(item.meta.name.clone());
                    true
                })
                .unwrap_err();
            let want_dir = if nested { "d" } else { "/" };
            assert_eq!(bad_entry(&e), (Some(want_dir), name), "{e}");
            assert!(listed.is_empty(), "listed {listed:?}");
            let e = fs.lookup(dir, b"escaped").unwrap_err();
            assert_eq!(bad_entry(&e), (Some(want_dir), name), "{e}");
        }
    }
}

#[test]
fn unvac_writes_nothing_outside_its_destination() {
    for name in HOSTILE {
        for nested in [false, true] {
            let store = MemStore::new();
            let score = hostile_archive(&store, name, nested);
            let e = unvac::measure(&store, &score).unwrap_err();
            let want_dir = if nested { "/d" } else { "/" };
            assert_eq!(bad_entry(&e), (Some(want_dir), name), "{e}");

            let top = tempfile::tempdir().unwrap();
            let dest = top.path().join("dest");
            std::fs::create_dir(&dest).unwrap();
            let out = unvac::export(&store, &score, &dest, &UnvacOptions::default(), &mut |_| {})
                .unwrap();
            assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
            let (at, e) = &out.errors[0];
            assert_eq!(bad_entry(e), (Some(want_dir), name), "{e}");
            let want_at = if nested { dest.join("d") } else { dest.clone() };
            assert_eq!(at, &want_at);
            // The refused directory's entries are not extracted, so no
            // `escaped` anywhere; outside `dest` nothing at all.
            let got = tree(top.path());
            let want: Vec<&str> = if nested {
                vec!["dest", "dest/d", "dest/ok"]
            } else {
                vec!["dest"]
            };
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(name));
        }
    }
}

#[test]
fn a_good_name_in_the_same_place_is_extracted() {
    // The control: the same archive with an ordinary name comes out whole,
    // so the test above would see `escaped` if it were written.
    let store = MemStore::new();
    let score = hostile_archive(&store, b"fine", true);
    let top = tempfile::tempdir().unwrap();
    let out = unvac::export(
        &store,
        &score,
        top.path(),
        &UnvacOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        tree(top.path()),
        ["d", "d/fine", "d/fine/escaped", "d/good", "ok"]
    );
    assert_eq!(
        std::fs::read(top.path().join("d/fine/escaped")).unwrap(),
        b"gotcha"
    );
}
