//! What colony's vac extension keeps (`colony_fossil::extension`): every
//! file type, numeric owners, set-id bits, nanosecond times and extended
//! attributes survive a save and a reopen; renames over a name and
//! exchanges are whole in every saved snapshot.

use std::sync::Arc;

use colony_fossil::Error;
use colony_fossil::extension::{Special, XattrMode};
use colony_fossil::fossil::{
    DMDEVICE, DMDIR, DMNAMEDPIPE, DMSETGID, DMSETUID, DMSETVTX, Fossil, FossilOptions, NewFile,
    RenameMode, SetMeta, Time,
};
use colony_venti::MemStore;

fn empty() -> (Arc<MemStore>, Fossil) {
    let store = Arc::new(MemStore::new());
    let fs = Fossil::create_empty(store.clone(), FossilOptions::default()).unwrap();
    (store, fs)
}

fn lookup(fs: &Fossil, path: &str) -> u64 {
    path.split('/')
        .fold(fs.root(), |d, n| fs.lookup(d, n.as_bytes()).unwrap().node())
}

#[test]
fn every_extension_survives_save_and_reopen() {
    let (store, fs) = empty();
    let owner = |perm, special| NewFile {
        perm,
        special,
        user: "4242",
        group: Some("staff"),
        uid_number: Some(4242),
        gid_number: Some(50),
    };
    let root = fs.root();
    let dir = fs
        .make(
            root,
            b"d",
            &owner(DMDIR | DMSETGID | DMSETVTX | 0o775, None),
        )
        .unwrap();
    fs.make(root, b"p", &owner(DMNAMEDPIPE | 0o600, None))
        .unwrap();
    fs.make(root, b"s", &owner(0o755, Some(Special::Socket)))
        .unwrap();
    let null = Special::CharDevice(nix_makedev(1, 3));
    let disk = Special::BlockDevice(nix_makedev(259, 65536));
    fs.make(root, b"c", &owner(DMDEVICE | 0o666, Some(null)))
        .unwrap();
    fs.make(dir.node(), b"b", &owner(DMDEVICE | 0o660, Some(disk)))
        .unwrap();
    let su = fs
        .make(root, b"su", &owner(DMSETUID | 0o4755, None))
        .unwrap();
    fs.write(su.node(), 0, b"#!/bin/sh\n", "4242").unwrap();
    let t = Time {
        secs: 1_000_000_000,
        nsec: 123_456_789,
    };
    let change = SetMeta {
        atime: Some(Time { nsec: 1, ..t }),
        mtime: Some(t),
        uid: Some("root".into()),
        uid_number: Some(0),
        ..SetMeta::default()
    };
    fs.wstat(su.node(), &change, "root").unwrap();
    fs.setxattr(su.node(), b"user.a", b"1", XattrMode::Create)
        .unwrap();
    fs.setxattr(
        su.node(),
        b"security.capability",
        &[1, 2, 3],
        XattrMode::Any,
    )
    .unwrap();
    fs.setxattr(dir.node(), b"trusted.x", b"", XattrMode::Any)
        .unwrap();
    let before: Vec<_> = ["d", "p", "s", "c", "d/b", "su"]
        .iter()
        .map(|p| fs.stat(lookup(&fs, p)).unwrap())
        .collect();

    let score = fs.save().unwrap();
    let again = Fossil::open(store, score, FossilOptions::default()).unwrap();
    for (path, was) in ["d", "p", "s", "c", "d/b", "su"].iter().zip(&before) {
        let now = again.stat(lookup(&again, path)).unwrap();
        // Node ids are qids, kept; everything else too.
        assert_eq!(&now, was, "{path}");
    }
    let su = again.stat(lookup(&again, "su")).unwrap();
    assert_eq!((su.uid_number, su.gid_number), (Some(0), Some(50)));
    assert_eq!(
        (su.mtime, su.nsec.mtime, su.nsec.atime),
        (1_000_000_000, 123_456_789, 1)
    );
    assert_eq!(su.mode & (DMSETUID | 0o777), DMSETUID | 0o755);
    assert_eq!(
        again.stat(lookup(&again, "d/b")).unwrap().special,
        Some(disk)
    );
    assert_eq!(again.getxattr(su.node(), b"user.a").unwrap(), b"1");
    let mut names = again.listxattr(su.node()).unwrap();
    names.sort();
    assert_eq!(names, [b"security.capability".to_vec(), b"user.a".to_vec()]);
    assert!(matches!(
        again.getxattr(su.node(), b"user.b"),
        Err(Error::NoAttr)
    ));
    assert_eq!(
        again.listxattr(lookup(&again, "d")).unwrap(),
        [b"trusted.x".to_vec()]
    );
}

fn nix_makedev(major: u64, minor: u64) -> u64 {
    // glibc's dev_t layout.
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

#[test]
fn renames_over_a_name_are_whole_in_every_snapshot() {
    let (store, fs) = empty();
    let root = fs.root();
    let old = fs.create(root, b"target", 0o644, "u").unwrap();
    fs.write(old.node(), 0, b"old", "u").unwrap();
    let new = fs.create(root, b"tmp", 0o644, "u").unwrap();
    fs.write(new.node(), 0, b"new", "u").unwrap();
    let d = fs.create(root, b"d", DMDIR | 0o755, "u").unwrap();
    let other = fs.create(d.node(), b"other", 0o644, "u").unwrap();
    fs.write(other.node(), 0, b"other", "u").unwrap();
    fs.save().unwrap();

    assert!(matches!(
        fs.rename_as(new.node(), root, b"target", RenameMode::NoReplace, "u"),
        Err(Error::Exists)
    ));
    fs.rename_as(new.node(), root, b"target", RenameMode::Replace, "u")
        .unwrap();
    let s1 = fs.save().unwrap();
    fs.rename_as(other.node(), root, b"target", RenameMode::Exchange, "u")
        .unwrap();
    let s2 = fs.save().unwrap();
    assert!(matches!(
        fs.rename_as(other.node(), root, b"absent", RenameMode::Exchange, "u"),
        Err(Error::NotFound)
    ));
    // A directory replaces only an empty directory, a file only a file.
    let e = fs.create(root, b"e", DMDIR | 0o755, "u").unwrap();
    assert!(matches!(
        fs.rename_as(e.node(), root, b"d", RenameMode::Replace, "u"),
        Err(Error::NotEmpty)
    ));
    assert!(matches!(
        fs.rename_as(e.node(), root, b"target", RenameMode::Replace, "u"),
        Err(Error::NotDir)
    ));

    let read = |score, path: &str| {
        let f = Fossil::open(store.clone(), score, FossilOptions::default()).unwrap();
        let n = lookup(&f, path);
        f.read(n, 0, 100).unwrap()
    };
    assert_eq!(read(s1, "target"), b"new");
    assert!(
        Fossil::open(store.clone(), s1, FossilOptions::default())
            .unwrap()
            .lookup(0, b"tmp")
            .is_err()
    );
    assert_eq!(read(s2, "target"), b"other");
    assert_eq!(read(s2, "d/other"), b"new");
}

/// A tree with what Linux has beyond vac, archived with `linux`, reads
/// back through a Fossil with all of it; `/` is the tree's top.
#[test]
fn vac_with_linux_keeps_what_linux_has() {
    use std::os::unix::fs::{PermissionsExt, chown};
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("top");
    std::fs::create_dir(&top).unwrap();
    std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o1755)).unwrap();
    let su = top.join("su");
    std::fs::write(&su, b"x").unwrap();
    let root = nix::unistd::geteuid().is_root();
    if root {
        chown(&su, Some(4242), Some(4343)).unwrap();
    }
    // After the chown, which clears set-id bits.
    std::fs::set_permissions(&su, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let when = filetime::FileTime::from_unix_time(1_000_000_000, 123_456_789);
    filetime::set_symlink_file_times(&su, when, when).unwrap();
    nix::unistd::mkfifo(
        &top.join("p"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(top.join("s")).unwrap();
    let c = std::ffi::CString::new(su.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated strings and a live buffer.
    let set = unsafe {
        nix::libc::setxattr(
            c.as_ptr(),
            c"user.note".as_ptr(),
            b"kept".as_ptr().cast(),
            4,
            0,
        )
    };
    let xattrs = set == 0; // the temporary directory's file system may have none

    let store = Arc::new(MemStore::new());
    let options = colony_fossil::vac::VacOptions {
        top: colony_fossil::vac::Top::Contents,
        linux: true,
        ..Default::default()
    };
    let imported = colony_fossil::vac::import_path(&*store, &top, &options, &mut |_| {}).unwrap();
    assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
    let fs = Fossil::open(store.clone(), imported.score, FossilOptions::default()).unwrap();
    let slash = fs.stat(fs.root()).unwrap();
    assert_eq!(
        slash.mode & (DMSETVTX | 0o777),
        DMSETVTX | 0o755,
        "/ is the top"
    );
    let m = fs.stat(lookup(&fs, "su")).unwrap();
    assert_eq!(m.mode & (DMSETUID | 0o777), DMSETUID | 0o755);
    assert_eq!((m.mtime, m.nsec.mtime), (1_000_000_000, 123_456_789));
    if root {
        assert_eq!((m.uid_number, m.gid_number), (Some(4242), Some(4343)));
        assert_eq!(
            (m.uid.as_str(), m.gid.as_str()),
            ("4242", "4343"),
            "no names here"
        );
    }
    assert_ne!(fs.stat(lookup(&fs, "p")).unwrap().mode & DMNAMEDPIPE, 0);
    assert_eq!(
        fs.stat(lookup(&fs, "s")).unwrap().special,
        Some(Special::Socket)
    );
    if xattrs {
        assert_eq!(fs.getxattr(m.node(), b"user.note").unwrap(), b"kept");
    }

    // unvac brings it all back.
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let out = tempfile::tempdir().unwrap();
    let done = colony_fossil::unvac::export(
        &*store,
        &imported.score,
        out.path(),
        &Default::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(done.errors.is_empty(), "{:?}", done.errors);
    let su = std::fs::symlink_metadata(out.path().join("su")).unwrap();
    assert_eq!((su.mtime(), su.mtime_nsec()), (1_000_000_000, 123_456_789));
    if root {
        assert_eq!(
            (su.uid(), su.gid(), su.mode() & 0o7777),
            (4242, 4343, 0o4755)
        );
    }
    assert!(
        std::fs::symlink_metadata(out.path().join("p"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(
        std::fs::symlink_metadata(out.path().join("s"))
            .unwrap()
            .file_type()
            .is_socket()
    );
    if xattrs {
        let c =
            std::ffi::CString::new(out.path().join("su").as_os_str().as_encoded_bytes()).unwrap();
        let mut buf = [0u8; 16];
        // SAFETY: NUL-terminated strings and a live buffer.
        let n = unsafe {
            nix::libc::getxattr(
                c.as_ptr(),
                c"user.note".as_ptr(),
                buf.as_mut_ptr().cast(),
                16,
            )
        };
        assert_eq!(&buf[..n.max(0) as usize], b"kept");
    }
}

/// Files removed while held (`keep_removed`, as a FUSE mount asks) take
/// writes and changes, and a save goes on past them and past the removed
/// directories they were in, even once those are forgotten.
#[test]
fn a_kept_removed_file_never_stops_a_save() {
    let (store, fs) = empty();
    fs.keep_removed();
    let d = fs
        .create(fs.root(), b"d", DMDIR | 0o755, "u")
        .unwrap()
        .node();
    let f = fs.create(d, b"f", 0o644, "u").unwrap().node();
    fs.write(f, 0, b"held", "u").unwrap();
    fs.remove(f).unwrap();
    fs.remove(d).unwrap();
    fs.forget(d);
    fs.write(f, 4, b" on", "u").unwrap();
    let later = SetMeta {
        mtime: Some(Time::from(7)),
        ..SetMeta::default()
    };
    fs.wstat(f, &later, "u").unwrap();
    assert_eq!(fs.read(f, 0, 10).unwrap(), b"held on");
    let score = fs.save().unwrap();
    let again = Fossil::open(store, score, FossilOptions::default()).unwrap();
    assert!(again.lookup(again.root(), b"d").is_err());
    fs.forget(f);
    assert!(matches!(fs.stat(f), Err(Error::NotFound)));
}
