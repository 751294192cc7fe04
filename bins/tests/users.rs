//! `colony init`, `colony adduser`, `colony node add` and `colony init
//! --join` through the binary.

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

#[test]
fn node_add_then_init_join() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (a, b, c, x) = (path("a"), path("b"), path("c"), path("x"));
    let join = path("n2.join");
    ok(colony(&["init", "--data", &a, "--node", "n1"]));
    let out = ok(colony(&[
        "node",
        "add",
        "--data",
        &a,
        "--node",
        "n2",
        "--hostname",
        "b.example.org",
        "-o",
        &join,
    ]));
    assert_eq!(
        out,
        format!("join file for node n2: {join} (on that node: colony init --join {join})\n")
    );
    let mode = std::fs::metadata(&join).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let pem = std::fs::read_to_string(&join).unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{pem}");
    assert_eq!(
        pem.matches("PRIVATE KEY-----\n").count(),
        2,
        "one key: {pem}"
    );
    let ca_key = std::fs::read_to_string(format!("{a}/ca/ca.key")).unwrap();
    assert!(
        !pem.contains(ca_key.trim()),
        "the CA key is in the join file"
    );

    let out = ok(colony(&["init", "--data", &b, "--join", &join]));
    assert!(
        out.starts_with(&format!("initialised {b} as node n2\n")),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{b}/node-id")).unwrap(),
        "n2\n"
    );
    assert_eq!(
        std::fs::read(format!("{b}/ca/ca.crt")).unwrap(),
        std::fs::read(format!("{a}/ca/ca.crt")).unwrap()
    );
    assert!(!std::path::Path::new(&format!("{b}/ca/ca.key")).exists());

    // Refusals, each with its reason.
    for (args, want) in [
        (
            vec!["node", "add", "--data", &a, "--node", "n3", "-o", &join],
            "already exists",
        ),
        (
            vec!["node", "add", "--data", &a, "--node", "N!", "-o", &x],
            "bad node id",
        ),
        (
            vec!["node", "add", "--data", &a, "--node", "n1", "-o", &x],
            "this node's own id",
        ),
        (
            vec!["node", "add", "--data", &a, "--node", "n2", "-o", &x],
            "node n2 was added before",
        ),
        (
            vec!["node", "add", "--data", &b, "--node", "n3", "-o", &x],
            "holds no grid CA key",
        ),
        (
            vec!["adduser", "--data", &b, "bob"],
            "users and nodes are added on the node that holds it",
        ),
        (
            vec!["init", "--data", &b, "--join", &join],
            "already initialised",
        ),
        (
            vec!["init", "--data", &c, "--join", &join, "--node", "n4"],
            "cannot be used with",
        ),
        (
            vec![
                "init",
                "--data",
                &c,
                "--join",
                &format!("{a}/users/admin.cred"),
            ],
            "names user admin, not a node",
        ),
    ] {
        let out = colony(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    for made in [&c, &x] {
        assert!(!std::path::Path::new(made).exists(), "{made}");
    }
    // A join file lost before it was used is made again on request.
    ok(colony(&[
        "node",
        "add",
        "--data",
        &a,
        "--node",
        "n2",
        "--reissue",
        "-o",
        &x,
    ]));
    assert!(std::path::Path::new(&x).exists());
}
