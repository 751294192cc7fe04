//! VentiClient against our server and against a plan9port-like peer.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_venti::proto::{ClientConfig, VentiClient, Version};
use colony_venti::{BlockStore, BlockType, Error, MAX_BLOCK, MemStore, Score};
use common::{PanickyStore, PeerMode, plan9port_peer, start};

fn block(i: u32) -> Vec<u8> {
    let mut b = format!("block {i} ").into_bytes();
    b.resize(100 + (i as usize * 37) % 9000, (i % 251) as u8 + 1);
    b
}

#[test]
fn block_store_over_the_network() {
    let store = MemStore::new();
    let srv = start(Arc::new(store.clone()));
    let c = VentiClient::connect(srv.addr).unwrap();
    assert_eq!(c.version(), Version::V04);
    c.ping().unwrap();
    let s = c.write(BlockType::DATA, b"hello").unwrap();
    assert_eq!(s.to_string(), "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
    assert_eq!(c.read(&s, BlockType::DATA).unwrap(), b"hello");
    assert!(c.has(&s, BlockType::DATA).unwrap());
    assert!(!c.has(&s, BlockType::DIR).unwrap());
    assert!(
        matches!(c.read(&s, BlockType::ROOT), Err(Error::NotFound { score, ty }) if score == s && ty == BlockType::ROOT)
    );
    assert_eq!(c.write(BlockType::DATA, b"").unwrap(), Score::EMPTY);
    assert!(matches!(
        c.write(BlockType::DATA, &vec![1; MAX_BLOCK + 1]),
        Err(Error::TooLarge { .. })
    ));
    let big = vec![3u8; MAX_BLOCK];
    let sb = c.write(BlockType::pointer(2).unwrap(), &big).unwrap();
    assert_eq!(c.read(&sb, BlockType::pointer(2).unwrap()).unwrap(), big);
    c.sync().unwrap();
    assert_eq!(store.len(), 2);
    drop(c);
    srv.shutdown();
}

#[test]
fn many_threads_share_one_client() {
    let srv = start(Arc::new(MemStore::new()));
    let c = Arc::new(VentiClient::connect(srv.addr).unwrap());
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let b = block(t * 1000 + i);
                    let s = c.write(BlockType::DATA, &b).unwrap();
                    assert_eq!(c.read(&s, BlockType::DATA).unwrap(), b);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    srv.shutdown();
}

/// Writers that run out of tags wait for replies to free some, and every
/// one finishes: a writer that flushed, then waited without looking again,
/// slept through the replies that came in between (an hour, the wait with
/// nothing in flight).
#[test]
fn writers_out_of_tags_all_finish() {
    let srv = start(Arc::new(MemStore::new()));
    let c = Arc::new(VentiClient::connect(srv.addr).unwrap());
    let (done, finished) = std::sync::mpsc::channel();
    for t in 0..4u32 {
        let (c, done) = (c.clone(), done.clone());
        std::thread::spawn(move || {
            for i in 0..3000 {
                c.write(BlockType::DATA, &(t * 10_000 + i).to_be_bytes())
                    .unwrap();
            }
            done.send(()).unwrap();
        });
    }
    for _ in 0..4 {
        finished
            .recv_timeout(Duration::from_secs(120))
            .expect("a writer is stuck waiting for a tag");
    }
    c.sync().unwrap();
    drop(c);
    srv.shutdown();
}

#[test]
fn batches_keep_many_requests_in_flight() {
    let srv = start(Arc::new(MemStore::new()));
    let c = VentiClient::connect(srv.addr).unwrap();
    let blocks: Vec<Vec<u8>> = (0..2000).map(block).collect();
    let mut reqs: Vec<(BlockType, &[u8])> =
        blocks.iter().map(|b| (BlockType::DATA, &b[..])).collect();
    reqs.insert(7, (BlockType::DATA, b""));
    let scores = c.write_many(&reqs).unwrap();
    assert_eq!(scores.len(), reqs.len());
    for ((_, data), s) in reqs.iter().zip(&scores) {
        assert_eq!(*s, Score::of(data));
    }
    let mut wanted: Vec<(Score, BlockType)> =
        scores.iter().map(|s| (*s, BlockType::DATA)).collect();
    wanted.push((Score::of(b"absent"), BlockType::DATA));
    wanted.push((Score::NONE, BlockType::DIR));
    let got = c.read_many(&wanted);
    for (i, (_, data)) in reqs.iter().enumerate() {
        assert_eq!(got[i].as_ref().unwrap(), data);
    }
    assert!(matches!(got[reqs.len()], Err(Error::NotFound { .. })));
    assert_eq!(got[reqs.len() + 1].as_ref().unwrap(), b"");
    // A batch with a block too large fails before sending anything.
    let huge = vec![0u8; MAX_BLOCK + 1];
    assert!(matches!(
        c.write_many(&[(BlockType::DATA, &huge)]),
        Err(Error::TooLarge { .. })
    ));
    srv.shutdown();
}

/// Two threads running batches at once compete for the 256 tags without
/// deadlock.
#[test]
fn concurrent_batches() {
    let srv = start(Arc::new(MemStore::new()));
    let c = Arc::new(VentiClient::connect(srv.addr).unwrap());
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let blocks: Vec<Vec<u8>> = (0..600).map(|i| block(t * 10_000 + i)).collect();
                let reqs: Vec<(BlockType, &[u8])> =
                    blocks.iter().map(|b| (BlockType::DATA, &b[..])).collect();
                let scores = c.write_many(&reqs).unwrap();
                let wanted: Vec<_> = scores.iter().map(|s| (*s, BlockType::DATA)).collect();
                for (got, b) in c.read_many(&wanted).into_iter().zip(&blocks) {
                    assert_eq!(&got.unwrap(), b);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    srv.shutdown();
}

#[test]
fn usable_from_spawn_blocking() {
    let srv = start(Arc::new(MemStore::new()));
    let addr = srv.addr;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c = rt
        .block_on(rt.spawn_blocking(move || VentiClient::connect(addr)))
        .unwrap()
        .unwrap();
    let c = Arc::new(c);
    let jobs: Vec<_> = (0..16u32)
        .map(|i| {
            let c = c.clone();
            rt.spawn_blocking(move || {
                let b = block(i);
                let s = c.write(BlockType::DATA, &b).unwrap();
                assert_eq!(c.read(&s, BlockType::DATA).unwrap(), b);
                c.sync().unwrap();
            })
        })
        .collect();
    rt.block_on(async {
        for j in jobs {
            j.await.unwrap();
        }
    });
    // Dropped inside the runtime's blocking pool, too.
    rt.block_on(rt.spawn_blocking(move || drop(c))).unwrap();
    srv.shutdown();
}

/// Against a server that speaks only 02 and answers like plan9port:
/// Rerror to Tping, nothing stored for da39….
#[test]
fn works_with_a_02_only_plan9port_like_server() {
    let (addr, peer) = plan9port_peer(b"venti-02-libventi\n", PeerMode::default());
    let c = VentiClient::connect(addr).unwrap();
    assert_eq!(c.version(), Version::V02);
    c.ping().expect("Rerror to Tping still means alive");
    let s = c.write(BlockType::DATA, b"hello").unwrap();
    assert_eq!(c.read(&s, BlockType::DATA).unwrap(), b"hello");
    // This server fails reads of da39…: the client must never ask.
    assert_eq!(c.read(&Score::EMPTY, BlockType::DATA).unwrap(), b"");
    assert!(c.has(&Score::EMPTY, BlockType::DIR).unwrap());
    assert!(!c.has(&Score::of(b"nope"), BlockType::DATA).unwrap());
    let blocks: Vec<Vec<u8>> = (0..300).map(block).collect();
    let reqs: Vec<(BlockType, &[u8])> = blocks.iter().map(|b| (BlockType::DIR, &b[..])).collect();
    let scores = c.write_many(&reqs).unwrap();
    let wanted: Vec<_> = scores.iter().map(|s| (*s, BlockType::DIR)).collect();
    assert!(
        c.read_many(&wanted)
            .iter()
            .zip(&blocks)
            .all(|(g, b)| g.as_ref().unwrap() == b)
    );
    c.sync().unwrap();
    drop(c);
    let store = peer.join().unwrap();
    assert_eq!(store.len(), 301);
}

#[test]
fn replies_are_verified() {
    let (addr, peer) = plan9port_peer(
        b"venti-04:02-libventi\n",
        PeerMode {
            lie: true,
            ..PeerMode::default()
        },
    );
    let c = VentiClient::connect(addr).unwrap();
    // Writes stream: the lie shows at the next sync.
    assert_eq!(
        c.write(BlockType::DATA, b"hello").unwrap(),
        Score::of(b"hello")
    );
    let err = c.sync().unwrap_err();
    assert!(matches!(err, Error::HashMismatch { .. }), "{err}");
    c.sync().expect("a failed write is reported once");
    let err = c.read(&Score::of(b"hello"), BlockType::DATA).unwrap_err();
    assert!(matches!(err, Error::HashMismatch { .. }), "{err}");
    drop(c);
    peer.join().unwrap();
}

#[test]
fn connection_loss_fails_requests_clearly() {
    let (addr, peer) = plan9port_peer(
        b"venti-04:02-libventi\n",
        PeerMode {
            hang_up_after: Some(2),
            ..PeerMode::default()
        },
    );
    let c = VentiClient::connect(addr).unwrap();
    c.write(BlockType::DATA, b"one").unwrap();
    c.ping().unwrap();
    let err = c.read(&Score::of(b"one"), BlockType::DATA).unwrap_err();
    assert!(matches!(err, Error::Disconnected(_)), "{err}");
    // Later requests fail at once, batches included.
    assert!(matches!(c.sync(), Err(Error::Disconnected(_))));
    let got = c.read_many(&[
        (Score::of(b"one"), BlockType::DATA),
        (Score::EMPTY, BlockType::DATA),
    ]);
    assert!(matches!(got[0], Err(Error::Disconnected(_))));
    assert_eq!(
        got[1].as_ref().unwrap(),
        b"",
        "local answers need no server"
    );
    peer.join().unwrap();

    // Pipelined requests in flight when the server dies all fail.
    let (addr, peer) = plan9port_peer(
        b"venti-04:02-libventi\n",
        PeerMode {
            hang_up_after: Some(10),
            ..PeerMode::default()
        },
    );
    let c = VentiClient::connect(addr).unwrap();
    let blocks: Vec<Vec<u8>> = (0..100).map(block).collect();
    let reqs: Vec<(BlockType, &[u8])> = blocks.iter().map(|b| (BlockType::DATA, &b[..])).collect();
    assert!(matches!(c.write_many(&reqs), Err(Error::Disconnected(_))));
    peer.join().unwrap();
}

#[test]
fn handshake_failures() {
    // No common version.
    let (addr, peer) = plan9port_peer(b"venti-05-x\n", PeerMode::default());
    assert!(matches!(VentiClient::connect(addr), Err(Error::Version(_))));
    peer.join().unwrap();
    // Nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(matches!(VentiClient::connect(port), Err(Error::Net { .. })));
}

#[test]
fn a_reply_of_the_wrong_type_fails_the_connection() {
    let (addr, peer) = plan9port_peer(
        b"venti-04:02-libventi\n",
        PeerMode {
            wrong_type: true,
            ..PeerMode::default()
        },
    );
    let c = VentiClient::connect(addr).unwrap();
    let err = c.read(&Score::of(b"x"), BlockType::DATA).unwrap_err();
    assert!(
        matches!(&err, Error::Disconnected(why) if matches!(**why, Error::UnexpectedReply { .. })),
        "{err}"
    );
    assert!(matches!(c.ping(), Err(Error::Disconnected(_))));
    drop(c);
    peer.join().unwrap();
}

#[test]
fn a_silent_server_fails_calls_within_twice_the_silence() {
    let (addr, peer) = plan9port_peer(
        b"venti-04:02-libventi\n",
        PeerMode {
            silent_after: Some(1),
            ..PeerMode::default()
        },
    );
    let silence = Duration::from_millis(200);
    let config = ClientConfig {
        silence,
        ..ClientConfig::default()
    };
    let c = VentiClient::connect_with(addr, config).unwrap();
    // The write is answered; the server falls silent from the sync on.
    let score = c.write(BlockType::DATA, b"one").unwrap();
    let started = Instant::now();
    let err = c.sync().unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&err, Error::Disconnected(why) if matches!(**why, Error::Silent(_))),
        "{err}"
    );
    assert!(took >= 2 * silence, "probed first: took {took:?}");
    assert!(took < 2 * silence + Duration::from_secs(1), "took {took:?}");
    // Later calls fail at once.
    assert!(matches!(
        c.read(&score, BlockType::DATA),
        Err(Error::Disconnected(_))
    ));
    assert!(c.write(BlockType::DATA, b"two").is_err());
    drop(c);
    peer.join().unwrap();
}

#[test]
fn has_tells_absent_from_failed() {
    let srv = start(Arc::new(MemStore::new()));
    let c = VentiClient::connect(srv.addr).unwrap();
    let score = c.write(BlockType::DATA, b"here").unwrap();
    assert!(c.has(&score, BlockType::DATA).unwrap());
    assert!(!c.has(&Score::of(b"absent"), BlockType::DATA).unwrap());
    assert!(
        !c.has(&score, BlockType::DIR).unwrap(),
        "wrong type is absent"
    );
    srv.shutdown();
    // A server whose store fails answers Rerror: that is no "absent".
    let srv = start(Arc::new(PanickyStore));
    let c = VentiClient::connect(srv.addr).unwrap();
    let err = c.has(&score, BlockType::DATA).unwrap_err();
    assert!(matches!(err, Error::Remote(_)), "{err}");
    drop(c);
    srv.shutdown();
}

#[test]
fn streamed_writes_are_readable_at_once_and_synced() {
    let srv = start(Arc::new(MemStore::new()));
    let c = VentiClient::connect(srv.addr).unwrap();
    let blocks: Vec<Vec<u8>> = (0..2000).map(block).collect();
    for b in &blocks {
        let score = c.write(BlockType::DATA, b).unwrap();
        assert_eq!(score, Score::of(b));
    }
    // A read right after a write sees the block, even while writes stream.
    assert_eq!(
        c.read(&Score::of(&blocks[1999]), BlockType::DATA).unwrap(),
        blocks[1999]
    );
    c.sync().unwrap();
    let got = c.read_many(
        &blocks
            .iter()
            .map(|b| (Score::of(b), BlockType::DATA))
            .collect::<Vec<_>>(),
    );
    for (g, b) in got.iter().zip(&blocks) {
        assert_eq!(g.as_ref().unwrap(), b);
    }
    srv.shutdown();
}
