//! Step "policy", brute-force penalties: they bound how fast anyone can guess, by holding
//! attempts *before* the check instead of delaying the word `NO` after it.
//!
//! Each request passes one or more gates before the cache or the mechanisms see it: its
//! account's ([`crate::account`]: the login folded, the realm ignored), and when the fifth
//! protocol field carries a client address, the
//! (account, address) pair's and the address's. A gate whose key has no recent failure lets up
//! to [`WIDTH`] checks run at once and holds no one. After distinct failures it is *penalised*:
//! one check at a time, each starting no sooner than the penalty delay (2 → 4 → 8 s by default)
//! after the key's last failure. A request that would start later than `--penalty-max` after it
//! arrived, or that finds [`MAX_WAITING`] others already queued at a penalised gate (or
//! [`HELD_AT_ONCE`] held daemon-wide), is refused at once with a tempfail (closed without a reply), before any
//! check. Since the wait comes before the check and the answer right after it, the time an
//! answer takes no longer tells `OK` from `NO`: a right password waits as long as a wrong one.
//!
//! Why held rather than refused at once: a legitimate user who mistyped and retries at once
//! (or whose second client logs in meanwhile) is served a second or two late instead of seeing
//! Postfix's `454 4.7.0 Temporary authentication failure`; what cannot be served within
//! `--penalty-max` gets that tempfail, never a `NO`, which would make the client ask for a new
//! password and fail2ban count a failure that never happened. A held request holds no thread,
//! and one whose client hangs up is dropped at once (the server races the wait against the
//! socket's close), so holding costs the daemon nothing for fire-and-forget clients.
//!
//! With an address, the pair's gate penalises one source the way the account's does without
//! one, while the account's and the address's gates are [`CEILING`] times wider (a quarter of
//! the delay between checks): a user logging in from an address that has not failed waits at
//! most a quarter of the delay, not the attacker's queue, and an attacker rotating addresses
//! still gets only `CEILING` times the guesses one address would.
//!
//! Guessing the same wrong password again does not count (a client retrying a stale saved
//! password is not an attack): each record remembers keyed tags ([`backends::secret`]) of its
//! last few wrong passwords. A success resets the account's and the pair's counts, never the
//! address's (one valid account must not launder an address that guesses at others). The tables
//! are [`backends::expiring`] tables: bounded (least recently used go first), and a key idle for
//! `forget_after` starts again from zero.

use crate::account::account;
use backends::Credentials;
use backends::expiring::Expiring;
use backends::secret::Keyer;
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Wrong passwords remembered per record so that repeating one does not count again.
pub const REMEMBERED_WRONG_PASSWORDS: usize = 8;

/// Delay after a first failure by default (`--penalty-base`).
pub const BASE: Duration = Duration::from_secs(2);
/// The longest delay, and the longest a request is held, by default (`--penalty-max`).
pub const MAX: Duration = Duration::from_secs(8);
/// Idle time after which a record starts from zero by default (`--penalty-forget`).
pub const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Records kept per table by default (`--penalty-entries`).
pub const ENTRIES: NonZeroUsize = NonZeroUsize::MIN.saturating_add(9_999);

/// Checks of one key that may run at once while it is not penalised (a mail client opening a
/// few connections at once); a penalised key runs one at a time.
pub const WIDTH: u32 = 4;
/// How much wider an account's (and an address's) gate is than a pair's, when requests carry
/// a client address: the delay between their checks is divided by this.
pub const CEILING: u32 = 4;
/// Requests queued at one penalised gate at most; one more is refused at once.
pub const MAX_WAITING: usize = 8;
/// Requests held at all gates together at most, so that holds never take more than a quarter
/// of the default connection cap (1024); one more is refused at once.
pub const HELD_AT_ONCE: usize = 256;

/// Penalty settings.
#[derive(Debug, Clone)]
pub struct PenaltyConfig {
    /// Delay after the first failure; each further distinct failure doubles it.
    pub base: Duration,
    /// The longest delay, and the longest a request is held before its check.
    pub max: Duration,
    /// A key with no attempt for this long starts again from zero.
    pub forget_after: Duration,
    /// Records kept per table (accounts, pairs, addresses).
    pub entries: NonZeroUsize,
    /// Client networks never held nor counted (`--penalty-exempt`).
    pub exempt: Vec<IpNet>,
}

impl Default for PenaltyConfig {
    fn default() -> Self {
        Self { base: BASE, max: MAX, forget_after: FORGET_AFTER, entries: ENTRIES, exempt: Vec::new() }
    }
}

/// The gates and their failure counts.
#[derive(Debug)]
pub struct Penalties {
    keyer: Keyer,
    config: PenaltyConfig,
    users: Expiring<[u8; 16], Arc<Gate>>,
    pairs: Expiring<[u8; 16], Arc<Gate>>,
    addrs: Expiring<IpAddr, Arc<Gate>>,
    holding: Arc<AtomicUsize>,
    held: AtomicU64,
    refused: AtomicU64,
}

/// One key's gate: the checks in progress and the failures so far.
#[derive(Debug)]
struct Gate {
    /// [`WIDTH`] permits: a check takes one, or all of them while the key is penalised.
    slots: Arc<Semaphore>,
    record: Mutex<Record>,
    waiting: AtomicUsize,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            slots: Arc::new(Semaphore::new(WIDTH as usize)),
            record: Mutex::default(),
            waiting: AtomicUsize::new(0),
        }
    }
}

impl Gate {
    fn record(&self) -> MutexGuard<'_, Record> {
        // Every change is a few assignments: the record is usable after a panic.
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One key's failures since its count last started.
#[derive(Debug, Default)]
struct Record {
    failures: u32,
    recent: Vec<[u8; 16]>,
    last_failure: Option<Instant>,
}

/// Which table a gate is from: what a success resets, how wide it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The account, for a request without an address.
    Account,
    /// The account, for a request with an address ([`CEILING`] times wider).
    AccountOfAddressed,
    /// (account, address).
    Pair,
    /// The address ([`CEILING`] times wider).
    Address,
}

impl Kind {
    fn divisor(self) -> u32 {
        match self {
            Kind::Account | Kind::Pair => 1,
            Kind::AccountOfAddressed | Kind::Address => CEILING,
        }
    }
}

/// A request let through its gates: it holds their slots until dropped, after its outcome was
/// counted with [`Penalties::failure`] or [`Penalties::success`].
#[derive(Debug)]
#[must_use]
pub struct Admission {
    passed: Vec<(Kind, Arc<Gate>, OwnedSemaphorePermit)>,
    /// How long the request was held before its check.
    pub held: Duration,
}

/// Why a request was refused before its check (it gets a tempfail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its turn would come later than `--penalty-max` after it arrived.
    TooLate,
    /// [`MAX_WAITING`] requests already queued at one of its gates.
    QueueFull,
    /// [`HELD_AT_ONCE`] requests already held daemon-wide.
    TooManyHeld,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::TooLate => "penalty: its turn would come too late",
            Refusal::QueueFull => "penalty: too many attempts already waiting",
            Refusal::TooManyHeld => "penalty: too many attempts held",
        })
    }
}

/// Counts one request inside a gate's queue (and daemon-wide) while it lives.
struct Waiting<'a> {
    gate: &'a AtomicUsize,
    all: &'a AtomicUsize,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.gate.fetch_sub(1, Ordering::Relaxed);
        self.all.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Penalties {
    /// Empty tables.
    pub fn new(keyer: Keyer, config: PenaltyConfig) -> Self {
        let (ttl, entries) = (config.forget_after, config.entries);
        Self {
            keyer,
            config,
            users: Expiring::bounded(ttl, entries),
            pairs: Expiring::bounded(ttl, entries),
            addrs: Expiring::bounded(ttl, entries),
            holding: Arc::new(AtomicUsize::new(0)),
            held: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn user_key(&self, creds: &Credentials) -> [u8; 16] {
        self.keyer.tag("penalty-user", &[account(&creds.login).as_bytes()]).short()
    }

    /// The gates `creds` must pass, in order; `None` when its client address is exempt.
    fn gates(&self, creds: &Credentials) -> Option<Vec<(Kind, Arc<Gate>)>> {
        let addr = client_ip(creds);
        if addr.is_some_and(|a| self.config.exempt.iter().any(|net| net.contains(&a))) {
            return None;
        }
        let user = self.user_key(creds);
        Some(match addr {
            None => vec![(Kind::Account, self.users.update(user, |g| g.clone()))],
            Some(a) => {
                let pair = self.pair_key(&user, a);
                vec![
                    (Kind::Pair, self.pairs.update(pair, |g| g.clone())),
                    (Kind::Address, self.addrs.update(a, |g| g.clone())),
                    (Kind::AccountOfAddressed, self.users.update(user, |g| g.clone())),
                ]
            }
        })
    }

    /// [`Penalties::admit`] without waiting: the admission when every gate lets `creds` through
    /// at once (no failure counted, a slot free), `None` when one would hold it or refuse it
    /// (then ask [`Penalties::admit`]). Takes nothing when it answers `None`.
    pub fn try_admit(&self, creds: &Credentials) -> Option<Admission> {
        let Some(gates) = self.gates(creds) else {
            return Some(Admission { passed: Vec::new(), held: Duration::ZERO });
        };
        let mut passed = Vec::with_capacity(gates.len());
        for (kind, gate) in gates {
            if gate.record().failures > 0 {
                return None;
            }
            let permit = gate.slots.clone().try_acquire_owned().ok()?;
            passed.push((kind, gate, permit));
        }
        Some(Admission { passed, held: Duration::ZERO })
    }

    /// Pass `creds` through its gates: at once when none is penalised, otherwise after the
    /// wait its penalties ask for (an async sleep), or `Err` at once when it cannot be served
    /// within `--penalty-max`. Cancel-safe: a dropped wait leaves no trace.
    pub async fn admit(&self, creds: &Credentials) -> Result<Admission, Refusal> {
        let arrived = Instant::now();
        let deadline = arrived + self.config.max.max(self.config.base);
        let Some(gates) = self.gates(creds) else {
            return Ok(Admission { passed: Vec::new(), held: Duration::ZERO });
        };
        let mut passed = Vec::with_capacity(gates.len());
        for (kind, gate) in gates {
            match self.enter(&gate, kind, deadline).await {
                Ok(permit) => passed.push((kind, gate, permit)),
                Err(refusal) => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(refusal);
                }
            }
        }
        let held = arrived.elapsed();
        if !held.is_zero() {
            self.held.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Admission { passed, held })
    }

    /// Wait for a slot of `gate` and for its penalty delay; the slot.
    async fn enter(&self, gate: &Arc<Gate>, kind: Kind, deadline: Instant) -> Result<OwnedSemaphorePermit, Refusal> {
        let penalised = gate.record().failures > 0;
        // The common case: a key with no failure and a free slot passes without being counted as
        // held, so a burst held elsewhere never refuses it.
        if !penalised && let Ok(permit) = gate.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        // A busy key with no failure (a shared account's many clients) queues without a per-key
        // limit: its checks are quick. A penalised key's queue is short: turns are seconds apart.
        if penalised && gate.waiting.load(Ordering::Relaxed) >= MAX_WAITING {
            return Err(Refusal::QueueFull);
        }
        if self.holding.load(Ordering::Relaxed) >= HELD_AT_ONCE {
            return Err(Refusal::TooManyHeld);
        }
        gate.waiting.fetch_add(1, Ordering::Relaxed);
        self.holding.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting { gate: &gate.waiting, all: &self.holding };
        loop {
            let penalised = gate.record().failures > 0;
            let wanted = if penalised { WIDTH } else { 1 };
            // The semaphore queues fairly (first come, first served), also across sizes.
            let permit = match tokio::time::timeout_at(deadline, gate.slots.clone().acquire_many_owned(wanted)).await {
                Ok(Ok(permit)) => permit,
                // The semaphore is never closed; a request still waiting at the deadline is late.
                Ok(Err(_)) | Err(_) => return Err(Refusal::TooLate),
            };
            let (failures, last) = {
                let record = gate.record();
                (record.failures, record.last_failure)
            };
            if failures > 0 && wanted < WIDTH {
                // Penalised while queued: back in line for the whole gate.
                continue;
            }
            if let Some(last) = last.filter(|_| failures > 0) {
                let next = last + self.delay(failures) / kind.divisor();
                if next > deadline {
                    return Err(Refusal::TooLate);
                }
                tokio::time::sleep_until(next).await;
            }
            return Ok(permit);
        }
    }

    /// Count a failure of the admitted `creds` at each of its gates (before their slots are
    /// released); the highest count among them.
    pub fn failure(&self, admission: &Admission, creds: &Credentials) -> u32 {
        if admission.passed.is_empty() {
            return 0;
        }
        let guess = self
            .keyer
            .tag("penalty-guess", &[account(&creds.login).as_bytes(), &creds.password])
            .short();
        let now = Instant::now();
        let counts = admission.passed.iter().map(|(_, gate, _)| bump(&mut gate.record(), guess, now));
        counts.max().unwrap_or(0)
    }

    /// A success: the account's and the pair's counts start again. The address's does not, or
    /// an attacker with one valid account could launder its address's count between guesses.
    pub fn success(&self, admission: &Admission) {
        for (kind, gate, _) in &admission.passed {
            if *kind != Kind::Address {
                *gate.record() = Record::default();
            }
        }
    }

    /// Forget every count (SIGUSR2).
    pub fn forget(&self) -> usize {
        let penalised = self.penalised();
        self.users.clear();
        self.pairs.clear();
        self.addrs.clear();
        penalised.0 + penalised.1 + penalised.2
    }

    /// Keys with failures counted: (accounts, (account, address) pairs, client addresses).
    pub fn penalised(&self) -> (usize, usize, usize) {
        fn count<K: std::hash::Hash + Eq>(table: &Expiring<K, Arc<Gate>>) -> usize {
            let mut n = 0;
            table.all(|gate| {
                n += usize::from(gate.record().failures > 0);
                true
            });
            n
        }
        (count(&self.users), count(&self.pairs), count(&self.addrs))
    }

    /// Requests held before their check, since start.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Requests refused (tempfail) before their check, since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Whether no failure is counted.
    pub fn is_empty(&self) -> bool {
        self.penalised() == (0, 0, 0)
    }

    /// The delay after `failures` distinct consecutive failures.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX);
        self.config.base.saturating_mul(factor).min(self.config.max)
    }

    /// The pair gate's key of an account (its [`Penalties::user_key`]) and a client address.
    fn pair_key(&self, user: &[u8; 16], addr: IpAddr) -> [u8; 16] {
        self.keyer.tag("penalty-pair", &[user, addr.to_string().as_bytes()]).short()
    }

    /// The penalised keys, most recently used first (the control socket's `penalties`).
    /// Accounts and pairs appear by id ([`PenaltyKey::Id`]): the tables hold keyed tags, never
    /// names.
    pub fn records(&self) -> Vec<PenaltyRecord> {
        let now = Instant::now();
        let by_id = |kind| move |key: &[u8; 16], gate: &Arc<Gate>, left| self.describe(kind, PenaltyKey::Id(tag_id(key)), gate, left, now);
        let mut out = self.users.snapshot(by_id(Kind::Account));
        out.extend(self.pairs.snapshot(by_id(Kind::Pair)));
        out.extend(self.addrs.snapshot(|addr, gate, left| {
            self.describe(Kind::Address, PenaltyKey::Address(*addr), gate, left, now)
        }));
        out
    }

    /// The penalised records of one account (`login` as counted, after `-r`): its own, and its
    /// pair with each address the address table knows.
    pub fn user_records(&self, login: &str, realm: &str) -> Vec<PenaltyRecord> {
        let now = Instant::now();
        let user = self.user_key(&probe(login, realm));
        let mut out = self.users.snapshot(|key, gate, left| {
            (*key == user).then(|| self.describe(Kind::Account, PenaltyKey::User(login.to_owned()), gate, left, now))?
        });
        let pairs: Vec<([u8; 16], IpAddr)> = self.addrs.snapshot(|addr, _, _| Some((self.pair_key(&user, *addr), *addr)));
        for (pair, addr) in pairs {
            out.extend(self.pairs.snapshot(|key, gate, left| {
                (*key == pair).then(|| self.describe(Kind::Pair, PenaltyKey::Pair(login.to_owned(), addr), gate, left, now))?
            }));
        }
        out
    }

    /// Forget an account's count and its pairs with the known addresses (`forget-penalty USER`);
    /// how many penalised records went. Requests already held finish their wait.
    pub fn forget_user(&self, login: &str, realm: &str) -> usize {
        let user = self.user_key(&probe(login, realm));
        let addrs: Vec<IpAddr> = self.addrs.snapshot(|addr, _, _| Some(*addr));
        let pairs = addrs.into_iter().map(|addr| self.pair_key(&user, addr));
        forget(&self.users, &user) + pairs.map(|pair| forget(&self.pairs, &pair)).sum::<usize>()
    }

    /// Forget an address's count and its pairs with the known accounts (`forget-penalty
    /// ADDRESS`); how many penalised records went.
    pub fn forget_address(&self, addr: IpAddr) -> usize {
        let addr = addr.to_canonical();
        let users: Vec<[u8; 16]> = self.users.snapshot(|user, _, _| Some(*user));
        let pairs = users.iter().map(|user| self.pair_key(user, addr));
        forget(&self.addrs, &addr) + pairs.map(|pair| forget(&self.pairs, &pair)).sum::<usize>()
    }

    /// Forget the account or pair whose [`PenaltyKey::Id`] is `id`; how many records went.
    pub fn forget_id(&self, id: &str) -> usize {
        let mut n = 0;
        for table in [&self.users, &self.pairs] {
            let keys = table.snapshot(|key, _, _| (tag_id(key) == id).then_some(*key));
            n += keys.iter().map(|key| forget(table, key)).sum::<usize>();
        }
        n
    }

    /// A penalised gate as shown: the delay its failures earn for this kind of gate, and how
    /// long the next attempt would wait now.
    fn describe(&self, kind: Kind, key: PenaltyKey, gate: &Arc<Gate>, forget_in: Duration, now: Instant) -> Option<PenaltyRecord> {
        let record = gate.record();
        let last = record.last_failure.filter(|_| record.failures > 0)?;
        let delay = self.delay(record.failures) / kind.divisor();
        let wait = (last + delay).saturating_duration_since(now);
        let table = match kind {
            Kind::Account | Kind::AccountOfAddressed => "user",
            Kind::Pair => "pair",
            Kind::Address => "address",
        };
        Some(PenaltyRecord { table, key, failures: record.failures, delay, wait, forget_in })
    }
}

/// Drop `key`'s gate; 1 if it was penalised.
fn forget<K: std::hash::Hash + Eq>(table: &Expiring<K, Arc<Gate>>, key: &K) -> usize {
    let penalised = table.find(key, |gate| (gate.record().failures > 0).then_some(())).is_some();
    usize::from(table.remove(key) && penalised)
}

/// Whose count a penalty record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PenaltyKey {
    /// An account asked for by name.
    User(String),
    /// An account asked for by name, from one address (its pair gate).
    Pair(String, IpAddr),
    /// An account or pair in a listing: the first 6 bytes of its keyed tag in hex, stable for
    /// the daemon's life and meaningless outside it.
    Id(String),
    /// A client address.
    Address(IpAddr),
}

/// One penalised record as the control socket shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PenaltyRecord {
    /// Which gate: `user` (an account), `pair` (an account from one address) or `address`.
    pub table: &'static str,
    /// Whose count it is.
    pub key: PenaltyKey,
    /// Distinct consecutive failures counted.
    pub failures: u32,
    /// How long after the last failure the next check may start (an address's, and an
    /// account's when the request has an address, a quarter: [`CEILING`]).
    pub delay: Duration,
    /// What of that delay is left now: how long a new attempt would be held.
    pub wait: Duration,
    /// Time until the record is forgotten if no attempt comes (`--penalty-forget`).
    pub forget_in: Duration,
}

/// A listing id: hex of the first 6 bytes of a table key.
fn tag_id(key: &[u8; 16]) -> String {
    key.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Credentials carrying only what the user key is derived from.
fn probe(login: &str, realm: &str) -> Credentials {
    Credentials {
        login: login.to_owned(),
        password: zeroize::Zeroizing::new(Vec::new()),
        service: String::new(),
        realm: realm.to_owned(),
        client_addr: None,
    }
}

/// Count a failure guessing `guess` in `record` (a repeated wrong password counts once); the
/// record's count after it.
fn bump(record: &mut Record, guess: [u8; 16], now: Instant) -> u32 {
    if !record.recent.contains(&guess) {
        record.failures = record.failures.saturating_add(1);
        if record.recent.len() >= REMEMBERED_WRONG_PASSWORDS {
            record.recent.remove(0);
        }
        record.recent.push(guess);
    }
    record.last_failure = Some(now);
    record.failures
}

/// The request's client IP (fifth field, `ip;port`), with IPv6 brackets and IPv4-mapping removed.
fn client_ip(creds: &Credentials) -> Option<IpAddr> {
    let ip = creds.client_ip()?;
    let ip = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
    // A `%zone` (libsasl2's getnameinfo writes one for link-local IPv6) as the scope's parse does.
    let ip = ip.split('%').next().unwrap_or(ip);
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

    fn penalties(config: PenaltyConfig) -> Arc<Penalties> {
        Arc::new(Penalties::new(Keyer::from_key(b"test").unwrap(), config))
    }

    const fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    /// Admit `c`, count it as a failure, and return how long it was held.
    async fn fail(p: &Penalties, c: &Credentials) -> Result<Duration, Refusal> {
        let admission = p.admit(c).await?;
        p.failure(&admission, c);
        Ok(admission.held)
    }

    /// 300 wrong guesses at once, the `i`th as `guess(i)`, each admitted, checked for 5 ms (as a
    /// real check takes a while) and counted as a failure; how many were checked so far, and the
    /// tasks (`Err` for a refused one).
    fn burst(
        p: &Arc<Penalties>,
        guess: impl Fn(usize) -> Credentials,
    ) -> (Arc<AtomicUsize>, Vec<tokio::task::JoinHandle<Result<(), Refusal>>>) {
        let checked = Arc::new(AtomicUsize::new(0));
        let tasks = (0..300)
            .map(|i| {
                let (p, checked, c) = (p.clone(), checked.clone(), guess(i));
                tokio::spawn(async move {
                    let admission = p.admit(&c).await?;
                    checked.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    p.failure(&admission, &c);
                    Ok(())
                })
            })
            .collect();
        (checked, tasks)
    }

    #[test]
    fn a_zoned_address_is_still_an_address() {
        assert_eq!(client_ip(&creds("joe", "x", Some("[fe80::1%eth0];25"))), "fe80::1".parse().ok());
        assert_eq!(client_ip(&creds("joe", "x", Some("fe80::1%eth0;25"))), "fe80::1".parse().ok());
    }

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        let p = penalties(PenaltyConfig { max: s(15), ..Default::default() });
        let delays: Vec<Duration> = (0..6).map(|f| p.delay(f)).collect();
        assert_eq!(delays, [s(0), s(2), s(4), s(8), s(15), s(15)]);
    }

    #[tokio::test(start_paused = true)]
    async fn try_admit_passes_only_what_admit_would_pass_at_once() {
        let p = penalties(PenaltyConfig::default());
        let joe = creds("joe", "x", Some("192.0.2.1;25"));
        let held: Vec<Admission> = (0..WIDTH).map(|_| p.try_admit(&joe).expect("a free slot")).collect();
        assert_eq!(held[0].passed.len(), 3, "pair, address and account gates");
        assert!(p.try_admit(&joe).is_none(), "every slot of its gates is taken");
        drop(held);
        let first = p.try_admit(&joe).expect("slots free again");
        p.failure(&first, &joe);
        drop(first);
        assert!(p.try_admit(&joe).is_none(), "a penalised gate always waits for admit");
        assert!(p.try_admit(&creds("ann", "x", None)).is_some(), "another account passes");
        let exempt = penalties(PenaltyConfig { exempt: vec!["192.0.2.0/24".parse().unwrap()], ..Default::default() });
        assert!(exempt.try_admit(&joe).is_some_and(|a| a.passed.is_empty()), "exempt: no gate at all");
    }

    #[tokio::test(start_paused = true)]
    async fn distinct_failures_hold_the_next_attempt_longer() {
        let p = penalties(PenaltyConfig::default());
        let mut held = Vec::new();
        for i in 0..5 {
            held.push(fail(&p, &creds("joe", &format!("g{i}"), None)).await.unwrap());
        }
        assert_eq!(held, [s(0), s(2), s(4), s(8), s(8)]);
        // The right password waits just as long: timing does not tell OK from NO.
        let admission = p.admit(&creds("joe", "right", None)).await.unwrap();
        assert_eq!(admission.held, s(8));
        p.success(&admission);
        drop(admission);
        assert_eq!(fail(&p, &creds("joe", "g9", None)).await.unwrap(), s(0), "a success resets");
        assert_eq!(p.held(), 5, "four guesses and the right password");
    }

    #[tokio::test(start_paused = true)]
    async fn repeating_a_wrong_password_does_not_grow_it() {
        let p = penalties(PenaltyConfig::default());
        fail(&p, &creds("joe", "stale", None)).await.unwrap();
        for _ in 0..20 {
            assert_eq!(fail(&p, &creds("joe", "stale", None)).await.unwrap(), s(2));
        }
        assert_eq!(fail(&p, &creds("joe", "other", None)).await.unwrap(), s(2));
        assert_eq!(fail(&p, &creds("joe", "third", None)).await.unwrap(), s(4));
        // Another user is not held at all.
        assert_eq!(fail(&p, &creds("ann", "stale", None)).await.unwrap(), s(0));
    }

    #[tokio::test(start_paused = true)]
    async fn spellings_and_realms_of_one_login_share_its_gate() {
        let p = penalties(PenaltyConfig::default());
        fail(&p, &creds("joe", "g0", None)).await.unwrap();
        let spellings = ["joe", "Joe", " JOE ", "joe@x.example", "jOe@y"];
        for (i, login) in spellings.iter().enumerate() {
            let mut c = creds(login, &format!("g{}", i + 1), None);
            c.realm = format!("r{i}");
            let held = fail(&p, &c).await.unwrap();
            assert!(held >= s(2), "{login:?} in realm r{i} was not held: {held:?}");
        }
        // Another login is not.
        assert_eq!(fail(&p, &creds("joey", "g", None)).await.unwrap(), s(0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_guesses_is_bounded_before_the_check() {
        let p = penalties(PenaltyConfig::default());
        let (checked, tasks) = burst(&p, |i| creds("joe", &format!("guess-{i}"), None));
        tokio::time::sleep(s(2)).await;
        let in_two_seconds = checked.load(Ordering::Relaxed);
        assert!(in_two_seconds <= WIDTH as usize, "{in_two_seconds} checks in 2 s");
        // Another user passes at once meanwhile.
        let other = p.admit(&creds("ann", "pw", None)).await.unwrap();
        assert_eq!(other.held, Duration::ZERO);
        drop(other);
        let mut refused = 0;
        for task in tasks {
            refused += usize::from(task.await.unwrap().is_err());
        }
        assert_eq!(refused + checked.load(Ordering::Relaxed), 300);
        assert!(checked.load(Ordering::Relaxed) <= 6, "{} checked", checked.load(Ordering::Relaxed));
        assert_eq!(p.refused(), u64::try_from(refused).unwrap());
        assert_eq!(p.holding.load(Ordering::Relaxed), 0, "nothing left counted as held");
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_account_s_many_clients_all_get_in() {
        let p = penalties(PenaltyConfig::default());
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move {
                    let c = creds("noreply", "right", None);
                    let admission = p.admit(&c).await?;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    p.success(&admission);
                    Ok::<_, Refusal>(admission.held)
                })
            })
            .collect();
        let mut longest = Duration::ZERO;
        for task in tasks {
            longest = longest.max(task.await.unwrap().unwrap());
        }
        // 100 checks of 5 ms, 4 at a time.
        assert!(longest <= Duration::from_millis(125), "{longest:?}");
        assert_eq!(p.refused(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_user_at_another_address_is_not_locked_out_by_an_attacker() {
        let p = penalties(PenaltyConfig::default());
        let attacker = "198.51.100.7;4000";
        for i in 0..6 {
            let _ = fail(&p, &creds("joe", &format!("g{i}"), Some(attacker))).await;
        }
        assert_eq!(p.penalised(), (1, 1, 1));
        // The attacker's own next guess waits the full delay...
        let started = Instant::now();
        let admission = p.admit(&creds("joe", "g7", Some(attacker))).await.unwrap();
        assert_eq!(started.elapsed(), s(8));
        p.failure(&admission, &creds("joe", "g7", Some(attacker)));
        drop(admission);
        // ... joe at home waits a quarter of it at most, and gets in.
        let home = p.admit(&creds("joe", "right", Some("192.0.2.1;5000"))).await.unwrap();
        assert!(home.held <= s(2), "{:?}", home.held);
        p.success(&home);
        drop(home);
        assert_eq!(p.penalised(), (0, 1, 1), "the attacker's pair and address stay penalised");
    }

    #[tokio::test(start_paused = true)]
    async fn an_attacker_rotating_addresses_is_still_bounded() {
        let p = penalties(PenaltyConfig::default());
        let (checked, tasks) =
            burst(&p, |i| creds("joe", &format!("guess-{i}"), Some(&format!("10.0.{}.{};25", i / 250, i % 250))));
        tokio::time::sleep(s(2)).await;
        let in_two_seconds = checked.load(Ordering::Relaxed);
        assert!(in_two_seconds <= 30, "{in_two_seconds} checks in 2 s");
        for task in tasks {
            let _ = task.await.unwrap();
        }
        // Over the whole hold (8 s), the account's ceiling admits at most a few more.
        assert!(checked.load(Ordering::Relaxed) <= 12, "{} checked", checked.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_spraying_many_users_is_slowed() {
        let p = penalties(PenaltyConfig::default());
        let spray = "192.0.2.9;4000";
        for i in 0..4 {
            fail(&p, &creds(&format!("u{i}"), "pw", Some(spray))).await.unwrap();
        }
        // A fresh user from that address waits the address's delay (8 s / CEILING)...
        let next = fail(&p, &creds("u5", "pw", Some(spray))).await.unwrap();
        assert_eq!(next, s(2));
        // ... one from another address does not wait at all.
        assert_eq!(fail(&p, &creds("u9", "pw", Some("192.0.2.10;4000"))).await.unwrap(), s(0));
        // A success of one user does not clear the address (IPv4-mapped is the same address).
        let ok = p.admit(&creds("u0", "right", Some("[::ffff:192.0.2.9];1"))).await.unwrap();
        p.success(&ok);
        drop(ok);
        assert_eq!(p.penalised().2, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn exempt_networks_are_never_held_nor_counted() {
        let config = PenaltyConfig { exempt: vec!["10.0.0.0/8".parse().unwrap()], ..Default::default() };
        let p = penalties(config);
        for i in 0..5 {
            assert_eq!(fail(&p, &creds("joe", &format!("g{i}"), Some("10.1.2.3;25"))).await.unwrap(), s(0));
        }
        assert!(p.is_empty());
        assert_eq!(fail(&p, &creds("joe", "x", None)).await.unwrap(), s(0));
        assert_eq!(fail(&p, &creds("joe", "y", None)).await.unwrap(), s(2));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_records_are_forgotten() {
        let p = penalties(PenaltyConfig::default());
        fail(&p, &creds("joe", "a", None)).await.unwrap();
        fail(&p, &creds("joe", "b", None)).await.unwrap();
        // The record was last touched when "b" arrived, 2 s before it was checked.
        tokio::time::advance(s(897)).await;
        assert_eq!(fail(&p, &creds("joe", "c", None)).await.unwrap(), s(0), "long past its 4 s");
        assert_eq!(fail(&p, &creds("joe", "d", None)).await.unwrap(), s(8), "but three failures counted");
        tokio::time::advance(s(900)).await;
        fail(&p, &creds("joe", "e", None)).await.unwrap();
        assert_eq!(fail(&p, &creds("joe", "f", None)).await.unwrap(), s(2), "started again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_wait_leaves_no_trace() {
        let p = penalties(PenaltyConfig::default());
        fail(&p, &creds("joe", "a", None)).await.unwrap();
        let waiting = tokio::time::timeout(s(1), p.admit(&creds("joe", "b", None))).await;
        assert!(waiting.is_err(), "still held after 1 s");
        assert_eq!(p.holding.load(Ordering::Relaxed), 0);
        assert_eq!(fail(&p, &creds("joe", "b", None)).await.unwrap(), s(1), "its turn comes 2 s after the failure");
    }

    #[tokio::test(start_paused = true)]
    async fn tables_are_bounded() {
        let config = PenaltyConfig { entries: NonZeroUsize::new(5).unwrap(), ..Default::default() };
        let p = penalties(config);
        for i in 0..100 {
            fail(&p, &creds(&format!("u{i}"), "pw", Some(&format!("192.0.2.{i};1")))).await.unwrap();
        }
        assert_eq!(p.penalised(), (5, 5, 5));
        assert_eq!(p.forget(), 15);
        assert!(p.is_empty());
    }
}
