//! The ldap mechanism's keys in `saslauthd.conf`, converted into a checked [`LdapConfig`].
//!
//! Key names, aliases and defaults are lak.c's (reference §3.4). Differences, each on purpose:
//! booleans take `Yes`/`True` as on; a bad value or an unsupported feature (SASL binds, LDAPv2)
//! stops start-up naming the key instead of failing every request later; unknown keys warn;
//! `ldap_tls_check_peer` defaults to yes; `ldap_servers` must be `ldap://`, `ldaps://` or
//! `ldapi://` URIs. Every filter, DN and attribute name is checked here ([`super::syntax`]), so
//! a value that could never work stops start-up (and `--check`) instead of failing every login.

use super::syntax::{check_attribute, check_bind_name, check_dn_template, check_filter_template};
use crate::conf_file::{ConfError, ConfFile};
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// How the user's password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Search for the user's entry, then bind as it with the password.
    Bind,
    /// Search for the entry, read the password attribute and compare locally.
    Custom,
    /// Bind to the DN made from `ldap_filter`, no search.
    Fastbind,
}

/// Search scope (`ldap_scope`, `ldap_group_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `base`.
    Base,
    /// `one`.
    One,
    /// `sub` (the default).
    Sub,
}

/// Alias dereferencing (`ldap_deref`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deref {
    /// `never` (the default).
    Never,
    /// `search`.
    Search,
    /// `find`.
    Find,
    /// `always`.
    Always,
}

/// How group membership is checked (`ldap_group_match_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMatch {
    /// Compare `ldap_group_attr` of `ldap_group_dn` with the user's DN.
    Attr,
    /// Search `ldap_group_search_base` with `ldap_group_filter`; one entry or more = member.
    Filter,
}

/// TLS settings shared by `ldaps://` and StartTLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// Verify the server's certificate and name (`ldap_tls_check_peer`, default yes).
    pub check_peer: bool,
    /// `ldap_tls_cacert_file`.
    pub cacert_file: Option<PathBuf>,
    /// `ldap_tls_cacert_dir`.
    pub cacert_dir: Option<PathBuf>,
    /// `ldap_tls_cert` (client certificate, PEM).
    pub cert: Option<PathBuf>,
    /// `ldap_tls_key` (client key, PEM).
    pub key: Option<PathBuf>,
}

/// The group check, when `ldap_group_dn` or `ldap_group_filter` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCheck {
    /// `ldap_group_match_method`.
    pub method: GroupMatch,
    /// `ldap_group_dn` (template).
    pub dn: String,
    /// `ldap_group_attr`.
    pub attr: String,
    /// `ldap_group_filter` (template).
    pub filter: String,
    /// `ldap_group_search_base` (template).
    pub search_base: String,
    /// `ldap_group_scope`.
    pub scope: Scope,
}

/// A checked ldap configuration.
pub struct LdapConfig {
    /// `ldap_servers`, in failover order.
    pub servers: Vec<String>,
    /// `ldap_bind_dn` (empty: anonymous).
    pub bind_dn: String,
    /// `ldap_bind_pw` / `ldap_password`.
    pub bind_pw: Zeroizing<String>,
    /// `ldap_search_base` (template).
    pub search_base: String,
    /// `ldap_filter` (template; the bind DN template for fastbind).
    pub filter: String,
    /// `ldap_scope`.
    pub scope: Scope,
    /// `ldap_auth_method`.
    pub auth_method: AuthMethod,
    /// `ldap_password_attr`.
    pub password_attr: String,
    /// The group check, if configured.
    pub group: Option<GroupCheck>,
    /// `ldap_default_realm` / `ldap_default_domain`.
    pub default_realm: String,
    /// `ldap_timeout`: connect and per-operation timeout.
    pub timeout: Duration,
    /// `ldap_time_limit`: server-side search time limit in seconds (0: none).
    pub time_limit: i32,
    /// `ldap_deref`.
    pub deref: Deref,
    /// `ldap_start_tls`.
    pub start_tls: bool,
    /// TLS settings.
    pub tls: TlsSettings,
    /// `ldap_failback_interval` (ours): how long a failed server is skipped, and how long a
    /// connection to a later server is kept before trying the first again.
    pub failback: Duration,
    /// `ldap_pool_size` (ours): connections open at most per pool (searches, user binds).
    pub pool_size: usize,
    /// `ldap_reuse_bind_connections` (ours, default no): keep a user-bind connection pooled after
    /// its bind. Faster (no connection per login), but its write buffer keeps the last bind
    /// request, password included, in memory until the next bind overwrites it.
    pub reuse_bind_connections: bool,
    /// `ldap_dn_cache_ttl` (ours): how long a login's DN is reused without a search (0: never).
    pub dn_cache_ttl: Duration,
    /// `ldap_hash_cache_ttl` (ours, `custom`): how long a stored value that matched is not
    /// hashed again for the same password (0: always hashed).
    pub hash_cache_ttl: Duration,
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("servers", &self.servers)
            .field("bind_dn", &self.bind_dn)
            .field("bind_pw", &"<redacted>")
            .field("search_base", &self.search_base)
            .field("filter", &self.filter)
            .field("auth_method", &self.auth_method)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// Every key the ldap mechanism reads (others get a warning).
pub const KNOWN_KEYS: &[&str] = &[
    "ldap_servers",
    "ldap_bind_dn",
    "ldap_bind_pw",
    "ldap_password",
    "ldap_version",
    "ldap_search_base",
    "ldap_filter",
    "ldap_password_attr",
    "ldap_group_dn",
    "ldap_group_attr",
    "ldap_group_filter",
    "ldap_group_search_base",
    "ldap_group_scope",
    "ldap_group_match_method",
    "ldap_default_realm",
    "ldap_default_domain",
    "ldap_auth_method",
    "ldap_timeout",
    "ldap_size_limit",
    "ldap_time_limit",
    "ldap_deref",
    "ldap_referrals",
    "ldap_restart",
    "ldap_scope",
    "ldap_use_sasl",
    "ldap_id",
    "ldap_sasl_authc_id",
    "ldap_authz_id",
    "ldap_sasl_authz_id",
    "ldap_realm",
    "ldap_sasl_realm",
    "ldap_mech",
    "ldap_sasl_mech",
    "ldap_sasl_secprops",
    "ldap_start_tls",
    "ldap_tls_check_peer",
    "ldap_tls_cacert_file",
    "ldap_tls_cacert_dir",
    "ldap_tls_ciphers",
    "ldap_tls_cert",
    "ldap_tls_key",
    "ldap_debug",
    "ldap_failback_interval",
    "ldap_pool_size",
    "ldap_reuse_bind_connections",
    "ldap_dn_cache_ttl",
    "ldap_hash_cache_ttl",
];

impl LdapConfig {
    /// Convert a parsed file, warning about unknown keys; the first bad value is the error.
    pub fn from_conf(conf: &ConfFile) -> Result<LdapConfig, ConfError> {
        for (key, line) in conf.unknown_keys(KNOWN_KEYS) {
            tracing::warn!("{}:{line}: unknown key {key} ignored", conf.path().display());
        }
        if conf.get_bool("ldap_use_sasl")? == Some(true) {
            return Err(conf.bad_value("ldap_use_sasl", "SASL binds to the LDAP server are not supported"));
        }
        if let Some(version) = conf.get_number::<u32>("ldap_version")?
            && version != 3
        {
            return Err(conf.bad_value("ldap_version", "only LDAPv3 is supported"));
        }
        if conf.get_bool("ldap_referrals")? == Some(true) {
            tracing::warn!("ldap_referrals: referrals are not followed");
        }
        for ignored in ["ldap_tls_ciphers", "ldap_sasl_secprops"] {
            if conf.get(ignored).is_some() {
                tracing::warn!("{ignored} is ignored (rustls negotiates its own safe cipher suites)");
            }
        }

        let mut servers = Vec::new();
        let listed = conf.get("ldap_servers").unwrap_or("ldap://localhost/");
        // libldap's ldap_initialize separates URIs by spaces or commas; so does lak.c's user.
        for uri in listed.split(|c: char| c.is_whitespace() || c == ',').filter(|u| !u.is_empty()) {
            let uri =
                server_uri(uri).map_err(|why| conf.bad_value("ldap_servers", format!("{uri:?}: {why}")))?;
            servers.push(uri);
        }
        if servers.is_empty() {
            return Err(conf.bad_value("ldap_servers", "no server URI"));
        }
        let start_tls = conf.get_bool("ldap_start_tls")?.unwrap_or(false);
        if start_tls && servers.iter().any(|s| s.to_ascii_lowercase().starts_with("ldaps://")) {
            return Err(conf.bad_value("ldap_start_tls", "StartTLS cannot be used with ldaps:// servers"));
        }
        if start_tls && servers.iter().any(|s| s.starts_with("ldapi://")) {
            return Err(
                conf.bad_value("ldap_start_tls", "StartTLS is not offered over ldapi:// (a local socket)")
            );
        }

        let auth_method = match conf.get("ldap_auth_method").map(str::to_ascii_lowercase).as_deref() {
            None | Some("bind") => AuthMethod::Bind,
            Some("custom") => AuthMethod::Custom,
            Some("fastbind") => AuthMethod::Fastbind,
            Some(other) => {
                return Err(
                    conf.bad_value("ldap_auth_method", format!("{other:?} is not bind, custom or fastbind"))
                );
            }
        };
        let scope = scope_or(conf, "ldap_scope")?;
        let search_base = conf.get("ldap_search_base").unwrap_or("").to_owned();
        check_dn_template(&search_base, false).map_err(|why| conf.bad_value("ldap_search_base", why))?;
        let filter = conf.get("ldap_filter").unwrap_or("(uid=%u)").to_owned();
        if auth_method == AuthMethod::Fastbind && conf.get("ldap_filter").is_none() {
            return Err(conf.bad_value(
                "ldap_auth_method",
                "fastbind needs ldap_filter, the DN to bind to (such as uid=%u,ou=people,dc=example,dc=org)",
            ));
        }
        // Bind names are not checked as DNs: Active Directory also takes `user@domain` and
        // `DOMAIN\user` (fastbind's `%u@example.org` is a common template).
        if auth_method != AuthMethod::Fastbind {
            check_filter_template(&filter, false).map_err(|why| conf.bad_value("ldap_filter", why))?;
        } else {
            check_bind_name(&filter).map_err(|why| conf.bad_value("ldap_filter", why))?;
        }
        let bind_dn = conf.get("ldap_bind_dn").unwrap_or("").to_owned();
        check_bind_name(&bind_dn).map_err(|why| conf.bad_value("ldap_bind_dn", why))?;
        let password_attr = conf.get("ldap_password_attr").unwrap_or("userPassword").to_owned();
        if auth_method == AuthMethod::Custom {
            check_attribute(&password_attr).map_err(|why| conf.bad_value("ldap_password_attr", why))?;
        }

        let group_dn = conf.get("ldap_group_dn").unwrap_or("").to_owned();
        let group_filter = conf.get("ldap_group_filter").unwrap_or("").to_owned();
        let group = if group_dn.is_empty() && group_filter.is_empty() {
            None
        } else {
            let method = match conf.get("ldap_group_match_method").map(str::to_ascii_lowercase).as_deref() {
                None | Some("attr") => GroupMatch::Attr,
                Some("filter") => GroupMatch::Filter,
                Some(other) => {
                    return Err(
                        conf.bad_value("ldap_group_match_method", format!("{other:?} is not attr or filter"))
                    );
                }
            };
            let group_search_base = conf.get("ldap_group_search_base").unwrap_or(&search_base).to_owned();
            match method {
                GroupMatch::Attr if group_dn.is_empty() => {
                    return Err(conf.bad_value("ldap_group_match_method", "attr needs ldap_group_dn"));
                }
                GroupMatch::Filter if group_filter.is_empty() => {
                    return Err(conf.bad_value("ldap_group_match_method", "filter needs ldap_group_filter"));
                }
                _ => {}
            }
            // The user's DN (%D) is known by the time these are expanded.
            let attr = conf.get("ldap_group_attr").unwrap_or("uniqueMember").to_owned();
            match method {
                GroupMatch::Attr => {
                    check_dn_template(&group_dn, true).map_err(|why| conf.bad_value("ldap_group_dn", why))?;
                    check_attribute(&attr).map_err(|why| conf.bad_value("ldap_group_attr", why))?;
                }
                GroupMatch::Filter => {
                    check_filter_template(&group_filter, true)
                        .map_err(|why| conf.bad_value("ldap_group_filter", why))?;
                    check_dn_template(&group_search_base, true).map_err(|why| {
                        let key = if conf.get("ldap_group_search_base").is_some() {
                            "ldap_group_search_base"
                        } else {
                            "ldap_search_base"
                        };
                        conf.bad_value(key, why)
                    })?;
                }
            }
            Some(GroupCheck {
                method,
                dn: group_dn,
                attr,
                filter: group_filter,
                search_base: group_search_base,
                scope: scope_or(conf, "ldap_group_scope")?,
            })
        };

        let timeout = conf.get_number::<u64>("ldap_timeout")?.unwrap_or(5);
        if timeout == 0 {
            return Err(conf.bad_value("ldap_timeout", "must be at least 1 second"));
        }
        let deref = match conf.get("ldap_deref").map(str::to_ascii_lowercase).as_deref() {
            None | Some("never") => Deref::Never,
            Some("search") => Deref::Search,
            Some("find") => Deref::Find,
            Some("always") => Deref::Always,
            Some(other) => {
                return Err(
                    conf.bad_value("ldap_deref", format!("{other:?} is not never, search, find or always"))
                );
            }
        };
        let tls = TlsSettings {
            check_peer: conf.get_bool("ldap_tls_check_peer")?.unwrap_or(true),
            cacert_file: conf.get("ldap_tls_cacert_file").map(PathBuf::from),
            cacert_dir: conf.get("ldap_tls_cacert_dir").map(PathBuf::from),
            cert: conf.get("ldap_tls_cert").map(PathBuf::from),
            key: conf.get("ldap_tls_key").map(PathBuf::from),
        };
        if tls.cert.is_some() != tls.key.is_some() {
            let key = if tls.cert.is_some() { "ldap_tls_cert" } else { "ldap_tls_key" };
            return Err(conf.bad_value(key, "ldap_tls_cert and ldap_tls_key go together"));
        }
        // Accepted for compatibility; the values are checked but have no effect.
        conf.get_number::<i32>("ldap_size_limit")?;
        conf.get_number::<i32>("ldap_debug")?;
        conf.get_bool("ldap_restart")?;
        let dn_cache_ttl = Duration::from_secs(conf.get_number::<u64>("ldap_dn_cache_ttl")?.unwrap_or(0));
        if !dn_cache_ttl.is_zero() && auth_method != AuthMethod::Bind {
            return Err(conf.bad_value("ldap_dn_cache_ttl", "only ldap_auth_method: bind searches for DNs"));
        }
        let hash_cache_ttl = Duration::from_secs(conf.get_number::<u64>("ldap_hash_cache_ttl")?.unwrap_or(0));
        if !hash_cache_ttl.is_zero() && auth_method != AuthMethod::Custom {
            return Err(
                conf.bad_value("ldap_hash_cache_ttl", "only ldap_auth_method: custom checks hashes here")
            );
        }
        if hash_cache_ttl > Duration::from_secs(3600) {
            return Err(conf.bad_value("ldap_hash_cache_ttl", "at most 3600 seconds"));
        }

        Ok(LdapConfig {
            servers,
            bind_dn,
            bind_pw: Zeroizing::new(
                conf.get_any(&["ldap_bind_pw", "ldap_password"]).unwrap_or("").to_owned(),
            ),
            search_base,
            filter,
            scope,
            auth_method,
            password_attr,
            group,
            default_realm: conf
                .get_any(&["ldap_default_realm", "ldap_default_domain"])
                .unwrap_or("")
                .to_owned(),
            timeout: Duration::from_secs(timeout),
            time_limit: conf.get_number::<i32>("ldap_time_limit")?.unwrap_or(5).max(0),
            deref,
            start_tls,
            tls,
            failback: Duration::from_secs(conf.get_number::<u64>("ldap_failback_interval")?.unwrap_or(30)),
            pool_size: conf.get_number::<usize>("ldap_pool_size")?.unwrap_or(8).max(1),
            reuse_bind_connections: conf.get_bool("ldap_reuse_bind_connections")?.unwrap_or(false),
            dn_cache_ttl,
            hash_cache_ttl,
        })
    }
}

/// Where `ldapi:///` connects, as Debian's libldap (`LDAPI_SOCK`) and so Cyrus.
pub const DEFAULT_LDAPI_SOCKET: &str = "/var/run/slapd/ldapi";

/// One `ldap_servers` URI as it is connected to: `ldap://`, `ldaps://` (no host: localhost, as
/// libldap) or `ldapi://` with a percent-encoded absolute socket path (none: [`DEFAULT_LDAPI_SOCKET`]).
/// The error says what is wrong with it.
pub fn server_uri(uri: &str) -> Result<String, String> {
    let url = url::Url::parse(uri).map_err(|e| format!("not a URI: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URI are not used: set ldap_bind_dn and ldap_bind_pw".into());
    }
    let host = url.host_str().unwrap_or("");
    match url.scheme() {
        "ldap" | "ldaps" if host.is_empty() => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            Ok(format!("{}://localhost{port}{}", url.scheme(), url.path()))
        }
        "ldap" | "ldaps" => Ok(url.as_str().to_owned()),
        "ldapi" => {
            if url.port().is_some() {
                return Err("an ldapi:// URI names a socket file, percent-encoded, without a port".into());
            }
            if host.is_empty() {
                let encoded = percent_encoding::utf8_percent_encode(
                    DEFAULT_LDAPI_SOCKET,
                    percent_encoding::NON_ALPHANUMERIC,
                );
                return Ok(format!("ldapi://{encoded}/"));
            }
            let path = percent_encoding::percent_decode_str(host)
                .decode_utf8()
                .map_err(|e| format!("the socket path is not UTF-8: {e}"))?;
            if !path.starts_with('/') {
                return Err(format!(
                    "the socket path {path:?} is not absolute (write / as %2F: ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi)"
                ));
            }
            // A socket path is a C string: %00 would cut it, and every connect would fail.
            if path.contains('\0') {
                return Err(format!("the socket path {path:?} holds a NUL byte (%00)"));
            }
            Ok(url.as_str().to_owned())
        }
        other => Err(format!("{other}:// is not ldap://, ldaps:// or ldapi://")),
    }
}

fn scope_or(conf: &ConfFile, key: &str) -> Result<Scope, ConfError> {
    match conf.get(key).map(str::to_ascii_lowercase).as_deref() {
        None | Some("sub") | Some("subtree") => Ok(Scope::Sub),
        Some("one") | Some("onelevel") => Ok(Scope::One),
        Some("base") => Ok(Scope::Base),
        Some(other) => Err(conf.bad_value(key, format!("{other:?} is not sub, one or base"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Result<LdapConfig, ConfError> {
        LdapConfig::from_conf(&ConfFile::parse(Path::new("saslauthd.conf"), text).unwrap())
    }

    #[test]
    fn defaults_are_lak_defaults() {
        let c = config("").unwrap();
        assert_eq!(c.servers, ["ldap://localhost/"]);
        assert_eq!(c.filter, "(uid=%u)");
        assert_eq!(c.auth_method, AuthMethod::Bind);
        assert_eq!(c.scope, Scope::Sub);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.password_attr, "userPassword");
        assert!(c.group.is_none());
        assert!(c.tls.check_peer, "verification is on unless turned off");
        assert!(c.dn_cache_ttl.is_zero(), "every login is searched unless asked otherwise");
    }

    #[test]
    fn bind_connections_are_closed_unless_reuse_is_asked_for() {
        assert!(!config("").unwrap().reuse_bind_connections);
        assert!(config("ldap_reuse_bind_connections: yes\n").unwrap().reuse_bind_connections);
        assert!(config("ldap_reuse_bind_connections: sometimes\n").is_err());
    }

    #[test]
    fn reads_keys_and_aliases() {
        let c = config(
            "ldap_servers: ldap://a/ ldaps://b:636/\nldap_password: pw\nldap_default_domain: example.org\n\
             ldap_auth_method: Fastbind\nldap_filter: uid=%u,dc=example\nldap_scope: one\nldap_group_filter: (member=%D)\n\
             ldap_group_match_method: filter\nldap_search_base: dc=example\n",
        )
        .unwrap();
        assert_eq!(c.servers, ["ldap://a/", "ldaps://b:636/"]);
        assert_eq!(c.bind_pw.as_str(), "pw");
        assert_eq!(c.default_realm, "example.org");
        assert_eq!(c.auth_method, AuthMethod::Fastbind);
        assert_eq!(c.scope, Scope::One);
        let g = c.group.unwrap();
        assert_eq!(g.method, GroupMatch::Filter);
        assert_eq!(g.search_base, "dc=example", "group base defaults to the search base");
        assert!(!format!("{:?}", config("ldap_bind_pw: canary\n").unwrap()).contains("canary"));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("ldap_auth_method: kerberos\n", "ldap_auth_method"),
            ("ldap_scope: deep\n", "ldap_scope"),
            ("ldap_timeout: soon\n", "ldap_timeout"),
            ("ldap_servers: http://x/\n", "ldap_servers"),
            ("ldap_use_sasl: yes\n", "ldap_use_sasl"),
            ("ldap_tls_check_peer: maybe\n", "ldap_tls_check_peer"),
            ("ldap_deref: sometimes\n", "ldap_deref"),
            ("ldap_tls_cert: /c.pem\n", "ldap_tls_cert"),
            ("ldap_group_dn: cn=g\nldap_group_match_method: both\n", "ldap_group_match_method"),
            ("ldap_dn_cache_ttl: 60\nldap_auth_method: custom\n", "ldap_dn_cache_ttl"),
            ("ldap_dn_cache_ttl: -1\n", "ldap_dn_cache_ttl"),
            ("ldap_hash_cache_ttl: 60\n", "ldap_hash_cache_ttl"),
            ("ldap_hash_cache_ttl: 3601\nldap_auth_method: custom\n", "ldap_hash_cache_ttl"),
            ("ldap_servers: ldapi://relative%2Fpath\n", "ldap_servers"),
            ("ldap_servers: ldapi://%2Ftmp%2Fs:389\n", "ldap_servers"),
            ("ldap_servers: ldap://h:99999/\n", "ldap_servers"),
            ("ldap_servers: ldap://u:pw@h/\n", "ldap_servers"),
            ("ldap_servers: ldapi:///\nldap_start_tls: yes\n", "ldap_start_tls"),
            ("ldap_filter: \"(uid=%u)\"\n", "ldap_filter"),
            ("ldap_filter: (uid=%u\n", "ldap_filter"),
            ("ldap_filter: (&(uid=%u)(objectClass=person)\n", "ldap_filter"),
            ("ldap_filter: (%s=%u)\n", "ldap_filter"),
            ("ldap_auth_method: fastbind\n", "ldap_auth_method"),
            ("ldap_search_base: dc=example,\n", "ldap_search_base"),
            ("ldap_auth_method: custom\nldap_password_attr: user password\n", "ldap_password_attr"),
            ("ldap_group_dn: cn=mail,,dc=x\n", "ldap_group_dn"),
            ("ldap_group_dn: cn=mail\nldap_group_attr: (member)\n", "ldap_group_attr"),
            ("ldap_group_filter: \"(member=%D)\"\nldap_group_match_method: filter\n", "ldap_group_filter"),
            (
                "ldap_group_filter: (member=%D)\nldap_group_match_method: filter\nldap_group_search_base: ou=g,\n",
                "ldap_group_search_base",
            ),
        ] {
            let err = config(text).err().unwrap_or_else(|| panic!("{text:?} accepted")).to_string();
            assert!(err.contains(&format!(": {key}: ")), "{text:?} → {err}");
        }
    }

    #[test]
    fn server_uris_as_libldap_reads_them() {
        let c =
            config("ldap_servers: ldapi:/// ldapi://%2Ftmp%2Fslapd%2Fldapi,LDAP:/// ldaps:///\n").unwrap();
        assert_eq!(
            c.servers,
            [
                "ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi/",
                "ldapi://%2Ftmp%2Fslapd%2Fldapi",
                "ldap://localhost/",
                "ldaps://localhost/"
            ]
        );
    }

    #[test]
    fn active_directory_bind_names_are_not_dns_and_pass() {
        config("ldap_bind_dn: svc@example.org\nldap_auth_method: fastbind\nldap_filter: %u@example.org\n")
            .unwrap();
        config("ldap_bind_dn: EXAMPLE\\svc\nldap_auth_method: fastbind\nldap_filter: EXAMPLE\\%u\n").unwrap();
    }

    #[test]
    fn an_ldapi_path_with_a_nul_is_refused() {
        let err = config("ldap_servers: ldapi://%2Ftmp%00x\n").err().unwrap().to_string();
        assert!(err.contains(":1: ldap_servers: ") && err.contains("holds a NUL byte (%00)"), "{err}");
    }

    #[test]
    fn quoted_bind_names_are_refused() {
        let err =
            config("ldap_bind_dn: \"cn=admin,dc=example\"\nldap_bind_pw: x\n").err().unwrap().to_string();
        assert!(
            err.ends_with(":1: ldap_bind_dn: quotes are taken as part of the name: write it without them"),
            "{err}"
        );
        let err = config("ldap_auth_method: fastbind\nldap_filter: \"uid=%u,dc=example\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(":2: ldap_filter: quotes are taken as part of the name"), "{err}");
        config("ldap_bind_dn: cn=\"quoted\" name,dc=example\nldap_bind_pw: x\n").unwrap();
    }

    #[test]
    fn filter_errors_say_why() {
        let err = config("ldap_filter: \"(uid=%u)\"\n").err().unwrap().to_string();
        assert!(
            err.ends_with(":1: ldap_filter: quotes are taken as part of the filter: write it without them"),
            "{err}"
        );
        let err = config("\nldap_filter: (|(uid=%u)(mail=%u)\n").err().unwrap().to_string();
        assert!(err.contains(":2: ldap_filter: unbalanced parentheses (3 opening, 2 closing)"), "{err}");
    }
}
