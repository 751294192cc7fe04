//! Replication in process over real loopback sockets and mutual TLS: node
//! `n1` (the grid's first) serves its log on the grid port; node `n2`
//! (joined with a join file) pulls with [`Puller`] one round at a time.
//! Three nodes and kills are tested through the binaries in
//! bins/tests/replicate.rs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_core::colony::{BareRuntime, Colony};
use colony_core::identity::revocations::REVOKED_NODES_FILE;
use colony_core::identity::{self, Identity, NODE_CRED, revoked};
use colony_core::names::Name;
use colony_core::replication::pull::Puller;
use colony_core::replication::wire::{self, PeerRequest, PeerResponse};
use colony_core::replication::{Cursor, Replicator, cursor::cursor_path};
use colony_core::rpc::{GridClient, GridServer, Request, Response, dial, frame};
use colony_core::{Error, NameRecord, NodeId, Score};
use colony_venti::{BlockStore, BlockType};
use common::user;
use tokio::io::AsyncReadExt;

mod common;

/// Node n1 serving, and node n2 of the same grid (not serving).
struct Pair {
    _a_dir: tempfile::TempDir,
    b_dir: tempfile::TempDir,
    a: Arc<Colony<BareRuntime>>,
    b: Arc<Colony<BareRuntime>>,
    server: GridServer,
}

impl Pair {
    async fn new() -> Pair {
        let a_dir = common::node(&["alice"]);
        let b_dir = join(a_dir.path(), "n2");
        let a = Arc::new(Colony::open_bare(a_dir.path()).unwrap());
        let b = Arc::new(Colony::open_bare(&b_dir.path().join("data")).unwrap());
        let server = GridServer::bind("127.0.0.1:0", a.clone()).await.unwrap();
        Pair {
            _a_dir: a_dir,
            b_dir,
            a,
            b,
            server,
        }
    }

    fn b_data(&self) -> std::path::PathBuf {
        self.b_dir.path().join("data")
    }

    async fn puller(&self) -> Puller {
        let config = identity::client_config(&self.b_data().join(NODE_CRED)).unwrap();
        Puller::connect(
            self.b.replica().clone(),
            config,
            &self.server.local_addr().to_string(),
        )
        .await
        .unwrap()
    }
}

/// A new node `id` of the grid whose CA is in `ca_dir`, its data
/// directory `data` in the returned directory.
fn join(ca_dir: &Path, id: &str) -> tempfile::TempDir {
    let join = ca_dir.join(format!("{id}.join"));
    identity::node_add(ca_dir, &NodeId::new(id).unwrap(), &[], &join, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    identity::init_join(&dir.path().join("data"), &join).unwrap();
    dir
}

/// `n` distinct, incompressible blocks of 8000 bytes written to `store`.
fn write_blocks(store: &dyn BlockStore, seed: u32, n: u32) -> Vec<Score> {
    (0..n)
        .map(|i| {
            let mut b = Vec::with_capacity(8000);
            let mut s = Score::of(&[seed.to_be_bytes(), i.to_be_bytes()].concat());
            while b.len() < 8000 {
                b.extend_from_slice(&s.0);
                s = Score::of(&s.0);
            }
            store.write(BlockType::DATA, &b).unwrap()
        })
        .collect()
}

fn record(name: &str, score: Score) -> NameRecord {
    NameRecord {
        name: Name::parse(name).unwrap(),
        score,
        owner: user("alice"),
        created: Some(1),
        invite: None,
    }
}

/// Rounds until the peer has nothing more; returns the blocks moved.
async fn pull_all(p: &mut Puller) -> u64 {
    let mut blocks = 0;
    loop {
        let step = p.step(false).await.unwrap();
        blocks += step.blocks;
        if step.caught_up {
            return blocks;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn blocks_then_names_once_each_and_resumed_from_the_cursor() {
    let g = Pair::new().await;
    let scores = write_blocks(&*g.a.store(), 1, 300);
    g.a.store().sync().unwrap();
    let root = scores[299];
    g.a.names().mint("big", &user("alice"), root).unwrap();
    // Blocks written after the name, unsynced: not given out yet.
    let late = write_blocks(&*g.a.store(), 2, 5);
    let name = Name::parse("big@n1").unwrap();

    let mut p = g.puller().await.with_batch(64);
    let mut seen_at = None;
    for round in 0.. {
        let step = p.step(false).await.unwrap();
        // Never a name before every block written before it.
        if g.b.names().get(&name).unwrap().is_some() {
            seen_at.get_or_insert(round);
            for s in &scores {
                assert!(
                    g.b.store().has(s, BlockType::DATA).unwrap(),
                    "round {round}"
                );
            }
        }
        if step.caught_up {
            break;
        }
    }
    assert_eq!(
        seen_at,
        Some(4),
        "the name comes with the slice that ends at it"
    );
    assert_eq!(g.b.names().get(&name).unwrap().unwrap().score, root);
    assert!(!g.b.store().has(&late[0], BlockType::DATA).unwrap());

    // Pulling again moves nothing; a new puller resumes from the cursor.
    assert_eq!(pull_all(&mut p).await, 0);
    let cursor = p.cursor();
    assert_eq!(
        Cursor::load(&g.b_data(), &NodeId::new("n1").unwrap()).unwrap(),
        cursor
    );
    drop(p);
    g.a.store().sync().unwrap();
    let mut p = g.puller().await;
    assert_eq!(p.cursor(), cursor);
    assert_eq!(pull_all(&mut p).await, 5, "only what was synced since");
    assert!(g.b.store().has(&late[4], BlockType::DATA).unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn blocks_the_puller_has_are_not_sent_and_a_conflict_is_refused_alone() {
    let g = Pair::new().await;
    let shared = write_blocks(&*g.a.store(), 3, 50);
    write_blocks(&*g.b.store(), 3, 50);
    g.a.store().sync().unwrap();
    g.b.store().sync().unwrap();
    // n2 holds a record for x@n1 that n1 never made (a corrupt peer's).
    g.b.names()
        .merge(&[record("x@n1", Score::of(b"other"))])
        .unwrap();
    g.a.names().mint("x", &user("alice"), shared[0]).unwrap();
    g.a.names().mint("y", &user("alice"), shared[1]).unwrap();

    let mut p = g.puller().await;
    assert_eq!(pull_all(&mut p).await, 0, "every block was there");
    let got = |n: &str| g.b.names().get(&Name::parse(n).unwrap()).unwrap().unwrap();
    assert_eq!(got("x@n1").score, Score::of(b"other"), "ours kept");
    assert_eq!(got("y@n1").score, shared[1], "the others merged");
    // The cursor moved past the conflict: pulling again is quiet.
    let step = p.step(false).await.unwrap();
    assert_eq!((step.blocks, step.names, step.caught_up), (0, 0, true));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_wakes_on_a_sync_and_on_a_name() {
    let g = Pair::new().await;
    let mut p = g.puller().await;
    pull_all(&mut p).await;
    let a = g.a.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let s = write_blocks(&*a.store(), 4, 3);
        a.store().sync().unwrap();
        s
    });
    let started = std::time::Instant::now();
    let step = p.step(true).await.unwrap();
    let written = writer.await.unwrap();
    assert_eq!(step.blocks, 3);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // A name whose blocks are all there already moves no log: it wakes
    // the waiting request by itself.
    let a = g.a.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        a.names().mint("again", &user("alice"), written[0]).unwrap();
    });
    let started = std::time::Instant::now();
    let step = p.step(true).await.unwrap();
    assert_eq!((step.blocks, step.names), (0, 1));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_certificate_gets_no_peer_service() {
    let g = Pair::new().await;
    write_blocks(&*g.a.store(), 5, 3);
    g.a.store().sync().unwrap();
    let cred = identity::user_credential(g.a.config().data_dir.as_path(), &user("alice"));
    let config = identity::client_config(&cred).unwrap();
    let mut tls = dial(config, &g.server.local_addr().to_string())
        .await
        .unwrap();
    let ask = PeerRequest::Log {
        log: 0,
        names: 0,
        max: 100,
        wait_ms: 0,
        revoked: 0,
    };
    let bytes = wire::encode(&ask, wire::MAX_PEER_REQUEST).unwrap();
    frame::write(&mut tls, &bytes).await.unwrap();
    // The answer is the user protocol's refusal of a frame of another
    // version, never a slice of the log.
    let mut prefix = [0u8; 4];
    tls.read_exact(&mut prefix).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    tls.read_exact(&mut body).await.unwrap();
    match frame::decode_body::<Response>(&body, frame::MAX_RESPONSE).unwrap() {
        Response::Error(why) => assert!(why.contains("version"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A node's puller cannot point at itself.
    let config = identity::client_config(&g.a.config().data_dir.join(NODE_CRED)).unwrap();
    match Puller::connect(
        g.a.replica().clone(),
        config,
        &g.server.local_addr().to_string(),
    )
    .await
    {
        Err(Error::Connection { reason, .. }) => assert!(reason.contains("this node"), "{reason}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(!cursor_path(&g.b_data(), &NodeId::new("n1").unwrap()).exists());
}

/// A TCP relay between a puller and a server that can cut the link
/// (close what is open, refuse what comes) and delay every chunk it
/// forwards: a partition and a slow link, without netem.
struct FaultProxy {
    addr: String,
    cut: tokio::sync::watch::Sender<bool>,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl FaultProxy {
    async fn start(to: String) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (cut, _) = tokio::sync::watch::channel(false);
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (cuts, delay) = (cut.clone(), delay_ms.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                if *cuts.borrow() {
                    continue; // dropped: the dialler sees the connection close
                }
                let Ok(server) = tokio::net::TcpStream::connect(&to).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                for (r, w) in [(cr, sw), (sr, cw)] {
                    tokio::spawn(forward(r, w, cuts.subscribe(), delay.clone()));
                }
            }
        });
        FaultProxy {
            addr,
            cut,
            delay_ms,
        }
    }

    fn cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }

    fn delay(&self, ms: u64) {
        self.delay_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn forward(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    mut cut: tokio::sync::watch::Receiver<bool>,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::AsyncWriteExt;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = tokio::select! {
            _ = cut.wait_for(|c| *c) => return,
            n = r.read(&mut buf) => match n { Ok(0) | Err(_) => return, Ok(n) => n },
        };
        let ms = delay_ms.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits up to `secs` for `f`.
async fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_heals_by_itself_and_a_slow_link_still_converges() {
    let g = Pair::new().await;
    let proxy = FaultProxy::start(g.server.local_addr().to_string()).await;
    let replicator =
        Replicator::start(g.b.replica().clone(), std::slice::from_ref(&proxy.addr)).unwrap();
    let has_name = |n: &str| g.b.names().get(&Name::parse(n).unwrap()).unwrap().is_some();

    let one = write_blocks(&*g.a.store(), 6, 20);
    g.a.store().sync().unwrap();
    g.a.names().mint("one", &user("alice"), one[0]).unwrap();
    until(10, "one@n1 never arrived", || has_name("one@n1")).await;

    proxy.cut(true);
    let status = |f: &dyn Fn(&colony_core::replication::status::Pulling) -> bool| {
        g.b.replica().status.of(&proxy.addr).is_some_and(|p| f(&p))
    };
    until(10, "the cut was not noticed", || {
        status(&|p| !p.connected && p.last_error.is_some())
    })
    .await;
    let two = write_blocks(&*g.a.store(), 7, 20);
    g.a.store().sync().unwrap();
    g.a.names().mint("two", &user("alice"), two[0]).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!has_name("two@n1"), "crossed a cut link");

    // Healed, and slow: every chunk held 30 ms each way.
    proxy.delay(30);
    proxy.cut(false);
    until(
        15,
        "two@n1 never arrived after the partition healed",
        || has_name("two@n1"),
    )
    .await;
    for s in &two {
        assert!(g.b.store().has(s, BlockType::DATA).unwrap());
    }
    until(5, "not connected again", || {
        status(&|p| p.connected && p.last_error.is_none())
    })
    .await;
    replicator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cursor_past_the_peers_log_starts_over_at_once() {
    let g = Pair::new().await;
    let scores = write_blocks(&*g.a.store(), 8, 10);
    g.a.store().sync().unwrap();
    // As if n1's store had been made anew under the same id.
    let stale = Cursor {
        log: 7 << 32,
        names: 99,
    };
    stale
        .store(&g.b_data(), &NodeId::new("n1").unwrap())
        .unwrap();
    let mut p = g.puller().await;
    let started = std::time::Instant::now();
    let step = p.step(true).await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "waited"
    );
    assert_eq!((step.blocks, p.cursor()), (0, Cursor::default()));
    assert_eq!(pull_all(&mut p).await, 10);
    assert!(g.b.store().has(&scores[9], BlockType::DATA).unwrap());
}

/// The first call of a grid client with `config` fails; its error.
async fn first_call_fails(config: Arc<rustls::ClientConfig>, addr: &str) -> Error {
    match GridClient::connect_with(config, addr).await {
        Err(e) => e,
        Ok(mut c) => c.ask(&Request::Status).await.unwrap_err(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_reaches_every_node_of_a_chain_within_5_s_and_bites_there() {
    // n1 <- n2 <- n3: n2 pulls from n1, n3 from n2 only.
    let g = Pair::new().await;
    let b_server = GridServer::bind("127.0.0.1:0", g.b.clone()).await.unwrap();
    let c_dir = join(g.a.config().data_dir.as_path(), "n3");
    let c = Arc::new(Colony::open_bare(&c_dir.path().join("data")).unwrap());
    let (a_addr, b_addr) = (
        g.server.local_addr().to_string(),
        b_server.local_addr().to_string(),
    );
    let ab = Replicator::start(g.b.replica().clone(), std::slice::from_ref(&a_addr)).unwrap();
    let bc = Replicator::start(c.replica().clone(), std::slice::from_ref(&b_addr)).unwrap();
    // Both links up and idle, so the revocation travels on long polls.
    until(10, "n2 never connected to n1", || {
        g.b.replica()
            .status
            .of(&a_addr)
            .is_some_and(|p| p.connected)
    })
    .await;
    until(10, "n3 never connected to n2", || {
        c.replica().status.of(&b_addr).is_some_and(|p| p.connected)
    })
    .await;
    let alice_cred = identity::user_credential(g.a.config().data_dir.as_path(), &user("alice"));
    let alice_config = identity::client_config(&alice_cred).unwrap();
    GridClient::connect_with(alice_config.clone(), &b_addr)
        .await
        .unwrap()
        .ask(&Request::Status)
        .await
        .expect("alice works on n2 before");

    // n2's own revocation reaches n3 (and not n1: n1 pulls from no one).
    revoked::revoke(&g.b_data(), &user("carol")).unwrap();
    let revoked_within = |colony: &Arc<Colony<BareRuntime>>, name: &str, started: Instant| {
        let mut seen = colony.revocations().subscribe();
        let id = Identity::User(user(name));
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        async move {
            tokio::time::timeout(left, seen.until_revoked(&id))
                .await
                .is_ok()
        }
    };
    assert!(revoked_within(&c, "carol", Instant::now()).await);

    let started = Instant::now();
    revoked::revoke(g.a.config().data_dir.as_path(), &user("alice")).unwrap();
    assert!(
        revoked_within(&g.b, "alice", started).await,
        "not on n2 within 5 s"
    );
    assert!(
        revoked_within(&c, "alice", started).await,
        "not on n3 within 5 s"
    );
    eprintln!("alice revoked on n3 {:?} after n1", started.elapsed());
    assert!(g.b.is_revoked(&user("alice")));
    // It bites: n2's listener refuses her certificate, and her
    // resumed TLS session (no certificate shown) too.
    let fresh = identity::client_config(&alice_cred).unwrap();
    let e = first_call_fails(fresh, &b_addr).await;
    assert!(e.to_string().contains("CertificateRevoked"), "{e}");
    let e = first_call_fails(alice_config, &b_addr).await;
    assert!(e.to_string().contains("alice is revoked"), "{e}");
    // The lists only grow, each node's by what it pulled.
    let users = |dir: &Path| revoked::load(dir).unwrap();
    assert_eq!(
        users(g.a.config().data_dir.as_path()),
        [user("alice")].into()
    );
    let both = [user("alice"), user("carol")].into();
    assert_eq!(users(&g.b_data()), both);
    assert_eq!(users(&c_dir.path().join("data")), both);
    bc.stop().await;
    ab.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_node_is_refused_as_a_peer_both_ways() {
    let g = Pair::new().await;
    let (a_dir, b_dir) = (g.a.config().data_dir.clone(), g.b_data());
    let node = |id: &str| Identity::Node(NodeId::new(id).unwrap());
    let seen = |colony: &Arc<Colony<BareRuntime>>, id: Identity| {
        let mut sub = colony.revocations().subscribe();
        async move {
            tokio::time::timeout(Duration::from_secs(5), sub.until_revoked(&id))
                .await
                .expect("the revocation is seen");
        }
    };

    // n2 revoked n1: n2 does not pull from it.
    std::fs::write(b_dir.join(REVOKED_NODES_FILE), "n1\n").unwrap();
    seen(&g.b, node("n1")).await;
    let config = identity::client_config(&b_dir.join(NODE_CRED)).unwrap();
    let addr = g.server.local_addr().to_string();
    match Puller::connect(g.b.replica().clone(), config, &addr).await {
        Err(Error::Connection { reason, .. }) => {
            assert!(reason.contains("node n1 is revoked"), "{reason}")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    std::fs::remove_file(b_dir.join(REVOKED_NODES_FILE)).unwrap();
    until(5, "n1 still revoked on n2", || {
        g.b.revocations().current().nodes.is_empty()
    })
    .await;

    // n1 revokes n2 while n2 pulls: the open connection ends within 5 s,
    // and a new one is refused in the handshake.
    let b_config = identity::client_config(&b_dir.join(NODE_CRED)).unwrap();
    let connect = |config| Puller::connect(g.b.replica().clone(), config, &addr);
    let mut p = connect(b_config.clone()).await.unwrap();
    p.step(false).await.unwrap();
    let started = Instant::now();
    std::fs::write(a_dir.join(REVOKED_NODES_FILE), "n2\n").unwrap();
    seen(&g.a, node("n2")).await;
    let e = loop {
        match tokio::time::timeout(Duration::from_secs(5), p.step(true)).await {
            Ok(Ok(_)) => assert!(started.elapsed() < Duration::from_secs(5), "still served"),
            Ok(Err(e)) => break e,
            Err(_) => panic!("the revoked node's connection stayed open"),
        }
    };
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    let mut fresh = g.puller().await;
    let e = fresh.step(false).await.unwrap_err();
    assert!(e.to_string().contains("CertificateRevoked"), "{e}");
    // A resumed session shows no certificate: refused all the same.
    let mut resumed = connect(b_config).await.unwrap();
    let e = resumed.step(false).await.unwrap_err();
    assert!(e.to_string().contains("node n2 is revoked"), "{e}");
}

/// Makes `b` repair its reads from `peers` with its node credential.
fn repair_from(g: &Pair, peers: &[String]) {
    let config = identity::client_config(&g.b_data().join(NODE_CRED)).unwrap();
    g.b.replica()
        .read_through
        .start_repair(config, peers, g.b.node())
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_the_node_lacks_is_read_through_from_a_peer_and_kept() {
    let g = Pair::new().await;
    let scores = write_blocks(&*g.a.store(), 9, 20);
    g.a.store().sync().unwrap();
    // The name comes first, as the ndb importer brings it: n2 has none
    // of its blocks.
    g.a.names().mint("r", &user("alice"), scores[19]).unwrap();
    let name = Name::parse("r@n1").unwrap();
    g.b.names()
        .merge(&[g.a.names().get(&name).unwrap().unwrap()])
        .unwrap();
    assert!(!g.b.store().has(&scores[19], BlockType::DATA).unwrap());
    repair_from(&g, &[g.server.local_addr().to_string()]);

    // From this runtime's worker, from blocking threads (eight at once for
    // one block: coalesced), and many at a time.
    let root = g.b.names().get(&name).unwrap().unwrap().score;
    let want = g.a.store().read(&root, BlockType::DATA).unwrap();
    assert_eq!(g.b.store().read(&root, BlockType::DATA).unwrap(), want);
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (store, s) = (g.b.store(), scores[0]);
            tokio::task::spawn_blocking(move || store.read(&s, BlockType::DATA).unwrap())
        })
        .collect();
    for r in readers {
        assert_eq!(
            r.await.unwrap(),
            g.a.store().read(&scores[0], BlockType::DATA).unwrap()
        );
    }
    let asked: Vec<_> = scores.iter().map(|s| (*s, BlockType::DATA)).collect();
    let store = g.b.store();
    let read = tokio::task::spawn_blocking(move || store.read_many(&asked))
        .await
        .unwrap();
    for (s, r) in scores.iter().zip(read) {
        assert_eq!(r.unwrap(), g.a.store().read(s, BlockType::DATA).unwrap());
    }

    // n1 gone, n2 has them: in its own log, for its other peers too.
    let Pair { server, b, .. } = g;
    server.shutdown().await;
    b.replica().read_through.stop_repair();
    for s in &scores {
        assert!(b.replica().store.has(s, BlockType::DATA).unwrap());
    }
    let logged = b.replica().store.log_since(0, 100).unwrap();
    assert_eq!(logged.entries.len(), scores.len());
    assert!(logged.next <= b.replica().store.synced_end(), "synced");
}

/// A node of the grid (`n3`) whose peer service answers every block
/// asked for with the same wrong bytes. Returns its address.
async fn lying_peer(g: &Pair) -> String {
    let join = g.b_dir.path().join("n3.join");
    let a_data = g.a.config().data_dir.clone();
    identity::node_add(&a_data, &NodeId::new("n3").unwrap(), &[], &join, false).unwrap();
    let data = g.b_dir.path().join("n3");
    identity::init_join(&data, &join).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(identity::server_config(&data).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            tokio::spawn(async move {
                while let Ok(Some(body)) = wire::read(&mut tls, wire::MAX_PEER_REQUEST).await {
                    let PeerRequest::Blocks(asked) =
                        wire::decode(&body, wire::MAX_PEER_REQUEST).unwrap()
                    else {
                        return;
                    };
                    let lie = vec![wire::Bytes(b"wrong".to_vec()); asked.len()];
                    let answer =
                        wire::encode(&PeerResponse::Blocks(lie), wire::MAX_PEER_RESPONSE).unwrap();
                    wire::write(&mut tls, &answer).await.unwrap();
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_sending_wrong_bytes_is_refused_and_the_next_one_asked() {
    let g = Pair::new().await;
    let s = write_blocks(&*g.a.store(), 10, 1)[0];
    g.a.store().sync().unwrap();
    let liar = lying_peer(&g).await;

    repair_from(&g, std::slice::from_ref(&liar));
    match g.b.store().read(&s, BlockType::DATA) {
        Err(colony_venti::Error::HashMismatch { want, got }) => {
            assert_eq!((want, got), (s, Score::of(b"wrong")));
        }
        other => panic!("{other:?}"),
    }
    assert!(!g.b.replica().store.has(&s, BlockType::DATA).unwrap());
    assert!(
        !g.b.replica()
            .store
            .has(&Score::of(b"wrong"), BlockType::DATA)
            .unwrap(),
        "the lie was not stored either"
    );

    repair_from(&g, &[liar, g.server.local_addr().to_string()]);
    assert_eq!(
        g.b.store().read(&s, BlockType::DATA).unwrap(),
        g.a.store().read(&s, BlockType::DATA).unwrap()
    );
    assert!(g.b.replica().store.has(&s, BlockType::DATA).unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_no_peer_has_is_not_found_promptly_even_in_a_flood() {
    let g = Pair::new().await;
    // A port nobody listens on, one that never answers (the kernel takes
    // the connection, nobody accepts it), and n1, which lacks the blocks.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_addr = gone.local_addr().unwrap().to_string();
    drop(gone);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    repair_from(
        &g,
        &[gone_addr, silent_addr, g.server.local_addr().to_string()],
    );

    let started = std::time::Instant::now();
    let nobody = Score::of(b"nobody has this");
    match g.b.store().read(&nobody, BlockType::DATA) {
        Err(colony_venti::Error::NotFound { score, .. }) => assert_eq!(score, nobody),
        other => panic!("{other:?}"),
    }
    // The silent peer's time is bounded.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // 32 threads reading 200 absent blocks (some the same) all hear so,
    // soon: the peers that failed are not asked again for a while.
    let started = std::time::Instant::now();
    let readers: Vec<_> = (0..32u32)
        .map(|t| {
            let store = g.b.store();
            tokio::task::spawn_blocking(move || {
                for i in 0..50u32 {
                    let s = Score::of(&((t * 50 + i) % 200).to_be_bytes());
                    assert!(matches!(
                        store.read(&s, BlockType::DATA),
                        Err(colony_venti::Error::NotFound { .. })
                    ));
                }
            })
        })
        .collect();
    for r in readers {
        r.await.unwrap();
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}
