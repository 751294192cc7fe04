//! Join files: how a new node enters a grid. `colony node add`, run where
//! the grid CA's key is, writes one ([`node_add`]); `colony init --join`
//! makes the new node's data directory from it ([`init_join`]).
//!
//! A join file is the new node's credential in the credential file's
//! format (node certificate, its private key, the CA certificate, as
//! PEM), mode 0600: holding it is being that node. It never holds the CA
//! key, so a joined node can neither add users nor nodes.

use std::path::{Path, PathBuf};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result, private_dir};
use crate::identity::ca::CA_DIR;
use crate::identity::tls::{provider, roots};
use crate::identity::{
    CA_CERT, Ca, Credential, Identity, NODE_CRED, Validity, start_data_dir, write_new,
};
use crate::node::NodeId;

/// A new node's credential, checked: a node certificate signed by the CA
/// certificate beside it, with its own private key.
#[derive(Debug)]
pub struct JoinFile {
    credential: Credential,
    node: NodeId,
}

impl JoinFile {
    /// Checks `credential` as a join file's content ([`verify_node`], and
    /// the key must be the certificate's).
    pub fn new(credential: Credential) -> Result<JoinFile> {
        let node = check(&credential).map_err(Error::Cert)?;
        Ok(JoinFile { credential, node })
    }

    /// The node the file makes.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The node's credential.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The PEM text of the file.
    pub fn encode(&self) -> String {
        self.credential.encode()
    }

    /// Parses and checks the PEM text of `path`'s file.
    pub fn decode(pem: &[u8], path: &Path) -> Result<JoinFile> {
        let bad = |reason: String| Error::BadJoinFile {
            path: path.to_path_buf(),
            reason,
        };
        let credential = Credential::decode(pem, path).map_err(|e| match e {
            Error::BadCredential { reason, .. } => bad(reason),
            other => bad(other.to_string()),
        })?;
        let node = check(&credential).map_err(bad)?;
        Ok(JoinFile { credential, node })
    }

    /// Reads a join file.
    pub fn load(path: &Path) -> Result<JoinFile> {
        let pem = std::fs::read(path).map_err(Error::io("read", path))?;
        JoinFile::decode(&pem, path)
    }

    /// Writes a new join file, readable by its owner only; an existing
    /// file is [`Error::FileExists`].
    pub fn create(&self, path: &Path) -> Result<PathBuf> {
        write_new(path, self.encode().as_bytes(), 0o600).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                Error::FileExists(path.to_path_buf())
            }
            other => other,
        })
    }
}

/// What is wrong with `credential` as a join file's content, if anything;
/// its node id otherwise.
fn check(credential: &Credential) -> Result<NodeId, String> {
    let node = verify_node(&credential.cert, &credential.ca).map_err(|e| match e {
        Error::Tls(e) => format!(
            "the node certificate does not verify against the CA certificate in the file: {e}"
        ),
        other => other.to_string(),
    })?;
    CertifiedKey::from_der(
        vec![credential.cert.clone()],
        credential.key.clone_key(),
        &provider(),
    )
    .map_err(|e| format!("the private key is not the node certificate's: {e}"))?;
    Ok(node)
}

/// Checks that `cert` is a node certificate signed by `ca` and valid now
/// (for `localhost`, which every node certificate covers); returns the
/// node's id.
pub fn verify_node(cert: &CertificateDer<'static>, ca: &CertificateDer<'static>) -> Result<NodeId> {
    let node = match Identity::of_cert(cert)? {
        Identity::Node(node) => node,
        other => return Err(Error::BadPeer(format!("names {other}, not a node"))),
    };
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(ca)?, provider())
        .build()
        .map_err(|e| Error::Cert(e.to_string()))?;
    let host = ServerName::try_from("localhost").expect("a valid DNS name");
    verifier.verify_server_cert(cert, &[], &host, &[], UnixTime::now())?;
    Ok(node)
}

/// Issues a credential for the new node `node` (valid 10 years for its
/// id, `localhost`, the loopback addresses and `hostnames`) and writes it
/// with the CA certificate to the new join file `out` (mode 0600). Needs
/// the CA key in `data_dir` ([`Error::NoCaKey`]); refuses this node's
/// own id.
pub fn node_add(
    data_dir: &Path,
    node: &NodeId,
    hostnames: &[String],
    out: &Path,
    reissue: bool,
) -> Result<PathBuf> {
    let own = NodeId::load(data_dir).map_err(|e| Error::NotInitialised {
        path: data_dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    if *node == own {
        return Err(Error::BadArgument(format!(
            "{node} is this node's own id; a new node needs an id of its own"
        )));
    }
    let ca = Ca::load(data_dir)?;
    let claim = claim_node_id(data_dir, node, reissue)?;
    let made = ca
        .issue_node(node, hostnames, Validity::days(10 * 365))
        .and_then(|credential| JoinFile::new(credential)?.create(out));
    // No join file, so no node has the id: it stays free.
    if let (Err(_), Some(claim)) = (&made, claim) {
        let _ = std::fs::remove_file(claim);
    }
    made
}

/// Records that the CA gave `node` a credential (an empty file in
/// [`NODES_DIR`]), so that no two nodes get one id: refuses an id given
/// before unless `reissue` (a join file lost before it was used). Returns
/// the record made, if one was.
fn claim_node_id(data_dir: &Path, node: &NodeId, reissue: bool) -> Result<Option<PathBuf>> {
    let dir = data_dir.join(NODES_DIR);
    private_dir(&dir)?;
    match write_new(&dir.join(node.to_string()), b"", 0o600) {
        Ok(path) => Ok(Some(path)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            if reissue {
                Ok(None)
            } else {
                Err(Error::NodeExists(node.to_string()))
            }
        }
        Err(e) => Err(e),
    }
}

/// Where the CA records the node ids it gave credentials to.
pub const NODES_DIR: &str = "ca/nodes";

/// Makes `data_dir` (created if missing) a node of the grid `join`
/// (a join file) names: its node id, `node.cred` and the CA certificate,
/// without the CA key. Refuses a directory that already has a node id.
pub fn init_join(data_dir: &Path, join: &Path) -> Result<NodeId> {
    let join = JoinFile::load(join)?;
    start_data_dir(data_dir)?;
    private_dir(&data_dir.join(CA_DIR))?;
    write_new(
        &data_dir.join(CA_CERT),
        join.credential.ca_pem().as_bytes(),
        0o600,
    )?;
    join.credential.create(&data_dir.join(NODE_CRED))?;
    // Written last: its presence means the directory is complete.
    join.node.store(data_dir)?;
    Ok(join.node)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::*;
    use crate::identity::{CA_KEY, InitOptions, adduser, init};
    use crate::user::UserName;

    /// A grid made by `init` as node `n1`.
    fn grid() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            node_id: Some(NodeId::new("n1").unwrap()),
            ..InitOptions::default()
        };
        init(dir.path(), &options).unwrap();
        dir
    }

    fn node(id: &str) -> NodeId {
        NodeId::new(id).unwrap()
    }

    fn reason(pem: &[u8]) -> String {
        match JoinFile::decode(pem, Path::new("j")).unwrap_err() {
            Error::BadJoinFile { path, reason } if path == Path::new("j") => reason,
            other => panic!("{other}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn encode_then_decode_is_the_same_file(
            id in "[a-z0-9]{1,32}",
            hostnames in proptest::collection::vec("[a-z][a-z0-9.-]{0,20}[a-z]", 0..3),
        ) {
            let dir = grid();
            let cred = Ca::load(dir.path()).unwrap()
                .issue_node(&node(&id), &hostnames, Validity::days(1)).unwrap();
            let join = JoinFile::new(cred).unwrap();
            let text = join.encode();
            let back = JoinFile::decode(text.as_bytes(), Path::new("j")).unwrap();
            prop_assert_eq!(back.node().as_str(), id.as_str());
            prop_assert_eq!(back.encode(), text);
        }
    }

    #[test]
    fn malformed_files_are_refused_with_their_fault() {
        let dir = grid();
        let ca = Ca::load(dir.path()).unwrap();
        let good = ca.issue_node(&node("n2"), &[], Validity::days(1)).unwrap();
        let other_grid = grid();
        let stranger = Ca::load(other_grid.path())
            .unwrap()
            .issue_node(&node("n2"), &[], Validity::days(1))
            .unwrap();
        let user = ca
            .issue_user(&UserName::new("alice").unwrap(), Validity::days(1))
            .unwrap();
        let expired = ca
            .issue_node(
                &node("n2"),
                &[],
                Validity {
                    not_before: SystemTime::now() - Duration::from_secs(7200),
                    not_after: SystemTime::now() - Duration::from_secs(3600),
                },
            )
            .unwrap();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "no private key"),
            ("not pem at all\n".into(), "no private key"),
            (good.cert_pem() + &good.key_pem(), "1 certificates, want 2"),
            (good.encode() + &good.ca_pem(), "3 certificates, want 2"),
            (good.encode() + &good.key_pem(), "more than one private key"),
            (user.encode(), "names user alice, not a node"),
            // Signed by another grid's CA, beside this grid's CA certificate.
            (
                stranger.cert_pem() + &stranger.key_pem() + &good.ca_pem(),
                "does not verify against the CA certificate in the file: invalid peer certificate: BadSignature",
            ),
            (expired.encode(), "certificate expired"),
            // Another node's key.
            (
                good.cert_pem() + &stranger.key_pem() + &good.ca_pem(),
                "the private key is not the node certificate's",
            ),
        ];
        for (pem, want) in cases {
            let why = reason(pem.as_bytes());
            assert!(why.contains(want), "want {want:?}, got {why:?} for\n{pem}");
        }
        JoinFile::decode(good.encode().as_bytes(), Path::new("j")).unwrap();
    }

    #[test]
    fn node_add_writes_a_private_join_file_without_the_ca_key() {
        let dir = grid();
        let out = dir.path().join("n2.join");
        let hostnames = vec!["n2.example.org".to_string()];
        node_add(dir.path(), &node("n2"), &hostnames, &out, false).unwrap();
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&out).unwrap();
        let ca_key = std::fs::read_to_string(dir.path().join(CA_KEY)).unwrap();
        assert!(!text.contains(ca_key.trim()), "the CA key leaked");
        let join = JoinFile::load(&out).unwrap();
        assert_eq!(join.node(), &node("n2"));
        assert_eq!(
            join.credential().ca,
            Ca::load(dir.path()).unwrap().cert().unwrap()
        );
        // Valid for the given host name as well as localhost.
        let verifier = WebPkiServerVerifier::builder_with_provider(
            roots(&join.credential().ca).unwrap(),
            provider(),
        )
        .build()
        .unwrap();
        for host in ["n2", "n2.example.org", "localhost", "127.0.0.1", "::1"] {
            let name = ServerName::try_from(host).unwrap();
            verifier
                .verify_server_cert(&join.credential().cert, &[], &name, &[], UnixTime::now())
                .unwrap_or_else(|e| panic!("{host}: {e}"));
        }
    }

    #[test]
    fn node_add_refusals() {
        let dir = grid();
        let out = dir.path().join("n2.join");
        node_add(dir.path(), &node("n2"), &[], &out, false).unwrap();
        let before = std::fs::read(&out).unwrap();
        let e = node_add(dir.path(), &node("n3"), &[], &out, false).unwrap_err();
        assert!(matches!(&e, Error::FileExists(p) if *p == out), "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), before, "replaced");
        // No join file was made for n3, so its id is still free; n2's is
        // taken unless reissued.
        let other = dir.path().join("n3.join");
        node_add(dir.path(), &node("n3"), &[], &other, false).unwrap();
        let again = dir.path().join("n2-again.join");
        let e = node_add(dir.path(), &node("n2"), &[], &again, false).unwrap_err();
        assert!(matches!(&e, Error::NodeExists(n) if n == "n2"), "{e}");
        assert!(e.to_string().contains("--reissue"), "{e}");
        assert!(!again.exists());
        node_add(dir.path(), &node("n2"), &[], &again, true).unwrap();
        assert_eq!(JoinFile::load(&again).unwrap().node, node("n2"));

        let e = node_add(dir.path(), &node("n1"), &[], &dir.path().join("x"), false).unwrap_err();
        assert!(e.to_string().contains("this node's own id"), "{e}");

        let empty = tempfile::tempdir().unwrap();
        let e = node_add(
            empty.path(),
            &node("n2"),
            &[],
            &empty.path().join("x"),
            false,
        )
        .unwrap_err();
        assert!(matches!(e, Error::NotInitialised { .. }), "{e}");

        // A joined node has no CA key: it adds neither nodes nor users.
        let joined = tempfile::tempdir().unwrap();
        init_join(joined.path(), &out).unwrap();
        let e = node_add(
            joined.path(),
            &node("n3"),
            &[],
            &joined.path().join("x"),
            false,
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::NoCaKey { dir } if dir == joined.path()),
            "{e}"
        );
        assert!(
            e.to_string().contains("added on the node that holds it"),
            "{e}"
        );
        assert!(!joined.path().join("x").exists());
        let e = adduser(joined.path(), &UserName::new("bob").unwrap()).unwrap_err();
        assert!(matches!(e, Error::NoCaKey { .. }), "{e}");
    }

    #[test]
    fn init_join_makes_a_node_of_the_grid() {
        let dir = grid();
        let out = dir.path().join("n2.join");
        node_add(dir.path(), &node("n2"), &[], &out, false).unwrap();
        let joined = tempfile::tempdir().unwrap();
        let data = joined.path().join("data");
        assert_eq!(init_join(&data, &out).unwrap(), node("n2"));
        assert_eq!(NodeId::load(&data).unwrap(), node("n2"));
        assert!(!data.join(CA_KEY).exists());
        assert_eq!(
            std::fs::read(data.join(CA_CERT)).unwrap(),
            std::fs::read(dir.path().join(CA_CERT)).unwrap()
        );
        let cred = Credential::load(&data.join(NODE_CRED)).unwrap();
        assert_eq!(
            verify_node(&cred.cert, &Ca::load(dir.path()).unwrap().cert().unwrap()).unwrap(),
            node("n2")
        );
        for (path, want) in [
            (data.clone(), 0o700),
            (data.join("users"), 0o700),
            (data.join("ca"), 0o700),
            (data.join(CA_CERT), 0o600),
            (data.join(NODE_CRED), 0o600),
        ] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, want, "{}", path.display());
        }
        // An initialised directory is refused, its files untouched.
        let e = init_join(&data, &out).unwrap_err();
        assert!(matches!(e, Error::AlreadyInitialised(_)), "{e}");
        let e = init_join(dir.path(), &out).unwrap_err();
        assert!(matches!(e, Error::AlreadyInitialised(_)), "{e}");
        assert_eq!(NodeId::load(dir.path()).unwrap(), node("n1"));
        // A bad join file leaves no directory behind.
        let bad = joined.path().join("bad.join");
        std::fs::write(&bad, "junk").unwrap();
        let fresh = joined.path().join("fresh");
        let e = init_join(&fresh, &bad).unwrap_err();
        assert!(matches!(e, Error::BadJoinFile { .. }), "{e}");
        assert!(!fresh.exists());
    }
}
