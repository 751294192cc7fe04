//! Load on colony's venti server: many connections, each a minimal venti
//! client of its own ([`colony_benches::venti_wire`], not colony's client
//! library), mixing reads of blocks written earlier with writes of new
//! random blocks and of duplicates. Reports MB/s, p50/p99/max latency of
//! reads and writes, and the server's resident memory (peak and at the
//! end), for a server on a MemStore and one on an ArenaStore in a fresh
//! directory under `$COLONY_BENCH_DIR` (default `/tmp`). Every read is
//! checked against its score.
//!
//! `cargo bench -p colony-benches --bench venti_load`
//!
//! Settings (environment): `LOAD_CONNS` connections (32), `LOAD_SECS`
//! seconds per store (10), `LOAD_READ_PCT` percent of operations that are
//! reads (50), `LOAD_DUP_PCT` percent of writes that repeat a block (20),
//! `LOAD_BLOCK` largest block in bytes (16384; sizes are uniform from 1),
//! `LOAD_ADDR` to load an already running server instead (memory is then
//! not reported).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use colony_benches::random_block;
use colony_benches::venti_wire::{DATA, WireClient};
use colony_venti::Score;

struct Settings {
    conns: usize,
    secs: u64,
    read_pct: u64,
    dup_pct: u64,
    block: usize,
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    })
}

/// What one connection did.
#[derive(Default)]
struct Tally {
    reads: Vec<Duration>,
    writes: Vec<Duration>,
    read_bytes: u64,
    write_bytes: u64,
    dups: u64,
}

/// The operation mix's choices: a number below `n` drawn from the
/// connection's own sequence (SHA-1 of a counter; its cost is small
/// beside a round trip).
struct Draw {
    id: u64,
    count: u64,
}

impl Draw {
    fn below(&mut self, n: u64) -> u64 {
        self.count += 1;
        let h = Score::of(&[self.id.to_le_bytes(), self.count.to_le_bytes()].concat());
        u64::from_le_bytes(h.0[..8].try_into().unwrap()) % n
    }
}

/// One connection's loop until `stop`: every block it writes is a seed
/// (content `random_block(seed, len)`), remembered for later reads and
/// duplicate writes.
fn connection(addr: SocketAddr, id: u64, s: &Settings, stop: &AtomicBool) -> Tally {
    let mut c = WireClient::connect(addr).expect("connect");
    let mut rng = Draw { id, count: 0 };
    let mut written: Vec<(u64, usize, [u8; 20])> = Vec::new();
    let mut t = Tally::default();
    let mut next_seed = id << 40;
    while !stop.load(Ordering::Relaxed) {
        let read = !written.is_empty() && rng.below(100) < s.read_pct;
        if read {
            let (_, len, score) = written[rng.below(written.len() as u64) as usize];
            let start = Instant::now();
            let got = c.read(&score, DATA).expect("read");
            t.reads.push(start.elapsed());
            assert_eq!(got.len(), len);
            assert_eq!(Score::of(got).0, score, "read returned another block");
            t.read_bytes += len as u64;
            continue;
        }
        let dup = !written.is_empty() && rng.below(100) < s.dup_pct;
        let (seed, len) = if dup {
            let (seed, len, _) = written[rng.below(written.len() as u64) as usize];
            (seed, len)
        } else {
            next_seed += 1;
            (next_seed, 1 + rng.below(s.block as u64) as usize)
        };
        let block = random_block(seed, len);
        let start = Instant::now();
        let score = c.write(DATA, &block).expect("write");
        t.writes.push(start.elapsed());
        assert_eq!(score, Score::of(&block).0, "Rwrite names another score");
        t.write_bytes += len as u64;
        if dup {
            t.dups += 1;
        } else {
            written.push((seed, len, score));
        }
    }
    t
}

/// The server process and its address.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bench-venti-server"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting bench-venti-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().parse().expect("the server's address");
        Server { child, addr }
    }

    /// (resident, peak resident) in bytes, from /proc.
    fn rss(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        (kb("VmRSS:"), kb("VmHWM:"))
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "bench-venti-server: {status}");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report_latency(what: &str, mut times: Vec<Duration>, bytes: u64, secs: f64) {
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "  {what:6} {:>8} ops {:>8.1} MB/s  p50 {:>7.0} µs  p99 {:>7.0} µs  max {:>7.0} µs",
        times.len(),
        bytes as f64 / 1e6 / secs,
        us(percentile(&times, 0.5)),
        us(percentile(&times, 0.99)),
        us(times.last().copied().unwrap_or_default()),
    );
}

/// Runs the load against `addr`; `rss` samples the server's memory.
fn load(name: &str, addr: SocketAddr, s: &Settings, rss: &dyn Fn() -> Option<(u64, u64)>) {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (tallies, sampled_max) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..s.conns as u64)
            .map(|id| {
                scope.spawn({
                    let stop = &stop;
                    move || connection(addr, id, s, stop)
                })
            })
            .collect();
        let mut max = 0;
        while started.elapsed() < Duration::from_secs(s.secs) {
            std::thread::sleep(Duration::from_millis(100));
            max = max.max(rss().map_or(0, |r| r.0));
        }
        stop.store(true, Ordering::Relaxed);
        let tallies: Vec<Tally> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        (tallies, max)
    });
    let secs = started.elapsed().as_secs_f64();
    let mut all = Tally::default();
    for t in tallies {
        all.reads.extend(t.reads);
        all.writes.extend(t.writes);
        all.read_bytes += t.read_bytes;
        all.write_bytes += t.write_bytes;
        all.dups += t.dups;
    }
    println!(
        "{name}: {} connections, {secs:.1} s, {:.1} MB/s in all ({} duplicate writes)",
        s.conns,
        (all.read_bytes + all.write_bytes) as f64 / 1e6 / secs,
        all.dups
    );
    report_latency("reads", all.reads, all.read_bytes, secs);
    report_latency("writes", all.writes, all.write_bytes, secs);
    if let Some((now, peak)) = rss() {
        println!(
            "  server memory: {:.1} MB resident at the end, {:.1} MB sampled peak, {:.1} MB high-water mark",
            now as f64 / 1e6,
            sampled_max as f64 / 1e6,
            peak as f64 / 1e6
        );
    }
}

fn main() {
    let s = Settings {
        conns: env("LOAD_CONNS", 32) as usize,
        secs: env("LOAD_SECS", 10),
        read_pct: env("LOAD_READ_PCT", 50),
        dup_pct: env("LOAD_DUP_PCT", 20),
        block: env("LOAD_BLOCK", 16384).clamp(1, colony_venti::MAX_BLOCK as u64) as usize,
    };
    if let Ok(addr) = std::env::var("LOAD_ADDR") {
        let addr = addr.parse().expect("LOAD_ADDR is host:port");
        load(&format!("server at {addr}"), addr, &s, &|| None);
        return;
    }
    let mem = Server::start(&["mem"]);
    load("colony's server on a MemStore", mem.addr, &s, &|| {
        Some(mem.rss())
    });
    mem.stop();
    let base = std::env::var("COLONY_BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    let arena = Server::start(&["arena", dir.path().to_str().unwrap()]);
    load("colony's server on an ArenaStore", arena.addr, &s, &|| {
        Some(arena.rss())
    });
    arena.stop();
}
