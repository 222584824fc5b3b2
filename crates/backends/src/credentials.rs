//! The credentials of one request, as handed from the policy step to a verifier.

use std::fmt;
use zeroize::Zeroizing;

/// One authentication request's fields. The password is zeroed on drop and never printed.
#[derive(Clone)]
pub struct Credentials {
    /// Login as the verifier must see it (after `-r` joined the realm, if asked to).
    pub login: String,
    /// The password bytes; arbitrary bytes, not necessarily UTF-8.
    pub password: Zeroizing<Vec<u8>>,
    /// Service name sent by the client (`smtp`, `imap`, …); may be empty.
    pub service: String,
    /// Realm sent by the client; may be empty.
    pub realm: String,
    /// Client address (`ip;port`) from the optional fifth field, when a client sent one.
    pub client_addr: Option<String>,
}

impl Credentials {
    /// The client's IP address: the part of the fifth field before `;`, if any was sent.
    pub fn client_ip(&self) -> Option<&str> {
        let addr = self.client_addr.as_deref()?;
        let ip = addr.split(';').next().unwrap_or(addr);
        (!ip.is_empty()).then_some(ip)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .field("service", &self.service)
            .field("realm", &self.realm)
            .field("client_addr", &self.client_addr)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(addr: Option<&str>) -> Credentials {
        Credentials {
            login: "joe".into(),
            password: Zeroizing::new(b"canary-secret".to_vec()),
            service: "smtp".into(),
            realm: String::new(),
            client_addr: addr.map(str::to_owned),
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let shown = format!("{:?}", creds(None));
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn client_ip_strips_the_port() {
        assert_eq!(creds(Some("192.0.2.7;5544")).client_ip(), Some("192.0.2.7"));
        assert_eq!(creds(Some("::1")).client_ip(), Some("::1"));
        assert_eq!(creds(Some("")).client_ip(), None);
        assert_eq!(creds(Some(";25")).client_ip(), None);
        assert_eq!(creds(None).client_ip(), None);
    }
}
