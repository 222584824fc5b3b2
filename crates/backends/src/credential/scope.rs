//! A credential's scope: which requests it may admit (`allow_services`, `allow_nets`, `expires`)
//! and its `label`. Keys and meanings are the ones issue 17 defines for every mechanism that
//! stores hashes; `allow_nets` is Dovecot's name and syntax (Dovecot's passdb extra field).

use super::{Label, day};
use crate::Credentials;
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

/// The scope keys, as passwd-file extra fields and SQL column names.
pub const KEYS: [&str; 4] = ["allow_services", "allow_nets", "expires", "label"];

/// Which requests one credential admits; the default admits every request (no scope).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// `allow_services`: service names, lower-cased; `None` = any service.
    services: Option<Vec<String>>,
    /// `allow_nets`: client networks; `None` = any client, with or without an address.
    nets: Option<Vec<IpNet>>,
    /// `expires`: the last day admitted, in days since 1970-01-01 (UTC).
    expires: Option<i64>,
    /// `label`: the credential's name for logs and metrics.
    label: Option<Label>,
}

/// What a request offers a scope.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The service field (`smtp`, `imap`, …).
    pub service: &'a str,
    /// The client address from the fifth field, when one was sent and is an IP address.
    pub client: Option<IpAddr>,
    /// Today, in days since 1970-01-01 (UTC).
    pub today: i64,
}

impl<'a> Request<'a> {
    /// The request `creds` make on day `today`.
    pub fn new(creds: &'a Credentials, today: i64) -> Self {
        Request { service: &creds.service, client: client_ip(creds), today }
    }
}

/// The client's IP address from the fifth field (`ip;port`; an IPv6 address may come in
/// brackets or with a `%zone`); an IPv4-mapped IPv6 address counts as the IPv4 address.
fn client_ip(creds: &Credentials) -> Option<IpAddr> {
    let ip = creds.client_ip()?;
    let ip = ip.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(ip);
    let ip = ip.split('%').next().unwrap_or(ip);
    ip.parse::<IpAddr>().ok().map(|a| a.to_canonical())
}

/// Which part of a scope refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The service is not in `allow_services`.
    Service,
    /// The credential has `allow_nets` and the request carried no usable client address.
    NoAddress,
    /// The client address is in none of `allow_nets`.
    Network,
    /// The day in `expires` has passed.
    Expired,
}

impl Scope {
    /// Parse Dovecot-style extra fields: `key=value` pairs separated by spaces (or tabs).
    ///
    /// Keys are [`KEYS`]; Dovecot's `userdb_*` fields are skipped (they describe the mailbox,
    /// not the login, and a Dovecot passwd-file may carry them). Any other key is an error:
    /// a misspelt `allow_service=` must not quietly widen a credential to every service.
    pub fn parse(fields: &str) -> Result<Scope, String> {
        let mut scope = Scope::default();
        for field in fields.split([' ', '\t']).filter(|f| !f.is_empty()) {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            if key.starts_with("userdb_") {
                continue;
            }
            scope.set(key, value)?;
        }
        Ok(scope)
    }

    /// Set `key` (one of [`KEYS`]) from its text; each key may be set once.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let twice = || format!("{key} given twice");
        if value.is_empty() {
            return Err(if KEYS.contains(&key) {
                format!("{key} has no value")
            } else {
                format!("unknown key {:?} (known: {})", key.escape_debug().to_string(), KEYS.join(" "))
            });
        }
        match key {
            "allow_services" if self.services.is_none() => {
                let services: Vec<String> = value.split(',').map(|s| s.trim().to_ascii_lowercase()).collect();
                if services.iter().any(String::is_empty) {
                    return Err(format!("allow_services={value:?} has an empty name"));
                }
                self.services = Some(services);
            }
            "allow_nets" if self.nets.is_none() => {
                let nets = value.split(',').map(|n| net(n.trim())).collect::<Result<Vec<_>, _>>()?;
                self.nets = Some(nets);
            }
            "expires" if self.expires.is_none() => self.expires = Some(day::parse(value.trim())?),
            "label" if self.label.is_none() => self.label = Some(Label::new(value.trim())?),
            "allow_services" | "allow_nets" | "expires" | "label" => return Err(twice()),
            _ => {
                return Err(format!(
                    "unknown key {:?} (known: {})",
                    key.escape_debug().to_string(),
                    KEYS.join(" ")
                ));
            }
        }
        Ok(())
    }

    /// Whether the scope admits `request`, or which part refused it. No hash is involved.
    pub fn admits(&self, request: &Request<'_>) -> Result<(), Refused> {
        if let Some(services) = &self.services
            && !services.iter().any(|s| s.eq_ignore_ascii_case(request.service))
        {
            return Err(Refused::Service);
        }
        if let Some(nets) = &self.nets {
            // Fail closed: a credential limited to networks never admits an unknown address.
            let client = request.client.ok_or(Refused::NoAddress)?;
            if !nets.iter().any(|n| n.contains(&client)) {
                return Err(Refused::Network);
            }
        }
        if self.expires.is_some_and(|last| request.today > last) {
            return Err(Refused::Expired);
        }
        Ok(())
    }

    /// The credential's label, if it has one.
    pub fn label(&self) -> Option<Label> {
        self.label
    }

    /// Whether a success through this credential may be remembered by the credential cache,
    /// which keys entries by service but not by client address or date.
    pub fn cacheable(&self) -> bool {
        self.nets.is_none() && self.expires.is_none()
    }
}

/// One `allow_nets` entry: a network in CIDR form, or a single address.
fn net(text: &str) -> Result<IpNet, String> {
    let bad = || {
        format!("allow_nets entry {:?} is neither an address nor a network", text.escape_debug().to_string())
    };
    if text.contains('/') {
        // `trunc`: 192.0.2.7/24 means the /24 around it, as in Dovecot.
        text.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| bad())
    } else {
        text.parse::<IpAddr>().map(IpNet::from).map_err(|_| bad())
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Service => "service",
            Refused::NoAddress => "client address (none sent)",
            Refused::Network => "client address",
            Refused::Expired => "expiry",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TODAY: i64 = 20_000;

    fn request(service: &str, client: Option<&str>) -> Request<'static> {
        Request {
            service: Box::leak(service.to_owned().into_boxed_str()),
            client: client.map(|c| c.parse().unwrap()),
            today: TODAY,
        }
    }

    #[test]
    fn no_scope_admits_everything() {
        let scope = Scope::parse("").unwrap();
        assert_eq!(scope, Scope::default());
        assert_eq!(scope.admits(&request("imap", None)), Ok(()));
        assert!(scope.cacheable());
    }

    #[test]
    fn services_ignore_case() {
        let scope = Scope::parse("allow_services=smtp,Submission label=phone").unwrap();
        assert_eq!(scope.admits(&request("SMTP", None)), Ok(()));
        assert_eq!(scope.admits(&request("submission", None)), Ok(()));
        assert_eq!(scope.admits(&request("imap", None)), Err(Refused::Service));
        assert_eq!(scope.admits(&request("", None)), Err(Refused::Service));
        assert_eq!(scope.label().unwrap().as_str(), "phone");
        assert!(scope.cacheable(), "the cache keys by service");
    }

    #[test]
    fn networks_need_an_address_and_fail_closed() {
        let scope = Scope::parse("allow_nets=192.0.2.0/24,2001:db8::/32,198.51.100.7").unwrap();
        assert_eq!(scope.admits(&request("smtp", Some("192.0.2.200"))), Ok(()));
        assert_eq!(scope.admits(&request("smtp", Some("2001:db8:1::5"))), Ok(()));
        assert_eq!(scope.admits(&request("smtp", Some("198.51.100.7"))), Ok(()));
        assert_eq!(scope.admits(&request("smtp", Some("198.51.100.8"))), Err(Refused::Network));
        assert_eq!(scope.admits(&request("smtp", Some("::1"))), Err(Refused::Network));
        assert_eq!(scope.admits(&request("smtp", None)), Err(Refused::NoAddress));
        assert!(!scope.cacheable());
        // A host address with a prefix names its network.
        let scope = Scope::parse("allow_nets=192.0.2.77/24").unwrap();
        assert_eq!(scope.admits(&request("smtp", Some("192.0.2.1"))), Ok(()));
    }

    #[test]
    fn the_fifth_field_in_its_forms() {
        let creds = |addr: &str| Credentials {
            login: "joe".into(),
            password: zeroize::Zeroizing::new(b"pw".to_vec()),
            service: "smtp".into(),
            realm: String::new(),
            client_addr: Some(addr.into()),
        };
        let ip = |addr: &str| client_ip(&creds(addr)).map(|a| a.to_string());
        assert_eq!(ip("192.0.2.7;25").as_deref(), Some("192.0.2.7"));
        assert_eq!(ip("2001:db8::1;587").as_deref(), Some("2001:db8::1"));
        assert_eq!(ip("[2001:db8::1];587").as_deref(), Some("2001:db8::1"));
        assert_eq!(ip("fe80::1%eth0;25").as_deref(), Some("fe80::1"));
        assert_eq!(ip("::ffff:192.0.2.7;25").as_deref(), Some("192.0.2.7"));
        assert_eq!(ip("mail.example.org;25"), None);
        assert_eq!(ip(";25"), None);
    }

    #[test]
    fn expires_includes_the_day() {
        let scope = Scope::parse("expires=2024-10-04").unwrap();
        let day = day::parse("2024-10-04").unwrap();
        let on = |today| scope.admits(&Request { service: "smtp", client: None, today });
        assert_eq!(on(day - 1), Ok(()));
        assert_eq!(on(day), Ok(()));
        assert_eq!(on(day + 1), Err(Refused::Expired));
        assert!(!scope.cacheable());
    }

    #[test]
    fn refuses_unknown_repeated_and_empty_keys() {
        let err = |text| Scope::parse(text).unwrap_err();
        assert!(
            err("allow_service=smtp").contains("unknown key \"allow_service\""),
            "{}",
            err("allow_service=smtp")
        );
        assert!(err("nopassword").contains("unknown key"));
        assert!(err("label=a label=b").contains("label given twice"));
        assert!(err("allow_services=").contains("no value"));
        assert!(err("allow_services=smtp,,imap").contains("empty name"));
        assert!(err("allow_nets=192.0.2.0/33").contains("neither an address"));
        assert!(err("allow_nets=local").contains("neither"));
        assert!(err("expires=tomorrow").contains("YYYY-MM-DD"));
        assert!(err("label=my phone").contains("unknown key \"phone\""));
        // Dovecot's userdb fields describe the mailbox, not the login.
        assert_eq!(
            Scope::parse("userdb_quota_rule=*:storage=1G  label=x").unwrap().label().unwrap().as_str(),
            "x"
        );
    }
}
