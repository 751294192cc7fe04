//! The `FileSystem` trait's semantics, checked the same way on a MemFs and
//! on a live Fossil (through `FossilFs`).

use std::sync::Arc;

use colony_fossil::Fossil;
use colony_fossil::fossil::{FossilOptions, SetMeta as FossilSetMeta};
use colony_ns::ninep::{DMAPPEND, DMDIR, QTSYMLINK, error_strings as es};
use colony_ns::{Allocate, Error, FileSystem, FossilFs, MemFs, NodeId, Seek, SetMeta};
use colony_venti::MemStore;

/// An empty tree whose root is owned by glenda, group sys, mode 0775.
fn memfs() -> Box<dyn FileSystem> {
    Box::new(MemFs::with_root("glenda", "sys", 0o775))
}

/// The same as a Fossil, saved and reopened, so nodes load from blocks.
fn fossil() -> Box<dyn FileSystem> {
    let store = Arc::new(MemStore::new());
    let options = FossilOptions {
        owner: "glenda".into(),
        ..FossilOptions::default()
    };
    let new = Fossil::create_empty(store.clone(), options.clone()).unwrap();
    let sys = FossilSetMeta {
        gid: Some("sys".into()),
        ..FossilSetMeta::default()
    };
    new.wstat(new.root(), &sys, "glenda").unwrap();
    let score = new.save().unwrap();
    let fossil = Fossil::open(store, score, options).unwrap();
    Box::new(FossilFs::new(Arc::new(fossil)))
}

/// Runs each named check on every backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memfs {
            $(#[test]
            fn $name() {
                super::$name(&*super::memfs())
            })*
        }
        mod fossil {
            $(#[test]
            fn $name() {
                super::$name(&*super::fossil())
            })*
        }
    };
}

on_every_backend!(
    create_write_read_and_lookup,
    append_only_writes_at_the_end,
    readdir_cookies_survive_changes,
    remove_rules,
    wstat_is_all_or_nothing,
    symlinks_hold_their_target,
    only_length_changes_touch_mtime,
    rename_moves_across_directories,
    holes_are_found_made_and_free,
    made_files_keep_kind_owner_and_nanoseconds,
    extended_attributes_follow_their_rules,
    renames_over_a_name_and_exchanges,
    hard_links_share_one_file,
    removed_files_are_kept_for_their_holders,
    names_are_bytes,
    malformed_names_are_refused_precisely,
);

fn names(fs: &dyn FileSystem, dir: NodeId, cookie: u64) -> Vec<(Vec<u8>, u64)> {
    let mut out = Vec::new();
    fs.readdir(dir, cookie, &mut |e| {
        out.push((e.meta.name, e.cookie));
        true
    })
    .unwrap();
    out
}

fn create_write_read_and_lookup(fs: &dyn FileSystem) {
    let root = fs.attach("glenda", "").unwrap();
    let f = fs.create(root, b"a", 0o644, "glenda").unwrap();
    assert_eq!(
        (f.uid.as_str(), f.gid.as_str(), f.qid.path),
        ("glenda", "sys", 1)
    );
    assert_eq!(fs.write(f.node(), 3, b"xyz", "bob").unwrap(), 3);
    assert_eq!(fs.read(f.node(), 0, 100).unwrap(), b"\0\0\0xyz");
    assert_eq!(fs.read(f.node(), 6, 100).unwrap(), b"");
    assert_eq!(fs.read(f.node(), 600, 100).unwrap(), b"");
    let m = fs.lookup(root, b"a").unwrap();
    assert_eq!((m.length, m.muid.as_str()), (6, "bob"));
    assert!(m.qid.version > 0);
    assert!(matches!(fs.lookup(root, b"b"), Err(Error::NotFound)));
    assert!(matches!(fs.lookup(f.node(), b"x"), Err(Error::NotDir)));
    assert!(matches!(
        fs.create(root, b"a", 0o644, "x"),
        Err(Error::Exists)
    ));
    assert!(matches!(
        fs.create(root, b"..", 0o644, "x"),
        Err(Error::BadName)
    ));
    assert_eq!(fs.lookup(root, b"..").unwrap().node(), root);
    assert_eq!(fs.parent(f.node()).unwrap().node(), root);
    assert_eq!(fs.parent(root).unwrap().node(), root);
    assert!(matches!(
        fs.write(f.node(), u64::MAX, b"x", "bob"),
        Err(Error::TooLarge)
    ));
    assert!(matches!(fs.read(root, 0, 10), Err(Error::IsDir)));
    assert!(matches!(fs.write(root, 0, b"x", "bob"), Err(Error::IsDir)));
}

fn append_only_writes_at_the_end(fs: &dyn FileSystem) {
    let f = fs.create(0, b"log", DMAPPEND | 0o644, "glenda").unwrap();
    fs.write(f.node(), 0, b"one", "glenda").unwrap();
    fs.write(f.node(), 0, b"two", "glenda").unwrap();
    assert_eq!(fs.read(f.node(), 0, 100).unwrap(), b"onetwo");
}

fn readdir_cookies_survive_changes(fs: &dyn FileSystem) {
    for n in [b"a", b"b", b"c", b"d"] {
        fs.create(0, n, 0o644, "glenda").unwrap();
    }
    let all = names(fs, 0, 0);
    assert_eq!(
        all.iter().map(|e| e.0.as_slice()).collect::<Vec<_>>(),
        [b"a", b"b", b"c", b"d"]
    );
    let after_b = all[1].1;
    fs.remove(fs.lookup(0, b"a").unwrap().node()).unwrap();
    fs.remove(fs.lookup(0, b"c").unwrap().node()).unwrap();
    fs.create(0, b"e", 0o644, "glenda").unwrap();
    let rest: Vec<_> = names(fs, 0, after_b).into_iter().map(|e| e.0).collect();
    // "e" was added meanwhile: it may or may not be listed (it may reuse
    // a freed slot), but "d" is, exactly once.
    assert!(rest == [b"d", b"e"] || rest == [b"d"], "{rest:?}");
}

fn remove_rules(fs: &dyn FileSystem) {
    let d = fs.create(0, b"d", DMDIR | 0o775, "glenda").unwrap();
    let f = fs.create(d.node(), b"f", 0o644, "glenda").unwrap();
    assert!(matches!(fs.remove(d.node()), Err(Error::NotEmpty)));
    assert!(matches!(fs.remove(0), Err(Error::RemoveRoot)));
    fs.remove(f.node()).unwrap();
    fs.remove(d.node()).unwrap();
    assert!(matches!(fs.stat(d.node()), Err(Error::NotFound)));
    assert!(names(fs, 0, 0).is_empty());
}

fn wstat_is_all_or_nothing(fs: &dyn FileSystem) {
    let a = fs.create(0, b"a", 0o644, "glenda").unwrap();
    fs.create(0, b"b", 0o644, "glenda").unwrap();
    let clash = SetMeta {
        name: Some("b".into()),
        mode: Some(0o600),
        ..SetMeta::default()
    };
    assert!(matches!(
        fs.wstat(a.node(), &clash, "glenda"),
        Err(Error::Exists)
    ));
    assert_eq!(fs.stat(a.node()).unwrap().mode, 0o644);
    let dirbit = SetMeta {
        mode: Some(DMDIR | 0o755),
        length: Some(1),
        ..SetMeta::default()
    };
    assert!(matches!(
        fs.wstat(a.node(), &dirbit, "glenda"),
        Err(Error::DirBit)
    ));
    let ok = SetMeta {
        name: Some("c".into()),
        mode: Some(0o600),
        length: Some(4),
        mtime: Some(77.into()),
        gid: Some("adm".into()),
        ..SetMeta::default()
    };
    let m = fs.wstat(a.node(), &ok, "glenda").unwrap();
    assert_eq!(
        (m.name.as_slice(), m.mode, m.length, m.mtime, m.gid.as_str()),
        (&b"c"[..], 0o600, 4, 77, "adm")
    );
    assert_eq!(fs.lookup(0, b"c").unwrap().node(), a.node());
    assert!(matches!(fs.lookup(0, b"a"), Err(Error::NotFound)));
    assert_eq!(fs.read(a.node(), 0, 10).unwrap(), [0; 4]);
    let d = fs.create(0, b"d", DMDIR | 0o755, "glenda").unwrap();
    let grow = SetMeta {
        length: Some(5),
        ..SetMeta::default()
    };
    assert!(matches!(
        fs.wstat(d.node(), &grow, "glenda"),
        Err(Error::DirLength)
    ));
}

fn symlinks_hold_their_target(fs: &dyn FileSystem) {
    let owner = colony_ns::fs::NewFile {
        user: "glenda",
        ..Default::default()
    };
    let l = fs.symlink(0, b"l", b"/x/y", &owner).unwrap();
    assert_eq!(l.qid.ty, QTSYMLINK);
    assert_eq!(fs.readlink(l.node()).unwrap(), b"/x/y");
    let f = fs.create(0, b"f", 0o644, "glenda").unwrap();
    assert!(matches!(fs.readlink(f.node()), Err(Error::NotSymlink)));
}

fn only_length_changes_touch_mtime(fs: &dyn FileSystem) {
    let a = fs.create(0, b"a", 0o644, "glenda").unwrap();
    let set_mtime = SetMeta {
        mtime: Some(1000.into()),
        ..SetMeta::default()
    };
    fs.wstat(a.node(), &set_mtime, "glenda").unwrap();
    for change in [
        SetMeta {
            mode: Some(0o600),
            ..SetMeta::default()
        },
        SetMeta {
            atime: Some(7.into()),
            ..SetMeta::default()
        },
        SetMeta {
            uid: Some("bob".into()),
            name: Some("b".into()),
            ..SetMeta::default()
        },
    ] {
        let before = fs.stat(a.node()).unwrap().qid.version;
        let m = fs.wstat(a.node(), &change, "bob").unwrap();
        assert_eq!((m.mtime, m.muid.as_str()), (1000, "glenda"), "{change:?}");
        assert!(m.qid.version != before);
    }
    let grow = SetMeta {
        length: Some(3),
        ..SetMeta::default()
    };
    let m = fs.wstat(a.node(), &grow, "bob").unwrap();
    assert!(m.mtime > 1000);
    assert_eq!(m.muid, "bob");
}

fn rename_moves_across_directories(fs: &dyn FileSystem) {
    let d1 = fs.create(0, b"d1", DMDIR | 0o775, "glenda").unwrap().node();
    let d2 = fs.create(0, b"d2", DMDIR | 0o775, "glenda").unwrap().node();
    let f = fs.create(d1, b"f", 0o644, "glenda").unwrap().node();
    fs.write(f, 0, b"data", "glenda").unwrap();
    let taken = fs.create(d2, b"taken", 0o644, "glenda").unwrap().node();
    let before = fs.stat(f).unwrap();
    let m = fs.rename(f, d2, b"g", "bob").unwrap();
    assert_eq!((m.node(), m.name.as_slice(), m.length), (f, &b"g"[..], 4));
    assert_ne!(m.qid.version, before.qid.version, "a move is a change");
    assert_eq!((m.mtime, m.muid.as_str()), (before.mtime, "glenda"));
    assert_eq!(fs.lookup(d2, b"g").unwrap().node(), f);
    assert!(matches!(fs.lookup(d1, b"f"), Err(Error::NotFound)));
    assert_eq!(fs.parent(f).unwrap().node(), d2);
    assert_eq!(fs.read(f, 0, 10).unwrap(), b"data");
    assert!(names(fs, d1, 0).is_empty());
    // Never replaces; nothing changes on failure.
    assert!(matches!(
        fs.rename(f, d1, b"x", "bob")
            .and_then(|_| fs.rename(f, d2, b"taken", "bob")),
        Err(Error::Exists)
    ));
    assert_eq!(fs.lookup(d2, b"taken").unwrap().node(), taken);
    assert_eq!(fs.lookup(d1, b"x").unwrap().node(), f);
    // Within its own directory it is a rename by name.
    fs.rename(f, d1, b"y", "bob").unwrap();
    assert_eq!(
        names(fs, d1, 0)
            .into_iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        [b"y"]
    );
    // A directory moves with what it holds, never below itself.
    let sub = fs
        .create(d1, b"sub", DMDIR | 0o775, "glenda")
        .unwrap()
        .node();
    for below in [d1, sub] {
        assert!(matches!(
            fs.rename(d1, below, b"z", "bob"),
            Err(Error::BadName)
        ));
    }
    assert!(matches!(
        fs.rename(f, taken, b"z", "bob"),
        Err(Error::NotDir)
    ));
    assert!(matches!(
        fs.rename(0, d2, b"z", "bob"),
        Err(Error::RemoveRoot)
    ));
    assert!(matches!(
        fs.rename(f, d2, b"a/b", "bob"),
        Err(Error::BadName)
    ));
    fs.rename(d1, d2, b"moved", "bob").unwrap();
    assert_eq!(fs.lookup(d2, b"moved").unwrap().node(), d1);
    assert_eq!(fs.lookup(d1, b"y").unwrap().node(), f);
    assert_eq!(fs.parent(d1).unwrap().node(), d2);
    assert_eq!(
        names(fs, 0, 0).into_iter().map(|e| e.0).collect::<Vec<_>>(),
        [b"d2"]
    );
}

/// A range big enough to be whole blocks on every backend (MemFs pages
/// are 4 KiB, a new Fossil's leaves 8 KiB).
const BLOCK: u64 = 8192;

fn holes_are_found_made_and_free(fs: &dyn FileSystem) {
    let f = fs.create(0, b"sparse", 0o644, "glenda").unwrap().node();
    let d = fs.create(0, b"d", DMDIR | 0o755, "glenda").unwrap().node();
    let before = fs.space().expect("a known space");
    // Data in blocks 8 and 10 of a file 32 blocks long.
    let data = vec![0xa5; BLOCK as usize];
    fs.write(f, 8 * BLOCK, &data, "glenda").unwrap();
    fs.write(f, 10 * BLOCK, &data, "glenda").unwrap();
    let grow = SetMeta {
        length: Some(32 * BLOCK),
        ..SetMeta::default()
    };
    fs.wstat(f, &grow, "glenda").unwrap();
    let used = fs.space().unwrap().used - before.used;
    assert!(
        (2 * BLOCK..8 * BLOCK).contains(&used),
        "{used} bytes for 2 blocks of data"
    );
    let seeks = |fs: &dyn FileSystem| {
        [0, 8 * BLOCK + 1, 9 * BLOCK, 11 * BLOCK, 31 * BLOCK].map(|at| {
            (
                fs.seek_data(f, at, Seek::Data).ok(),
                fs.seek_data(f, at, Seek::Hole).ok(),
            )
        })
    };
    assert_eq!(
        seeks(fs),
        [
            (Some(8 * BLOCK), Some(0)),
            (Some(8 * BLOCK + 1), Some(9 * BLOCK)),
            (Some(10 * BLOCK), Some(9 * BLOCK)),
            (None, Some(11 * BLOCK)),
            (None, Some(31 * BLOCK)),
        ]
    );
    assert!(matches!(
        fs.seek_data(f, 32 * BLOCK, Seek::Hole),
        Err(Error::PastEnd)
    ));
    assert!(matches!(fs.seek_data(d, 0, Seek::Hole), Err(Error::IsDir)));

    // Punch block 8 and the second half of block 10: one block freed, the
    // rest of block 10 kept.
    let v = fs.stat(f).unwrap().qid.version;
    fs.allocate(f, 8 * BLOCK, BLOCK, Allocate::Punch, "bob")
        .unwrap();
    fs.allocate(f, 10 * BLOCK + BLOCK / 2, BLOCK / 2, Allocate::Punch, "bob")
        .unwrap();
    let m = fs.stat(f).unwrap();
    assert_eq!((m.length, m.muid.as_str()), (32 * BLOCK, "bob"));
    assert!(m.qid.version > v);
    assert_eq!(fs.seek_data(f, 0, Seek::Data).unwrap(), 10 * BLOCK);
    let back = fs.read(f, 10 * BLOCK, BLOCK as u32).unwrap();
    assert!(back[..BLOCK as usize / 2].iter().all(|&b| b == 0xa5));
    assert!(back[BLOCK as usize / 2..].iter().all(|&b| b == 0));
    assert!(fs.space().unwrap().used < before.used + used);

    // Zero a range, keeping the size and not; reserve, keeping it and not.
    fs.allocate(
        f,
        10 * BLOCK,
        BLOCK,
        Allocate::Zero { keep_size: true },
        "bob",
    )
    .unwrap();
    assert!(matches!(
        fs.seek_data(f, 0, Seek::Data),
        Err(Error::PastEnd)
    ));
    fs.allocate(
        f,
        30 * BLOCK,
        4 * BLOCK,
        Allocate::Zero { keep_size: false },
        "bob",
    )
    .unwrap();
    assert_eq!(fs.stat(f).unwrap().length, 34 * BLOCK);
    let keep = Allocate::Reserve { keep_size: true };
    fs.allocate(f, 0, 40 * BLOCK, keep, "bob").unwrap();
    assert_eq!(fs.stat(f).unwrap().length, 34 * BLOCK);
    let grow = Allocate::Reserve { keep_size: false };
    fs.allocate(f, 0, 40 * BLOCK, grow, "bob").unwrap();
    assert_eq!(fs.stat(f).unwrap().length, 40 * BLOCK);
    assert!(
        fs.read(f, 0, 40 * BLOCK as u32)
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    );

    assert!(matches!(
        fs.allocate(f, u64::MAX, 2, Allocate::Punch, "bob"),
        Err(Error::TooLarge)
    ));
    assert!(matches!(
        fs.allocate(d, 0, 1, Allocate::Punch, "bob"),
        Err(Error::IsDir)
    ));
}

fn made_files_keep_kind_owner_and_nanoseconds(fs: &dyn FileSystem) {
    use colony_ns::fs::{NewFile, Special, Time};
    use colony_ns::ninep::{DMDEVICE, DMNAMEDPIPE, DMSETUID};
    let new = |perm, special| NewFile {
        perm,
        special,
        user: "4242",
        group: Some("4343"),
        uid_number: Some(4242),
        gid_number: Some(4343),
    };
    let p = fs.make(0, b"p", &new(DMNAMEDPIPE | 0o600, None)).unwrap();
    let s = fs
        .make(0, b"s", &new(0o755, Some(Special::Socket)))
        .unwrap();
    let c = fs
        .make(
            0,
            b"c",
            &new(DMDEVICE | 0o620, Some(Special::CharDevice(0x0103))),
        )
        .unwrap();
    let su = fs.make(0, b"su", &new(DMSETUID | 0o755, None)).unwrap();
    for (m, mode, special) in [
        (&p, DMNAMEDPIPE | 0o600, None),
        (&s, 0o755, Some(Special::Socket)),
        (&c, DMDEVICE | 0o620, Some(Special::CharDevice(0x0103))),
        (&su, DMSETUID | 0o755, None),
    ] {
        let got = fs.stat(m.node()).unwrap();
        assert_eq!((got.mode, got.special), (mode, special), "{:?}", got.name);
        assert_eq!((got.uid_number, got.gid_number), (Some(4242), Some(4343)));
        assert_eq!((got.uid.as_str(), got.gid.as_str()), ("4242", "4343"));
    }
    // Without a group, the directory's, by name and number.
    let plain = NewFile {
        perm: 0o644,
        user: "bob",
        ..NewFile::default()
    };
    assert_eq!(fs.make(0, b"f", &plain).unwrap().gid, "sys");
    let t = Time {
        secs: 1_000_000_000,
        nsec: 123_456_789,
    };
    let change = SetMeta {
        mtime: Some(t),
        atime: Some(Time { nsec: 1, ..t }),
        uid: Some("root".into()),
        uid_number: Some(0),
        ..SetMeta::default()
    };
    let before = fs.stat(su.node()).unwrap();
    let m = fs.wstat(su.node(), &change, "root").unwrap();
    assert_eq!(
        (m.mtime, m.nsec.mtime, m.atime, m.nsec.atime),
        (t.secs, t.nsec, t.secs, 1)
    );
    assert_eq!(
        (m.uid.as_str(), m.uid_number, m.gid_number),
        ("root", Some(0), Some(4343))
    );
    assert!(
        (m.ctime, m.nsec.ctime) >= (before.ctime, before.nsec.ctime),
        "a change moves ctime"
    );
    // A name alone: its digits, or no number.
    let named = SetMeta {
        uid: Some("glenda".into()),
        gid: Some("77".into()),
        ..SetMeta::default()
    };
    let m = fs.wstat(su.node(), &named, "root").unwrap();
    assert_eq!((m.uid_number, m.gid_number), (None, Some(77)));
}

fn extended_attributes_follow_their_rules(fs: &dyn FileSystem) {
    use colony_ns::fs::XattrMode;
    let f = fs.create(0, b"f", 0o644, "glenda").unwrap().node();
    assert!(fs.listxattr(f).unwrap().is_empty());
    fs.setxattr(f, b"user.a", b"1", XattrMode::Create).unwrap();
    fs.setxattr(f, b"user.b", b"", XattrMode::Any).unwrap();
    assert!(matches!(
        fs.setxattr(f, b"user.a", b"2", XattrMode::Create),
        Err(Error::Exists)
    ));
    assert!(matches!(
        fs.setxattr(f, b"user.c", b"2", XattrMode::Replace),
        Err(Error::NoAttr)
    ));
    fs.setxattr(f, b"user.a", b"2", XattrMode::Replace).unwrap();
    assert_eq!(fs.getxattr(f, b"user.a").unwrap(), b"2");
    let mut names = fs.listxattr(f).unwrap();
    names.sort();
    assert_eq!(names, [b"user.a".to_vec(), b"user.b".to_vec()]);
    assert!(matches!(
        fs.setxattr(f, b"user.big", &[0; 4000], XattrMode::Any),
        Err(Error::NoSpace)
    ));
    assert!(matches!(
        fs.setxattr(f, &[b'n'; 256], b"", XattrMode::Any),
        Err(Error::BadXattrName(256))
    ));
    fs.removexattr(f, b"user.a").unwrap();
    assert!(matches!(fs.getxattr(f, b"user.a"), Err(Error::NoAttr)));
    assert!(matches!(fs.removexattr(f, b"user.a"), Err(Error::NoAttr)));
}

fn renames_over_a_name_and_exchanges(fs: &dyn FileSystem) {
    use colony_ns::fs::RenameMode;
    let d = fs.create(0, b"d", DMDIR | 0o775, "glenda").unwrap().node();
    let a = fs.create(0, b"a", 0o644, "glenda").unwrap().node();
    let b = fs.create(d, b"b", 0o644, "glenda").unwrap().node();
    let e = fs.create(0, b"e", DMDIR | 0o775, "glenda").unwrap().node();
    assert!(matches!(
        fs.rename_as(a, d, b"b", RenameMode::NoReplace, "glenda"),
        Err(Error::Exists)
    ));
    fs.rename_as(a, d, b"b", RenameMode::Exchange, "glenda")
        .unwrap();
    assert_eq!(fs.lookup(d, b"b").unwrap().node(), a);
    assert_eq!(fs.lookup(0, b"a").unwrap().node(), b);
    assert_eq!(fs.parent(b).unwrap().node(), 0);
    assert!(matches!(
        fs.rename_as(a, 0, b"none", RenameMode::Exchange, "glenda"),
        Err(Error::NotFound)
    ));
    // Replacing: a file only a file, a directory only an empty one.
    assert!(matches!(
        fs.rename_as(e, 0, b"a", RenameMode::Replace, "glenda"),
        Err(Error::NotDir)
    ));
    assert!(matches!(
        fs.rename_as(b, 0, b"d", RenameMode::Replace, "glenda"),
        Err(Error::IsDir)
    ));
    let full = fs
        .create(0, b"full", DMDIR | 0o775, "glenda")
        .unwrap()
        .node();
    fs.create(full, b"x", 0o644, "glenda").unwrap();
    assert!(matches!(
        fs.rename_as(e, 0, b"full", RenameMode::Replace, "glenda"),
        Err(Error::NotEmpty)
    ));
    fs.rename_as(b, d, b"b", RenameMode::Replace, "glenda")
        .unwrap();
    assert_eq!(fs.lookup(d, b"b").unwrap().node(), b);
    assert!(
        matches!(fs.stat(a), Err(Error::NotFound)),
        "the replaced file is gone"
    );
    assert!(matches!(fs.lookup(0, b"a"), Err(Error::NotFound)));
}

fn hard_links_share_one_file(fs: &dyn FileSystem) {
    use colony_ns::fs::RenameMode;
    let root = fs.attach("glenda", "").unwrap();
    let d = fs
        .create(root, b"d", DMDIR | 0o755, "glenda")
        .unwrap()
        .node();
    let f = fs.create(root, b"f", 0o644, "glenda").unwrap().node();
    fs.write(f, 0, b"one", "glenda").unwrap();
    assert_eq!(fs.stat(f).unwrap().nlink, 1);
    let g = fs.link(f, d, b"g").unwrap();
    assert_eq!((g.node(), g.nlink), (f, 2));
    assert!(matches!(fs.link(d, root, b"d2"), Err(Error::IsDir)));
    assert!(matches!(fs.link(f, root, b"d"), Err(Error::Exists)));
    // One file: a write through one name shows through the other.
    fs.write(fs.lookup(d, b"g").unwrap().node(), 3, b" two", "glenda")
        .unwrap();
    assert_eq!(fs.read(f, 0, 100).unwrap(), b"one two");
    let g = fs.lookup(d, b"g").unwrap();
    assert_eq!((g.name.as_slice(), g.nlink), (&b"g"[..], 2));
    assert_eq!(
        names(fs, d, 0).first().map(|n| n.0.as_slice()),
        Some(&b"g"[..])
    );
    // A name moves alone; renaming one name over another is a no-op.
    fs.rename_at((d, b"g"), (d, b"h"), RenameMode::NoReplace, "glenda")
        .unwrap();
    assert_eq!(fs.lookup(root, b"f").unwrap().node(), f);
    assert_eq!(fs.lookup(d, b"h").unwrap().node(), f);
    fs.rename_at((root, b"f"), (d, b"h"), RenameMode::Replace, "glenda")
        .unwrap();
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
    // Unlinking one name keeps the file; the last name removes it.
    fs.unlink(root, b"f").unwrap();
    assert!(matches!(fs.lookup(root, b"f"), Err(Error::NotFound)));
    let h = fs.lookup(d, b"h").unwrap();
    assert_eq!((h.node(), h.nlink, h.name.as_slice()), (f, 1, &b"h"[..]));
    assert_eq!(fs.read(f, 0, 100).unwrap(), b"one two");
    // A dpkg backup: link the old file aside, rename a new one over it.
    fs.link(f, d, b"h-old").unwrap();
    let new = fs.create(d, b"h-new", 0o644, "glenda").unwrap().node();
    fs.write(new, 0, b"new", "glenda").unwrap();
    fs.rename_at((d, b"h-new"), (d, b"h"), RenameMode::Replace, "glenda")
        .unwrap();
    assert_eq!(
        fs.read(fs.lookup(d, b"h").unwrap().node(), 0, 9).unwrap(),
        b"new"
    );
    let old = fs.lookup(d, b"h-old").unwrap();
    assert_eq!((old.node(), old.nlink), (f, 1));
    fs.unlink(d, b"h-old").unwrap();
    assert!(matches!(fs.stat(f), Err(Error::NotFound)));
}

fn removed_files_are_kept_for_their_holders(fs: &dyn FileSystem) {
    assert!(fs.keep_removed());
    let f = fs.create(0, b"f", 0o644, "glenda").unwrap().node();
    fs.write(f, 0, b"still here", "glenda").unwrap();
    fs.remove(f).unwrap();
    assert!(matches!(fs.lookup(0, b"f"), Err(Error::NotFound)));
    // By id it reads, writes and changes, as an unlinked open file does;
    // it cannot be named again or removed twice.
    assert_eq!(fs.read(f, 0, 100).unwrap(), b"still here");
    fs.write(f, 0, b"S", "glenda").unwrap();
    assert_eq!(fs.stat(f).unwrap().length, 10);
    let grow = SetMeta {
        length: Some(20),
        ..SetMeta::default()
    };
    assert_eq!(fs.wstat(f, &grow, "glenda").unwrap().length, 20);
    let rename = SetMeta {
        name: Some("back".into()),
        ..SetMeta::default()
    };
    assert!(matches!(
        fs.wstat(f, &rename, "glenda"),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        fs.rename(f, 0, b"back", "glenda"),
        Err(Error::NotFound)
    ));
    assert!(matches!(fs.remove(f), Err(Error::NotFound)));
    assert!(matches!(fs.lookup(0, b"back"), Err(Error::NotFound)));
    // A name taken again is another file.
    let g = fs.create(0, b"f", 0o644, "glenda").unwrap().node();
    assert_ne!(g, f);
    fs.forget(g);
    assert!(fs.stat(g).is_ok(), "forgetting a live file changes nothing");
    fs.forget(f);
    assert!(matches!(fs.stat(f), Err(Error::NotFound)));
}

/// Names and symlink targets are bytes, as Linux has them: what is not
/// UTF-8 is created, listed, looked up, renamed, linked and read back
/// exactly.
fn names_are_bytes(fs: &dyn FileSystem) {
    let owner = colony_ns::fs::NewFile {
        user: "glenda",
        ..Default::default()
    };
    let f = fs.create(0, b"caf\xe9", 0o644, "glenda").unwrap();
    assert_eq!(f.name, b"caf\xe9");
    fs.write(f.node(), 0, b"latin-1", "glenda").unwrap();
    let d = fs.create(0, b"\xff\xfe", DMDIR | 0o755, "glenda").unwrap();
    let l = fs
        .symlink(d.node(), b"l\x80", b"../caf\xe9", &owner)
        .unwrap();
    assert_eq!(fs.readlink(l.node()).unwrap(), b"../caf\xe9");
    assert_eq!(fs.lookup(0, b"caf\xe9").unwrap().node(), f.node());
    assert!(matches!(fs.lookup(0, b"caf\xc3\xa9"), Err(Error::NotFound)));
    let mut listed: Vec<Vec<u8>> = names(fs, 0, 0).into_iter().map(|e| e.0).collect();
    listed.sort();
    assert_eq!(listed, [b"caf\xe9".to_vec(), b"\xff\xfe".to_vec()]);
    assert_eq!(names(fs, d.node(), 0)[0].0, b"l\x80");
    // Rename within and across directories, and a rename by wstat.
    let m = fs
        .rename(f.node(), d.node(), b"\xe9t\xe9", "glenda")
        .unwrap();
    assert_eq!(m.name, b"\xe9t\xe9");
    let change = SetMeta {
        name: Some(b"hiver\xa0".to_vec()),
        ..SetMeta::default()
    };
    assert_eq!(
        fs.wstat(f.node(), &change, "glenda").unwrap().name,
        b"hiver\xa0"
    );
    assert!(matches!(
        fs.lookup(d.node(), b"\xe9t\xe9"),
        Err(Error::NotFound)
    ));
    assert_eq!(fs.read(f.node(), 0, 100).unwrap(), b"latin-1");
    // A hard link's name and its unlinking.
    let g = fs.link(f.node(), 0, b"\x01\x7f\xc0").unwrap();
    assert_eq!((g.node(), g.nlink), (f.node(), 2));
    assert_eq!(fs.lookup(0, b"\x01\x7f\xc0").unwrap().node(), f.node());
    fs.unlink(d.node(), b"hiver\xa0").unwrap();
    assert_eq!(fs.stat(f.node()).unwrap().nlink, 1);
    assert_eq!(fs.read(f.node(), 0, 100).unwrap(), b"latin-1");
}

/// A name with '/' or NUL, empty, "." or "..", is illegal; one longer than
/// NAME_MAX bytes is too long; wherever a name is given.
fn malformed_names_are_refused_precisely(fs: &dyn FileSystem) {
    let f = fs.create(0, b"f", 0o644, "glenda").unwrap();
    let long = [b'x'; colony_ns::fs::NAME_MAX + 1];
    let longest = [b'y'; colony_ns::fs::NAME_MAX];
    for (bad, want) in [
        (&b"a/b"[..], es::BAD_NAME),
        (b"a\0b", es::BAD_NAME),
        (b"", es::BAD_NAME),
        (b".", es::BAD_NAME),
        (&long[..], es::FILE_NAME_TOO_LONG),
    ] {
        let shown = bad.escape_ascii();
        let create = fs.create(0, bad, 0o644, "glenda").unwrap_err();
        assert_eq!(create.to_string(), want, "create {shown}");
        let rename = fs.rename(f.node(), 0, bad, "glenda").unwrap_err();
        assert_eq!(rename.to_string(), want, "rename {shown}");
        let link = fs.link(f.node(), 0, bad).unwrap_err();
        assert_eq!(link.to_string(), want, "link {shown}");
        let change = SetMeta {
            name: Some(bad.to_vec()),
            ..SetMeta::default()
        };
        let wstat = fs.wstat(f.node(), &change, "glenda").unwrap_err();
        assert_eq!(wstat.to_string(), want, "wstat {shown}");
    }
    assert_eq!(fs.stat(f.node()).unwrap().name, b"f", "nothing renamed");
    let m = fs.rename(f.node(), 0, &longest, "glenda").unwrap();
    assert_eq!(m.name, longest);
}
