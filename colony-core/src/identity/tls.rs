//! rustls configurations (ring provider) for the grid's mutual TLS.
//!
//! Servers demand a client certificate signed by the grid CA and not
//! naming a revoked user; clients trust only the grid CA and present
//! their credential's certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore,
    ServerConfig, SignatureScheme,
};

use crate::error::{Error, Result};
use crate::identity::revocations::Revocations;
use crate::identity::{Credential, Identity, NODE_CRED};

/// The crypto provider every colony TLS configuration uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn roots(ca: &CertificateDer<'static>) -> Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone())?;
    Ok(Arc::new(roots))
}

/// The node's server configuration: its own certificate from
/// `data_dir/node.cred`, client certificates required, signed by the
/// grid CA, and refused for users and nodes on the revoked lists as they
/// are at each handshake ([`Revocations`]).
pub fn server_config(data_dir: &Path) -> Result<Arc<ServerConfig>> {
    let cred = Credential::load(&data_dir.join(NODE_CRED))?;
    let revoked = Revocations::of(data_dir)?;
    let provider = provider();
    let webpki = WebPkiClientVerifier::builder_with_provider(roots(&cred.ca)?, provider.clone())
        .build()
        .map_err(|e| Error::Cert(e.to_string()))?;
    let verifier = Arc::new(NotRevoked { webpki, revoked });
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cred.cert], cred.key)?;
    Ok(Arc::new(config))
}

/// A client configuration from a credential file: trusts only the CA in
/// it and authenticates with its certificate.
pub fn client_config(credential: &Path) -> Result<Arc<ClientConfig>> {
    let cred = Credential::load(credential)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(&cred.ca)?)
        .with_client_auth_cert(vec![cred.cert], cred.key)?;
    Ok(Arc::new(config))
}

/// The CA's verdict, then the revocation lists.
#[derive(Debug)]
struct NotRevoked {
    webpki: Arc<dyn ClientCertVerifier>,
    revoked: Revocations,
}

impl ClientCertVerifier for NotRevoked {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .webpki
            .verify_client_cert(end_entity, intermediates, now)?;
        match Identity::of_cert(end_entity) {
            Ok(id) if self.revoked.current().refuses(&id) => {
                tracing::warn!(%id, "refused a revoked certificate");
                Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
            }
            Ok(_) => Ok(verified),
            Err(e) => {
                tracing::warn!(error = %e, "refused a CA-signed certificate that names no colony identity");
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Ca, InitOptions, USER_UNIT, Validity, init};

    #[test]
    fn a_ca_signed_certificate_without_a_colony_identity_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), &InitOptions::default()).unwrap();
        let ca = Ca::load(dir.path()).unwrap();
        let verifier = NotRevoked {
            webpki: WebPkiClientVerifier::builder_with_provider(
                roots(&ca.cert().unwrap()).unwrap(),
                provider(),
            )
            .build()
            .unwrap(),
            revoked: Revocations::of(dir.path()).unwrap(),
        };
        let now = UnixTime::now();
        let good = ca.issue(USER_UNIT, "alice", Validity::days(1)).unwrap();
        assert!(verifier.verify_client_cert(&good.cert, &[], now).is_ok());
        for (unit, cn) in [(USER_UNIT, "Not A User"), ("colony-visitor", "alice")] {
            let odd = ca.issue(unit, cn, Validity::days(1)).unwrap();
            assert_eq!(
                verifier
                    .verify_client_cert(&odd.cert, &[], now)
                    .unwrap_err(),
                rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure),
                "{unit} {cn}"
            );
        }
    }
}
