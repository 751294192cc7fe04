//! The grid RPC over real loopback sockets and mutual TLS: a GridServer
//! serving a Colony (BareRuntime: real store, names and live fossils, no
//! namespaces, so no root needed) to GridClients holding `adduser`
//! credentials. The full sessions are tested in bins/tests/grid.rs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use colony_core::Error;
use colony_core::colony::{BareRuntime, Colony};
use colony_core::identity::revocations::Revocations;
use colony_core::identity::{self, Credential, InitOptions, NODE_CRED, revoked};
use colony_core::rpc::{GridClient, GridServer, NameInfo, Request, Response, frame};
use colony_fossil::{Fossil, FossilOptions};
use common::user;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

struct Grid {
    dir: tempfile::TempDir,
    colony: Arc<Colony<BareRuntime>>,
    server: GridServer,
}

impl Grid {
    /// Node `n1`: admin, alice, bob and bobby; the seed `/hello` = "world".
    async fn new(limits: Option<&str>) -> Grid {
        let dir = common::node(&["alice", "bob", "bobby"]);
        if let Some(text) = limits {
            std::fs::write(dir.path().join("limits"), text).unwrap();
        }
        let colony = Arc::new(Colony::open_bare(dir.path()).unwrap());
        let fs = Fossil::create_empty(colony.store(), FossilOptions::default()).unwrap();
        write_file(&fs, "hello", b"world");
        let score = fs.save().unwrap();
        colony.store().sync().unwrap();
        colony.seed(&user("admin"), score).unwrap();
        for u in ["alice", "bob", "bobby"] {
            colony.grant_seed(&user(u)).unwrap();
        }
        let server = GridServer::bind("127.0.0.1:0", colony.clone())
            .await
            .unwrap();
        Grid {
            dir,
            colony,
            server,
        }
    }

    fn addr(&self) -> String {
        self.server.local_addr().to_string()
    }

    fn cred(&self, u: &str) -> PathBuf {
        identity::user_credential(self.dir.path(), &user(u))
    }

    async fn client(&self, u: &str) -> GridClient {
        GridClient::connect(&self.cred(u), &self.addr())
            .await
            .unwrap()
    }
}

fn write_file(fs: &Fossil, name: &str, data: &[u8]) {
    let meta = fs
        .create(fs.root(), name.as_bytes(), 0o644, "glenda")
        .unwrap();
    fs.write(meta.qid.path, 0, data, "glenda").unwrap();
}

fn read_file(fs: &Fossil, name: &str) -> Vec<u8> {
    let meta = fs.lookup(fs.root(), name.as_bytes()).unwrap();
    fs.read(meta.qid.path, 0, 1 << 20).unwrap()
}

fn names(list: &[NameInfo]) -> Vec<&str> {
    list.iter().map(|n| n.name.as_str()).collect()
}

fn refused(r: colony_core::Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(Error::Refused(msg)) => msg,
        other => panic!("want a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn two_users_spawn_save_invite_and_stay_apart() {
    let g = Grid::new(None).await;
    let mut alice = g.client("alice").await;
    let mut bob = g.client("bob").await;

    assert_eq!(
        names(&alice.scores(None).await.unwrap()),
        ["clean.n1.alice"]
    );
    let env = alice.spawn("clean.n1.alice", false).await.unwrap();
    assert_eq!(env.owner, "alice");
    assert_eq!(env.attach, "gridorc attach clean.n1.alice");
    let fs = g
        .colony
        .env_fossil(&user("alice"), "clean.n1.alice")
        .unwrap();
    write_file(&fs, "note", b"alice was here");
    let saved = alice.save("clean.n1.alice", "work").await.unwrap();
    assert_eq!(saved.name, "work@n1");
    alice.spawn("work@n1", false).await.unwrap();
    let again = g.colony.env_fossil(&user("alice"), "work@n1").unwrap();
    assert_eq!(read_file(&again, "note"), b"alice was here");

    // Bob sees none of it, and is refused exactly as for a missing name.
    assert_eq!(names(&bob.scores(None).await.unwrap()), ["clean.n1.bob"]);
    assert_eq!(bob.status().await.unwrap(), vec![]);
    let not_found = refused(bob.spawn("work@n1", false).await);
    assert_eq!(
        not_found,
        refused(bob.spawn("nosuch@n1", false).await).replace("nosuch", "work")
    );
    let not_his = refused(bob.boom("work@n1").await);
    assert!(not_his.contains("work@n1"), "{not_his}");
    refused(bob.save("work@n1", "stolen").await);
    refused(bob.invite("bob", "work@n1").await);
    assert_eq!(
        alice.status().await.unwrap().len(),
        2,
        "bob's tries changed nothing"
    );

    // The invite: bob gets a name of his own for the running state.
    let invited = alice.invite("bob", "work@n1").await.unwrap();
    let bob_names = bob.scores(None).await.unwrap();
    assert_eq!(names(&bob_names), ["clean.n1.bob", invited.name.as_str()]);
    assert_eq!(bob_names[1].invited_by.as_deref(), Some("alice"));
    assert!(!names(&alice.scores(None).await.unwrap()).contains(&invited.name.as_str()));
    // "bobby" is not "bob": exact ownership.
    let mut bobby = g.client("bobby").await;
    refused(bobby.spawn(&invited.name, false).await);
    bob.spawn(&invited.name, false).await.unwrap();
    let bobs = g.colony.env_fossil(&user("bob"), &invited.name).unwrap();
    assert_eq!(read_file(&bobs, "note"), b"alice was here");

    // Filters, status and boom.
    assert_eq!(
        names(&alice.scores(Some("work")).await.unwrap()),
        ["work@n1"]
    );
    let status = alice.call(&Request::Status).await.unwrap();
    let Response::Status { user: who, envs } = status else {
        panic!("{status:?}")
    };
    assert_eq!(who, "alice");
    assert_eq!(
        envs.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["clean.n1.alice", "work@n1"]
    );
    alice.boom("work@n1").await.unwrap();
    alice.boom("clean.n1.alice").await.unwrap();
    assert_eq!(alice.status().await.unwrap(), vec![]);
    assert!(
        names(&alice.scores(None).await.unwrap()).contains(&"work@n1"),
        "boom keeps names"
    );
    assert_eq!(bob.status().await.unwrap().len(), 1);
}

#[tokio::test]
async fn errors_are_precise_and_answers_private() {
    let g = Grid::new(Some("limits sessions-per-user=1\n")).await;
    let mut alice = g.client("alice").await;
    let mut bob = g.client("bob").await;
    alice.spawn("clean.n1.alice", false).await.unwrap();
    let again = refused(alice.spawn("clean.n1.alice", false).await);
    assert!(again.contains("already running"), "{again}");
    alice.save("clean.n1.alice", "x").await.unwrap();
    let limit = refused(alice.spawn("x@n1", false).await);
    assert!(limit.contains("limit reached"), "{limit}");
    let exists = refused(alice.save("clean.n1.alice", "x").await);
    assert!(exists.contains("already exists"), "{exists}");
    let bad = refused(alice.invite("No Such", "clean.n1.alice").await);
    assert!(bad.contains("bad user name"), "{bad}");
    let nobody = refused(alice.invite("carol", "clean.n1.alice").await);
    assert!(nobody.contains("carol"), "{nobody}");
    // Bob, connected all along, received nothing of alice's; his next
    // answer is his own.
    assert_eq!(names(&bob.scores(None).await.unwrap()), ["clean.n1.bob"]);
}

#[tokio::test]
async fn malformed_frames_get_an_error_and_the_server_keeps_serving() {
    let g = Grid::new(None).await;
    let mut alice = g.client("alice").await;
    let good = Request::Status.encode().unwrap();
    let mut bad_version = good.clone();
    bad_version[4] = 99;
    let garbage = [0, 0, 0, 3, 1, 0xff, 0xff];
    for bytes in [&bad_version[..], &garbage[..]] {
        match alice.raw_call(bytes).await.unwrap() {
            Response::Error(msg) => assert!(msg.starts_with("bad grid frame"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
    // The same connection still works.
    assert_eq!(alice.status().await.unwrap(), vec![]);
    // An over-long frame: an error, then the connection is closed (seen
    // on a raw stream: a GridClient would dial again)...
    let config = identity::client_config(&g.cred("alice")).unwrap();
    let tcp = tokio::net::TcpStream::connect(g.addr()).await.unwrap();
    let mut raw = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let huge = ((frame::MAX_REQUEST + 1) as u32).to_be_bytes();
    raw.write_all(&huge).await.unwrap();
    raw.flush().await.unwrap();
    let read = frame::read(&mut raw, frame::MAX_RESPONSE).await.unwrap();
    let frame::ReadFrame::Frame(bytes) = read else {
        panic!("want the error frame")
    };
    match frame::decode_body::<Response>(&bytes, frame::MAX_RESPONSE).unwrap() {
        Response::Error(msg) => assert!(msg.contains("exceeds the limit"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        frame::read(&mut raw, frame::MAX_RESPONSE).await,
        Ok(frame::ReadFrame::End) | Err(_)
    ));
    // Alice's own connection is unaffected.
    assert_eq!(alice.status().await.unwrap(), vec![]);
    // ...and the server serves new ones.
    let mut again = g.client("alice").await;
    assert_eq!(
        names(&again.scores(None).await.unwrap()),
        ["clean.n1.alice"]
    );
}

/// A client whose certificate is refused learns it on its first call.
async fn first_call_fails(config: Arc<rustls::ClientConfig>, addr: &str) -> Error {
    match GridClient::connect_with(config, addr).await {
        Err(e) => e,
        Ok(mut c) => c.scores(None).await.unwrap_err(),
    }
}

#[tokio::test]
async fn certificates_that_are_refused() {
    let g = Grid::new(None).await;
    let addr = g.addr();
    let ca = Credential::load(&g.cred("alice")).unwrap().ca;

    // No client certificate at all.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let anonymous = rustls::ClientConfig::builder_with_provider(identity::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let e = first_call_fails(Arc::new(anonymous), &addr).await;
    assert!(matches!(e, Error::Connection { .. }), "{e}");

    // A user of another grid.
    let other = tempfile::tempdir().unwrap();
    identity::init(other.path(), &InitOptions::default()).unwrap();
    let stranger = identity::adduser(other.path(), &user("alice")).unwrap();
    let theirs = Credential::load(&stranger).unwrap();
    let mixed = Credential {
        ca: ca.clone(),
        ..theirs
    };
    let mixed_path = other.path().join("mixed.cred");
    mixed.create(&mixed_path).unwrap();
    let e = first_call_fails(identity::client_config(&mixed_path).unwrap(), &addr).await;
    assert!(matches!(e, Error::Connection { .. }), "{e}");

    // The node's own certificate is not a user.
    let node = identity::client_config(&g.dir.path().join(NODE_CRED)).unwrap();
    let e = first_call_fails(node, &addr).await;
    assert!(e.to_string().contains("is not a user"), "{e}");

    // A revoked user, while the server runs.
    let mut bob = g.client("bob").await;
    bob.status().await.unwrap();
    let mut seen = Revocations::of(g.dir.path()).unwrap().subscribe();
    revoked::revoke(g.dir.path(), &user("bob")).unwrap();
    let bob_id = identity::Identity::User(user("bob"));
    tokio::time::timeout(Duration::from_secs(2), seen.until_revoked(&bob_id))
        .await
        .expect("the revocation is seen within 2 s");
    let e = first_call_fails(identity::client_config(&g.cred("bob")).unwrap(), &addr).await;
    assert!(e.to_string().contains("CertificateRevoked"), "{e}");
    // Alice is untouched.
    g.client("alice").await.status().await.unwrap();
}

#[tokio::test]
async fn a_stalled_client_does_not_block_others() {
    let g = Grid::new(None).await;
    // A TCP connection that never speaks TLS, and a TLS client that
    // sends half a frame.
    let _silent = tokio::net::TcpStream::connect(g.addr()).await.unwrap();
    let config = identity::client_config(&g.cred("bob")).unwrap();
    let tcp = tokio::net::TcpStream::connect(g.addr()).await.unwrap();
    let mut half = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    half.write_all(&[0, 0, 0, 9, 1]).await.unwrap();
    half.flush().await.unwrap();
    let mut alice = g.client("alice").await;
    assert_eq!(
        names(&alice.scores(None).await.unwrap()),
        ["clean.n1.alice"]
    );
    // The half frame's sender gets nothing until it finishes.
    let mut byte = [0u8; 1];
    let waited =
        tokio::time::timeout(std::time::Duration::from_millis(200), half.read(&mut byte)).await;
    assert!(waited.is_err(), "no answer to half a frame");
}

#[tokio::test]
async fn names_and_blocks_survive_a_restart() {
    let g = Grid::new(None).await;
    let mut alice = g.client("alice").await;
    alice.spawn("clean.n1.alice", false).await.unwrap();
    let fs = g
        .colony
        .env_fossil(&user("alice"), "clean.n1.alice")
        .unwrap();
    write_file(&fs, "kept", b"across restarts");
    alice.save("clean.n1.alice", "kept").await.unwrap();
    drop(alice);
    let Grid {
        dir,
        colony,
        server,
    } = g;
    server.shutdown().await;
    colony.shutdown().await.unwrap();
    drop(fs);
    let colony = Arc::into_inner(colony).expect("the server let go of the colony");
    drop(colony);

    let colony = Arc::new(Colony::open_bare(dir.path()).unwrap());
    let server = GridServer::bind("127.0.0.1:0", colony.clone())
        .await
        .unwrap();
    let cred = identity::user_credential(dir.path(), &user("alice"));
    let mut alice = GridClient::connect(&cred, &server.local_addr().to_string())
        .await
        .unwrap();
    assert_eq!(
        names(&alice.scores(None).await.unwrap()),
        ["clean.n1.alice", "kept@n1"]
    );
    assert_eq!(
        alice.status().await.unwrap(),
        vec![],
        "nothing runs after a restart"
    );
    alice.spawn("kept@n1", false).await.unwrap();
    let fs = colony.env_fossil(&user("alice"), "kept@n1").unwrap();
    assert_eq!(read_file(&fs, "kept"), b"across restarts");
}

#[tokio::test]
async fn a_user_added_while_the_node_runs_gets_the_seed() {
    let g = Grid::new(None).await;
    identity::adduser(g.dir.path(), &user("carol")).unwrap();
    let mut carol = g.client("carol").await;
    assert_eq!(
        names(&carol.scores(None).await.unwrap()),
        ["clean.n1.carol"]
    );
    carol.spawn("clean.n1.carol", false).await.unwrap();
}
