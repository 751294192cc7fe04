//! The server's 9P semantics, end to end over real TCP sockets, checked on
//! a MemFs and on a live Fossil.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_ns::ninep::*;
use colony_ns::{
    FileSystem, FossilFs, ListenAddr, MemFs, Meta, Server, ServerConfig, ServerHandle,
};
use colony_venti::MemStore;
use common::Client;
use tokio::net::TcpStream;

type Tcp = Client<TcpStream>;

/// The file system the semantics are checked on, each starting as an
/// empty root owned by glenda, mode 0775.
#[derive(Clone, Copy)]
enum Backend {
    Mem,
    /// A live Fossil, reopened from a saved empty tree so the tests run on
    /// nodes loaded from blocks as well as on new ones.
    Fossil,
}

fn root_meta() -> Meta {
    Meta {
        qid: Qid::default(),
        mode: DMDIR | 0o775,
        atime: 0,
        mtime: 0,
        length: 0,
        name: "/".into(),
        uid: "glenda".into(),
        gid: "glenda".into(),
        muid: String::new(),
        ..Meta::default()
    }
}

fn empty_fs(backend: Backend) -> Arc<dyn FileSystem> {
    match backend {
        Backend::Mem => Arc::new(MemFs::new(root_meta())),
        Backend::Fossil => {
            let store = Arc::new(MemStore::new());
            let options = FossilOptions {
                owner: "glenda".into(),
                ..FossilOptions::default()
            };
            let new = Fossil::create_empty(store.clone(), options.clone()).unwrap();
            let score = new.save().unwrap();
            let fossil = Fossil::open(store, score, options).unwrap();
            Arc::new(FossilFs::new(Arc::new(fossil)))
        }
    }
}

async fn start(backend: Backend) -> (ServerHandle, SocketAddr) {
    start_with(backend, ServerConfig::default()).await
}

async fn start_with(backend: Backend, config: ServerConfig) -> (ServerHandle, SocketAddr) {
    let server = Server::new(empty_fs(backend), config);
    let handle = server.bind_tcp("127.0.0.1:0").await.unwrap();
    let ListenAddr::Tcp(addr) = *handle.local_addr() else {
        unreachable!()
    };
    (handle, addr)
}

/// Runs each named check against every backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memfs {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Mem).await
            })*
        }
        mod fossil {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Fossil).await
            })*
        }
    };
}

on_every_backend!(
    version_negotiation,
    auth_attach_and_fids,
    walks,
    search_permission_is_checked_on_walk,
    open_create_read_write,
    permissions_between_users,
    exclusive_use_append_only_and_rclose,
    directory_reads,
    remove_and_wstat,
    a_linked_file_is_changed_by_the_walked_name,
    names_are_bytes_on_the_wire,
    the_linux_extension_only_where_offered,
);

/// Connects, negotiates 9P2000 with msize 8192, attaches fid 0 as `user`.
async fn session(addr: SocketAddr, user: &str) -> Tcp {
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello(user).await;
    c
}

fn ename(m: Message) -> String {
    match m {
        Message::Rerror(e) => e.ename,
        other => panic!("expected Rerror, got {other:?}"),
    }
}

/// Creates `name` in the root through a fresh fid, leaving it open with `mode`.
async fn create(c: &mut Tcp, fid: u32, name: impl AsRef<[u8]>, perm: u32, mode: u8) -> Message {
    assert!(matches!(c.walk(0, fid, &[]).await, Message::Rwalk(_)));
    c.rpc(
        3,
        Tcreate {
            fid,
            name: name.as_ref().to_vec(),
            perm,
            mode,
        },
    )
    .await
}

async fn write(c: &mut Tcp, fid: u32, offset: u64, data: &[u8]) -> Message {
    c.rpc(
        4,
        Twrite {
            fid,
            offset,
            data: data.to_vec(),
        },
    )
    .await
}

fn data(m: Message) -> Vec<u8> {
    match m {
        Message::Rread(r) => r.data,
        other => panic!("expected Rread, got {other:?}"),
    }
}

async fn clunk(c: &mut Tcp, fid: u32) -> Message {
    c.rpc(6, Tclunk { fid }).await
}

async fn stat(c: &mut Tcp, fid: u32) -> Stat {
    match c.rpc(7, Tstat { fid }).await {
        Message::Rstat(r) => r.stat,
        other => panic!("expected Rstat, got {other:?}"),
    }
}

async fn wstat(c: &mut Tcp, fid: u32, stat: Stat) -> Message {
    c.rpc(8, Twstat { fid, stat }).await
}

async fn version_negotiation(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    // Nothing before Tversion.
    let early = c
        .rpc(
            1,
            Tattach {
                fid: 0,
                afid: NOFID,
                uname: "u".into(),
                aname: "".into(),
            },
        )
        .await;
    assert_eq!(ename(early), error_strings::NO_VERSION);
    let v = c
        .rpc(
            NOTAG,
            Tversion {
                msize: 1 << 30,
                version: "9P2000.u".into(),
            },
        )
        .await;
    assert_eq!(
        v,
        Rversion {
            msize: ServerConfig::default().msize,
            version: "9P2000".into()
        }
        .into()
    );
    let v = c
        .rpc(
            NOTAG,
            Tversion {
                msize: 8192,
                version: "9P1999".into(),
            },
        )
        .await;
    assert_eq!(
        v,
        Rversion {
            msize: 8192,
            version: "unknown".into()
        }
        .into()
    );
    let v = c
        .rpc(
            NOTAG,
            Tversion {
                msize: 100,
                version: "9P2000".into(),
            },
        )
        .await;
    assert_eq!(ename(v), error_strings::MSIZE_TOO_SMALL);
    // A new Tversion ends the session: fid 0 is gone afterwards.
    let mut c = session(addr, "glenda").await;
    c.rpc(
        NOTAG,
        Tversion {
            msize: 8192,
            version: "9P2000".into(),
        },
    )
    .await;
    assert_eq!(
        ename(c.rpc(1, Tstat { fid: 0 }).await),
        error_strings::UNKNOWN_FID
    );
    h.shutdown().await.unwrap();
}

async fn auth_attach_and_fids(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut c = session(addr, "glenda").await;
    let auth = c
        .rpc(
            1,
            Tauth {
                afid: 5,
                uname: "glenda".into(),
                aname: "".into(),
            },
        )
        .await;
    assert_eq!(ename(auth), "colony: authentication not required");
    let again = c
        .rpc(
            1,
            Tattach {
                fid: 0,
                afid: NOFID,
                uname: "x".into(),
                aname: "".into(),
            },
        )
        .await;
    assert_eq!(ename(again), error_strings::FID_IN_USE);
    let afid = c
        .rpc(
            1,
            Tattach {
                fid: 9,
                afid: 5,
                uname: "x".into(),
                aname: "".into(),
            },
        )
        .await;
    assert_eq!(ename(afid), error_strings::UNKNOWN_FID);
    assert_eq!(
        ename(c.rpc(1, Tstat { fid: 42 }).await),
        error_strings::UNKNOWN_FID
    );
    assert_eq!(ename(clunk(&mut c, 42).await), error_strings::UNKNOWN_FID);
    let root = stat(&mut c, 0).await;
    assert_eq!((root.name.as_slice(), root.qid.ty), (&b"/"[..], QTDIR));
    h.shutdown().await.unwrap();
}

async fn walks(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut c = session(addr, "glenda").await;
    let Message::Rcreate(_) = create(&mut c, 1, "d", DMDIR | 0o755, OREAD).await else {
        panic!()
    };
    clunk(&mut c, 1).await;
    let Message::Rwalk(w) = c.walk(0, 1, &["d"]).await else {
        panic!()
    };
    let Message::Rcreate(_) = c
        .rpc(
            3,
            Tcreate {
                fid: 1,
                name: "f".into(),
                perm: 0o644,
                mode: OWRITE,
            },
        )
        .await
    else {
        panic!()
    };
    clunk(&mut c, 1).await;
    let dq = w.wqids[0];
    assert!(dq.is_dir());
    // Full walk binds newfid.
    let Message::Rwalk(full) = c.walk(0, 1, &["d", "f"]).await else {
        panic!()
    };
    assert_eq!(full.wqids.len(), 2);
    assert_eq!(stat(&mut c, 1).await.name, b"f");
    // newfid in use.
    assert_eq!(ename(c.walk(0, 1, &["d"]).await), error_strings::FID_IN_USE);
    // Partial walk: qids so far, newfid not created.
    let Message::Rwalk(part) = c.walk(0, 2, &["d", "nope", "x"]).await else {
        panic!()
    };
    assert_eq!(part.wqids.len(), 1);
    assert_eq!((part.wqids[0].ty, part.wqids[0].path), (dq.ty, dq.path));
    assert_eq!(
        ename(c.rpc(1, Tstat { fid: 2 }).await),
        error_strings::UNKNOWN_FID
    );
    // Walking through a file stops there.
    let Message::Rwalk(part) = c.walk(0, 2, &["d", "f", "x"]).await else {
        panic!()
    };
    assert_eq!(part.wqids.len(), 2);
    // First element failing is an error.
    assert_eq!(
        ename(c.walk(0, 2, &["nope"]).await),
        error_strings::NOT_FOUND
    );
    assert_eq!(ename(c.walk(1, 2, &["x"]).await), error_strings::NOT_DIR);
    // ".." at the root stays at the root; ".." from d is the root.
    let Message::Rwalk(up) = c.walk(0, 2, &["..", "d", ".."]).await else {
        panic!()
    };
    assert_eq!(up.wqids[0].path, 0);
    assert_eq!(up.wqids[2].path, 0);
    // Clone with nwname 0, and walk a fid onto itself.
    let Message::Rwalk(none) = c.walk(0, 3, &[]).await else {
        panic!()
    };
    assert!(none.wqids.is_empty());
    let Message::Rwalk(_) = c.walk(3, 3, &["d"]).await else {
        panic!()
    };
    assert_eq!(stat(&mut c, 3).await.name, b"d");
    // An open fid cannot be walked.
    c.rpc(
        9,
        Topen {
            fid: 3,
            mode: OREAD,
        },
    )
    .await;
    assert_eq!(ename(c.walk(3, 4, &[]).await), error_strings::FID_OPEN);
    h.shutdown().await.unwrap();
}

async fn search_permission_is_checked_on_walk(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut c = session(addr, "glenda").await;
    create(&mut c, 1, "private", DMDIR | 0o700, OREAD).await;
    let mut bob = session(addr, "bob").await;
    let Message::Rwalk(w) = bob.walk(0, 1, &["private"]).await else {
        panic!()
    };
    assert_eq!(w.wqids.len(), 1);
    // The walk into private stops: bob may not search it.
    let Message::Rwalk(w) = bob.walk(0, 2, &["private", "x"]).await else {
        panic!()
    };
    assert_eq!(w.wqids.len(), 1);
    assert_eq!(
        ename(bob.walk(1, 2, &["x"]).await),
        error_strings::PERMISSION_DENIED
    );
    h.shutdown().await.unwrap();
}

async fn open_create_read_write(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut c = session(addr, "glenda").await;
    let Message::Rcreate(r) = create(&mut c, 1, "f", 0o666, ORDWR).await else {
        panic!()
    };
    assert_eq!(r.iounit, 8192 - IOHDRSZ);
    assert_eq!(
        write(&mut c, 1, 0, b"hello world").await,
        Rwrite { count: 11 }.into()
    );
    assert_eq!(data(c.read(1, 6, 100).await), b"world");
    assert_eq!(data(c.read(1, 11, 100).await), b"");
    assert_eq!(data(c.read(1, 1000, 100).await), b"");
    // Reads are clamped to the iounit.
    write(&mut c, 1, 0, &vec![7; 8000]).await;
    write(&mut c, 1, 8000, &vec![7; 8000]).await;
    assert_eq!(
        data(c.read(1, 0, 1 << 20).await).len(),
        (8192 - IOHDRSZ) as usize
    );
    // A fid cannot be opened twice.
    assert_eq!(
        ename(
            c.rpc(
                1,
                Topen {
                    fid: 1,
                    mode: OREAD
                }
            )
            .await
        ),
        error_strings::FID_OPEN
    );
    clunk(&mut c, 1).await;
    let s = {
        c.walk(0, 1, &["f"]).await;
        stat(&mut c, 1).await
    };
    // The directory's 0775 masks the 0666 asked for: rw-rw-r--.
    assert_eq!(
        (s.mode, s.length, s.uid.as_str(), s.gid.as_str()),
        (0o664, 16000, "glenda", "glenda")
    );
    // Read-only and write-only opens are enforced.
    c.rpc(
        1,
        Topen {
            fid: 1,
            mode: OREAD,
        },
    )
    .await;
    assert_eq!(
        ename(write(&mut c, 1, 0, b"x").await),
        error_strings::NOT_OPEN_WRITE
    );
    c.walk(0, 2, &["f"]).await;
    c.rpc(
        1,
        Topen {
            fid: 2,
            mode: OWRITE | OTRUNC,
        },
    )
    .await;
    assert_eq!(ename(c.read(2, 0, 10).await), error_strings::NOT_OPEN_READ);
    assert_eq!(stat(&mut c, 2).await.length, 0, "OTRUNC truncated");
    // Not open at all.
    c.walk(0, 3, &["f"]).await;
    assert_eq!(ename(c.read(3, 0, 10).await), error_strings::NOT_OPEN_READ);
    // Existing name, bad names, create in a file.
    assert_eq!(
        ename(create(&mut c, 4, "f", 0o644, OREAD).await),
        error_strings::EXISTS
    );
    assert_eq!(
        ename(
            c.rpc(
                3,
                Tcreate {
                    fid: 4,
                    name: "..".into(),
                    perm: 0o644,
                    mode: OREAD
                }
            )
            .await
        ),
        error_strings::BAD_NAME
    );
    assert_eq!(
        ename(
            c.rpc(
                3,
                Tcreate {
                    fid: 3,
                    name: "x".into(),
                    perm: 0o644,
                    mode: OREAD
                }
            )
            .await
        ),
        error_strings::NOT_DIR
    );
    // Directories: no writing, no truncation.
    c.walk(0, 5, &[]).await;
    assert_eq!(
        ename(
            c.rpc(
                1,
                Topen {
                    fid: 5,
                    mode: OWRITE
                }
            )
            .await
        ),
        error_strings::IS_DIR
    );
    assert_eq!(
        ename(
            c.rpc(
                1,
                Topen {
                    fid: 5,
                    mode: OREAD | OTRUNC
                }
            )
            .await
        ),
        error_strings::IS_DIR
    );
    assert_eq!(
        ename(
            c.rpc(
                3,
                Tcreate {
                    fid: 5,
                    name: "dd".into(),
                    perm: DMDIR | 0o755,
                    mode: OWRITE
                }
            )
            .await
        ),
        error_strings::IS_DIR
    );
    h.shutdown().await.unwrap();
}

async fn permissions_between_users(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut glenda = session(addr, "glenda").await;
    create(&mut glenda, 1, "mine", 0o644, OWRITE).await;
    write(&mut glenda, 1, 0, b"secret").await;
    let mut bob = session(addr, "bob").await;
    bob.walk(0, 1, &["mine"]).await;
    assert_eq!(
        ename(
            bob.rpc(
                1,
                Topen {
                    fid: 1,
                    mode: OWRITE
                }
            )
            .await
        ),
        error_strings::PERMISSION_DENIED
    );
    assert!(matches!(
        bob.rpc(
            1,
            Topen {
                fid: 1,
                mode: OREAD
            }
        )
        .await,
        Message::Ropen(_)
    ));
    assert_eq!(data(bob.read(1, 0, 100).await), b"secret");
    // Bob may not create in glenda's 0775 root, nor remove from it, nor chmod.
    assert_eq!(
        ename(create(&mut bob, 2, "his", 0o644, OREAD).await),
        error_strings::PERMISSION_DENIED
    );
    bob.walk(0, 3, &["mine"]).await;
    let chmod = Stat {
        mode: 0o666,
        ..Stat::dont_touch()
    };
    assert_eq!(
        ename(wstat(&mut bob, 3, chmod).await),
        error_strings::PERMISSION_DENIED
    );
    assert_eq!(
        ename(bob.rpc(1, Tremove { fid: 3 }).await),
        error_strings::PERMISSION_DENIED
    );
    // Remove clunked the fid even though it failed.
    assert_eq!(
        ename(bob.rpc(1, Tstat { fid: 3 }).await),
        error_strings::UNKNOWN_FID
    );
    h.shutdown().await.unwrap();
}

async fn exclusive_use_append_only_and_rclose(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut c = session(addr, "glenda").await;
    create(&mut c, 1, "lock", DMEXCL | 0o666, ORDWR).await;
    // A second open, even from another connection, fails while fid 1 is open.
    let mut other = session(addr, "glenda").await;
    other.walk(0, 1, &["lock"]).await;
    assert_eq!(
        ename(
            other
                .rpc(
                    1,
                    Topen {
                        fid: 1,
                        mode: OREAD
                    }
                )
                .await
        ),
        error_strings::IN_USE
    );
    clunk(&mut c, 1).await;
    assert!(matches!(
        other
            .rpc(
                1,
                Topen {
                    fid: 1,
                    mode: OREAD
                }
            )
            .await,
        Message::Ropen(_)
    ));
    // Dropping the connection releases its exclusive opens.
    drop(other);
    c.walk(0, 2, &["lock"]).await;
    let mut opened = false;
    for _ in 0..100 {
        if matches!(
            c.rpc(
                1,
                Topen {
                    fid: 2,
                    mode: OREAD
                }
            )
            .await,
            Message::Ropen(_)
        ) {
            opened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(opened, "exclusive lock released when its connection ended");

    let Message::Rcreate(q) = create(&mut c, 3, "log", DMAPPEND | 0o666, OWRITE).await else {
        panic!()
    };
    assert_eq!(q.qid.ty, QTAPPEND);
    write(&mut c, 3, 0, b"one ").await;
    write(&mut c, 3, 0, b"two").await;
    clunk(&mut c, 3).await;
    c.walk(0, 3, &["log"]).await;
    c.rpc(
        1,
        Topen {
            fid: 3,
            mode: ORDWR | OTRUNC,
        },
    )
    .await;
    assert_eq!(
        data(c.read(3, 0, 100).await),
        b"one two",
        "append-only ignores offset and OTRUNC"
    );

    create(&mut c, 4, "tmp", 0o666, OWRITE | ORCLOSE).await;
    c.walk(0, 5, &["tmp"]).await;
    clunk(&mut c, 4).await;
    assert_eq!(
        ename(c.walk(0, 6, &["tmp"]).await),
        error_strings::NOT_FOUND
    );
    assert_eq!(
        ename(c.rpc(1, Tstat { fid: 5 }).await),
        error_strings::NOT_FOUND
    );
    h.shutdown().await.unwrap();
}

async fn directory_reads(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut c = session(addr, "glenda").await;
    let mut names: Vec<String> = (0..40)
        .map(|i| format!("file-with-a-longish-name-{i:02}"))
        .collect();
    for (i, n) in names.iter().enumerate() {
        create(&mut c, 100 + i as u32, n, 0o644, OREAD).await;
    }
    c.walk(0, 1, &[]).await;
    c.rpc(
        1,
        Topen {
            fid: 1,
            mode: OREAD,
        },
    )
    .await;
    // Small counts: every reply holds whole entries only.
    let mut offset = 0;
    let mut seen = Vec::new();
    loop {
        let chunk = data(c.read(1, offset, 300).await);
        if chunk.is_empty() {
            break;
        }
        assert!(chunk.len() <= 300);
        seen.extend(
            Stat::decode_dir(&chunk)
                .unwrap()
                .into_iter()
                .map(|s| String::from_utf8(s.name).unwrap()),
        );
        offset += chunk.len() as u64;
    }
    assert_eq!(seen, names);
    // Seeking elsewhere than 0 or the end of the last read is refused.
    assert_eq!(
        ename(c.read(1, 5, 300).await),
        error_strings::BAD_DIR_OFFSET
    );
    // Rewinding to 0 starts over.
    let first = Stat::decode_dir(&data(c.read(1, 0, 8000).await)).unwrap();
    assert_eq!(first.len(), 40);
    assert_eq!(
        ename(c.read(1, 0, 20).await),
        error_strings::DIR_ENTRY_TOO_BIG
    );
    // Entries removed meanwhile are not listed twice nor do others vanish.
    let next = data(c.read(1, 0, 300).await);
    let got = Stat::decode_dir(&next).unwrap().len();
    c.walk(0, 2, &[&names[0]]).await;
    c.rpc(1, Tremove { fid: 2 }).await;
    let mut rest = Vec::new();
    let mut offset = next.len() as u64;
    loop {
        let chunk = data(c.read(1, offset, 300).await);
        if chunk.is_empty() {
            break;
        }
        rest.extend(
            Stat::decode_dir(&chunk)
                .unwrap()
                .into_iter()
                .map(|s| String::from_utf8(s.name).unwrap()),
        );
        offset += chunk.len() as u64;
    }
    names.remove(0);
    assert_eq!(rest, names[got - 1..]);
    h.shutdown().await.unwrap();
}

async fn remove_and_wstat(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut c = session(addr, "glenda").await;
    create(&mut c, 1, "d", DMDIR | 0o775, OREAD).await;
    clunk(&mut c, 1).await;
    c.walk(0, 1, &["d"]).await;
    c.rpc(
        3,
        Tcreate {
            fid: 1,
            name: "f".into(),
            perm: 0o644,
            mode: OWRITE,
        },
    )
    .await;
    write(&mut c, 1, 0, b"0123456789").await;
    clunk(&mut c, 1).await;
    c.walk(0, 1, &["d"]).await;
    assert_eq!(
        ename(c.rpc(1, Tremove { fid: 1 }).await),
        error_strings::NOT_EMPTY
    );
    // The failed remove still clunked fid 1.
    c.walk(0, 1, &["d"]).await;
    c.walk(0, 2, &["d", "f"]).await;
    // Rename within the directory, with "don't touch" elsewhere.
    let rename = Stat {
        name: "g".into(),
        ..Stat::dont_touch()
    };
    assert_eq!(wstat(&mut c, 2, rename).await, Rwstat {}.into());
    let Message::Rwalk(w) = c.walk(0, 3, &["d", "f"]).await else {
        panic!()
    };
    assert_eq!(w.wqids.len(), 1, "old name gone");
    let Message::Rwalk(w) = c.walk(0, 3, &["d", "g"]).await else {
        panic!()
    };
    assert_eq!(w.wqids.len(), 2);
    // All or nothing: a good mode with a colliding name changes nothing.
    c.walk(0, 4, &["d"]).await;
    c.rpc(
        3,
        Tcreate {
            fid: 4,
            name: "h".into(),
            perm: 0o644,
            mode: OREAD,
        },
    )
    .await;
    let both = Stat {
        name: "h".into(),
        mode: 0o600,
        ..Stat::dont_touch()
    };
    assert_eq!(ename(wstat(&mut c, 2, both).await), error_strings::EXISTS);
    assert_eq!(stat(&mut c, 2).await.mode, 0o644);
    // Mode, mtime, length.
    let change = Stat {
        mode: 0o600,
        mtime: 1234,
        length: 4,
        ..Stat::dont_touch()
    };
    assert_eq!(wstat(&mut c, 2, change).await, Rwstat {}.into());
    let s = stat(&mut c, 2).await;
    assert_eq!(
        (s.mode, s.mtime, s.length, s.name.as_slice()),
        (0o600, 1234, 4, &b"g"[..])
    );
    // Refused: directory bit, directory length, owner, qid.
    let dirbit = Stat {
        mode: DMDIR | 0o600,
        ..Stat::dont_touch()
    };
    assert_eq!(
        ename(wstat(&mut c, 2, dirbit).await),
        error_strings::DIR_BIT
    );
    let dirlen = Stat {
        length: 9,
        ..Stat::dont_touch()
    };
    assert_eq!(
        ename(wstat(&mut c, 1, dirlen).await),
        error_strings::DIR_LENGTH
    );
    let chown = Stat {
        uid: "bob".into(),
        ..Stat::dont_touch()
    };
    assert_eq!(
        ename(wstat(&mut c, 2, chown).await),
        error_strings::PERMISSION_DENIED
    );
    let qid = Stat {
        qid: Qid {
            ty: 0,
            version: 0,
            path: 9,
        },
        ..Stat::dont_touch()
    };
    assert_eq!(
        ename(wstat(&mut c, 2, qid).await),
        error_strings::WSTAT_FIELD
    );
    // All "don't touch": a sync, answered Rwstat.
    assert_eq!(wstat(&mut c, 2, Stat::dont_touch()).await, Rwstat {}.into());
    // Remove works on files, then on the emptied directory; not on the root.
    assert_eq!(c.rpc(1, Tremove { fid: 2 }).await, Rremove {}.into());
    c.walk(0, 2, &["d", "h"]).await;
    assert_eq!(c.rpc(1, Tremove { fid: 2 }).await, Rremove {}.into());
    assert_eq!(c.rpc(1, Tremove { fid: 1 }).await, Rremove {}.into());
    c.walk(0, 9, &[]).await;
    assert_eq!(
        ename(c.rpc(1, Tremove { fid: 9 }).await),
        error_strings::REMOVE_ROOT
    );
    h.shutdown().await.unwrap();
}

/// A file of several names (made through the trait: 9P2000 has no links)
/// is renamed and removed by the name a client walked to, not another.
async fn a_linked_file_is_changed_by_the_walked_name(backend: Backend) {
    let fs = empty_fs(backend);
    let root = fs.attach("glenda", "").unwrap();
    let d = fs
        .create(root, b"d", DMDIR | 0o775, "glenda")
        .unwrap()
        .node();
    let f = fs.create(root, b"f", 0o664, "glenda").unwrap().node();
    fs.link(f, d, b"g").unwrap();
    let server = Server::new(fs.clone(), ServerConfig::default());
    let handle = server.bind_tcp("127.0.0.1:0").await.unwrap();
    let ListenAddr::Tcp(addr) = *handle.local_addr() else {
        unreachable!()
    };
    let mut c = session(addr, "glenda").await;
    c.walk(0, 1, &["d", "g"]).await;
    // A rename (with a mode) takes the walked name too.
    let rename = Stat {
        name: "g2".into(),
        mode: 0o600,
        ..Stat::dont_touch()
    };
    assert_eq!(wstat(&mut c, 1, rename).await, Rwstat {}.into());
    assert_eq!(fs.lookup(d, b"g2").unwrap().node(), f);
    assert_eq!(fs.lookup(root, b"f").unwrap().node(), f);
    assert_eq!(fs.stat(f).unwrap().mode & 0o777, 0o600);
    let taken = Stat {
        name: "f".into(),
        ..Stat::dont_touch()
    };
    fs.create(d, b"f", 0o644, "glenda").unwrap();
    assert_eq!(ename(wstat(&mut c, 1, taken).await), error_strings::EXISTS);
    assert_eq!(c.rpc(1, Tremove { fid: 1 }).await, Rremove {}.into());
    assert_eq!(fs.lookup(root, b"f").unwrap().node(), f);
    assert!(fs.lookup(d, b"g2").is_err());
    assert_eq!(fs.stat(f).unwrap().nlink, 1);
}

/// Walks from the root to `newfid` through names given as bytes.
async fn walk_bytes(c: &mut Tcp, newfid: u32, wnames: &[&[u8]]) -> Message {
    let wnames = wnames.iter().map(|n| n.to_vec()).collect();
    c.rpc(
        2,
        Twalk {
            fid: 0,
            newfid,
            wnames,
        },
    )
    .await
}

/// Names are the client's bytes (v9fs and plan9port send what Linux has):
/// created, walked to, listed, stat'ed and renamed as they are; a
/// malformed or too long name gets its own error text.
async fn names_are_bytes_on_the_wire(backend: Backend) {
    let (h, addr) = start(backend).await;
    let mut c = session(addr, "glenda").await;
    let Message::Rcreate(_) = create(&mut c, 1, b"caf\xe9", 0o644, ORDWR).await else {
        panic!()
    };
    write(&mut c, 1, 0, b"latin-1").await;
    clunk(&mut c, 1).await;
    let Message::Rwalk(w) = walk_bytes(&mut c, 2, &[b"caf\xe9"]).await else {
        panic!()
    };
    assert_eq!(w.wqids.len(), 1);
    assert_eq!(stat(&mut c, 2).await.name, b"caf\xe9");
    let rename = Stat {
        name: b"\xff\xfe".to_vec(),
        ..Stat::dont_touch()
    };
    assert!(matches!(wstat(&mut c, 2, rename).await, Message::Rwstat(_)));
    assert_eq!(
        ename(walk_bytes(&mut c, 3, &[b"caf\xe9"]).await),
        error_strings::NOT_FOUND
    );
    c.walk(0, 3, &[]).await;
    c.rpc(
        1,
        Topen {
            fid: 3,
            mode: OREAD,
        },
    )
    .await;
    let listed = Stat::decode_dir(&data(c.read(3, 0, 8192).await)).unwrap();
    let names: Vec<&[u8]> = listed.iter().map(|s| s.name.as_slice()).collect();
    assert_eq!(names, [b"\xff\xfe"]);
    for (bad, want) in [
        (&b"a/b"[..], error_strings::BAD_NAME),
        (b"..", error_strings::BAD_NAME),
        (&[b'x'; 256], error_strings::FILE_NAME_TOO_LONG),
    ] {
        let got = ename(create(&mut c, 4, bad, 0o644, ORDWR).await);
        assert_eq!(got, want, "{}", bad.escape_ascii());
        clunk(&mut c, 4).await;
    }
    h.shutdown().await.unwrap();
}

/// Negotiates `version` and attaches fid 0 as glenda; the agreed version.
async fn attach_as(c: &mut Tcp, version: &str) -> String {
    let v = c
        .rpc(
            NOTAG,
            Tversion {
                msize: 8192,
                version: version.into(),
            },
        )
        .await;
    let Message::Rversion(v) = v else {
        panic!("{v:?}")
    };
    let attach = Tattach {
        fid: 0,
        afid: NOFID,
        uname: "glenda".into(),
        aname: "".into(),
    };
    assert!(matches!(c.rpc(1, attach).await, Message::Rattach(_)));
    v.version
}

/// 9P2000.colony skips Plan 9's permission checks, so only a server
/// configured for it (for trusted clients) agrees to it; elsewhere a
/// client asking for it gets 9P2000, and a Tlinux is refused.
async fn the_linux_extension_only_where_offered(backend: Backend) {
    use colony_ns::ninep::linux::{LinuxOp, LinuxReply, VERSION_LINUX};
    let stat = Tlinux {
        fid: 0,
        op: LinuxOp::Stat.encode().unwrap(),
    };
    let (h, addr) = start(backend).await;
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    assert_eq!(attach_as(&mut c, VERSION_LINUX).await, "9P2000");
    assert_eq!(
        ename(c.rpc(3, stat.clone()).await),
        error_strings::BAD_MESSAGE
    );
    h.shutdown().await.unwrap();

    let config = ServerConfig {
        linux: true,
        ..ServerConfig::default()
    };
    let (h, addr) = start_with(backend, config).await;
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    assert_eq!(attach_as(&mut c, VERSION_LINUX).await, VERSION_LINUX);
    let Message::Rlinux(r) = c.rpc(3, stat).await else {
        panic!("no Rlinux")
    };
    let LinuxReply::Meta(root) = LinuxReply::decode(&r.reply).unwrap() else {
        panic!("not a stat")
    };
    assert_eq!((root.uid.as_str(), root.mode), ("glenda", DMDIR | 0o775));
    let garbage = Tlinux {
        fid: 0,
        op: vec![0xff; 3],
    };
    let e = ename(c.rpc(4, garbage).await);
    assert!(e.starts_with("malformed 9P2000.colony message"), "{e}");
    let unknown_fid = Tlinux {
        fid: 9,
        op: LinuxOp::Stat.encode().unwrap(),
    };
    assert_eq!(
        ename(c.rpc(5, unknown_fid).await),
        error_strings::UNKNOWN_FID
    );
    // A client asking for plain 9P2000 gets it, and no Tlinux.
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    assert_eq!(attach_as(&mut c, "9P2000").await, "9P2000");
    let stat = Tlinux {
        fid: 0,
        op: LinuxOp::Stat.encode().unwrap(),
    };
    assert_eq!(ename(c.rpc(3, stat).await), error_strings::BAD_MESSAGE);
    h.shutdown().await.unwrap();
}
