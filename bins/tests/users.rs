//! `colony init` and `colony adduser` through the binary.

use std::os::unix::fs::PermissionsExt;

mod support;
use support::{colony, ok};

#[test]
fn init_then_adduser() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let data = data.to_str().unwrap();
    let out = ok(colony(&[
        "init", "--data", data, "--node", "n1", "--admin", "glenda",
    ]));
    assert!(out.contains("as node n1"), "{out}");
    let admin = format!("{data}/users/glenda.cred");
    assert!(
        out.contains(&format!("glenda credential: {admin}")),
        "{out}"
    );
    let out = ok(colony(&["adduser", "--data", data, "alice"]));
    let alice = format!("{data}/users/alice.cred");
    assert_eq!(out, format!("alice credential: {alice}\n"));
    let mode = std::fs::metadata(&alice).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let pem = std::fs::read_to_string(&alice).unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{pem}");

    // Refusals, each with its reason.
    for (args, want) in [
        (vec!["init", "--data", data], "already initialised"),
        (
            vec!["adduser", "--data", data, "alice"],
            "user alice already exists",
        ),
        (vec!["adduser", "--data", data, "Bob"], "bad user name"),
        (vec!["init", "--data", data, "--node", "N!"], "bad node id"),
    ] {
        let out = colony(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let empty = dir.path().join("empty");
    let out = colony(&["adduser", "--data", empty.to_str().unwrap(), "bob"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("run colony init"));
}
