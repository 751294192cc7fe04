//! A node split into storage and cpu services, over real loopback sockets
//! and mutual TLS, on the paths that need no root: who the cpu service
//! and the storage node's 9P export let in, and the precise errors of a
//! cpu that is unreachable, refuses, or does not run an environment. The
//! whole split (sessions on FUSE over 9P) is tested in bins/tests/split.rs.

use std::path::Path;
use std::sync::Arc;

use colony_core::Error;
use colony_core::colony::{Colony, ColonyConfig, RemoteRuntime};
use colony_core::cpu_service::{CpuClient, CpuServer, CpuServiceConfig, StartEnv};
use colony_core::identity::{self, NODE_CRED, client_config};
use colony_core::rpc::dial;
use colony_fossil::{Fossil, FossilOptions};
use colony_ns::client::RemoteFs;
use colony_ns::session::LinuxConfig;
use common::user;

mod common;

/// Node `n1` with user alice.
fn node() -> tempfile::TempDir {
    common::node(&["alice"])
}

fn helper() -> LinuxConfig {
    LinuxConfig::new("/nonexistent/colony-session-helper")
}

async fn cpu_server(dir: &Path) -> CpuServer {
    let config = CpuServiceConfig {
        data_dir: dir.to_path_buf(),
        helper: helper(),
    };
    CpuServer::bind("127.0.0.1:0", config).await.unwrap()
}

fn node_client(dir: &Path, addr: &str) -> CpuClient {
    CpuClient::new(addr, client_config(&dir.join(NODE_CRED)).unwrap())
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn the_cpu_service_serves_nodes_only() {
    let dir = node();
    let server = cpu_server(dir.path()).await;
    let addr = server.local_addr().to_string();
    let alice = client_config(&identity::user_credential(dir.path(), &user("alice"))).unwrap();
    match CpuClient::new(&addr, alice).running().await {
        Err(Error::CpuRefused { reason, .. }) => assert_eq!(
            reason,
            "user alice is not a grid node; this service takes node certificates only"
        ),
        other => panic!("{other:?}"),
    }
    // A node of another grid fails the handshake.
    let other = node();
    match node_client(other.path(), &addr).running().await {
        Err(Error::CpuUnreachable { .. }) => {}
        other => panic!("{other:?}"),
    }
    let ours = node_client(dir.path(), &addr);
    assert_eq!(ours.running().await.unwrap(), Vec::<String>::new());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_cpu_service_says_what_it_does_not_run() {
    let dir = node();
    let server = cpu_server(dir.path()).await;
    let addr = server.local_addr().to_string();
    let cpu = node_client(dir.path(), &addr);
    for result in [cpu.flush("x@n1").await, cpu.stop("x@n1").await] {
        match result {
            Err(Error::CpuRefused { reason, .. }) => {
                assert_eq!(reason, "environment x@n1 is not running on this cpu")
            }
            other => panic!("{other:?}"),
        }
    }
    // A storage node that does not answer: refused before anything starts.
    let start = StartEnv {
        env: "x@n1".into(),
        hostname: "x".into(),
        owner: "alice".into(),
        ninep_addr: free_addr(),
        cpu_bind: "127.0.0.1:0".into(),
        restored: false,
    };
    match cpu.start(start).await {
        Err(Error::CpuRefused { reason, .. }) => {
            assert!(
                reason.starts_with("environment x@n1: storage node's 9P export: "),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cpu.running().await.unwrap(), Vec::<String>::new());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_cpu_fails_the_spawn_and_keeps_nothing() {
    let dir = node();
    let cpu = free_addr();
    let runtime = RemoteRuntime::bind(dir.path(), "127.0.0.1:0", &cpu)
        .await
        .unwrap();
    let config = ColonyConfig {
        data_dir: dir.path().to_path_buf(),
        cpu_host: "127.0.0.1".into(),
        helper: helper(),
        seed: None,
    };
    let colony = Arc::new(Colony::with_runtime(config, runtime).unwrap());
    let fs = Fossil::create_empty(colony.store(), FossilOptions::default()).unwrap();
    let score = fs.save().unwrap();
    colony.seed(&user("admin"), score).unwrap();
    colony.grant_seed(&user("alice")).unwrap();
    // Twice: the failed spawn left neither a slot nor an export behind.
    for _ in 0..2 {
        match colony.spawn(&user("alice"), "clean.n1.alice", false).await {
            Err(e @ Error::CpuUnreachable { .. }) => assert!(
                e.to_string()
                    .starts_with(&format!("cpu service {cpu} unreachable: ")),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
    }
    assert!(colony.status(&user("alice")).unwrap().is_empty());
    colony.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_9p_export_serves_nodes_only_and_exported_names() {
    let dir = node();
    let runtime = RemoteRuntime::bind(dir.path(), "127.0.0.1:0", &free_addr())
        .await
        .unwrap();
    let export = runtime.ninep_addr().to_string();
    let alice = client_config(&identity::user_credential(dir.path(), &user("alice"))).unwrap();
    let e = attach_refusal(alice, &export, "alice", "clean.n1.alice").await;
    assert!(
        e.contains("user alice is not a grid node; this service takes node certificates only"),
        "{e}"
    );
    let node_tls = client_config(&dir.path().join(NODE_CRED)).unwrap();
    let e = attach_refusal(node_tls, &export, "root", "nosuch@n1").await;
    assert!(
        e.contains("no environment \"nosuch@n1\" is exported here"),
        "{e}"
    );
}

/// Why the 9P export at `export` refuses `uname`'s attach to `aname` over
/// `tls`.
async fn attach_refusal(
    tls: Arc<rustls::ClientConfig>,
    export: &str,
    uname: &str,
    aname: &str,
) -> String {
    let conn = dial(tls, export).await.unwrap();
    RemoteFs::connect(conn, uname, aname)
        .await
        .expect_err("the export let the attach through")
        .to_string()
}

#[tokio::test]
async fn the_9p_export_needs_an_address_to_dial() {
    let dir = node();
    match RemoteRuntime::bind(dir.path(), "0.0.0.0:0", &free_addr()).await {
        Err(Error::BadArgument(why)) => assert!(why.contains("not 0.0.0.0"), "{why}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("bound 0.0.0.0"),
    }
}
