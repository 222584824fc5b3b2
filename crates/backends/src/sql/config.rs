//! The `sql` mechanism's `-O` file: Cyrus sql-plugin keys turned into a checked configuration.

use super::lex::Engine;
use super::query::Query;
use crate::conf_file::{ConfError, ConfFile};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// Where one server is reached (`sql_hostnames` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `host[:port]`, `[v6]:port`; no port means the engine's default.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port, if given.
        port: Option<u16>,
    },
    /// An absolute path: a UNIX socket (MySQL) or the socket's directory (PostgreSQL).
    Socket(PathBuf),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Tcp { host, port: Some(port) } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Host::Tcp { host, port: Some(port) } => write!(f, "{host}:{port}"),
            Host::Tcp { host, port: None } => f.write_str(host),
            Host::Socket(path) => write!(f, "{}", path.display()),
        }
    }
}

/// How values without a `{SCHEME}` or crypt prefix are read (`sql_password_scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultScheme {
    /// Every value goes to `hash::verify_password` (crypt(3) strings, `{SCHEME}…`).
    Crypt,
    /// Values starting with `{` go to `hash::verify_password`; the rest are cleartext.
    Plain,
}

/// TLS to the server (`sql_tls`, or Cyrus's `sql_usessl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, unverified.
    Prefer,
    /// TLS required, certificate not verified (what Cyrus's `sql_usessl: yes` does).
    Require,
    /// TLS required, certificate chain verified.
    VerifyCa,
    /// TLS required, chain and host name verified.
    VerifyFull,
}

/// The checked configuration.
pub struct SqlConfig {
    /// `sql_engine`.
    pub engine: Engine,
    /// `sql_hostnames`, in failover order (empty for SQLite).
    pub hosts: Vec<Host>,
    /// `sql_user`.
    pub user: Option<String>,
    /// `sql_passwd`.
    pub passwd: Option<Zeroizing<String>>,
    /// `sql_database` (a file path for SQLite).
    pub database: String,
    /// `sql_select`, parsed.
    pub select: Query,
    /// `sql_password_scheme`.
    pub scheme: DefaultScheme,
    /// `sql_tls` / `sql_usessl`.
    pub tls: Tls,
    /// `sql_tls_ca_file`.
    pub tls_ca_file: Option<PathBuf>,
    /// `sql_pool_size`: connections per server.
    pub pool_size: u32,
    /// `sql_connect_timeout`.
    pub connect_timeout: Duration,
    /// `sql_timeout`: one query, including waiting for a connection.
    pub timeout: Duration,
    /// `sql_retry_interval`: how long a failed server is skipped while others remain.
    pub retry_interval: Duration,
    /// `sql_default_realm`: `%r` when the request has no realm.
    pub default_realm: String,
    /// `sql_hash_cache_ttl` (ours): how long a stored value that matched is not hashed again for
    /// the same password (0: always hashed).
    pub hash_cache_ttl: Duration,
}

impl fmt::Debug for SqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlConfig")
            .field("engine", &self.engine)
            .field("hosts", &self.hosts)
            .field("user", &self.user)
            .field("passwd", &self.passwd.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("select", &self.select)
            .field("scheme", &self.scheme)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Every key this mechanism reads.
pub const KEYS: &[&str] = &[
    "sql_engine",
    "sql_hostnames",
    "sql_user",
    "sql_passwd",
    "sql_database",
    "sql_select",
    "sql_password_scheme",
    "sql_usessl",
    "sql_tls",
    "sql_tls_ca_file",
    "sql_pool_size",
    "sql_connect_timeout",
    "sql_timeout",
    "sql_retry_interval",
    "sql_default_realm",
    "sql_hash_cache_ttl",
];

impl SqlConfig {
    /// Check `conf`; unknown keys are logged, bad values are errors naming the key.
    pub fn from_conf(conf: &ConfFile) -> Result<SqlConfig, ConfError> {
        for (key, line) in conf.unknown_keys(KEYS) {
            tracing::warn!(file = %conf.path().display(), line, key, "unknown key ignored by the sql mechanism");
        }
        let required = |key: &str| conf.get(key).ok_or_else(|| conf.bad_value(key, "is required"));
        let engine = match required("sql_engine")?.to_ascii_lowercase().as_str() {
            "mysql" | "mariadb" => Engine::Mysql,
            "pgsql" | "postgres" | "postgresql" => Engine::Pgsql,
            "sqlite" | "sqlite3" => Engine::Sqlite,
            other => {
                return Err(conf.bad_value("sql_engine", format!("{other:?} is not mysql, pgsql or sqlite")));
            }
        };
        let hosts = match (engine, conf.get("sql_hostnames")) {
            (Engine::Sqlite, Some(_)) => {
                tracing::warn!("sql_hostnames is ignored with sql_engine: sqlite");
                Vec::new()
            }
            (Engine::Sqlite, None) => Vec::new(),
            // Cyrus's plugin defaults to the local server too.
            (_, None) => vec![Host::Tcp { host: "localhost".into(), port: None }],
            (_, Some(list)) => parse_hosts(list).map_err(|reason| conf.bad_value("sql_hostnames", reason))?,
        };
        let database = required("sql_database")?.to_owned();
        let select =
            Query::parse(required("sql_select")?, engine).map_err(|r| conf.bad_value("sql_select", r))?;
        let scheme = match conf.get("sql_password_scheme").map(str::to_ascii_lowercase).as_deref() {
            None | Some("crypt") => DefaultScheme::Crypt,
            Some("plain" | "cleartext" | "clear") => DefaultScheme::Plain,
            Some(other) => {
                return Err(conf.bad_value("sql_password_scheme", format!("{other:?} is not crypt or plain")));
            }
        };
        let tls = match (conf.get("sql_tls"), conf.get_bool("sql_usessl")?) {
            (Some(mode), _) => match mode.to_ascii_lowercase().as_str() {
                "disable" | "off" | "no" => Tls::Disable,
                "prefer" => Tls::Prefer,
                "require" => Tls::Require,
                "verify-ca" => Tls::VerifyCa,
                "verify-full" => Tls::VerifyFull,
                other => {
                    return Err(conf.bad_value(
                        "sql_tls",
                        format!("{other:?} is not disable, prefer, require, verify-ca or verify-full"),
                    ));
                }
            },
            (None, Some(true)) => Tls::Require,
            (None, _) => Tls::Disable,
        };
        let tls_ca_file = conf.get("sql_tls_ca_file").map(PathBuf::from);
        if let Some(path) = &tls_ca_file
            && !path.is_file()
        {
            return Err(
                conf.bad_value("sql_tls_ca_file", format!("{} is not a readable file", path.display()))
            );
        }
        let pool_size = conf.get_number::<u32>("sql_pool_size")?.unwrap_or(8);
        if !(1..=1024).contains(&pool_size) {
            return Err(conf.bad_value("sql_pool_size", "must be 1 to 1024"));
        }
        Ok(SqlConfig {
            engine,
            hosts,
            user: conf.get("sql_user").map(str::to_owned),
            passwd: conf.get("sql_passwd").map(|p| Zeroizing::new(p.to_owned())),
            database,
            select,
            scheme,
            tls,
            tls_ca_file,
            pool_size,
            connect_timeout: seconds(conf, "sql_connect_timeout", 3.0)?,
            timeout: seconds(conf, "sql_timeout", 5.0)?,
            retry_interval: seconds(conf, "sql_retry_interval", 10.0)?,
            default_realm: conf.get("sql_default_realm").unwrap_or_default().to_owned(),
            hash_cache_ttl: match conf.get_number::<f64>("sql_hash_cache_ttl")? {
                None | Some(0.0) => Duration::ZERO,
                Some(_) => seconds(conf, "sql_hash_cache_ttl", 0.0)?,
            },
        })
    }
}

/// A duration in (possibly fractional) seconds, 0 < value ≤ 3600.
fn seconds(conf: &ConfFile, key: &str, default: f64) -> Result<Duration, ConfError> {
    let value = conf.get_number::<f64>(key)?.unwrap_or(default);
    if !(value > 0.0 && value <= 3600.0) {
        return Err(conf.bad_value(key, "must be more than 0 and at most 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(value))
}

/// `host[:port], [v6]:port, /socket/path, …` (commas, optional spaces).
fn parse_hosts(list: &str) -> Result<Vec<Host>, String> {
    let mut hosts = Vec::new();
    for item in list.split(',').map(str::trim) {
        if item.is_empty() {
            return Err("empty entry in the list".into());
        }
        if item.starts_with('/') {
            hosts.push(Host::Socket(PathBuf::from(item)));
            continue;
        }
        let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0).ok_or(format!("bad port in {item:?}"));
        let (host, port) = if let Some(rest) = item.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or(format!("unclosed [ in {item:?}"))?;
            match after {
                "" => (host, None),
                _ => (host, Some(port(after.strip_prefix(':').ok_or(format!("bad {item:?}"))?)?)),
            }
        } else {
            match item.split_once(':') {
                // A bare IPv6 address has several colons and no port.
                Some((h, p)) if !p.contains(':') => (h, Some(port(p)?)),
                _ => (item, None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("bad host in {item:?}"));
        }
        hosts.push(Host::Tcp { host: host.to_owned(), port });
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Result<SqlConfig, String> {
        SqlConfig::from_conf(&ConfFile::parse(Path::new("sql.conf"), text).unwrap())
            .map_err(|e| e.to_string())
    }

    const SELECT: &str = "sql_select: SELECT password FROM mailbox WHERE username = '%u' AND active = 1\n";

    #[test]
    fn full_mysql_config() {
        let c = config(&format!(
            "sql_engine: mysql\nsql_hostnames: db1:3307, [::1]:3306 ,/run/mysqld/mysqld.sock, db2\n\
             sql_user: sasl\nsql_passwd: s3cret\nsql_database: mail\n{SELECT}sql_password_scheme: plain\n\
             sql_usessl: yes\nsql_pool_size: 4\nsql_timeout: 0.5\n"
        ))
        .unwrap();
        assert_eq!(c.engine, Engine::Mysql);
        assert_eq!(
            c.hosts,
            [
                Host::Tcp { host: "db1".into(), port: Some(3307) },
                Host::Tcp { host: "::1".into(), port: Some(3306) },
                Host::Socket("/run/mysqld/mysqld.sock".into()),
                Host::Tcp { host: "db2".into(), port: None },
            ]
        );
        assert_eq!(c.hosts[1].to_string(), "[::1]:3306");
        assert_eq!(c.scheme, DefaultScheme::Plain);
        assert_eq!(c.tls, Tls::Require);
        assert_eq!(c.pool_size, 4);
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn sqlite_needs_only_a_file_and_a_query() {
        let c = config(&format!("sql_engine: sqlite\nsql_database: /var/lib/mail.db\n{SELECT}")).unwrap();
        assert_eq!(c.engine, Engine::Sqlite);
        assert!(c.hosts.is_empty());
        assert_eq!(c.scheme, DefaultScheme::Crypt);
        assert_eq!(c.tls, Tls::Disable);
    }

    #[test]
    fn bad_values_name_their_key_and_line() {
        let base = format!("sql_engine: mysql\nsql_database: mail\n{SELECT}");
        assert_eq!(
            config(&format!("{base}sql_hostnames: db1:99999\n")).unwrap_err(),
            "sql.conf:4: sql_hostnames: bad port in \"db1:99999\""
        );
        assert!(config("sql_engine: oracle\n").unwrap_err().contains("sql_engine: \"oracle\" is not"));
        assert!(
            config("sql_engine: mysql\nsql_database: x\n").unwrap_err().contains("sql_select: is required")
        );
        assert!(
            config("sql_engine: mysql\nsql_database: x\nsql_select: SELECT p FROM t WHERE u = %u\n")
                .unwrap_err()
                .contains("sql.conf:3: sql_select: macro at byte 26 is outside single quotes")
        );
        assert!(
            config(&format!("{base}sql_password_scheme: md5\n")).unwrap_err().contains("sql_password_scheme")
        );
        assert!(config(&format!("{base}sql_tls: maybe\n")).unwrap_err().contains("sql_tls"));
        assert!(config(&format!("{base}sql_timeout: 0\n")).unwrap_err().contains("sql_timeout"));
        assert!(config(&format!("{base}sql_pool_size: 0\n")).unwrap_err().contains("sql_pool_size"));
        for ttl in ["-1", "3601", "soon"] {
            let err = config(&format!("{base}sql_hash_cache_ttl: {ttl}\n")).unwrap_err();
            assert!(err.contains("sql_hash_cache_ttl"), "{ttl}: {err}");
        }
        assert!(
            config(&format!("{base}sql_tls_ca_file: /nonexistent\n"))
                .unwrap_err()
                .contains("sql_tls_ca_file")
        );
        assert!(config(&format!("{base}sql_hostnames: a,,b\n")).unwrap_err().contains("empty entry"));
    }

    #[test]
    fn unknown_keys_are_only_warnings() {
        assert!(config(&format!("sql_engine: sqlite\nsql_database: x\n{SELECT}sql_verbose: yes\n")).is_ok());
    }
}
