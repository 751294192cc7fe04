//! VentiServer over real sockets: semantics, bad input, concurrency.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use colony_venti::proto::{Message, Rread, Rwrite, Thello, Tread, Twrite, Version};
use colony_venti::{BlockStore, BlockType, MAX_BLOCK, MemStore, Score};
use common::{GateStore, PanickyStore, Raw, rerror, start};

fn twrite(ty: u8, data: &[u8]) -> Message {
    Message::Twrite(Twrite {
        ty,
        pad: [0; 3],
        data: data.to_vec(),
    })
}

fn tread(score: Score, ty: u8, count: u32) -> Message {
    Message::Tread(Tread::new(score, ty, count))
}

fn rread(data: &[u8]) -> Message {
    Message::Rread(Rread {
        data: data.to_vec(),
    })
}

#[test]
fn read_write_sync_ping_in_both_versions() {
    let store = MemStore::new();
    let srv = start(Arc::new(store.clone()));
    for v in [Version::V04, Version::V02] {
        let mut c = Raw::session(srv.addr, v);
        let fox = b"The quick brown fox jumps over the lazy dog";
        let score = Score::of(fox);
        assert_eq!(
            c.rpc(3, &twrite(13, fox)),
            Message::Rwrite(Rwrite { score })
        );
        assert_eq!(c.rpc(4, &tread(score, 13, 8192)), rread(fox));
        // The 4-byte count form.
        let wide = Message::Tread(Tread {
            wide: true,
            ..Tread::new(score, 13, 100)
        });
        assert_eq!(c.rpc(5, &wide), rread(fox));
        // Wrong type: absent, with plan9port's text and libventi numbering.
        assert_eq!(
            c.rpc(6, &tread(score, 3, 100)),
            rerror(&format!("no block with score {score}/9 exists"))
        );
        assert_eq!(
            c.rpc(7, &tread(score, 13, 42)),
            rerror("read too small: asked for 42 need at least 43")
        );
        assert_eq!(c.rpc(8, &tread(Score::NONE, 1, 0)), rread(b""));
        assert_eq!(c.rpc(9, &tread(Score::EMPTY, 13, 0)), rread(b""));
        assert_eq!(c.rpc(10, &Message::Tsync), Message::Rsync);
        // Deliberate improvement over plan9port: Tping gets Rping.
        assert_eq!(c.rpc(255, &Message::Tping), Message::Rping);
        // Empty write: the zero score, nothing stored.
        assert_eq!(
            c.rpc(11, &twrite(2, b"")),
            Message::Rwrite(Rwrite {
                score: Score::EMPTY
            })
        );
    }
    assert_eq!(store.len(), 1);
    srv.shutdown();
}

#[test]
fn write_limits_and_invalid_types() {
    let store = MemStore::new();
    let srv = start(Arc::new(store.clone()));
    let mut c = Raw::session(srv.addr, Version::V04);
    let max = vec![7u8; MAX_BLOCK];
    assert_eq!(
        c.rpc(1, &twrite(13, &max)),
        Message::Rwrite(Rwrite {
            score: Score::of(&max)
        })
    );
    assert_eq!(
        c.rpc(2, &twrite(13, &vec![7u8; MAX_BLOCK + 1])),
        rerror("lump too large")
    );
    for bad in [0u8, 10, 11, 12, 14, 255] {
        assert_eq!(
            c.rpc(3, &twrite(bad, b"x")),
            rerror(&format!("invalid block type {bad}"))
        );
        assert_eq!(
            c.rpc(4, &tread(Score::of(b"x"), bad, 10)),
            rerror(&format!("invalid block type {bad}"))
        );
    }
    assert_eq!(
        store.len(),
        1,
        "nothing stored for invalid types or oversize lumps"
    );
    // A 02 frame can carry more than a block; it is refused the same way.
    let mut c2 = Raw::session(srv.addr, Version::V02);
    assert_eq!(
        c2.rpc(5, &twrite(13, &vec![1u8; 65529])),
        rerror("lump too large")
    );
    srv.shutdown();
}

#[test]
fn unparseable_and_unknown_messages_get_rerror_and_the_session_goes_on() {
    let srv = start(Arc::new(MemStore::new()));
    let mut c = Raw::session(srv.addr, Version::V04);
    // Tauth0 (8), Tauth1 (10), Rgoodbye (7) and types nobody defines.
    for kind in [0u8, 7, 8, 10, 18, 200] {
        c.send_body(&[kind, 5]);
        assert_eq!(
            c.recv(),
            (
                5,
                rerror(&format!("bad venti message: unknown message type {kind}"))
            )
        );
    }
    // R-messages sent to the server, and a second Thello.
    for msg in [
        Message::Rping,
        Message::Rsync,
        Message::Rread(Rread { data: vec![1] }),
        Message::Rwrite(Rwrite {
            score: Score::EMPTY,
        }),
        rerror("hi"),
        Message::Thello(Thello::anonymous("04")),
    ] {
        assert_eq!(c.rpc(6, &msg), rerror("unknown request"));
    }
    // Trailing bytes, missing bytes, a 3-byte count, a bad string.
    c.send_body(&[2, 9, 0]);
    assert_eq!(
        c.recv(),
        (9, rerror("bad venti message: Tping: 1 bytes left over"))
    );
    c.send_body(&[14, 9, 13]);
    assert_eq!(c.recv(), (9, rerror("bad venti message: Twrite too short")));
    let mut body = vec![12, 9];
    body.extend_from_slice(&[0; 20]);
    body.extend_from_slice(&[13, 0, 0, 0, 1]);
    c.send_body(&body);
    assert_eq!(
        c.recv(),
        (
            9,
            rerror("bad venti message: Tread count of 3 bytes, want 2 or 4")
        )
    );
    c.send_body(&[4, 9, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        c.recv(),
        (9, rerror("bad venti message: Thello: NUL in string"))
    );
    // Still serving.
    assert_eq!(c.rpc(1, &Message::Tping), Message::Rping);
    srv.shutdown();
}

/// Frames that leave the stream untrustworthy close the connection; other
/// clients carry on.
#[test]
fn fatal_frames_close_only_their_connection() {
    let store = MemStore::new();
    let fox = store.write(BlockType::DATA, b"fox").unwrap();
    let srv = start(Arc::new(store));
    let mut bystander = Raw::session(srv.addr, Version::V04);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("length past the 04 cap", vec![0, 1, 0, 65]),
        ("huge length", vec![0xff, 0xff, 0xff, 0xff]),
        ("no tag", vec![0, 0, 0, 1, 2]),
        ("empty frame", vec![0, 0, 0, 0]),
    ];
    for (what, bytes) in cases {
        let mut c = Raw::session(srv.addr, Version::V04);
        c.s.write_all(&bytes).unwrap();
        c.assert_closed();
        assert_eq!(
            bystander.rpc(1, &tread(fox, 13, 10)),
            rread(b"fox"),
            "{what}"
        );
    }

    // A client that vanishes in the middle of a frame.
    let mut c = Raw::session(srv.addr, Version::V04);
    c.s.write_all(&[0, 0, 0, 40, 14, 0, 13]).unwrap();
    drop(c);
    // A client that vanishes in the middle of its version line, and one after it.
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(b"venti-0").unwrap();
    drop(s);
    drop(TcpStream::connect(srv.addr).unwrap());
    assert_eq!(bystander.rpc(2, &Message::Tping), Message::Rping);
    let mut fresh = Raw::session(srv.addr, Version::V02);
    assert_eq!(fresh.rpc(0, &tread(fox, 13, 10)), rread(b"fox"));
    srv.shutdown();
}

#[test]
fn bad_version_lines_and_hellos_close_without_reply() {
    let srv = start(Arc::new(MemStore::new()));
    for line in [&b"hello\n"[..], b"venti-05:06-x\n", b"venti-04\x01-x\n"] {
        let mut c = Raw::connect(srv.addr, line);
        c.assert_closed();
    }
    let mut long = b"venti-04-".to_vec();
    long.resize(2000, b'a');
    let mut c = Raw::connect(srv.addr, &long);
    c.assert_closed();

    let hellos: Vec<(u8, Message)> = vec![
        (1, Message::Thello(Thello::anonymous("04"))),
        (0, Message::Thello(Thello::anonymous("02"))),
        (
            0,
            Message::Thello(Thello::anonymous("venti-04:02-libventi")),
        ),
        (0, Message::Tping),
        (0, Message::Tsync),
    ];
    for (tag, msg) in hellos {
        let mut c = Raw::connect(srv.addr, b"venti-04:02-libventi\n");
        c.send(tag, &msg);
        c.assert_closed();
    }
    let mut c = Raw::connect(srv.addr, b"venti-04:02-libventi\n");
    c.send_body(&[8, 0]);
    c.assert_closed();
    // The 02 session gets 02 hellos.
    let mut c = Raw::connect(srv.addr, b"venti-02:04-x\n");
    c.v = Version::V02;
    c.send(0, &Message::Thello(Thello::anonymous("02")));
    assert!(matches!(c.recv(), (0, Message::Rhello(_))));
    srv.shutdown();
}

#[test]
fn goodbye_and_eof() {
    let srv = start(Arc::new(MemStore::new()));
    let mut c = Raw::session(srv.addr, Version::V04);
    // A write, then goodbye at once: the write is answered, goodbye is not.
    c.send(1, &twrite(13, b"bye"));
    c.send(2, &Message::Tgoodbye);
    assert_eq!(
        c.recv(),
        (
            1,
            Message::Rwrite(Rwrite {
                score: Score::of(b"bye")
            })
        )
    );
    c.assert_closed();
    // EOF right after hello is a normal end; the server keeps serving.
    drop(Raw::session(srv.addr, Version::V04));
    let mut c = Raw::session(srv.addr, Version::V04);
    assert_eq!(c.rpc(0, &tread(Score::of(b"bye"), 13, 10)), rread(b"bye"));
    srv.shutdown();
}

/// A slow read holds only its own tag: later requests on the same
/// connection are answered first; a tag reused while in flight closes the
/// connection.
#[test]
fn pipelined_requests_complete_independently() {
    let slow = Score::of(b"slow block");
    let store = GateStore::new(slow);
    store.inner.write(BlockType::DATA, b"slow block").unwrap();
    let srv = start(store.clone());
    let mut c = Raw::session(srv.addr, Version::V04);
    c.send(1, &tread(slow, 13, 100));
    c.send(2, &Message::Tping);
    c.send(3, &twrite(13, b"fast"));
    let mut got = [c.recv(), c.recv()];
    got.sort_by_key(|(t, _)| *t);
    assert_eq!(got[0], (2, Message::Rping));
    assert_eq!(
        got[1],
        (
            3,
            Message::Rwrite(Rwrite {
                score: Score::of(b"fast")
            })
        )
    );
    c.assert_quiet();
    store.open();
    assert_eq!(c.recv(), (1, rread(b"slow block")));

    // Tag 1 again while a slow read with tag 1 is in flight.
    let store = GateStore::new(slow);
    store.inner.write(BlockType::DATA, b"slow block").unwrap();
    let srv2 = start(store.clone());
    let mut c = Raw::session(srv2.addr, Version::V04);
    let mut bystander = Raw::session(srv2.addr, Version::V04);
    c.send(1, &tread(slow, 13, 100));
    c.send(1, &Message::Tping);
    c.assert_quiet();
    store.open();
    // The read in flight may still be answered; then the connection closes.
    match c.recv() {
        (1, m) => assert_eq!(m, rread(b"slow block")),
        other => panic!("unexpected {other:?}"),
    }
    c.assert_closed();
    assert_eq!(bystander.rpc(1, &Message::Tping), Message::Rping);
    srv.shutdown();
    srv2.shutdown();
}

#[test]
fn sync_waits_for_earlier_writes() {
    let store = GateStore::new(Score::NONE);
    let srv = start(store.clone());
    let mut c = Raw::session(srv.addr, Version::V04);
    c.send(1, &twrite(13, b"slow write"));
    c.send(2, &Message::Tsync);
    c.send(3, &Message::Tping);
    assert_eq!(c.recv(), (3, Message::Rping));
    c.assert_quiet();
    assert!(
        store.writes_at_sync.lock().unwrap().is_empty(),
        "sync ran before the write"
    );
    store.open();
    assert_eq!(
        c.recv(),
        (
            1,
            Message::Rwrite(Rwrite {
                score: Score::of(b"slow write")
            })
        )
    );
    assert_eq!(c.recv(), (2, Message::Rsync));
    assert_eq!(*store.writes_at_sync.lock().unwrap(), vec![1]);
    // Two syncs in a row: the second waits for the first.
    c.send(4, &twrite(13, b"w"));
    c.send(5, &Message::Tsync);
    c.send(6, &Message::Tsync);
    let order: Vec<u8> = (0..3).map(|_| c.recv().0).collect();
    assert_eq!(order, vec![4, 5, 6]);
    assert_eq!(*store.writes_at_sync.lock().unwrap(), vec![1, 2, 2]);
    srv.shutdown();
}

#[test]
fn many_concurrent_connections() {
    let store = MemStore::new();
    let srv = start(Arc::new(store.clone()));
    let addr = srv.addr;
    let threads: Vec<_> = (0..16u8)
        .map(|t| {
            std::thread::spawn(move || {
                let v = if t % 2 == 0 {
                    Version::V04
                } else {
                    Version::V02
                };
                let mut c = Raw::session(addr, v);
                let blocks: Vec<Vec<u8>> = (0..50u32)
                    .map(|i| format!("{t}/{i}").into_bytes())
                    .collect();
                // Pipelined: all writes out before any reply is read.
                for (i, b) in blocks.iter().enumerate() {
                    c.send(i as u8, &twrite(13, b));
                }
                let mut seen = [false; 50];
                for _ in 0..50 {
                    let (tag, m) = c.recv();
                    assert_eq!(
                        m,
                        Message::Rwrite(Rwrite {
                            score: Score::of(&blocks[tag as usize])
                        })
                    );
                    seen[tag as usize] = true;
                }
                assert!(seen.iter().all(|s| *s));
                for (i, b) in blocks.iter().enumerate() {
                    assert_eq!(c.rpc(i as u8, &tread(Score::of(b), 13, 100)), rread(b));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.len(), 16 * 50);
    srv.shutdown();
}

#[test]
fn shutdown_closes_connections_and_stops_listening() {
    let srv = start(Arc::new(MemStore::new()));
    let addr = srv.addr;
    let mut c = Raw::session(addr, Version::V04);
    assert_eq!(c.rpc(0, &Message::Tping), Message::Rping);
    srv.shutdown();
    c.assert_closed();
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after shutdown"
    );
}

#[test]
fn a_panicking_store_gets_rerror_and_the_server_goes_on() {
    let srv = start(Arc::new(PanickyStore));
    let mut c = Raw::session(srv.addr, Version::V04);
    assert_eq!(
        c.rpc(1, &tread(Score::of(b"x"), 13, 10)),
        rerror("internal error: the block store panicked")
    );
    assert_eq!(
        c.rpc(1, &twrite(13, b"x")),
        Message::Rwrite(Rwrite {
            score: Score::of(b"x")
        })
    );
    srv.shutdown();
}
