//! `spawn` to shell prompt through the grid: a GridClient asks a node
//! (full sessions: a FUSE-mounted fossil of a minimal root tree, a Linux
//! session, a cpu listener) to spawn, then opens the environment's shell
//! on a terminal through the cpu client, as `gridorc spawn NAME` followed
//! by `gridorc attach NAME` does, and waits for the `# ` prompt. Boom is
//! not timed. Needs root and /dev/fuse; prints why it skips otherwise.
//!
//! Before criterion runs, it prints the median and worst of 20.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_core::colony::{Colony, ColonyConfig};
use colony_core::identity::{self, Credential, InitOptions};
use colony_core::rpc::{GridClient, GridServer};
use colony_core::{NodeId, UserName};
use colony_ns::cpu::Identity;
use colony_ns::cpu::client::{Target, interactive_on};
use colony_ns::session::{LinuxConfig, testroot};
use criterion::Criterion;
use tokio::runtime::Runtime;

const ENV: &str = "clean.bench.alice";

struct Node {
    _dir: tempfile::TempDir,
    colony: Arc<Colony>,
    server: GridServer,
    client: GridClient,
    identity: Identity,
}

fn node(rt: &Runtime) -> Node {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    identity::init(
        dir.path(),
        &InitOptions {
            node_id: Some(NodeId::new("bench").unwrap()),
            ..InitOptions::default()
        },
    )
    .unwrap();
    let alice = UserName::new("alice").unwrap();
    let cred = identity::adduser(dir.path(), &alice).unwrap();
    let config = ColonyConfig {
        data_dir: dir.path().to_path_buf(),
        cpu_host: "127.0.0.1".into(),
        helper: LinuxConfig::new(env!("CARGO_BIN_EXE_bench-session-helper")),
        seed: None,
    };
    let colony = Arc::new(Colony::open(config).unwrap());
    let tree = dir.path().join("seed-tree");
    testroot::build(&tree, testroot::PROGRAMS).unwrap();
    let score = testroot::import(colony.store().as_ref(), &tree).unwrap();
    colony.store().sync().unwrap();
    colony
        .seed(&UserName::new("admin").unwrap(), score)
        .unwrap();
    colony.grant_seed(&alice).unwrap();
    let (server, client) = rt.block_on(async {
        let server = GridServer::bind("127.0.0.1:0", colony.clone())
            .await
            .unwrap();
        let client = GridClient::connect(&cred, &server.local_addr().to_string())
            .await
            .unwrap();
        (server, client)
    });
    let c = Credential::load(&cred).unwrap();
    let identity = Identity {
        ca_pem: c.ca_pem(),
        cert_pem: c.cert_pem(),
        key_pem: c.key_pem(),
    };
    Node {
        _dir: dir,
        colony,
        server,
        client,
        identity,
    }
}

/// Spawns ENV, opens its shell on a new terminal and returns the time to
/// the prompt; then leaves the shell and booms ENV.
async fn spawn_to_prompt(node: &mut Node) -> Duration {
    let start = Instant::now();
    let env = node.client.spawn(ENV, false).await.unwrap();
    let target = Target {
        addr: env.cpu_addr.clone(),
        server_name: "127.0.0.1".into(),
        identity: node.identity.clone(),
    };
    let pty = nix::pty::openpty(None, None).unwrap();
    let shell = tokio::spawn(async move { interactive_on(&target, "xterm", pty.slave).await });
    let mut master = std::fs::File::from(pty.master);
    let (elapsed, master) = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.ends_with(b"# ") {
            let n = master.read(&mut buf).unwrap();
            assert!(n > 0, "no prompt: {:?}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        let elapsed = start.elapsed();
        master.write_all(b"exit\n").unwrap();
        (elapsed, master)
    })
    .await
    .unwrap();
    assert!(shell.await.unwrap().unwrap().success());
    drop(master);
    node.client.boom(ENV).await.unwrap();
    elapsed
}

fn can_run() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let fuse = Path::new("/dev/fuse").exists();
    if !(root && fuse) {
        eprintln!(
            "grid_spawn bench skipped: needs root and /dev/fuse (root: {root}, /dev/fuse: {fuse})"
        );
    }
    root && fuse
}

fn main() {
    if !can_run() {
        return;
    }
    let rt = Runtime::new().unwrap();
    let mut node = node(&rt);
    let mut times: Vec<Duration> = (0..20)
        .map(|_| rt.block_on(spawn_to_prompt(&mut node)))
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    eprintln!(
        "grid spawn to shell prompt, 20 spawns: median {:.1} ms, worst {:.1} ms",
        ms(times[10]),
        ms(times[19])
    );
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("grid");
    g.sample_size(10);
    g.bench_function("spawn to shell prompt", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(spawn_to_prompt(&mut node)))
                .sum()
        })
    });
    g.finish();
    c.final_summary();
    let Node { colony, server, .. } = node;
    rt.block_on(async {
        server.shutdown().await;
        colony.shutdown().await.unwrap();
    });
}
