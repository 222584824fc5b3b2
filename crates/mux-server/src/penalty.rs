//! Step "policy", brute-force penalties: consecutive failures of a user, and of a client address
//! when the request carries one, make the `NO` wait longer (2 → 4 → 8 s by default).
//!
//! The wait is an async sleep in the connection's own task, so a delayed `NO` holds no thread
//! and slows no other request; a correct password is never delayed. Guessing the same wrong
//! password again does not count (a client retrying a stale saved password is not an attack):
//! each record remembers keyed tags ([`backends::secret`]) of its last few wrong passwords. A
//! success resets the user's count. Both tables are [`backends::expiring`] tables: bounded
//! (least recently failed go first), and a record idle for `forget_after` starts again from zero.

use backends::Credentials;
use backends::expiring::Expiring;
use backends::secret::Keyer;
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Wrong passwords remembered per record so that repeating one does not count again.
pub const REMEMBERED_WRONG_PASSWORDS: usize = 8;

/// Delay after a first failure by default (`--penalty-base`).
pub const BASE: Duration = Duration::from_secs(2);
/// The longest delay by default (`--penalty-max`).
pub const MAX: Duration = Duration::from_secs(8);
/// Idle time after which a record starts from zero by default (`--penalty-forget`).
pub const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Records kept per table by default (`--penalty-entries`).
pub const ENTRIES: NonZeroUsize = NonZeroUsize::MIN.saturating_add(9_999);

/// Penalty settings.
#[derive(Debug, Clone)]
pub struct PenaltyConfig {
    /// Delay after the first failure; each further distinct failure doubles it.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// A record with no failure for this long starts again from zero.
    pub forget_after: Duration,
    /// Records kept per table (users, addresses).
    pub entries: NonZeroUsize,
    /// Client networks never delayed (`--penalty-exempt`).
    pub exempt: Vec<IpNet>,
}

impl Default for PenaltyConfig {
    fn default() -> Self {
        Self { base: BASE, max: MAX, forget_after: FORGET_AFTER, entries: ENTRIES, exempt: Vec::new() }
    }
}

/// The failure counters.
#[derive(Debug)]
pub struct Penalties {
    keyer: Keyer,
    config: PenaltyConfig,
    users: Expiring<[u8; 16], Record>,
    addrs: Expiring<IpAddr, Record>,
    delayed: AtomicU64,
}

/// One user's or address's failures since its count last started.
#[derive(Debug, Default)]
struct Record {
    failures: u32,
    recent: Vec<[u8; 16]>,
}

impl Penalties {
    /// Empty tables.
    pub fn new(keyer: Keyer, config: PenaltyConfig) -> Self {
        let (ttl, entries) = (config.forget_after, config.entries);
        let (users, addrs) = (Expiring::bounded(ttl, entries), Expiring::bounded(ttl, entries));
        Self { keyer, config, users, addrs, delayed: AtomicU64::new(0) }
    }

    fn user_key(&self, creds: &Credentials) -> [u8; 16] {
        self.keyer.tag("penalty-user", &[creds.realm.as_bytes(), creds.login.as_bytes()]).short()
    }

    /// Count a failure of `creds`; returns how long after the request started the `NO` may be
    /// sent.
    pub fn failure(&self, creds: &Credentials) -> Duration {
        let addr = client_ip(creds);
        if addr.is_some_and(|a| self.config.exempt.iter().any(|net| net.contains(&a))) {
            return Duration::ZERO;
        }
        let guess = self
            .keyer
            .tag("penalty-guess", &[creds.realm.as_bytes(), creds.login.as_bytes(), &creds.password])
            .short();
        let by_user = bump(&self.users, self.user_key(creds), guess);
        let by_addr = addr.map_or(0, |a| bump(&self.addrs, a, guess));
        let delay = self.delay(by_user.max(by_addr));
        if !delay.is_zero() {
            self.delayed.fetch_add(1, Ordering::Relaxed);
        }
        delay
    }

    /// A success: the user's count starts again. The address's does not, or an attacker with
    /// one valid account could launder its address's count between guesses.
    pub fn success(&self, creds: &Credentials) {
        // Nearly every success finds nothing to reset: skip the keyed hash then.
        if self.users.is_empty() {
            return;
        }
        self.users.remove(&self.user_key(creds));
    }

    /// Forget every count (SIGUSR2).
    pub fn forget(&self) -> usize {
        self.users.clear() + self.addrs.clear()
    }

    /// Records held (users + addresses).
    pub fn len(&self) -> usize {
        let (users, addrs) = self.sizes();
        users + addrs
    }

    /// Records held: (users, client addresses).
    pub fn sizes(&self) -> (usize, usize) {
        (self.users.len(), self.addrs.len())
    }

    /// Failures whose `NO` was held back, since start.
    pub fn delayed(&self) -> u64 {
        self.delayed.load(Ordering::Relaxed)
    }

    /// Whether no failure is counted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The delay after `failures` distinct consecutive failures.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX);
        self.config.base.saturating_mul(factor).min(self.config.max)
    }
}

/// Count a failure guessing `guess` in `key`'s record (a record idle for the table's TTL starts
/// again); the record's count after it.
fn bump<K: std::hash::Hash + Eq>(table: &Expiring<K, Record>, key: K, guess: [u8; 16]) -> u32 {
    table.update(key, |record| {
        if !record.recent.contains(&guess) {
            record.failures = record.failures.saturating_add(1);
            if record.recent.len() >= REMEMBERED_WRONG_PASSWORDS {
                record.recent.remove(0);
            }
            record.recent.push(guess);
        }
        record.failures
    })
}

/// The request's client IP (fifth field, `ip;port`), with IPv6 brackets and IPv4-mapping removed.
fn client_ip(creds: &Credentials) -> Option<IpAddr> {
    let ip = creds.client_ip()?;
    let ip = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
    ip.parse::<IpAddr>().ok().map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use zeroize::Zeroizing;

    fn creds(login: &str, password: &str, addr: Option<&str>) -> Credentials {
        Credentials {
            login: login.into(),
            password: Zeroizing::new(password.as_bytes().to_vec()),
            service: "smtp".into(),
            realm: String::new(),
            client_addr: addr.map(str::to_owned),
        }
    }

    fn penalties(config: PenaltyConfig) -> Penalties {
        Penalties::new(Keyer::from_key(b"test").unwrap(), config)
    }

    const fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn distinct_failures_grow_the_delay_up_to_the_cap() {
        let p = penalties(PenaltyConfig::default());
        let delays: Vec<Duration> =
            (0..6).map(|i| p.failure(&creds("joe", &format!("g{i}"), None))).collect();
        assert_eq!(delays, [s(2), s(4), s(8), s(8), s(8), s(8)]);
        let p = penalties(PenaltyConfig { max: s(15), ..Default::default() });
        let delays: Vec<Duration> =
            (0..5).map(|i| p.failure(&creds("joe", &format!("g{i}"), None))).collect();
        assert_eq!(delays, [s(2), s(4), s(8), s(15), s(15)]);
    }

    #[test]
    fn repeating_a_wrong_password_does_not_grow_it() {
        let p = penalties(PenaltyConfig::default());
        assert_eq!(p.failure(&creds("joe", "stale", None)), s(2));
        for _ in 0..20 {
            assert_eq!(p.failure(&creds("joe", "stale", None)), s(2));
        }
        assert_eq!(p.failure(&creds("joe", "other", None)), s(4));
        // Another user's wrong password is their own count.
        assert_eq!(p.failure(&creds("ann", "stale", None)), s(2));
    }

    #[test]
    fn a_success_resets_the_user() {
        let p = penalties(PenaltyConfig::default());
        for g in ["a", "b", "c"] {
            p.failure(&creds("joe", g, None));
        }
        p.success(&creds("joe", "right", None));
        assert_eq!(p.failure(&creds("joe", "d", None)), s(2));
    }

    #[test]
    fn an_address_spraying_many_users_is_slowed() {
        let p = penalties(PenaltyConfig::default());
        let delays: Vec<Duration> =
            (0..4).map(|i| p.failure(&creds(&format!("u{i}"), "pw", Some("192.0.2.9;4000")))).collect();
        assert_eq!(delays, [s(2), s(4), s(8), s(8)]);
        // ... but a different address guessing a fresh user is not.
        assert_eq!(p.failure(&creds("u9", "pw", Some("192.0.2.10;4000"))), s(2));
        // A success of one user does not clear the address.
        p.success(&creds("u0", "right", Some("192.0.2.9;4000")));
        assert_eq!(p.failure(&creds("u5", "pw", Some("[::ffff:192.0.2.9];1"))), s(8));
    }

    #[test]
    fn exempt_networks_are_never_delayed_nor_counted() {
        let config = PenaltyConfig { exempt: vec!["10.0.0.0/8".parse().unwrap()], ..Default::default() };
        let p = penalties(config);
        for i in 0..5 {
            assert_eq!(p.failure(&creds("joe", &format!("g{i}"), Some("10.1.2.3;25"))), Duration::ZERO);
        }
        assert!(p.is_empty());
        assert_eq!(p.failure(&creds("joe", "x", Some("192.0.2.1;25"))), s(2));
        assert_eq!(p.failure(&creds("joe", "y", None)), s(4));
        assert_eq!(p.delayed(), 2, "exempt failures are not delayed");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_records_are_forgotten() {
        let p = penalties(PenaltyConfig::default());
        p.failure(&creds("joe", "a", None));
        p.failure(&creds("joe", "b", None));
        tokio::time::advance(s(899)).await;
        assert_eq!(p.failure(&creds("joe", "c", None)), s(8));
        tokio::time::advance(s(900)).await;
        assert_eq!(p.failure(&creds("joe", "d", None)), s(2));
    }

    #[test]
    fn tables_are_bounded() {
        let config = PenaltyConfig { entries: NonZeroUsize::new(5).unwrap(), ..Default::default() };
        let p = penalties(config);
        for i in 0..100 {
            p.failure(&creds(&format!("u{i}"), "pw", Some(&format!("192.0.2.{i};1"))));
        }
        assert_eq!(p.sizes(), (5, 5));
        assert_eq!(p.forget(), 10);
        assert!(p.is_empty());
    }
}
