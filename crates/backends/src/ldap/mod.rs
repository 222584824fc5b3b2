//! The `ldap` mechanism: Cyrus's `-a ldap`, configured by `saslauthd.conf` (`-O`, reference §3.4).
//!
//! Methods: `bind` (search for exactly one entry as the service account, then bind as it),
//! `custom` (read the password attribute, check it locally), `fastbind` (bind to the DN made
//! from `ldap_filter`). User binds run on their own connections, never used for searches, so a
//! search can never run with a user's rights; each is closed after its bind, so that the request
//! holding the password does not stay in its buffer (the user-bind pool bounds how many are open). Replies are `OK` or a bare `NO`
//! as from Cyrus; a server that cannot be reached or answers with an error that says nothing
//! about the credentials is a tempfail, after one retry on a fresh connection.

pub mod config;
mod dn_cache;
mod pool;
pub mod syntax;
mod tls;
pub mod tokens;

use crate::conf_file::ConfFile;
use crate::hash::memo::MatchMemo;
use crate::hash::{self, Form, Origin};
use crate::log_safe::LogSafe;
use crate::{
    BlockingPool, Credentials, MechanismError, MechanismOptions, Outcome, Reject, Verifier, VerifyFuture,
};
use config::{AuthMethod, Deref, GroupMatch, LdapConfig, Scope};
use dn_cache::DnCache;
use ldap3::adapters::{Adapter, EntriesOnly};
use ldap3::{DerefAliases, SearchEntry, SearchOptions};
use pool::{Connector, Pool, PoolError};
use std::path::Path;
use std::sync::Arc;
use tokens::{Target, Values, expand};
use zeroize::Zeroizing;

/// Where Cyrus reads the config when `-O` is not given.
pub const DEFAULT_CONF: &str = "/etc/saslauthd.conf";

/// The `ldap` verifier.
pub struct Ldap {
    config: Arc<LdapConfig>,
    /// Bound as the service account (or anonymous): searches, compares.
    search: Pool,
    /// Used only for user binds.
    users: Pool,
    /// `ldap_dn_cache_ttl`: DNs found by earlier successful logins (`None`: off).
    dns: Option<DnCache>,
    /// `ldap_hash_cache_ttl`: stored values that recently matched (`None`: off).
    matches: Option<MatchMemo>,
    blocking: BlockingPool,
}

/// How one attempt ended without an answer.
enum Failure {
    /// Worth one more try on a fresh connection (I/O error, timeout, busy server).
    Retry(String),
    /// No point retrying (no server reachable, service bind refused).
    Unavailable(String),
}

/// An attempt's result: `Ok(Ok(()))` accepted, `Ok(Err(why))` refused.
type Attempt = Result<Result<(), String>, Failure>;

impl Ldap {
    /// Read and check the config file named by `-O` (default [`DEFAULT_CONF`]).
    pub fn new(options: &MechanismOptions) -> Result<Self, MechanismError> {
        let bad = |reason: String| MechanismError::BadOption { mechanism: "ldap", reason };
        let path = options.option.as_deref().unwrap_or(DEFAULT_CONF);
        let conf = ConfFile::read(Path::new(path)).map_err(|e| bad(e.to_string()))?;
        let config = LdapConfig::from_conf(&conf).map_err(|e| bad(e.to_string()))?;
        let wants_tls =
            config.start_tls || config.servers.iter().any(|s| s.to_ascii_lowercase().starts_with("ldaps://"));
        let tls = if wants_tls {
            Some(
                tls::client_config(&config.tls)
                    .map_err(|(key, reason)| bad(conf.bad_value(key, reason).to_string()))?,
            )
        } else {
            None
        };
        let connector = Arc::new(Connector::new(
            config.servers.clone(),
            config.timeout,
            config.start_tls,
            tls,
            !config.tls.check_peer,
            config.failback,
        ));
        let service = (!config.bind_dn.is_empty()).then(|| (config.bind_dn.clone(), config.bind_pw.clone()));
        Ok(Self {
            search: Pool::new(connector.clone(), config.pool_size, service, config.timeout),
            users: Pool::new(connector, config.pool_size, None, config.timeout),
            dns: DnCache::new(config.dn_cache_ttl),
            matches: MatchMemo::new(config.hash_cache_ttl).map_err(|e| bad(e.to_string()))?,
            config: Arc::new(config),
            blocking: options.pool.clone(),
        })
    }

    async fn check(&self, creds: &Credentials, password: &str) -> Outcome {
        let mut last = String::new();
        for _ in 0..2 {
            match self.attempt(creds, password).await {
                Ok(Ok(())) => return Outcome::Ok,
                Ok(Err(why)) => {
                    tracing::debug!(
                        "Authentication failed for {}: {}",
                        LogSafe(creds.login.as_bytes()),
                        LogSafe(why.as_bytes())
                    );
                    return Outcome::No(Reject::Bare);
                }
                Err(Failure::Unavailable(why)) => return Outcome::Unavailable(why),
                Err(Failure::Retry(why)) => last = why,
            }
        }
        Outcome::Unavailable(last)
    }

    async fn attempt(&self, creds: &Credentials, password: &str) -> Attempt {
        let c = &self.config;
        let realm = if creds.realm.is_empty() { c.default_realm.as_str() } else { creds.realm.as_str() };
        let values = Values { login: &creds.login, service: &creds.service, realm, user_dn: None };
        let user_dn = match c.auth_method {
            AuthMethod::Fastbind => {
                let dn = expand(&c.filter, &values, Target::Dn);
                if let Err(why) = self.user_bind(&dn, password).await? {
                    return Ok(Err(why));
                }
                dn
            }
            AuthMethod::Bind => match self.search_and_bind(&values, password).await? {
                Ok(dn) => dn,
                Err(why) => return Ok(Err(why)),
            },
            AuthMethod::Custom => {
                let (base, filter) = self.user_search(&values);
                let entry = match self.find_user(&base, &filter, &c.password_attr).await? {
                    Ok(entry) => entry,
                    Err(why) => return Ok(Err(why)),
                };
                if let Err(why) = self.compare_password(&entry, &creds.login, password).await? {
                    return Ok(Err(why));
                }
                entry.dn
            }
        };
        if c.group.is_some() {
            let values = Values { user_dn: Some(&user_dn), ..values };
            return self.check_group(&values).await;
        }
        Ok(Ok(()))
    }

    /// `ldap_auth_method: bind`: the user's DN once a bind as it with `password` succeeded.
    /// With `ldap_dn_cache_ttl`, a DN found by an earlier login is tried first, without a search.
    async fn search_and_bind(
        &self,
        values: &Values<'_>,
        password: &str,
    ) -> Result<Result<String, String>, Failure> {
        let (base, filter) = self.user_search(values);
        let mut refused = None;
        if let Some(dns) = &self.dns
            && let Some(dn) = dns.get(&base, &filter)
        {
            match self.user_bind(&dn, password).await? {
                Ok(()) => return Ok(Ok(dn)),
                // The entry may have moved (a server refuses a bind to a missing DN as it
                // refuses a wrong password): only a fresh search can tell.
                Err(why) => refused = Some((dn, why)),
            }
            dns.remove(&base, &filter);
        }
        let dn = match self.find_user(&base, &filter, "1.1").await? {
            Ok(entry) => entry.dn,
            Err(why) => return Ok(Err(why)),
        };
        // Same entry, same password: the server's answer is already known.
        if let Some((old, why)) = refused
            && old == dn
        {
            return Ok(Err(why));
        }
        if let Err(why) = self.user_bind(&dn, password).await? {
            return Ok(Err(why));
        }
        if let Some(dns) = &self.dns {
            dns.insert(&base, &filter, &dn);
        }
        Ok(Ok(dn))
    }

    /// The search base and filter that find the user's entry.
    fn user_search(&self, values: &Values<'_>) -> (String, String) {
        let c = &self.config;
        (expand(&c.search_base, values, Target::Dn), expand(&c.filter, values, Target::Filter))
    }

    /// Search (as the service account) for exactly one entry matching `ldap_filter`.
    async fn find_user(
        &self,
        base: &str,
        filter: &str,
        attr: &str,
    ) -> Result<Result<SearchEntry, String>, Failure> {
        // Size limit 2: one entry more than we accept is enough to see a duplicate.
        let found = self.search(base, self.config.scope, filter, attr, 2).await?;
        let (mut entries, more) = match found {
            Ok(found) => found,
            Err(why) => return Ok(Err(why)),
        };
        if more || entries.len() > 1 {
            return Ok(Err(format!("{filter} matched more than one entry")));
        }
        Ok(entries.pop().ok_or_else(|| format!("no entry for {filter} under {base:?}")))
    }

    /// A search on a service connection: the entries and whether the size limit cut more off;
    /// `Ok(Err)` for answers that mean "no such user".
    async fn search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attr: &str,
        size_limit: i32,
    ) -> Result<Result<(Vec<SearchEntry>, bool), String>, Failure> {
        let c = &self.config;
        let mut conn = self.search.get().await.map_err(pool_failure)?;
        let options =
            SearchOptions::new().sizelimit(size_limit).timelimit(c.time_limit).deref(deref(c.deref));
        let scope = match scope {
            Scope::Base => ldap3::Scope::Base,
            Scope::One => ldap3::Scope::OneLevel,
            Scope::Sub => ldap3::Scope::Subtree,
        };
        let adapters: Vec<Box<dyn Adapter<'_, &str, Vec<&str>>>> = vec![Box::new(EntriesOnly::new())];
        let result = conn
            .ldap
            .with_timeout(c.timeout)
            .with_search_options(options)
            .streaming_search_with(adapters, base, scope, filter, vec![attr])
            .await;
        let mut stream = match result {
            Ok(stream) => stream,
            Err(e) => return Err(Failure::Retry(format!("search: {e}"))),
        };
        let mut raw = Vec::new();
        loop {
            match stream.next().await {
                Ok(Some(entry)) => raw.push(entry),
                Ok(None) => break,
                Err(e) => return Err(Failure::Retry(format!("search: {e}"))),
            }
        }
        let done = stream.finish().await;
        self.search.put(conn);
        let entries = raw
            .into_iter()
            .map(|e| {
                // construct() panics on malformed entries; a bad server must not kill a worker.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(e)))
                    .map_err(|_| Failure::Retry("malformed search entry".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match done.rc {
            0 => Ok(Ok((entries, false))),
            // sizeLimitExceeded: more entries than asked for.
            4 => Ok(Ok((entries, true))),
            32 => Ok(Err(format!("search base {base:?} does not exist"))),
            rc => Err(Failure::Retry(format!("search: rc={rc} {}", done.text))),
        }
    }

    /// Bind as `dn` on a user connection; `Ok(Err)` when the server refuses the credentials.
    async fn user_bind(&self, dn: &str, password: &str) -> Result<Result<(), String>, Failure> {
        if dn.is_empty() {
            return Ok(Err("empty bind DN".into()));
        }
        let mut conn = self.users.get().await.map_err(pool_failure)?;
        let result = conn.ldap.with_timeout(self.config.timeout).simple_bind(dn, password).await;
        let result = match result {
            Ok(r) => r,
            Err(e) => return Err(Failure::Retry(format!("bind: {e}"))),
        };
        // Not pooled by default: its write buffer still holds the bind request, password
        // included, and only closing the connection frees (and so wipes) it. This costs a TCP
        // connection (and a TLS handshake, where used) per user bind; `ldap_reuse_bind_connections`
        // trades the wipe for that cost.
        if self.config.reuse_bind_connections {
            self.users.put(conn);
        } else {
            self.users.close(conn).await;
        }
        match result.rc {
            0 => Ok(Ok(())),
            // invalidCredentials, insufficientAccess, invalidDNSyntax, other (lak.c), plus
            // inappropriateAuthentication and unwillingToPerform (disabled accounts).
            49 | 50 | 34 | 80 | 48 | 53 | 32 => {
                Ok(Err(format!("bind as {dn:?}: rc={} {}", result.rc, result.text)))
            }
            rc => Err(Failure::Retry(format!("bind: rc={rc} {}", result.text))),
        }
    }

    /// `custom`: check `password` against every value of the entry's password attribute.
    async fn compare_password(
        &self,
        entry: &SearchEntry,
        user: &str,
        password: &str,
    ) -> Result<Result<(), String>, Failure> {
        let attr = &self.config.password_attr;
        let mut stored: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for (name, values) in &entry.attrs {
            if name.eq_ignore_ascii_case(attr) {
                stored.extend(values.iter().map(|v| Zeroizing::new(v.as_bytes().to_vec())));
            }
        }
        for (name, values) in &entry.bin_attrs {
            if name.eq_ignore_ascii_case(attr) {
                stored.extend(values.iter().map(|v| Zeroizing::new(v.clone())));
            }
        }
        if stored.is_empty() {
            return Ok(Err(format!("{} has no readable {attr}", entry.dn)));
        }
        // Tagged before the check: `stored` moves to the blocking pool.
        let memo = self.matches.as_ref().map(|m| {
            let tags: Vec<_> = stored.iter().map(|value| m.tag(value, password.as_bytes())).collect();
            (m, tags)
        });
        if let Some((matches, tags)) = &memo
            && tags.iter().any(|tag| matches.recalls(tag))
        {
            return Ok(Ok(()));
        }
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let login = user.to_owned();
        let matched = self
            .blocking
            .run(move || {
                // Cyrus's `custom`: `{SCHEME}` values by their scheme, others as cleartext.
                let origin = Origin { mechanism: "ldap", user: &login };
                hash::check_candidates(
                    stored.iter().map(|v| v.as_slice()),
                    &password,
                    Form::PlainOrBraced,
                    origin,
                )
            })
            .await
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        match matched {
            Some(index) => {
                if let Some((matches, tags)) = &memo
                    && let Some(tag) = tags.get(index)
                {
                    matches.remember(*tag);
                }
                Ok(Ok(()))
            }
            None => Ok(Err(format!("{attr} does not match"))),
        }
    }

    async fn check_group(&self, values: &Values<'_>) -> Attempt {
        let Some(group) = &self.config.group else { return Ok(Ok(())) };
        match group.method {
            GroupMatch::Attr => {
                let dn = expand(&group.dn, values, Target::Dn);
                let user_dn = values.user_dn.unwrap_or("");
                let mut conn = self.search.get().await.map_err(pool_failure)?;
                let result =
                    conn.ldap.with_timeout(self.config.timeout).compare(&dn, &group.attr, user_dn).await;
                let result = result.map_err(|e| Failure::Retry(format!("compare: {e}")))?;
                self.search.put(conn);
                match result.0.rc {
                    6 => Ok(Ok(())),
                    5 => Ok(Err(format!("not in {dn:?}"))),
                    32 | 16 => Ok(Err(format!("group {dn:?} or its {} does not exist", group.attr))),
                    rc => Err(Failure::Retry(format!("compare: rc={rc} {}", result.0.text))),
                }
            }
            GroupMatch::Filter => {
                let base = expand(&group.search_base, values, Target::Dn);
                let filter = expand(&group.filter, values, Target::Filter);
                match self.search(&base, group.scope, &filter, "1.1", 1).await? {
                    Ok((entries, more)) if more || !entries.is_empty() => Ok(Ok(())),
                    Ok(_) => Ok(Err(format!("no group matches {filter}"))),
                    Err(why) => Ok(Err(why)),
                }
            }
        }
    }
}

fn deref(d: Deref) -> DerefAliases {
    match d {
        Deref::Never => DerefAliases::Never,
        Deref::Search => DerefAliases::Searching,
        Deref::Find => DerefAliases::Finding,
        Deref::Always => DerefAliases::Always,
    }
}

fn pool_failure(e: PoolError) -> Failure {
    match e {
        PoolError::Unavailable(why) => Failure::Unavailable(why),
    }
}

impl Verifier for Ldap {
    fn name(&self) -> &'static str {
        "ldap"
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(async move {
            // RFC 4513 §5.1.2: an empty password is an unauthenticated bind, which "succeeds".
            if creds.password.is_empty() {
                return Outcome::No(Reject::Bare);
            }
            let Ok(password) = std::str::from_utf8(&creds.password) else {
                tracing::debug!(
                    "Authentication failed for {}: password is not UTF-8",
                    LogSafe(creds.login.as_bytes())
                );
                return Outcome::No(Reject::Bare);
            };
            self.check(creds, password).await
        })
    }

    fn forget(&self) -> usize {
        self.dns.as_ref().map_or(0, DnCache::clear) + self.matches.as_ref().map_or(0, MatchMemo::clear)
    }
}

impl crate::Memory for Ldap {
    fn stats(&self) -> Option<(&'static str, crate::expiring::Stats)> {
        // At most one is on: each belongs to another ldap_auth_method.
        let dns = self.dns.as_ref().map(|dns| ("dn", dns.stats()));
        dns.or_else(|| self.matches.as_ref().map(|memo| ("matched_hash", memo.stats())))
    }
}
