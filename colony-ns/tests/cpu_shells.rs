//! Named persistent shells through the cpu listener, over TCP and mutual
//! TLS into a real session on real terminals: a shell outlives its
//! clients, a reattaching client finds its recent output, several watch
//! one shell, only the owner gets in, and a flooding shell with nobody
//! attached stays within its ring. Needs root (skips with a message
//! elsewhere; fails under CI).

mod support;

use colony_ns::Error;
use colony_ns::cpu::RawTerminal;
use colony_ns::cpu::client::Target;
use colony_ns::cpu::shell_client::{self, AttachedShell, ShellEnd, ShellOutput};
use colony_ns::cpu::{CpuConfig, ShellLimits};
use colony_ns::session::{
    CommandSpec, ExitStatus, PtyMaster, Session, WindowSize, set_window_size,
};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use support::cpu::{Fixture, stop};
use support::pki::Ca;
use support::{expect, sessions_possible};
use tokio::io::AsyncWriteExt;

const SIZE: WindowSize = WindowSize { rows: 24, cols: 80 };

impl Fixture {
    /// A listener with these shell limits, of a session `restored` or not.
    async fn new(name: &str, shells: ShellLimits, restored: bool) -> Fixture {
        Fixture::start(name, |c| CpuConfig {
            shells,
            restored,
            ..c
        })
        .await
    }

    fn glenda(&self) -> Target {
        self.target(self.ca.user("glenda", &self.ca))
    }

    /// glenda attaches to `label`, starting it with `sh -c script`.
    async fn attach(&self, label: &str, script: &str) -> AttachedShell {
        let command = CommandSpec::new(["/bin/sh", "-c", script]);
        shell_client::attach(&self.glenda(), label, "xterm", SIZE, Some(command))
            .await
            .unwrap()
    }

    /// Waits (up to 30 s) for the shell to create `/tmp/NAME`.
    async fn wait_for_file(&self, name: &str) {
        let path = self.root.path().join("tmp").join(name);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !path.exists() {
            assert!(Instant::now() < deadline, "no {path:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads output into `seen` until it holds `want` (fails after 30 s or
/// if the shell ends first).
async fn read_until(shell: &mut AttachedShell, seen: &mut Vec<u8>, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(seen).contains(want) {
        let out = tokio::time::timeout_at(deadline, shell.recv())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} in {:?}", String::from_utf8_lossy(seen)));
        match out.unwrap() {
            ShellOutput::Bytes(b) => seen.extend_from_slice(&b),
            // A client reading slower than the shell writes misses some.
            ShellOutput::Skipped(_) => {}
            ShellOutput::Exited(s) => panic!("ended ({s:?}) before {want:?}"),
        }
    }
}

/// Reads output until it holds `bytes` or the client is told it fell
/// behind (a loaded machine may skip it past any given line); returns the
/// bytes received before any gap.
async fn read_some(shell: &mut AttachedShell, bytes: usize) -> Vec<u8> {
    let mut seen = Vec::new();
    while seen.len() < bytes {
        let out = tokio::time::timeout(Duration::from_secs(30), shell.recv())
            .await
            .expect("no output for 30 s");
        match out.unwrap() {
            ShellOutput::Bytes(b) => seen.extend_from_slice(&b),
            ShellOutput::Skipped(_) => break,
            ShellOutput::Exited(s) => panic!("ended ({s:?}) after {} bytes", seen.len()),
        }
    }
    seen
}

/// The numbers of the `line N` lines in `text`, in order; a first line
/// cut by the ring is left out.
fn numbered(text: &str) -> Vec<u32> {
    text.split("\r\n")
        .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
        .collect()
}

/// A script printing `line 1` .. `line N` and `done`, then creating
/// `/tmp/printed` and waiting.
fn lines(n: u32) -> String {
    format!("seq -f 'line %g' 1 {n}; echo done; touch /tmp/printed; exec sleep 1000")
}

#[tokio::test]
async fn a_shell_outlives_its_client_and_reattaching_finds_every_byte() {
    if !sessions_possible() {
        return;
    }
    let f = Fixture::new("shkeep", ShellLimits::default(), false).await;
    // 50,000 lines (540 KB, under the 1 MiB ring): the first client goes
    // in the middle of them.
    let mut first = f.attach("job", &lines(50_000)).await;
    assert!(first.started());
    let seen = read_some(&mut first, 10_000).await;
    drop(first);
    f.wait_for_file("printed").await;
    // Another connection finds everything the shell wrote, the part the
    // first client saw and the rest written with nobody attached, each
    // line once.
    let t = Instant::now();
    let mut again = f.attach("job", "exit 99").await;
    assert!(!again.started(), "reattached, not started anew");
    let mut later = Vec::new();
    read_until(&mut again, &mut later, "done\r\n").await;
    println!("reattach, 540 KB of scrollback: {:?}", t.elapsed());
    let numbers = numbered(&String::from_utf8_lossy(&later));
    assert_eq!(numbers, (1..=50_000).collect::<Vec<_>>());
    assert!(later.starts_with(&seen[..seen.len() / 2]));
    again.detach().await.unwrap();
    f.finish().await;
}

#[tokio::test]
async fn the_ring_holds_the_output_since_the_last_client_up_to_its_size() {
    if !sessions_possible() {
        return;
    }
    let limits = ShellLimits {
        per_session: 2,
        ring_bytes: 4096,
    };
    let f = Fixture::new("shring", limits, false).await;
    // Nobody attached: the shell writes on, into the ring.
    let mut printer = f.attach("print", &lines(5000)).await;
    drop(printer.recv().await.unwrap());
    drop(printer);
    f.wait_for_file("printed").await;
    let mut back = f.attach("print", "exit 99").await;
    let mut seen = Vec::new();
    read_until(&mut back, &mut seen, "done\r\n").await;
    assert!(seen.len() <= 4096, "{}", seen.len());
    let numbers = numbered(&String::from_utf8_lossy(&seen));
    assert_eq!(numbers.last(), Some(&5000));
    assert_eq!(numbers, (numbers[0]..=5000).collect::<Vec<_>>());
    back.detach().await.unwrap();
    f.finish().await;
}

#[tokio::test]
async fn two_viewers_see_the_same_output_and_either_types() {
    if !sessions_possible() {
        return;
    }
    let f = Fixture::new("shtwo", ShellLimits::default(), false).await;
    let glenda = f.glenda();
    let mut a = shell_client::attach(&glenda, "pair", "xterm", SIZE, None)
        .await
        .unwrap();
    let big = WindowSize {
        rows: 50,
        cols: 132,
    };
    let mut b = shell_client::attach(&glenda, "pair", "xterm", big, None)
        .await
        .unwrap();
    assert!(a.started() && !b.started());
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    a.input(b"echo from-a $((6*7))\n").await.unwrap();
    read_until(&mut a, &mut seen_a, "from-a 42").await;
    read_until(&mut b, &mut seen_b, "from-a 42").await;
    b.input(b"echo from-b $((7*7)); stty size\n").await.unwrap();
    // The terminal took the size of the client that came last.
    read_until(&mut a, &mut seen_a, "50 132").await;
    read_until(&mut b, &mut seen_b, "50 132").await;
    assert!(String::from_utf8_lossy(&seen_a).contains("from-b 49"));
    a.resize(WindowSize {
        rows: 30,
        cols: 100,
    })
    .await
    .unwrap();
    a.input(b"stty size\n").await.unwrap();
    read_until(&mut b, &mut seen_b, "30 100").await;
    a.input(b"exit 3\n").await.unwrap();
    for shell in [&mut a, &mut b] {
        loop {
            match shell.recv().await.unwrap() {
                ShellOutput::Bytes(_) | ShellOutput::Skipped(_) => {}
                ShellOutput::Exited(s) => break assert_eq!(s, ExitStatus::Code(3)),
            }
        }
    }
    let (shells, _) = shell_client::list(&glenda).await.unwrap();
    assert!(shells.is_empty(), "{shells:?}");
    f.finish().await;
}

#[tokio::test]
async fn only_the_owner_lists_attaches_or_kills() {
    if !sessions_possible() {
        return;
    }
    let f = Fixture::new("shbob", ShellLimits::default(), false).await;
    let bob = f.target(f.ca.user("bob", &f.ca));
    let refused = |r: Result<(), Error>| match r {
        Err(Error::Refused(m)) => assert!(m.contains("bob does not own shbob"), "{m}"),
        other => panic!("{other:?}"),
    };
    let attached = shell_client::attach(&bob, "x", "xterm", SIZE, None).await;
    refused(attached.map(drop));
    refused(shell_client::list(&bob).await.map(drop));
    refused(shell_client::kill(&bob, "x").await);
    // A node's certificate with the owner's name is no user's.
    let node = f.target(f.ca.node("glenda", &f.ca));
    assert!(shell_client::list(&node).await.is_err());
    // A certificate from another CA fails the handshake.
    let other = Ca::new("other CA");
    let stranger = f.target(other.user("glenda", &f.ca));
    assert!(shell_client::list(&stranger).await.is_err());
    let (shells, _) = shell_client::list(&f.glenda()).await.unwrap();
    assert!(shells.is_empty());
    assert_eq!(f.session.processes().unwrap().len(), 1, "only init");
    f.finish().await;
}

#[tokio::test]
async fn listing_killing_caps_and_the_end_of_the_listener() {
    if !sessions_possible() {
        return;
    }
    let limits = ShellLimits {
        per_session: 2,
        ring_bytes: 1 << 20,
    };
    let f = Fixture::new("shcap", limits, true).await;
    let glenda = f.glenda();
    let mut one = f.attach("one", "echo ready; exec sleep 1000").await;
    assert!(one.started() && one.restored());
    read_until(&mut one, &mut Vec::new(), "ready").await;
    let mut two = f.attach("two", "echo ready; exec cat").await;
    read_until(&mut two, &mut Vec::new(), "ready").await;
    let third = shell_client::attach(&glenda, "three", "xterm", SIZE, None).await;
    assert!(
        matches!(&third, Err(Error::Refused(m)) if m.contains("runs 2 shells")),
        "{:?}",
        third.map(|_| ())
    );
    let bad = shell_client::attach(&glenda, "no/slash", "xterm", SIZE, None).await;
    assert!(matches!(&bad, Err(Error::Refused(m)) if m.contains("shell label")));

    let (shells, restored) = shell_client::list(&glenda).await.unwrap();
    assert!(restored);
    let labels: Vec<&str> = shells.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["one", "two"]);
    assert_eq!(
        shells[0].command,
        ["/bin/sh", "-c", "echo ready; exec sleep 1000"]
    );
    assert_eq!(shells[0].clients, 1);
    assert_eq!(shells[0].buffered, "ready\r\n".len() as u64);
    assert!(shells[0].age_secs < 60);

    // Killing ends it for its clients; the freed place takes another.
    shell_client::kill(&glenda, "one").await.unwrap();
    assert_eq!(
        one.recv().await.unwrap(),
        ShellOutput::Exited(ExitStatus::Signal(1))
    );
    let missing = shell_client::kill(&glenda, "one").await;
    assert!(matches!(&missing, Err(Error::Refused(m)) if m.contains("no shell \"one\"")));
    let three = f.attach("three", "exec sleep 1000").await;
    three.detach().await.unwrap();

    // The listener's end (an environment's stop or boom) hangs them up.
    let Fixture {
        root: _root,
        session,
        handle,
        ..
    } = f;
    handle.shutdown().await;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), two.recv()).await {
            Ok(Ok(ShellOutput::Bytes(_))) => {}
            Ok(Ok(ShellOutput::Exited(s))) => break assert_eq!(s, ExitStatus::Signal(1)),
            other => panic!("{other:?}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while session.processes().unwrap().len() > 1 {
        assert!(Instant::now() < deadline, "{:?}", session.processes());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(session).await;
}

/// This process's resident set (the listener runs here), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_shell_stays_bounded_and_a_slow_client_is_told_what_it_missed() {
    if !sessions_possible() {
        return;
    }
    let f = Fixture::new("shflood", ShellLimits::default(), false).await;
    let glenda = f.glenda();
    let flood = f
        .attach("flood", "exec yes 0123456789abcdefghijklmnopqrstuvwxyz")
        .await;
    flood.detach().await.unwrap();
    // Nobody attached: the ring fills, then memory must stay put.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (shells, _) = shell_client::list(&glenda).await.unwrap();
        if shells[0].buffered == 1 << 20 && shells[0].clients == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{shells:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = rss();
    let mut peak = before;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss());
    }
    // Throughput with nobody attached: what a client then reads per second.
    println!(
        "flood, no client: RSS {} KiB after the ring filled, peak {} KiB over 5 s",
        before / 1024,
        peak / 1024
    );
    assert!(
        peak < before + (8 << 20),
        "RSS grew from {before} to {peak}"
    );

    // A client that does not read falls behind and is told what it
    // missed, while one that reads carries on.
    let mut slow = shell_client::attach(&glenda, "flood", "xterm", SIZE, None)
        .await
        .unwrap();
    let mut fast = shell_client::attach(&glenda, "flood", "xterm", SIZE, None)
        .await
        .unwrap();
    let (mut read, mut skipped) = (0usize, 0u64);
    let t = Instant::now();
    while read < 64 << 20 {
        match fast.recv().await.unwrap() {
            ShellOutput::Bytes(b) => read += b.len(),
            ShellOutput::Skipped(n) => skipped += n,
            other => panic!("{other:?}"),
        }
    }
    println!(
        "flood, one reading client: {:.0} MiB/s received, {} MiB skipped",
        read as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64(),
        skipped >> 20
    );
    let slow_skipped = loop {
        match tokio::time::timeout(Duration::from_secs(30), slow.recv()).await {
            Ok(Ok(ShellOutput::Bytes(_))) => {}
            Ok(Ok(ShellOutput::Skipped(n))) => break n,
            other => panic!("{other:?}"),
        }
    };
    assert!(slow_skipped > 0);
    assert!(matches!(
        fast.recv().await,
        Ok(ShellOutput::Bytes(_) | ShellOutput::Skipped(_))
    ));
    fast.detach().await.unwrap();
    slow.detach().await.unwrap();
    shell_client::kill(&glenda, "flood").await.unwrap();
    f.finish().await;
}

#[tokio::test]
async fn on_a_terminal_ctrl_backslash_detaches_and_the_shell_runs_on() {
    if !sessions_possible() {
        return;
    }
    let f = Fixture::new("shtty", ShellLimits::default(), false).await;
    // The client's "terminal" is a pty pair driven from its master end.
    let pair = nix::pty::openpty(None, None).unwrap();
    set_window_size(pair.slave.as_fd(), SIZE).unwrap();
    let mut user = PtyMaster::new(pair.master).unwrap();
    let shell = shell_client::attach(&f.glenda(), "tty", "vt100", SIZE, None)
        .await
        .unwrap();
    // RawTerminal is not Send: the relay runs beside the typing, in this task.
    let relay = async move {
        let raw = RawTerminal::new(pair.slave).unwrap();
        shell.relay_terminal(&raw).await
    };
    let typing = async {
        user.write_all(b"echo sum=$((40+2)) term=$TERM\r")
            .await
            .unwrap();
        expect(&mut user, "sum=42 term=vt100").await;
        user.write_all(b"sleep 4328 &\r\x1c").await.unwrap();
    };
    let (end, ()) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(relay, typing)
    })
    .await
    .unwrap();
    let end = end.unwrap();
    assert_eq!(end, ShellEnd::Detached);
    // The shell and its background job run on, with nobody attached.
    let glenda = f.glenda();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (shells, _) = shell_client::list(&glenda).await.unwrap();
        if shells[0].clients == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{shells:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut back = shell_client::attach(&glenda, "tty", "vt100", SIZE, None)
        .await
        .unwrap();
    back.input(b"jobs; echo back=$((6*7))\r").await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut back, &mut seen, "back=42").await;
    assert!(String::from_utf8_lossy(&seen).contains("sleep 4328"));
    back.detach().await.unwrap();
    f.finish().await;
}
