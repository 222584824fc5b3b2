//! The policy step with the cache and penalties switched on, in front of a fake backend whose
//! passwords and health the tests change: hits, misses, eviction on a changed password,
//! answers during an outage, TTL expiry and penalty holds, all on tokio's paused clock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use backends::secret::Keyer;
use backends::{Credentials, Outcome, Reject, Verifier, VerifyFuture};
use mux_server::answer::{Answer, Tempfail};
use mux_server::cache::{Cache, CacheConfig};
use mux_server::frame::RawRequest;
use mux_server::penalty::{Penalties, PenaltyConfig};
use mux_server::policy::{Policy, PolicyConfig};
use mux_server::reply::Reply;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use zeroize::Zeroizing;

/// A backend with a password table, a health switch and a call counter.
#[derive(Default)]
struct Backend {
    passwords: Mutex<HashMap<String, String>>,
    down: AtomicBool,
    calls: AtomicUsize,
}

impl Backend {
    fn set(&self, user: &str, password: &str) {
        self.passwords.lock().unwrap().insert(user.into(), password.into());
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Verifier for Backend {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let outcome = if self.down.load(Ordering::SeqCst) {
            Outcome::Unavailable("down".into())
        } else {
            match self.passwords.lock().unwrap().get(&creds.login) {
                Some(p) if p.as_bytes() == &creds.password[..] => Outcome::Ok,
                Some(_) => Outcome::No(Reject::IncorrectPassword),
                None => Outcome::No(Reject::InvalidUsername),
            }
        };
        Box::pin(async move { outcome })
    }
}

fn cache_config() -> CacheConfig {
    CacheConfig { users: NonZeroUsize::new(100).unwrap(), ttl: Duration::from_secs(60), negative_ttl: None }
}

fn setup(cache: bool, penalties: bool) -> (Policy, Arc<Backend>) {
    let backend = Arc::new(Backend::default());
    backend.set("joe", "old");
    let config = PolicyConfig { join_realm: false, verify_timeout: Duration::from_secs(5) };
    let mut policy = Policy::new(backend.clone(), config);
    if cache {
        policy = policy.with_cache(Cache::new(Keyer::random().unwrap(), cache_config()));
    }
    if penalties {
        policy = policy.with_penalties(Penalties::new(Keyer::random().unwrap(), PenaltyConfig::default()));
    }
    (policy, backend)
}

fn req(login: &str, password: &str, service: &str, addr: Option<&str>) -> RawRequest {
    RawRequest {
        login: login.as_bytes().to_vec(),
        password: Zeroizing::new(password.as_bytes().to_vec()),
        service: service.as_bytes().to_vec(),
        realm: Vec::new(),
        client_addr: addr.map(|a| a.as_bytes().to_vec()),
    }
}

fn joe(password: &str) -> RawRequest {
    req("joe", password, "smtp", None)
}

const OK: Answer = Answer::Reply(Reply::Ok);
const WRONG: Answer = Answer::Reply(Reply::No(Reject::IncorrectPassword));

fn tempfail() -> Answer {
    Answer::Tempfail(Tempfail::Backend("down".into()))
}

#[tokio::test(start_paused = true)]
async fn a_hit_answers_without_the_backend_and_a_miss_asks_it() {
    let (p, b) = setup(true, false);
    assert_eq!(p.decide(joe("old")).await, OK);
    assert_eq!(b.calls(), 1);
    for _ in 0..5 {
        assert_eq!(p.decide(joe("old")).await, OK);
    }
    assert_eq!(b.calls(), 1, "hits never reach the backend");
    assert_eq!(p.decide(req("joe", "old", "imap", None)).await, OK);
    assert_eq!(b.calls(), 2, "another service is a miss");
    let stats = p.cache().unwrap().stats();
    assert_eq!((stats.hits, stats.misses), (5, 2));
}

#[tokio::test(start_paused = true)]
async fn a_changed_password_stops_the_old_one_at_its_first_failure() {
    let (p, b) = setup(true, false);
    assert_eq!(p.decide(joe("old")).await, OK);
    b.set("joe", "new");
    // Cyrus-like: the cached old password still works until something tells us otherwise...
    assert_eq!(p.decide(joe("old")).await, OK);
    // ... a wrong password is a miss; the backend's NO evicts joe's entries ...
    assert_eq!(p.decide(joe("typo")).await, WRONG);
    // ... so the old password now reaches the backend and fails.
    assert_eq!(p.decide(joe("old")).await, WRONG);
    assert_eq!(p.decide(joe("new")).await, OK);
    assert_eq!(b.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_cached_success_answers_during_an_outage_but_nothing_else_does() {
    let (p, b) = setup(true, false);
    b.set("ann", "pw");
    assert_eq!(p.decide(joe("old")).await, OK);
    b.down.store(true, Ordering::SeqCst);
    assert_eq!(p.decide(joe("old")).await, OK);
    assert_eq!(p.decide(joe("other")).await, tempfail(), "a miss during an outage is a tempfail");
    assert_eq!(p.decide(req("ann", "pw", "smtp", None)).await, tempfail());
    // The tempfail evicted nothing.
    assert_eq!(p.decide(joe("old")).await, OK);
}

#[tokio::test(start_paused = true)]
async fn entries_expire_at_the_ttl() {
    let (p, b) = setup(true, false);
    assert_eq!(p.decide(joe("old")).await, OK);
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(p.decide(joe("old")).await, OK);
    assert_eq!(b.calls(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    b.down.store(true, Ordering::SeqCst);
    assert_eq!(p.decide(joe("old")).await, tempfail(), "expired: the backend is asked, and is down");
    assert_eq!(b.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_flush_forgets_everything() {
    let (p, b) = setup(true, false);
    p.decide(joe("old")).await;
    assert_eq!(p.cache().unwrap().flush(), 1);
    p.decide(joe("old")).await;
    assert_eq!(b.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn failures_hold_the_next_attempt_longer_and_longer_whatever_its_answer() {
    let (p, _) = setup(false, true);
    let mut waited = Vec::new();
    for guess in ["a", "b", "c", "d", "e"] {
        let t = Instant::now();
        assert_eq!(p.decide(joe(guess)).await, WRONG);
        waited.push(t.elapsed().as_secs());
    }
    // Each attempt waits, before its check, for the delay after the previous failure.
    assert_eq!(waited, [0, 2, 4, 8, 8]);
    let t = Instant::now();
    assert_eq!(p.decide(joe("old")).await, OK);
    assert_eq!(t.elapsed().as_secs(), 8, "the right password waits as long: timing tells nothing");
    // The success reset joe's count.
    let t = Instant::now();
    p.decide(joe("f")).await;
    assert_eq!(t.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn repeating_a_wrong_password_does_not_grow_the_wait() {
    let (p, _) = setup(false, true);
    let mut waited = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        p.decide(joe("stale")).await;
        waited.push(t.elapsed().as_secs());
    }
    assert_eq!(waited, [0, 2, 2, 2, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_held_attempt_slows_nobody_else_and_guesses_stay_bounded() {
    let (p, b) = setup(false, true);
    b.set("ann", "pw");
    let p = Arc::new(p);
    for g in ["a", "b", "c"] {
        p.decide(joe(g)).await;
    }
    let calls = b.calls();
    let t = Instant::now();
    let attackers: Vec<_> = (0..8)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move { p.decide(joe(&format!("x{i}"))).await })
        })
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(p.decide(req("ann", "pw", "smtp", None)).await, OK);
    assert_eq!(t.elapsed(), Duration::ZERO, "another user is not held");
    let mut wrong = 0;
    for a in attackers {
        match a.await.unwrap() {
            WRONG => wrong += 1,
            Answer::Tempfail(Tempfail::Penalty(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(wrong, 1, "one guess checked at joe's next turn, the others refused unchecked");
    assert_eq!(b.calls() - calls, 2, "ann's check and one of joe's");
    assert_eq!(t.elapsed().as_secs(), 8);
}

#[tokio::test(start_paused = true)]
async fn exempt_networks_are_never_held() {
    let backend = Arc::new(Backend::default());
    let config = PenaltyConfig { exempt: vec!["192.0.2.0/24".parse().unwrap()], ..Default::default() };
    let p = Policy::new(backend, PolicyConfig { join_realm: false, verify_timeout: Duration::from_secs(5) })
        .with_penalties(Penalties::new(Keyer::random().unwrap(), config));
    for i in 0..4 {
        let t = Instant::now();
        p.decide(req("joe", &format!("g{i}"), "smtp", Some("192.0.2.5;1234"))).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }
    // Nor counted: joe's first failure from elsewhere is his first.
    let t = Instant::now();
    p.decide(req("joe", "g8", "smtp", Some("198.51.100.5;1234"))).await;
    p.decide(req("joe", "g9", "smtp", Some("198.51.100.5;1234"))).await;
    assert_eq!(t.elapsed().as_secs(), 2);
}

#[tokio::test(start_paused = true)]
async fn cache_and_penalties_together() {
    let (p, b) = setup(true, true);
    assert_eq!(p.decide(joe("old")).await, OK);
    let t = Instant::now();
    assert_eq!(p.decide(joe("bad")).await, WRONG);
    assert_eq!(t.elapsed(), Duration::ZERO);
    // The NO evicted joe and penalised him: the correct password waits its turn (the gate comes
    // before the cache, so a cached password cannot be guessed faster), then asks the backend.
    let t = Instant::now();
    assert_eq!(p.decide(joe("old")).await, OK);
    assert_eq!(t.elapsed().as_secs(), 2);
    assert_eq!(b.calls(), 3);
}
