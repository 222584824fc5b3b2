//! The TLS client configuration for `imaps://` and `?starttls`: rustls with ring, the server
//! certificate checked against a CA file or the system's roots, and the host name verified
//! ([`crate::tls_trust`]: a self-signed CA in `ca_file` presented as the server's own certificate
//! is accepted, as OpenSSL does).

use super::target::Target;
use crate::tls_trust::Trust;
use rustls::pki_types::ServerName;
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
        // Named explicitly so that a second provider in the dependency tree can never make the
        // process-wide default ambiguous.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = trust(target)?.client_builder(provider)?.with_no_client_auth();
        let name = target.tls_name.as_deref().unwrap_or(&target.host);
        let name = ServerName::try_from(name.to_owned())
            .map_err(|e| format!("{name:?} cannot be checked against a certificate: {e}"))?;
        Ok(Tls { connector: tokio_rustls::TlsConnector::from(Arc::new(config)), name })
    }
}

fn trust(target: &Target) -> Result<Trust, String> {
    let mut trust = Trust::new();
    match &target.ca_file {
        Some(path) => {
            let (added, _ignored) = trust.add_pem_file(path).map_err(|e| format!("ca_file {e}"))?;
            if added == 0 {
                return Err(format!("ca_file {} holds no usable CA certificate", path.display()));
            }
        }
        None => {
            if trust.add_system_roots() == 0 {
                return Err(
                    "no system CA certificates found; install ca-certificates or set ca_file".to_owned()
                );
            }
        }
    }
    Ok(trust)
}
