//! A live Fossil served over a real TCP socket: writes over 9P land in the
//! fossil and a save holds them; damaged storage answers Rerror naming the
//! block, and the server keeps serving.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_fossil::testdata::{TINY_SCORE, tiny_store};
use colony_fossil::unvac::{self, UnvacOptions};
use colony_ns::ninep::*;
use colony_ns::{FossilFs, ListenAddr, Server, ServerConfig, ServerHandle};
use colony_venti::{BlockStore, BlockType, MemStore, Score};
use common::Client;
use tokio::net::TcpStream;

type Tcp = Client<TcpStream>;

async fn serve(fossil: Arc<Fossil>) -> (ServerHandle, Tcp) {
    let server = Server::new(Arc::new(FossilFs::new(fossil)), ServerConfig::default());
    let handle = server.bind_tcp("127.0.0.1:0").await.unwrap();
    let ListenAddr::Tcp(addr) = *handle.local_addr() else {
        unreachable!()
    };
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello("root").await;
    (handle, c)
}

async fn ok(c: &mut Tcp, msg: impl Into<Message>) -> Message {
    let reply = c.rpc(3, msg).await;
    assert!(!matches!(reply, Message::Rerror(_)), "{reply:?}");
    reply
}

async fn open(c: &mut Tcp, fid: u32, path: &[&str], mode: u8) {
    let w = c.walk(0, fid, path).await;
    assert!(matches!(w, Message::Rwalk(_)), "{w:?}");
    ok(c, Topen { fid, mode }).await;
}

async fn write(c: &mut Tcp, fid: u32, offset: u64, data: &[u8]) {
    let data = data.to_vec();
    ok(c, Twrite { fid, offset, data }).await;
}

fn tiny() -> (Arc<MemStore>, Score) {
    (Arc::new(tiny_store()), Score::from_hex(TINY_SCORE).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_over_9p_are_in_the_saved_archive() {
    let (store, score) = tiny();
    let fossil = Arc::new(Fossil::open(store.clone(), score, FossilOptions::default()).unwrap());
    let (handle, mut c) = serve(fossil.clone()).await;

    // A new file, written in two pieces with a hole.
    c.walk(0, 1, &["tiny"]).await;
    let create = Tcreate {
        fid: 1,
        name: "new.txt".into(),
        perm: 0o640,
        mode: OWRITE,
    };
    ok(&mut c, create).await;
    write(&mut c, 1, 0, b"written over 9P\n").await;
    write(&mut c, 1, 20_000, b"tail").await;
    ok(&mut c, Tclunk { fid: 1 }).await;
    // A directory with a file in it.
    c.walk(0, 2, &["tiny", "sub"]).await;
    let mkdir = Tcreate {
        fid: 2,
        name: "deeper".into(),
        perm: DMDIR | 0o755,
        mode: OREAD,
    };
    ok(&mut c, mkdir).await;
    ok(&mut c, Tclunk { fid: 2 }).await;
    c.walk(0, 2, &["tiny", "sub", "deeper"]).await;
    let create = Tcreate {
        fid: 2,
        name: "f".into(),
        perm: 0o644,
        mode: OWRITE,
    };
    ok(&mut c, create).await;
    write(&mut c, 2, 0, b"deep").await;
    ok(&mut c, Tclunk { fid: 2 }).await;
    // Change an existing file in place, remove one, rename one.
    open(&mut c, 3, &["tiny", "hello.txt"], OWRITE).await;
    write(&mut c, 3, 0, b"HELLO").await;
    ok(&mut c, Tclunk { fid: 3 }).await;
    c.walk(0, 4, &["tiny", "empty.txt"]).await;
    ok(&mut c, Tremove { fid: 4 }).await;
    c.walk(0, 5, &["tiny", "pattern.bin"]).await;
    let rename = Stat {
        name: "renamed.bin".into(),
        ..Stat::dont_touch()
    };
    ok(
        &mut c,
        Twstat {
            fid: 5,
            stat: rename,
        },
    )
    .await;
    ok(&mut c, Tclunk { fid: 5 }).await;
    // Read back over 9P before the save.
    open(&mut c, 6, &["tiny", "new.txt"], OREAD).await;
    let Message::Rread(r) = c.read(6, 19_998, 100).await else {
        panic!()
    };
    assert_eq!(r.data, b"\0\0tail");
    handle.shutdown().await.unwrap();

    let saved = fossil.save().unwrap();
    assert_ne!(saved, score);
    let out = tempfile::tempdir().unwrap();
    let opts = UnvacOptions {
        owners: false,
        times: true,
        ..UnvacOptions::default()
    };
    let exported = unvac::export(&*store, &saved, out.path(), &opts, &mut |_| {}).unwrap();
    assert!(exported.errors.is_empty(), "{:?}", exported.errors);
    let t = out.path().join("tiny");
    let mut new = b"written over 9P\n".to_vec();
    new.resize(20_000, 0);
    new.extend_from_slice(b"tail");
    assert_eq!(std::fs::read(t.join("new.txt")).unwrap(), new);
    assert_eq!(std::fs::read(t.join("sub/deeper/f")).unwrap(), b"deep");
    assert_eq!(
        std::fs::read(t.join("hello.txt")).unwrap(),
        b"HELLO, world\n"
    );
    assert_eq!(
        std::fs::read(t.join("sub/nested.txt")).unwrap(),
        b"nested\n"
    );
    assert_eq!(
        std::fs::read(t.join("renamed.bin")).unwrap(),
        colony_fossil::testdata::pattern()
    );
    assert!(!t.join("empty.txt").exists());
    assert!(!t.join("pattern.bin").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.join("new.txt")).unwrap().permissions();
    assert_eq!(mode.mode() & 0o777, 0o640);
    // The previous snapshot is untouched.
    let old = tempfile::tempdir().unwrap();
    unvac::export(&*store, &score, old.path(), &opts, &mut |_| {}).unwrap();
    assert!(old.path().join("tiny/empty.txt").exists());
    assert!(!old.path().join("tiny/new.txt").exists());
}

/// The tiny store with some blocks missing and some corrupted.
struct Damaged {
    inner: MemStore,
    missing: HashSet<Score>,
    corrupt: HashSet<Score>,
}

impl BlockStore for Damaged {
    fn read(&self, s: &Score, t: BlockType) -> colony_venti::Result<Vec<u8>> {
        if self.missing.contains(s) {
            return Err(colony_venti::Error::NotFound { score: *s, ty: t });
        }
        let mut b = self.inner.read(s, t)?;
        if self.corrupt.contains(s) {
            b[0] ^= 0x55;
        }
        Ok(b)
    }
    fn write(&self, t: BlockType, d: &[u8]) -> colony_venti::Result<Score> {
        self.inner.write(t, d)
    }
    fn has(&self, s: &Score, t: BlockType) -> colony_venti::Result<bool> {
        self.inner.has(s, t)
    }
    fn sync(&self) -> colony_venti::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_blocks_answer_io_errors_naming_the_score() {
    // hello.txt's data block is missing; nested.txt's is corrupt; sub's
    // MetaBlock (its listing) is corrupt.
    let hello = "cd50d19784897085a8d0e3e413f8612b097c03f1";
    let nested = "54fe197ab272267d40af98424bd8369e27ef6ffe";
    let sub_meta = "fd2e5e1095975557405561aaded17884f7f1d54c";
    let s = |h: &str| Score::from_hex(h).unwrap();
    let store = Damaged {
        inner: tiny_store(),
        missing: HashSet::from([s(hello)]),
        corrupt: HashSet::from([s(nested), s(sub_meta)]),
    };
    let score = Score::from_hex(TINY_SCORE).unwrap();
    let fossil = Arc::new(Fossil::open(Arc::new(store), score, FossilOptions::default()).unwrap());
    let (handle, mut c) = serve(fossil).await;

    let rerror = |m: Message| match m {
        Message::Rerror(e) => e.ename,
        other => panic!("expected Rerror, got {other:?}"),
    };
    open(&mut c, 1, &["tiny", "hello.txt"], OREAD).await;
    let e = rerror(c.read(1, 0, 100).await);
    assert!(e.starts_with("i/o error: ") && e.contains(hello), "{e}");
    // sub's listing cannot be read: a walk through it stops there, and a
    // walk from it fails with the error.
    let Message::Rwalk(w) = c.walk(0, 2, &["tiny", "sub", "nested.txt"]).await else {
        panic!()
    };
    assert_eq!(w.wqids.len(), 2);
    c.walk(0, 2, &["tiny", "sub"]).await;
    let e = rerror(c.walk(2, 4, &["nested.txt"]).await);
    assert!(e.starts_with("i/o error: ") && e.contains(sub_meta), "{e}");
    // The server keeps serving: undamaged files read fine.
    open(&mut c, 3, &["tiny", "pattern.bin"], OREAD).await;
    let Message::Rread(r) = c.read(3, 0, 4096).await else {
        panic!()
    };
    assert_eq!(r.data, colony_fossil::testdata::pattern()[..4096]);
    handle.shutdown().await.unwrap();
}

/// Saves taken while clients write (what SIGHUP does to `colony 9p
/// serve`) are each a consistent archive, and the last holds every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_during_writes_are_consistent_snapshots() {
    const CLIENTS: u32 = 4;
    const FILES: u32 = 25;
    let (store, score) = tiny();
    let fossil = Arc::new(Fossil::open(store.clone(), score, FossilOptions::default()).unwrap());
    let server = Server::new(
        Arc::new(FossilFs::new(fossil.clone())),
        ServerConfig::default(),
    );
    let handle = server.bind_tcp("127.0.0.1:0").await.unwrap();
    let ListenAddr::Tcp(addr) = *handle.local_addr() else {
        unreachable!()
    };
    let content =
        |c: u32, f: u32| format!("client {c} file {f}\n").repeat(1 + (f as usize % 7) * 300);
    let mut writers = Vec::new();
    for client in 0..CLIENTS {
        writers.push(tokio::spawn(async move {
            let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
            let version = Tversion {
                msize: 8192,
                version: "9P2000".into(),
            };
            c.rpc(NOTAG, version).await;
            let attach = Tattach {
                fid: 0,
                afid: NOFID,
                uname: "root".into(),
                aname: String::new(),
            };
            ok(&mut c, attach).await;
            for f in 0..FILES {
                c.walk(0, 1, &["tiny"]).await;
                let create = Tcreate {
                    fid: 1,
                    name: format!("c{client}-f{f}").into_bytes(),
                    perm: 0o644,
                    mode: OWRITE,
                };
                ok(&mut c, create).await;
                let data = content(client, f).into_bytes();
                for (i, chunk) in data.chunks(8000).enumerate() {
                    write(&mut c, 1, i as u64 * 8000, chunk).await;
                }
                ok(&mut c, Tclunk { fid: 1 }).await;
            }
        }));
    }
    let saver = {
        let fossil = fossil.clone();
        tokio::task::spawn_blocking(move || {
            let mut scores = Vec::new();
            for _ in 0..20 {
                scores.push(fossil.save().unwrap());
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            scores
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    let mut scores = saver.await.unwrap();
    handle.shutdown().await.unwrap();
    scores.push(fossil.save().unwrap());
    // The saves did interleave with the writes (10 to 18 distinct of 21
    // where measured).
    let distinct: HashSet<_> = scores.iter().collect();
    assert!(distinct.len() >= 3, "{} distinct snapshots", distinct.len());

    let opts = UnvacOptions {
        owners: false,
        times: false,
        ..UnvacOptions::default()
    };
    for (i, s) in scores.iter().enumerate() {
        let out = tempfile::tempdir().unwrap();
        let x = unvac::export(&*store, s, out.path(), &opts, &mut |_| {}).unwrap();
        assert!(x.errors.is_empty(), "save {i}: {:?}", x.errors);
        // Every file a snapshot holds is complete or a prefix of what was
        // being written (writes land chunk by chunk), never garbage.
        for e in std::fs::read_dir(out.path().join("tiny")).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let Some((c, f)) = name
                .strip_prefix('c')
                .and_then(|r| r.split_once("-f"))
                .map(|(c, f)| (c.parse().unwrap(), f.parse().unwrap()))
            else {
                continue;
            };
            let got = std::fs::read(e.path()).unwrap();
            assert!(
                content(c, f).as_bytes().starts_with(&got),
                "save {i}: {name}"
            );
        }
    }
    let out = tempfile::tempdir().unwrap();
    unvac::export(
        &*store,
        scores.last().unwrap(),
        out.path(),
        &opts,
        &mut |_| {},
    )
    .unwrap();
    for c in 0..CLIENTS {
        for f in 0..FILES {
            let got = std::fs::read(out.path().join(format!("tiny/c{c}-f{f}"))).unwrap();
            assert_eq!(got, content(c, f).as_bytes(), "c{c}-f{f}");
        }
    }
}

/// Issue 12: a directory of the archive holding an entry named `..` (or
/// anything else that cannot name a file) answers an i/o error naming the
/// directory and the entry; the name is never listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_entry_names_are_io_errors_never_listed() {
    let store = MemStore::new();
    let score = colony_fossil::testdata::hostile_archive(&store, b"..", true);
    let fossil = Arc::new(Fossil::open(Arc::new(store), score, FossilOptions::default()).unwrap());
    let (handle, mut c) = serve(fossil).await;
    let rerror = |m: Message| match m {
        Message::Rerror(e) => e.ename,
        other => panic!("expected Rerror, got {other:?}"),
    };
    // The root is sound and lists.
    open(&mut c, 1, &[], OREAD).await;
    let Message::Rread(r) = c.read(1, 0, 8192).await else {
        panic!("root listing")
    };
    assert!(!r.data.is_empty());
    open(&mut c, 2, &["d"], OREAD).await;
    let e = rerror(c.read(2, 0, 8192).await);
    assert!(
        e.starts_with("i/o error: d: ") && e.contains("\"..\""),
        "{e}"
    );
    // Nor can a walk pass through it, even to a sound name.
    c.walk(0, 3, &["d"]).await;
    let e = rerror(c.walk(3, 4, &["good"]).await);
    assert!(e.starts_with("i/o error: d: "), "{e}");
    handle.shutdown().await.unwrap();
}
