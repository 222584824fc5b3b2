//! A private certificate authority for the TLS tests (rimap's imaps/STARTTLS, ldaps/StartTLS):
//! a CA and one server certificate it signed, made fresh by rcgen for each test.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tempfile::TempDir;

/// A CA and a server certificate it signed for some names, as PEM; the CA is also in a file.
#[derive(Debug)]
pub struct Pki {
    _dir: TempDir,
    /// The CA certificate (PEM), what a client's CA-file option names.
    pub ca_file: PathBuf,
    /// The server certificate (PEM).
    pub cert: String,
    /// The server's private key (PEM).
    pub key: String,
}

impl Pki {
    /// A new CA and a server certificate for `names` (the first is also its common name).
    pub fn new(names: &[&str]) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        ca.distinguished_name.push(DnType::CommonName, "saslauthd-rs test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let sans = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut server = CertificateParams::new(sans).unwrap();
        server.distinguished_name.push(DnType::CommonName, names[0]);
        let cert = server.signed_by(&key, &issuer).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        Pki { _dir: dir, ca_file, cert: cert.pem(), key: key.serialize_pem() }
    }
}
