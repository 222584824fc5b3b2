//! The `sql` mechanism: stored hashes read straight from MySQL/MariaDB, PostgreSQL or SQLite.
//!
//! `-O FILE` names a file in Cyrus's `saslauthd.conf` syntax with the keys of libsasl's sql
//! plugin ([`config`]). The `sql_select` runs as a prepared statement ([`query`]); every row it
//! returns is one credential of the account ([`crate::credential`]): the first column is the
//! stored password, columns named `allow_services`, `allow_nets`, `expires` and `label` give its
//! scope. More rows than `--max-credentials` is a tempfail with an error line, decided before
//! any hash. Servers in `sql_hostnames` are tried
//! in order; a server that fails is skipped for `sql_retry_interval` while another remains, and
//! when none answers the request is a tempfail ([`Outcome::Unavailable`]), never a `NO`.

pub mod config;
pub mod engine;
pub mod lex;
pub mod mysql_auth;
pub mod query;

use crate::conf_file::ConfFile;
use crate::credential::{self, Candidate, Request, Scope};
use crate::hash::memo::MatchMemo;
use crate::hash::{Form, Origin};
use crate::log_safe::LogSafe;
use crate::{
    BlockingPool, Credentials, MechanismError, MechanismOptions, Outcome, Reject, Verifier, VerifyFuture,
};
use config::{DefaultScheme, SqlConfig};
use engine::{Found, FoundRow, ServerPool, Value};
use query::MacroValues;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;
use zeroize::Zeroizing;

/// The `sql` verifier.
pub struct Sql {
    servers: Vec<Server>,
    config: SqlConfig,
    pool: BlockingPool,
    /// `sql_hash_cache_ttl`: recent matches, not hashed again (`None`: off).
    matches: Option<MatchMemo>,
    /// Rows (credentials) one login may have (`--max-credentials`).
    max_credentials: usize,
}

/// One server and when it last failed.
struct Server {
    label: String,
    host: Option<config::Host>,
    /// Built on first use: sqlx pools need the Tokio runtime, which the daemon starts only
    /// after the mechanism is built (and after daemonizing).
    pool: OnceLock<ServerPool>,
    down_until: Mutex<Option<Instant>>,
}

impl Server {
    fn new(label: String, host: Option<config::Host>) -> Self {
        Server { label, host, pool: OnceLock::new(), down_until: Mutex::new(None) }
    }

    fn pool(&self, config: &SqlConfig) -> &ServerPool {
        self.pool.get_or_init(|| ServerPool::new(config, self.host.as_ref()))
    }

    fn is_down(&self, now: Instant) -> bool {
        self.down_until.lock().map(|d| d.is_some_and(|until| until > now)).unwrap_or(false)
    }

    fn mark(&self, down_until: Option<Instant>) {
        if let Ok(mut d) = self.down_until.lock() {
            if d.is_some() && down_until.is_none() {
                tracing::info!(server = %self.label, "sql server answers again");
            }
            *d = down_until;
        }
    }
}

impl Sql {
    /// Build from `-O FILE`. Servers are not contacted here: one that is down at start-up
    /// costs tempfails until it is back, not a daemon that refuses to start.
    pub fn new(options: &MechanismOptions) -> Result<Self, MechanismError> {
        let path = options.option.as_deref().ok_or(MechanismError::MissingOption {
            mechanism: "sql",
            what: "a configuration file as -O FILE",
        })?;
        let bad = |reason: String| MechanismError::BadOption { mechanism: "sql", reason };
        let conf = ConfFile::read(Path::new(path)).map_err(|e| bad(e.to_string()))?;
        let config = SqlConfig::from_conf(&conf).map_err(|e| bad(e.to_string()))?;
        let mut sql = Self::from_config(config, options.pool.clone()).map_err(|e| bad(e.to_string()))?;
        sql.max_credentials = options.max_credentials;
        Ok(sql)
    }

    /// Build from a checked configuration.
    pub fn from_config(config: SqlConfig, pool: BlockingPool) -> Result<Self, crate::secret::KeyError> {
        let servers = if config.hosts.is_empty() {
            vec![Server::new(config.database.clone(), None)]
        } else {
            config.hosts.iter().map(|h| Server::new(h.to_string(), Some(h.clone()))).collect()
        };
        let matches = MatchMemo::new(config.hash_cache_ttl)?;
        Ok(Sql { servers, config, pool, matches, max_credentials: credential::MAX_CREDENTIALS })
    }

    /// The stored value for `creds`, from the first server that answers.
    async fn lookup(&self, creds: &Credentials) -> Result<Found, String> {
        let c = &self.config;
        let realm = if creds.realm.is_empty() { &c.default_realm } else { &creds.realm };
        let params =
            c.select.bind_values(&MacroValues { login: &creds.login, realm, service: &creds.service });
        let now = Instant::now();
        // Servers that failed recently go last, so that when all are down each is still tried
        // (that is how a recovered server is noticed) but a live one is never kept waiting.
        let (up, down): (Vec<&Server>, Vec<&Server>) = self.servers.iter().partition(|s| !s.is_down(now));
        let mut last_error = String::from("no server");
        for server in up.into_iter().chain(down) {
            let result = tokio::time::timeout(
                c.timeout,
                server.pool(c).lookup(c.select.sql(), &params, self.max_credentials),
            )
            .await;
            match result {
                Ok(Ok(found)) => {
                    server.mark(None);
                    return Ok(found);
                }
                Ok(Err(e)) => {
                    let hint = mysql_auth::hint(&e, c.passwd.is_some());
                    last_error = format!("{}: {e}{hint}", server.label);
                }
                Err(_) => last_error = format!("{}: no answer within {:?}", server.label, c.timeout),
            }
            tracing::warn!(server = %server.label, "sql lookup failed: {}", LogSafe(last_error.as_bytes()));
            server.mark(Some(Instant::now() + c.retry_interval));
        }
        Err(last_error)
    }
}

impl Verifier for Sql {
    fn name(&self) -> &'static str {
        "sql"
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(async move {
            let rows = match self.lookup(creds).await {
                Ok(Found::Rows(rows)) => rows,
                Ok(Found::Nothing) => return Outcome::No(Reject::InvalidUsername),
                Ok(Found::TooMany) => {
                    // A data error, not a wrong password: decided without hashing anything.
                    let reason = format!(
                        "sql_select gave more than {} rows (--max-credentials)",
                        self.max_credentials
                    );
                    tracing::error!(user = %LogSafe(creds.login.as_bytes()), "{reason}");
                    return Outcome::Unavailable(reason);
                }
                Err(e) => return Outcome::Unavailable(e),
            };
            let stored: Vec<Stored> = rows
                .into_iter()
                .enumerate()
                .map(|(n, row)| Stored::from_row(n + 1, row, &creds.login))
                .collect();
            let today = credential::today();
            if let Some(matches) = &self.matches {
                let request = Request::new(creds, today);
                for s in stored.iter().filter(|s| s.scope.admits(&request).is_ok()) {
                    if matches.recalls(&matches.tag(s.hash.as_bytes(), &creds.password)) {
                        return credential::success(&s.scope);
                    }
                }
            }
            let form = match self.config.scheme {
                DefaultScheme::Crypt => Form::CryptOrBraced,
                DefaultScheme::Plain => Form::PlainOrBraced,
            };
            let request = creds.clone();
            let checked = self
                .pool
                .run(move || {
                    let candidates: Vec<Candidate<'_>> = stored
                        .iter()
                        .map(|s| Candidate { stored: s.hash.as_bytes(), scope: &s.scope })
                        .collect();
                    let origin = Origin { mechanism: "sql", user: &request.login };
                    let (outcome, index) = credential::check(&candidates, &request, today, form, origin);
                    (outcome, index.and_then(|i| stored.into_iter().nth(i)))
                })
                .await;
            match checked {
                Ok((outcome, matched)) => {
                    if let (Some(matches), Some(matched)) = (&self.matches, matched) {
                        matches.remember(matches.tag(matched.hash.as_bytes(), &creds.password));
                    }
                    outcome
                }
                Err(e) => Outcome::Unavailable(e.to_string()),
            }
        })
    }

    fn forget(&self) -> usize {
        self.matches.as_ref().map_or(0, MatchMemo::clear)
    }
}

/// One row as a credential.
struct Stored {
    hash: Zeroizing<String>,
    scope: Scope,
}

impl Stored {
    /// Row `number` (from 1) of `login`'s. A row that cannot be a credential (its first column
    /// NULL or not text, a scope column unusable) stays in the list, so positions in the log
    /// match the rows, but with an empty value that never matches, and a warning.
    fn from_row(number: usize, row: FoundRow, login: &str) -> Stored {
        let user = LogSafe(login.as_bytes());
        let hash = match row.value {
            Value::Text(hash) => hash,
            other => {
                tracing::warn!(%user, "sql_select row {number}: first column is {other:?}, not a stored password");
                Zeroizing::new(String::new())
            }
        };
        match row.scope {
            Ok(scope) => Stored { hash, scope },
            Err(why) => {
                tracing::warn!(%user, "sql_select row {number}: {why}; the row admits no login");
                Stored { hash: Zeroizing::new(String::new()), scope: Scope::default() }
            }
        }
    }
}

impl crate::Memory for Sql {
    fn stats(&self) -> Option<(&'static str, crate::expiring::Stats)> {
        self.matches.as_ref().map(|memo| ("matched_hash", memo.stats()))
    }
}

#[cfg(test)]
mod tests;
