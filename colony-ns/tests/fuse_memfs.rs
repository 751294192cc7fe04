//! Real programs in a FUSE mount of MemFs, and the mount API itself.

mod common;
#[macro_use]
mod fuse_programs;

use std::sync::Arc;

use colony_ns::fuse::{MountOptions, mount};
use fuse_programs::{fuse_ready, is_mounted, memfs, mount_dir};

program_tests!(@linux memfs);

#[test]
fn unmount_and_drop_leave_no_mount() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    let h = mount(memfs(), &mnt, &MountOptions::default()).unwrap();
    assert!(is_mounted(&mnt));
    std::fs::write(mnt.join("f"), b"x").unwrap();
    h.unmount().unwrap();
    assert!(!is_mounted(&mnt));
    assert!(!mnt.join("f").exists(), "the file lived in the mount");
    let h = mount(memfs(), &mnt, &MountOptions::default()).unwrap();
    assert!(is_mounted(&mnt));
    drop(h);
    assert!(!is_mounted(&mnt));
}

#[test]
fn two_mounts_are_independent() {
    if !fuse_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let ha = mount(memfs(), &a, &MountOptions::default()).unwrap();
    let hb = mount(memfs(), &b, &MountOptions::default()).unwrap();
    std::fs::write(a.join("only-a"), b"a").unwrap();
    std::fs::write(b.join("only-b"), b"b").unwrap();
    assert!(!b.join("only-a").exists() && !a.join("only-b").exists());
    ha.unmount().unwrap();
    assert_eq!(std::fs::read(b.join("only-b")).unwrap(), b"b");
    hb.unmount().unwrap();
    assert!(!is_mounted(&a.canonicalize().unwrap()) && !is_mounted(&b.canonicalize().unwrap()));
}

#[test]
fn busy_mount_is_detached() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    let fs = memfs();
    let h = mount(Arc::clone(&fs), &mnt, &MountOptions::default()).unwrap();
    let mut open = std::fs::File::create(mnt.join("held")).unwrap();
    h.unmount().unwrap();
    assert!(!is_mounted(&mnt), "detached at once");
    // The open file is still served until it is closed.
    std::io::Write::write_all(&mut open, b"still here").unwrap();
    drop(open);
    let root = fs.attach("root", "").unwrap();
    let held = fs.lookup(root, b"held").unwrap();
    assert_eq!(fs.read(held.node(), 0, 100).unwrap(), b"still here");
}

#[test]
fn owners_map_through_passwd() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    let fs = memfs();
    let h = mount(Arc::clone(&fs), &mnt, &MountOptions::default()).unwrap();
    std::fs::write(mnt.join("f"), b"x").unwrap();
    let root = fs.attach("root", "").unwrap();
    let f = fs.lookup(root, b"f").unwrap();
    assert_eq!((f.uid.as_str(), f.muid.as_str()), ("root", "root"));
    // A Plan 9 name unknown to passwd shows as nobody (65534 here unless
    // passwd says otherwise); numbers without names round-trip.
    fs.wstat(
        f.node(),
        &colony_ns::SetMeta {
            uid: Some("glenda".into()),
            ..Default::default()
        },
        "root",
    )
    .unwrap();
    let nobody = colony_ns::fuse::ids::IdMap::system().users.id("glenda");
    use std::os::unix::fs::MetadataExt;
    // The kernel may cache attributes for the TTL; a fresh lookup after
    // it expires shows the change.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(std::fs::metadata(mnt.join("f")).unwrap().uid(), nobody);
    std::os::unix::fs::chown(mnt.join("f"), Some(4321), Some(8765)).unwrap();
    let f = fs.lookup(root, b"f").unwrap();
    assert_eq!((f.uid.as_str(), f.gid.as_str()), ("4321", "8765"));
    h.unmount().unwrap();
}

/// The same tree mounted with FUSE and served over 9P (`serve_9p`): what a
/// program writes in the mount, a 9P client reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuse_writes_are_served_over_9p() {
    use colony_ns::ninep::*;
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    let fs = memfs();
    let h = mount(Arc::clone(&fs), &mnt, &MountOptions::default()).unwrap();
    let mnt2 = mnt.clone();
    tokio::task::spawn_blocking(move || std::fs::write(mnt2.join("hello"), b"over both"))
        .await
        .unwrap()
        .unwrap();
    let sockdir = tempfile::tempdir().unwrap();
    let sock = sockdir.path().join("9p.sock");
    let server = colony_ns::serve_9p(Arc::clone(&fs), &colony_ns::ListenAddr::Unix(sock.clone()))
        .await
        .unwrap();
    let mut c = common::Client::new(tokio::net::UnixStream::connect(&sock).await.unwrap());
    let v = c
        .rpc(
            NOTAG,
            Tversion {
                msize: 8192,
                version: VERSION.into(),
            },
        )
        .await;
    assert!(matches!(v, Message::Rversion(_)), "{v:?}");
    let a = c
        .rpc(
            1,
            Tattach {
                fid: 0,
                afid: NOFID,
                uname: "root".into(),
                aname: String::new(),
            },
        )
        .await;
    assert!(matches!(a, Message::Rattach(_)), "{a:?}");
    let w = c
        .rpc(
            2,
            Twalk {
                fid: 0,
                newfid: 1,
                wnames: vec!["hello".into()],
            },
        )
        .await;
    assert!(matches!(w, Message::Rwalk(_)), "{w:?}");
    let o = c
        .rpc(
            3,
            Topen {
                fid: 1,
                mode: OREAD,
            },
        )
        .await;
    assert!(matches!(o, Message::Ropen(_)), "{o:?}");
    let r = c
        .rpc(
            4,
            Tread {
                fid: 1,
                offset: 0,
                count: 100,
            },
        )
        .await;
    let Message::Rread(r) = r else {
        panic!("{r:?}")
    };
    assert_eq!(r.data, b"over both");
    server.shutdown().await.unwrap();
    tokio::task::spawn_blocking(move || h.unmount())
        .await
        .unwrap()
        .unwrap();
    assert!(!is_mounted(&mnt));
}

/// Mount options reach the kernel: the source name, read-only, allow_other.
#[test]
fn options_reach_the_kernel() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    let options = MountOptions {
        fs_name: "colony-test-ro".into(),
        read_only: true,
        allow_other: true,
        ..MountOptions::default()
    };
    let h = mount(memfs(), &mnt, &options).unwrap();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == mnt.to_str())
        .expect("mounted");
    assert!(line.contains(" - fuse colony-test-ro "), "{line}");
    assert!(
        line.contains("allow_other") && line.contains("default_permissions"),
        "{line}"
    );
    assert!(line.split(' ').nth(5).unwrap().starts_with("ro"), "{line}");
    let err = std::fs::write(mnt.join("f"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::errno::Errno::EROFS as i32));
    h.unmount().unwrap();
}

/// Changes made to the tree behind the mount's back (say, over 9P) show up
/// once the kernel's cached entries expire, absences included.
#[test]
fn outside_changes_appear_after_the_entry_ttl() {
    let Some((_dir, mnt)) = mount_dir() else {
        return;
    };
    let fs = memfs();
    let options = MountOptions::default();
    let h = mount(Arc::clone(&fs), &mnt, &options).unwrap();
    let path = mnt.join("late");
    assert!(!path.exists());
    let root = fs.attach("root", "").unwrap();
    let f = fs.create(root, b"late", 0o644, "root").unwrap();
    fs.write(f.node(), 0, b"from outside", "root").unwrap();
    std::thread::sleep(options.entry_ttl + std::time::Duration::from_millis(200));
    assert_eq!(std::fs::read(&path).unwrap(), b"from outside");
    h.unmount().unwrap();
}
