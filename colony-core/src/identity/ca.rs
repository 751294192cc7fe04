//! The grid's private certificate authority: made once by `init`, it
//! signs every node and user certificate.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result, private_dir};
use crate::identity::credential::Credential;
use crate::identity::peer::{NODE_UNIT, USER_UNIT};
use crate::identity::write_new;
use crate::node::NodeId;
use crate::user::UserName;

/// The CA certificate in a data directory.
pub const CA_CERT: &str = "ca/ca.crt";
/// The CA private key in a data directory (mode 0600).
pub const CA_KEY: &str = "ca/ca.key";
/// The folder of [`CA_CERT`] and [`CA_KEY`].
pub(crate) const CA_DIR: &str = "ca";

const DAY: Duration = Duration::from_secs(86_400);

/// When a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// First moment of validity.
    pub not_before: SystemTime,
    /// Last moment of validity.
    pub not_after: SystemTime,
}

impl Validity {
    /// From an hour ago (clock skew between nodes) for `days` days.
    pub fn days(days: u64) -> Validity {
        let now = SystemTime::now();
        Validity {
            not_before: now - Duration::from_secs(3600),
            not_after: now + DAY * u32::try_from(days).unwrap_or(u32::MAX),
        }
    }
}

fn cert_err(e: rcgen::Error) -> Error {
    Error::Cert(e.to_string())
}

/// A loaded CA: its certificate and key.
pub struct Ca {
    cert_pem: String,
    key: KeyPair,
}

impl Ca {
    /// Makes a new CA and writes it into `data_dir` (mode 0600).
    pub(crate) fn create(data_dir: &Path, node: &NodeId) -> Result<Ca> {
        let key = KeyPair::generate().map_err(cert_err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("colony CA {node}"));
        dn.push(DnType::OrganizationName, "colony");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, Validity::days(20 * 365));
        let cert = params.self_signed(&key).map_err(cert_err)?;
        private_dir(&data_dir.join(CA_DIR))?;
        write_new(&data_dir.join(CA_CERT), cert.pem().as_bytes(), 0o600)?;
        write_new(
            &data_dir.join(CA_KEY),
            key.serialize_pem().as_bytes(),
            0o600,
        )?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// Loads the CA of `data_dir`; [`Error::NoCaKey`] on a node that
    /// joined the grid (it has the CA certificate only).
    pub fn load(data_dir: &Path) -> Result<Ca> {
        let read = |rel: &str| {
            let path = data_dir.join(rel);
            std::fs::read_to_string(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound if rel == CA_KEY => Error::NoCaKey {
                    dir: data_dir.to_path_buf(),
                },
                _ => Error::io("read", path)(e),
            })
        };
        let cert_pem = read(CA_CERT)?;
        let key = KeyPair::from_pem(&read(CA_KEY)?).map_err(|e| Error::BadCredential {
            path: data_dir.join(CA_KEY),
            reason: e.to_string(),
        })?;
        Ok(Ca { cert_pem, key })
    }

    /// The CA certificate.
    pub fn cert(&self) -> Result<CertificateDer<'static>> {
        let pem = pem::parse(&self.cert_pem).map_err(|e| Error::Cert(e.to_string()))?;
        Ok(CertificateDer::from(pem.into_contents()))
    }

    /// A credential for user `name`: client authentication only.
    pub fn issue_user(&self, name: &UserName, validity: Validity) -> Result<Credential> {
        self.sign(
            name.as_str(),
            USER_UNIT,
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
            validity,
        )
    }

    /// A credential for node `id`: server and client authentication (nodes
    /// dial each other), valid for `id` itself, `localhost`, the loopback
    /// addresses and `hostnames`.
    pub fn issue_node(
        &self,
        id: &NodeId,
        hostnames: &[String],
        validity: Validity,
    ) -> Result<Credential> {
        let mut sans: Vec<String> = vec![
            id.to_string(),
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
        ];
        sans.extend(hostnames.iter().cloned());
        let eku = [
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(id.as_str(), NODE_UNIT, &sans, &eku, validity)
    }

    /// A client certificate with any unit and common name, for tests of
    /// what servers refuse.
    #[cfg(test)]
    pub(crate) fn issue(&self, unit: &str, cn: &str, validity: Validity) -> Result<Credential> {
        self.sign(
            cn,
            unit,
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
            validity,
        )
    }

    fn sign(
        &self,
        cn: &str,
        unit: &str,
        sans: &[String],
        eku: &[ExtendedKeyUsagePurpose],
        validity: Validity,
    ) -> Result<Credential> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(cert_err)?;
        let key = KeyPair::generate().map_err(cert_err)?;
        let mut params = CertificateParams::new(sans.to_vec()).map_err(cert_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        dn.push(DnType::OrganizationalUnitName, unit);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = eku.to_vec();
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, validity);
        let cert = params.signed_by(&key, &issuer).map_err(cert_err)?;
        Ok(Credential {
            cert: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            ca: self.cert()?,
        })
    }
}

fn set_validity(params: &mut CertificateParams, v: Validity) {
    params.not_before = v.not_before.into();
    params.not_after = v.not_after.into();
}
