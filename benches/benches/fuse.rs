//! FUSE throughput: a MemFs mounted with colony's adapter against a tmpfs
//! mounted by the bench, doing the same work: sequential write and read of
//! a 256 MiB file in 128 KiB calls (as `dd bs=128k`), and creating 10,000
//! small files. Needs root and /dev/fuse; says so and measures nothing
//! otherwise.
//!
//! Reads of the FUSE file start cold: the page cache of the file is dropped
//! (posix_fadvise DONTNEED) before each pass, so every byte crosses FUSE.
//! tmpfs has no backing store, so its pages are the data: its figure is the
//! page cache's speed, the ceiling for any file system.
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use colony_ns::fuse::{MountHandle, MountOptions, mount};
use colony_ns::ninep::Qid;
use colony_ns::{MemFs, Meta};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
use nix::mount::{MntFlags, MsFlags, umount2};

const FILE: u64 = 256 << 20;
const IO: usize = 128 << 10;
const FILES: usize = 10_000;

/// The two mounts, unmounted when dropped.
struct Targets {
    _dir: tempfile::TempDir,
    fuse: Option<MountHandle>,
    fuse_dir: PathBuf,
    tmpfs: PathBuf,
}

impl Targets {
    fn new() -> Option<Targets> {
        if !Path::new("/dev/fuse").exists() || !nix::unistd::geteuid().is_root() {
            eprintln!("fuse bench skipped: needs /dev/fuse and root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (fuse_dir, tmpfs) = (dir.path().join("fuse"), dir.path().join("tmpfs"));
        fs::create_dir(&fuse_dir).unwrap();
        fs::create_dir(&tmpfs).unwrap();
        nix::mount::mount(
            Some("colony-bench"),
            &tmpfs,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1g"),
        )
        .expect("mount tmpfs");
        let memfs = MemFs::new(Meta {
            qid: Qid::default(),
            mode: 0o755,
            atime: 0,
            mtime: 0,
            length: 0,
            name: "/".into(),
            uid: "root".into(),
            gid: "root".into(),
            muid: String::new(),
        });
        let fuse = mount(Arc::new(memfs), &fuse_dir, &MountOptions::default()).unwrap();
        Some(Targets {
            fuse_dir: fuse.mountpoint().to_path_buf(),
            fuse: Some(fuse),
            tmpfs,
            _dir: dir,
        })
    }

    fn each(&self) -> [(&'static str, &Path); 2] {
        [("colony_memfs", &self.fuse_dir), ("tmpfs", &self.tmpfs)]
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        if let Some(h) = self.fuse.take() {
            h.unmount().unwrap();
        }
        umount2(&self.tmpfs, MntFlags::empty()).unwrap();
    }
}

fn write_file(path: &Path) -> Duration {
    let buf = vec![0x5a_u8; IO];
    let start = Instant::now();
    let mut f = File::create(path).unwrap();
    for _ in 0..FILE / IO as u64 {
        f.write_all(&buf).unwrap();
    }
    drop(f);
    start.elapsed()
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

fn create_files(dir: &Path) -> Duration {
    fs::create_dir(dir).unwrap();
    let start = Instant::now();
    for i in 0..FILES {
        fs::write(dir.join(format!("f{i}")), b"small file contents\n").unwrap();
    }
    let t = start.elapsed();
    fs::remove_dir_all(dir).unwrap();
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
            b.iter_custom(|iters| (0..iters).map(|_| write_file(&path)).sum())
        });
        g.bench_function(format!("read/{name}"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| read_file(&path)).sum())
        });
        fs::remove_file(&path).unwrap();
    }
    g.finish();

    let mut g = c.benchmark_group("fuse_create_10000_files");
    g.sample_size(10);
    g.throughput(Throughput::Elements(FILES as u64));
    for (name, dir) in targets.each() {
        let sub = dir.join("many");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| create_files(&sub)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
