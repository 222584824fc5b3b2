//! The TLS client configuration for `imaps://` and `?starttls`: rustls with ring, the server
//! certificate checked against a CA file or the system's roots, and the host name verified.

use super::target::Target;
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;

/// What a connection needs to start TLS: the shared config and the name to verify.
#[derive(Clone)]
pub struct Tls {
    /// The connector holding the client config (built once at start-up).
    pub connector: tokio_rustls::TlsConnector,
    /// The name (or IP address) the certificate must be valid for.
    pub name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Tls {
    /// Builds the client side for `target`; errors say why in words (bad CA file, no roots, …).
    pub fn new(target: &Target) -> Result<Tls, String> {
        let roots = roots(target)?;
        // Named explicitly so that a second provider in the dependency tree can never make the
        // process-wide default ambiguous.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = target.tls_name.as_deref().unwrap_or(&target.host);
        let name = ServerName::try_from(name.to_owned())
            .map_err(|e| format!("{name:?} cannot be checked against a certificate: {e}"))?;
        Ok(Tls { connector: tokio_rustls::TlsConnector::from(Arc::new(config)), name })
    }
}

fn roots(target: &Target) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &target.ca_file {
        Some(path) => {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read ca_file {shown}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("ca_file {shown}: {e}"))?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("ca_file {shown} holds no usable CA certificate"));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(format!(
                    "no system CA certificates found ({} errors); install ca-certificates or set ca_file",
                    found.errors.len()
                ));
            }
        }
    }
    Ok(roots)
}
