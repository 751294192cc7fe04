//! Mutual TLS for the cpu listener: rustls with the ring provider, both
//! sides proving a certificate from the grid's CA. A client certificate's
//! common name is its user name.

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

/// The common name of a (verified) peer certificate: the user's name.
pub fn common_name(cert: &CertificateDer<'_>) -> Result<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(tls)?;
    let cn = parsed
        .subject()
        .iter_common_name()
        .next()
        .ok_or_else(|| Error::Refused("certificate has no common name".into()))?;
    cn.as_str()
        .map(str::to_owned)
        .map_err(|_| Error::Refused("certificate common name is not text".into()))
}
