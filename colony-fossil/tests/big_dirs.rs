//! Directories spanning several MetaBlocks and dir-stream leaves, names
//! that are prefixes of each other, both magics; v9 records (fossil's).

mod common;

use colony_fossil::archive::Archive;
use colony_fossil::dir::{Child, DirReader};
use colony_fossil::entry::ENTRY_SIZE;
use colony_fossil::source::{MemSource, Meta};
use colony_fossil::unvac::{self, UnvacOptions};
use colony_fossil::vac::{self, Flavor, VacOptions};
use colony_fossil::{DirEntry, Entry, MetaBlock, MetaMagic, Root, TreeWriter, mode};
use colony_venti::{BlockStore, BlockType, MemStore};

fn meta() -> Meta {
    Meta {
        perm: 0o640,
        uid: "alice".into(),
        gid: "staff".into(),
        mtime: 1_234_567_890,
        atime: 1_234_567_891,
    }
}

/// 300 files named a, aa, aaa... plus n0..: prefixes everywhere.
fn wide() -> (MemSource, Vec<String>) {
    let mut s = MemSource::new("wide", meta());
    let mut names = Vec::new();
    for i in 0..150 {
        names.push("a".repeat(i + 1));
        names.push(format!("n{i}"));
    }
    for n in &names {
        s.file(n, n.as_bytes(), meta()).unwrap();
    }
    s.dir("sub", meta()).unwrap();
    (s, names)
}

#[test]
fn wide_directories_in_every_flavor() {
    for flavor in [
        Flavor::Plan9port,
        Flavor::Clean(MetaMagic::Old),
        Flavor::Clean(MetaMagic::New),
    ] {
        let (src, names) = wide();
        let store = MemStore::new();
        let opts = VacOptions {
            flavor,
            ctime: Some(5),
            ..VacOptions::default()
        };
        let out = vac::import(&store, &src, &opts, &mut |_| {}).unwrap();
        let a = Archive::open(&store, &out.score).unwrap();
        let top = a.root_dir(&store).lookup(b"wide").unwrap().unwrap();
        let Child::Dir { dir, meta: m } = a.root_dir(&store).open(&top).unwrap() else {
            panic!()
        };
        // 301 entries + sub's second slot: two dir-stream leaves, a pointer block.
        assert_eq!(dir.depth, 1, "{flavor:?}");
        assert_eq!(dir.size, 8192 + 98 * ENTRY_SIZE as u64);
        let d = DirReader::new(&store, dir, m);
        let blocks = d.meta_blocks().unwrap();
        assert!(blocks.len() >= 4, "{} MetaBlocks", blocks.len());
        for mb in &blocks {
            assert!(mb.slots.len() <= 81);
            assert_eq!(
                mb.magic,
                if flavor == Flavor::Clean(MetaMagic::New) {
                    MetaMagic::New
                } else {
                    MetaMagic::Old
                }
            );
        }
        for n in &names {
            let de = d
                .lookup(n.as_bytes())
                .unwrap()
                .unwrap_or_else(|| panic!("{n} not found"));
            let Child::File(e) = d.open(&de).unwrap() else {
                panic!()
            };
            assert_eq!(e.size, n.len() as u64);
        }
        assert!(d.lookup(b"missing").unwrap().is_none());
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
        assert_eq!(got.files, 300);
        for n in &names {
            assert_eq!(
                std::fs::read(dest.path().join("wide").join(n)).unwrap(),
                n.as_bytes()
            );
        }
    }
}

/// An archive as fossil writes it: v9 DirEntries with explicit gens, the
/// meta stream *before* the dir stream, magic 0x5656fc7a, psize 8160.
#[test]
fn fossil_v9_records() {
    let store = MemStore::new();
    let put = |data: &[u8], dir: bool| -> Entry {
        let mut w = TreeWriter::new(&store, 8160, 8192, dir);
        w.push_leaf(data).unwrap();
        let (mut e, _) = w.finish(data.len() as u64).unwrap();
        e.generation = 7;
        e
    };
    let de = |elem: &[u8], entry, mentry, qid, mode| DirEntry {
        version: 9,
        elem: elem.to_vec(),
        entry,
        generation: 7,
        mentry,
        mgen: 7,
        qid,
        v7_score: None,
        uid: b"adm".to_vec(),
        gid: b"sys".to_vec(),
        mid: b"adm".to_vec(),
        mtime: 1000,
        mcount: 3,
        ctime: 999,
        atime: 1001,
        mode,
        records: vec![],
    };
    let meta_stream = |des: &[DirEntry]| {
        let mut mb = MetaBlock::new(8192, 81, MetaMagic::New).unwrap();
        for d in des {
            mb.insert(d).unwrap();
        }
        let mut w = TreeWriter::new(&store, 8160, 8192, false);
        w.push_leaf(&mb.encode()).unwrap();
        let (mut e, _) = w.finish(8192).unwrap();
        e.generation = 7;
        e
    };
    // /etc: slot 0 = its meta stream, slot 1 = its dir stream; slot 2 = file.
    let f = put(b"fossil file\n", false);
    let etc_meta = meta_stream(&[de(b"passwd", 0, 0, 3, 0o644)]);
    let etc_dir = {
        let e = put(b"root:x:0:0\n", false);
        put(&e.encode().unwrap(), true)
    };
    let mut dir_block = Vec::new();
    for e in [etc_meta, etc_dir, f] {
        dir_block.extend_from_slice(&e.encode().unwrap());
    }
    let root_dir = put(&dir_block, true);
    let root_meta = meta_stream(&[
        de(b"etc", 1, 0, 1, mode::DIR | 0o755),
        de(b"motd", 2, 0, 2, 0o444),
    ]);
    let mut slash = de(b"root", 0, 1, 0, mode::DIR | 0o555);
    slash.set_qid_space(0, 4);
    let parent_meta = meta_stream(&[slash]);
    let mut top = Vec::new();
    for e in [root_dir, root_meta, parent_meta] {
        let mut e = e;
        e.generation = 0;
        top.extend_from_slice(&e.encode().unwrap());
    }
    let top = store.write(BlockType::DIR, &top).unwrap();
    let root = store
        .write(BlockType::ROOT, &Root::vac(top, 8192).encode().unwrap())
        .unwrap();
    let a = Archive::open(&store, &root).unwrap();
    // A gen mismatch reads as a removed file.
    let d = a.root_dir(&store);
    let mut stale = d.lookup(b"motd").unwrap().unwrap();
    stale.generation = 6;
    assert!(d.open(&stale).unwrap_err().to_string().contains("removed"));
    assert_eq!(a.root_entry.elem, b"root");
    let dest = tempfile::tempdir().unwrap();
    let got = unvac::export(
        &store,
        &root,
        dest.path(),
        &UnvacOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(
        std::fs::read(dest.path().join("motd")).unwrap(),
        b"fossil file\n"
    );
    assert_eq!(
        std::fs::read(dest.path().join("etc/passwd")).unwrap(),
        b"root:x:0:0\n"
    );
}
