//! Replication in process over real loopback sockets and mutual TLS: node
//! `n1` (the grid's first) serves its log on the grid port; node `n2`
//! (joined with a join file) pulls with [`Puller`] one round at a time.
//! Three nodes and kills are tested through the binaries in
//! bins/tests/replicate.rs.

use std::path::Path;
use std::sync::Arc;

use colony_core::colony::{BareRuntime, Colony, ColonyConfig};
use colony_core::identity::{self, NODE_CRED};
use colony_core::names::Name;
use colony_core::replication::pull::Puller;
use colony_core::replication::wire::{self, PeerRequest, PeerResponse};
use colony_core::replication::{Cursor, cursor::cursor_path};
use colony_core::rpc::{GridServer, Response, dial, frame};
use colony_core::{Error, NameRecord, NodeId, Score};
use colony_ns::session::LinuxConfig;
use colony_venti::{BlockStore, BlockType};
use common::user;
use tokio::io::AsyncReadExt;

mod common;

fn open(dir: &Path) -> Arc<Colony<BareRuntime>> {
    let config = ColonyConfig {
        data_dir: dir.to_path_buf(),
        cpu_host: "127.0.0.1".into(),
        helper: LinuxConfig::new("/nonexistent/colony-session-helper"),
        seed: None,
    };
    Arc::new(Colony::with_runtime(config, BareRuntime).unwrap())
}

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
        let join = a_dir.path().join("n2.join");
        identity::node_add(a_dir.path(), &NodeId::new("n2").unwrap(), &[], &join, false).unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let b_data = b_dir.path().join("data");
        identity::init_join(&b_data, &join).unwrap();
        let a = open(a_dir.path());
        let b = open(&b_data);
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
    use colony_core::replication::Replicator;
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
