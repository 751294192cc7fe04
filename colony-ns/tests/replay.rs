//! Replays the client side of each recorded plan9port session against our
//! server serving a MemFs copy of the tiny vac tree, over a real Unix
//! socket, and compares every reply with vacfs's recorded reply.

mod common;

use std::sync::Arc;

use colony_ns::ninep::Fcall;
use colony_ns::{Server, ServerConfig};
use tokio::net::UnixStream;

/// vacfs names itself in its Rerror to Tauth; so does our server here.
fn vacfs_config() -> ServerConfig {
    ServerConfig {
        service: "vacfs".into(),
        ..ServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_replay_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::new(Arc::new(common::tiny_fs()), vacfs_config());
    let handle = server
        .bind_unix(dir.path().join("vacfs.sock"))
        .await
        .unwrap();
    let colony_ns::ListenAddr::Unix(path) = handle.local_addr().clone() else {
        unreachable!()
    };
    let mut replies = 0;
    for name in common::SESSIONS {
        let (c2s, s2c) = common::session(name);
        // In these sessions the client waits for each reply before sending
        // its next request: one reply per request, in order.
        assert_eq!(c2s.len(), s2c.len(), "{name}");
        let mut client = common::Client::new(UnixStream::connect(&path).await.unwrap());
        for (request, recorded) in c2s.iter().zip(&s2c) {
            tokio::io::AsyncWriteExt::write_all(&mut client.stream, request)
                .await
                .unwrap();
            let ours = client.recv().await;
            let theirs = Fcall::decode(recorded).unwrap();
            assert_eq!(
                ours,
                theirs,
                "{name}: reply to {:?}",
                Fcall::decode(request).unwrap()
            );
            assert_eq!(&ours.encode().unwrap(), recorded, "{name}: bytes differ");
            replies += 1;
        }
    }
    assert_eq!(replies, 12 + 8 + 6 + 11 + 5);
    handle.shutdown().await.unwrap();
    assert!(!path.exists(), "socket file removed at shutdown");
}

#[test]
fn fixture_matches_the_recorded_listing() {
    use colony_ns::FileSystem;
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
            ("empty.txt".to_string(), 2, 0),
            ("hello.txt".to_string(), 3, 13),
            ("pattern.bin".to_string(), 6, 20000),
            ("sub".to_string(), 4, 0),
        ]
    );
    assert_eq!(fs.read(6, 0, 20000).unwrap(), common::pattern());
}
