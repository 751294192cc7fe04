//! Replication's figures (issue 15): node n1 serves its log on the grid
//! port (a real GridServer, mutual TLS, loopback); node n2 pulls it with
//! the node's puller, through a TCP relay that counts the bytes each way.
//! Printed, each the median of [`RUNS`] runs into a fresh n2:
//! * new data: n1 holds [`DATA`] of fresh 8 KB blocks n2 has none of;
//!   the time for n2 to pull and sync it all (direct, no relay), and the
//!   bytes on the wire per byte of data (one more run, relayed);
//! * data the peer has: n2 holds every block already (a fresh cursor, as
//!   after losing it): the time to walk n1's log, and the bytes on the wire.
//!
//! `cargo bench -p colony-benches --bench replicate`. No root needed (the
//! nodes run no sessions).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use colony_benches::random_block;
use colony_core::NodeId;
use colony_core::colony::{BareRuntime, Colony};
use colony_core::identity::{self, NODE_CRED};
use colony_core::replication::pull::Puller;
use colony_core::rpc::GridServer;
use colony_venti::{BlockStore, BlockType};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Bytes of blocks n1 holds.
const DATA: usize = 512 << 20;
/// Block size.
const BLOCK: usize = 8192;
/// Runs behind each median.
const RUNS: usize = 3;

/// A TCP relay from a loopback port to `to`, counting bytes each way.
struct Relay {
    addr: String,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl Relay {
    async fn start(to: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (u, d) = (up.clone(), down.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let server = TcpStream::connect(&to).await.unwrap();
                client.set_nodelay(true).unwrap();
                server.set_nodelay(true).unwrap();
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(copy(cr, sw, u.clone()));
                tokio::spawn(copy(sr, cw, d.clone()));
            }
        });
        Relay { addr, up, down }
    }

    fn bytes(&self) -> u64 {
        self.up.load(Ordering::Relaxed) + self.down.load(Ordering::Relaxed)
    }
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 256 << 10];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

/// CPU time (user and system) of this process so far: both nodes.
fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

/// Pulls everything n1 has into `b` from `addr`; returns the time.
async fn pull(b: &Arc<Colony<BareRuntime>>, b_dir: &Path, addr: &str) -> Duration {
    let config = identity::client_config(&b_dir.join(NODE_CRED)).unwrap();
    let started = Instant::now();
    let mut p = Puller::connect(b.replica().clone(), config, addr)
        .await
        .unwrap();
    while !p.step(false).await.unwrap().caught_up {}
    started.elapsed()
}

/// [`pull`] through `relay`; returns the time and the bytes on the wire.
async fn relayed(b: &Arc<Colony<BareRuntime>>, b_dir: &Path, relay: &Relay) -> (Duration, u64) {
    let before = relay.bytes();
    let took = pull(b, b_dir, &relay.addr).await;
    (took, relay.bytes() - before)
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

/// A fresh node `node` of n1's grid: its data directory and colony.
fn joined(tmp: &Path, a_dir: &Path, node: &str) -> (std::path::PathBuf, Arc<Colony<BareRuntime>>) {
    let join = tmp.join(format!("{node}.join"));
    identity::node_add(a_dir, &NodeId::new(node).unwrap(), &[], &join, false).unwrap();
    let b_dir = tmp.join(node);
    identity::init_join(&b_dir, &join).unwrap();
    let b = Arc::new(Colony::open_bare(&b_dir).unwrap());
    (b_dir, b)
}

fn main() {
    let rt = Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a_dir = tmp.path().join("n1");
    colony_benches::node::init(&a_dir, "n1");
    let a = Arc::new(Colony::open_bare(&a_dir).unwrap());
    let blocks: Vec<Vec<u8>> = (0..DATA / BLOCK)
        .map(|i| random_block(i as u64 + 1, BLOCK))
        .collect();
    for b in &blocks {
        a.store().write(BlockType::DATA, b).unwrap();
    }
    a.store().sync().unwrap();
    let (server, relay) = rt.block_on(async {
        let server = GridServer::bind("127.0.0.1:0", a.clone()).await.unwrap();
        let relay = Relay::start(server.local_addr().to_string()).await;
        (server, relay)
    });
    let mb = DATA as f64 / 1e6;

    let direct = server.local_addr().to_string();
    let mut new = Vec::new();
    let mut had = Vec::new();
    let mut cpu = Vec::new();
    for run in 0..RUNS {
        let (b_dir, b) = joined(tmp.path(), &a_dir, &format!("r{run}"));
        let before = cpu_time();
        new.push(rt.block_on(pull(&b, &b_dir, &direct)));
        cpu.push(cpu_time() - before);
        // Forget the cursor: the next pull walks the log of blocks n2 has.
        std::fs::remove_dir_all(b_dir.join("replication")).unwrap();
        had.push(rt.block_on(relayed(&b, &b_dir, &relay)));
        assert!(
            b.store()
                .has(&colony_venti::Score::of(&blocks[7]), BlockType::DATA)
                .unwrap()
        );
        drop(b);
        std::fs::remove_dir_all(&b_dir).unwrap();
    }
    // Once more through the relay, for the bytes on the wire.
    let (b_dir, b) = joined(tmp.path(), &a_dir, "bytes");
    let (_, wire) = rt.block_on(relayed(&b, &b_dir, &relay));
    drop(b);
    let (t, cpu) = (median(new), median(cpu));
    eprintln!(
        "replicate: {mb:.0} MB of new 8 KB blocks over loopback TLS: {:.2} s, {:.0} MB/s (median of {RUNS}); {:.2} s of CPU for both nodes ({:.0} MB per CPU second); {:.3} bytes on the wire per byte of data",
        t.as_secs_f64(),
        mb / t.as_secs_f64(),
        cpu.as_secs_f64(),
        mb / cpu.as_secs_f64(),
        wire as f64 / DATA as f64
    );
    let (t, wire) = median(had);
    eprintln!(
        "replicate: {mb:.0} MB the peer already has: {:.2} s, {:.0} MB/s of log walked, {:.4} bytes on the wire per byte of data ({} bytes per block)",
        t.as_secs_f64(),
        mb / t.as_secs_f64(),
        wire as f64 / DATA as f64,
        wire / (DATA / BLOCK) as u64
    );
    rt.block_on(server.shutdown());
}
