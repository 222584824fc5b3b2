//! A private certificate authority for the TLS tests (rimap's imaps/STARTTLS, ldaps/StartTLS):
//! a CA and one server certificate it signed, made fresh by rcgen for each test; or a
//! self-signed CA certificate that is itself the server's, as `openssl req -x509` makes it.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, date_time_ymd,
};
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

    /// What `openssl req -x509 -subj /CN=NAME -addext subjectAltName=DNS:NAME` makes: one
    /// self-signed certificate with `CA:TRUE`, the server's own, and the CA file holds it too.
    pub fn self_signed_ca(names: &[&str]) -> Pki {
        Pki::self_signed_with(names, |_| {})
    }

    /// As [`Pki::self_signed_ca`], but it expired years ago.
    pub fn self_signed_ca_expired(names: &[&str]) -> Pki {
        Pki::self_signed_with(names, |p| {
            p.not_before = date_time_ymd(2010, 1, 1);
            p.not_after = date_time_ymd(2011, 1, 1);
        })
    }

    fn self_signed_with(names: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> Pki {
        let key = KeyPair::generate().unwrap();
        let sans = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        tweak(&mut params);
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).unwrap();
        Pki { _dir: dir, ca_file, cert: cert.pem(), key: key.serialize_pem() }
    }
}

/// The names a certificate for a loopback server must carry to satisfy Cyrus too: `localhost`,
/// plus the machine's own name, which OpenLDAP's libldap checks instead of `localhost`
/// (`ldap_host_connected_to` replaces a loopback peer's name with the local FQDN).
pub fn localhost_names() -> Vec<String> {
    let mut names = vec!["localhost".to_owned()];
    let own = [&["-f"][..], &[]].into_iter().filter_map(|args| {
        let out = std::process::Command::new("hostname").args(args).output().ok()?;
        let name = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !name.is_empty()).then_some(name)
    });
    for name in own {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}
