//! Mutual TLS for the cpu listener: rustls with the ring provider, both
//! sides proving a certificate from the grid's CA. A client certificate's
//! common name is its user name when its organisational unit is the user
//! unit.

use crate::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::sync::Arc;

/// PEM texts of a CA and of one party's certificate chain and key.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The grid CA certificate(s), PEM.
    pub ca_pem: String,
    /// This party's certificate chain, PEM.
    pub cert_pem: String,
    /// This party's private key, PEM.
    pub key_pem: String,
}

/// The provider everything here uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Converts a rustls or PEM error.
fn tls(e: impl std::fmt::Display) -> Error {
    Error::Tls(e.to_string())
}

impl Identity {
    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.map_err(tls)?).map_err(tls)?;
        }
        if roots.is_empty() {
            return Err(Error::Tls("no CA certificate".into()));
        }
        Ok(roots)
    }

    fn chain(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(tls)?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(tls)?;
        Ok((chain, key))
    }

    /// A server configuration that demands a client certificate from the CA.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()?), provider())
                .build()
                .map_err(tls)?;
        let (chain, key) = self.chain()?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(tls)?;
        Ok(Arc::new(config))
    }

    /// A client configuration that trusts only the CA and presents our
    /// certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        let (chain, key) = self.chain()?;
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(chain, key)
            .map_err(tls)?;
        Ok(Arc::new(config))
    }
}

/// The user a (verified) peer certificate names: its one common name,
/// provided its one organisational unit is `unit` (the grid's user unit),
/// so that a node's certificate spelled like a user is not taken for one.
pub fn user_name(cert: &CertificateDer<'_>, unit: &str) -> Result<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(tls)?;
    let subject = parsed.subject();
    let cn = only(subject.iter_common_name(), "common name")?;
    let ou = only(subject.iter_organizational_unit(), "organisational unit")?;
    if ou != unit {
        return Err(Error::Refused(format!(
            "{cn} has a certificate of unit {ou:?}, not a user's"
        )));
    }
    Ok(cn)
}

/// The text of the one attribute `values` yields (`what`, for messages).
fn only<'a>(
    mut values: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
    what: &str,
) -> Result<String> {
    match (values.next(), values.next()) {
        (Some(v), None) => v
            .as_str()
            .map(str::to_owned)
            .map_err(|_| Error::Refused(format!("certificate {what} is not text"))),
        _ => Err(Error::Refused(format!(
            "certificate wants exactly one {what}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    /// A self-signed certificate with these common names and units (rcgen
    /// keeps one of each kind, so at most one).
    fn cert(cns: &[&str], units: &[&str]) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        // Not rcgen's default common name.
        params.distinguished_name = DistinguishedName::new();
        for cn in cns {
            params.distinguished_name.push(DnType::CommonName, *cn);
        }
        for unit in units {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, *unit);
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn refusal(cert: &CertificateDer<'_>) -> String {
        match user_name(cert, "colony-user") {
            Err(Error::Refused(why)) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_a_user_certificate_names_a_user() {
        let user = cert(&["glenda"], &["colony-user"]);
        assert_eq!(user_name(&user, "colony-user").unwrap(), "glenda");
        let node = cert(&["glenda"], &["colony-node"]);
        assert!(refusal(&node).contains("not a user's"));
        let plain = cert(&["glenda"], &[]);
        assert!(refusal(&plain).contains("one organisational unit"));
        let nameless = cert(&[], &["colony-user"]);
        assert!(refusal(&nameless).contains("one common name"));
    }

    #[test]
    fn what_is_not_a_certificate_is_a_tls_error() {
        let garbage = CertificateDer::from(vec![0x30, 0x03, 1, 2, 3]);
        assert!(matches!(
            user_name(&garbage, "colony-user"),
            Err(Error::Tls(_))
        ));
    }
}
