//! Step "policy", the credential cache (`-c`): remembered successes answer `OK` without asking
//! the backend again.
//!
//! What it keeps, per account ([`crate::account`]: the login folded, the realm ignored): up to
//! [`SCOPES_PER_USER`] entries, each a
//! keyed hash ([`backends::secret`]) over mechanism, service, realm, login and password, with the
//! time it was stored — never the password, never a plain digest. An entry answers only a
//! request with the same five values, so two mechanisms, services or realms never share one.
//!
//! Where it improves on Cyrus (reference §4, Cyrus's `cache.c`; documented in saslauthd(8)):
//! * A `NO` from the backend drops every entry of that user at once, so after a password
//!   change the old password stops working at the first failed attempt, not after the TTL.
//! * A success with a new password ends the old one everywhere: it replaces the entry of the old
//!   password in its own scope, and drops the user's entries of any other password in every
//!   other service and realm. Each entry carries a keyed tag of (account, password) alone, so entries
//!   of one password are told from another's without keeping either. Cyrus keys its cache on
//!   (login, realm, service) and overwrites only that bucket, so the old password keeps
//!   answering `OK` on the other services until their TTL.
//! * Optionally, failures are remembered for a short negative TTL (off by default), in a table
//!   of their own with its own bound: failures for made-up users can never push a real user's
//!   remembered success out (which would turn that user's next login during a backend outage
//!   into a tempfail).
//!
//! Built on [`backends::expiring`], the table the mechanisms' memories and the penalties use:
//! its TTL follows tokio's clock so tests can pause and advance it, and eviction is by user, one
//! record per user. Successes (`-t`) and failures (the negative TTL) live in two tables, each
//! with the room `-s` buys.

use crate::account::account;
use backends::expiring::Expiring;
use backends::secret::{Keyer, Tag};
use backends::{Credentials, Reject};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Bytes Cyrus gives one cache bucket on x86-64 (reference §4: "bucket size: 96 bytes"); `-s`
/// KiB buys as many users here as buckets there.
pub const CYRUS_BUCKET_BYTES: u64 = 96;

/// Cyrus's default table: 1711 slots of 6 buckets (reference §4).
pub const DEFAULT_USERS: usize = 1711 * 6;

/// Cyrus's default `-t`: 8 hours.
pub const DEFAULT_TTL: Duration = Duration::from_secs(28_800);

/// Distinct (mechanism, service) scopes remembered per user; a user logging in to more
/// services than this at once loses the oldest entry, which costs one backend call.
pub const SCOPES_PER_USER: usize = 4;

/// Cache settings.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Users remembered at most (least recently used go first); the failures of the negative
    /// TTL have a table of their own with as many users.
    pub users: NonZeroUsize,
    /// How long a success answers for, counted from when it was stored (`-t`).
    pub ttl: Duration,
    /// How long a failure answers for; `None` (the default) never caches failures.
    pub negative_ttl: Option<Duration>,
}

impl CacheConfig {
    /// Settings from Cyrus's `-s KiB` (None: Cyrus's default table) and `-t` seconds.
    pub fn from_cyrus(size_kib: Option<u64>, ttl_secs: Option<u64>) -> Self {
        let users = size_kib
            .map(|kib| usize::try_from(kib.saturating_mul(1024) / CYRUS_BUCKET_BYTES).unwrap_or(usize::MAX))
            .and_then(NonZeroUsize::new)
            .unwrap_or(NonZeroUsize::MIN.saturating_add(DEFAULT_USERS - 1));
        let ttl = ttl_secs.map_or(DEFAULT_TTL, Duration::from_secs);
        Self { users, ttl, negative_ttl: None }
    }
}

/// What the cache knows about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A stored success: answer `OK` without the backend.
    Ok,
    /// A stored failure (negative TTL only): answer `NO` with this reason.
    No(Reject),
    /// Ask the backend.
    Miss,
}

/// The cache. Shared by all connections; the lock is held for a map operation only.
#[derive(Debug)]
pub struct Cache {
    keyer: Keyer,
    config: CacheConfig,
    /// Successes, per user.
    users: Expiring<Tag, Vec<Entry>>,
    /// Failures (negative TTL only), per user: never in `users`, so they cannot evict a success.
    failures: Expiring<Tag, Vec<Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    superseded: AtomicU64,
}

/// What the cache did since start (for the metrics endpoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that went to the mechanism.
    pub misses: u64,
    /// Users dropped, least recently used first, to make room for another.
    pub evictions: u64,
    /// Users dropped because the mechanism refused one of their passwords.
    pub invalidations: u64,
    /// Entries of an old password dropped because the user logged in with a new one.
    pub superseded: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Mechanism, service, realm, login: which entry a new success replaces.
    scope: Tag,
    /// The same plus the password: what a request must match.
    proof: Tag,
    /// Realm, login and password only: which entries a success with another password ends.
    password: Tag,
    stored: Instant,
    verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    No(Reject),
}

/// The four tags of one request.
struct Keys {
    user: Tag,
    scope: Tag,
    proof: Tag,
    password: Tag,
}

impl Cache {
    /// An empty cache keyed with `keyer`.
    pub fn new(keyer: Keyer, config: CacheConfig) -> Self {
        // A user's record outlives none of its entries. Nothing is allocated up front: `-s`
        // accepts sizes far beyond what a daemon ever fills.
        let negative_ttl = config.negative_ttl.unwrap_or(Duration::ZERO);
        Self {
            keyer,
            config,
            users: Expiring::bounded(config.ttl, config.users),
            failures: Expiring::bounded(negative_ttl, config.users),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            superseded: AtomicU64::new(0),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> CacheConfig {
        self.config
    }

    fn keys(&self, mech: &str, creds: &Credentials) -> Keys {
        let (login, realm, service) =
            (creds.login.as_bytes(), creds.realm.as_bytes(), creds.service.as_bytes());
        let mech = mech.as_bytes();
        let account = account(&creds.login);
        Keys {
            user: self.keyer.tag("cache-user", &[account.as_bytes()]),
            scope: self.keyer.tag("cache-scope", &[mech, service, realm, login]),
            proof: self.keyer.tag("cache-proof", &[mech, service, realm, login, &creds.password]),
            password: self.keyer.tag("cache-password", &[account.as_bytes(), &creds.password]),
        }
    }

    /// Look `creds` up for mechanism (or chain) `mech`.
    pub fn lookup(&self, mech: &str, creds: &Credentials) -> Lookup {
        // Only the user and proof tags: the scope tag matters to storing, and the hit path is
        // the one the cache exists for.
        let (login, realm) = (creds.login.as_bytes(), creds.realm.as_bytes());
        let user = self.keyer.tag("cache-user", &[account(&creds.login).as_bytes()]);
        let proof = self
            .keyer
            .tag("cache-proof", &[mech.as_bytes(), creds.service.as_bytes(), realm, login, &creds.password]);
        let now = Instant::now();
        let look = |entries: &Vec<Entry>| {
            entries.iter().find(|e| e.proof.matches(&proof) && self.fresh(e, now)).map(|e| e.verdict)
        };
        let found = self.users.find(&user, look).or_else(|| {
            // Without a negative TTL the failures table stays empty: skip the second lock then.
            self.config.negative_ttl.is_some().then(|| self.failures.find(&user, look)).flatten()
        });
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        match found {
            Some(Verdict::Ok) => Lookup::Ok,
            Some(Verdict::No(reject)) => Lookup::No(reject),
            None => Lookup::Miss,
        }
    }

    fn fresh(&self, entry: &Entry, now: Instant) -> bool {
        // `-t` takes any u64: a TTL past the end of time never expires instead of overflowing.
        entry.stored.checked_add(self.ttl(entry.verdict)).is_none_or(|end| now < end)
    }

    fn ttl(&self, verdict: Verdict) -> Duration {
        match verdict {
            Verdict::Ok => self.config.ttl,
            Verdict::No(_) => self.config.negative_ttl.unwrap_or(Duration::ZERO),
        }
    }

    /// The backend said `OK`: remember it. Entries of any other password of this user, in
    /// every service, are dropped (a new password ends the old one everywhere), and so are the
    /// user's remembered failures.
    pub fn store_success(&self, mech: &str, creds: &Credentials) {
        let keys = self.keys(mech, creds);
        let mut superseded = 0u64;
        let entry = Entry {
            scope: keys.scope,
            proof: keys.proof,
            password: keys.password,
            stored: Instant::now(),
            verdict: Verdict::Ok,
        };
        self.users.update(keys.user, |entries| {
            let before = entries.len();
            entries.retain(|e| e.password.matches(&keys.password));
            superseded = u64::try_from(before - entries.len()).unwrap_or(u64::MAX);
            // The same password's entry in this scope is replaced by the fresh one.
            entries.retain(|e| !e.scope.matches(&keys.scope));
            keep_room(entries);
            entries.push(entry);
        });
        self.superseded.fetch_add(superseded, Ordering::Relaxed);
        // The user just showed the right password: remembered failures of theirs have done
        // their job (and one of them might be of this very password, changed meanwhile).
        if self.config.negative_ttl.is_some() {
            self.failures.remove(&keys.user);
        }
    }

    /// The backend said `NO`: forget every success of this user (a changed password stops the
    /// old one now), and remember the failure if a negative TTL is set.
    pub fn store_failure(&self, mech: &str, creds: &Credentials, reject: Reject) {
        let keys = self.keys(mech, creds);
        if self.users.remove(&keys.user) {
            self.invalidations.fetch_add(1, Ordering::Relaxed);
        }
        if self.config.negative_ttl.is_some_and(|t| !t.is_zero()) {
            let entry = Entry {
                scope: keys.scope,
                proof: keys.proof,
                password: keys.password,
                stored: Instant::now(),
                verdict: Verdict::No(reject),
            };
            self.failures.update(keys.user, |entries| {
                entries.retain(|e| !e.proof.matches(&keys.proof));
                keep_room(entries);
                entries.push(entry);
            });
        }
    }

    /// Forget everything (SIGUSR1); how many users' successes that was.
    pub fn flush(&self) -> usize {
        self.failures.clear();
        self.users.clear()
    }

    /// Users whose successes are remembered.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts since start.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.users.evictions(),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            superseded: self.superseded.load(Ordering::Relaxed),
        }
    }

    /// Forget every entry of one user (the control socket's `flush-cache USER`); `login` is the
    /// login as the cache saw it (after `-r` joined the realm) and `realm` the realm sent.
    /// Returns whether the user had entries. The cache keeps only keyed tags of names, so the
    /// user is found by computing the same tag, through the same derivation as a request.
    pub fn flush_user(&self, login: &str, realm: &str) -> bool {
        let probe = Credentials {
            login: login.to_owned(),
            password: zeroize::Zeroizing::new(Vec::new()),
            service: String::new(),
            realm: realm.to_owned(),
            client_addr: None,
        };
        // The user tag does not depend on the mechanism or the password.
        let user = self.keys("", &probe).user;
        self.users.remove(&user)
    }
}

/// Before one more entry joins a user's record: drop the oldest if the record is full.
fn keep_room(entries: &mut Vec<Entry>) {
    if entries.len() >= SCOPES_PER_USER {
        entries.remove(0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use zeroize::Zeroizing;

    fn creds(login: &str, password: &str, service: &str, realm: &str) -> Credentials {
        Credentials {
            login: login.into(),
            password: Zeroizing::new(password.as_bytes().to_vec()),
            service: service.into(),
            realm: realm.into(),
            client_addr: None,
        }
    }

    fn cache(users: usize) -> Cache {
        let config = CacheConfig {
            users: NonZeroUsize::new(users).unwrap(),
            ttl: Duration::from_secs(100),
            negative_ttl: None,
        };
        Cache::new(Keyer::from_key(b"test").unwrap(), config)
    }

    #[test]
    fn size_and_ttl_follow_cyrus() {
        let c = CacheConfig::from_cyrus(None, None);
        assert_eq!((c.users.get(), c.ttl), (10_266, Duration::from_secs(28_800)));
        let c = CacheConfig::from_cyrus(Some(1), Some(60));
        assert_eq!((c.users.get(), c.ttl), (10, Duration::from_secs(60)));
        // Under one bucket's worth still caches something.
        assert_eq!(CacheConfig::from_cyrus(Some(0), None).users.get(), 10_266);
        // An absurd -s costs nothing until it fills: nothing is allocated up front.
        let huge = Cache::new(
            Keyer::from_key(b"k").unwrap(),
            CacheConfig::from_cyrus(Some(u64::MAX), Some(u64::MAX)),
        );
        huge.store_success("pam", &creds("joe", "pw", "smtp", ""));
        assert_eq!(huge.lookup("pam", &creds("joe", "pw", "smtp", "")), Lookup::Ok);
    }

    #[tokio::test(start_paused = true)]
    async fn hit_miss_and_ttl_expiry() {
        let c = cache(10);
        let joe = creds("joe", "pw", "smtp", "");
        assert_eq!(c.lookup("pam", &joe), Lookup::Miss);
        c.store_success("pam", &joe);
        assert_eq!(c.lookup("pam", &joe), Lookup::Ok);
        assert_eq!(c.lookup("pam", &creds("joe", "other", "smtp", "")), Lookup::Miss);
        tokio::time::advance(Duration::from_secs(99)).await;
        assert_eq!(c.lookup("pam", &joe), Lookup::Ok, "hits do not refresh; still inside the TTL");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(c.lookup("pam", &joe), Lookup::Miss, "expired at the TTL");
        assert_eq!((c.stats().hits, c.stats().misses), (2, 3));
    }

    #[test]
    fn entries_never_cross_mechanisms_services_realms_or_users() {
        let c = cache(10);
        let joe = creds("joe", "pw", "smtp", "a.org");
        c.store_success("pam", &joe);
        assert_eq!(c.lookup("pam", &joe), Lookup::Ok);
        assert_eq!(c.lookup("passwd-file", &joe), Lookup::Miss);
        assert_eq!(c.lookup("pam", &creds("joe", "pw", "imap", "a.org")), Lookup::Miss);
        assert_eq!(c.lookup("pam", &creds("joe", "pw", "smtp", "b.org")), Lookup::Miss);
        assert_eq!(c.lookup("pam", &creds("joe", "pw", "smtp", "")), Lookup::Miss);
        assert_eq!(c.lookup("pam", &creds("jo", "epw", "smtp", "a.org")), Lookup::Miss);
    }

    #[test]
    fn a_failure_evicts_every_entry_of_the_user_only() {
        let c = cache(10);
        let (smtp, imap, ann) = (
            creds("joe", "old", "smtp", ""),
            creds("joe", "old", "imap", ""),
            creds("ann", "pw", "smtp", ""),
        );
        for cr in [&smtp, &imap, &ann] {
            c.store_success("pam", cr);
        }
        c.store_failure("pam", &creds("joe", "wrong", "smtp", ""), Reject::PamAuth);
        assert_eq!(c.lookup("pam", &smtp), Lookup::Miss);
        assert_eq!(c.lookup("pam", &imap), Lookup::Miss);
        assert_eq!(c.lookup("pam", &ann), Lookup::Ok);
        assert_eq!(c.stats().invalidations, 1, "one user dropped");
        c.store_failure("pam", &creds("joe", "wrong", "smtp", ""), Reject::PamAuth);
        assert_eq!(c.stats().invalidations, 1, "nothing left to drop");
    }

    #[test]
    fn a_new_password_replaces_the_old_in_its_scope() {
        let c = cache(10);
        c.store_success("pam", &creds("joe", "old", "smtp", ""));
        c.store_success("pam", &creds("joe", "new", "smtp", ""));
        assert_eq!(c.lookup("pam", &creds("joe", "old", "smtp", "")), Lookup::Miss);
        assert_eq!(c.lookup("pam", &creds("joe", "new", "smtp", "")), Lookup::Ok);
    }

    #[test]
    fn a_new_password_ends_the_old_one_in_every_service() {
        let c = cache(10);
        for service in ["smtp", "imap", "pop3"] {
            c.store_success("pam", &creds("joe", "old", service, ""));
        }
        c.store_success("pam", &creds("ann", "old", "imap", ""));
        c.store_success("pam", &creds("joe", "new", "smtp", ""));
        for service in ["smtp", "imap", "pop3"] {
            assert_eq!(c.lookup("pam", &creds("joe", "old", service, "")), Lookup::Miss, "{service}");
        }
        assert_eq!(c.lookup("pam", &creds("joe", "new", "smtp", "")), Lookup::Ok);
        assert_eq!(c.lookup("pam", &creds("ann", "old", "imap", "")), Lookup::Ok, "another user's");
        assert_eq!(c.stats().superseded, 3);
        // The same password in another service joins, it does not supersede.
        c.store_success("pam", &creds("joe", "new", "imap", ""));
        assert_eq!(c.lookup("pam", &creds("joe", "new", "smtp", "")), Lookup::Ok);
        assert_eq!(c.lookup("pam", &creds("joe", "new", "imap", "")), Lookup::Ok);
        assert_eq!(c.stats().superseded, 3);
        // A new password in another realm (or spelling) of the login ends the old one too:
        // pam, shadow and passwd-file ignore the realm, so it is the same account.
        c.store_success("pam", &creds("Joe", "newer", "smtp", "b.org"));
        assert_eq!(c.lookup("pam", &creds("joe", "new", "imap", "")), Lookup::Miss);
        assert_eq!(c.lookup("pam", &creds("Joe", "newer", "smtp", "b.org")), Lookup::Ok);
        // Entries still answer only their own realm and spelling.
        assert_eq!(c.lookup("pam", &creds("joe", "newer", "smtp", "")), Lookup::Miss);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_never_push_a_success_out() {
        let config = CacheConfig {
            users: NonZeroUsize::new(10).unwrap(),
            ttl: Duration::from_secs(100),
            negative_ttl: Some(Duration::from_secs(30)),
        };
        let c = Cache::new(Keyer::from_key(b"test").unwrap(), config);
        let joe = creds("joe", "pw", "smtp", "");
        c.store_success("pam", &joe);
        for i in 0..5000 {
            c.store_failure("pam", &creds(&format!("made-up-{i}"), "x", "smtp", ""), Reject::PamAuth);
        }
        assert_eq!(c.lookup("pam", &joe), Lookup::Ok, "5000 made-up users' failures did not evict joe");
        assert_eq!(c.stats().evictions, 0);
        assert_eq!(c.failures.len(), 10, "failures are bounded by a table of their own");
        assert_eq!(c.lookup("pam", &creds("made-up-4999", "x", "smtp", "")), Lookup::No(Reject::PamAuth));
        assert_eq!(c.lookup("pam", &creds("made-up-0", "x", "smtp", "")), Lookup::Miss, "pushed out");
        assert_eq!(c.flush(), 1);
        assert_eq!(c.failures.len(), 0);
    }

    #[test]
    fn memory_is_bounded_by_users_and_scopes() {
        let c = cache(3);
        for i in 0..10 {
            c.store_success("pam", &creds(&format!("u{i}"), "pw", "smtp", ""));
            for s in 0..10 {
                c.store_success("pam", &creds("joe", "pw", &format!("s{s}"), ""));
            }
        }
        assert_eq!(c.len(), 3);
        // joe stays (used last each round); 10 users passed through the other 2 places.
        assert_eq!(c.stats().evictions, 8);
        assert!(c.users.all(|e| e.len() <= SCOPES_PER_USER));
        assert_eq!(c.lookup("pam", &creds("u9", "pw", "smtp", "")), Lookup::Ok);
        assert_eq!(c.lookup("pam", &creds("u0", "pw", "smtp", "")), Lookup::Miss);
        assert_eq!(c.flush(), 3);
        assert!(c.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn negative_entries_only_with_a_negative_ttl() {
        let c = cache(10);
        let bad = creds("joe", "bad", "smtp", "");
        c.store_failure("pam", &bad, Reject::PamAuth);
        assert_eq!(c.lookup("pam", &bad), Lookup::Miss);
        let mut config = c.config();
        config.negative_ttl = Some(Duration::from_secs(5));
        let c = Cache::new(Keyer::from_key(b"test").unwrap(), config);
        c.store_failure("pam", &bad, Reject::PamAuth);
        assert_eq!(c.lookup("pam", &bad), Lookup::No(Reject::PamAuth));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(c.lookup("pam", &bad), Lookup::Miss);
        // A later success replaces the remembered failure.
        c.store_failure("pam", &bad, Reject::PamAuth);
        c.store_success("pam", &bad);
        assert_eq!(c.lookup("pam", &bad), Lookup::Ok);
    }
}
