//! FUSE throughput: colony's adapter over a MemFs and over a live Fossil,
//! against a tmpfs mounted by the bench, doing the same work: sequential
//! write and read of a 256 MiB file in 128 KiB calls (as `dd bs=128k`), and
//! creating and removing 10,000 small files; and one request's round trip
//! (`fuse_round_trip`: `getxattr` of a name a file does not have, which
//! the kernel never answers from a cache, so each call is one request to
//! the server and its reply). Needs root and /dev/fuse; says so and
//! measures nothing otherwise.
//!
//! The round trip over the MemFs, whose server does next to nothing, is
//! the floor that every FUSE request pays on this machine: the kernel's
//! queueing, the switch to a serving thread and back. Run under
//! `taskset -c 0`, caller and server share one CPU, which shows what the
//! cross-CPU wake-ups cost.
//!
//! The Fossil is what `colony mount --data DIR` serves: a new tree over an
//! arena store in a temporary directory, with the default 100 MiB local
//! store, so a 256 MiB file spills dirty blocks to the arenas while it is
//! written. It is mounted twice: with the default options, as `colony
//! mount` does, and as an environment's root is (`colony_fossil_env`:
//! [`MountOptions::sole_writer`], the kernel's write-back cache). Every
//! pass writes different bytes (random, stamped with the pass number every
//! 8 KiB), so no block is deduplicated against an earlier pass and nothing
//! compresses.
//!
//! Reads of a FUSE file start cold: the page cache of the file is dropped
//! (posix_fadvise DONTNEED) before each pass, so every byte crosses FUSE.
//! tmpfs has no backing store, so its pages are the data: its figure is the
//! page cache's speed, the ceiling for any file system.
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use colony_fossil::{Fossil, FossilOptions};
use colony_ns::fuse::{MountHandle, MountOptions, mount};
use colony_ns::{FileSystem, FossilFs, MemFs};
use colony_venti::{ArenaConfig, ArenaStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
use nix::mount::{MntFlags, MsFlags, umount2};

const FILE: u64 = 256 << 20;
const IO: usize = 128 << 10;
const FILES: usize = 10_000;

/// Where the bytes of a pass come from: random, stamped per pass.
const STAMP_EVERY: usize = 8 << 10;

/// The mounts, unmounted when dropped.
struct Targets {
    _dir: tempfile::TempDir,
    fuse: Vec<(&'static str, MountHandle)>,
    tmpfs: PathBuf,
    /// One 128 KiB buffer of random bytes.
    noise: Vec<u8>,
    pass: AtomicU64,
}

impl Targets {
    fn new() -> Option<Targets> {
        if !Path::new("/dev/fuse").exists() || !nix::unistd::geteuid().is_root() {
            eprintln!("fuse bench skipped: needs /dev/fuse and root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let tmpfs = dir.path().join("tmpfs");
        fs::create_dir(&tmpfs).unwrap();
        nix::mount::mount(
            Some("colony-bench"),
            &tmpfs,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1g"),
        )
        .expect("mount tmpfs");
        let memfs = MemFs::with_root("root", "root", 0o755);
        let options = FossilOptions {
            owner: "root".into(),
            ..FossilOptions::default()
        };
        // Each over a store of its own.
        let fossil = |store: &str| {
            let store = ArenaStore::open(dir.path().join(store), ArenaConfig::default()).unwrap();
            Fossil::create_empty(Arc::new(store), options.clone()).unwrap()
        };
        let trees: [(&str, Arc<dyn FileSystem>, MountOptions); 3] = [
            ("colony_memfs", Arc::new(memfs), MountOptions::default()),
            (
                "colony_fossil",
                Arc::new(FossilFs::new(Arc::new(fossil("venti")))),
                MountOptions::default(),
            ),
            (
                "colony_fossil_env",
                Arc::new(FossilFs::new(Arc::new(fossil("venti-env")))),
                MountOptions::sole_writer(),
            ),
        ];
        let fuse = trees
            .into_iter()
            .map(|(name, fs, options)| {
                let at = dir.path().join(name);
                fs::create_dir(&at).unwrap();
                (name, mount(fs, &at, &options).unwrap())
            })
            .collect();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let noise = (0..IO)
            .map(|_| {
                // xorshift64: cheap, and enough to defeat LZ4.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        Some(Targets {
            fuse,
            tmpfs,
            _dir: dir,
            noise,
            pass: AtomicU64::new(0),
        })
    }

    fn each(&self) -> Vec<(&'static str, &Path)> {
        let mut all: Vec<_> = self
            .fuse
            .iter()
            .map(|(name, h)| (*name, h.mountpoint()))
            .collect();
        all.push(("tmpfs", &self.tmpfs));
        all
    }

    /// Writes the file in 128 KiB calls of bytes no earlier pass wrote.
    fn write_file(&self, path: &Path) -> Duration {
        let pass = self.pass.fetch_add(1, Ordering::Relaxed);
        let mut buf = self.noise.clone();
        let start = Instant::now();
        let mut f = File::create(path).unwrap();
        for call in 0..FILE / IO as u64 {
            for (i, block) in buf.chunks_mut(STAMP_EVERY).enumerate() {
                block[..8].copy_from_slice(&(pass << 32 | call << 8 | i as u64).to_le_bytes());
            }
            f.write_all(&buf).unwrap();
        }
        drop(f);
        start.elapsed()
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        for (_, h) in self.fuse.drain(..) {
            h.unmount().unwrap();
        }
        umount2(&self.tmpfs, MntFlags::empty()).unwrap();
    }
}

fn read_file(path: &Path) -> Duration {
    let mut buf = vec![0u8; IO];
    let mut f = File::open(path).unwrap();
    posix_fadvise(f.as_fd(), 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED).unwrap();
    let start = Instant::now();
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert_eq!(total, FILE);
    start.elapsed()
}

/// Makes directory `dir` with [`FILES`] small files; returns the time the
/// files took.
fn create_files(dir: &Path) -> Duration {
    fs::create_dir(dir).unwrap();
    let start = Instant::now();
    for i in 0..FILES {
        fs::write(dir.join(format!("f{i}")), b"small file contents\n").unwrap();
    }
    start.elapsed()
}

/// Removes what [`create_files`] made; returns the time the files took.
fn remove_files(dir: &Path) -> Duration {
    let start = Instant::now();
    for i in 0..FILES {
        fs::remove_file(dir.join(format!("f{i}"))).unwrap();
    }
    let t = start.elapsed();
    fs::remove_dir(dir).unwrap();
    t
}

fn throughput(c: &mut Criterion) {
    let Some(targets) = Targets::new() else {
        return;
    };
    let mut g = c.benchmark_group("fuse_seq_256MiB_128KiB_io");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(FILE));
    for (name, dir) in targets.each() {
        let path = dir.join("big");
        g.bench_function(format!("write/{name}"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| targets.write_file(&path)).sum())
        });
        g.bench_function(format!("read/{name}"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| read_file(&path)).sum())
        });
        // Absent when a filter skipped the writes.
        let _ = fs::remove_file(&path);
    }
    g.finish();

    files_group(c, &targets, "fuse_create_10000_files", Step::Create);
    files_group(c, &targets, "fuse_remove_10000_files", Step::Remove);
    round_trip(c, &targets);
}

/// One `getxattr` of an absent name per iteration: one request and its
/// reply on FUSE; on tmpfs, answered in the kernel.
fn round_trip(c: &mut Criterion, targets: &Targets) {
    let mut g = c.benchmark_group("fuse_round_trip");
    for (name, dir) in targets.each() {
        let path = dir.join("probed");
        fs::write(&path, b"x").unwrap();
        let path = CString::new(path.as_os_str().as_bytes()).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                // SAFETY: both strings are NUL-terminated and live across
                // the call; a null buffer of size 0 asks only for the size.
                let n = unsafe {
                    nix::libc::getxattr(path.as_ptr(), c"user.absent".as_ptr(), ptr::null_mut(), 0)
                };
                assert_eq!(n, -1);
                assert_eq!(nix::errno::Errno::last(), nix::errno::Errno::ENODATA);
            })
        });
    }
    g.finish();
}

/// Which half of making and removing the files a group times.
#[derive(Clone, Copy, PartialEq)]
enum Step {
    Create,
    Remove,
}

/// A group timing `step` on each target; each iteration does both.
fn files_group(c: &mut Criterion, targets: &Targets, group: &str, step: Step) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.throughput(Throughput::Elements(FILES as u64));
    for (name, dir) in targets.each() {
        let sub = dir.join("many");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let created = create_files(&sub);
                        let removed = remove_files(&sub);
                        if step == Step::Create {
                            created
                        } else {
                            removed
                        }
                    })
                    .sum()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
