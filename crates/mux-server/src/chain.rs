//! Step "verify": the configured mechanisms in order (`-a ldap,shadow`), each behind its own
//! concurrency limit and deadline.
//!
//! The rule, per mechanism's [`Outcome`]:
//! * `Ok` wins at once;
//! * `No` moves on to the next mechanism; when all said `No`, the last one's reason is the reply;
//! * `Unavailable` stops the chain with a tempfail — unless `continue_on_tempfail` is set, in
//!   which case the next mechanisms are still tried for an `Ok`, but if none gives one the
//!   answer stays a tempfail (the mechanism that could not decide might have said `OK`).
//!
//! Isolation: each mechanism may have at most `limit` requests in flight. One more is refused at
//! once as a tempfail ([`Tempfail::Busy`]) rather than queued, so a hung LDAP server fills its
//! own quota and never the global connection cap or the threads the next mechanism needs.
//!
//! [`ChainSpec`] keeps what building the chain needs, to build it again on SIGHUP.

use crate::answer::Tempfail;
use backends::Memory;
use backends::expiring::Stats;
use backends::mechanism::{self, Built};
use backends::credential::Matched;
use backends::{Credentials, Mechanism, MechanismError, MechanismOptions, Outcome, Reject, Verifier};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Requests one mechanism may have in progress by default (`--mech-concurrency`).
pub const MECH_CONCURRENCY: usize = 256;

/// One mechanism in the chain.
struct Link {
    verifier: Arc<dyn Verifier>,
    /// What the mechanism keeps between requests, for the metrics.
    memory: Option<Arc<dyn Memory>>,
    in_flight: Arc<Semaphore>,
    limit: usize,
    timeout: Duration,
}

/// The mechanisms to ask, in order.
pub struct Chain {
    links: Vec<Link>,
    continue_on_tempfail: bool,
    name: String,
}

/// What the chain concluded about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A mechanism accepted the credentials; through which of the account's credentials, when
    /// the mechanism says ([`Outcome::Matched`]: a label, or a scope the cache cannot key by).
    Ok(Option<Matched>),
    /// Every mechanism asked refused them; the last one's reason.
    No(Reject),
    /// No mechanism could decide (see the module doc for when that stops the chain).
    Tempfail(Tempfail),
}

impl From<Outcome> for Verdict {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Ok => Verdict::Ok(None),
            Outcome::Matched(matched) => Verdict::Ok(Some(matched)),
            Outcome::No(reject) => Verdict::No(reject),
            Outcome::Unavailable(reason) => Verdict::Tempfail(Tempfail::Backend(reason)),
        }
    }
}

/// The chain's verdict and which mechanism gave it (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// The mechanism that decided (the last one asked).
    pub mech: &'static str,
}

impl Chain {
    /// An empty chain; add mechanisms with [`Chain::push`].
    pub fn new(continue_on_tempfail: bool) -> Self {
        Self { links: Vec::new(), continue_on_tempfail, name: String::new() }
    }

    /// A chain of one mechanism with no practical concurrency limit.
    pub fn single(verifier: Arc<dyn Verifier>, timeout: Duration) -> Self {
        let mut chain = Self::new(false);
        chain.push(verifier, Semaphore::MAX_PERMITS, timeout);
        chain
    }

    /// Append a mechanism allowed `limit` requests in flight, each answering within `timeout`.
    pub fn push(&mut self, verifier: Arc<dyn Verifier>, limit: usize, timeout: Duration) {
        self.push_built(Built { verifier, memory: None }, limit, timeout);
    }

    /// Append a mechanism as [`mechanism::build`] made it, with its memory for the metrics.
    pub fn push_built(&mut self, built: Built, limit: usize, timeout: Duration) {
        let Built { verifier, memory } = built;
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        if !self.name.is_empty() {
            self.name.push(',');
        }
        self.name.push_str(verifier.name());
        self.links.push(Link {
            verifier,
            memory,
            in_flight: Arc::new(Semaphore::new(limit)),
            limit,
            timeout,
        });
    }

    /// The mechanisms' names joined with commas, as given to `-a`: the cache's scope.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ask the mechanisms in order (see the module doc for the rule).
    pub async fn decide(&self, creds: &Credentials) -> Decision {
        let mut last = Decision { verdict: Verdict::Tempfail(Tempfail::NoMechanism), mech: "none" };
        let mut tempfail: Option<Decision> = None;
        for link in &self.links {
            let decision = Decision { verdict: link.ask(creds).await, mech: link.verifier.name() };
            match decision.verdict {
                Verdict::Ok(_) => return decision,
                Verdict::No(_) => last = decision,
                Verdict::Tempfail(_) if !self.continue_on_tempfail => return decision,
                Verdict::Tempfail(ref reason) => {
                    tracing::debug!("mech={} could not decide ({reason}); trying the next", decision.mech);
                    tempfail.get_or_insert(decision);
                }
            }
        }
        tempfail.unwrap_or(last)
    }

    /// Make every mechanism drop what it remembers between requests; how many entries that was.
    pub fn forget(&self) -> usize {
        self.links.iter().map(|link| link.verifier.forget()).sum()
    }

    /// (mechanism, memory, counts) of each mechanism that remembers something between requests.
    pub fn remembered(&self) -> Vec<(&'static str, &'static str, Stats)> {
        let each =
            self.links.iter().filter_map(|link| Some((link.verifier.name(), link.memory.as_ref()?.stats()?)));
        each.map(|(mech, (memory, stats))| (mech, memory, stats)).collect()
    }
}

impl Link {
    async fn ask(&self, creds: &Credentials) -> Verdict {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Verdict::Tempfail(Tempfail::Busy(self.limit));
        };
        match tokio::time::timeout(self.timeout, self.verifier.verify(creds)).await {
            Ok(outcome) => outcome.into(),
            Err(_) => Verdict::Tempfail(Tempfail::Timeout(self.timeout)),
        }
    }
}

/// Everything needed to build the mechanisms, kept to build them again on SIGHUP.
#[derive(Debug)]
pub struct ChainSpec {
    /// Each mechanism with its options; the blocking pool is made once and kept across reloads,
    /// so that a reload never adds threads beyond what the runtime was sized for.
    pub links: Vec<(Mechanism, MechanismOptions)>,
    /// `--chain-continue-on-tempfail`.
    pub continue_on_tempfail: bool,
    /// Requests each mechanism may have in progress (`--mech-concurrency`).
    pub concurrency: usize,
    /// Each mechanism's deadline (`--verify-timeout`).
    pub timeout: Duration,
}

/// A mechanism that could not be set up (Cyrus: `failed to initialize mechanism X`).
#[derive(Debug, thiserror::Error)]
#[error("failed to initialize mechanism {mech}: {source}")]
pub struct BuildError {
    mech: &'static str,
    source: MechanismError,
}

impl ChainSpec {
    /// One verifier per mechanism, each on its own blocking pool so that a hung mechanism cannot
    /// take the threads another needs. Reads the mechanisms' files (ldap, sql) anew.
    pub fn build(&self) -> Result<Chain, BuildError> {
        let mut chain = Chain::new(self.continue_on_tempfail);
        for (mech, options) in &self.links {
            let built = mechanism::build(*mech, options)
                .map_err(|source| BuildError { mech: mech.name(), source })?;
            chain.push_built(built, self.concurrency, self.timeout);
        }
        Ok(chain)
    }

    /// Whether `mech` is one of the chain's.
    pub fn contains(&self, mech: Mechanism) -> bool {
        self.links.iter().any(|(m, _)| *m == mech)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use backends::{Reject, VerifyFuture};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use zeroize::Zeroizing;

    struct Fixed {
        name: &'static str,
        answer: Outcome,
        delay: Duration,
        asked: AtomicUsize,
    }

    impl Verifier for Fixed {
        fn name(&self) -> &'static str {
            self.name
        }
        fn verify<'a>(&'a self, _: &'a Credentials) -> VerifyFuture<'a> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                self.answer.clone()
            })
        }
    }

    fn fixed(name: &'static str, answer: Outcome) -> Arc<Fixed> {
        Arc::new(Fixed { name, answer, delay: Duration::ZERO, asked: AtomicUsize::new(0) })
    }

    fn chain(cont: bool, links: &[Arc<Fixed>]) -> Chain {
        let mut chain = Chain::new(cont);
        for link in links {
            chain.push(link.clone(), 4, Duration::from_secs(5));
        }
        chain
    }

    fn creds() -> Credentials {
        Credentials {
            login: "joe".into(),
            password: Zeroizing::new(b"pw".to_vec()),
            service: "smtp".into(),
            realm: String::new(),
            client_addr: None,
        }
    }

    fn down() -> Outcome {
        Outcome::Unavailable("down".into())
    }

    #[tokio::test]
    async fn ok_wins_and_no_moves_on() {
        let (a, b, c) = (
            fixed("a", Outcome::No(Reject::InvalidUsername)),
            fixed("b", Outcome::Ok),
            fixed("c", Outcome::No(Reject::PamAuth)),
        );
        let ch = chain(false, &[a.clone(), b.clone(), c.clone()]);
        assert_eq!(ch.name(), "a,b,c");
        assert_eq!(ch.decide(&creds()).await, Decision { verdict: Verdict::Ok(None), mech: "b" });
        assert_eq!(c.asked.load(Ordering::SeqCst), 0);
        let ch = chain(false, &[a, c]);
        assert_eq!(ch.decide(&creds()).await, Decision { verdict: Verdict::No(Reject::PamAuth), mech: "c" });
    }

    #[tokio::test]
    async fn a_tempfail_stops_the_chain_unless_told_to_continue() {
        let (a, b) = (fixed("a", down()), fixed("b", Outcome::Ok));
        let stop = chain(false, &[a.clone(), b.clone()]);
        assert_eq!(stop.decide(&creds()).await.verdict, down().into());
        assert_eq!(b.asked.load(Ordering::SeqCst), 0);
        let cont = chain(true, &[a.clone(), b.clone()]);
        assert_eq!(cont.decide(&creds()).await.verdict, Verdict::Ok(None));
        // Continuing finds no OK: still a tempfail, never a NO the down mechanism might not have said.
        let cont = chain(true, &[a, fixed("c", Outcome::No(Reject::PamAuth))]);
        assert_eq!(cont.decide(&creds()).await, Decision { verdict: down().into(), mech: "a" });
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_mechanism_fills_only_its_own_quota() {
        let hung = Arc::new(Fixed {
            name: "hung",
            answer: Outcome::Ok,
            delay: Duration::from_secs(3600),
            asked: AtomicUsize::new(0),
        });
        let ok = fixed("ok", Outcome::Ok);
        let mut hung_chain = Chain::new(false);
        hung_chain.push(hung.clone(), 2, Duration::from_secs(30));
        let hung_chain = Arc::new(hung_chain);
        let stuck: Vec<_> = (0..2)
            .map(|_| {
                let c = hung_chain.clone();
                tokio::spawn(async move { c.decide(&creds()).await })
            })
            .collect();
        tokio::task::yield_now().await;
        // The third is refused at once instead of queueing behind the hung two.
        let third = hung_chain.decide(&creds()).await;
        assert_eq!(third.verdict, Verdict::Tempfail(Tempfail::Busy(2)));
        assert_eq!(Tempfail::Busy(2).to_string(), "2 requests already in progress");
        assert_eq!(hung.asked.load(Ordering::SeqCst), 2);
        // Another mechanism is unaffected.
        assert_eq!(chain(false, &[ok]).decide(&creds()).await.verdict, Verdict::Ok(None));
        // And the hung ones time out as tempfails.
        for s in stuck {
            assert_eq!(
                s.await.unwrap().verdict,
                Verdict::Tempfail(Tempfail::Timeout(Duration::from_secs(30)))
            );
        }
    }
}
