//! The rustls client configuration for `ldaps://` and StartTLS, built from the `ldap_tls_*` keys.
//!
//! Always our own config with the ring provider: ldap3's default falls back to an *empty* root
//! store when the system store reports any error, and a process-wide provider could be
//! ambiguous. With no CA key set, the system roots are used, and an empty result is an error.
//! Verification is [`crate::tls_trust`]'s: webpki's, plus a configured self-signed CA presented
//! as the server's own certificate, as OpenSSL (and so Cyrus) accepts it.

use super::config::TlsSettings;
use crate::tls_trust::Trust;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::sync::Arc;

/// Build the client config; the error names the key whose file is unusable.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, (&'static str, String)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = if settings.check_peer {
        trust(settings)?.client_builder(provider).map_err(|e| ("ldap_servers", e))?
    } else {
        ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ("ldap_servers", e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    };
    let config = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ("ldap_tls_cert", format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| ("ldap_tls_key", format!("{}: {e}", key.display())))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| ("ldap_tls_key", e.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn trust(settings: &TlsSettings) -> Result<Trust, (&'static str, String)> {
    let mut trust = Trust::new();
    if let Some(file) = &settings.cacert_file {
        match trust.add_pem_file(file) {
            Ok((_, 0)) => {}
            Ok((_, _)) => {
                return Err((
                    "ldap_tls_cacert_file",
                    format!("{}: a certificate is not usable", file.display()),
                ));
            }
            Err(e) => return Err(("ldap_tls_cacert_file", e)),
        }
    }
    if let Some(dir) = &settings.cacert_dir {
        let entries =
            std::fs::read_dir(dir).map_err(|e| ("ldap_tls_cacert_dir", format!("{}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            // c_rehash directories hold symlinks and other files; take whatever parses as PEM.
            let _ = trust.add_pem_file(&entry.path());
        }
    }
    if settings.cacert_file.is_none() && settings.cacert_dir.is_none() {
        trust.add_system_roots();
    }
    if trust.is_empty() {
        let key = if settings.cacert_dir.is_some() { "ldap_tls_cacert_dir" } else { "ldap_tls_cacert_file" };
        return Err((key, "no trusted CA certificate found (server certificates could never verify)".into()));
    }
    Ok(trust)
}

/// `ldap_tls_check_peer: no`: any certificate is accepted, but signatures are still checked so
/// the handshake is a real one.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
