//! Who a certificate names: a user or a node.
//!
//! The subject's common name is the identity; its organisational unit
//! says which kind, so that a node id can never be taken for a user of
//! the same spelling. Only meaningful for a certificate the CA verified.

use std::fmt;

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};
use crate::node::NodeId;
use crate::user::UserName;

/// The organisational unit of user certificates.
pub const USER_UNIT: &str = "colony-user";
/// The organisational unit of node certificates.
pub const NODE_UNIT: &str = "colony-node";

/// The identity a certificate carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A user (`OU=colony-user`, `CN=` the user name).
    User(UserName),
    /// A node (`OU=colony-node`, `CN=` the node id).
    Node(NodeId),
}

impl Identity {
    /// Reads the identity from a certificate's subject. Exactly one common
    /// name and one organisational unit, each valid, or an error.
    pub fn of_cert(der: &CertificateDer<'_>) -> Result<Identity> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::BadPeer(format!("not an X.509 certificate: {e}")))?;
        let subject = cert.subject();
        let only = |mut it: Box<
            dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>> + '_,
        >,
                    what: &str|
         -> Result<String> {
            match (it.next(), it.next()) {
                (Some(v), None) => v
                    .as_str()
                    .map(str::to_string)
                    .map_err(|_| Error::BadPeer(format!("{what} is not a string"))),
                _ => Err(Error::BadPeer(format!("want exactly one {what}"))),
            }
        };
        let cn = only(Box::new(subject.iter_common_name()), "common name")?;
        let unit = only(
            Box::new(subject.iter_organizational_unit()),
            "organisational unit",
        )?;
        match unit.as_str() {
            USER_UNIT => Ok(Identity::User(UserName::new(&cn)?)),
            NODE_UNIT => Ok(Identity::Node(NodeId::new(&cn)?)),
            other => Err(Error::BadPeer(format!(
                "unknown organisational unit {other:?}"
            ))),
        }
    }

    /// The identity of the peer of a finished handshake (its first
    /// certificate, which the verifier has checked against the CA).
    pub fn of_peer(conn: &rustls::CommonState) -> Result<Identity> {
        let certs = conn
            .peer_certificates()
            .ok_or_else(|| Error::BadPeer("the peer sent no certificate".into()))?;
        let first = certs
            .first()
            .ok_or_else(|| Error::BadPeer("the peer sent no certificate".into()))?;
        Identity::of_cert(first)
    }

    /// The user, if this is one.
    pub fn user(&self) -> Option<&UserName> {
        match self {
            Identity::User(u) => Some(u),
            Identity::Node(_) => None,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::User(u) => write!(f, "user {u}"),
            Identity::Node(n) => write!(f, "node {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_an_identity() {
        let garbage = CertificateDer::from(vec![0x30, 0x03, 1, 2, 3]);
        assert!(matches!(
            Identity::of_cert(&garbage),
            Err(Error::BadPeer(_))
        ));
        // A certificate from elsewhere: a common name but no unit.
        let key = rcgen::KeyPair::generate().unwrap();
        let plain = rcgen::CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        match Identity::of_cert(plain.der()) {
            Err(Error::BadPeer(why)) => assert!(why.contains("organisational unit"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
