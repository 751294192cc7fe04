//! `colony 9p serve` end to end: vac a tree into a local store, serve it
//! on a real TCP socket, write over 9P with a minimal client built on
//! colony-ns's codec, save with SIGHUP and with SIGTERM, and unvac the
//! printed scores.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use colony_ns::ninep::*;

mod support;
use support::*;

/// A blocking 9P client: one request, one reply.
struct Client<S> {
    stream: S,
}

impl<S: Read + Write> Client<S> {
    fn rpc(&mut self, tag: u16, msg: impl Into<Message>) -> Message {
        let bytes = Fcall::new(tag, msg).encode().unwrap();
        self.stream.write_all(&bytes).unwrap();
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).unwrap();
        let mut frame = size.to_vec();
        frame.resize(u32::from_le_bytes(size) as usize, 0);
        self.stream.read_exact(&mut frame[4..]).unwrap();
        let reply = Fcall::decode(&frame).unwrap();
        assert_eq!(reply.tag, tag);
        assert!(!matches!(reply.msg, Message::Rerror(_)), "{:?}", reply.msg);
        reply.msg
    }

    /// Creates `dir/name` holding `data` (`name` as bytes, as Linux has it).
    fn put(&mut self, dir: &str, name: &[u8], data: &[u8]) {
        let walk = Twalk {
            fid: 0,
            newfid: 1,
            wnames: vec![dir.into()],
        };
        self.rpc(1, walk);
        let create = Tcreate {
            fid: 1,
            name: name.to_vec(),
            perm: 0o644,
            mode: OWRITE,
        };
        self.rpc(1, create);
        let write = Twrite {
            fid: 1,
            offset: 0,
            data: data.to_vec(),
        };
        assert_eq!(
            self.rpc(1, write),
            Rwrite {
                count: data.len() as u32
            }
            .into()
        );
        self.rpc(1, Tclunk { fid: 1 });
    }
}

/// Connects (retrying while the server starts), negotiates and attaches.
fn connect<S: Read + Write>(dial: impl Fn() -> std::io::Result<S>) -> Client<S> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let stream = loop {
        match dial() {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("server did not start: {e}"),
        }
    };
    let mut c = Client { stream };
    let version = Tversion {
        msize: 8192,
        version: "9P2000".into(),
    };
    assert_eq!(
        c.rpc(NOTAG, version),
        Rversion {
            msize: 8192,
            version: "9P2000".into()
        }
        .into()
    );
    let attach = Tattach {
        fid: 0,
        afid: NOFID,
        uname: "glenda".into(),
        aname: String::new(),
    };
    c.rpc(1, attach);
    c
}

#[test]
fn serve_write_over_9p_save_and_unvac() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("store");
    let tree = tmp.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("hello.txt"), "hello, world\n").unwrap();
    // Anyone may create in it, so the 9P user need not be its owner.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tree, std::fs::Permissions::from_mode(0o777)).unwrap();
    let vacfile = tmp.path().join("tree.vac");
    let d = data.to_str().unwrap();
    let original = ok(colony(&[
        "vac",
        tree.to_str().unwrap(),
        "-o",
        vacfile.to_str().unwrap(),
        "--data",
        d,
    ]));

    let port = free_port();
    let mut child = Command::new(COLONY)
        .args(["9p", "serve", vacfile.to_str().unwrap(), "--data", d])
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("venti")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start colony 9p serve");
    let stdout = child.stdout.take().unwrap();
    let served = Killed(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let next_line = || {
        lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a score line")
    };

    wait_listening(&format!("127.0.0.1:{port}"));
    let mut c = connect(|| TcpStream::connect(("127.0.0.1", port)));
    c.put("tree", b"first.txt", b"written over 9P\n");
    signal(&served.0, "-HUP");
    let first = next_line();
    assert!(first.starts_with("vac:") && first.len() == 44, "{first}");
    assert_ne!(first, original.trim());
    // Still serving after a SIGHUP save.
    // A name that is not UTF-8 (Latin-1) is kept as its bytes.
    c.put("tree", b"second\xe9.txt", b"after the first save\n");
    drop(c);
    signal(&served.0, "-TERM");
    let last = next_line();
    let mut served = served;
    let status = served.0.wait().unwrap();
    assert!(status.success(), "exit {status:?}");
    assert!(lines.recv().is_err(), "nothing more on stdout");
    assert!(last.starts_with("vac:") && last != first, "{last}");

    let out = tmp.path().join("out-last");
    unvac(&last, &data, &out);
    let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
    assert_eq!(read("tree/hello.txt"), "hello, world\n");
    assert_eq!(read("tree/first.txt"), "written over 9P\n");
    let second = out.join("tree").join(OsStr::from_bytes(b"second\xe9.txt"));
    assert_eq!(
        std::fs::read_to_string(second).unwrap(),
        "after the first save\n"
    );
    let out = tmp.path().join("out-first");
    unvac(&first, &data, &out);
    assert!(out.join("tree/first.txt").exists());
    assert_eq!(
        std::fs::read_dir(out.join("tree")).unwrap().count(),
        2,
        "hello.txt and first.txt"
    );
}

#[test]
fn serve_on_a_unix_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("store");
    let tree = tmp.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("f"), "x").unwrap();
    let d = d.to_str().unwrap();
    let line = ok(colony(&["vac", tree.to_str().unwrap(), "--data", d]));
    let score = line.trim();
    // Served by scorename: the name resolves in the data directory.
    let name = mint(Path::new(d), "work", score);
    let sock = tmp.path().join("9p.sock");
    let child = Command::new(COLONY)
        .args(["9p", "serve", &name, "--data", d, "--unix"])
        .arg(&sock)
        .env_remove("venti")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start colony 9p serve");
    let served = Killed(child);
    let mut c = connect(|| std::os::unix::net::UnixStream::connect(&sock));
    let walk = Twalk {
        fid: 0,
        newfid: 1,
        wnames: vec!["t".into(), "f".into()],
    };
    let Message::Rwalk(w) = c.rpc(1, walk) else {
        panic!()
    };
    assert_eq!(w.wqids.len(), 2);
    let Message::Rstat(st) = c.rpc(1, Tstat { fid: 1 }) else {
        panic!()
    };
    assert_eq!((st.stat.name.as_slice(), st.stat.length), (&b"f"[..], 1));
    drop(c);
    signal(&served.0, "-TERM");
    let mut served = served;
    let status = served.0.wait().unwrap();
    assert!(status.success(), "exit {status:?}");
    let mut out = String::new();
    served
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    // Nothing changed: the save is the archive served.
    assert_eq!(out.trim(), score);
    assert!(!sock.exists(), "socket removed at exit");
}

#[test]
fn serve_refuses_what_it_cannot_open() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("store");
    let missing = "vac:0123456789abcdef0123456789abcdef01234567";
    let out = colony(&["9p", "serve", missing, "--data", d.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opening vac:0123456789abcdef"), "{err}");
    let out = colony(&[
        "9p",
        "serve",
        "/nonexistent.vac",
        "--data",
        d.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent.vac is neither a score, a readable .vac file, nor a scorename"),
        "{err}"
    );
    let out = colony(&["9p", "serve", missing]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data DIR or --venti"));
}

#[test]
fn serve_refuses_names_it_cannot_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("store");
    let tree = tmp.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    let d = d.to_str().unwrap();
    let score = ok(colony(&["vac", tree.to_str().unwrap(), "--data", d]));
    let name = mint(Path::new(d), "work", score.trim());
    let err = |args: &[&str]| {
        let out = colony(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // A name needs the data directory whose names it is.
    let e = err(&["9p", "serve", &name, "--venti", "127.0.0.1:1"]);
    assert!(
        e.contains("work@testnode is a scorename: say whose with --data DIR"),
        "{e}"
    );
    let e = err(&["9p", "serve", "work@othernode", "--data", d]);
    assert!(e.contains("no scorename work@othernode in "), "{e}");
    let e = err(&["mount", "imported", "/mnt", "--data", d]);
    assert!(e.contains("no scorename imported in "), "{e}");
    // A store that is no node's data directory has no names.
    let bare = tmp.path().join("bare");
    let e = err(&[
        "9p",
        "serve",
        "work@testnode",
        "--data",
        bare.to_str().unwrap(),
    ]);
    assert!(e.contains("opening the scorenames of "), "{e}");
}
