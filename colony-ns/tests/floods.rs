//! The 9P server under floods (issue 12, item 8): huge unames, fid
//! exhaustion, clients that never read their replies, idle connections
//! past the cap. Each gets a clear Rerror or a closed connection, memory
//! stays bounded, and a well-behaved client is answered within 2 s.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_ns::ninep::*;
use colony_ns::{ListenAddr, Server, ServerConfig, ServerHandle};
use common::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How fast a well-behaved client must be answered during a flood.
const PROMPT: Duration = Duration::from_secs(2);

async fn start(config: ServerConfig) -> (ServerHandle, std::net::SocketAddr) {
    let server = Server::new(Arc::new(common::tiny_fs()), config);
    let h = server.bind_tcp("127.0.0.1:0").await.unwrap();
    let ListenAddr::Tcp(addr) = *h.local_addr() else {
        unreachable!()
    };
    (h, addr)
}

/// A fresh client reads a file, within [`PROMPT`].
async fn well_behaved(addr: std::net::SocketAddr) {
    let t = Instant::now();
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello("glenda").await;
    let w = c.walk(0, 1, &["tiny", "sub", "nested.txt"]).await;
    assert!(matches!(w, Message::Rwalk(_)), "{w:?}");
    let o = c
        .rpc(
            3,
            Topen {
                fid: 1,
                mode: OREAD,
            },
        )
        .await;
    assert!(matches!(o, Message::Ropen(_)), "{o:?}");
    let r = c.read(1, 0, 100).await;
    assert_eq!(
        r,
        Rread {
            data: b"nested\n".to_vec()
        }
        .into()
    );
    assert!(t.elapsed() < PROMPT, "answered in {:?}", t.elapsed());
}

/// Reads until the server closes the connection, within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) {
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "server did not close the connection in {limit:?}"
    );
}

fn rerror_text(m: &Message) -> &str {
    match m {
        Message::Rerror(e) => &e.ename,
        other => panic!("want Rerror, got {other:?}"),
    }
}

/// Resident memory of this process, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn attach(fid: u32, uname: &str, aname: &str) -> Tattach {
    Tattach {
        fid,
        afid: NOFID,
        uname: uname.into(),
        aname: aname.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_names_and_fid_exhaustion_get_rerror_and_memory_stays_bounded() {
    let config = ServerConfig {
        max_fids: 4096,
        ..ServerConfig::default()
    };
    let max_fids = config.max_fids;
    let (h, addr) = start(config).await;
    let before = rss();
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    let msize = 65536 + IOHDRSZ;
    let v = c
        .rpc(
            NOTAG,
            Tversion {
                msize,
                version: VERSION.into(),
            },
        )
        .await;
    assert!(matches!(v, Message::Rversion(_)), "{v:?}");
    // The measured flood: a 60 KB uname on every attach.
    let huge = "u".repeat(60_000);
    for fid in 0..64 {
        let e = c.rpc(1, attach(fid, &huge, "")).await;
        assert_eq!(
            rerror_text(&e),
            "uname of 60000 bytes is too long, the most is 256"
        );
    }
    let e = c.rpc(1, attach(0, "glenda", &"a".repeat(5000))).await;
    assert_eq!(
        rerror_text(&e),
        "aname of 5000 bytes is too long, the most is 1024"
    );
    // 8192 fids asked for, pipelined 64 at a time: the first max_fids
    // are granted, every one after gets a clear Rerror.
    let a = c.rpc(1, attach(0, &"u".repeat(256), "")).await;
    assert!(matches!(a, Message::Rattach(_)), "{a:?}");
    let (mut granted, mut refused) = (1, 0);
    for batch in 0..128u32 {
        for i in 0..64u32 {
            let newfid = 1 + batch * 64 + i;
            let walk = Twalk {
                fid: 0,
                newfid,
                wnames: vec![],
            };
            c.send(i as u16, walk).await;
        }
        for _ in 0..64 {
            match c.recv().await.msg {
                Message::Rwalk(_) => granted += 1,
                Message::Rerror(e) => {
                    assert_eq!(
                        e.ename,
                        format!(
                            "too many fids: this connection holds {max_fids}, the most; clunk some"
                        )
                    );
                    refused += 1;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(granted, max_fids);
    assert_eq!(refused, 8192 + 1 - max_fids);
    let e = c.rpc(1, attach(99_999, "glenda", "")).await;
    assert!(rerror_text(&e).starts_with("too many fids"), "{e:?}");
    well_behaved(addr).await;
    // Clunking one makes room for one.
    let k = c.rpc(2, Tclunk { fid: 1 }).await;
    assert_eq!(k, Rclunk {}.into());
    let w = c.walk(0, 1, &[]).await;
    assert!(matches!(w, Message::Rwalk(_)), "{w:?}");
    let grown = rss().saturating_sub(before);
    eprintln!(
        "8192 fids and 60 KB unames asked for: RSS grew {} KiB",
        grown / 1024
    );
    // Unbounded, this grew the server by 471 MiB.
    assert!(grown < 64 << 20, "RSS grew {grown} bytes");
    h.shutdown().await.unwrap();
}

/// A client connection whose socket buffers are small, so that when the
/// server stops reading its writes block soon.
async fn small_window(addr: std::net::SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.set_send_buffer_size(4096).unwrap();
    sock.connect(addr).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_flushes_a_client_never_reads_stop_the_reading() {
    let config = ServerConfig {
        max_inflight: 4,
        write_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let (h, addr) = start(config).await;
    let mut flood = Client::new(small_window(addr).await);
    flood.hello("glenda").await;
    // Requests answered only by Rerror (an unknown fid) and Rflush (of
    // nothing in flight), never read. Before every reply counted against
    // the bound, the server read and buffered these without end.
    let mut chunk = Vec::new();
    for i in 0..256u16 {
        let msg: Message = if i % 2 == 0 {
            Tclunk { fid: 777 }.into()
        } else {
            Tflush { oldtag: 9 }.into()
        };
        chunk.extend(Fcall::new(i, msg).encode().unwrap());
    }
    let mut sent = 0usize;
    let blocked = loop {
        match tokio::time::timeout(Duration::from_millis(500), flood.stream.write_all(&chunk)).await
        {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(e)) => panic!("the server closed before stopping to read: {e}"),
            Err(_) => break true,
        }
        assert!(
            sent < 64 << 20,
            "the server read {sent} bytes without stopping"
        );
    };
    assert!(blocked);
    eprintln!(
        "the server stopped reading after {} KiB of requests",
        sent / 1024
    );
    // Others are served meanwhile.
    well_behaved(addr).await;
    // Its replies never move: the connection is closed at the write
    // timeout, which its blocked write learns.
    let reset = tokio::time::timeout(Duration::from_secs(10), async {
        while flood.stream.write_all(&chunk).await.is_ok() {}
    })
    .await;
    assert!(reset.is_ok(), "the server did not close the connection");
    well_behaved(addr).await;
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_and_silent_ones_time_out() {
    let handshake = Duration::from_secs(3);
    let config = ServerConfig {
        max_connections: 8,
        handshake_timeout: handshake,
        ..ServerConfig::default()
    };
    let (h, addr) = start(config).await;
    let t = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..7 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    // Accepted after the silent ones: once it is answered, all 8 are in.
    let mut early = Client::new(TcpStream::connect(addr).await.unwrap());
    early.hello("glenda").await;
    for _ in 0..50 {
        let mut extra = TcpStream::connect(addr).await.unwrap();
        closed_within(&mut extra, PROMPT).await;
    }
    assert!(t.elapsed() < handshake, "refused at once, not timed out");
    let w = early.walk(0, 1, &["tiny"]).await;
    assert!(matches!(w, Message::Rwalk(_)), "{w:?}");
    // The silent ones never sent Tversion: closed at the handshake timeout.
    for s in &mut silent {
        closed_within(s, handshake * 3).await;
    }
    well_behaved(addr).await;
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_time_out_when_asked() {
    let config = ServerConfig {
        idle_timeout: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    };
    let (h, addr) = start(config).await;
    let mut c = Client::new(TcpStream::connect(addr).await.unwrap());
    c.hello("glenda").await;
    closed_within(&mut c.stream, Duration::from_secs(5)).await;
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unix_socket_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("9p.sock");
    let server = Server::new(Arc::new(common::tiny_fs()), ServerConfig::default());
    let h = server.bind_unix(&path).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the socket: {left:?}");
    let mut c = Client::new(tokio::net::UnixStream::connect(&path).await.unwrap());
    c.hello("glenda").await;
    // A second bind on the same path fails.
    assert!(server.bind_unix(&path).await.is_err());
    h.shutdown().await.unwrap();
    assert!(!path.exists());
    drop(c.stream.shutdown().await);
}
