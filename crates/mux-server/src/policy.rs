//! Step "policy": from a raw request to an answer — field checks, `-r` realm joining, the
//! brute-force penalties, the credential cache, the mechanism chain, and the log line for every
//! outcome.
//!
//! Order: the penalties' gates come first ([`Penalties::admit`]): a penalised account (or
//! (account, address) pair) holds the request *before* anything checks its password, or refuses
//! it with a tempfail, so guessing is bounded and the answer's timing does not tell `OK` from
//! `NO`. Then a cache hit answers `OK` at once (no backend call); a miss asks the chain; the
//! chain's `OK` is cached and resets the penalty; its `NO` evicts the user's cache entries and
//! counts at the gates. Either is answered as soon as it is known. A tempfail
//! ([`Answer::Tempfail`]) closes the connection without a reply.
//!
//! The chain can be replaced while requests are in flight (SIGHUP): each request takes the chain
//! in force when it starts and finishes with it.

use crate::answer::{Answer, Tempfail};
use crate::cache::{Cache, Lookup};
use crate::chain::{Chain, Decision, Verdict};
use crate::frame::RawRequest;
use crate::log_safe::LogSafe;
use crate::penalty::{Admission, Penalties};
use crate::reply::Reply;
use backends::{Credentials, Verifier};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long a verifier may take by default (`--verify-timeout`).
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the policy step.
#[derive(Debug, Clone, Copy)]
pub struct PolicyConfig {
    /// `-r`: verify `login@realm` when the realm is not empty (reference §5).
    pub join_realm: bool,
    /// Longest time a verifier may take before the request is answered with a tempfail (used by
    /// [`Policy::new`]; a [`Chain`] carries its own per-mechanism deadlines).
    pub verify_timeout: Duration,
}

/// Decides requests.
pub struct Policy {
    /// The mechanisms, swapped whole on a reload.
    chain: RwLock<Arc<Chain>>,
    /// The chain's name, fixed for the daemon's life: the cache's scope and the metrics label.
    name: String,
    config: PolicyConfig,
    cache: Option<Cache>,
    penalties: Option<Penalties>,
}

impl Policy {
    /// A policy in front of one `verifier`, with no cache and no penalties.
    pub fn new(verifier: Arc<dyn Verifier>, config: PolicyConfig) -> Self {
        Self::from_chain(Chain::single(verifier, config.verify_timeout), config)
    }

    /// A policy in front of `chain`, with no cache and no penalties.
    pub fn from_chain(chain: Chain, config: PolicyConfig) -> Self {
        let name = chain.name().to_owned();
        Self { chain: RwLock::new(Arc::new(chain)), name, config, cache: None, penalties: None }
    }

    /// Add the credential cache.
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Add brute-force penalties.
    pub fn with_penalties(mut self, penalties: Penalties) -> Self {
        self.penalties = Some(penalties);
        self
    }

    /// The mechanism name as given to `-a` (a comma list for a chain); the metrics label.
    pub fn mechanism(&self) -> &str {
        &self.name
    }

    /// Put `chain` in force for requests that start from now on (requests in progress finish
    /// with the chain they started with) and empty the cache, whose successes the old chain
    /// decided. A chain of other mechanisms is refused: names scope the cache and the metrics.
    pub fn replace_chain(&self, chain: Chain) -> Result<(), String> {
        if chain.name() != self.name {
            return Err(format!("mechanisms {} are not the running {}", chain.name(), self.name));
        }
        *self.chain.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(chain);
        if let Some(cache) = &self.cache {
            cache.flush();
        }
        Ok(())
    }

    fn current_chain(&self) -> Arc<Chain> {
        // A poisoned lock still holds a whole chain: a swap is a single assignment.
        self.chain.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The cache, if enabled (for flushing on a signal).
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// Make the mechanisms in force drop what they remember (SIGUSR1); how many entries.
    pub fn forget_remembered(&self) -> usize {
        self.current_chain().forget()
    }

    /// What the mechanisms in force remember: (mechanism, memory, counts), for the metrics.
    pub fn remembered(&self) -> Vec<(&'static str, &'static str, backends::expiring::Stats)> {
        self.current_chain().remembered()
    }

    /// The penalty table, if enabled.
    pub fn penalties(&self) -> Option<&Penalties> {
        self.penalties.as_ref()
    }

    /// The answer to `raw`: a reply, or a tempfail (close without a reply).
    pub async fn decide(&self, raw: RawRequest) -> Answer {
        self.decide_unless_gone(raw, std::future::pending()).await
    }

    /// [`Policy::decide`] for a client that may hang up: while the request is held by a penalty
    /// (before its check), it is dropped as soon as `gone` resolves, with
    /// [`Tempfail::ClientGone`]. A check that has started always finishes (and counts), so that
    /// hanging up cannot hide a guess from the penalties nor leave a mechanism's work orphaned.
    pub async fn decide_unless_gone(&self, raw: RawRequest, gone: impl Future<Output = ()>) -> Answer {
        match self.decide_at_once(raw) {
            Decided::Now(answer) => answer,
            Decided::Later(deferred) => self.decide_later(deferred, gone).await,
        }
    }

    /// The part of [`Policy::decide`] that never waits: field checks, the penalties' gates when
    /// they let the request through at once, and the cache. What it cannot answer without
    /// waiting (a held request, a cache miss) is [`Decided::Later`], for
    /// [`Policy::decide_later`]; the acceptor threads call this before the runtime sees the
    /// connection ([`crate::acceptor`]).
    pub fn decide_at_once(&self, raw: RawRequest) -> Decided {
        let chain = self.current_chain();
        // Cyrus checks these only after all fields were read (reference §1.3).
        if raw.login.is_empty() {
            tracing::error!("NULL login received");
            return Decided::Now(Answer::Reply(Reply::NullLogin));
        }
        if raw.password.is_empty() {
            tracing::error!("NULL password received");
            return Decided::Now(Answer::Reply(Reply::NullPassword));
        }
        let creds = match credentials(raw, self.config.join_realm) {
            Ok(creds) => creds,
            Err((field, login)) => {
                // Cyrus would cut the field at a NUL and verify a different name than was sent.
                tracing::info!(
                    "auth failure: [user={}] [mech={}] [reason=malformed {field}]",
                    LogSafe(&login),
                    self.name
                );
                return Decided::Now(Answer::Reply(Reply::MalformedField(field)));
            }
        };
        let admission = match &self.penalties {
            None => None,
            Some(penalties) => match penalties.try_admit(&creds) {
                Some(admission) => Some(admission),
                None => return Decided::Later(Deferred { chain, creds, stage: Stage::Gates }),
            },
        };
        match self.cached(&creds) {
            Some(verdict) => Decided::Now(self.conclude(&chain, &creds, admission, verdict, &self.name, true)),
            None => Decided::Later(Deferred { chain, creds, stage: Stage::Chain(admission) }),
        }
    }

    /// The rest of [`Policy::decide_unless_gone`] for what [`Policy::decide_at_once`] deferred:
    /// the penalties' wait (raced against `gone`), the cache, the mechanism chain.
    pub async fn decide_later(&self, deferred: Deferred, gone: impl Future<Output = ()>) -> Answer {
        let Deferred { chain, creds, stage } = deferred;
        let admission = match (stage, &self.penalties) {
            (Stage::Chain(admission), _) => admission,
            (Stage::Gates, None) => None,
            (Stage::Gates, Some(penalties)) => {
                let who = Who::of(&creds);
                let admitted = tokio::select! {
                    biased;
                    admitted = penalties.admit(&creds) => admitted,
                    () = gone => {
                        tracing::debug!("penalty for [user={}]{}: client hung up while held; dropped", who.user, who.remote);
                        return Answer::Tempfail(Tempfail::ClientGone);
                    }
                };
                let admission = match admitted {
                    Ok(admission) => admission,
                    Err(refusal) => {
                        // Not an `auth failure` line: nothing was checked, and fail2ban filters
                        // count those.
                        tracing::info!(
                            "auth refused before the check: {who} [mech={}] [reason={refusal}]",
                            self.name
                        );
                        return Answer::Tempfail(Tempfail::Penalty(refusal));
                    }
                };
                if !admission.held.is_zero() {
                    tracing::debug!(
                        "penalty for [user={}]{}: held {}s before the check",
                        who.user,
                        who.remote,
                        admission.held.as_secs_f32()
                    );
                }
                // Held: the cache may answer now what it could not when the request arrived.
                if let Some(verdict) = self.cached(&creds) {
                    return self.conclude(&chain, &creds, Some(admission), verdict, &self.name, true);
                }
                Some(admission)
            }
        };
        let Decision { verdict, mech } = chain.decide(&creds).await;
        self.conclude(&chain, &creds, admission, verdict, mech, false)
    }

    /// The cache's verdict on `creds`, if it has one.
    fn cached(&self, creds: &Credentials) -> Option<Verdict> {
        match self.cache.as_ref().map_or(Lookup::Miss, |c| c.lookup(&self.name, creds)) {
            Lookup::Ok => Some(Verdict::Ok(None)),
            Lookup::No(reject) => Some(Verdict::No(reject)),
            Lookup::Miss => None,
        }
    }

    /// From a verdict (`mech`'s, or the cache's) to the answer: the cache and the penalties
    /// learn it, and the log line says it. `admission` is released after its outcome counted.
    fn conclude(
        &self,
        chain: &Arc<Chain>,
        creds: &Credentials,
        admission: Option<Admission>,
        verdict: Verdict,
        mech: &str,
        from_cache: bool,
    ) -> Answer {
        let chain_name = self.name.as_str();
        let who = Who::of(creds);
        let via = if from_cache { " [cached]" } else { "" };
        match verdict {
            Verdict::Ok(matched) => {
                if let (Some(penalties), Some(admission)) = (&self.penalties, &admission) {
                    penalties.success(admission);
                }
                // A success decided by a chain replaced meanwhile must not outlive the reload's
                // cache flush.
                // A credential scoped by address or date answers only where and when it was
                // checked; the cache keys by neither (backends::credential).
                let cacheable = matched.is_none_or(|m| m.cacheable);
                if let Some(cache) = self
                    .cache
                    .as_ref()
                    .filter(|_| !from_cache && cacheable && Arc::ptr_eq(chain, &self.current_chain()))
                {
                    cache.store_success(chain_name, creds);
                }
                // Labels are log-safe by construction (backends::credential::Label).
                let label = matched.and_then(|m| m.label);
                if !from_cache && let Some(metrics) = crate::metrics::get() {
                    metrics.credential_success(label.as_ref().map(|l| l.as_str()));
                }
                tracing::debug!(
                    "auth success: {who} [mech={mech}]{}{via}",
                    label.map(|l| format!(" [credential={l}]")).unwrap_or_default()
                );
                // A hit answers a bare `OK`, as Cyrus's cache does (reference §1.4); otherwise
                // the deciding mechanism's own success text.
                Answer::Reply(if from_cache { Reply::Ok } else { Reply::ok_from(mech) })
            }
            Verdict::No(reject) => {
                // A refusal that depends on the client address must not answer for another one.
                if let Some(cache) = self.cache.as_ref().filter(|_| !from_cache && reject.is_repeatable()) {
                    cache.store_failure(chain_name, creds, reject);
                }
                // Cyrus's exact format (reference §2.6); fail2ban filters match it.
                tracing::info!(
                    "auth failure: {who} [mech={mech}] [reason={}]",
                    reject.log_reason(&LogSafe(creds.service.as_bytes()))
                );
                if let (Some(penalties), Some(admission)) = (&self.penalties, &admission) {
                    let failures = penalties.failure(admission, creds);
                    tracing::debug!("penalty for [user={}]{}: {failures} distinct failures", who.user, who.remote);
                }
                Answer::Reply(Reply::No(reject))
            }
            Verdict::Tempfail(reason) => {
                tracing::warn!(
                    "auth tempfail: {who} [mech={mech}] [reason={}]",
                    LogSafe(reason.to_string().as_bytes())
                );
                Answer::Tempfail(reason)
            }
        }
    }
}

/// What [`Policy::decide_at_once`] could tell without waiting.
pub enum Decided {
    /// The answer.
    Now(Answer),
    /// Ask [`Policy::decide_later`].
    Later(Deferred),
}

/// A request [`Policy::decide_at_once`] could not answer without waiting.
pub struct Deferred {
    /// The chain in force when the request arrived; it decides the request.
    chain: Arc<Chain>,
    creds: Credentials,
    stage: Stage,
}

/// Where a deferred request stopped.
enum Stage {
    /// A penalty gate would hold it (or refuse it).
    Gates,
    /// Through its gates (its admission, when penalties are on); the cache missed.
    Chain(Option<Admission>),
}

/// The request's fields as log lines give them: `[user=…] [service=…] [realm=…]` and, when the
/// client sent one, ` [remote=…]`, each made log-safe.
struct Who<'a> {
    user: LogSafe<'a>,
    service: LogSafe<'a>,
    realm: LogSafe<'a>,
    remote: Remote<'a>,
}

impl<'a> Who<'a> {
    fn of(creds: &'a Credentials) -> Self {
        Self {
            user: LogSafe(creds.login.as_bytes()),
            service: LogSafe(creds.service.as_bytes()),
            realm: LogSafe(creds.realm.as_bytes()),
            remote: Remote(creds.client_addr.as_deref()),
        }
    }
}

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[user={}] [service={}] [realm={}]{}", self.user, self.service, self.realm, self.remote)
    }
}

/// ` [remote=…]` for a client address, nothing without one.
struct Remote<'a>(Option<&'a str>);

impl std::fmt::Display for Remote<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, " [remote={}]", LogSafe(addr.as_bytes())),
            None => Ok(()),
        }
    }
}

/// Turn wire fields into credentials; `Err` names a field that no verifier could use, with the
/// login as sent (for the log line: the bad field itself must not pass for the user).
fn credentials(raw: RawRequest, join_realm: bool) -> Result<Credentials, (&'static str, Vec<u8>)> {
    fn text(field: &'static str, bytes: Vec<u8>) -> Result<String, (&'static str, Vec<u8>)> {
        if bytes.contains(&0) {
            return Err((field, bytes));
        }
        String::from_utf8(bytes).map_err(|e| (field, e.into_bytes()))
    }
    let RawRequest { login, password, service, realm, client_addr } = raw;
    let mut login = text("login", login)?;
    let service = text("service", service).map_err(|(field, _)| (field, login.clone().into_bytes()))?;
    let realm = text("realm", realm).map_err(|(field, _)| (field, login.clone().into_bytes()))?;
    if join_realm && !realm.is_empty() {
        login = format!("{login}@{realm}");
    }
    let client_addr = client_addr.filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(&a).into_owned());
    Ok(Credentials { login, password, service, realm, client_addr })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use backends::{Outcome, Reject, VerifyFuture};
    use std::sync::Mutex;
    use zeroize::Zeroizing;

    /// Answers from a fixed script and remembers what it saw.
    struct Scripted {
        answer: Outcome,
        seen: Mutex<Vec<Credentials>>,
        delay: Duration,
    }

    impl Verifier for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
            self.seen.lock().unwrap().push(creds.clone());
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                self.answer.clone()
            })
        }
    }

    fn policy(answer: Outcome, join_realm: bool, delay: Duration) -> (Policy, Arc<Scripted>) {
        let verifier = Arc::new(Scripted { answer, seen: Mutex::new(Vec::new()), delay });
        let config = PolicyConfig { join_realm, verify_timeout: VERIFY_TIMEOUT };
        (Policy::new(verifier.clone(), config), verifier)
    }

    fn raw(login: &[u8], password: &[u8], realm: &[u8]) -> RawRequest {
        RawRequest {
            login: login.to_vec(),
            password: Zeroizing::new(password.to_vec()),
            service: b"smtp".to_vec(),
            realm: realm.to_vec(),
            client_addr: None,
        }
    }

    #[tokio::test]
    async fn empty_login_and_password_are_refused_before_the_verifier() {
        let (p, v) = policy(Outcome::Ok, false, Duration::ZERO);
        assert_eq!(p.decide(raw(b"", b"pw", b"")).await, Answer::Reply(Reply::NullLogin));
        assert_eq!(p.decide(raw(b"joe", b"", b"")).await, Answer::Reply(Reply::NullPassword));
        assert!(v.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn realm_is_joined_only_with_dash_r_and_a_realm() {
        let (p, v) = policy(Outcome::Ok, true, Duration::ZERO);
        p.decide(raw(b"alice", b"pw", b"example.com")).await;
        p.decide(raw(b"bob", b"pw", b"")).await;
        let (q, w) = policy(Outcome::Ok, false, Duration::ZERO);
        q.decide(raw(b"alice", b"pw", b"example.com")).await;
        let seen: Vec<String> = v.seen.lock().unwrap().iter().map(|c| c.login.clone()).collect();
        assert_eq!(seen, ["alice@example.com", "bob"]);
        assert_eq!(w.seen.lock().unwrap()[0].login, "alice");
        assert_eq!(w.seen.lock().unwrap()[0].realm, "example.com");
    }

    #[tokio::test]
    async fn nul_and_non_utf8_logins_are_refused_not_truncated() {
        let (p, v) = policy(Outcome::Ok, false, Duration::ZERO);
        assert_eq!(
            p.decide(raw(b"alice\0junk", b"pw", b"")).await,
            Answer::Reply(Reply::MalformedField("login"))
        );
        assert_eq!(p.decide(raw(b"\xff", b"pw", b"")).await, Answer::Reply(Reply::MalformedField("login")));
        assert_eq!(p.decide(raw(b"a", b"pw", b"r\0")).await, Answer::Reply(Reply::MalformedField("realm")));
        assert!(v.seen.lock().unwrap().is_empty());
        // Passwords are bytes: NUL, CR/LF and 8-bit pass through untouched.
        p.decide(raw(b"a", b"p\0w\r\n\xff\"'", b"")).await;
        assert_eq!(&v.seen.lock().unwrap()[0].password[..], b"p\0w\r\n\xff\"'");
    }

    #[tokio::test]
    async fn outcomes_map_to_replies() {
        let (p, _) = policy(Outcome::No(Reject::PamAuth), false, Duration::ZERO);
        assert_eq!(p.decide(raw(b"a", b"b", b"")).await, Answer::Reply(Reply::No(Reject::PamAuth)));
        let (p, _) = policy(Outcome::Unavailable("down".into()), false, Duration::ZERO);
        assert_eq!(p.decide(raw(b"a", b"b", b"")).await, Answer::Tempfail(Tempfail::Backend("down".into())));
    }

    #[tokio::test(start_paused = true)]
    async fn a_replaced_chain_serves_new_requests_while_started_ones_finish() {
        use crate::cache::{Cache, CacheConfig};
        use backends::secret::Keyer;
        let (p, old) = policy(Outcome::Ok, false, Duration::from_secs(1));
        let p = Arc::new(
            p.with_cache(Cache::new(Keyer::from_key(b"k").unwrap(), CacheConfig::from_cyrus(None, None))),
        );
        p.decide(raw(b"ann", b"pw", b"")).await;
        assert_eq!(p.cache().unwrap().len(), 1);
        let started = tokio::spawn({
            let p = p.clone();
            async move { p.decide(raw(b"joe", b"pw", b"")).await }
        });
        tokio::task::yield_now().await;
        let new = Arc::new(Scripted {
            answer: Outcome::No(Reject::PamAuth),
            seen: Mutex::new(Vec::new()),
            delay: Duration::ZERO,
        });
        p.replace_chain(Chain::single(new.clone(), Duration::from_secs(30))).unwrap();
        assert!(p.cache().unwrap().is_empty(), "the old chain's successes are forgotten");
        assert_eq!(
            started.await.unwrap(),
            Answer::Reply(Reply::Ok),
            "the started request finishes with the old chain"
        );
        assert!(p.cache().unwrap().is_empty(), "and its success is not cached for the new one");
        assert_eq!(p.decide(raw(b"ann", b"pw", b"")).await, Answer::Reply(Reply::No(Reject::PamAuth)));
        assert_eq!((old.seen.lock().unwrap().len(), new.seen.lock().unwrap().len()), (2, 1));

        let mut two = Chain::new(false);
        two.push(new.clone(), 1, Duration::from_secs(1));
        two.push(new, 1, Duration::from_secs(1));
        assert!(p.replace_chain(two).is_err(), "other mechanisms than -a named are refused");
    }

    #[tokio::test(start_paused = true)]
    async fn only_what_needs_no_wait_is_decided_at_once() {
        use crate::cache::{Cache, CacheConfig};
        use crate::penalty::{PenaltyConfig, Penalties};
        use backends::secret::Keyer;
        let (p, v) = policy(Outcome::Ok, false, Duration::from_millis(5));
        let key = || Keyer::from_key(b"k").unwrap();
        let p = p
            .with_cache(Cache::new(key(), CacheConfig::from_cyrus(None, None)))
            .with_penalties(Penalties::new(key(), PenaltyConfig::default()));
        assert!(matches!(p.decide_at_once(raw(b"", b"pw", b"")), Decided::Now(Answer::Reply(Reply::NullLogin))));
        let Decided::Later(miss) = p.decide_at_once(raw(b"ann", b"pw", b"")) else { panic!("a miss waits") };
        assert_eq!(p.decide_later(miss, std::future::pending()).await, Answer::Reply(Reply::ok_from("scripted")));
        assert!(matches!(p.decide_at_once(raw(b"ann", b"pw", b"")), Decided::Now(Answer::Reply(Reply::Ok))), "a hit");
        assert_eq!(v.seen.lock().unwrap().len(), 1, "the hit asked no mechanism");
    }

    fn penalised(delay: Duration) -> (Arc<Policy>, Arc<Scripted>) {
        use crate::penalty::{PenaltyConfig, Penalties};
        use backends::secret::Keyer;
        let (p, v) = policy(Outcome::No(Reject::PamAuth), false, delay);
        let penalties = Penalties::new(Keyer::from_key(b"k").unwrap(), PenaltyConfig::default());
        (Arc::new(p.with_penalties(penalties)), v)
    }

    #[tokio::test(start_paused = true)]
    async fn penalties_bound_guesses_before_the_verifier() {
        let (p, v) = penalised(Duration::from_millis(5));
        let guesses: Vec<_> = (0..300)
            .map(|i| {
                let p = p.clone();
                tokio::spawn(async move { p.decide(raw(b"joe", format!("g{i}").as_bytes(), b"")).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(v.seen.lock().unwrap().len() <= 30, "{} verified", v.seen.lock().unwrap().len());
        let started = tokio::time::Instant::now();
        p.decide(raw(b"ann", b"pw", b"")).await;
        assert_eq!(started.elapsed(), Duration::from_millis(5), "another account: only its own check");
        let mut answers = Vec::new();
        for guess in guesses {
            answers.push(guess.await.unwrap());
        }
        let refused = answers.iter().filter(|a| matches!(a, Answer::Tempfail(Tempfail::Penalty(_)))).count();
        let no = answers.iter().filter(|a| **a == Answer::Reply(Reply::No(Reject::PamAuth))).count();
        assert_eq!(refused + no, 300);
        assert_eq!(v.seen.lock().unwrap().iter().filter(|c| c.login == "joe").count(), no);
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_request_is_dropped_when_its_client_hangs_up() {
        let (p, v) = penalised(Duration::ZERO);
        p.decide(raw(b"joe", b"g1", b"")).await;
        let gone = tokio::time::sleep(Duration::from_millis(100));
        let started = tokio::time::Instant::now();
        assert_eq!(p.decide_unless_gone(raw(b"joe", b"g2", b""), gone).await, Answer::Tempfail(Tempfail::ClientGone));
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        assert_eq!(v.seen.lock().unwrap().len(), 1, "never verified");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_verifier_becomes_a_tempfail() {
        let (p, _) = policy(Outcome::Ok, false, Duration::from_secs(3600));
        assert_eq!(p.decide(raw(b"a", b"b", b"")).await, Answer::Tempfail(Tempfail::Timeout(VERIFY_TIMEOUT)));
    }
}
