//! Helpers shared by the integration tests: the recorded sessions and a
//! minimal 9P client over a real socket.
#![allow(dead_code)] // each test binary uses part of this module

use std::path::PathBuf;

use colony_ns::ninep::{
    Fcall, Message, NOFID, NOTAG, Rversion, Tattach, Tread, Tversion, Twalk, split_frame,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// The five recorded 9P sessions (plan9port `9p` against vacfs).
pub const SESSIONS: [&str; 5] = [
    "9p-ls-l-tiny",
    "9p-read-hello",
    "9p-stat-nested",
    "9p-read-pattern",
    "9p-walk-missing",
];

fn dir() -> PathBuf {
    colony_fossil::testdata::testdata().join("9p-sessions")
}

/// Splits a raw stream into its frames; the stream must end on a frame boundary.
pub fn frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = split_frame(rest, 1 << 20)
            .expect("valid frame")
            .expect("stream ends inside a frame");
        out.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    out
}

/// The client's and the server's frames of a recorded session, in order.
pub fn session(name: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let read = |ext: &str| {
        let path = dir().join(format!("{name}.{ext}"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("testdata {}: {e}", path.display()))
    };
    (frames(&read("c2s")), frames(&read("s2c")))
}

/// A minimal 9P client for tests: sends frames, reads frames.
pub struct Client<S> {
    pub stream: S,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Client { stream }
    }

    pub async fn send(&mut self, tag: u16, msg: impl Into<Message>) {
        let bytes = Fcall::new(tag, msg).encode().unwrap();
        self.stream.write_all(&bytes).await.unwrap();
    }

    pub async fn recv(&mut self) -> Fcall {
        let frame = colony_ns::ninep::read_frame(&mut self.stream, 1 << 20)
            .await
            .unwrap()
            .expect("server closed the connection");
        Fcall::decode(&frame).unwrap()
    }

    /// One request, one reply (with the same tag).
    pub async fn rpc(&mut self, tag: u16, msg: impl Into<Message>) -> Message {
        self.send(tag, msg).await;
        let reply = self.recv().await;
        assert_eq!(reply.tag, tag, "reply tag");
        reply.msg
    }

    /// Negotiates 9P2000 with msize 8192 and attaches fid 0 as `uname`;
    /// panics unless the server agrees to both.
    pub async fn hello(&mut self, uname: &str) {
        let version = Tversion {
            msize: 8192,
            version: "9P2000".into(),
        };
        let v = self.rpc(NOTAG, version).await;
        let agreed = Rversion {
            msize: 8192,
            version: "9P2000".into(),
        };
        assert_eq!(v, agreed.into());
        let attach = Tattach {
            fid: 0,
            afid: NOFID,
            uname: uname.into(),
            aname: String::new(),
        };
        let a = self.rpc(1, attach).await;
        assert!(matches!(a, Message::Rattach(_)), "{a:?}");
    }

    /// Twalk from `fid` to `newfid` through `names`.
    pub async fn walk(&mut self, fid: u32, newfid: u32, names: &[&str]) -> Message {
        let wnames = names.iter().map(|s| s.as_bytes().to_vec()).collect();
        self.rpc(
            2,
            Twalk {
                fid,
                newfid,
                wnames,
            },
        )
        .await
    }

    /// Tread of `count` bytes of `fid` at `offset`.
    pub async fn read(&mut self, fid: u32, offset: u64, count: u32) -> Message {
        self.rpc(4, Tread { fid, offset, count }).await
    }
}

use colony_ns::ninep::{DMDIR, Qid};
use colony_ns::{MemFs, Meta};

pub use colony_fossil::testdata::{TINY_TIME, pattern};

fn meta(path: u64, name: &str, mode: u32, time: u32, owner: &str) -> Meta {
    Meta {
        qid: Qid {
            ty: 0,
            version: 0,
            path,
        },
        mode,
        atime: time,
        mtime: time,
        length: 0,
        name: name.into(),
        uid: owner.into(),
        gid: owner.into(),
        muid: String::new(),
        ..Meta::default()
    }
}

/// A MemFs holding the tiny vac tree exactly as vacfs serves it: qid paths
/// as vac numbered them, entries in vacfs's listing order (by name).
pub fn tiny_fs() -> MemFs {
    let fs = MemFs::new(meta(0, "/", DMDIR | 0o777, 0, "vac"));
    let file = |path, name| meta(path, name, 0o644, TINY_TIME, "root");
    let dir = |path, name| meta(path, name, DMDIR | 0o755, TINY_TIME, "root");
    let tiny = fs.insert(0, dir(1, "tiny"), Vec::new()).unwrap();
    fs.insert(tiny, file(2, "empty.txt"), Vec::new()).unwrap();
    fs.insert(tiny, file(3, "hello.txt"), b"hello, world\n".to_vec())
        .unwrap();
    fs.insert(tiny, file(6, "pattern.bin"), pattern()).unwrap();
    let sub = fs.insert(tiny, dir(4, "sub"), Vec::new()).unwrap();
    fs.insert(sub, file(5, "nested.txt"), b"nested\n".to_vec())
        .unwrap();
    fs
}
