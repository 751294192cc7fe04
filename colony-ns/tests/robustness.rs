//! Pipelining, flush, many connections, and clients that misbehave: over
//! real sockets, with a second client checking the server is unaffected.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use colony_ns::ninep::*;
use colony_ns::{
    DirEntry, FileSystem, ListenAddr, MemFs, Meta, NodeId, Result, Server, ServerConfig, SetMeta,
};
use common::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// A MemFs whose reads of one node wait until the test opens the gate: a
/// way to hold a request in flight while the test sends more.
struct GatedFs {
    inner: MemFs,
    gated: NodeId,
    open: Mutex<bool>,
    cv: Condvar,
}

impl GatedFs {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

impl FileSystem for GatedFs {
    fn attach(&self, u: &str, a: &str) -> Result<NodeId> {
        self.inner.attach(u, a)
    }
    fn stat(&self, n: NodeId) -> Result<Meta> {
        self.inner.stat(n)
    }
    fn lookup(&self, d: NodeId, name: &[u8]) -> Result<Meta> {
        self.inner.lookup(d, name)
    }
    fn parent(&self, n: NodeId) -> Result<Meta> {
        self.inner.parent(n)
    }
    fn read(&self, n: NodeId, off: u64, count: u32) -> Result<Vec<u8>> {
        assert_ne!(n, PANICS, "a file system bug");
        if n == self.gated {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.cv.wait(open).unwrap();
            }
        }
        self.inner.read(n, off, count)
    }
    fn write(&self, n: NodeId, off: u64, data: &[u8], user: &str) -> Result<u32> {
        self.inner.write(n, off, data, user)
    }
    fn create(&self, d: NodeId, name: &[u8], perm: u32, user: &str) -> Result<Meta> {
        self.inner.create(d, name, perm, user)
    }
    fn remove(&self, n: NodeId) -> Result<()> {
        self.inner.remove(n)
    }
    fn wstat(&self, n: NodeId, c: &SetMeta, user: &str) -> Result<Meta> {
        self.inner.wstat(n, c, user)
    }
    fn rename(&self, n: NodeId, d: NodeId, name: &[u8], user: &str) -> Result<Meta> {
        self.inner.rename(n, d, name, user)
    }
    fn readdir(
        &self,
        d: NodeId,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry) -> bool,
    ) -> Result<()> {
        self.inner.readdir(d, cookie, sink)
    }
}

/// Reading empty.txt (qid path 2) panics inside the file system.
const PANICS: NodeId = 2;

fn gated_tiny() -> Arc<GatedFs> {
    // hello.txt (qid path 3) is the gated file; other tests avoid it.
    Arc::new(GatedFs {
        inner: common::tiny_fs(),
        gated: 3,
        open: Mutex::new(false),
        cv: Condvar::new(),
    })
}

/// Opens `path` (from the root, fid 0) on `fid` for reading.
async fn open<S>(c: &mut Client<S>, fid: u32, path: &[&str])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let wnames = path.iter().map(|s| s.as_bytes().to_vec()).collect();
    let w = c
        .rpc(
            1,
            Twalk {
                fid: 0,
                newfid: fid,
                wnames,
            },
        )
        .await;
    assert!(
        matches!(w, Message::Rwalk(ref r) if r.wqids.len() == path.len()),
        "{w:?}"
    );
    let o = c.rpc(1, Topen { fid, mode: OREAD }).await;
    assert!(matches!(o, Message::Ropen(_)), "{o:?}");
}

/// A full read of hello.txt over a fresh connection: the server still works.
async fn still_serving(addr: std::net::SocketAddr) {
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello("root").await;
    open(&mut c, 1, &["tiny", "sub", "nested.txt"]).await;
    assert_eq!(
        c.read(1, 0, 100).await,
        Rread {
            data: b"nested\n".to_vec()
        }
        .into()
    );
}

async fn tiny_server() -> (colony_ns::ServerHandle, std::net::SocketAddr, Arc<GatedFs>) {
    let fs = gated_tiny();
    let server = Server::new(fs.clone(), ServerConfig::default());
    let h = server.bind_tcp("127.0.0.1:0").await.unwrap();
    let ListenAddr::Tcp(addr) = *h.local_addr() else {
        unreachable!()
    };
    (h, addr, fs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_by_tag() {
    let (h, addr, _fs) = tiny_server().await;
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello("root").await;
    open(&mut c, 1, &["tiny", "pattern.bin"]).await;
    // 40 reads in one write, each for a different 500-byte slice.
    let mut burst = Vec::new();
    for i in 0..40u16 {
        let t = Tread {
            fid: 1,
            offset: u64::from(i) * 500,
            count: 500,
        };
        burst.extend(Fcall::new(100 + i, t).encode().unwrap());
    }
    c.stream.write_all(&burst).await.unwrap();
    let pattern = common::pattern();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let reply = c.recv().await;
        let i = usize::from(reply.tag - 100);
        assert!(seen.insert(i), "tag answered twice");
        assert_eq!(
            reply.msg,
            Rread {
                data: pattern[i * 500..i * 500 + 500].to_vec()
            }
            .into()
        );
    }
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_the_request_it_flushes() {
    let (h, addr, fs) = tiny_server().await;
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello("root").await;
    open(&mut c, 1, &["tiny", "hello.txt"]).await;
    c.send(
        10,
        Tread {
            fid: 1,
            offset: 0,
            count: 100,
        },
    )
    .await;
    // A second request reusing the outstanding tag is refused.
    c.send(10, Tstat { fid: 1 }).await;
    let dup = c.recv().await;
    assert_eq!(
        dup,
        Fcall::new(
            10,
            Rerror {
                ename: error_strings::DUPLICATE_TAG.into()
            }
        )
    );
    c.send(11, Tflush { oldtag: 10 }).await;
    c.send(13, Tflush { oldtag: 10 }).await;
    // A flush of a tag not outstanding is answered at once.
    c.send(12, Tflush { oldtag: 99 }).await;
    assert_eq!(c.recv().await, Fcall::new(12, Rflush {}));
    // Nothing else arrives while the read is held.
    let mut probe = [0u8; 1];
    let quiet = tokio::time::timeout(Duration::from_millis(150), c.stream.peek(&mut probe)).await;
    assert!(quiet.is_err(), "no reply while the read is in flight");
    fs.release();
    // The read's answer counts, and comes before the Rflush.
    assert_eq!(
        c.recv().await,
        Fcall::new(
            10,
            Rread {
                data: b"hello, world\n".to_vec()
            }
        )
    );
    // Several flushes of one request are answered in order.
    assert_eq!(c.recv().await, Fcall::new(11, Rflush {}));
    assert_eq!(c.recv().await, Fcall::new(13, Rflush {}));
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(MemFs::with_root("sys", "sys", 0o777));
    let server = Server::new(fs, ServerConfig::default());
    let h = server.bind_unix(dir.path().join("9p.sock")).await.unwrap();
    let ListenAddr::Unix(path) = h.local_addr().clone() else {
        unreachable!()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16u32 {
        let path = path.clone();
        tasks.spawn(async move {
            let mut c = Client::new(UnixStream::connect(&path).await.unwrap());
            c.hello(&format!("user{n}")).await;
            c.rpc(
                1,
                Twalk {
                    fid: 0,
                    newfid: 1,
                    wnames: vec![],
                },
            )
            .await;
            let name = format!("file{n}");
            let created = c
                .rpc(
                    1,
                    Tcreate {
                        fid: 1,
                        name: name.into_bytes(),
                        perm: 0o644,
                        mode: ORDWR,
                    },
                )
                .await;
            assert!(matches!(created, Message::Rcreate(_)), "{created:?}");
            let body: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 + n) as u8).collect();
            for (i, chunk) in body.chunks(4000).enumerate() {
                let w = Twrite {
                    fid: 1,
                    offset: (i * 4000) as u64,
                    data: chunk.to_vec(),
                };
                assert_eq!(
                    c.rpc(2, w).await,
                    Rwrite {
                        count: chunk.len() as u32
                    }
                    .into()
                );
            }
            let mut back = Vec::new();
            loop {
                let r = c.read(1, back.len() as u64, 8000).await;
                let Message::Rread(r) = r else {
                    panic!("{r:?}")
                };
                if r.data.is_empty() {
                    break;
                }
                back.extend(r.data);
            }
            assert_eq!(back, body);
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    // All sixteen files are there.
    let mut c = Client::new(UnixStream::connect(&path).await.unwrap());
    c.hello("root").await;
    c.rpc(
        1,
        Twalk {
            fid: 0,
            newfid: 1,
            wnames: vec![],
        },
    )
    .await;
    c.rpc(
        1,
        Topen {
            fid: 1,
            mode: OREAD,
        },
    )
    .await;
    let Message::Rread(r) = c.read(1, 0, 8000).await else {
        panic!()
    };
    assert_eq!(Stat::decode_dir(&r.data).unwrap().len(), 16);
    h.shutdown().await.unwrap();
    assert!(!path.exists());
}

/// Reads until the server closes the connection; fails if it does not.
async fn expect_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(r.is_ok(), "server did not close the connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_disconnects_do_not_hurt_others() {
    let (h, addr, _fs) = tiny_server().await;
    // A second client, connected throughout.
    let mut bystander = Client::new(TcpStream::connect(addr).await.unwrap());
    bystander.hello("root").await;
    open(&mut bystander, 1, &["tiny", "sub", "nested.txt"]).await;

    // Impossible size field: the stream cannot be resynchronised; closed.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[3, 0, 0, 0, 0xde, 0xad]).await.unwrap();
    expect_closed(&mut s).await;

    // Larger than msize: closed.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0, 0, 0, 0x40, 100, 0xff, 0xff])
        .await
        .unwrap();
    expect_closed(&mut s).await;

    // Well framed but undecodable: an Rerror with its tag, and the
    // connection goes on.
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello("root").await;
    c.stream
        .write_all(&[9, 0, 0, 0, 200, 7, 0, 1, 2])
        .await
        .unwrap();
    let r = c.recv().await;
    assert_eq!(r.tag, 7);
    assert_eq!(
        r.msg,
        Rerror {
            ename: "unknown 9P message type 200".into()
        }
        .into()
    );
    c.stream.write_all(&[7, 0, 0, 0, 106, 8, 0]).await.unwrap(); // Terror
    assert_eq!(c.recv().await.tag, 8);
    c.send(9, Rclunk {}).await;
    assert_eq!(
        c.recv().await,
        Fcall::new(
            9,
            Rerror {
                ename: error_strings::BAD_MESSAGE.into()
            }
        )
    );
    let mut frame = Fcall::new(
        10,
        Twalk {
            fid: 0,
            newfid: 1,
            wnames: vec!["a".into()],
        },
    )
    .encode()
    .unwrap();
    frame[15] = 17; // nwname 17
    c.stream.write_all(&frame).await.unwrap();
    assert_eq!(
        c.recv().await,
        Fcall::new(
            10,
            Rerror {
                ename: "17 walk elements, the most is 16".into()
            }
        )
    );
    open(&mut c, 1, &["tiny"]).await;

    // Half a frame, then gone.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let frame = Fcall::new(
        NOTAG,
        Tversion {
            msize: 8192,
            version: "9P2000".into(),
        },
    )
    .encode()
    .unwrap();
    s.write_all(&frame[..10]).await.unwrap();
    drop(s);

    // Many requests in flight, then gone without reading a reply.
    let mut s = Client::new(TcpStream::connect(addr).await.unwrap());
    s.hello("root").await;
    open(&mut s, 1, &["tiny", "pattern.bin"]).await;
    let mut burst = Vec::new();
    for i in 0..200u16 {
        burst.extend(
            Fcall::new(
                i,
                Tread {
                    fid: 1,
                    offset: 0,
                    count: 8000,
                },
            )
            .encode()
            .unwrap(),
        );
    }
    s.stream.write_all(&burst).await.unwrap();
    drop(s);

    // Raw random bytes.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let _ = s.write_all(&noise).await;
    expect_closed(&mut s).await;

    // The bystander's session is intact, and new clients are served.
    assert_eq!(
        bystander.read(1, 0, 100).await,
        Rread {
            data: b"nested\n".to_vec()
        }
        .into()
    );
    still_serving(addr).await;
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_connections_and_stops_listening() {
    let (h, addr, _fs) = tiny_server().await;
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello("root").await;
    assert_eq!(
        h.local_addr().to_string(),
        format!("tcp!127.0.0.1!{}", addr.port())
    );
    tokio::time::timeout(Duration::from_secs(5), h.shutdown())
        .await
        .unwrap()
        .unwrap();
    expect_closed(&mut c.stream).await;
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_file_system_still_answers() {
    let (h, addr, _fs) = tiny_server().await;
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello("root").await;
    open(&mut c, 1, &["tiny", "empty.txt"]).await;
    let r = c.read(1, 0, 10).await;
    assert_eq!(
        r,
        Rerror {
            ename: "internal error".into()
        }
        .into()
    );
    open(&mut c, 2, &["tiny", "sub", "nested.txt"]).await;
    assert_eq!(
        c.read(2, 0, 3).await,
        Rread {
            data: b"nes".to_vec()
        }
        .into()
    );
    still_serving(addr).await;
    h.shutdown().await.unwrap();
}
