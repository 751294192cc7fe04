//! The `colony` binary end to end: a real server on a real socket, the
//! venti tools against it, vac and unvac through it, then check, stats and
//! reindex on the stopped store.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod support;
use support::{COLONY, Killed, ok};

/// Runs `colony ARGS` with `$venti` set to `venti` (unset if empty) and
/// `stdin` as its input.
fn colony(args: &[&str], venti: &str, stdin: &[u8]) -> Output {
    let mut cmd = Command::new(COLONY);
    cmd.args(args);
    // An empty `venti` means: no server given at all.
    if venti.is_empty() {
        cmd.env_remove("venti");
    } else {
        cmd.env("venti", venti);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run colony");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Starts `colony venti serve` on a port the kernel picks, and returns it
/// with the server's address once its log says it serves (a port picked
/// beforehand could be taken meanwhile, by another test's server).
fn serve(data: &Path) -> (Killed, String) {
    let mut child = Command::new(COLONY)
        .args(["venti", "serve", "--arena-mb", "8", "--addr", "127.0.0.1:0"])
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start server");
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let child = Killed(child);
    let addr = loop {
        let line = log.next().expect("the server ended").unwrap();
        if let Some((_, addr)) = line.split_once(" on 127.0.0.1:") {
            break format!("127.0.0.1:{}", addr.trim());
        }
    };
    // Keep reading, so the server never blocks on a full pipe.
    std::thread::spawn(move || log.for_each(drop));
    (child, addr)
}

fn stop(mut server: Killed) {
    nix_kill(server.0.id());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "server exit {status:?}");
}

fn nix_kill(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn venti_tools_vac_and_unvac_against_our_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("store");
    let (server, addr) = serve(&data);
    let venti = format!("tcp!{}", addr.replace(':', "!"));

    // venti/write and venti/read, the fox of the reference sessions.
    let fox = b"The quick brown fox jumps over the lazy dog";
    let score = ok(colony(&["venti", "write"], &venti, fox));
    assert_eq!(score.trim(), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
    let back = ok(colony(
        &["venti", "read", "-t", "0", score.trim()],
        &venti,
        b"",
    ));
    assert_eq!(back.as_bytes(), fox);
    // Without -t every type is tried.
    let back = ok(colony(&["venti", "read", score.trim()], &venti, b""));
    assert_eq!(back.as_bytes(), fox);
    // As a dir block it does not exist.
    let missing = colony(&["venti", "read", "-t", "8", score.trim()], &venti, b"");
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no block with score"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    ok(colony(&["venti", "sync"], &venti, b""));

    // vac a tree through the server, unvac it back.
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("hello.txt"), "hello, world\n").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(tree.join("sub/big.bin"), &big).unwrap();
    std::os::unix::fs::symlink("hello.txt", tree.join("link")).unwrap();
    // Names and a link target that are not UTF-8 are bytes like any other.
    let latin1 = OsStr::from_bytes(b"caf\xe9");
    std::fs::write(tree.join("sub").join(latin1), "latin-1\n").unwrap();
    let stray = tree.join(OsStr::from_bytes(b"l\xff\xfe"));
    std::os::unix::fs::symlink(OsStr::from_bytes(b"sub/caf\xe9"), &stray).unwrap();
    let vacfile = tmp.path().join("tree.vac");
    let line = ok(colony(
        &[
            "vac",
            tree.to_str().unwrap(),
            "-o",
            vacfile.to_str().unwrap(),
        ],
        &venti,
        b"",
    ));
    assert!(
        line.starts_with("vac:") && line.trim().len() == 44,
        "{line}"
    );
    assert_eq!(std::fs::read_to_string(&vacfile).unwrap(), line);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    ok(colony(
        &["unvac", vacfile.to_str().unwrap(), out.to_str().unwrap()],
        &venti,
        b"",
    ));
    assert_eq!(
        std::fs::read_to_string(out.join("tree/hello.txt")).unwrap(),
        "hello, world\n"
    );
    assert_eq!(std::fs::read(out.join("tree/sub/big.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read_link(out.join("tree/link")).unwrap(),
        Path::new("hello.txt")
    );
    let stray = out.join("tree").join(OsStr::from_bytes(b"l\xff\xfe"));
    let target = std::fs::read_link(&stray).unwrap();
    assert_eq!(target.as_os_str().as_bytes(), b"sub/caf\xe9");
    assert_eq!(std::fs::read(&stray).unwrap(), b"latin-1\n");
    stop(server);

    // The stopped store checks clean and holds what was written.
    let check = ok(colony(
        &["venti", "check", "--data", data.to_str().unwrap()],
        "",
        b"",
    ));
    assert!(check.contains(": clean"), "{check}");
    let stats = ok(colony(
        &["venti", "stats", "--data", data.to_str().unwrap()],
        "",
        b"",
    ));
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("blocks") && !l.ends_with(" 0")),
        "{stats}"
    );
    let re = ok(colony(
        &["venti", "reindex", "--data", data.to_str().unwrap()],
        "",
        b"",
    ));
    assert!(re.starts_with("reindexed "), "{re}");

    // A local store works for vac/unvac without a server.
    let line2 = ok(colony(
        &[
            "vac",
            tree.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        "",
        b"",
    ));
    assert!(line2.starts_with("vac:"));
}

#[test]
fn clear_errors_for_bad_arguments() {
    let out = colony(&["venti", "read", "nothex"], "127.0.0.1:1", b"");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("colony: ") && err.contains("bad score"),
        "{err}"
    );
    let out = colony(&["unvac", "vac:00", "/tmp"], "", b"");
    assert!(!out.status.success());
    let out = colony(&["venti", "sync"], "tcp!127.0.0.1!1", b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("venti server 127.0.0.1:1"));
    let out = colony(&["vac", "/nonexistent"], "", b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data DIR or --venti"));
}
