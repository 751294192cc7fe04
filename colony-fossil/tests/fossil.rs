//! The live file system: lazy loading, block-granular saves, the bounded
//! local store, plan9port archives, damage, concurrency, readdir cookies.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use colony_fossil::Error;
use colony_fossil::fossil::{
    DMAPPEND, DMDIR, DMSETVTX, DMSYMLINK, Fossil, FossilOptions, LocalKind, NodeId, SetMeta,
};
use colony_fossil::source::{MemSource, Meta};
use colony_fossil::vac::{self, VacOptions};
use colony_venti::{BlockStore, BlockType, MemStore, Score};
use common::export;

/// Counts reads and writes that reach the store, the reads asked for
/// alone, and the batches.
struct Counting {
    inner: MemStore,
    reads: AtomicU64,
    writes: AtomicU64,
    alone: AtomicU64,
    batches: AtomicU64,
}

impl Counting {
    fn new(inner: MemStore) -> Arc<Counting> {
        Arc::new(Counting {
            inner,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            alone: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        })
    }
    fn reset(&self) {
        self.reads.store(0, Ordering::SeqCst);
        self.writes.store(0, Ordering::SeqCst);
        self.alone.store(0, Ordering::SeqCst);
        self.batches.store(0, Ordering::SeqCst);
    }
    fn alone(&self) -> u64 {
        self.alone.load(Ordering::SeqCst)
    }
    fn batches(&self) -> u64 {
        self.batches.load(Ordering::SeqCst)
    }
    fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
    fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }
}

impl BlockStore for Counting {
    fn read(&self, s: &Score, t: BlockType) -> colony_venti::Result<Vec<u8>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.alone.fetch_add(1, Ordering::SeqCst);
        self.inner.read(s, t)
    }
    fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<colony_venti::Result<Vec<u8>>> {
        self.reads.fetch_add(blocks.len() as u64, Ordering::SeqCst);
        self.batches.fetch_add(1, Ordering::SeqCst);
        blocks.iter().map(|(s, t)| self.inner.read(s, *t)).collect()
    }
    fn write(&self, t: BlockType, d: &[u8]) -> colony_venti::Result<Score> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write(t, d)
    }
    fn has(&self, s: &Score, t: BlockType) -> colony_venti::Result<bool> {
        self.inner.has(s, t)
    }
    fn sync(&self) -> colony_venti::Result<()> {
        Ok(())
    }
}

fn meta(perm: u32) -> Meta {
    Meta {
        perm,
        uid: "glenda".into(),
        gid: "sys".into(),
        mtime: 1_000_000,
        atime: 1_000_000,
    }
}

fn content(i: usize, n: usize) -> Vec<u8> {
    (0..n).map(|j| ((i * 31 + j * 7) % 251) as u8 + 1).collect()
}

/// `dirs` directories of `files` small files each, plus one 1 MiB file.
fn big_tree(store: &MemStore, dirs: usize, files: usize) -> Score {
    let mut s = MemSource::new("top", meta(0o755));
    for d in 0..dirs {
        s.dir(&format!("d{d}"), meta(0o755)).unwrap();
        for f in 0..files {
            s.file(
                &format!("d{d}/f{f}"),
                &content(d * files + f, 100),
                meta(0o644),
            )
            .unwrap();
        }
    }
    s.file("big", &content(7, 1 << 20), meta(0o644)).unwrap();
    let opts = VacOptions {
        ctime: Some(1),
        ..VacOptions::default()
    };
    vac::import(store, &s, &opts, &mut |_| {}).unwrap().score
}

fn walk(fs: &Fossil, path: &str) -> NodeId {
    let mut at = fs.root();
    for name in path.split('/').filter(|n| !n.is_empty()) {
        at = fs.lookup(at, name.as_bytes()).unwrap().qid.path;
    }
    at
}

fn read_all(fs: &Fossil, node: NodeId) -> Vec<u8> {
    let len = fs.stat(node).unwrap().length;
    fs.read(node, 0, len as u32).unwrap()
}

fn names(fs: &Fossil, dir: NodeId) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    fs.readdir(dir, 0, &mut |e| {
        out.push(e.meta.name);
        true
    })
    .unwrap();
    out
}

#[test]
fn open_reads_one_block_and_a_file_read_touches_its_path() {
    let mem = MemStore::new();
    let score = big_tree(&mem, 100, 100);
    let store = Counting::new(mem);
    let fs = Fossil::open(store.clone(), score, FossilOptions::default()).unwrap();
    assert_eq!(store.reads(), 1, "open reads the root block alone");
    let f = walk(&fs, "top/d57/f42");
    assert_eq!(read_all(&fs, f), content(57 * 100 + 42, 100));
    // root, top block, / meta, /'s dir leaf and meta block, top's dir
    // leaf and 2 meta blocks, d57's dir leaf and 2 meta blocks, the leaf.
    let cold = store.reads();
    assert!(cold <= 14, "{cold} reads for one small file");
    store.reset();
    let big = walk(&fs, "top/big");
    assert_eq!(read_all(&fs, big), content(7, 1 << 20));
    // 128 leaves and one pointer block: the path was already loaded.
    assert!(store.reads() <= 128 + 2, "{} reads", store.reads());
}

/// Reads every file `f<i>` of `big_tree`'s directory `d`, whose files
/// start at `content(first)`, checking each; returns how many there were.
fn check_files(fs: &Fossil, d: NodeId, first: usize) -> usize {
    let names = names(fs, d);
    for name in &names {
        let f = fs.lookup(d, name).unwrap().qid.path;
        let i: usize = String::from_utf8(name[1..].to_vec())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(read_all(fs, f), content(first + i, 100));
    }
    names.len()
}

/// The snapshot `score` of `mem` opened with children read ahead, over a
/// store that counts its reads.
fn open_ahead(mem: MemStore, score: Score) -> (Fossil, Arc<Counting>) {
    let store = Counting::new(mem);
    let options = FossilOptions {
        children_ahead: true,
        ..FossilOptions::default()
    };
    (Fossil::open(store.clone(), score, options).unwrap(), store)
}

#[test]
fn children_ahead_reads_a_directory_walk_in_batches() {
    let mem = MemStore::new();
    let score = big_tree(&mem, 3, 300);
    let (fs, store) = open_ahead(mem, score);
    assert_eq!(store.reads(), 1, "open stays lazy");
    let d = walk(&fs, "top/d1");
    store.reset();
    assert_eq!(check_files(&fs, d, 300), 300);
    assert_eq!(store.alone(), 0, "every block came in a batch");
    // Without it, each file's block is a read of its own (251 distinct
    // contents: `content` repeats every 251 files).
    let fs = Fossil::open(store.clone(), score, FossilOptions::default()).unwrap();
    let d = walk(&fs, "top/d1");
    store.reset();
    for name in names(&fs, d) {
        read_all(&fs, fs.lookup(d, &name).unwrap().qid.path);
    }
    assert!(store.alone() >= 251, "{} reads alone", store.alone());
    // Files one pointer block deep: their leaves come in a batch after
    // their top blocks.
    let mut s = MemSource::new("top", meta(0o755));
    s.dir("m", meta(0o755)).unwrap();
    for f in 0..40 {
        s.file(&format!("m/f{f}"), &content(f, 20_000), meta(0o644))
            .unwrap();
    }
    let mem = MemStore::new();
    let deep = vac::import(&mem, &s, &VacOptions::default(), &mut |_| {})
        .unwrap()
        .score;
    let (fs, store) = open_ahead(mem, deep);
    let d = walk(&fs, "top/m");
    store.reset();
    for f in 0..40 {
        let node = fs.lookup(d, format!("f{f}").as_bytes()).unwrap().qid.path;
        assert_eq!(read_all(&fs, node), content(f, 20_000));
    }
    assert_eq!(store.alone(), 0, "every block came in a batch");
    // The top blocks came with `top`'s listing: the leaves are one batch.
    assert_eq!(store.batches(), 1, "leaves");
}

#[test]
fn children_ahead_brings_the_subdirectories_children_too() {
    let mem = MemStore::new();
    let score = big_tree(&mem, 3, 50);
    let (fs, store) = open_ahead(mem, score);
    let top = walk(&fs, "top");
    names(&fs, top);
    store.reset();
    // Listing `top` fetched its subdirectories' children's blocks: a
    // walk into one and through its files asks the store for nothing.
    let d = fs.lookup(top, b"d2").unwrap().qid.path;
    check_files(&fs, d, 2 * 50);
    assert_eq!(store.batches(), 0, "no batch of its own");
    assert_eq!(store.alone(), 0, "no read of its own");
}

#[test]
fn one_byte_change_in_10000_files_saves_a_few_blocks() {
    let mem = MemStore::new();
    let score = big_tree(&mem, 100, 100);
    let store = Counting::new(mem.clone());
    let fs = Fossil::open(store.clone(), score, FossilOptions::default()).unwrap();
    let f = walk(&fs, "top/d3/f9");
    fs.write(f, 50, b"X", "glenda").unwrap();
    store.reset();
    let new = fs.save().unwrap();
    let w = store.writes();
    // leaf, d3's dir leaf and meta block, top's dir leaf, /'s dir leaf,
    // top block, root.
    assert!(w <= 12, "save wrote {w} blocks");
    assert_eq!(fs.save().unwrap(), new, "nothing changed: same score");
    assert_eq!(store.writes(), w);
    let out = export(&mem, &new);
    let mut want = content(3 * 100 + 9, 100);
    want[50] = b'X';
    assert_eq!(std::fs::read(out.path().join("top/d3/f9")).unwrap(), want);
    assert_eq!(
        std::fs::read(out.path().join("top/d99/f99")).unwrap(),
        content(9999, 100)
    );
    assert_eq!(
        std::fs::read_dir(out.path().join("top/d50"))
            .unwrap()
            .count(),
        100
    );
    // The old snapshot is untouched.
    let old = export(&mem, &score);
    assert_eq!(
        std::fs::read(old.path().join("top/d3/f9")).unwrap(),
        content(309, 100)
    );
    let root = colony_fossil::archive::read_root(&mem, &new).unwrap();
    assert_eq!(root.prev, score);
}

#[test]
fn one_byte_change_in_a_10000_file_directory_saves_a_few_blocks() {
    let mem = MemStore::new();
    let mut s = MemSource::new("flat", meta(0o755));
    for f in 0..10_000 {
        s.file(&format!("f{f}"), &content(f, 100), meta(0o644))
            .unwrap();
    }
    let score = vac::import(&mem, &s, &VacOptions::default(), &mut |_| {})
        .unwrap()
        .score;
    let store = Counting::new(mem.clone());
    let fs = Fossil::open(store.clone(), score, FossilOptions::default()).unwrap();
    let f = walk(&fs, "flat/f7777");
    fs.write(f, 0, b"Y", "glenda").unwrap();
    store.reset();
    let new = fs.save().unwrap();
    // leaf; flat's dir-stream leaf and pointer block; its MetaBlock and
    // meta pointer block; /'s dir leaf; top block; root.
    let w = store.writes();
    assert!(w <= 12, "save wrote {w} blocks");
    let out = export(&mem, &new);
    let mut want = content(7777, 100);
    want[0] = b'Y';
    assert_eq!(std::fs::read(out.path().join("flat/f7777")).unwrap(), want);
    assert_eq!(
        std::fs::read_dir(out.path().join("flat")).unwrap().count(),
        10_000
    );
}

/// Writes 64 MiB through a 1 MiB local store and checks what a save
/// keeps; returns the fossil.
fn write_big(kind: LocalKind) -> Arc<Fossil> {
    write_big_with(kind, |_| {})
}

/// [`write_big`], calling `start` on the fossil before the first write.
fn write_big_with(kind: LocalKind, start: impl FnOnce(&Arc<Fossil>)) -> Arc<Fossil> {
    const LIMIT: u64 = 1 << 20;
    const TOTAL: usize = 64 << 20;
    let mem = MemStore::new();
    let opts = FossilOptions {
        local_limit: LIMIT,
        local: kind,
        ..FossilOptions::default()
    };
    let fs = Arc::new(Fossil::create_empty(Arc::new(mem.clone()), opts).unwrap());
    start(&fs);
    let a = fs
        .create(fs.root(), b"a", 0o644, "glenda")
        .unwrap()
        .qid
        .path;
    let d = fs
        .create(fs.root(), b"d", DMDIR | 0o755, "glenda")
        .unwrap()
        .qid
        .path;
    let b = fs.create(d, b"b", 0o600, "glenda").unwrap().qid.path;
    let chunk = 64 << 10;
    let mut hash_a = Vec::new();
    for i in 0..TOTAL / chunk {
        let data = content(i, chunk);
        fs.write(a, (i * chunk) as u64, &data, "glenda").unwrap();
        hash_a.extend_from_slice(&Score::of(&data).0);
        if i % 16 == 0 {
            fs.write(b, (i * 1000) as u64, &data[..1000], "glenda")
                .unwrap();
        }
    }
    let st = fs.cache_stats();
    assert!(st.early_flushes > 0, "{st:?}");
    assert!(st.peak_bytes <= LIMIT + 2 * chunk as u64, "{st:?}");
    let score = fs.save().unwrap();
    let out = export(&mem, &score);
    let got = std::fs::read(out.path().join("a")).unwrap();
    assert_eq!(got.len(), TOTAL);
    let mut hash_got = Vec::new();
    for c in got.chunks(chunk) {
        hash_got.extend_from_slice(&Score::of(c).0);
    }
    assert!(hash_got == hash_a, "file a differs");
    let gb = std::fs::read(out.path().join("d/b")).unwrap();
    assert_eq!(gb.len(), (TOTAL / chunk - 16) * 1000 + 1000);
    assert_eq!(&gb[..1000], &content(0, 1000)[..]);
    assert_eq!(&gb[16_000..17_000], &content(16, 1000)[..]);
    fs
}

#[test]
fn writes_ten_times_the_local_limit_in_memory() {
    write_big(LocalKind::Memory);
}

#[test]
fn writes_ten_times_the_local_limit_with_a_relief_thread() {
    let mut relief = None;
    let fs = write_big_with(LocalKind::Memory, |fs| {
        relief = Fossil::relieve_in_background(fs).unwrap();
        let again = Fossil::relieve_in_background(fs).unwrap();
        assert!(again.is_none(), "one relief thread per fossil");
    });
    let relief = relief.expect("a relief thread");
    assert!(!relief.is_finished());
    drop(fs);
    relief
        .join()
        .expect("the relief thread ends with the fossil");
}

#[test]
fn writes_ten_times_the_local_limit_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local.blocks");
    write_big(LocalKind::File(path.clone()));
    assert!(!path.exists(), "the local file goes with the Fossil");
}

#[test]
fn plan9port_tiny_archive_reads_writes_and_saves() {
    let store = common::tiny_store();
    let score = Score::from_hex(common::TINY_SCORE).unwrap();
    let fs = Fossil::open(Arc::new(store.clone()), score, FossilOptions::default()).unwrap();
    assert_eq!(names(&fs, fs.root()), [b"tiny"]);
    let tiny = walk(&fs, "tiny");
    let mut listed = names(&fs, tiny);
    listed.sort();
    assert_eq!(
        listed,
        [&b"empty.txt"[..], b"hello.txt", b"pattern.bin", b"sub"]
    );
    let hello = walk(&fs, "tiny/hello.txt");
    assert_eq!(read_all(&fs, hello), b"hello, world\n");
    assert_eq!(
        read_all(&fs, walk(&fs, "tiny/pattern.bin")),
        common::pattern()
    );
    let m = fs.stat(hello).unwrap();
    assert_eq!(
        (m.mode, m.uid.as_str(), m.mtime),
        (0o644, "root", common::TINY_TIME)
    );
    assert_eq!(fs.lookup(tiny, b"..").unwrap().qid.path, fs.root());
    assert_eq!(fs.parent(hello).unwrap().qid.path, tiny);
    // Qids continue after the archive's QidSpace max.
    let new = fs.create(tiny, b"new.txt", 0o640, "glenda").unwrap();
    assert!(new.qid.path >= 7, "{:?}", new.qid);
    fs.write(new.qid.path, 0, b"fresh\n", "glenda").unwrap();
    fs.write(hello, 7, b"fossil!\n", "glenda").unwrap();
    let sub = walk(&fs, "tiny/sub");
    fs.remove(walk(&fs, "tiny/sub/nested.txt")).unwrap();
    fs.remove(sub).unwrap();
    let pat = walk(&fs, "tiny/pattern.bin");
    fs.truncate(pat, 10_000, "glenda").unwrap();
    let saved = fs.save().unwrap();
    let out = export(&store, &saved);
    let t = out.path().join("tiny");
    assert_eq!(
        std::fs::read(t.join("hello.txt")).unwrap(),
        b"hello, fossil!\n"
    );
    assert_eq!(std::fs::read(t.join("new.txt")).unwrap(), b"fresh\n");
    assert_eq!(std::fs::read(t.join("empty.txt")).unwrap(), b"");
    assert_eq!(
        std::fs::read(t.join("pattern.bin")).unwrap(),
        &common::pattern()[..10_000]
    );
    assert!(!t.join("sub").exists());
    // The saved archive reopens, and its root carries the qid space.
    let a = colony_fossil::archive::Archive::open(&store, &saved).unwrap();
    assert!(!a.has_local_bits());
    assert!(a.root_entry.qid_space().unwrap().1 >= new.qid.path);
    let again = Fossil::open(Arc::new(store.clone()), saved, FossilOptions::default()).unwrap();
    assert_eq!(read_all(&again, walk(&again, "tiny/new.txt")), b"fresh\n");
    // The original is untouched.
    let orig = export(&store, &score);
    assert_eq!(
        std::fs::read(orig.path().join("tiny/hello.txt")).unwrap(),
        b"hello, world\n"
    );
}

#[test]
fn two_fossils_on_one_score_are_independent() {
    let store = Arc::new(common::tiny_store());
    let score = Score::from_hex(common::TINY_SCORE).unwrap();
    let a = Fossil::open(store.clone(), score, FossilOptions::default()).unwrap();
    let b = Fossil::open(store.clone(), score, FossilOptions::default()).unwrap();
    let ha = walk(&a, "tiny/hello.txt");
    let hb = walk(&b, "tiny/hello.txt");
    a.write(ha, 0, b"HELLO", "a").unwrap();
    assert_eq!(read_all(&b, hb), b"hello, world\n");
    b.remove(hb).unwrap();
    assert_eq!(read_all(&a, ha), b"HELLO, world\n");
    let sa = a.save().unwrap();
    let sb = b.save().unwrap();
    assert_ne!(sa, sb);
    let fa = Fossil::open(store.clone(), sa, FossilOptions::default()).unwrap();
    let fb = Fossil::open(store, sb, FossilOptions::default()).unwrap();
    assert_eq!(
        read_all(&fa, walk(&fa, "tiny/hello.txt")),
        b"HELLO, world\n"
    );
    let tiny = walk(&fb, "tiny");
    assert!(matches!(
        fb.lookup(tiny, b"hello.txt"),
        Err(Error::NotFound)
    ));
}

#[test]
fn damaged_blocks_fail_only_what_needs_them() {
    let mem = MemStore::new();
    let mut s = MemSource::new("top", meta(0o755));
    s.file("a", &content(1, 20000), meta(0o644)).unwrap();
    s.file("b", &content(2, 300), meta(0o644)).unwrap();
    s.dir("d", meta(0o755)).unwrap();
    s.file("d/c", b"c", meta(0o644)).unwrap();
    s.dir("e", meta(0o755)).unwrap();
    s.file("e/x", b"x", meta(0o644)).unwrap();
    let score = vac::import(&mem, &s, &VacOptions::default(), &mut |_| {})
        .unwrap()
        .score;
    // Find the blocks to damage through a healthy Fossil.
    let a_leaf = Score::of(&content(1, 20000)[8192..16384]);
    let arch = colony_fossil::archive::Archive::open(&mem, &score).unwrap();
    let root = arch.root_dir(&mem);
    let top_de = root.lookup(b"top").unwrap().unwrap();
    let colony_fossil::dir::Child::Dir { dir, meta: m } = root.open(&top_de).unwrap() else {
        panic!()
    };
    let top = colony_fossil::dir::DirReader::new(&mem, dir, m);
    let colony_fossil::dir::Child::Dir { meta: d_meta, .. } =
        top.open(&top.lookup(b"d").unwrap().unwrap()).unwrap()
    else {
        panic!()
    };
    let faulty = common::Faulty {
        inner: mem.clone(),
        missing: HashSet::from([a_leaf]),
        corrupt: HashSet::from([d_meta.score]),
    };
    let fs = Fossil::open(Arc::new(faulty), score, FossilOptions::default()).unwrap();
    let a = walk(&fs, "top/a");
    let err = fs.read(a, 0, 20000).unwrap_err();
    assert!(err.to_string().contains(&a_leaf.to_string()), "{err}");
    assert_eq!(fs.read(a, 0, 8192).unwrap(), content(1, 8192));
    assert_eq!(read_all(&fs, walk(&fs, "top/b")), content(2, 300));
    let topn = walk(&fs, "top");
    let d = fs.lookup(topn, b"d").unwrap().qid.path;
    let err = fs.lookup(d, b"c").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("corrupt") && msg.contains(&d_meta.score.to_string()),
        "{msg}"
    );
    assert_eq!(read_all(&fs, walk(&fs, "top/e/x")), b"x");
    // The rest stays writable and saveable.
    fs.write(walk(&fs, "top/b"), 0, b"B", "glenda").unwrap();
    assert!(fs.save().is_ok());
}

#[test]
fn malformed_meta_block_names_its_score() {
    let mem = MemStore::new();
    let fs = Fossil::create_empty(Arc::new(mem.clone()), FossilOptions::default()).unwrap();
    let d = fs
        .create(fs.root(), b"d", DMDIR | 0o755, "u")
        .unwrap()
        .qid
        .path;
    fs.create(d, b"x", 0o644, "u").unwrap();
    fs.create(fs.root(), b"ok", 0o644, "u").unwrap();
    let score = fs.save().unwrap();
    // Overwrite nothing: instead store a damaged copy of d's MetaBlock and
    // a root that points at it, built by hand from the saved archive.
    let a = colony_fossil::archive::Archive::open(&mem, &score).unwrap();
    let root = a.root_dir(&mem);
    let d_de = root.lookup(b"d").unwrap().unwrap();
    let mut dir_leaf = colony_fossil::tree::TreeReader::new(&mem, a.dir)
        .unwrap()
        .read_leaf(0)
        .unwrap();
    let slot = d_de.mentry as usize * 40;
    let mut me = colony_fossil::Entry::decode(&dir_leaf[slot..slot + 40]).unwrap();
    let bad = mem.write(BlockType::DATA, b"not a meta block").unwrap();
    me.score = bad;
    dir_leaf[slot..slot + 40].copy_from_slice(&me.encode().unwrap());
    let leaf = mem
        .write(BlockType::DIR, BlockType::DIR.truncate(&dir_leaf))
        .unwrap();
    let mut top = Vec::new();
    for e in [
        colony_fossil::Entry {
            score: leaf,
            ..a.dir
        },
        a.meta,
        a.parent_meta,
    ] {
        top.extend_from_slice(&e.encode().unwrap());
    }
    let top = mem.write(BlockType::DIR, &top).unwrap();
    let r = colony_fossil::Root::vac(top, 8192).encode().unwrap();
    let damaged = mem.write(BlockType::ROOT, &r).unwrap();
    let fs = Fossil::open(Arc::new(mem), damaged, FossilOptions::default()).unwrap();
    let d = fs.lookup(fs.root(), b"d").unwrap().qid.path;
    let err = fs.lookup(d, b"x").unwrap_err();
    assert!(err.to_string().contains(&bad.to_string()), "{err}");
    assert!(fs.lookup(fs.root(), b"ok").is_ok());
    assert!(fs.create(fs.root(), b"more", 0o644, "u").is_ok());
}

#[test]
fn readdir_cookies_survive_changes() {
    let fs = Fossil::create_empty(Arc::new(MemStore::new()), FossilOptions::default()).unwrap();
    let root = fs.root();
    for i in 0..300 {
        fs.create(root, format!("f{i:03}").as_bytes(), 0o644, "u")
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cookie = 0;
    fs.readdir(root, 0, &mut |e| {
        seen.push(e.meta.name);
        cookie = e.cookie;
        seen.len() < 100
    })
    .unwrap();
    // Meanwhile: remove seen and unseen entries, rename unseen ones in
    // place, add new ones (which may reuse freed slots).
    for i in [5, 50, 150, 250] {
        fs.remove(walk(&fs, &format!("f{i:03}"))).unwrap();
    }
    for i in [160, 260] {
        let n = walk(&fs, &format!("f{i:03}"));
        let change = SetMeta {
            name: Some(format!("renamed{i}").into_bytes()),
            ..Default::default()
        };
        fs.wstat(n, &change, "u").unwrap();
    }
    for i in 0..10 {
        fs.create(root, format!("new{i}").as_bytes(), 0o644, "u")
            .unwrap();
    }
    fs.readdir(root, cookie, &mut |e| {
        seen.push(e.meta.name);
        true
    })
    .unwrap();
    let set: HashSet<&Vec<u8>> = seen.iter().collect();
    assert_eq!(set.len(), seen.len(), "an entry came twice");
    for i in 100..300 {
        let name = match i {
            150 | 250 => continue,
            160 | 260 => format!("renamed{i}"),
            _ => format!("f{i:03}"),
        };
        assert!(set.contains(&name.clone().into_bytes()), "{name} skipped");
    }
}

#[test]
fn operations_and_their_errors() {
    let mem = MemStore::new();
    let fs = Fossil::create_empty(Arc::new(mem.clone()), FossilOptions::default()).unwrap();
    let root = fs.root();
    let d = fs.create(root, b"d", DMDIR | 0o750, "ann").unwrap();
    assert!(d.is_dir() && d.length == 0 && d.qid.ty == 0x80);
    let d = d.qid.path;
    let f = fs.create(d, b"f", 0o640, "bob").unwrap().qid.path;
    assert!(matches!(
        fs.create(d, b"f", 0o640, "bob"),
        Err(Error::Exists)
    ));
    assert!(matches!(
        fs.create(d, b"a/b", 0o640, "bob"),
        Err(Error::BadName {
            fault: colony_fossil::name::NameFault::Slash,
            ..
        })
    ));
    assert!(matches!(
        fs.create(f, b"x", 0o640, "bob"),
        Err(Error::NotDir)
    ));
    assert!(matches!(fs.remove(d), Err(Error::NotEmpty)));
    assert!(matches!(fs.remove(root), Err(Error::RemoveRoot)));
    assert!(matches!(fs.read(d, 0, 10), Err(Error::IsDir)));
    // Holes read as zeros.
    fs.write(f, 10_000, b"end", "carl").unwrap();
    let data = fs.read(f, 0, 20_000).unwrap();
    assert_eq!(data.len(), 10_003);
    assert!(data[..10_000].iter().all(|&b| b == 0));
    let m = fs.stat(f).unwrap();
    assert_eq!(
        (m.muid.as_str(), m.uid.as_str(), m.length),
        ("carl", "bob", 10_003)
    );
    assert!(m.qid.version > 0);
    // wstat: all or nothing.
    let bad = SetMeta {
        mode: Some(DMDIR | 0o777),
        uid: Some("eve".into()),
        ..Default::default()
    };
    assert!(matches!(fs.wstat(f, &bad, "u"), Err(Error::DirBit)));
    assert_eq!(fs.stat(f).unwrap().uid, "bob");
    let bad = SetMeta {
        length: Some(5),
        ..Default::default()
    };
    assert!(matches!(fs.wstat(d, &bad, "u"), Err(Error::DirLength)));
    let g = fs.create(d, b"g", 0o600, "bob").unwrap().qid.path;
    let clash = SetMeta {
        name: Some("g".into()),
        mode: Some(0o777),
        ..Default::default()
    };
    assert!(matches!(fs.wstat(f, &clash, "u"), Err(Error::Exists)));
    assert_eq!(fs.stat(f).unwrap().mode, 0o640);
    let good = SetMeta {
        name: Some("f2".into()),
        mode: Some(DMAPPEND | 0o600),
        mtime: Some(77.into()),
        atime: Some(66.into()),
        length: Some(3),
        uid: Some("eve".into()),
        gid: Some("grp".into()),
        ..Default::default()
    };
    let m = fs.wstat(f, &good, "u").unwrap();
    assert_eq!(
        (
            m.name.as_slice(),
            m.mode,
            m.mtime,
            m.atime,
            m.length,
            m.uid.as_str(),
            m.gid.as_str()
        ),
        (&b"f2"[..], DMAPPEND | 0o600, 77, 66, 3, "eve", "grp")
    );
    assert_eq!(fs.read(f, 0, 100).unwrap(), vec![0, 0, 0]);
    // Only a new length touches mtime and muid: chmod, chown, rename and
    // atime changes leave them (cp -a and tar set times before modes).
    for change in [
        SetMeta {
            mode: Some(DMAPPEND | DMSETVTX | 0o640),
            ..Default::default()
        },
        SetMeta {
            uid: Some("bob".into()),
            gid: Some("g2".into()),
            atime: Some(5.into()),
            name: Some("f3".into()),
            ..Default::default()
        },
    ] {
        let before = fs.stat(f).unwrap();
        let m = fs.wstat(f, &change, "zed").unwrap();
        assert_eq!(
            (m.mtime, m.muid.as_str()),
            (77, before.muid.as_str()),
            "{change:?}"
        );
        assert_ne!(m.qid.version, before.qid.version);
    }
    assert_eq!(fs.stat(f).unwrap().mode, DMAPPEND | DMSETVTX | 0o640);
    let back = SetMeta {
        name: Some("f2".into()),
        mode: Some(DMAPPEND | 0o600),
        uid: Some("eve".into()),
        gid: Some("grp".into()),
        ..Default::default()
    };
    assert_eq!(fs.wstat(f, &back, "u").unwrap().mode, DMAPPEND | 0o600);
    // Append-only: writes go to the end.
    fs.write(f, 0, b"xy", "u").unwrap();
    assert_eq!(fs.read(f, 0, 100).unwrap(), vec![0, 0, 0, b'x', b'y']);
    // Symlinks.
    let l = fs.symlink(root, b"link", b"d/f2", "u").unwrap();
    assert_eq!(l.mode, DMSYMLINK | 0o777);
    assert_eq!(fs.readlink(l.qid.path).unwrap(), b"d/f2");
    assert!(matches!(fs.readlink(f), Err(Error::NotSymlink)));
    // Moves across directories.
    let e = fs.create(root, b"e", DMDIR | 0o755, "u").unwrap().qid.path;
    assert!(matches!(
        fs.rename(d, d, b"x", "u"),
        Err(Error::MoveIntoSelf)
    ));
    let sub = fs.create(d, b"sub", DMDIR | 0o755, "u").unwrap().qid.path;
    assert!(matches!(
        fs.rename(d, sub, b"x", "u"),
        Err(Error::MoveIntoSelf)
    ));
    fs.rename(sub, e, b"moved", "u").unwrap();
    fs.rename(g, e, b"g", "u").unwrap();
    assert_eq!(fs.parent(g).unwrap().qid.path, e);
    assert!(matches!(fs.rename(f, e, b"g", "u"), Err(Error::Exists)));
    fs.write(g, 0, b"gee", "u").unwrap();
    assert!(matches!(fs.stat(9999), Err(Error::NotFound)));
    let score = fs.save().unwrap();
    let out = export(&mem, &score);
    assert_eq!(std::fs::read(out.path().join("e/g")).unwrap(), b"gee");
    assert!(out.path().join("e/moved").is_dir());
    assert_eq!(
        std::fs::read_link(out.path().join("link"))
            .unwrap()
            .to_str(),
        Some("d/f2")
    );
    assert_eq!(std::fs::read(out.path().join("d/f2")).unwrap(), b"\0\0\0xy");
    assert!(!out.path().join("d/g").exists());
    // Removed nodes are gone.
    fs.remove(g).unwrap();
    assert!(matches!(fs.stat(g), Err(Error::NotFound)));
    assert!(matches!(fs.write(g, 0, b"x", "u"), Err(Error::NotFound)));
}

#[test]
fn many_threads_read_and_write() {
    let mem = MemStore::new();
    let score = big_tree(&mem, 4, 50);
    let fs = Arc::new(
        Fossil::open(
            Arc::new(mem.clone()),
            score,
            FossilOptions {
                local_limit: 256 << 10,
                ..FossilOptions::default()
            },
        )
        .unwrap(),
    );
    let top = walk(&fs, "top");
    let mut handles = Vec::new();
    for t in 0..8usize {
        let fs = fs.clone();
        handles.push(std::thread::spawn(move || {
            let dir = fs
                .lookup(top, format!("d{}", t % 4).as_bytes())
                .unwrap()
                .qid
                .path;
            let mine = fs
                .create(dir, format!("t{t}").as_bytes(), 0o644, "u")
                .unwrap()
                .qid
                .path;
            for i in 0..200usize {
                fs.write(mine, (i * 1000) as u64, &content(t + i, 1000), "u")
                    .unwrap();
                let f = fs
                    .lookup(dir, format!("f{}", i % 50).as_bytes())
                    .unwrap()
                    .qid
                    .path;
                assert_eq!(
                    fs.read(f, 0, 100).unwrap(),
                    content((t % 4) * 50 + i % 50, 100)
                );
                if i % 50 == 0 {
                    fs.save().unwrap();
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let score = fs.save().unwrap();
    let out = export(&mem, &score);
    for t in 0..8usize {
        let got = std::fs::read(out.path().join(format!("top/d{}/t{t}", t % 4))).unwrap();
        let want: Vec<u8> = (0..200).flat_map(|i| content(t + i, 1000)).collect();
        assert!(got == want, "t{t}");
    }
}

#[test]
fn fossil_layout_archives_open_and_save_in_vac_layout() {
    use colony_fossil::entry::{ENTRY_SIZE, Entry};
    let store = common::tiny_store();
    let top = Score::of(&common::twrites("tiny-vac/tiny-vac.c2s")[14].1);
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
    let root = colony_fossil::Root {
        name: b"fossil".to_vec(),
        ..colony_fossil::Root::vac(wscore, 8192)
    };
    let rscore = store
        .write(BlockType::ROOT, &root.encode().unwrap())
        .unwrap();
    let fs = Fossil::open(Arc::new(store.clone()), rscore, FossilOptions::default()).unwrap();
    let n = walk(&fs, "tiny/sub/nested.txt");
    assert_eq!(read_all(&fs, n), b"nested\n");
    fs.write(n, 7, b"more\n", "glenda").unwrap();
    let saved = fs.save().unwrap();
    let a = colony_fossil::archive::Archive::open(&store, &saved).unwrap();
    assert!(!a.fossil_layout);
    assert_eq!(
        (a.root.name.as_slice(), a.root.prev),
        (&b"fossil"[..], rscore)
    );
    let out = export(&store, &saved);
    assert_eq!(
        std::fs::read(out.path().join("tiny/sub/nested.txt")).unwrap(),
        b"nested\nmore\n"
    );
}

#[test]
fn lengths_past_vacs_limit_are_too_large() {
    let fs = Fossil::create_empty(Arc::new(MemStore::new()), FossilOptions::default()).unwrap();
    let f = fs.create(fs.root(), b"f", 0o644, "u").unwrap().qid.path;
    let limit = (1u64 << 48) - 1;
    assert!(matches!(
        fs.write(f, limit, b"x", "u"),
        Err(Error::TooLarge(n)) if n == limit + 1
    ));
    assert!(matches!(
        fs.write(f, u64::MAX, b"x", "u"),
        Err(Error::TooLarge(u64::MAX))
    ));
    assert!(matches!(
        fs.truncate(f, limit + 1, "u"),
        Err(Error::TooLarge(n)) if n == limit + 1
    ));
    // Nothing changed; the last byte below the limit can be written.
    assert_eq!(fs.stat(f).unwrap().length, 0);
    fs.write(f, limit - 1, b"y", "u").unwrap();
    assert_eq!(fs.stat(f).unwrap().length, limit);
}
