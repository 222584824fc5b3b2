//! One connection pool per configured server, and running the prepared lookup on it.
//!
//! sqlx rather than `mysql_async` (crates.md §5): one crate and one API for all three engines,
//! at about the same build cost; its pools take a connect timeout, and every query is wrapped
//! in `tokio::time::timeout` by the caller. Per-engine pools (not sqlx's `Any`) because
//! placeholders differ (`?` vs `$n`) and the query is rewritten for the engine anyway.

use super::config::{Host, SqlConfig, Tls};
use super::lex::Engine;
use crate::credential::{Scope, scope};
use futures_util::TryStreamExt;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlSslMode};
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Column, Connection, Row, ValueRef};
use std::path::Path;
use std::time::Duration;
use zeroize::Zeroizing;

/// A pool to one server.
pub enum ServerPool {
    /// MySQL / MariaDB.
    Mysql(MySqlPool),
    /// PostgreSQL.
    Pgsql(PgPool),
    /// SQLite.
    Sqlite(SqlitePool),
}

/// What the lookup found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// No row.
    Nothing,
    /// Every row, in the order the server gave them (one credential each).
    Rows(Vec<FoundRow>),
    /// More rows than the bound the lookup was given.
    TooMany,
}

/// One row: its first column, and the scope its named columns give ([`scope::KEYS`]).
#[derive(Debug, PartialEq, Eq)]
pub struct FoundRow {
    /// The first column.
    pub value: Value,
    /// The scope from the columns named `allow_services`, `allow_nets`, `expires`, `label`
    /// (absent or NULL: no limit); the error names a column whose value is unusable.
    pub scope: Result<Scope, String>,
}

/// A row's first column.
#[derive(PartialEq, Eq)]
pub enum Value {
    /// Text, or bytes that are UTF-8.
    Text(Zeroizing<String>),
    /// NULL (or no column at all).
    Null,
    /// Neither text nor UTF-8 bytes.
    NotText,
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Value::Text(_) => "Text(<redacted>)",
            Value::Null => "Null",
            Value::NotText => "NotText",
        })
    }
}

/// The first column of `row`.
fn value_of<R: Row>(row: &R) -> Result<Value, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    if row.columns().is_empty() || row.try_get_raw(0)?.is_null() {
        return Ok(Value::Null);
    }
    Ok(match row.try_get::<String, _>(0) {
        Ok(text) => Value::Text(Zeroizing::new(text)),
        // VARBINARY/BLOB/bytea columns: accept them when they hold UTF-8.
        Err(_) => match row.try_get::<Vec<u8>, _>(0).map(String::from_utf8) {
            Ok(Ok(text)) => Value::Text(Zeroizing::new(text)),
            _ => Value::NotText,
        },
    })
}

/// The scope `row`'s named columns give; a column that is absent or NULL sets nothing.
fn scope_of<R: Row>(row: &R) -> Result<Scope, String>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut scope = Scope::default();
    for key in scope::KEYS {
        let Some(column) = row.columns().iter().find(|c| c.name().eq_ignore_ascii_case(key)) else {
            continue;
        };
        let raw = row.try_get_raw(column.ordinal()).map_err(|e| format!("column {key}: {e}"))?;
        if raw.is_null() {
            continue;
        }
        // A DATE column is not text to sqlx: the select must cast it (see saslauthd.conf(5)).
        let text = row
            .try_get::<String, _>(column.ordinal())
            .map_err(|_| format!("column {key} is not text (cast it in sql_select)"))?;
        scope.set(key, &text).map_err(|e| format!("column {key}: {e}"))?;
    }
    Ok(scope)
}

/// Pool limits shared by every engine.
fn pool_options<DB: sqlx::Database>(config: &SqlConfig) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(config.pool_size)
        .min_connections(0)
        .acquire_timeout(config.connect_timeout)
        .idle_timeout(IDLE)
        // sqlx would ping every connection it hands out: a second round trip per lookup. A
        // connection in steady use is known to work; one that fails anyway is dropped and the
        // lookup retried ([`ServerPool::lookup`]).
        .test_before_acquire(false)
        .before_acquire(|conn: &mut DB::Connection, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Idle connections are closed after this; a restarted server is then reached afresh.
const IDLE: Duration = Duration::from_secs(300);

/// A connection unused for longer than this is pinged before a lookup (the server may have
/// dropped it meanwhile: a restart, `wait_timeout`, a firewall).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Whether `e` says the connection failed rather than the query: the connection must not go
/// back to the pool, and the lookup deserves one more try on another.
fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        // SQLSTATE classes 08 (connection exception) and 57 (operator intervention, such as a
        // server shutting down).
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57")),
        _ => false,
    }
}

/// One connection straight to the server, closed again, when the pool holds none.
///
/// sqlx's pool takes a refused connection for a server still starting and retries it until the
/// acquire timeout: during an outage every request would wait `sql_connect_timeout` before its
/// tempfail or the next server. A direct connection fails at once; once the pool holds a
/// connection this is skipped, so it costs one connection after start-up, idleness or an outage.
async fn probe<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Result<(), sqlx::Error> {
    use sqlx::ConnectOptions;
    let options = pool.connect_options();
    let connected = tokio::time::timeout(pool.options().get_acquire_timeout(), options.connect()).await;
    let connection = connected.map_err(|_| sqlx::Error::PoolTimedOut)??;
    // A polite close (COM_QUIT, Terminate): no "aborted connection" on the server, and MySQL's
    // max_connect_errors never counts it.
    connection.close().await
}

/// A path naming PostgreSQL's socket file itself (`/run/postgresql/.s.PGSQL.5433`) → its
/// directory and port. PostgreSQL is reached through a directory plus a port, so a server on
/// another port than 5432 can only be named through its socket file.
fn pg_socket_file(path: &Path) -> Option<(&Path, u16)> {
    let port = path.file_name()?.to_str()?.strip_prefix(".s.PGSQL.")?.parse().ok()?;
    Some((path.parent()?, port))
}

/// What MySQL's and PostgreSQL's connect options share: where the server is, who logs in, and
/// TLS. Each engine maps the calls onto its own builder.
trait ServerOptions: Sized {
    /// The engine's standard TCP port.
    const DEFAULT_PORT: u16;
    fn host(self, host: &str, port: u16) -> Self;
    fn socket(self, path: &Path) -> Self;
    fn login(self, user: &str) -> Self;
    fn secret(self, passwd: &str) -> Self;
    fn tls(self, tls: Tls) -> Self;
    fn ca_file(self, path: &Path) -> Self;
}

/// The common part of the MySQL and PostgreSQL options: `sql_hostnames` entry, `sql_user`,
/// `sql_passwd`, `sql_usessl`/TLS mode and CA file.
fn with_server<O: ServerOptions>(mut o: O, config: &SqlConfig, host: Option<&Host>) -> O {
    o = match host {
        Some(Host::Socket(path)) => o.socket(path),
        Some(Host::Tcp { host, port }) => o.host(host, port.unwrap_or(O::DEFAULT_PORT)),
        None => o,
    };
    if let Some(user) = &config.user {
        o = o.login(user);
    }
    if let Some(passwd) = &config.passwd {
        o = o.secret(passwd);
    }
    o = o.tls(config.tls);
    match &config.tls_ca_file {
        Some(ca) => o.ca_file(ca),
        None => o,
    }
}

impl ServerOptions for MySqlConnectOptions {
    const DEFAULT_PORT: u16 = 3306;
    fn host(self, host: &str, port: u16) -> Self {
        MySqlConnectOptions::host(self, host).port(port)
    }
    fn socket(self, path: &Path) -> Self {
        MySqlConnectOptions::socket(self, path)
    }
    fn login(self, user: &str) -> Self {
        self.username(user)
    }
    fn secret(self, passwd: &str) -> Self {
        self.password(passwd)
    }
    fn tls(self, tls: Tls) -> Self {
        self.ssl_mode(match tls {
            Tls::Disable => MySqlSslMode::Disabled,
            Tls::Prefer => MySqlSslMode::Preferred,
            Tls::Require => MySqlSslMode::Required,
            Tls::VerifyCa => MySqlSslMode::VerifyCa,
            Tls::VerifyFull => MySqlSslMode::VerifyIdentity,
        })
    }
    fn ca_file(self, path: &Path) -> Self {
        self.ssl_ca(path)
    }
}

impl ServerOptions for PgConnectOptions {
    const DEFAULT_PORT: u16 = 5432;
    fn host(self, host: &str, port: u16) -> Self {
        PgConnectOptions::host(self, host).port(port)
    }
    fn socket(self, path: &Path) -> Self {
        match pg_socket_file(path) {
            Some((dir, port)) => PgConnectOptions::socket(self, dir).port(port),
            None => PgConnectOptions::socket(self, path),
        }
    }
    fn login(self, user: &str) -> Self {
        self.username(user)
    }
    fn secret(self, passwd: &str) -> Self {
        self.password(passwd)
    }
    fn tls(self, tls: Tls) -> Self {
        self.ssl_mode(match tls {
            Tls::Disable => PgSslMode::Disable,
            Tls::Prefer => PgSslMode::Prefer,
            Tls::Require => PgSslMode::Require,
            Tls::VerifyCa => PgSslMode::VerifyCa,
            Tls::VerifyFull => PgSslMode::VerifyFull,
        })
    }
    fn ca_file(self, path: &Path) -> Self {
        self.ssl_root_cert(path)
    }
}

impl ServerPool {
    /// A lazy pool for `host` (nothing is connected until the first request, so a server that is
    /// down at start-up only costs tempfails until it comes up).
    pub fn new(config: &SqlConfig, host: Option<&Host>) -> ServerPool {
        match config.engine {
            Engine::Mysql => {
                let o = MySqlConnectOptions::new().database(&config.database);
                ServerPool::Mysql(pool_options(config).connect_lazy_with(with_server(o, config, host)))
            }
            Engine::Pgsql => {
                // Not `new()`: that reads PG* variables and ~/.pgpass behind the config's back.
                let o = PgConnectOptions::new_without_pgpass().database(&config.database);
                ServerPool::Pgsql(pool_options(config).connect_lazy_with(with_server(o, config, host)))
            }
            Engine::Sqlite => {
                // Read-only and never created: a typo in the path must not yield an empty database.
                let o = SqliteConnectOptions::new()
                    .filename(&config.database)
                    .read_only(true)
                    .create_if_missing(false)
                    .busy_timeout(config.timeout);
                ServerPool::Sqlite(pool_options(config).connect_lazy_with(o))
            }
        }
    }

    /// Run `sql` with `params` bound, reading at most `max_rows` rows and one more to tell
    /// [`Found::TooMany`]; once more on another connection if the first one turns out to be
    /// broken.
    pub async fn lookup(&self, sql: &str, params: &[String], max_rows: usize) -> Result<Found, sqlx::Error> {
        match self.lookup_once(sql, params, max_rows).await {
            Err(e) if is_connection_error(&e) => {
                tracing::debug!("sql connection failed ({e}); trying another");
                self.lookup_once(sql, params, max_rows).await
            }
            other => other,
        }
    }

    async fn lookup_once(&self, sql: &str, params: &[String], max_rows: usize) -> Result<Found, sqlx::Error> {
        // The same body for each engine; sqlx's generic bounds for this are longer than the code.
        macro_rules! run {
            ($pool:expr, probe: $probe:expr) => {{
                if $probe && $pool.size() == 0 {
                    probe($pool).await?;
                }
                let mut conn = $pool.acquire().await?;
                let found = async {
                    // The text is the operator's `sql_select` with placeholders; request data
                    // only ever travels in the bound parameters below.
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                    for p in params {
                        query = query.bind(p.as_str());
                    }
                    let mut rows = query.fetch(&mut *conn);
                    let mut found = Vec::new();
                    while let Some(row) = rows.try_next().await? {
                        if found.len() == max_rows {
                            return Ok(Found::TooMany);
                        }
                        found.push(FoundRow { value: value_of(&row)?, scope: scope_of(&row) });
                    }
                    Ok(if found.is_empty() { Found::Nothing } else { Found::Rows(found) })
                }
                .await;
                if let Err(e) = &found
                    && is_connection_error(e)
                {
                    conn.close_on_drop();
                }
                found
            }};
        }
        match self {
            ServerPool::Mysql(pool) => run!(pool, probe: true),
            ServerPool::Pgsql(pool) => run!(pool, probe: true),
            // Opening a missing file fails at once; there is no server to be refused by.
            ServerPool::Sqlite(pool) => run!(pool, probe: false),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn only_connection_failures_are_retried() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_connection_error(&sqlx::Error::Io(io)));
        assert!(is_connection_error(&sqlx::Error::Protocol("unexpected packet".into())));
        assert!(!is_connection_error(&sqlx::Error::RowNotFound));
        assert!(!is_connection_error(&sqlx::Error::ColumnNotFound("password".into())));
    }

    #[test]
    fn pg_socket_file_gives_directory_and_port() {
        let file = Path::new("/tmp/pg/.s.PGSQL.5433");
        assert_eq!(pg_socket_file(file), Some((Path::new("/tmp/pg"), 5433)));
        assert_eq!(pg_socket_file(Path::new("/run/postgresql")), None);
        assert_eq!(pg_socket_file(Path::new("/tmp/.s.PGSQL.x")), None);
    }
}
