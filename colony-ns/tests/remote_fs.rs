//! RemoteFs, the 9P2000 client, against the real server over loopback TCP:
//! every FileSystem method and its errors (on a MemFs and on a live
//! Fossil), I/O across msize, many threads at once, readdir cookies, and
//! a connection that dies.

mod remote;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_ns::ninep::{
    DMDIR, DMSYMLINK, Fcall, IOHDRSZ, Message, QTDIR, Qid, Rattach, Rflush, Rversion, read_frame,
};
use colony_ns::{Error, FileSystem, FossilFs, Meta, RemoteFs, ServerConfig, SetMeta};
use colony_venti::MemStore;
use remote::{USER, connect, memfs, runtime, tcp_pair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a 9P2000 stat record carries of a file's metadata (no
/// nanoseconds, no change time beside mtime, no numeric ids).
fn carried(m: Meta) -> Meta {
    colony_ns::ninep::Stat::of(&m).meta()
}

fn fossil() -> Arc<dyn FileSystem> {
    let options = FossilOptions {
        owner: USER.into(),
        ..FossilOptions::default()
    };
    let fossil = Fossil::create_empty(Arc::new(MemStore::new()), options).expect("empty fossil");
    Arc::new(FossilFs::new(Arc::new(fossil)))
}

fn names(fs: &dyn FileSystem, dir: u64) -> Vec<String> {
    let mut out = Vec::new();
    fs.readdir(dir, 0, &mut |e| {
        out.push(String::from_utf8(e.meta.name).unwrap());
        true
    })
    .unwrap();
    out.sort();
    out
}

fn setmeta() -> SetMeta {
    SetMeta::default()
}

/// Every method once, checked through the client and on the served tree.
fn every_method(served: Arc<dyn FileSystem>) {
    let rt = runtime();
    let fs = connect(&rt, served.clone(), ServerConfig::default(), USER);
    let root = fs.attach(USER, "").unwrap();
    let sroot = served.attach(USER, "").unwrap();
    assert_eq!(root, sroot, "node ids are the server's qid paths");
    assert_eq!(fs.stat(root).unwrap(), carried(served.stat(sroot).unwrap()));
    assert_eq!(fs.parent(root).unwrap().node(), root);

    let f = fs.create(root, b"f", 0o644, USER).unwrap();
    assert_eq!((f.name.as_slice(), f.mode, f.length), (&b"f"[..], 0o644, 0));
    assert_eq!(fs.write(f.node(), 0, b"hello world", USER).unwrap(), 11);
    assert_eq!(fs.read(f.node(), 6, 100).unwrap(), b"world");
    assert_eq!(fs.read(f.node(), 11, 100).unwrap(), b"");
    assert_eq!(served.read(f.node(), 0, 100).unwrap(), b"hello world");
    assert_eq!(fs.stat(f.node()).unwrap().length, 11);
    assert_eq!(
        fs.lookup(root, b"f").unwrap(),
        carried(served.stat(f.node()).unwrap())
    );
    assert_eq!(fs.parent(f.node()).unwrap().node(), root);

    let d = fs.create(root, b"d", DMDIR | 0o755, USER).unwrap();
    assert!(d.is_dir());
    let g = fs.create(d.node(), b"g", 0o600, USER).unwrap();
    assert_eq!(fs.lookup(d.node(), b"..").unwrap().node(), root);
    assert_eq!(fs.parent(g.node()).unwrap().node(), d.node());
    assert_eq!(fs.parent(d.node()).unwrap().node(), root);
    assert_eq!(names(&fs, root), ["d", "f"]);
    assert_eq!(names(&fs, d.node()), ["g"]);

    let changed = fs
        .wstat(
            f.node(),
            &SetMeta {
                mode: Some(0o640),
                mtime: Some(1_000_000_000.into()),
                length: Some(5),
                ..setmeta()
            },
            USER,
        )
        .unwrap();
    assert_eq!(
        (changed.mode, changed.mtime, changed.length),
        (0o640, 1_000_000_000, 5)
    );
    assert_eq!(served.read(f.node(), 0, 100).unwrap(), b"hello");
    // A reopened view agrees: the open fid kept for writing still reads.
    assert_eq!(fs.read(f.node(), 0, 100).unwrap(), b"hello");

    let renamed = fs.rename(f.node(), root, b"f2", USER).unwrap();
    assert_eq!(
        (renamed.name.as_slice(), renamed.node()),
        (&b"f2"[..], f.node())
    );
    assert_eq!(served.lookup(sroot, b"f2").unwrap().node(), f.node());
    // The node is still reachable by id after its rename.
    assert_eq!(fs.stat(f.node()).unwrap().name, b"f2");
    fs.sync(f.node()).unwrap();

    let owner = colony_ns::fs::NewFile {
        user: USER,
        ..Default::default()
    };
    let l = fs.symlink(d.node(), b"l", b"../f2", &owner).unwrap();
    assert_eq!(l.mode, DMSYMLINK | 0o777, "not masked by d's 0755");
    assert_eq!(fs.readlink(l.node()).unwrap(), b"../f2");
    assert_eq!(served.readlink(l.node()).unwrap(), b"../f2");

    fs.remove(g.node()).unwrap();
    fs.remove(l.node()).unwrap();
    fs.remove(d.node()).unwrap();
    assert!(matches!(fs.stat(d.node()), Err(Error::NotFound)));
    assert!(matches!(served.stat(d.node()), Err(Error::NotFound)));
    assert_eq!(names(&fs, root), ["f2"]);
    // A name freed by a remove can be made again, as a new node.
    let again = fs.create(root, b"d", 0o644, USER).unwrap();
    assert_ne!(again.node(), d.node());
}

/// Each error as the variant the server meant.
fn errors(served: Arc<dyn FileSystem>) {
    let rt = runtime();
    let fs = connect(&rt, served.clone(), ServerConfig::default(), USER);
    let root = fs.attach(USER, "").unwrap();
    let d = fs.create(root, b"d", DMDIR | 0o755, USER).unwrap();
    let e = fs.create(root, b"e", DMDIR | 0o755, USER).unwrap();
    let x = fs.create(d.node(), b"x", 0o644, USER).unwrap();
    let f = fs.create(root, b"f", 0o644, USER).unwrap();
    fs.write(x.node(), 0, b"x", USER).unwrap();

    let err = |r: Result<Meta, Error>| r.expect_err("should fail");
    assert!(matches!(err(fs.lookup(root, b"nope")), Error::NotFound));
    assert!(matches!(err(fs.lookup(f.node(), b"a")), Error::NotDir));
    assert!(matches!(
        err(fs.create(root, b"d", 0o644, USER)),
        Error::Exists
    ));
    assert!(matches!(
        err(fs.create(f.node(), b"a", 0o644, USER)),
        Error::NotDir
    ));
    assert!(matches!(
        err(fs.create(root, b"a/b", 0o644, USER)),
        Error::BadName
    ));
    assert!(matches!(fs.remove(d.node()), Err(Error::NotEmpty)));
    assert!(matches!(fs.remove(root), Err(Error::RemoveRoot)));
    assert!(matches!(
        err(fs.rename(x.node(), e.node(), b"x", USER)),
        Error::CrossDir
    ));
    assert!(matches!(
        err(fs.rename(f.node(), root, b"d", USER)),
        Error::Exists
    ));
    assert!(matches!(
        err(fs.rename(root, root, b"r", USER)),
        Error::RemoveRoot
    ));
    assert!(matches!(fs.readlink(f.node()), Err(Error::NotSymlink)));
    assert!(matches!(
        fs.write(d.node(), 0, b"x", USER),
        Err(Error::IsDir)
    ));
    assert!(matches!(
        fs.readdir(f.node(), 0, &mut |_| true),
        Err(Error::NotDir)
    ));
    let chown = SetMeta {
        uid: Some("bob".into()),
        ..setmeta()
    };
    assert!(matches!(
        err(fs.wstat(f.node(), &chown, USER)),
        Error::PermissionDenied
    ));
    let mkdir_bit = SetMeta {
        mode: Some(DMDIR | 0o755),
        ..setmeta()
    };
    assert!(matches!(
        err(fs.wstat(f.node(), &mkdir_bit, USER)),
        Error::DirBit
    ));
    assert!(matches!(fs.attach(USER, "other"), Err(Error::Other(_))));
    // Nothing above changed the tree.
    assert_eq!(names(&fs, root), ["d", "e", "f"]);
    assert_eq!(served.read(x.node(), 0, 10).unwrap(), b"x");
    assert_eq!(names(&*served, d.node()), ["x"]);
    // A node removed by someone else is gone for the client too.
    served.remove(f.node()).unwrap();
    assert!(matches!(fs.stat(f.node()), Err(Error::NotFound)));
    fs.remove(f.node()).expect_err("already removed");
    // Another user is refused what glenda's modes forbid.
    let bob = connect(&rt, served.clone(), ServerConfig::default(), "bob");
    let root_b = bob.attach("bob", "").unwrap();
    assert!(matches!(
        err(bob.create(root_b, b"mine", 0o644, "bob")),
        Error::PermissionDenied
    ));
}

#[test]
fn every_method_on_memfs() {
    every_method(memfs());
}

#[test]
fn every_method_on_fossil() {
    every_method(fossil());
}

#[test]
fn errors_on_memfs() {
    errors(memfs());
}

#[test]
fn errors_on_fossil() {
    errors(fossil());
}

/// Reads and writes far larger than msize are split, in order, whole.
#[test]
fn large_io_crosses_msize() {
    let rt = runtime();
    let served = memfs();
    let config = ServerConfig {
        msize: 8192 + IOHDRSZ,
        ..ServerConfig::default()
    };
    let fs = connect(&rt, served.clone(), config, USER);
    assert_eq!(fs.msize(), 8192 + IOHDRSZ);
    let root = fs.attach(USER, "").unwrap();
    let f = fs.create(root, b"big", 0o644, USER).unwrap();
    let data: Vec<u8> = (0..(1 << 20) + 13).map(|i: u32| (i % 253) as u8).collect();
    assert_eq!(
        fs.write(f.node(), 7, &data, USER).unwrap(),
        data.len() as u32
    );
    let mut want = vec![0; 7];
    want.extend_from_slice(&data);
    assert_eq!(served.read(f.node(), 0, 2 << 20).unwrap(), want);
    assert_eq!(fs.read(f.node(), 0, 2 << 20).unwrap(), want);
    assert_eq!(fs.read(f.node(), 5000, 10_000).unwrap(), want[5000..15_000]);
    // A reader that is not the writer opens its own fid.
    let other = connect(&rt, served.clone(), ServerConfig::default(), USER);
    let node = other.lookup(root, b"big").unwrap().node();
    assert_eq!(other.read(node, 1 << 20, 100).unwrap(), want[1 << 20..]);
    // Append-only files get their pieces in order.
    let log = fs
        .create(root, b"log", 0o644 | colony_ns::ninep::DMAPPEND, USER)
        .unwrap();
    fs.write(log.node(), 0, &data[..20_000], USER).unwrap();
    fs.write(log.node(), 0, &data[20_000..30_000], USER)
        .unwrap();
    assert_eq!(served.read(log.node(), 0, 1 << 20).unwrap(), data[..30_000]);
}

/// Many threads at once on one connection: each its own files, and all
/// on a shared one.
#[test]
fn concurrent_calls_from_many_threads() {
    let rt = runtime();
    let served = memfs();
    let fs = Arc::new(connect(&rt, served.clone(), ServerConfig::default(), USER));
    let root = fs.attach(USER, "").unwrap();
    let shared = fs.create(root, b"shared", 0o644, USER).unwrap().node();
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    fs.write(shared, 0, &blob, USER).unwrap();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (fs, blob) = (fs.clone(), blob.clone());
            std::thread::spawn(move || {
                let dir = fs
                    .create(root, format!("t{t}").as_bytes(), DMDIR | 0o755, USER)
                    .unwrap();
                for i in 0..20 {
                    let name = format!("f{i}");
                    let f = fs.create(dir.node(), name.as_bytes(), 0o644, USER).unwrap();
                    let body = format!("{t}/{i}").repeat(1000);
                    fs.write(f.node(), 0, body.as_bytes(), USER).unwrap();
                    assert_eq!(fs.read(f.node(), 0, 1 << 20).unwrap(), body.as_bytes());
                    assert_eq!(
                        fs.lookup(dir.node(), name.as_bytes()).unwrap().node(),
                        f.node()
                    );
                    assert_eq!(fs.read(shared, 1000, 5000).unwrap(), blob[1000..6000]);
                }
                assert_eq!(names(&*fs, dir.node()).len(), 20);
                dir.node()
            })
        })
        .collect();
    let dirs: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(dirs.iter().collect::<HashSet<_>>().len(), 16);
    for (t, dir) in dirs.iter().enumerate() {
        let f = served.lookup(*dir, b"f7").unwrap();
        assert_eq!(
            served.read(f.node(), 0, 100).unwrap(),
            format!("{t}/7").repeat(1000).as_bytes()[..100]
        );
    }
    assert_eq!(names(&*fs, root).len(), 17);
}

/// Cookies continue a listing where it stopped, over a snapshot that
/// changes elsewhere do not disturb.
#[test]
fn readdir_cookies_resume_a_snapshot() {
    let rt = runtime();
    let served = memfs();
    let fs = connect(&rt, served.clone(), ServerConfig::default(), USER);
    let root = fs.attach(USER, "").unwrap();
    for i in 0..500 {
        fs.create(root, format!("n{i:03}").as_bytes(), 0o644, USER)
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cookie = 0;
    loop {
        let mut got = 0;
        fs.readdir(root, cookie, &mut |e| {
            seen.push(String::from_utf8(e.meta.name).unwrap());
            cookie = e.cookie;
            got += 1;
            got < 50
        })
        .unwrap();
        if got == 0 {
            break;
        }
        // The directory changes between the pieces of the listing.
        if seen.len() == 100 {
            fs.create(root, b"late", 0o644, USER).unwrap();
            let gone = fs.lookup(root, b"n499").unwrap();
            fs.remove(gone.node()).unwrap();
        }
    }
    let want: Vec<String> = (0..500).map(|i| format!("n{i:03}")).collect();
    assert_eq!(seen, want, "the snapshot from cookie 0, each once");
    // A fresh listing shows the changes.
    let now = names(&fs, root);
    assert!(now.contains(&"late".to_string()) && !now.contains(&"n499".to_string()));
}

/// A tiny proxy between client and server whose requests can be held back
/// (so they are in flight) and which can be cut.
struct Proxy {
    hold: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn proxied(rt: &tokio::runtime::Runtime, served: Arc<dyn FileSystem>) -> (RemoteFs, Proxy) {
    rt.block_on(async {
        let (client, mut near) = tcp_pair().await;
        let (mut far, server_end) = tcp_pair().await;
        let server = colony_ns::Server::new(served, ServerConfig::default());
        tokio::spawn(async move { server.serve(server_end).await });
        let hold = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = hold.clone();
        let task = tokio::spawn(async move {
            let (mut near_rd, mut near_wr) = near.split();
            let (mut far_rd, mut far_wr) = far.split();
            let up = async {
                let mut buf = vec![0; 1 << 16];
                loop {
                    let n = near_rd.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    if !held.load(std::sync::atomic::Ordering::SeqCst) {
                        far_wr.write_all(&buf[..n]).await.unwrap();
                    }
                }
            };
            let down = tokio::io::copy(&mut far_rd, &mut near_wr);
            let _ = tokio::join!(up, down);
        });
        let fs = RemoteFs::connect(client, USER, "").await.expect("connect");
        (fs, Proxy { hold, task })
    })
}

#[test]
fn a_dead_connection_fails_every_call() {
    let rt = runtime();
    let served = memfs();
    let (fs, proxy) = proxied(&rt, served.clone());
    let fs = Arc::new(fs);
    let root = fs.attach(USER, "").unwrap();
    let f = fs.create(root, b"f", 0o644, USER).unwrap().node();
    fs.write(f, 0, b"data", USER).unwrap();
    // Requests sent now get no answer until the connection is cut.
    proxy.hold.store(true, std::sync::atomic::Ordering::SeqCst);
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let fs = fs.clone();
            std::thread::spawn(move || fs.read(f, 0, 10))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        waiting.iter().all(|t| !t.is_finished()),
        "held requests wait"
    );
    proxy.task.abort();
    let started = Instant::now();
    for t in waiting {
        let e = t.join().unwrap().expect_err("connection cut");
        assert!(matches!(e, Error::ConnectionLost(_)), "{e:?}");
        assert!(e.to_string().contains("closed"), "{e}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // Every later call fails at once, the same way.
    for r in [
        fs.stat(root).map(drop),
        fs.write(f, 0, b"x", USER).map(drop),
    ] {
        assert!(matches!(r, Err(Error::ConnectionLost(_))), "{r:?}");
    }
    assert_eq!(served.read(f, 0, 10).unwrap(), b"data");
}

#[test]
fn connect_fails_clearly() {
    let rt = runtime();
    // A peer that hangs up before answering Tversion.
    let e = rt
        .block_on(async {
            let (client, server_end) = tcp_pair().await;
            drop(server_end);
            RemoteFs::connect(client, USER, "").await
        })
        .expect_err("no server");
    assert!(
        matches!(e, Error::ConnectionLost(_) | Error::Io(_)),
        "{e:?}"
    );
    // A peer that answers garbage.
    let e = rt
        .block_on(async {
            let (client, mut server_end) = tcp_pair().await;
            server_end.write_all(&[3, 0, 0, 0]).await.unwrap();
            RemoteFs::connect(client, USER, "").await
        })
        .expect_err("garbage");
    assert!(matches!(e, Error::FrameTooSmall(3)), "{e:?}");
    // A server that cannot grant a useful msize.
    let e = rt
        .block_on(async {
            let (client, server_end) = tcp_pair().await;
            let config = ServerConfig {
                msize: 100,
                ..ServerConfig::default()
            };
            let server = colony_ns::Server::new(memfs(), config);
            tokio::spawn(async move { server.serve(server_end).await });
            RemoteFs::connect(client, USER, "").await
        })
        .expect_err("msize 100");
    assert!(matches!(e, Error::MsizeTooSmall), "{e:?}");
}

/// A peer that answers each request with what `answer` makes of it: for
/// the protocol errors our own server never makes.
async fn scripted_peer(answer: impl Fn(Fcall) -> Fcall + Send + 'static) -> tokio::net::TcpStream {
    let (client, mut peer) = tcp_pair().await;
    tokio::spawn(async move {
        while let Ok(Some(frame)) = read_frame(&mut peer, 1 << 20).await {
            let reply = answer(Fcall::decode(&frame).unwrap()).encode().unwrap();
            if peer.write_all(&reply).await.is_err() {
                return;
            }
        }
    });
    client
}

/// Answers version and attach as a server would, and `rest` after that.
fn handshake_then(rest: fn(Fcall) -> Fcall) -> impl Fn(Fcall) -> Fcall + Send + 'static {
    move |req| match req.msg {
        // A plain 9P2000 server's answer to 9P2000.colony.
        Message::Tversion(v) => Fcall::new(
            req.tag,
            Rversion {
                msize: v.msize.min(8192),
                version: "9P2000".into(),
            },
        ),
        Message::Tattach(_) => Fcall::new(
            req.tag,
            Rattach {
                qid: Qid {
                    ty: QTDIR,
                    version: 0,
                    path: 1,
                },
            },
        ),
        _ => rest(req),
    }
}

#[test]
fn protocol_breaches_are_clear_errors() {
    let rt = runtime();
    let connect_to = |answer: Box<dyn Fn(Fcall) -> Fcall + Send>| {
        rt.block_on(async {
            let client = scripted_peer(answer).await;
            RemoteFs::connect(client, USER, "").await
        })
    };
    let e = connect_to(Box::new(|req: Fcall| {
        Fcall::new(
            req.tag,
            Rversion {
                msize: 8192,
                version: "9P2000.L".into(),
            },
        )
    }))
    .expect_err("another protocol");
    assert!(matches!(&e, Error::Version(v) if v == "9P2000.L"), "{e:?}");
    let e =
        connect_to(Box::new(|req: Fcall| Fcall::new(req.tag, Rflush {}))).expect_err("wrong reply");
    assert!(
        matches!(
            e,
            Error::UnexpectedReply {
                sent: "Tversion",
                ..
            }
        ),
        "{e:?}"
    );
    let e = connect_to(Box::new(|req: Fcall| {
        Fcall::new(req.tag.wrapping_add(1), Rflush {})
    }))
    .expect_err("wrong tag");
    assert!(e.to_string().contains("tag"), "{e}");
    // After the handshake: a reply of the wrong type fails its call only.
    let fs = connect_to(Box::new(handshake_then(|req| {
        Fcall::new(req.tag, Rflush {})
    })))
    .unwrap();
    let e = fs.stat(1).expect_err("wrong reply");
    assert!(
        matches!(e, Error::UnexpectedReply { sent: "Tstat", .. }),
        "{e:?}"
    );
    // A reply to no request ends the connection: the stream is out of step.
    let fs = connect_to(Box::new(handshake_then(|req| {
        Fcall::new(req.tag.wrapping_add(100), Rflush {})
    })))
    .unwrap();
    let e = fs.stat(1).expect_err("unknown tag");
    assert!(
        matches!(&e, Error::ConnectionLost(why) if why.contains("tag")),
        "{e:?}"
    );
    assert!(matches!(fs.stat(1), Err(Error::ConnectionLost(_))));
}

/// Over 9P2000.colony a directory is listed in replies that each fit the
/// msize, however long its names: every entry comes back once.
#[test]
fn a_long_directory_lists_whole_over_the_extension() {
    let rt = runtime();
    let config = ServerConfig {
        linux: true,
        msize: 8192 + IOHDRSZ,
        ..ServerConfig::default()
    };
    let fs = connect(&rt, fossil(), config, USER);
    let root = fs.attach(USER, "").unwrap();
    let mut want = Vec::new();
    for i in 0..300 {
        let name = format!("{i:03}-{}", "n".repeat(240));
        fs.create(root, name.as_bytes(), 0o644, USER).unwrap();
        want.push(name);
    }
    want.sort();
    assert_eq!(names(&fs, root), want);
}
