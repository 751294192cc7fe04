//! The importer reproduces plan9port vac's score for the tiny tree, and the
//! §7.4 golden archive, byte for byte.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use colony_fossil::MetaMagic;
use colony_fossil::source::{FsOptions, MemSource, Meta, Order};
use colony_fossil::vac::{self, Flavor, Top, VacOptions};
use colony_venti::{BlockStore, MemStore, Score};

fn tiny_options() -> VacOptions {
    VacOptions {
        ctime: Some(common::TINY_CTIME),
        ..VacOptions::default()
    }
}

#[test]
fn tiny_from_memory_matches_plan9port() {
    let store = MemStore::new();
    let out = vac::import(&store, &common::tiny_source(), &tiny_options(), &mut |_| {}).unwrap();
    assert_eq!(out.score.to_string(), common::TINY_SCORE);
    // Every block vac wrote that is reachable is here, with the same bytes.
    let recorded = common::twrites("tiny-vac/tiny-vac.c2s");
    for (ty, data) in &recorded[2..] {
        let s = Score::of(data);
        assert_eq!(&store.read(&s, *ty).unwrap(), data, "block {s}");
    }
    assert_eq!(
        store.len(),
        recorded.len() - 2,
        "only the two scratch blocks are missing"
    );
    assert_eq!((out.files, out.dirs, out.bytes), (4, 2, 20020));
}

fn set_times(p: &Path, t: u32) {
    let ft = filetime::FileTime::from_unix_time(t as i64, 0);
    filetime::set_symlink_file_times(p, ft, ft).unwrap();
}

#[test]
fn tiny_from_disk_matches_plan9port() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("tiny");
    std::fs::create_dir_all(top.join("sub")).unwrap();
    std::fs::write(top.join("empty.txt"), b"").unwrap();
    std::fs::write(top.join("hello.txt"), b"hello, world\n").unwrap();
    std::fs::write(top.join("sub/nested.txt"), b"nested\n").unwrap();
    std::fs::write(top.join("pattern.bin"), common::pattern()).unwrap();
    for (p, m) in [
        ("", 0o755),
        ("sub", 0o755),
        ("empty.txt", 0o644),
        ("hello.txt", 0o644),
        ("sub/nested.txt", 0o644),
        ("pattern.bin", 0o644),
    ] {
        let p = if p.is_empty() {
            top.clone()
        } else {
            top.join(p)
        };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    for p in [
        "empty.txt",
        "hello.txt",
        "sub/nested.txt",
        "pattern.bin",
        "sub",
        "",
    ] {
        set_times(
            &if p.is_empty() {
                top.clone()
            } else {
                top.join(p)
            },
            common::TINY_TIME,
        );
    }
    let rank: HashMap<&str, usize> = common::TINY_ORDER
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, i))
        .collect();
    let order = Order::Custom(Arc::new(
        move |_dir: &Path, nodes: &mut Vec<colony_fossil::source::Node>| {
            nodes.sort_by_key(|n| rank[std::str::from_utf8(&n.name).unwrap()]);
        },
    ));
    let options = VacOptions {
        fs: FsOptions {
            order,
            owner: Some(("root".into(), "root".into())),
        },
        ..tiny_options()
    };
    let store = MemStore::new();
    let out = vac::import_path(&store, &top, &options, &mut |_| {}).unwrap();
    assert_eq!(out.score.to_string(), common::TINY_SCORE);
    // With a different visiting order the qids and slots change: so must the score.
    let by_name = VacOptions {
        fs: FsOptions {
            order: Order::ByName,
            owner: Some(("root".into(), "root".into())),
        },
        ..tiny_options()
    };
    let other = vac::import_path(&store, &top, &by_name, &mut |_| {}).unwrap();
    assert_ne!(other.score.to_string(), common::TINY_SCORE);
}

#[test]
fn golden_minimal_archive() {
    let t = 1_700_000_000;
    let meta = Meta {
        perm: 0o644,
        uid: "glenda".into(),
        gid: "glenda".into(),
        mtime: t,
        atime: t,
    };
    let mut src = MemSource::new("top", meta.clone());
    src.file("hello.txt", b"hello\n", meta).unwrap();
    let options = VacOptions {
        flavor: Flavor::Clean(MetaMagic::Old),
        top: Top::Contents,
        ctime: Some(t),
        ..VacOptions::default()
    };
    let store = MemStore::new();
    let out = vac::import(&store, &src, &options, &mut |_| {}).unwrap();
    assert_eq!(
        out.score.to_string(),
        "eb4aba5d0e5d4e0290b6af2186137197087c12bf"
    );
    let text = std::fs::read_to_string(common::testdata().join("golden/golden-archive-blocks.txt"))
        .unwrap();
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("vac:"))
    {
        let data = hex::decode(line).unwrap();
        assert!(store.len() >= 6);
        let found = (1..=13u8)
            .filter_map(|w| colony_venti::BlockType::from_wire(w).ok())
            .any(|ty| store.read(&Score::of(&data), ty).is_ok_and(|b| b == data));
        assert!(found, "golden block {} not written", Score::of(&data));
        n += 1;
    }
    assert_eq!((n, store.len()), (6, 6));
}
