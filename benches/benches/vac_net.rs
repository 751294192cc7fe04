//! vac, unvac and a remote-backed fossil over loopback, whole stack against
//! a `VentiServer` on an `ArenaStore`, on a real file tree; printed beside
//! plan9port's figures for the same run on this machine (issue 14: its vac
//! into its venti 29 MB/s, its unvac 36 MB/s, on Python's 251 MB standard
//! library). plan9port is not installable here, so its figures are quoted,
//! not measured.
//!
//! `cargo bench -p colony-benches --bench vac_net`
//!
//! * `COLONY_BENCH_TREE`: the tree (default: the largest `/usr/lib/python3.*`);
//! * `COLONY_BENCH_DIR`: where the store goes (default `/tmp`);
//! * `COLONY_BENCH_OUT`: where unvac extracts (default `/dev/shm` if there,
//!   so the figure is not that of the disk's inode allocation).
//!
//! Four figures, each MB/s of file bytes and the CPU time the process
//! (client and server) used for it: `vac --venti` (a streamed import),
//! `unvac --venti` (reading ahead across the tree, several directories at
//! once, and along each file), and through `Fossil` on a fresh
//! `VentiClient` (cold cache): `cat`
//! of the largest file and a `tar`-like walk reading every file.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use colony_fossil::fossil::{DMDEVICE, DMDIR, DMNAMEDPIPE, DMSYMLINK, Fossil, FossilOptions};
use colony_fossil::unvac::{self, UnvacOptions};
use colony_fossil::vac::{self, VacOptions};
use colony_venti::proto::{VentiClient, VentiServer};
use colony_venti::{ArenaConfig, ArenaStore, BlockStore, Score};

/// plan9port's vac into its venti on this machine, this tree (issue 14).
const PLAN9PORT_VAC: f64 = 29.0;
/// plan9port's unvac from its venti, same run.
const PLAN9PORT_UNVAC: f64 = 36.0;
/// Bytes each fossil read asks for (a FUSE read's size).
const CHUNK: u32 = 128 << 10;

/// The tree to archive: `$COLONY_BENCH_TREE`, or the largest Python library.
fn tree() -> PathBuf {
    if let Ok(t) = std::env::var("COLONY_BENCH_TREE") {
        return t.into();
    }
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir("/usr/lib")
        .expect("/usr/lib")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3."))
        .map(|e| (file_bytes(&e.path()).0, e.path()))
        .collect();
    found.sort();
    found
        .pop()
        .expect("no /usr/lib/python3.*: set COLONY_BENCH_TREE")
        .1
}

/// Bytes of regular files under `p`, and the largest file.
fn file_bytes(p: &Path) -> (u64, Option<(u64, PathBuf)>) {
    let mut total = 0;
    let mut largest: Option<(u64, PathBuf)> = None;
    let mut stack = vec![p.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                total += md.len();
                if largest.as_ref().is_none_or(|(n, _)| md.len() > *n) {
                    largest = Some((md.len(), e.path()));
                }
            }
        }
    }
    (total, largest)
}

/// When a figure's work began: the wall clock, and the CPU time this
/// process (client and server alike) had used. On a shared machine the
/// CPU time is the steadier measure of cost.
struct Began {
    wall: Instant,
    cpu: f64,
}

impl Began {
    fn now() -> Began {
        Began {
            wall: Instant::now(),
            cpu: cpu_secs(),
        }
    }

    fn mbps(&self, bytes: u64) -> f64 {
        bytes as f64 / self.wall.elapsed().as_secs_f64() / 1e6
    }

    /// CPU seconds used since.
    fn cpu(&self) -> f64 {
        cpu_secs() - self.cpu
    }
}

/// User and system CPU seconds of this process so far.
fn cpu_secs() -> f64 {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    secs(u.user_time()) + secs(u.system_time())
}

/// Reads every byte of file `node` through the fossil.
fn cat(fs: &Fossil, node: u64) -> u64 {
    let mut off = 0u64;
    loop {
        let got = fs.read(node, off, CHUNK).expect("fossil read");
        if got.is_empty() {
            return off;
        }
        off += got.len() as u64;
    }
}

/// Walks directory `dir` as tar does, reading every regular file.
fn tar(fs: &Fossil, dir: u64) -> u64 {
    let mut names = Vec::new();
    fs.readdir(dir, 0, &mut |item| {
        names.push(item.meta.name);
        true
    })
    .expect("fossil readdir");
    let mut total = 0;
    for name in names {
        let m = fs.lookup(dir, &name).expect("fossil lookup");
        if m.mode & DMDIR != 0 {
            total += tar(fs, m.qid.path);
        } else if m.mode & (DMSYMLINK | DMDEVICE | DMNAMEDPIPE) == 0 {
            total += cat(fs, m.qid.path);
        }
    }
    total
}

/// Opens the archive cold over a new connection, as a remote-backed
/// mount does (reading ahead across a directory's children).
fn fossil(addr: std::net::SocketAddr, score: Score) -> Fossil {
    let client: Arc<dyn BlockStore> = Arc::new(VentiClient::connect(addr).unwrap());
    let options = FossilOptions {
        children_ahead: true,
        ..FossilOptions::default()
    };
    Fossil::open(client, score, options).unwrap()
}

fn main() {
    let tree = tree();
    let (bytes, largest) = file_bytes(&tree);
    let name = tree.file_name().unwrap().to_string_lossy().into_owned();
    println!(
        "tree {} ({:.0} MB of files); machine: {} cpus, load {}",
        tree.display(),
        bytes as f64 / 1e6,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let base = std::env::var("COLONY_BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    let config = ArenaConfig {
        arena_size: 256 << 20,
        ..ArenaConfig::default()
    };
    let store: Arc<dyn BlockStore> = Arc::new(ArenaStore::open(dir.path(), config).unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(VentiServer::bind("127.0.0.1:0", store))
        .unwrap();
    let addr = server.local_addr();

    let client = VentiClient::connect(addr).unwrap();
    let t = Began::now();
    let score = vac::import_path(&client, &tree, &VacOptions::default(), &mut |_| {})
        .unwrap()
        .score;
    let (vac, vac_cpu) = (t.mbps(bytes), t.cpu());
    drop(client);

    let out = std::env::var("COLONY_BENCH_OUT").unwrap_or_else(|_| {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() { "/dev/shm" } else { "/tmp" }.into()
    });
    let dest = tempfile::tempdir_in(&out).unwrap();
    let client = VentiClient::connect(addr).unwrap();
    let (options, t) = (UnvacOptions::default(), Began::now());
    let exported = unvac::export(&client, &score, dest.path(), &options, &mut |_| {});
    let (unvac, unvac_cpu) = (t.mbps(bytes), t.cpu());
    assert!(exported.unwrap().errors.is_empty(), "unvac reported errors");
    drop(client);
    drop(dest);

    println!("                      colony    plan9port (quoted)     CPU (client+server)");
    println!(
        "vac   --venti     {vac:8.1} MB/s   {PLAN9PORT_VAC:5.1} MB/s   x{:<5.1}  {vac_cpu:.2} s",
        vac / PLAN9PORT_VAC
    );
    println!(
        "unvac --venti     {unvac:8.1} MB/s   {PLAN9PORT_UNVAC:5.1} MB/s   x{:<5.1}  {unvac_cpu:.2} s  (into {out})",
        unvac / PLAN9PORT_UNVAC
    );

    if let Some((size, path)) = largest {
        let fs = fossil(addr, score);
        let mut node = fs.lookup(fs.root(), name.as_bytes()).unwrap().qid.path;
        for part in path.strip_prefix(&tree).unwrap().iter() {
            node = fs.lookup(node, part.as_bytes()).unwrap().qid.path;
        }
        let t = Began::now();
        assert_eq!(cat(&fs, node), size);
        println!(
            "fossil cold cat   {:8.1} MB/s                         {:.2} s  ({} of {size} bytes)",
            t.mbps(size),
            t.cpu(),
            path.display()
        );
    }
    let fs = fossil(addr, score);
    let top = fs.lookup(fs.root(), name.as_bytes()).unwrap().qid.path;
    let t = Began::now();
    let read = tar(&fs, top);
    println!(
        "fossil cold tar   {:8.1} MB/s                         {:.2} s  ({read} bytes)",
        t.mbps(read),
        t.cpu()
    );
    rt.block_on(server.shutdown());
}
