//! Load mode: N concurrent clients, each opening a fresh connection per request as libsasl2 does.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use crate::exchange::{ExchangeError, exchange};
use crate::stats::{Summary, Tally};

/// Without `--timeout`, a load request gives up after this long so that one stuck connection
/// cannot stall a timed run forever; it is then counted as a failure.
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// When a load run stops.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// After this many requests in total.
    Count(u64),
    /// No new request starts after this long.
    Duration(Duration),
}

/// Everything a load run needs.
pub struct LoadPlan {
    /// Socket path.
    pub socket: PathBuf,
    /// The framed request with the right password.
    pub request: Zeroizing<Vec<u8>>,
    /// The framed request with a wrong password, sent every `wrong_every`-th request.
    pub wrong_request: Option<(u64, Zeroizing<Vec<u8>>)>,
    /// Concurrent clients.
    pub concurrency: u32,
    /// Stop condition.
    pub limit: Limit,
    /// Per-request deadline.
    pub timeout: Duration,
    /// Rewrite a progress line on stderr each second (when stderr is a terminal).
    pub progress: bool,
}

/// Run the plan; returns the summary and the first failure seen, if any, for diagnosis.
pub async fn run_load(plan: LoadPlan) -> (Summary, Option<String>) {
    let plan = Arc::new(plan);
    let tickets = Arc::new(AtomicU64::new(0));
    let first_failure: Arc<OnceCell<String>> = Arc::new(OnceCell::new());
    let started = Instant::now();
    let deadline = match plan.limit {
        Limit::Duration(limit) => Some(started + limit),
        Limit::Count(_) => None,
    };
    let progress = Arc::new(Progress::default());
    let reporter = plan.progress.then(|| tokio::spawn(report(progress.clone(), started)));
    let mut clients = JoinSet::new();
    for _ in 0..plan.concurrency {
        let (plan, tickets, first_failure) = (plan.clone(), tickets.clone(), first_failure.clone());
        let progress = progress.clone();
        clients.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let ticket = tickets.fetch_add(1, Ordering::Relaxed);
                let more = match (plan.limit, deadline) {
                    (Limit::Count(count), _) => ticket < count,
                    (Limit::Duration(_), Some(deadline)) => Instant::now() < deadline,
                    (Limit::Duration(_), None) => false,
                };
                if !more {
                    break;
                }
                let request = match &plan.wrong_request {
                    Some((every, wrong)) if (ticket + 1) % every == 0 => wrong,
                    _ => &plan.request,
                };
                let sent = Instant::now();
                let outcome = tokio::time::timeout(plan.timeout, exchange(&plan.socket, request))
                    .await
                    .unwrap_or(Err(ExchangeError::TimedOut));
                let latency_us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                progress.done.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Ok(reply) => {
                        if reply.is_ok() {
                            tally.ok += 1;
                        } else {
                            tally.no += 1;
                        }
                        tally.latencies_us.push(latency_us);
                    }
                    Err(err) => {
                        tally.fail += 1;
                        progress.failed.fetch_add(1, Ordering::Relaxed);
                        let _ = first_failure.set(err.to_string());
                    }
                }
            }
            tally
        });
    }
    let mut total = Tally::default();
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(tally) => total.absorb(tally),
            Err(err) => {
                let _ = first_failure.set(format!("client task failed: {err}"));
            }
        }
    }
    if let Some(reporter) = reporter {
        reporter.abort();
        // Clear the progress line so the summary starts on a clean line.
        eprint!("\r\x1b[K");
    }
    let summary = total.summarise(plan.concurrency, started.elapsed());
    let failure = Arc::try_unwrap(first_failure).ok().and_then(OnceCell::into_inner);
    (summary, failure)
}

/// Counts the progress line reads while clients run.
#[derive(Default)]
struct Progress {
    done: AtomicU64,
    failed: AtomicU64,
}

/// Each second, rewrite one line on stderr: requests done, failures, rate, elapsed.
async fn report(progress: Arc<Progress>, started: Instant) {
    use std::io::Write;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (done, failed) = (progress.done.load(Ordering::Relaxed), progress.failed.load(Ordering::Relaxed));
        let elapsed = started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { done as f64 / elapsed } else { 0.0 };
        // \r and erase-to-end-of-line: the line is rewritten in place.
        eprint!("\r\x1b[K{done} requests, {failed} failed, {rate:.0}/s, {elapsed:.0}s");
        let _ = std::io::stderr().flush();
    }
}
