//! The test root builder: the tree has a working shell and every library
//! its programs need, and a program missing on the host is named.

use colony_ns::Error;
use colony_ns::session::testroot;
use std::path::Path;

#[test]
fn the_tree_has_a_shell_its_programs_and_their_libraries() {
    let dir = tempfile::tempdir().unwrap();
    testroot::build(dir.path(), &["ls", "ps"]).unwrap();
    let root = dir.path();
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("dash")
    );
    for p in ["bin/dash", "bin/ls", "bin/ps"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(root.join(p)).unwrap().permissions(),
        );
        assert!(mode & 0o111 != 0, "{p} is not executable");
    }
    assert!(!root.join("bin/cat").exists(), "only what was asked for");
    // Every library ldd names for ps is in the tree at the same path.
    let out = std::process::Command::new("ldd")
        .arg(root.join("bin/ps"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let libs: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .collect();
    assert!(libs.iter().any(|l| l.contains("libc.so")), "{text}");
    for lib in libs {
        assert!(
            root.join(&lib[1..]).is_file(),
            "{lib} missing from the tree"
        );
    }
    for d in ["tmp", "proc", "dev", "srv", "etc", "root"] {
        assert!(root.join(d).is_dir(), "{d}");
    }
    let tmp = std::fs::metadata(root.join("tmp")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&tmp.permissions()) & 0o7777,
        0o1777
    );
}

#[test]
fn a_program_missing_on_the_host_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = testroot::build(dir.path(), &["no-such-program-here"]).unwrap_err();
    assert!(
        matches!(&err, Error::TestRoot(m) if m.contains("no-such-program-here is not installed")),
        "{err}"
    );
}

#[test]
fn a_snapshot_holds_the_tree_at_its_root() {
    let store = colony_venti::MemStore::new();
    let score = testroot::snapshot(&store, &["true"]).unwrap();
    let fossil = colony_fossil::Fossil::open(
        std::sync::Arc::new(store),
        score,
        colony_fossil::FossilOptions::default(),
    )
    .unwrap();
    let bin = fossil.lookup(fossil.root(), b"bin").unwrap();
    let sh = fossil.lookup(bin.qid.path, b"sh").unwrap();
    assert_eq!(fossil.readlink(sh.qid.path).unwrap(), b"dash");
    assert!(fossil.lookup(bin.qid.path, b"true").is_ok());
}
