//! Real programs in a FUSE mount of a RemoteFs: the 9P2000 client over a
//! loopback TCP socket to the server, which serves a MemFs (or a Fossil).
//!
//! The programs of `fuse_programs` run unchanged, except two that need
//! what 9P2000 cannot do: moving a file to another directory as a rename
//! (here `mv` copies instead, checked below) and giving files away
//! (`chown` to another user).

#[macro_use]
mod fuse_programs;
mod remote;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use colony_ns::fuse::{MountOptions, mount};
use colony_ns::{FileSystem, ServerConfig};
use fuse_programs::{have, is_mounted, mount_dir, sh};
use tokio::runtime::Runtime;

/// One runtime for every connection of this test binary (mounts outlive
/// the calls that make them).
fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(remote::runtime)
}

/// A RemoteFs, connected as root, to a server of `served` set up by
/// `config`.
fn remote_of(served: Arc<dyn FileSystem>, config: ServerConfig) -> Arc<dyn FileSystem> {
    Arc::new(remote::connect(rt(), served, config, "root"))
}

/// A RemoteFs to a server of a fresh root-owned MemFs.
fn remote_memfs() -> Arc<dyn FileSystem> {
    remote_of(fuse_programs::memfs(), ServerConfig::default())
}

program_tests!(@ninep remote_memfs);

/// What 9P2000 cannot do, refused as Linux refuses it.
mod refused {
    program_tests!(@each_in programs, super::remote_memfs, colony_ns::fuse::MountOptions::default;
        hard_links_are_refused: [],
    );
}

/// A fresh live Fossil (in-memory venti), owned by root.
fn fossil_fs() -> Arc<dyn FileSystem> {
    let options = colony_fossil::FossilOptions {
        owner: "root".into(),
        ..colony_fossil::FossilOptions::default()
    };
    let store = Arc::new(colony_venti::MemStore::new());
    let fossil = colony_fossil::Fossil::create_empty(store, options).expect("empty fossil");
    Arc::new(colony_ns::FossilFs::new(Arc::new(fossil)))
}

/// A RemoteFs to a server of a fresh live Fossil.
fn remote_fossil() -> Arc<dyn FileSystem> {
    remote_of(fossil_fs(), ServerConfig::default())
}

/// A few of the programs again with a Fossil behind the server.
mod fossil {
    program_tests!(@each_in programs, super::remote_fossil, colony_ns::fuse::MountOptions::default;
        cp_a_tree_in_and_out: [],
        git_init_add_commit_log: ["git"],
        rm_rf_deep_tree: [],
        unlinked_open_files_stay_usable: [],
    );
}

/// Those again mounted as a split node's environment mounts its remote
/// root: the kernel's write-back cache, long-lived names and attributes.
mod fossil_sole_writer {
    program_tests!(@each_in programs, super::remote_fossil, colony_ns::fuse::MountOptions::sole_writer;
        cp_a_tree_in_and_out: [],
        git_init_add_commit_log: ["git"],
        rm_rf_deep_tree: [],
        unlinked_open_files_stay_usable: [],
        syncfs_after_unlink_and_rename: [],
    );
}

/// A RemoteFs speaking 9P2000.colony to a server of a fresh live Fossil,
/// as a cpu node reaches a storage node's environment.
fn remote_fossil_linux() -> Arc<dyn FileSystem> {
    let config = ServerConfig {
        linux: true,
        ..ServerConfig::default()
    };
    remote_of(fossil_fs(), config)
}

/// Every program, those that need a Linux file system included, over
/// 9P2000.colony: a split node's environment is the file system a local
/// one is.
mod linux {
    program_tests!(@linux super::remote_fossil_linux, colony_ns::fuse::MountOptions::sole_writer);
}

/// The contents of `path` (slash-separated, from the root) in `fs`.
fn served_bytes(fs: &dyn FileSystem, path: &str) -> Vec<u8> {
    let mut node = fs.attach("root", "").unwrap();
    for name in path.split('/') {
        node = fs.lookup(node, name.as_bytes()).unwrap().node();
    }
    let len = fs.stat(node).unwrap().length;
    fs.read(node, 0, len as u32).unwrap()
}

fn exists(fs: &dyn FileSystem, path: &str) -> bool {
    let mut node = fs.attach("root", "").unwrap();
    for name in path.split('/') {
        match fs.lookup(node, name.as_bytes()) {
            Ok(m) => node = m.node(),
            Err(_) => return false,
        }
    }
    true
}

/// mv within a directory renames (same inode); across directories it gets
/// EXDEV and copies, never losing a target it replaces; and every byte
/// written through the mount is in the served tree.
#[test]
fn moves_and_bytes_reach_the_server() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    if !have("cmp") {
        return;
    }
    let served = fuse_programs::memfs();
    let handle = mount(
        remote_of(served.clone(), ServerConfig::default()),
        &mnt,
        &MountOptions::default(),
    )
    .unwrap();
    let outside = tempfile::tempdir().unwrap();
    let big = outside.path().join("big");
    sh(outside.path(), "head -c 5242887 /dev/urandom > big");
    let out = sh(
        &mnt,
        &format!(
            "echo one > a && i=$(stat -c %i a) && mv a b && test $(stat -c %i b) = $i && cat b
             mkdir d1 d2 && echo moved > d1/x && i=$(stat -c %i d1/x)
             mv d1/x d2/x && cat d2/x && test ! -e d1/x && test $(stat -c %i d2/x) != $i && echo copied
             echo over > d1/y && echo under > d2/y && mv d1/y d2/y && cat d2/y && test ! -e d1/y
             mkdir -p d1/t/u && echo deep > d1/t/u/f && mv d1/t d2/ && cat d2/t/u/f && test ! -e d1/t
             cp '{big}' big && cmp '{big}' big && cat big | cmp - '{big}' && echo big
             rm -r d2/t && ls d1 d2",
            big = big.display()
        ),
    );
    assert_eq!(
        out,
        "one\nmoved\ncopied\nover\ndeep\nbig\nd1:\n\nd2:\nx\ny\n"
    );
    // rename(2) itself: EXDEV, and the target it would have replaced is
    // still there (the adapter asks before removing it).
    std::fs::write(mnt.join("d1/z"), b"src").unwrap();
    std::fs::write(mnt.join("d2/z"), b"dst").unwrap();
    let e = std::fs::rename(mnt.join("d1/z"), mnt.join("d2/z")).expect_err("EXDEV");
    assert_eq!(e.raw_os_error(), Some(nix::libc::EXDEV), "{e}");
    assert_eq!(std::fs::read(mnt.join("d2/z")).unwrap(), b"dst");
    assert_eq!(std::fs::read(mnt.join("d1/z")).unwrap(), b"src");
    handle.unmount().unwrap();
    assert!(!is_mounted(&mnt));
    // What the server holds, read directly.
    assert_eq!(served_bytes(&*served, "b"), b"one\n");
    assert_eq!(served_bytes(&*served, "d2/x"), b"moved\n");
    assert_eq!(served_bytes(&*served, "d2/y"), b"over\n");
    assert_eq!(served_bytes(&*served, "big"), std::fs::read(&big).unwrap());
    for gone in ["a", "d1/x", "d1/y", "d1/t", "d2/t"] {
        assert!(!exists(&*served, gone), "{gone} should be gone");
    }
}

/// A mount whose server goes away fails calls with ENOTCONN, promptly,
/// and still unmounts.
#[test]
fn a_dead_server_fails_calls_and_unmounts() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    let (fs, server) = rt().block_on(async {
        let (client, server_end) = remote::tcp_pair().await;
        let server = colony_ns::Server::new(fuse_programs::memfs(), ServerConfig::default());
        let task = tokio::spawn(async move { server.serve(server_end).await });
        let fs = colony_ns::RemoteFs::connect(client, "root", "")
            .await
            .unwrap();
        (fs, task)
    });
    let options = MountOptions {
        attr_ttl: std::time::Duration::ZERO,
        entry_ttl: std::time::Duration::ZERO,
        ..MountOptions::default()
    };
    let handle = mount(Arc::new(fs), &mnt, &options).unwrap();
    std::fs::write(mnt.join("f"), b"x").unwrap();
    server.abort();
    let started = std::time::Instant::now();
    let e = std::fs::read(mnt.join("f")).expect_err("server gone");
    assert_eq!(e.raw_os_error(), Some(nix::libc::ENOTCONN), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    handle.unmount().unwrap();
    assert!(!is_mounted(Path::new(&mnt)));
}

/// Holes over 9P2000, which cannot ask for them: the client knows of none
/// (SEEK_HOLE is the end), fallocate zeroes by writing zeros, which the
/// served MemFs makes holes, and statfs reports a nominal free terabyte.
#[test]
fn holes_without_protocol_support() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    use nix::fcntl::{FallocateFlags as F, fallocate};
    use nix::unistd::{Whence, lseek};
    use std::os::fd::AsFd;
    let served = fuse_programs::memfs();
    let handle = mount(
        remote_of(served.clone(), ServerConfig::default()),
        &mnt,
        &MountOptions::default(),
    )
    .unwrap();
    let f = std::fs::File::create(mnt.join("f")).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[7; 1 << 16], 0).unwrap();
    fallocate(
        f.as_fd(),
        F::FALLOC_FL_PUNCH_HOLE | F::FALLOC_FL_KEEP_SIZE,
        0,
        1 << 15,
    )
    .unwrap();
    fallocate(f.as_fd(), F::empty(), 0, 1 << 17).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 1 << 17);
    assert_eq!(lseek(f.as_fd(), 0, Whence::SeekData), Ok(0));
    assert_eq!(lseek(f.as_fd(), 0, Whence::SeekHole), Ok(1 << 17));
    let stats = nix::sys::statvfs::fstatvfs(f.as_fd()).unwrap();
    assert_eq!(stats.blocks() * stats.fragment_size(), 1 << 40);
    drop(f);
    handle.unmount().unwrap();
    let root = served.attach("root", "").unwrap();
    let node = served.lookup(root, b"f").unwrap().node();
    let data = served.read(node, 0, 1 << 17).unwrap();
    assert!(data[..1 << 15].iter().all(|&b| b == 0));
    assert!(data[1 << 15..1 << 16].iter().all(|&b| b == 7));
    assert!(data[1 << 16..].iter().all(|&b| b == 0));
    let seek = |at, w| served.seek_data(node, at, w).ok();
    assert_eq!(seek(0, colony_ns::Seek::Data), Some(1 << 15));
    assert_eq!(seek(1 << 15, colony_ns::Seek::Hole), Some(1 << 16));
}
