//! The `sql` mechanism: stored hashes read straight from MySQL/MariaDB, PostgreSQL or SQLite.
//!
//! `-O FILE` names a file in Cyrus's `saslauthd.conf` syntax with the keys of libsasl's sql
//! plugin ([`config`]). The `sql_select` runs as a prepared statement ([`query`]); the first
//! column of the single row is checked with [`crate::hash`]. Servers in `sql_hostnames` are tried
//! in order; a server that fails is skipped for `sql_retry_interval` while another remains, and
//! when none answers the request is a tempfail ([`Outcome::Unavailable`]), never a `NO`.

pub mod config;
pub mod engine;
pub mod lex;
pub mod mysql_auth;
pub mod query;

use crate::conf_file::ConfFile;
use crate::hash::memo::MatchMemo;
use crate::hash::{self, Form, Origin, Verdict};
use crate::log_safe::LogSafe;
use crate::{
    BlockingPool, Credentials, MechanismError, MechanismOptions, Outcome, Reject, Verifier, VerifyFuture,
};
use config::{DefaultScheme, SqlConfig};
use engine::{Found, ServerPool};
use query::MacroValues;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// The `sql` verifier.
pub struct Sql {
    servers: Vec<Server>,
    config: SqlConfig,
    pool: BlockingPool,
    /// `sql_hash_cache_ttl`: recent matches, not hashed again (`None`: off).
    matches: Option<MatchMemo>,
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
        Self::from_config(config, options.pool.clone()).map_err(|e| bad(e.to_string()))
    }

    /// Build from a checked configuration.
    pub fn from_config(config: SqlConfig, pool: BlockingPool) -> Result<Self, crate::secret::KeyError> {
        let servers = if config.hosts.is_empty() {
            vec![Server::new(config.database.clone(), None)]
        } else {
            config.hosts.iter().map(|h| Server::new(h.to_string(), Some(h.clone()))).collect()
        };
        let matches = MatchMemo::new(config.hash_cache_ttl)?;
        Ok(Sql { servers, config, pool, matches })
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
            let result =
                tokio::time::timeout(c.timeout, server.pool(c).lookup(c.select.sql(), &params)).await;
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
            let stored = match self.lookup(creds).await {
                Ok(Found::One(stored)) => stored,
                Ok(Found::Nothing) => return Outcome::No(Reject::InvalidUsername),
                Ok(other) => {
                    tracing::warn!(user = %LogSafe(creds.login.as_bytes()), "sql_select gave {other:?} instead of one row with a text value");
                    return Outcome::No(Reject::IncorrectPassword);
                }
                Err(e) => return Outcome::Unavailable(e),
            };
            // Tagged before the check: `stored` moves to the blocking pool.
            let memo = self.matches.as_ref().map(|m| (m, m.tag(stored.as_bytes(), &creds.password)));
            if let Some((matches, tag)) = &memo
                && matches.recalls(tag)
            {
                return Outcome::Ok;
            }
            let (password, login) = (creds.password.clone(), creds.login.clone());
            let form = match self.config.scheme {
                DefaultScheme::Crypt => Form::CryptOrBraced,
                DefaultScheme::Plain => Form::PlainOrBraced,
            };
            let checked = self
                .pool
                .run(move || {
                    hash::check_stored(
                        stored.as_bytes(),
                        &password,
                        form,
                        Origin { mechanism: "sql", user: &login },
                    )
                })
                .await;
            match checked {
                Ok(Verdict::Match(_)) => {
                    if let Some((matches, tag)) = memo {
                        matches.remember(tag);
                    }
                    Outcome::Ok
                }
                Ok(Verdict::Mismatch(_) | Verdict::Unusable) => Outcome::No(Reject::IncorrectPassword),
                Err(e) => Outcome::Unavailable(e.to_string()),
            }
        })
    }

    fn forget(&self) -> usize {
        self.matches.as_ref().map_or(0, MatchMemo::clear)
    }
}

impl crate::Memory for Sql {
    fn stats(&self) -> Option<(&'static str, crate::expiring::Stats)> {
        self.matches.as_ref().map(|memo| ("matched_hash", memo.stats()))
    }
}

#[cfg(test)]
mod tests;
