//! Replays of sessions recorded between plan9port's tools and its venti
//! server (`testdata/venti/`).
//!
//! Server side: the recorded client bytes drive OUR server over a real
//! socket, in the recorded order (`.seq`), and our server's bytes must
//! equal the recorded `.s2c`, except where documented below.
//!
//! Client side: a peer replays the recorded `.s2c` to OUR client, and our
//! client's bytes must equal the recorded `.c2s`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use colony_venti::proto::{VentiClient, Version};
use colony_venti::{BlockStore, BlockType, Error, MemStore, Score};
use common::{TIMEOUT, start, testdata};

/// One recorded session.
struct Recording {
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    /// (from client?, byte count) in arrival order.
    seq: Vec<(bool, usize)>,
}

fn load(dir: &Path, name: &str) -> Recording {
    let read = |ext: &str| {
        let p = dir.join(format!("{name}.{ext}"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let seq = String::from_utf8(read("seq"))
        .unwrap()
        .lines()
        .map(|l| {
            let (who, n) = l.split_once(' ').unwrap();
            (who == "C", n.parse().unwrap())
        })
        .collect::<Vec<_>>();
    let rec = Recording {
        c2s: read("c2s"),
        s2c: read("s2c"),
        seq,
    };
    let total = |c| {
        rec.seq
            .iter()
            .filter(|(w, _)| *w == c)
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    assert_eq!(total(true), rec.c2s.len(), "{name}: .seq and .c2s disagree");
    assert_eq!(
        total(false),
        rec.s2c.len(),
        "{name}: .seq and .s2c disagree"
    );
    rec
}

/// The documented difference: where plan9port answers Tping with
/// `Rerror "unknown request"`, our server answers `Rping`.
fn documented_differences(expected: &[u8], version: Version, ping_tag: Option<u8>) -> Vec<u8> {
    let Some(tag) = ping_tag else {
        return expected.to_vec();
    };
    let (rerror, rping) = match version {
        Version::V02 => (
            [&[0x00, 0x13, 0x01, tag, 0x00, 0x0f][..], b"unknown request"].concat(),
            vec![0x00, 0x02, 0x03, tag],
        ),
        Version::V04 => (
            [
                &[0, 0, 0x00, 0x13, 0x01, tag, 0x00, 0x0f][..],
                b"unknown request",
            ]
            .concat(),
            vec![0, 0, 0x00, 0x02, 0x03, tag],
        ),
    };
    match expected.windows(rerror.len()).position(|w| w == rerror) {
        Some(at) => [&expected[..at], &rping[..], &expected[at + rerror.len()..]].concat(),
        None => expected.to_vec(),
    }
}

/// Drives the server at `addr` with the recorded client bytes. Before each
/// client chunk, reads exactly the server bytes the recording shows before
/// it and compares them. `server_closes`: the recording ends with the
/// server hanging up (Tgoodbye, bad hello); otherwise we hang up and the
/// server must close quietly.
fn replay_against_server(
    addr: SocketAddr,
    rec: &Recording,
    name: &str,
    version: Version,
    ping_tag: Option<u8>,
    server_closes: bool,
) {
    let mut s = TcpStream::connect(addr).unwrap();
    // Replies come at once; a short wait keeps a failing replay quick.
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let (mut ci, mut si, mut owed) = (0usize, 0usize, 0usize);
    let check = |s: &mut TcpStream, si: &mut usize, owed: &mut usize| {
        if *owed == 0 {
            return;
        }
        let want = documented_differences(&rec.s2c[*si..*si + *owed], version, ping_tag);
        let mut got = vec![0u8; want.len()];
        s.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("{name}: reading reply at s2c offset {si}: {e}"));
        assert_eq!(
            hex(&got),
            hex(&want),
            "{name}: server bytes at s2c offset {si}"
        );
        *si += *owed;
        *owed = 0;
    };
    for &(client, n) in &rec.seq {
        if client {
            check(&mut s, &mut si, &mut owed);
            s.write_all(&rec.c2s[ci..ci + n]).unwrap();
            ci += n;
        } else {
            owed += n;
        }
    }
    check(&mut s, &mut si, &mut owed);
    if !server_closes {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{name}: server did not close the connection: {e}"),
    }
    assert!(
        rest.is_empty(),
        "{name}: server sent {} bytes more than recorded",
        rest.len()
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn venti_sessions_replayed_against_our_server() {
    let dir = testdata("venti-sessions");
    let store = MemStore::new();
    let srv = start(Arc::new(store.clone()));
    // In this order the reads find what write-fox stored.
    let sessions = [
        ("write-fox", Version::V04, None, false),
        ("read-fox", Version::V04, None, false),
        ("read-fox-notype", Version::V04, None, false),
        ("read-missing", Version::V04, None, false),
        ("sync", Version::V04, None, false),
        // Tping with tag 2: plan9port said Rerror "unknown request", we say Rping.
        ("v02-session", Version::V02, Some(2), true),
        ("hello-badtag", Version::V02, None, true),
    ];
    for (name, version, ping_tag, closes) in sessions {
        let rec = load(&dir, name);
        replay_against_server(srv.addr, &rec, name, version, ping_tag, closes);
    }
    let fox = b"The quick brown fox jumps over the lazy dog";
    assert_eq!(store.read(&Score::of(fox), BlockType::DATA).unwrap(), fox);
    assert_eq!(store.len(), 1);
    srv.shutdown();
}

#[test]
fn the_ping_difference_is_the_only_one() {
    // Without the substitution the v02 replay must fail exactly at the ping.
    let rec = load(&testdata("venti-sessions"), "v02-session");
    let srv = start(Arc::new(MemStore::new()));
    let addr = srv.addr;
    let result = std::thread::spawn(move || {
        replay_against_server(addr, &rec, "v02-session", Version::V02, None, true)
    })
    .join();
    let err = result.expect_err("replay without the documented difference passed");
    let text = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("s2c offset 38"), "{text}");
    srv.shutdown();
}

#[test]
fn tiny_vac_then_unvac_replayed_against_our_server() {
    let dir = testdata("tiny-vac");
    let store = MemStore::new();
    let srv = start(Arc::new(store.clone()));
    replay_against_server(
        srv.addr,
        &load(&dir, "tiny-vac"),
        "tiny-vac",
        Version::V04,
        None,
        false,
    );
    assert_eq!(store.len(), 16, "vac's 16 blocks");
    let root = Score::from_hex("16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35").unwrap();
    assert_eq!(store.read(&root, BlockType::ROOT).unwrap().len(), 300);
    replay_against_server(
        srv.addr,
        &load(&dir, "tiny-unvac"),
        "tiny-unvac",
        Version::V04,
        None,
        false,
    );
    srv.shutdown();
}

/// Serves one connection by replaying the recorded server bytes in the
/// recorded order; returns everything the client sent.
fn replaying_peer(rec: Recording) -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut got = Vec::new();
        let mut si = 0;
        for (client, n) in rec.seq {
            if client {
                let mut chunk = vec![0u8; n];
                s.read_exact(&mut chunk).unwrap();
                got.extend_from_slice(&chunk);
            } else {
                s.write_all(&rec.s2c[si..si + n]).unwrap();
                si += n;
            }
        }
        // Whatever the client sends before hanging up.
        let _ = s.read_to_end(&mut got);
        got
    });
    (addr, t)
}

#[test]
fn our_client_sends_what_plan9ports_tools_sent() {
    let dir = testdata("venti-sessions");
    let fox: &[u8] = b"The quick brown fox jumps over the lazy dog";
    let missing = Score::from_hex("0123456789abcdef0123456789abcdef01234567").unwrap();
    type Action = fn(&VentiClient, &[u8], Score);
    let sessions: [(&str, Action); 4] = [
        ("write-fox", |c, fox, _| {
            assert_eq!(c.write(BlockType::DATA, fox).unwrap(), Score::of(fox));
        }),
        ("read-fox", |c, fox, _| {
            assert_eq!(c.read(&Score::of(fox), BlockType::DATA).unwrap(), fox);
        }),
        ("read-missing", |c, _, missing| {
            let err = c.read(&missing, BlockType::DATA).unwrap_err();
            assert!(
                matches!(err, Error::NotFound { score, .. } if score == missing),
                "{err}"
            );
        }),
        ("sync", |c, _, _| c.sync().unwrap()),
    ];
    for (name, action) in sessions {
        let rec = load(&dir, name);
        let want = rec.c2s.clone();
        let (addr, peer) = replaying_peer(rec);
        let client = VentiClient::connect(addr).unwrap();
        assert_eq!(client.version(), Version::V04);
        action(&client, fox, missing);
        drop(client);
        let got = peer.join().unwrap();
        assert_eq!(hex(&got), hex(&want), "{name}: client bytes");
    }
}
