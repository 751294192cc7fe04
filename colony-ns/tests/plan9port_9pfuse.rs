//! plan9port's 9pfuse reading a tree served by colony, three times over
//! (issue 13, item 10): a live Fossil of a real tree, its blocks in an
//! arena store on disk and a local cache far smaller than the tree, behind
//! the real server on a Unix socket; a client that sends what 9pfuse sends
//! for what the kernel asks while `tar` reads the mount (see `ninepfuse`),
//! with a second reader of each file going backwards on its own fid at the
//! same time. Every file must read back whole, every byte as on disk, on
//! every pass.

mod lib9pclient;
mod ninepfuse;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_fossil::vac::{VacOptions, import_path};
use colony_ns::{FossilFs, Server, ServerConfig};
use colony_venti::{ArenaConfig, ArenaStore};
use ninepfuse::{FUSE_MAX_WRITE, Fh, NineFuse, NodeId, is_dir};
use tokio::net::UnixStream;
use tokio::task::JoinSet;

type Fuse = NineFuse<UnixStream>;

/// The largest read(2) tar makes: one record of 20 blocks.
const TAR_RECORD: u64 = 20 * 512;
/// The kernel splits a direct-I/O read into FUSE reads of at most this.
const FUSE_MAX_READ: u64 = 128 << 10;
/// The fossil's local cache: a fraction of the tree, so every pass
/// evicts blocks and fetches them again.
const CACHE: u64 = 4 << 20;

/// Writes the tree: files of the sizes around a block and a page, empty
/// and one-byte files, a few of several MB, and hundreds of varied ones,
/// in nested directories. Returns the number of files.
fn make_tree(root: &Path) -> usize {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut sizes = vec![0, 1, 4095, 4096, 4097, 8191, 8192, 8193, 16384, 65537];
    sizes.extend([3 << 20, (5 << 20) + 123, (2 << 20) - 1]);
    for _ in 0..300 {
        let max = if next() % 8 == 0 { 600_000 } else { 20_000 };
        sizes.push(next() % max);
    }
    for (i, size) in sizes.iter().enumerate() {
        let dir = root.join(format!("d{}", i % 7)).join(format!("e{}", i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..*size).map(|_| next() as u8).collect();
        std::fs::write(dir.join(format!("f{i}-{size}")), data).unwrap();
    }
    sizes.len()
}

/// The kernel's side: the mount's dentries, each holding a node id.
struct Kernel {
    fuse: Arc<Fuse>,
    dentries: HashMap<PathBuf, NodeId>,
    /// Releases sent in the background, not answered yet.
    releases: Mutex<JoinSet<()>>,
}

impl Kernel {
    fn node(&self, path: &Path) -> &NodeId {
        &self.dentries[path]
    }

    /// The kernel sends release in the background: the reader goes on.
    fn release(&self, fh: Fh) {
        let fuse = self.fuse.clone();
        let mut releases = self.releases.lock().unwrap();
        releases.spawn(async move { fuse.clunk(fh).await.expect("release") });
    }

    /// Waits for every release (their panics are the test's).
    async fn released(&self) {
        let mut releases = std::mem::take(&mut *self.releases.lock().unwrap());
        while let Some(r) = releases.join_next().await {
            r.unwrap();
        }
    }

    /// Resolves `name` in directory `parent`: a first lookup, or, for a
    /// dentry cached from an earlier pass (its entry timed out), a
    /// revalidating lookup. 9pfuse answers that with a new node id, so the
    /// kernel forgets it, drops the old dentry (forgetting its inode too)
    /// and looks the name up again. Returns the path and the size.
    async fn resolve(&mut self, parent: &Path, name: &str) -> Result<(PathBuf, u64), String> {
        let path = parent.join(name);
        let fuse = self.fuse.clone();
        let (node, st) = fuse.lookup(self.node(parent), name).await?;
        let Some(old) = self.dentries.remove(&path) else {
            self.dentries.insert(path.clone(), node);
            return Ok((path, st.length));
        };
        fuse.clunk(node).await?;
        fuse.clunk(old).await?;
        let (node, st) = fuse.lookup(self.node(parent), name).await?;
        self.dentries.insert(path.clone(), node);
        Ok((path, st.length))
    }

    /// `tar c` of the directory at `path` (resolved), each file compared
    /// with its source under `src`. Returns the files read.
    async fn tar(&mut self, path: &Path, src: &Path) -> Result<usize, String> {
        let fuse = self.fuse.clone();
        let fh = fuse.open(self.node(path)).await?;
        let names = fuse.readdir(&fh).await?;
        self.release(fh);
        let mut files = 0;
        for name in names.iter().filter(|n| *n != "." && *n != "..") {
            let (child, length) = self.resolve(path, name).await?;
            let source = src.join(name);
            if is_dir(self.node(&child)) {
                files += Box::pin(self.tar(&child, &source)).await?;
                continue;
            }
            let want = std::fs::read(&source).unwrap();
            if length != want.len() as u64 {
                return Err(format!("{}: size {length}", child.display()));
            }
            let (forwards, backwards) =
                tokio::join!(self.read_file(&child, length), self.read_backwards(&child));
            for got in [forwards?, backwards?] {
                if got != want {
                    let at = got.iter().zip(&want).position(|(a, b)| a != b);
                    return Err(format!("{}: differs at byte {at:?}", child.display()));
                }
            }
            files += 1;
        }
        Ok(files)
    }

    /// What tar gets reading a file of `length` bytes (its lstat): read(2)s
    /// of a record, each one FUSE read (direct I/O, no page cache) that
    /// 9pfuse answers with at most a page and the kernel passes on short,
    /// repeated until the file is read. A read that returns nothing or
    /// fails first is tar's "File shrank ... padding with zeros".
    async fn read_file(&self, path: &Path, length: u64) -> Result<Vec<u8>, String> {
        let fuse = &self.fuse;
        let fh = fuse.open(self.node(path)).await?;
        let mut got = Vec::new();
        while (got.len() as u64) < length {
            let size = (length - got.len() as u64)
                .min(TAR_RECORD)
                .min(FUSE_MAX_READ);
            match fuse.read(&fh, size as u32, got.len() as u64).await {
                Ok(d) if !d.is_empty() => got.extend_from_slice(&d),
                other => {
                    let short = length - got.len() as u64;
                    let at = got.len();
                    let path = path.display();
                    return Err(format!(
                        "{path}: File shrank by {short} bytes (at {at}: {other:?})"
                    ));
                }
            }
        }
        // tar's fstat after reading: the file must not have changed.
        let st = fuse.getattr(self.node(path)).await?;
        if st.length != length {
            return Err(format!("{}: now {} bytes", path.display(), st.length));
        }
        self.release(fh);
        Ok(got)
    }

    /// Another process reading the same file from its end, a page at a
    /// time, on its own open fid, while tar reads it forwards.
    async fn read_backwards(&self, path: &Path) -> Result<Vec<u8>, String> {
        let fuse = &self.fuse;
        let length = fuse.getattr(self.node(path)).await?.length;
        let fh = fuse.open(self.node(path)).await?;
        let page = u64::from(FUSE_MAX_WRITE);
        let mut pages = Vec::new();
        let mut end = length;
        while end > 0 {
            let start = (end - 1) / page * page;
            let d = fuse.read(&fh, (end - start) as u32, start).await?;
            if d.len() as u64 != end - start {
                let path = path.display();
                return Err(format!("{path}: {} bytes at {start} of {length}", d.len()));
            }
            pages.push(d);
            end = start;
        }
        self.release(fh);
        Ok(pages.into_iter().rev().flatten().collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tars_through_9pfuse_read_every_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("tree");
    let files = make_tree(&src);
    let store =
        Arc::new(ArenaStore::open(tmp.path().join("data"), ArenaConfig::default()).unwrap());
    let imported = import_path(&*store, &src, &VacOptions::default(), &mut |_| {}).unwrap();
    let options = FossilOptions {
        local_limit: CACHE,
        ..FossilOptions::default()
    };
    let fossil = Arc::new(Fossil::open(store, imported.score, options).unwrap());
    let fs = Arc::new(FossilFs::new(fossil.clone()));
    let sock = tmp.path().join("9p.sock");
    let handle = Server::new(fs, ServerConfig::default())
        .bind_unix(&sock)
        .await
        .unwrap();

    let stream = UnixStream::connect(&sock).await.unwrap();
    let fuse = Arc::new(NineFuse::mount(stream, "glenda").await);
    let root = fuse.fs.walk(&fuse.root, None).await.unwrap();
    let mut kernel = Kernel {
        fuse,
        dentries: HashMap::from([(PathBuf::from("/"), root)]),
        releases: Mutex::default(),
    };
    for pass in 1..=3 {
        let read = async {
            let (tree, _) = kernel.resolve(Path::new("/"), "tree").await?;
            kernel.tar(&tree, &src).await
        };
        assert_eq!(read.await, Ok(files), "pass {pass}");
        kernel.released().await;
    }
    let evictions = fossil.cache_stats().evictions;
    assert!(
        evictions > 0,
        "the tree must not fit the cache: {evictions}"
    );
    handle.shutdown().await.unwrap();
}
