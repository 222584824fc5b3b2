//! The `-O` value of `rimap`: which IMAP server to ask, how to secure the connection, and deadlines.
//!
//! Two spellings are accepted. Cyrus's `host[/port]` (also `host:port` and `[v6addr]/port`) means
//! plaintext IMAP, exactly as Cyrus speaks it. A URL — `imap://host:port`, `imaps://host:993`,
//! `imap://host?starttls` — chooses TLS, and its query carries the options (`ca_file`,
//! `tls_name`, `timeout`, `connect_timeout`, `read_timeout`).

use std::path::PathBuf;
use std::time::Duration;

/// Cyrus's deadline for each read from the server (`select` with 30 s in auth_rimap.c).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The IMAP port.
pub const IMAP_PORT: u16 = 143;
/// The IMAP-over-TLS port.
pub const IMAPS_PORT: u16 = 993;
/// Longest deadline accepted: beyond an hour a typo is likelier than intent.
const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// Every option a URL's query may carry (saslauthd.conf(5) documents each).
pub const URL_OPTIONS: &[&str] =
    &["starttls", "ca_file", "tls_name", "timeout", "connect_timeout", "read_timeout"];

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plaintext IMAP, as Cyrus (`-O host/port`, `imap://host`).
    Plain,
    /// TLS from the first byte (`imaps://`).
    Tls,
    /// Plaintext greeting, then `STARTTLS` before anything secret (`imap://host?starttls`).
    StartTls,
}

/// A parsed `-O` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Plaintext, TLS or STARTTLS.
    pub security: Security,
    /// PEM file of the CA certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The name the server certificate must carry, when it differs from `host`.
    pub tls_name: Option<String>,
    /// Deadline for each TCP connect attempt.
    pub connect_timeout: Duration,
    /// Deadline for each wait on the server (greeting, TLS handshake, continuation, reply).
    pub read_timeout: Duration,
}

impl Target {
    /// Parses a `-O` value; the error says what is wrong in words.
    pub fn parse(option: &str) -> Result<Target, String> {
        let option = option.trim();
        if option.is_empty() {
            return Err("no hostname specified".into());
        }
        if option.contains("://") { parse_url(option) } else { parse_cyrus(option) }
    }

    /// Whether the connection uses TLS at some point.
    pub fn uses_tls(&self) -> bool {
        self.security != Security::Plain
    }

    fn plain(host: String, port: u16) -> Target {
        Target {
            host,
            port,
            security: Security::Plain,
            ca_file: None,
            tls_name: None,
            connect_timeout: DEFAULT_TIMEOUT,
            read_timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Cyrus's `host[/port]`, plus `host:port` and `[v6]/port`; a bare IPv6 address (several `:`)
/// is a host, as in Cyrus, which never splits at `:`.
fn parse_cyrus(option: &str) -> Result<Target, String> {
    let (host, port) = if let Some(rest) = option.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed '[' in the host")?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(['/', ':']).ok_or("expected /port after ']'")?),
        };
        (host, port)
    } else if let Some((host, port)) = option.split_once('/') {
        (host, Some(port))
    } else if option.matches(':').count() == 1 {
        let (host, port) = option.split_once(':').ok_or("unreachable")?;
        (host, Some(port))
    } else {
        (option, None)
    };
    if host.is_empty() {
        return Err("no hostname specified".into());
    }
    let port = port.map(port_number).transpose()?.unwrap_or(IMAP_PORT);
    Ok(Target::plain(host.to_owned(), port))
}

/// A port number or one of the service names Cyrus's `getaddrinfo` would know for IMAP.
fn port_number(port: &str) -> Result<u16, String> {
    match port {
        "imap" | "imap2" => Ok(IMAP_PORT),
        "imaps" => Ok(IMAPS_PORT),
        _ => port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("bad port {port:?}")),
    }
}

fn parse_url(option: &str) -> Result<Target, String> {
    let url = url::Url::parse(option).map_err(|e| format!("bad URL: {e}"))?;
    let (security, default_port) = match url.scheme() {
        "imap" => (Security::Plain, IMAP_PORT),
        "imaps" => (Security::Tls, IMAPS_PORT),
        other => return Err(format!("unsupported URL scheme {other:?} (use imap:// or imaps://)")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry credentials".into());
    }
    if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
        return Err("the URL must have no path or fragment".into());
    }
    let host = match url.host() {
        Some(url::Host::Ipv6(addr)) => addr.to_string(),
        Some(url::Host::Ipv4(addr)) => addr.to_string(),
        Some(url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
        _ => return Err("no hostname specified".into()),
    };
    let port = match url.port() {
        // As in the `host/port` form: port 0 would only fail at the first login.
        Some(0) => return Err("bad port 0".into()),
        Some(port) => port,
        None => default_port,
    };
    let mut target = Target::plain(host, port);
    target.security = security;
    for (key, value) in url.query_pairs() {
        match &*key {
            "starttls" => {
                if !flag(&value)? {
                    continue;
                }
                if security == Security::Tls {
                    return Err("starttls makes no sense with imaps://".into());
                }
                target.security = Security::StartTls;
            }
            "ca_file" => target.ca_file = Some(PathBuf::from(&*value)),
            "tls_name" => target.tls_name = Some(value.into_owned()),
            "timeout" => {
                target.connect_timeout = seconds(&key, &value)?;
                target.read_timeout = target.connect_timeout;
            }
            "connect_timeout" => target.connect_timeout = seconds(&key, &value)?,
            "read_timeout" => target.read_timeout = seconds(&key, &value)?,
            _ => return Err(format!("unknown option {key:?} in the URL")),
        }
    }
    if !target.uses_tls() && (target.ca_file.is_some() || target.tls_name.is_some()) {
        return Err("ca_file and tls_name need imaps:// or ?starttls".into());
    }
    Ok(target)
}

/// `?starttls` alone means yes; an explicit value must be a clear yes or no.
fn flag(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "" | "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        _ => Err(format!("starttls={value:?} is neither yes nor no")),
    }
}

fn seconds(key: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_TIMEOUT_SECS)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{key}={value:?} is not a number of seconds in (0, 3600]"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn hp(option: &str) -> (String, u16, Security) {
        let t = Target::parse(option).unwrap();
        (t.host, t.port, t.security)
    }

    #[test]
    fn cyrus_forms() {
        assert_eq!(hp("mail.example.org"), ("mail.example.org".into(), 143, Security::Plain));
        assert_eq!(hp("127.0.0.1/14143"), ("127.0.0.1".into(), 14143, Security::Plain));
        assert_eq!(hp("127.0.0.1:14143"), ("127.0.0.1".into(), 14143, Security::Plain));
        assert_eq!(hp("host/imaps"), ("host".into(), 993, Security::Plain));
        assert_eq!(hp("::1"), ("::1".into(), 143, Security::Plain));
        assert_eq!(hp("::1/1143"), ("::1".into(), 1143, Security::Plain));
        assert_eq!(hp("[::1]/1143"), ("::1".into(), 1143, Security::Plain));
        assert_eq!(hp("[::1]:1143"), ("::1".into(), 1143, Security::Plain));
        assert_eq!(hp("[fe80::1]"), ("fe80::1".into(), 143, Security::Plain));
        let t = Target::parse("h").unwrap();
        assert_eq!((t.connect_timeout, t.read_timeout), (DEFAULT_TIMEOUT, DEFAULT_TIMEOUT));
    }

    #[test]
    fn urls() {
        assert_eq!(hp("imap://h"), ("h".into(), 143, Security::Plain));
        assert_eq!(hp("imap://h:1143"), ("h".into(), 1143, Security::Plain));
        assert_eq!(hp("imaps://h"), ("h".into(), 993, Security::Tls));
        assert_eq!(hp("imaps://[::1]:9993/"), ("::1".into(), 9993, Security::Tls));
        assert_eq!(hp("imap://h?starttls"), ("h".into(), 143, Security::StartTls));
        assert_eq!(hp("imap://h?starttls=yes"), ("h".into(), 143, Security::StartTls));
        assert_eq!(hp("imap://h?starttls=no"), ("h".into(), 143, Security::Plain));
        let t =
            Target::parse("imaps://h?ca_file=/etc/ca%20x.pem&timeout=2.5&read_timeout=7&tls_name=n.example")
                .unwrap();
        assert_eq!(t.ca_file, Some(PathBuf::from("/etc/ca x.pem")));
        assert_eq!(t.tls_name.as_deref(), Some("n.example"));
        assert_eq!(t.connect_timeout, Duration::from_millis(2500));
        assert_eq!(t.read_timeout, Duration::from_secs(7));
    }

    #[test]
    fn every_listed_option_is_parsed() {
        for option in URL_OPTIONS {
            let parsed = Target::parse(&format!("imap://h?starttls&{option}=1"));
            assert!(!parsed.as_ref().is_err_and(|e| e.contains("unknown")), "{option}: {parsed:?}");
        }
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "/143",
            "h/0",
            "h/99999",
            "h/port",
            "[::1",
            "[::1]x",
            "http://h",
            "imap://",
            "imaps://h:0",
            "imap://h:00/",
            "imap://u:p@h",
            "imap://h/INBOX",
            "imap://h?bogus=1",
            "imap://h?starttls=maybe",
            "imaps://h?starttls",
            "imap://h?ca_file=/x",
            "imap://h?timeout=0",
            "imap://h?timeout=-1",
            "imap://h?timeout=nan",
            "imap://h?timeout=1e9",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
