//! Hard links in the live file system: several names of one file, kept
//! across saves and reopens, in directories not visited since the open,
//! and seen by plan9port's readers as copies.

mod common;

use std::sync::Arc;

use common::export;

use colony_fossil::Error;
use colony_fossil::fossil::{DMDIR, Fossil, FossilOptions, NodeId, RenameMode};
use colony_venti::{MemStore, Score};

const U: &str = "glenda";

fn new_fs(store: &Arc<MemStore>) -> Fossil {
    Fossil::create_empty(store.clone(), FossilOptions::default()).unwrap()
}

fn open(store: &Arc<MemStore>, score: Score) -> Fossil {
    Fossil::open(store.clone(), score, FossilOptions::default()).unwrap()
}

fn walk(fs: &Fossil, path: &str) -> NodeId {
    let mut at = fs.root();
    for name in path.split('/') {
        at = fs.lookup(at, name.as_bytes()).unwrap().qid.path;
    }
    at
}

fn read_all(fs: &Fossil, path: &str) -> Vec<u8> {
    let n = walk(fs, path);
    let len = fs.stat(n).unwrap().length;
    fs.read(n, 0, len as u32).unwrap()
}

/// `a/f` holding "one", linked as `b/c/g`.
fn linked(store: &Arc<MemStore>) -> (Fossil, NodeId) {
    let fs = new_fs(store);
    let a = fs.create(fs.root(), b"a", DMDIR | 0o755, U).unwrap().node();
    let b = fs.create(fs.root(), b"b", DMDIR | 0o755, U).unwrap().node();
    let c = fs.create(b, b"c", DMDIR | 0o755, U).unwrap().node();
    let f = fs.create(a, b"f", 0o644, U).unwrap().node();
    fs.write(f, 0, b"one", U).unwrap();
    let m = fs.link(f, c, b"g").unwrap();
    assert_eq!(m.nlink, 2);
    (fs, f)
}

#[test]
fn both_names_are_one_file() {
    let store = Arc::new(MemStore::new());
    let (fs, f) = linked(&store);
    let g = fs.lookup(walk(&fs, "b/c"), b"g").unwrap();
    assert_eq!(g.node(), f, "one inode");
    assert_eq!(g.name, b"g");
    assert_eq!(g.nlink, 2);
    fs.write(g.node(), 3, b" two", U).unwrap();
    assert_eq!(read_all(&fs, "a/f"), b"one two");
    assert!(matches!(
        fs.link(walk(&fs, "a"), fs.root(), b"x"),
        Err(Error::IsDir)
    ));
    assert!(matches!(
        fs.link(f, walk(&fs, "b"), b"c"),
        Err(Error::Exists)
    ));
    let mut seen = Vec::new();
    fs.readdir(walk(&fs, "b/c"), 0, &mut |e| {
        seen.push((e.meta.name, e.meta.nlink, e.meta.qid.path));
        true
    })
    .unwrap();
    assert_eq!(seen, vec![(b"g".to_vec(), 2, f)]);
}

#[test]
fn every_name_is_current_after_save_even_unvisited() {
    let store = Arc::new(MemStore::new());
    let (fs, _) = linked(&store);
    let s1 = fs.save().unwrap();
    // Reopen, write through a/f only: b/c is never loaded.
    let fs = open(&store, s1);
    let f = walk(&fs, "a/f");
    fs.write(f, 0, b"ONE", U).unwrap();
    let s2 = fs.save().unwrap();
    let fs = open(&store, s2);
    assert_eq!(read_all(&fs, "b/c/g"), b"ONE");
    let g = fs.lookup(walk(&fs, "b/c"), b"g").unwrap();
    assert_eq!(g.nlink, 2);
    assert_eq!(g.node(), walk(&fs, "a/f"));
    // plan9port sees two copies with the current contents.
    let out = export(&store, &s2);
    assert_eq!(std::fs::read(out.path().join("a/f")).unwrap(), b"ONE");
    assert_eq!(std::fs::read(out.path().join("b/c/g")).unwrap(), b"ONE");
}

#[test]
fn unlinking_one_name_keeps_the_other() {
    let store = Arc::new(MemStore::new());
    let (fs, f) = linked(&store);
    fs.unlink(walk(&fs, "a"), b"f").unwrap();
    assert!(matches!(
        fs.lookup(walk(&fs, "a"), b"f"),
        Err(Error::NotFound)
    ));
    let g = fs.stat(f).unwrap();
    assert_eq!((g.nlink, g.name.as_slice()), (1, &b"g"[..]));
    assert_eq!(read_all(&fs, "b/c/g"), b"one");
    let s = fs.save().unwrap();
    let fs = open(&store, s);
    assert_eq!(read_all(&fs, "b/c/g"), b"one");
    assert_eq!(fs.lookup(walk(&fs, "b/c"), b"g").unwrap().nlink, 1);
    assert!(matches!(
        fs.lookup(walk(&fs, "a"), b"f"),
        Err(Error::NotFound)
    ));
    // The last name removes the file.
    fs.unlink(walk(&fs, "b/c"), b"g").unwrap();
    let s = fs.save().unwrap();
    let fs = open(&store, s);
    assert!(matches!(
        fs.lookup(walk(&fs, "b/c"), b"g"),
        Err(Error::NotFound)
    ));
}

#[test]
fn unlinking_a_name_not_loaded_first() {
    let store = Arc::new(MemStore::new());
    let (fs, _) = linked(&store);
    fs.link(walk(&fs, "a/f"), fs.root(), b"h").unwrap();
    let s = fs.save().unwrap();
    let fs = open(&store, s);
    // Load through h, unlink the name in b/c, write through a/f.
    let h = walk(&fs, "h");
    assert_eq!(fs.stat(h).unwrap().nlink, 3);
    fs.unlink(walk(&fs, "b/c"), b"g").unwrap();
    fs.unlink(fs.root(), b"h").unwrap();
    assert_eq!(fs.stat(h).unwrap().nlink, 1);
    fs.write(h, 0, b"new", U).unwrap();
    let s = fs.save().unwrap();
    let fs = open(&store, s);
    assert_eq!(read_all(&fs, "a/f"), b"new");
    assert_eq!(fs.stat(walk(&fs, "a/f")).unwrap().nlink, 1);
}

#[test]
fn renames_keep_the_table_current() {
    let store = Arc::new(MemStore::new());
    let (fs, f) = linked(&store);
    let s = fs.save().unwrap();
    let fs = open(&store, s);
    // Rename the directory above one name, move the other name.
    let b = walk(&fs, "b");
    fs.rename(b, fs.root(), b"bb", U).unwrap();
    let d = fs.create(fs.root(), b"d", DMDIR | 0o755, U).unwrap().node();
    fs.rename(walk(&fs, "bb/c"), d, b"cc", U).unwrap();
    fs.rename_at((walk(&fs, "a"), b"f"), (d, b"ff"), RenameMode::NoReplace, U)
        .unwrap();
    fs.write(walk(&fs, "d/ff"), 0, b"ONE", U).unwrap();
    let s = fs.save().unwrap();
    let fs = open(&store, s);
    assert_eq!(read_all(&fs, "d/cc/g"), b"ONE");
    assert_eq!(read_all(&fs, "d/ff"), b"ONE");
    assert_eq!(fs.stat(walk(&fs, "d/ff")).unwrap().nlink, 2);
    assert_eq!(walk(&fs, "d/ff"), f);
    // Renaming one name over the other is a no-op, as rename(2).
    fs.rename_at(
        (d, b"ff"),
        (walk(&fs, "d/cc"), b"g"),
        RenameMode::Replace,
        U,
    )
    .unwrap();
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
}

#[test]
fn backup_then_replace_as_dpkg_does() {
    let store = Arc::new(MemStore::new());
    let fs = new_fs(&store);
    let r = fs.root();
    let status = fs.create(r, b"status", 0o644, U).unwrap().node();
    fs.write(status, 0, b"old", U).unwrap();
    // link status status-old; write status-new; rename status-new status
    fs.link(status, r, b"status-old").unwrap();
    let new = fs.create(r, b"status-new", 0o644, U).unwrap().node();
    fs.write(new, 0, b"new", U).unwrap();
    fs.rename_at((r, b"status-new"), (r, b"status"), RenameMode::Replace, U)
        .unwrap();
    assert_eq!(read_all(&fs, "status"), b"new");
    assert_eq!(read_all(&fs, "status-old"), b"old");
    assert_eq!(fs.stat(walk(&fs, "status-old")).unwrap().nlink, 1);
    let s = fs.save().unwrap();
    let fs = open(&store, s);
    assert_eq!(read_all(&fs, "status"), b"new");
    assert_eq!(read_all(&fs, "status-old"), b"old");
    assert_eq!(fs.stat(walk(&fs, "status-old")).unwrap().nlink, 1);
}

#[test]
fn metadata_is_shared_and_saved_into_every_name() {
    let store = Arc::new(MemStore::new());
    let (fs, f) = linked(&store);
    let change = colony_fossil::fossil::SetMeta {
        mode: Some(0o600),
        ..Default::default()
    };
    fs.wstat(walk(&fs, "b/c/g"), &change, U).unwrap();
    assert_eq!(fs.stat(f).unwrap().mode & 0o777, 0o600);
    let s = fs.save().unwrap();
    let fs = open(&store, s);
    assert_eq!(fs.stat(walk(&fs, "b/c/g")).unwrap().mode & 0o777, 0o600);
    let fs = open(&store, s);
    assert_eq!(fs.stat(walk(&fs, "a/f")).unwrap().mode & 0o777, 0o600);
}

/// `vac` with `linux` keeps a tree's hard links (a group per inode, both
/// Top kinds), a Fossil opened on the archive sees one file of several
/// names, and `unvac` makes the links again; without `linux` (plan9port's
/// archive) each name is a copy.
#[test]
fn vac_and_unvac_keep_hard_links() {
    use colony_fossil::vac::{self, Top, VacOptions};
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("top");
    std::fs::create_dir_all(top.join("a/deep")).unwrap();
    std::fs::write(top.join("a/f"), b"shared").unwrap();
    std::fs::hard_link(top.join("a/f"), top.join("a/deep/g")).unwrap();
    std::fs::hard_link(top.join("a/f"), top.join("h")).unwrap();
    std::fs::write(top.join("lone"), b"one name").unwrap();
    // A name whose other name is outside the tree is a file of one name.
    std::fs::write(dir.path().join("outside"), b"x").unwrap();
    std::fs::hard_link(dir.path().join("outside"), top.join("half")).unwrap();
    for (t, prefix) in [(Top::Contents, ""), (Top::Named, "top/")] {
        let store = Arc::new(MemStore::new());
        let options = VacOptions {
            top: t,
            linux: true,
            ..Default::default()
        };
        let imported = vac::import_path(&*store, &top, &options, &mut |_| {}).unwrap();
        let fs = open(&store, imported.score);
        let f = walk(&fs, &format!("{prefix}a/f"));
        assert_eq!(walk(&fs, &format!("{prefix}a/deep/g")), f);
        assert_eq!(walk(&fs, &format!("{prefix}h")), f);
        assert_eq!(fs.stat(f).unwrap().nlink, 3);
        assert_eq!(
            fs.stat(walk(&fs, &format!("{prefix}half"))).unwrap().nlink,
            1
        );
        // Written through one name after the open, saved: all agree.
        fs.write(f, 0, b"SHARED", U).unwrap();
        let saved = fs.save().unwrap();
        let fs = open(&store, saved);
        assert_eq!(read_all(&fs, &format!("{prefix}h")), b"SHARED");

        let out = export(&store, &saved);
        let md = |p: &str| std::fs::metadata(out.path().join(prefix).join(p)).unwrap();
        assert_eq!(md("a/f").nlink(), 3);
        assert_eq!(md("a/f").ino(), md("a/deep/g").ino());
        assert_eq!(md("a/f").ino(), md("h").ino());
        assert_eq!(md("lone").nlink(), 1);
        assert_eq!(md("half").nlink(), 1);
        assert_eq!(
            std::fs::read(out.path().join(prefix).join("a/deep/g")).unwrap(),
            b"SHARED"
        );
    }
    // plan9port's archive: copies.
    let store = Arc::new(MemStore::new());
    let options = VacOptions {
        top: Top::Contents,
        ..Default::default()
    };
    let imported = vac::import_path(&*store, &top, &options, &mut |_| {}).unwrap();
    let out = export(&store, &imported.score);
    let md = |p: &str| std::fs::metadata(out.path().join(p)).unwrap();
    assert_ne!(md("a/f").ino(), md("h").ino());
    assert_eq!(std::fs::read(out.path().join("h")).unwrap(), b"shared");
}

/// Links, unlinks and renames of the directories above linked names from
/// several threads, with saves between: every save succeeds, and the last
/// one reopens with each file's names all reading its contents.
#[test]
fn concurrent_links_renames_and_saves() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 40;
    let store = Arc::new(MemStore::new());
    let fs = Arc::new(new_fs(&store));
    let shared = fs.create(fs.root(), b"s", DMDIR | 0o755, U).unwrap().node();
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let fs = fs.clone();
            std::thread::spawn(move || {
                let d = fs
                    .create(fs.root(), format!("t{i}").as_bytes(), DMDIR | 0o755, U)
                    .unwrap()
                    .node();
                let f = fs.create(d, b"f", 0o644, U).unwrap().node();
                for k in 0..ROUNDS {
                    fs.write(f, 0, format!("{i}-{k}").as_bytes(), U).unwrap();
                    fs.link(f, shared, format!("{i}-{k}").as_bytes()).unwrap();
                    if k % 2 == 1 {
                        fs.unlink(shared, format!("{i}-{}", k - 1).as_bytes())
                            .unwrap();
                    }
                    let (from, to) = if k % 2 == 0 { ("t", "u") } else { ("u", "t") };
                    fs.rename_at(
                        (fs.root(), format!("{from}{i}").as_bytes()),
                        (fs.root(), format!("{to}{i}").as_bytes()),
                        RenameMode::NoReplace,
                        U,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    while !workers.iter().all(|w| w.is_finished()) {
        fs.save().unwrap();
    }
    for w in workers {
        w.join().unwrap();
    }
    let fs = open(&store, fs.save().unwrap());
    for i in 0..THREADS {
        // ROUNDS is even: the last rename went back to "t".
        let want = format!("{i}-{}", ROUNDS - 1).into_bytes();
        assert_eq!(read_all(&fs, &format!("t{i}/f")), want);
        let names: Vec<String> = (0..ROUNDS)
            .map(|k| format!("{i}-{k}"))
            .filter(|n| fs.lookup(walk(&fs, "s"), n.as_bytes()).is_ok())
            .collect();
        assert_eq!(names.len(), ROUNDS / 2, "{names:?}");
        for n in &names {
            assert_eq!(read_all(&fs, &format!("s/{n}")), want);
        }
        let nlink = fs.stat(walk(&fs, &format!("t{i}/f"))).unwrap().nlink;
        assert_eq!(nlink as usize, 1 + ROUNDS / 2);
    }
}

/// RENAME_EXCHANGE of a linked name (not the one first loaded) with
/// another file swaps just those two names, kept across save and reopen.
#[test]
fn exchanging_a_linked_name() {
    let store = Arc::new(MemStore::new());
    let (fs, f) = linked(&store);
    let c = walk(&fs, "b/c");
    let other = fs.create(fs.root(), b"o", 0o644, U).unwrap().node();
    fs.write(other, 0, b"other", U).unwrap();
    fs.rename_at((c, b"g"), (fs.root(), b"o"), RenameMode::Exchange, U)
        .unwrap();
    assert_eq!(fs.lookup(fs.root(), b"o").unwrap().node(), f);
    assert_eq!(fs.lookup(c, b"g").unwrap().node(), other);
    assert_eq!(walk(&fs, "a/f"), f);
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
    fs.write(f, 0, b"ONE", U).unwrap();
    let fs = open(&store, fs.save().unwrap());
    assert_eq!(read_all(&fs, "o"), b"ONE");
    assert_eq!(read_all(&fs, "a/f"), b"ONE");
    assert_eq!(read_all(&fs, "b/c/g"), b"other");
    assert_eq!(fs.stat(walk(&fs, "o")).unwrap().nlink, 2);
    assert_eq!(fs.stat(walk(&fs, "b/c/g")).unwrap().nlink, 1);
}
