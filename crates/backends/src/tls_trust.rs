//! Which server certificates the TLS clients (ldap, rimap) trust: rustls's WebPKI verification,
//! plus the one case where OpenSSL, and so Cyrus, accepts what webpki refuses.
//!
//! `openssl req -x509` makes a self-signed certificate with `CA:TRUE` by default, and many sites
//! give a server that certificate and name the same file as the client's CA file. OpenSSL builds
//! a one-certificate chain from the trusted certificate and accepts it; webpki refuses any
//! `CA:TRUE` certificate in the end-entity position (`CaUsedAsEndEntity`), so after swapping
//! Cyrus for us every login would tempfail. [`AnchorAwareVerifier`] accepts exactly that case: the
//! presented certificate is byte-identical to one read from a configured CA file or directory
//! (never the system's roots), it is valid now, it names the server, and its extended key usage
//! (if any) allows TLS servers. The handshake's signature is still checked against its key.
//! Everything else is webpki's answer, unchanged. Hand-written because neither rustls nor
//! webpki offers it: both implement RFC 5280 path validation, which has no such case.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, ConfigBuilder, DigitallySignedStruct, RootCertStore};
use rustls::{SignatureScheme, WantsVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::Path;
use std::sync::Arc;

/// The certificates a client trusts: roots for WebPKI path building, and the configured ones
/// kept byte for byte, to recognise one that a server presents as its own.
#[derive(Debug)]
pub struct Trust {
    roots: RootCertStore,
    configured: Vec<CertificateDer<'static>>,
}

impl Default for Trust {
    fn default() -> Self {
        Self::new()
    }
}

impl Trust {
    /// No certificate trusted yet.
    pub fn new() -> Self {
        Self { roots: RootCertStore::empty(), configured: Vec::new() }
    }

    /// Trust every certificate in the PEM file `path` (a CA file, or a file of a CA directory).
    /// Returns how many were added and how many were not usable as trust anchors; the error
    /// says why the file could not be read or holds broken PEM.
    pub fn add_pem_file(&mut self, path: &Path) -> Result<(usize, usize), String> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut added = 0;
        let mut ignored = 0;
        for cert in certs {
            match self.roots.add(cert.clone()) {
                Ok(()) => {
                    added += 1;
                    self.configured.push(cert);
                }
                Err(e) => {
                    tracing::debug!("{}: certificate not usable as a trust anchor: {e}", path.display());
                    ignored += 1;
                }
            }
        }
        Ok((added, ignored))
    }

    /// Trust the system's roots (ca-certificates); load errors are logged. These are never
    /// accepted as a server's own certificate.
    pub fn add_system_roots(&mut self) -> usize {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!("system CA store: {error}");
        }
        self.roots.add_parsable_certificates(found.certs).0
    }

    /// Whether no certificate is trusted (no server certificate could ever verify).
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The verifier for these certificates, checking signatures with `provider`'s algorithms.
    pub fn verifier(self, provider: Arc<CryptoProvider>) -> Result<Arc<AnchorAwareVerifier>, String> {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(self.roots), provider)
            .build()
            .map_err(|e| format!("TLS setup: {e}"))?;
        Ok(Arc::new(AnchorAwareVerifier { webpki, configured: self.configured }))
    }

    /// A client config builder using [`Trust::verifier`] with `provider` and its safe default
    /// protocol versions; the client certificate (if any) is the caller's next step.
    pub fn client_builder(
        self,
        provider: Arc<CryptoProvider>,
    ) -> Result<ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, String> {
        let builder: ConfigBuilder<ClientConfig, WantsVerifier> =
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?;
        Ok(builder.dangerous().with_custom_certificate_verifier(self.verifier(provider)?))
    }
}

/// webpki's verification, plus a configured trust anchor presented as the server's certificate
/// (see the module documentation).
#[derive(Debug)]
pub struct AnchorAwareVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    configured: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for AnchorAwareVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(e)
                if is_ca_used_as_end_entity(&e)
                    && self.configured.iter().any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                check_anchor_as_server(end_entity, server_name, now)?;
                tracing::debug!(
                    "server presented a configured CA certificate as its own; accepted as OpenSSL does"
                );
                Ok(ServerCertVerified::assertion())
            }
            other => other,
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

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.webpki.root_hint_subjects()
    }
}

/// Whether rustls's error is webpki's `CaUsedAsEndEntity` (rustls passes it on as `Other`).
fn is_ca_used_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity)
        }
        _ => false,
    }
}

/// What still holds for a trusted certificate used as the server's own: the name, the validity
/// period and, if the certificate restricts it, the purpose (OpenSSL's `X509_PURPOSE_SSL_SERVER`).
fn check_anchor_as_server(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    verify_server_name(&ParsedCertificate::try_from(cert)?, name)?;
    let (_, x509) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let now =
        i64::try_from(now.as_secs()).ok().and_then(|s| x509_parser::time::ASN1Time::from_timestamp(s).ok());
    let validity = x509.validity();
    match now {
        Some(now) if now < validity.not_before => {
            return Err(rustls::Error::InvalidCertificate(CertificateError::NotValidYet));
        }
        Some(now) if now > validity.not_after => {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
        }
        Some(_) => {}
        None => return Err(rustls::Error::InvalidCertificate(CertificateError::Expired)),
    }
    match x509.extended_key_usage() {
        Ok(None) => Ok(()),
        Ok(Some(eku)) if eku.value.any || eku.value.server_auth => Ok(()),
        Ok(Some(_)) => Err(rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose)),
        Err(_) => Err(rustls::Error::InvalidCertificate(CertificateError::BadEncoding)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rcgen::{
        BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, date_time_ymd,
    };

    /// What `openssl req -x509 -subj /CN=NAME -addext subjectAltName=DNS:NAME` makes.
    fn self_signed_ca(name: &str, tweak: impl FnOnce(&mut CertificateParams)) -> Certificate {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        tweak(&mut params);
        params.self_signed(&key).unwrap()
    }

    fn verifier(trusted: &[&Certificate]) -> Arc<AnchorAwareVerifier> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        let pem: String = trusted.iter().map(|c| c.pem()).collect();
        std::fs::write(&file, pem).unwrap();
        let mut trust = Trust::new();
        assert_eq!(trust.add_pem_file(&file).unwrap(), (trusted.len(), 0));
        trust.verifier(Arc::new(rustls::crypto::ring::default_provider())).unwrap()
    }

    fn check(v: &AnchorAwareVerifier, cert: &Certificate, name: &str) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        v.verify_server_cert(cert.der(), &[], &name, &[], UnixTime::now()).map(|_| ())
    }

    #[test]
    fn a_configured_self_signed_ca_is_accepted_as_the_server_certificate() {
        let cert = self_signed_ca("ldap.example.org", |_| {});
        let v = verifier(&[&cert]);
        check(&v, &cert, "ldap.example.org").unwrap();
    }

    #[test]
    fn a_self_signed_ca_is_otherwise_refused() {
        let cert = self_signed_ca("ldap.example.org", |_| {});
        let other = self_signed_ca("ldap.example.org", |_| {});
        // Another self-signed CA with the same name is trusted, not this one.
        let e = check(&verifier(&[&other]), &cert, "ldap.example.org").unwrap_err();
        assert!(is_ca_used_as_end_entity(&e) || format!("{e}").contains("issuer"), "{e}");
        let v = verifier(&[&cert]);
        let e = check(&v, &cert, "other.example.org").unwrap_err();
        assert!(
            matches!(e, rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })),
            "{e}"
        );
        let expired = self_signed_ca("ldap.example.org", |p| {
            p.not_before = date_time_ymd(2001, 1, 1);
            p.not_after = date_time_ymd(2002, 1, 1);
        });
        let e = check(&verifier(&[&expired]), &expired, "ldap.example.org").unwrap_err();
        assert!(format!("{e}").contains("expired"), "{e}");
        let future = self_signed_ca("ldap.example.org", |p| {
            p.not_before = date_time_ymd(2200, 1, 1);
            p.not_after = date_time_ymd(2201, 1, 1);
        });
        let e = check(&verifier(&[&future]), &future, "ldap.example.org").unwrap_err();
        assert!(format!("{e}").contains("not valid yet"), "{e}");
        let client_only = self_signed_ca("ldap.example.org", |p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        });
        let e = check(&verifier(&[&client_only]), &client_only, "ldap.example.org").unwrap_err();
        assert!(matches!(e, rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose)), "{e}");
    }

    #[test]
    fn the_system_roots_are_never_a_server_certificate() {
        let cert = self_signed_ca("ldap.example.org", |_| {});
        let mut trust = Trust::new();
        trust.roots.add(cert.der().clone()).unwrap();
        let v = trust.verifier(Arc::new(rustls::crypto::ring::default_provider())).unwrap();
        assert!(is_ca_used_as_end_entity(&check(&v, &cert, "ldap.example.org").unwrap_err()));
    }

    #[test]
    fn chains_to_a_configured_ca_verify_as_before() {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = CertificateParams::new(vec!["imap.example.org".to_owned()])
            .unwrap()
            .signed_by(&KeyPair::generate().unwrap(), &issuer)
            .unwrap();
        let v = verifier(&[&ca_cert]);
        check(&v, &leaf, "imap.example.org").unwrap();
        assert!(check(&v, &leaf, "127.0.0.1").is_err());
        // The CA itself names no host: refused as before, for the name.
        assert!(check(&v, &ca_cert, "imap.example.org").is_err());
    }
}
