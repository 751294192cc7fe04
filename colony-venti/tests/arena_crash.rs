//! Real crashes: this test binary re-executes itself as a writer process,
//! which appends and syncs blocks and reports its progress over a pipe,
//! and is SIGKILLed at a random moment. The parent then reopens the store
//! and checks that every synced block is there, that what survived is a
//! prefix of what was written, and that every readable block verifies.
//! While the writer runs, the store's lock keeps the parent out.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use colony_venti::{ArenaConfig, ArenaStore, BlockStore, BlockType, Error, Score};

/// Environment variable that turns a run of the test into the writer.
const WRITER_DIR: &str = "COLONY_CRASH_WRITER_DIR";
/// First block number the writer writes.
const WRITER_FROM: &str = "COLONY_CRASH_WRITER_FROM";
/// "1" when the writer buffers clumps in memory (a crash may lose them).
const WRITER_BUFFERED: &str = "COLONY_CRASH_WRITER_BUFFERED";

const TEST_NAME: &str = "sigkill_at_random_moments_loses_no_synced_block";

/// Small arenas and frequent index flushes, so kills land in seals and
/// index writes too.
fn config(buffered: bool) -> ArenaConfig {
    ArenaConfig {
        arena_size: 256 << 10,
        index_bits: 1,
        flush_entries: 48,
        write_buffer: if buffered { 16 << 10 } else { 0 },
        sync_ahead: 16 << 10,
    }
}

/// Block `i`: a SHA-1 chain (incompressible) of varied length, every fifth
/// one padded with a compressible run; even blocks are data, odd ones dir.
fn block(i: u64) -> (BlockType, Vec<u8>) {
    let len = 1 + (i * 7919 % 9000) as usize;
    let mut b = Vec::with_capacity(len + 20);
    let mut s = Score::of(&i.to_be_bytes());
    while b.len() < len {
        b.extend_from_slice(&s.0);
        s = Score::of(&s.0);
    }
    b.truncate(len);
    if i % 5 == 0 {
        b.extend(std::iter::repeat_n(7u8, 2000));
    }
    let ty = if i % 2 == 0 {
        BlockType::DATA
    } else {
        BlockType::DIR
    };
    (ty, b)
}

/// The writer's side: write blocks from `from` on, syncing every few, and
/// report "@wrote N" / "@synced N" (N = blocks below it are written /
/// durable) until killed. The `@` sets reports apart from libtest's output
/// on the same line.
fn writer(dir: &Path, from: u64, buffered: bool) -> ! {
    let store = ArenaStore::open(dir, config(buffered)).expect("writer opens the store");
    let mut out = std::io::stdout().lock();
    writeln!(out, "@open").unwrap();
    for i in from..from + 1_000_000 {
        let (ty, data) = block(i);
        store.write(ty, &data).unwrap();
        writeln!(out, "@wrote {}", i + 1).unwrap();
        if i % 7 == 3 {
            store.sync().unwrap();
            writeln!(out, "@synced {}", i + 1).unwrap();
        }
        out.flush().unwrap();
    }
    // The parent stopped listening long ago; end without unwinding.
    std::process::exit(0)
}

/// xorshift64, seeded from the clock and printed, for the kill moments.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the writer reported before it died.
#[derive(Default, Debug)]
struct Reported {
    wrote: u64,
    synced: u64,
}

/// Runs one writer from block `from`, kills it after `delay` from when it
/// has the store open, and returns what it reported.
fn run_and_kill(dir: &Path, from: u64, buffered: bool, delay: Duration) -> Reported {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_DIR, dir)
        .env(WRITER_FROM, from.to_string())
        .env(WRITER_BUFFERED, if buffered { "1" } else { "0" })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut reported = Reported::default();
    let report = |line: &str| line.split('@').nth(1).map(str::to_string);
    let note = |line: &str, r: &mut Reported| {
        let Some(line) = report(line) else { return };
        if let Some(n) = line.strip_prefix("wrote ") {
            r.wrote = n.parse().unwrap();
        } else if let Some(n) = line.strip_prefix("synced ") {
            r.synced = n.parse().unwrap();
        }
    };
    // Wait until the writer holds the store, then check the lock.
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("writer did not start");
        if report(&line).as_deref() == Some("open") {
            break;
        }
    }
    match ArenaStore::open(dir, config(buffered)) {
        Err(Error::Locked { dir: d }) => assert_eq!(d, dir),
        other => panic!("second open while the writer runs: {:?}", other.map(|_| ())),
    }
    let deadline = Instant::now() + delay;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        note(&line, &mut reported);
        if Instant::now() >= deadline {
            break;
        }
    }
    // SIGKILL: no destructor, no flush.
    child.kill().unwrap();
    child.wait().unwrap();
    // Lines written before the kill are still in the pipe.
    for line in rx.iter() {
        note(&line, &mut reported);
    }
    reader.join().unwrap();
    reported
}

#[test]
fn sigkill_at_random_moments_loses_no_synced_block() {
    if let Ok(dir) = std::env::var(WRITER_DIR) {
        let from = std::env::var(WRITER_FROM).unwrap().parse().unwrap();
        writer(
            Path::new(&dir),
            from,
            std::env::var(WRITER_BUFFERED).unwrap() == "1",
        );
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    for buffered in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        // Blocks 0..survived are in the store.
        let mut survived = 0u64;
        for round in 0..5 {
            let delay = Duration::from_millis(rng.below(400));
            let r = run_and_kill(dir.path(), survived, buffered, delay);
            let ctx =
                format!("seed {seed} buffered {buffered} round {round} delay {delay:?} {r:?}");
            let store = ArenaStore::open(dir.path(), config(buffered)).unwrap();
            // What survived is a prefix of what was written.
            let mut n = 0;
            loop {
                let (ty, data) = block(n);
                match store.read(&Score::of(&data), ty) {
                    Ok(got) => assert_eq!(got, data, "block {n} differs: {ctx}"),
                    Err(Error::NotFound { .. }) => break,
                    Err(e) => panic!("block {n}: {e}: {ctx}"),
                }
                n += 1;
            }
            assert!(n >= r.synced, "synced blocks lost: {n} survived: {ctx}");
            if !buffered {
                // Unbuffered clumps are in the file when write returns.
                assert!(n >= r.wrote, "written blocks lost: {n} survived: {ctx}");
            }
            for later in n..n + 16 {
                let (ty, data) = block(later);
                assert!(
                    !store.has(&Score::of(&data), ty).unwrap(),
                    "hole at {n}: {ctx}"
                );
            }
            let report = store.check(&mut |_| {}).unwrap();
            assert!(report.is_clean(), "{:?}: {ctx}", report.problems);
            survived = n;
        }
        assert!(survived > 0, "the writers never got going");
    }
}
