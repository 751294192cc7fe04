//! A credential file: one holder's certificate, its private key and the
//! grid CA's certificate, as PEM, in that order, mode 0600.
//!
//! One file per user (and one for the node itself) so that handing a
//! user their access is handing over one file.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};
use crate::identity::{Identity, write_new};

/// The parts of a credential file.
#[derive(Debug)]
pub struct Credential {
    /// The holder's certificate.
    pub cert: CertificateDer<'static>,
    /// The holder's private key.
    pub key: PrivateKeyDer<'static>,
    /// The certificate of the CA that signed it (and every peer).
    pub ca: CertificateDer<'static>,
}

impl Credential {
    /// The PEM text of the file.
    pub fn encode(&self) -> String {
        [self.cert_pem(), self.key_pem(), self.ca_pem()].concat()
    }

    /// The holder's certificate as PEM.
    pub fn cert_pem(&self) -> String {
        pem_section("CERTIFICATE", &self.cert)
    }

    /// The private key as PEM.
    pub fn key_pem(&self) -> String {
        let label = match self.key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        pem_section(label, self.key.secret_der())
    }

    /// The CA certificate as PEM.
    pub fn ca_pem(&self) -> String {
        pem_section("CERTIFICATE", &self.ca)
    }

    /// The same credential as the cpu client and listener take it.
    pub fn cpu_identity(&self) -> colony_ns::cpu::Identity {
        colony_ns::cpu::Identity {
            ca_pem: self.ca_pem(),
            cert_pem: self.cert_pem(),
            key_pem: self.key_pem(),
        }
    }

    /// Parses the PEM text of `path`'s file: exactly two certificates
    /// (holder, then CA) and one private key; nothing else.
    pub fn decode(pem: &[u8], path: &Path) -> Result<Credential> {
        let bad = |reason: String| Error::BadCredential {
            path: path.to_path_buf(),
            reason,
        };
        let mut certs = Vec::new();
        let mut key = None;
        for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            let (kind, der) = item.map_err(|e| bad(format!("bad PEM: {e}")))?;
            match kind {
                SectionKind::Certificate => certs.push(CertificateDer::from(der)),
                SectionKind::PrivateKey
                | SectionKind::EcPrivateKey
                | SectionKind::RsaPrivateKey => {
                    if key.is_some() {
                        return Err(bad("more than one private key".into()));
                    }
                    key = Some(PrivateKeyDer::try_from(der).map_err(|e| bad(e.to_string()))?);
                }
                other => return Err(bad(format!("unexpected PEM section {other:?}"))),
            }
        }
        let key = key.ok_or_else(|| bad("no private key".into()))?;
        let [cert, ca]: [CertificateDer<'static>; 2] = certs
            .try_into()
            .map_err(|c: Vec<_>| bad(format!("{} certificates, want 2 (holder, CA)", c.len())))?;
        let cred = Credential { cert, key, ca };
        cred.identity().map_err(|e| bad(e.to_string()))?;
        Ok(cred)
    }

    /// Reads a credential file.
    pub fn load(path: &Path) -> Result<Credential> {
        let pem = std::fs::read(path).map_err(Error::io("read", path))?;
        Credential::decode(&pem, path)
    }

    /// Writes a new credential file, readable by its owner only. Refuses
    /// to overwrite (the caller decides what an existing file means).
    pub fn create(&self, path: &Path) -> Result<PathBuf> {
        write_new(path, self.encode().as_bytes(), 0o600)
    }

    /// Who the certificate names.
    pub fn identity(&self) -> Result<Identity> {
        Identity::of_cert(&self.cert)
    }
}

fn pem_section(label: &str, der: &[u8]) -> String {
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, der), lf)
}
