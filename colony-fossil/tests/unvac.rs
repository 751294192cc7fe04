//! Export: plan9port's tiny archive, the fossil layout, damaged archives.

mod common;

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use colony_fossil::archive::Archive;
use colony_fossil::dir::{Child, DirReader};
use colony_fossil::entry::{ENTRY_SIZE, Entry};
use colony_fossil::unvac::{self, UnvacOptions};
use colony_fossil::{Root, mode};
use colony_venti::{BlockStore, BlockType, Score};

/// `unvac -tv`'s listing, produced by walking the archive.
fn listing<S: BlockStore>(store: &S, dir: &DirReader<'_, S>, prefix: &str, out: &mut Vec<String>) {
    for de in dir.list().unwrap() {
        let name = format!("{prefix}{}", String::from_utf8_lossy(&de.elem));
        let child = dir.open(&de).unwrap();
        let size = match child {
            Child::File(e) => e.size,
            Child::Dir { .. } => 0,
        };
        let mut m = String::from(if de.mode & mode::DIR != 0 { "d-" } else { "--" });
        for shift in [6, 3, 0] {
            let b = de.mode >> shift;
            m.push(if b & 4 != 0 { 'r' } else { '-' });
            m.push(if b & 2 != 0 { 'w' } else { '-' });
            m.push(if b & 1 != 0 { 'x' } else { '-' });
        }
        let uid = String::from_utf8_lossy(&de.uid).into_owned();
        let gid = String::from_utf8_lossy(&de.gid).into_owned();
        out.push(format!(
            "{m} {uid:<10} {gid:<10} {size:>11} {} {name}",
            common::date(de.mtime)
        ));
        if let Child::Dir { dir, meta } = child {
            listing(
                store,
                &DirReader::new(store, dir, meta),
                &format!("{name}/"),
                out,
            );
        }
    }
}

fn check_tiny_on_disk(dest: &Path) {
    let t = dest.join("tiny");
    let expect: [(&str, &[u8], u32); 4] = [
        ("hello.txt", b"hello, world\n", 0o644),
        ("empty.txt", b"", 0o644),
        ("sub/nested.txt", b"nested\n", 0o644),
        ("pattern.bin", &common::pattern(), 0o644),
    ];
    for (p, data, perm) in expect {
        let md = std::fs::metadata(t.join(p)).unwrap();
        assert_eq!(std::fs::read(t.join(p)).unwrap(), data, "{p}");
        assert_eq!(md.permissions().mode() & 0o7777, perm, "{p}");
        assert_eq!(md.mtime(), common::TINY_TIME as i64, "{p}");
    }
    for d in ["", "sub"] {
        let md = std::fs::metadata(t.join(d)).unwrap();
        assert!(md.is_dir());
        assert_eq!(md.permissions().mode() & 0o7777, 0o755);
        assert_eq!(md.mtime(), common::TINY_TIME as i64, "dir {d}");
    }
}

#[test]
fn plan9port_tiny_archive() {
    let store = common::tiny_store();
    let score = Score::from_hex(common::TINY_SCORE).unwrap();
    let a = Archive::open(&store, &score).unwrap();
    assert!(!a.fossil_layout && a.has_local_bits());
    assert_eq!(a.root_entry.qid_space(), Some((0, 7)));
    let mut lines = Vec::new();
    listing(&store, &a.root_dir(&store), "", &mut lines);
    let tv =
        std::fs::read_to_string(common::testdata().join("tiny-vac/tiny.unvac-tv.txt")).unwrap();
    assert_eq!(lines, tv.lines().collect::<Vec<_>>());

    let total = unvac::measure(&store, &score).unwrap();
    assert_eq!((total.files, total.bytes), (6, 20020));
    let dest = tempfile::tempdir().unwrap();
    let mut calls = 0;
    let out = unvac::export(
        &store,
        &score,
        dest.path(),
        &UnvacOptions::default(),
        &mut |_| calls += 1,
    )
    .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!((out.files, out.dirs, out.bytes, calls), (4, 2, 20020, 6));
    check_tiny_on_disk(dest.path());
}

#[test]
fn fossil_layout() {
    // Wrap the tiny archive's top block in fossil's extra level.
    let store = common::tiny_store();
    let a = common::twrites("tiny-vac/tiny-vac.c2s");
    let top = Score::of(&a[14].1);
    let wrap = Entry {
        size: 120,
        score: top,
        ..Entry::empty(8160, 8192, true)
    };
    let mut block = wrap.encode().unwrap().to_vec();
    block.resize(3 * ENTRY_SIZE, 0);
    let wscore = store
        .write(BlockType::DIR, BlockType::DIR.truncate(&block))
        .unwrap();
    let root = Root {
        name: b"fossil".to_vec(),
        ..Root::vac(wscore, 8192)
    };
    let rscore = store
        .write(BlockType::ROOT, &root.encode().unwrap())
        .unwrap();
    assert!(Archive::open(&store, &rscore).unwrap().fossil_layout);
    let dest = tempfile::tempdir().unwrap();
    let out = unvac::export(
        &store,
        &rscore,
        dest.path(),
        &UnvacOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    check_tiny_on_disk(dest.path());
}

fn score_of(name: &str) -> Score {
    let a = common::twrites("tiny-vac/tiny-vac.c2s");
    let i = match name {
        "hello" => 2,
        "sub-meta" => 5,
        "pattern-ptr" => 8,
        "top" => 14,
        _ => unreachable!(),
    };
    Score::of(&a[i].1)
}

#[test]
fn damage_is_reported_per_file() {
    let score = Score::from_hex(common::TINY_SCORE).unwrap();
    let cases = [
        ("missing", "hello", "/tiny/hello.txt"),
        ("corrupt", "pattern-ptr", "/tiny/pattern.bin"),
        ("corrupt", "sub-meta", "/tiny/sub"),
        ("missing", "sub-meta", "/tiny/sub"),
    ];
    for (how, block, path) in cases {
        let bad: HashSet<Score> = [score_of(block)].into();
        let (missing, corrupt) = if how == "missing" {
            (bad, HashSet::new())
        } else {
            (HashSet::new(), bad)
        };
        let store = common::Faulty {
            inner: common::tiny_store(),
            missing,
            corrupt,
        };
        let dest = tempfile::tempdir().unwrap();
        let out = unvac::export(
            &store,
            &score,
            dest.path(),
            &UnvacOptions::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(out.errors.len(), 1, "{how} {block}: {:?}", out.errors);
        let msg = out.errors[0].1.to_string();
        assert!(msg.starts_with(path), "{msg}");
        assert!(msg.contains(&score_of(block).to_string()), "{msg}");
        // Everything else came out.
        assert_eq!(
            std::fs::read(dest.path().join("tiny/empty.txt")).unwrap(),
            b""
        );
        if path != "/tiny/hello.txt" {
            assert_eq!(
                std::fs::read(dest.path().join("tiny/hello.txt")).unwrap(),
                b"hello, world\n"
            );
        }
    }
}

#[test]
fn bad_roots_fail_cleanly() {
    let store = common::tiny_store();
    let dest = tempfile::tempdir().unwrap();
    let opts = UnvacOptions::default();
    let missing = Score::of(b"nothing");
    let err = unvac::export(&store, &missing, dest.path(), &opts, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains(&missing.to_string()));
    // A root whose type is not vac, and one whose top block is missing.
    let mut r = Root::vac(score_of("top"), 8192);
    r.kind = b"ffs".to_vec();
    let s = store.write(BlockType::ROOT, &r.encode().unwrap()).unwrap();
    assert!(unvac::export(&store, &s, dest.path(), &opts, &mut |_| {}).is_err());
    let r = Root::vac(Score::of(b"no such top"), 8192);
    let s = store.write(BlockType::ROOT, &r.encode().unwrap()).unwrap();
    assert!(unvac::export(&store, &s, dest.path(), &opts, &mut |_| {}).is_err());
    // A short root block.
    let s = store.write(BlockType::ROOT, &[0u8; 10]).unwrap();
    let err = unvac::export(&store, &s, dest.path(), &opts, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains(&s.to_string()), "{err}");
    // A top block of garbage entries.
    let junk = store.write(BlockType::DIR, &[0xffu8; 120]).unwrap();
    let s = store
        .write(BlockType::ROOT, &Root::vac(junk, 8192).encode().unwrap())
        .unwrap();
    assert!(unvac::export(&store, &s, dest.path(), &opts, &mut |_| {}).is_err());
}

#[test]
fn owners_are_restored_as_root() {
    use colony_fossil::source::{MemSource, Meta};
    use colony_fossil::vac::{self, VacOptions};
    let m = |uid: &str, gid: &str| Meta {
        perm: 0o644,
        uid: uid.into(),
        gid: gid.into(),
        mtime: 7,
        atime: 7,
    };
    let mut src = MemSource::new("o", m("root", "root"));
    src.file("nobody", b"1", m("nobody", "nogroup")).unwrap();
    src.file("ghost", b"2", m("no-such-user-here", "no-such-group"))
        .unwrap();
    let store = colony_venti::MemStore::new();
    let score = vac::import(&store, &src, &VacOptions::default(), &mut |_| {})
        .unwrap()
        .score;
    let dest = tempfile::tempdir().unwrap();
    let out = unvac::export(
        &store,
        &score,
        dest.path(),
        &UnvacOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(out.owners_not_restored, "ghost's names do not exist here");
    if nix::unistd::geteuid().is_root() {
        let md = std::fs::metadata(dest.path().join("o/nobody")).unwrap();
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        assert_eq!(md.uid(), nobody.uid.as_raw());
    }
}

#[test]
fn symlinks_in_the_destination_are_not_followed() {
    let store = common::tiny_store();
    let score = Score::from_hex(common::TINY_SCORE).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dest.path().join("tiny")).unwrap();
    let out = unvac::export(
        &store,
        &score,
        dest.path(),
        &UnvacOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(
        std::fs::symlink_metadata(dest.path().join("tiny"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    check_tiny_on_disk(dest.path());
}
