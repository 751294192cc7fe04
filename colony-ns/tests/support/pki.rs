//! A throwaway grid CA and certificates made with rcgen.

use colony_ns::cpu::client::Target;
use colony_ns::cpu::{CpuConfig, Identity, MAX_CONNECTIONS, ShellLimits};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::net::SocketAddr;

/// The organisational unit of user certificates (as the grid's).
pub const USER_UNIT: &str = "colony-user";
/// The organisational unit of node certificates (as the grid's).
pub const NODE_UNIT: &str = "colony-node";

/// A CA that can issue user and node certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA.
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A cpu listener's configuration: glenda's is the only user
    /// certificate of this CA let in, a node certificate of it serves;
    /// default caps, a session never restored.
    pub fn cpu_config(&self) -> CpuConfig {
        CpuConfig {
            owner: "glenda".into(),
            user_unit: USER_UNIT.into(),
            tls: self.node("cpu-node", self).server_config().unwrap(),
            max_connections: MAX_CONNECTIONS,
            shells: ShellLimits::default(),
            restored: false,
        }
    }

    /// User `cn`'s identity, trusting `trust`.
    pub fn user(&self, cn: &str, trust: &Ca) -> Identity {
        self.identity(cn, USER_UNIT, trust)
    }

    /// Node `cn`'s identity, trusting `trust`.
    pub fn node(&self, cn: &str, trust: &Ca) -> Identity {
        self.identity(cn, NODE_UNIT, trust)
    }

    /// An identity with common name `cn` in `unit`, valid for `localhost`
    /// too (so one helper serves users and the listener), trusting `trust`.
    fn identity(&self, cn: &str, unit: &str, trust: &Ca) -> Identity {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, unit);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Identity {
            ca_pem: trust.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// How `identity` reaches the cpu listener at `addr` (its certificate
/// names `localhost`).
pub fn target(addr: SocketAddr, identity: Identity) -> Target {
    Target {
        addr: addr.to_string(),
        server_name: "localhost".into(),
        identity,
    }
}
