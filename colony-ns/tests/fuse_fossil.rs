//! The same real programs in a FUSE mount of a live Fossil over an
//! in-memory venti store, and `df` on such a mount.

#[macro_use]
mod fuse_programs;

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use colony_fossil::{Fossil, FossilOptions};
use colony_ns::fuse::{MountOptions, mount};
use colony_ns::{FileSystem, FossilFs};
use colony_venti::MemStore;
use fuse_programs::{have, mount_dir, sh};

fn fossil_with(local_limit: u64) -> Arc<dyn FileSystem> {
    let options = FossilOptions {
        owner: "root".into(),
        local_limit,
        ..FossilOptions::default()
    };
    let fossil = Fossil::create_empty(Arc::new(MemStore::new()), options).expect("empty fossil");
    Arc::new(FossilFs::new(Arc::new(fossil)))
}

fn fossil() -> Arc<dyn FileSystem> {
    fossil_with(FossilOptions::default().local_limit)
}

program_tests!(@linux fossil);

/// `df` on the mount shows the live Fossil's local store: its configured
/// limit as the size, use that grows with writes but not with holes, and
/// as available the limit less what is in no block store yet.
#[test]
fn df_reports_the_local_store() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    if !have("df") {
        return;
    }
    const MIB: u64 = 1 << 20;
    let h = mount(fossil_with(256 * MIB), &mnt, &MountOptions::default()).unwrap();
    let df = || -> [u64; 3] {
        let out = sh(&mnt, "df -B1 --output=size,used,avail .");
        let line = out.lines().nth(1).expect("df's line");
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        [v[0], v[1], v[2]]
    };
    let [size, used, avail] = df();
    assert_eq!(size, 256 * MIB);
    assert!(used + avail >= size, "{used} {avail}");
    // Still open, so no close has asked for anything to be made durable.
    let mut f = std::fs::File::create(mnt.join("data")).unwrap();
    f.write_all(&vec![1; 8 * MIB as usize]).unwrap();
    let [size2, used2, avail2] = df();
    assert_eq!(size2, size);
    assert!(used2 >= used + 8 * MIB, "{used} then {used2}");
    assert!(avail2 <= avail - 8 * MIB, "{avail} then {avail2}");
    // A byte at 1 GiB and a length of 10 GiB: a few pointer blocks.
    let g = std::fs::File::create(mnt.join("sparse")).unwrap();
    g.write_all_at(b"x", 1 << 30).unwrap();
    g.set_len(10 << 30).unwrap();
    let [_, used3, _] = df();
    assert!(used3 < used2 + MIB, "{used2} then {used3}");
    drop((f, g));
    h.unmount().unwrap();
}

/// Hard links made through a mount survive a save and a reopen: one inode,
/// its link count, every name current, in a directory not visited since.
#[test]
fn hard_links_survive_save_and_reopen() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    let store = Arc::new(MemStore::new());
    let options = FossilOptions {
        owner: "root".into(),
        ..FossilOptions::default()
    };
    let fossil = Arc::new(Fossil::create_empty(store.clone(), options.clone()).unwrap());
    let h = mount(
        Arc::new(FossilFs::new(fossil.clone())),
        &mnt,
        &MountOptions::default(),
    )
    .unwrap();
    sh(
        &mnt,
        "mkdir -p a b/c && echo one > a/f && ln a/f b/c/g && ln a/f h",
    );
    h.unmount().unwrap();
    let score = fossil.save().unwrap();
    // Reopened: write through one name only, save, reopen again.
    let fossil = Arc::new(Fossil::open(store.clone(), score, options.clone()).unwrap());
    let h = mount(
        Arc::new(FossilFs::new(fossil.clone())),
        &mnt,
        &MountOptions::default(),
    )
    .unwrap();
    sh(&mnt, "echo two >> h && rm a/f");
    h.unmount().unwrap();
    let score = fossil.save().unwrap();
    let fossil = Arc::new(Fossil::open(store, score, options).unwrap());
    let h = mount(
        Arc::new(FossilFs::new(fossil)),
        &mnt,
        &MountOptions::default(),
    )
    .unwrap();
    let out = sh(
        &mnt,
        "cat b/c/g && stat -c '%h' b/c/g h && test ! -e a/f
         test \"$(stat -c %i b/c/g)\" = \"$(stat -c %i h)\" && echo same inode",
    );
    assert_eq!(out, "one\ntwo\n2\n2\nsame inode\n");
    h.unmount().unwrap();
}

/// Names and a symlink target that are not UTF-8, made by programs in a
/// mount, are the same bytes after a save and a reopen.
#[test]
fn byte_names_survive_save_and_reopen() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    if !["ls", "od", "readlink"].iter().all(|p| have(p)) {
        return;
    }
    survives_save_and_reopen(
        &mnt,
        fuse_programs::programs::make_byte_names,
        fuse_programs::programs::check_byte_names,
    );
}

/// A sparse file's few stored blocks (`st_blocks`, `du`) are still few
/// after a save and a reopen, where its holes are absent pointers.
#[test]
fn sparse_blocks_survive_save_and_reopen() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    if !have("du") {
        return;
    }
    survives_save_and_reopen(
        &mnt,
        fuse_programs::programs::sparse_and_dense,
        fuse_programs::programs::check_sparse_and_dense,
    );
}

/// `make` on a mounted new Fossil; then, after a save and a reopen of
/// the snapshot, `check` on it mounted again.
fn survives_save_and_reopen(mnt: &Path, make: fn(&Path), check: fn(&Path)) {
    let store = Arc::new(MemStore::new());
    let options = FossilOptions {
        owner: "root".into(),
        ..FossilOptions::default()
    };
    let fossil = Arc::new(Fossil::create_empty(store.clone(), options.clone()).unwrap());
    let serve = |fossil: &Arc<Fossil>| {
        let fs = Arc::new(FossilFs::new(fossil.clone()));
        mount(fs, mnt, &MountOptions::default()).unwrap()
    };
    let h = serve(&fossil);
    make(mnt);
    h.unmount().unwrap();
    let score = fossil.save().unwrap();
    let h = serve(&Arc::new(Fossil::open(store, score, options).unwrap()));
    check(mnt);
    h.unmount().unwrap();
}

/// The same programs with the options an environment's root is mounted
/// with: the kernel's write-back cache and long-lived names and attributes.
mod sole_writer {
    use super::*;

    program_tests!(@linux fossil, colony_ns::fuse::MountOptions::sole_writer);
}
