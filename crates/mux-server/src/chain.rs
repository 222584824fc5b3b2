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
//! once as `Unavailable` rather than queued, so a hung LDAP server fills its own quota and never
//! the global connection cap or the threads the next mechanism needs.

use backends::expiring::Stats;
use backends::{Credentials, Outcome, Verifier};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// One mechanism in the chain.
struct Link {
    verifier: Arc<dyn Verifier>,
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

/// The chain's answer and which mechanism gave it (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The answer.
    pub outcome: Outcome,
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
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        if !self.name.is_empty() {
            self.name.push(',');
        }
        self.name.push_str(verifier.name());
        self.links.push(Link { verifier, in_flight: Arc::new(Semaphore::new(limit)), limit, timeout });
    }

    /// The mechanisms' names joined with commas, as given to `-a`: the cache's scope.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ask the mechanisms in order (see the module doc for the rule).
    pub async fn decide(&self, creds: &Credentials) -> Decision {
        let mut last =
            Decision { outcome: Outcome::Unavailable("no mechanism configured".into()), mech: "none" };
        let mut tempfail: Option<Decision> = None;
        for link in &self.links {
            let decision = Decision { outcome: link.ask(creds).await, mech: link.verifier.name() };
            match decision.outcome {
                Outcome::Ok => return decision,
                Outcome::No(_) => last = decision,
                Outcome::Unavailable(_) if !self.continue_on_tempfail => return decision,
                Outcome::Unavailable(ref reason) => {
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
        let each = self.links.iter().map(|link| (link.verifier.name(), link.verifier.remembered()));
        each.filter_map(|(mech, memory)| memory.map(|(name, stats)| (mech, name, stats))).collect()
    }
}

impl Link {
    async fn ask(&self, creds: &Credentials) -> Outcome {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Outcome::Unavailable(format!("{} requests already in progress", self.limit));
        };
        tokio::time::timeout(self.timeout, self.verifier.verify(creds)).await.unwrap_or_else(|_| {
            Outcome::Unavailable(format!("no answer within {}s", self.timeout.as_secs_f32()))
        })
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
        assert_eq!(ch.decide(&creds()).await, Decision { outcome: Outcome::Ok, mech: "b" });
        assert_eq!(c.asked.load(Ordering::SeqCst), 0);
        let ch = chain(false, &[a, c]);
        assert_eq!(ch.decide(&creds()).await, Decision { outcome: Outcome::No(Reject::PamAuth), mech: "c" });
    }

    #[tokio::test]
    async fn a_tempfail_stops_the_chain_unless_told_to_continue() {
        let (a, b) = (fixed("a", down()), fixed("b", Outcome::Ok));
        let stop = chain(false, &[a.clone(), b.clone()]);
        assert_eq!(stop.decide(&creds()).await.outcome, down());
        assert_eq!(b.asked.load(Ordering::SeqCst), 0);
        let cont = chain(true, &[a.clone(), b.clone()]);
        assert_eq!(cont.decide(&creds()).await.outcome, Outcome::Ok);
        // Continuing finds no OK: still a tempfail, never a NO the down mechanism might not have said.
        let cont = chain(true, &[a, fixed("c", Outcome::No(Reject::PamAuth))]);
        assert_eq!(cont.decide(&creds()).await, Decision { outcome: down(), mech: "a" });
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
        assert!(
            matches!(third.outcome, Outcome::Unavailable(ref r) if r.contains("in progress")),
            "{third:?}"
        );
        assert_eq!(hung.asked.load(Ordering::SeqCst), 2);
        // Another mechanism is unaffected.
        assert_eq!(chain(false, &[ok]).decide(&creds()).await.outcome, Outcome::Ok);
        // And the hung ones time out as tempfails.
        for s in stuck {
            assert!(matches!(s.await.unwrap().outcome, Outcome::Unavailable(_)));
        }
    }
}
