//! The load mode's tally and its one-line `key=value` summary.

use std::fmt;
use std::time::Duration;

/// Counts and latencies of one load run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Replies starting with `OK`.
    pub ok: u64,
    /// Any other reply.
    pub no: u64,
    /// No usable reply (connect error, closed without reply, malformed reply, timeout).
    pub fail: u64,
    /// Latency of every request that got a reply, in microseconds.
    pub latencies_us: Vec<u64>,
}

impl Tally {
    /// Merge another task's tally into this one.
    pub fn absorb(&mut self, other: Tally) {
        self.ok += other.ok;
        self.no += other.no;
        self.fail += other.fail;
        self.latencies_us.extend(other.latencies_us);
    }

    /// Freeze the tally into a summary over `elapsed` wall time.
    pub fn summarise(mut self, concurrency: u32, elapsed: Duration) -> Summary {
        self.latencies_us.sort_unstable();
        let requests = self.ok + self.no + self.fail;
        let seconds = elapsed.as_secs_f64();
        Summary {
            concurrency,
            requests,
            ok: self.ok,
            no: self.no,
            fail: self.fail,
            seconds,
            rps: if seconds > 0.0 { (self.ok + self.no) as f64 / seconds } else { 0.0 },
            p50_ms: percentile_ms(&self.latencies_us, 50.0),
            p90_ms: percentile_ms(&self.latencies_us, 90.0),
            p99_ms: percentile_ms(&self.latencies_us, 99.0),
            max_ms: self.latencies_us.last().map_or(0.0, |&us| us as f64 / 1000.0),
        }
    }
}

/// Nearest-rank percentile of sorted microsecond samples, in milliseconds; 0 when there are none.
fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    sorted_us[index] as f64 / 1000.0
}

/// The result of a load run. `Display` is the stable machine-readable line, keys in this order:
/// `concurrency requests ok no fail seconds rps p50_ms p90_ms p99_ms max_ms`.
#[derive(Debug)]
pub struct Summary {
    /// Concurrent clients.
    pub concurrency: u32,
    /// Requests finished (ok + no + fail).
    pub requests: u64,
    /// OK replies.
    pub ok: u64,
    /// NO (non-OK) replies.
    pub no: u64,
    /// Requests without a usable reply.
    pub fail: u64,
    /// Wall time of the run.
    pub seconds: f64,
    /// Replies (ok + no) per second.
    pub rps: f64,
    /// Median latency of replied requests.
    pub p50_ms: f64,
    /// 90th percentile latency.
    pub p90_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Slowest replied request.
    pub max_ms: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "concurrency={} requests={} ok={} no={} fail={} seconds={:.3} rps={:.1} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} max_ms={:.3}",
            self.concurrency,
            self.requests,
            self.ok,
            self.no,
            self.fail,
            self.seconds,
            self.rps,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&samples, 50.0), 50.0);
        assert_eq!(percentile_ms(&samples, 99.0), 99.0);
        assert_eq!(percentile_ms(&[7000], 99.0), 7.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
    }

    #[test]
    fn summary_line_is_stable() {
        let tally = Tally { ok: 3, no: 1, fail: 1, latencies_us: vec![1000, 2000, 3000, 4000] };
        let line = tally.summarise(2, Duration::from_secs(2)).to_string();
        assert_eq!(
            line,
            "concurrency=2 requests=5 ok=3 no=1 fail=1 seconds=2.000 rps=2.0 p50_ms=2.000 p90_ms=4.000 p99_ms=4.000 max_ms=4.000"
        );
    }
}
