//! Identity end to end: credentials from `init`/`adduser`, and real TLS
//! handshakes over loopback sockets with tokio-rustls.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use colony_core::identity::{
    self, Credential, Identity, InitOptions, NODE_CRED, Validity, client_config, server_config,
};
use colony_core::{Error, NodeId, UserName};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn user(u: &str) -> UserName {
    UserName::new(u).unwrap()
}

fn grid(dir: &Path) -> identity::Initialised {
    grid_named(dir, "node1")
}

fn grid_named(dir: &Path, node: &str) -> identity::Initialised {
    let options = InitOptions {
        node_id: Some(NodeId::new(node).unwrap()),
        hostnames: vec!["sto.example".into()],
        ..InitOptions::default()
    };
    identity::init(dir, &options).unwrap()
}

/// One connection: the server's view of the peer (or its error) and
/// whether the client could exchange a byte.
async fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    host: &str,
) -> (Result<Identity, String>, Result<(), String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut tls = TlsAcceptor::from(server)
            .accept(sock)
            .await
            .map_err(|e| e.to_string())?;
        let who = Identity::of_peer(tls.get_ref().1).map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        tls.write_all(&byte).await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok(who)
    });
    let name = ServerName::try_from(host.to_string()).unwrap();
    let client = async {
        let sock = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(client)
            .connect(name, sock)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"x").await.map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        assert_eq!(&byte, b"x");
        Ok(())
    };
    let client = tokio::time::timeout(Duration::from_secs(10), client)
        .await
        .expect("client timed out");
    let served = tokio::time::timeout(Duration::from_secs(10), serve)
        .await
        .expect("server timed out")
        .unwrap();
    (served, client)
}

#[tokio::test]
async fn a_valid_user_is_seen_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let init = grid(dir.path());
    let alice = identity::adduser(dir.path(), &user("alice")).unwrap();
    let server = server_config(dir.path()).unwrap();
    for host in ["localhost", "127.0.0.1", "node1", "sto.example"] {
        let (seen, client) = handshake(server.clone(), client_config(&alice).unwrap(), host).await;
        assert_eq!(seen.unwrap(), Identity::User(user("alice")), "{host}");
        client.unwrap();
    }
    let (seen, _) = handshake(
        server.clone(),
        client_config(&init.admin_credential).unwrap(),
        "localhost",
    )
    .await;
    assert_eq!(seen.unwrap(), Identity::User(user("admin")));
    // A node dialing a node is a node, never a user of the same spelling.
    let (seen, _) = handshake(
        server,
        client_config(&dir.path().join(NODE_CRED)).unwrap(),
        "node1",
    )
    .await;
    assert_eq!(seen.unwrap(), Identity::Node(NodeId::new("node1").unwrap()));
}

#[tokio::test]
async fn the_client_refuses_a_host_the_node_certificate_does_not_name() {
    let dir = tempfile::tempdir().unwrap();
    grid(dir.path());
    let alice = identity::adduser(dir.path(), &user("alice")).unwrap();
    let (seen, client) = handshake(
        server_config(dir.path()).unwrap(),
        client_config(&alice).unwrap(),
        "elsewhere.example",
    )
    .await;
    assert!(client.unwrap_err().contains("certificate"));
    assert!(seen.is_err());
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    // Another grid's CA, with another name and (the forger's best try)
    // with the very same name as ours.
    for (their_node, want) in [("node2", "UnknownIssuer"), ("node1", "BadSignature")] {
        let ours = tempfile::tempdir().unwrap();
        let theirs = tempfile::tempdir().unwrap();
        grid(ours.path());
        grid_named(theirs.path(), their_node);
        let forged = identity::adduser(theirs.path(), &user("alice")).unwrap();
        // The client must trust our server to get as far as presenting
        // its certificate: give it our CA with their user certificate.
        let their_cred = Credential::load(&forged).unwrap();
        let our_ca = Credential::load(&ours.path().join(NODE_CRED)).unwrap().ca;
        let mixed = Credential {
            ca: our_ca,
            ..their_cred
        };
        let path = ours.path().join("mixed.cred");
        mixed.create(&path).unwrap();
        let server = server_config(ours.path()).unwrap();
        let (seen, client) =
            handshake(server.clone(), client_config(&path).unwrap(), "localhost").await;
        let err = seen.unwrap_err();
        assert!(err.contains(want), "{their_node}: {err}");
        assert!(client.is_err());
        // With their own CA the client does not trust our server either.
        let (seen, client) = handshake(server, client_config(&forged).unwrap(), "localhost").await;
        assert!(seen.is_err());
        assert!(client.is_err());
    }
}

#[tokio::test]
async fn a_client_without_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    grid(dir.path());
    let ca = Credential::load(&dir.path().join(NODE_CRED)).unwrap().ca;
    let mut roots = RootCertStore::empty();
    roots.add(ca).unwrap();
    let anonymous = ClientConfig::builder_with_provider(identity::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (seen, client) = handshake(
        server_config(dir.path()).unwrap(),
        Arc::new(anonymous),
        "localhost",
    )
    .await;
    let err = seen.unwrap_err();
    assert!(
        err.contains("NoCertificatesPresented") || err.contains("certificate"),
        "{err}"
    );
    assert!(client.is_err());
}

#[tokio::test]
async fn expired_and_not_yet_valid_users_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    grid(dir.path());
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let old = identity::adduser_valid(
        dir.path(),
        &user("old"),
        Validity {
            not_before: now - 10 * day,
            not_after: now - day,
        },
    )
    .unwrap();
    let early = identity::adduser_valid(
        dir.path(),
        &user("early"),
        Validity {
            not_before: now + day,
            not_after: now + 10 * day,
        },
    )
    .unwrap();
    for (cred, want) in [(old, "expired"), (early, "not valid yet")] {
        let (seen, client) = handshake(
            server_config(dir.path()).unwrap(),
            client_config(&cred).unwrap(),
            "localhost",
        )
        .await;
        let err = seen.unwrap_err();
        assert!(err.contains(want), "{err}");
        assert!(client.is_err());
    }
}

#[tokio::test]
async fn a_revoked_user_is_refused_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    grid(dir.path());
    let bob = identity::adduser(dir.path(), &user("bob")).unwrap();
    let bobby = identity::adduser(dir.path(), &user("bobby")).unwrap();
    identity::revoked::revoke(dir.path(), &user("bob")).unwrap();
    identity::revoked::revoke(dir.path(), &user("bob")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(identity::revoked::REVOKED_FILE)).unwrap(),
        "bob\n"
    );
    let server = server_config(dir.path()).unwrap();
    let (seen, client) = handshake(server.clone(), client_config(&bob).unwrap(), "localhost").await;
    assert!(seen.unwrap_err().contains("Revoked"));
    assert!(client.is_err());
    // Exact names: revoking bob does not touch bobby.
    let (seen, _) = handshake(server, client_config(&bobby).unwrap(), "localhost").await;
    assert_eq!(seen.unwrap(), Identity::User(user("bobby")));
}

#[test]
fn init_and_adduser_files() {
    let dir = tempfile::tempdir().unwrap();
    let init = grid(dir.path());
    assert_eq!(init.node, NodeId::load(dir.path()).unwrap());
    assert!(matches!(
        identity::init(dir.path(), &InitOptions::default()),
        Err(Error::AlreadyInitialised(_))
    ));
    let path = identity::adduser(dir.path(), &user("carol")).unwrap();
    assert_eq!(path, dir.path().join("users/carol.cred"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(dir.path().join(identity::CA_KEY))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let cred = Credential::load(&path).unwrap();
    assert_eq!(cred.identity().unwrap(), Identity::User(user("carol")));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(text.matches("BEGIN PRIVATE KEY").count(), 1);
    assert!(
        matches!(identity::adduser(dir.path(), &user("carol")), Err(Error::UserExists(u)) if u == "carol")
    );
    // A random node id when none is given.
    let other = tempfile::tempdir().unwrap();
    let made = identity::init(other.path(), &InitOptions::default()).unwrap();
    assert_eq!(made.node.as_str().len(), 8);
    assert!(identity::adduser(Path::new("/nonexistent/colony"), &user("x")).is_err());
}

#[test]
fn bad_credential_files_get_precise_errors() {
    let dir = tempfile::tempdir().unwrap();
    grid(dir.path());
    let good =
        std::fs::read_to_string(identity::adduser(dir.path(), &user("dave")).unwrap()).unwrap();
    let blocks: Vec<&str> = good.split_inclusive("-----\n").collect();
    let first_cert_end = good.find("-----END CERTIFICATE-----\n").unwrap() + 26;
    let cases = [
        (String::new(), "no private key"),
        (good[..first_cert_end].to_string(), "no private key"),
        (
            good.replacen("BEGIN PRIVATE KEY", "BEGIN X509 CRL", 1)
                .replacen("END PRIVATE KEY", "END X509 CRL", 1),
            "unexpected PEM section",
        ),
        (
            format!("{good}{}", &good[..first_cert_end]),
            "3 certificates",
        ),
        (good.replacen("MII", "!!!", 1), "bad PEM"),
    ];
    assert!(blocks.len() > 3);
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.cred"));
        std::fs::write(&path, text).unwrap();
        match Credential::load(&path) {
            Err(Error::BadCredential { reason, .. }) => {
                assert!(reason.contains(want), "{i}: {reason}")
            }
            other => panic!("{i}: {other:?}"),
        }
        assert!(client_config(&path).is_err());
    }
    assert!(matches!(
        Credential::load(&dir.path().join("missing.cred")),
        Err(Error::Io { .. })
    ));
    std::fs::write(
        dir.path().join(identity::revoked::REVOKED_FILE),
        "Not A User\n",
    )
    .unwrap();
    assert!(matches!(server_config(dir.path()), Err(Error::BadUser(_))));
}
