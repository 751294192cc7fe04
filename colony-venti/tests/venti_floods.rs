//! VentiServer under floods (issue 12, item 8): idle connections past the
//! cap, clients that never finish their handshake, clients that never
//! read their replies. Each gets a closed connection (and a log line), the
//! memory held for them stays bounded, and a well-behaved client is still
//! answered within 2 s.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_venti::proto::{Message, Rread, ServerLimits, Tread, VERSION_LINE, Version};
use colony_venti::{BlockStore, BlockType, MAX_BLOCK, MemStore, Score};
use common::{Raw, Running, start_with};

/// How fast a well-behaved client must be answered during a flood.
const PROMPT: Duration = Duration::from_secs(2);

/// One ping and one read on a fresh session, within [`PROMPT`].
fn well_behaved(addr: SocketAddr, score: Score, data: &[u8]) {
    let t = Instant::now();
    let mut c = Raw::session(addr, Version::V04);
    assert_eq!(c.rpc(9, &Message::Tping), Message::Rping);
    let read = Message::Tread(Tread::new(score, 13, MAX_BLOCK as u32));
    assert_eq!(
        c.rpc(10, &read),
        Message::Rread(Rread {
            data: data.to_vec()
        })
    );
    assert!(t.elapsed() < PROMPT, "answered in {:?}", t.elapsed());
}

/// Reads until the server closes; panics on data or after [`PROMPT`] × 5.
fn assert_closed_soon(s: &mut TcpStream) {
    s.set_read_timeout(Some(PROMPT * 5)).unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("want the connection closed, got {other:?}"),
    }
}

/// Resident memory of this process, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn block_store() -> (Arc<MemStore>, Score, Vec<u8>) {
    let store = Arc::new(MemStore::new());
    let data: Vec<u8> = (0..MAX_BLOCK).map(|i| (i * 7 % 251) as u8).collect();
    let score = store.write(BlockType::DATA, &data).unwrap();
    (store, score, data)
}

#[test]
fn connections_past_the_cap_are_closed_and_idle_ones_time_out() {
    let (store, score, data) = block_store();
    let limits = ServerLimits {
        max_connections: 16,
        handshake_timeout: Duration::from_millis(1500),
        ..ServerLimits::default()
    };
    let srv = start_with(store, limits);
    let stats = srv.handle.as_ref().unwrap().stats().clone();
    // A client in session before the flood keeps being served.
    let mut early = Raw::session(srv.addr, Version::V04);
    let mut idle: Vec<TcpStream> = (0..15)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    // Each served connection gets the version line first: wait for all 15,
    // so the cap is surely reached.
    for s in &mut idle {
        let mut line = [0u8; 21];
        s.read_exact(&mut line).unwrap();
        assert_eq!(&line, VERSION_LINE);
    }
    assert_eq!(stats.connections(), 16);
    // Past the cap: accepted and closed at once, without a version line.
    for _ in 0..50 {
        let mut extra = TcpStream::connect(srv.addr).unwrap();
        assert_closed_soon(&mut extra);
    }
    assert_eq!(stats.refused(), 50);
    let t = Instant::now();
    assert_eq!(early.rpc(1, &Message::Tping), Message::Rping);
    assert!(t.elapsed() < PROMPT);
    // The idle ones never said hello: dropped at the handshake timeout,
    // after which newcomers are served again.
    for s in &mut idle {
        assert_closed_soon(s);
    }
    well_behaved(srv.addr, score, &data);
    assert_eq!(early.rpc(2, &Message::Tping), Message::Rping);
    srv.shutdown();
}

/// A session whose socket takes in little: its replies back up in the
/// server as soon as it stops reading.
fn small_window_session(srv: &Running) -> Raw {
    let addr = srv.addr;
    let s = srv.rt.block_on(async move {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        sock.connect(addr).await.unwrap().into_std().unwrap()
    });
    s.set_nonblocking(false).unwrap();
    Raw::session_over(s, Version::V04)
}

#[test]
fn clients_that_never_read_replies_are_held_to_the_bound() {
    const FLOODERS: usize = 8;
    const BOUND: usize = 1 << 20;
    let (store, score, data) = block_store();
    let limits = ServerLimits {
        max_reply_bytes: BOUND,
        ..ServerLimits::default()
    };
    let srv = start_with(store, limits);
    let stats = srv.handle.as_ref().unwrap().stats().clone();
    let before = rss();
    // Each asks for 256 maximal blocks (14 MiB of replies) and reads none.
    let read = Message::Tread(Tread::new(score, 13, MAX_BLOCK as u32));
    let mut flood: Vec<Raw> = (0..FLOODERS).map(|_| small_window_session(&srv)).collect();
    for c in &mut flood {
        for tag in 0..=255 {
            c.send(tag, &read);
        }
    }
    // Wait until the server holds replies for every flooder (the sockets
    // are full), then check the bound while good clients come and go.
    let t = Instant::now();
    while stats.reply_bytes() < FLOODERS * BOUND / 2 {
        assert!(t.elapsed() < PROMPT * 10, "held {}", stats.reply_bytes());
        std::thread::yield_now();
    }
    for _ in 0..5 {
        well_behaved(srv.addr, score, &data);
        let held = stats.reply_bytes();
        assert!(held <= FLOODERS * BOUND, "{held} bytes of replies held");
    }
    let grown = rss().saturating_sub(before);
    eprintln!(
        "flood of {FLOODERS} non-reading clients: {} bytes of replies held, RSS grew {} KiB",
        stats.reply_bytes(),
        grown / 1024
    );
    // Unbounded, the server would hold 8 × 14 MiB; allow the bound plus
    // buffers, threads and allocator slack.
    assert!(
        grown < FLOODERS * BOUND + 48 * (1 << 20),
        "RSS grew {grown} bytes"
    );
    // A flooder that reads again gets every reply, in whatever order.
    let c = &mut flood[0];
    let mut tags = [false; 256];
    for _ in 0..256 {
        let (tag, msg) = c.recv();
        assert!(matches!(msg, Message::Rread(_)), "{msg:?}");
        tags[usize::from(tag)] = true;
    }
    assert!(tags.iter().all(|&t| t));
    drop(flood);
    srv.shutdown();
    assert_eq!(stats.reply_bytes(), 0);
}

#[test]
fn a_tag_is_reusable_as_soon_as_its_reply_is_read() {
    let (store, _, _) = block_store();
    let srv = start_with(store, ServerLimits::default());
    let mut c = Raw::session(srv.addr, Version::V04);
    // The reply can reach the client before the server marks it written;
    // reusing the tag at once must not be taken for a protocol error.
    for _ in 0..2000 {
        assert_eq!(c.rpc(0, &Message::Tping), Message::Rping);
    }
    srv.shutdown();
}

#[test]
fn a_client_that_stops_reading_is_closed_at_the_write_timeout() {
    let (store, score, data) = block_store();
    let limits = ServerLimits {
        max_reply_bytes: 256 << 10,
        write_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let srv = start_with(store, limits);
    let stats = srv.handle.as_ref().unwrap().stats().clone();
    let mut c = small_window_session(&srv);
    let read = Message::Tread(Tread::new(score, 13, MAX_BLOCK as u32));
    // 14 MiB of replies asked for, none read: the writer is stuck as soon
    // as the socket is full, and the connection is closed a second later.
    let t = Instant::now();
    for tag in 0..=255u8 {
        c.send(tag, &read);
    }
    while stats.connections() > 0 {
        assert!(t.elapsed() < PROMPT * 5, "never closed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "closed by the timeout"
    );
    well_behaved(srv.addr, score, &data);
    srv.shutdown();
    assert_eq!(stats.reply_bytes(), 0);
}
