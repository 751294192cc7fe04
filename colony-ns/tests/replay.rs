//! Replays the client side of each recorded plan9port session against our
//! server, over a real Unix socket, and compares every reply with vacfs's
//! recorded reply: serving a MemFs copy of the tiny vac tree, and serving a
//! live Fossil opened on the real tiny vac's blocks.

mod common;

use std::sync::Arc;

use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_fossil::testdata::{TINY_SCORE, tiny_store};
use colony_ns::ninep::{Fcall, Message, Rread, Stat};
use colony_ns::{FileSystem, FossilFs, Server, ServerConfig};
use colony_venti::Score;
use tokio::net::UnixStream;

/// vacfs names itself in its Rerror to Tauth; so does our server here.
fn vacfs_config() -> ServerConfig {
    ServerConfig {
        service: "vacfs".into(),
        ..ServerConfig::default()
    }
}

/// One request of a recorded session, our reply and the recorded one.
struct Exchange {
    session: &'static str,
    request: Fcall,
    ours: Fcall,
    recorded: Vec<u8>,
}

/// Serves `fs` on a Unix socket and replays every recorded session.
async fn replay(fs: Arc<dyn FileSystem>) -> Vec<Exchange> {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::new(fs, vacfs_config());
    let handle = server
        .bind_unix(dir.path().join("vacfs.sock"))
        .await
        .unwrap();
    let colony_ns::ListenAddr::Unix(path) = handle.local_addr().clone() else {
        unreachable!()
    };
    let mut out = Vec::new();
    for name in common::SESSIONS {
        let (c2s, s2c) = common::session(name);
        // In these sessions the client waits for each reply before sending
        // its next request: one reply per request, in order.
        assert_eq!(c2s.len(), s2c.len(), "{name}");
        let mut client = common::Client::new(UnixStream::connect(&path).await.unwrap());
        for (request, recorded) in c2s.iter().zip(s2c) {
            tokio::io::AsyncWriteExt::write_all(&mut client.stream, request)
                .await
                .unwrap();
            out.push(Exchange {
                session: name,
                request: Fcall::decode(request).unwrap(),
                ours: client.recv().await,
                recorded,
            });
        }
    }
    assert_eq!(out.len(), 12 + 8 + 6 + 11 + 5);
    handle.shutdown().await.unwrap();
    assert!(!path.exists(), "socket file removed at shutdown");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memfs_replay_is_byte_identical() {
    for x in replay(Arc::new(common::tiny_fs())).await {
        let theirs = Fcall::decode(&x.recorded).unwrap();
        assert_eq!(x.ours, theirs, "{}: reply to {:?}", x.session, x.request);
        assert_eq!(x.ours.encode().unwrap(), x.recorded, "{}", x.session);
    }
}

/// The names of a directory read's entries, in the order given.
fn listing(m: &Message) -> Vec<Stat> {
    let Message::Rread(r) = m else {
        panic!("expected Rread, got {m:?}")
    };
    Stat::decode_dir(&r.data).unwrap()
}

/// A live Fossil on plan9port's own tiny vac answers every request as
/// vacfs did, byte for byte, except the order of the one directory listing.
/// vacfs lists a directory MetaBlock by MetaBlock, each block's entries in
/// its index order, which is by name (vac/file.c: vdefill/vderead); the
/// tiny directory has one MetaBlock, so vacfs lists it by name. Fossil
/// lists in slot order, the order entries were made, because its readdir
/// cookies (slot numbers) must stay valid while a live directory changes,
/// and MetaBlock packing changes at every save; 9P promises no order. Put
/// in vacfs's order, our reply is vacfs's, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fossil_on_the_real_tiny_vac_replays_equivalently() {
    let score = Score::from_hex(TINY_SCORE).unwrap();
    let fossil = Fossil::open(Arc::new(tiny_store()), score, FossilOptions::default()).unwrap();
    let fossil = Arc::new(fossil);
    let mut reordered = 0;
    for x in replay(Arc::new(FossilFs::new(fossil.clone()))).await {
        let theirs = Fcall::decode(&x.recorded).unwrap();
        if x.ours == theirs {
            assert_eq!(x.ours.encode().unwrap(), x.recorded, "{}", x.session);
            continue;
        }
        assert_eq!(x.session, "9p-ls-l-tiny", "reply to {:?}", x.request);
        let (ours, theirs_stats) = (listing(&x.ours.msg), listing(&theirs.msg));
        let names: Vec<&[u8]> = ours.iter().map(|s| s.name.as_slice()).collect();
        assert_eq!(
            names,
            [&b"empty.txt"[..], b"hello.txt", b"sub", b"pattern.bin"]
        );
        assert!(theirs_stats.is_sorted_by(|a, b| a.name < b.name));
        let mut sorted = ours.clone();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let mut data = Vec::new();
        for stat in &sorted {
            stat.encode(&mut data).unwrap();
        }
        let in_their_order = Fcall::new(x.ours.tag, Rread { data });
        assert_eq!(in_their_order.encode().unwrap(), x.recorded);
        reordered += 1;
    }
    assert_eq!(reordered, 1);
    // Serving read nothing into the tree that a save would write.
    assert_eq!(fossil.save().unwrap(), score);
}

#[test]
fn fixture_matches_the_recorded_listing() {
    let fs = common::tiny_fs();
    let mut names = Vec::new();
    fs.readdir(1, 0, &mut |e| {
        names.push((e.meta.name, e.meta.qid.path, e.meta.length));
        true
    })
    .unwrap();
    assert_eq!(
        names,
        [
            (b"empty.txt".to_vec(), 2, 0),
            (b"hello.txt".to_vec(), 3, 13),
            (b"pattern.bin".to_vec(), 6, 20000),
            (b"sub".to_vec(), 4, 0),
        ]
    );
    assert_eq!(fs.read(6, 0, 20000).unwrap(), common::pattern());
}
