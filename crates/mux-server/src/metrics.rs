//! Beside the request path: counters and latency histograms of what the daemon answered,
//! rendered as OpenMetrics text for the endpoint in [`crate::scrape`] (`--metrics-listen`).
//! They show counts and timings, never user names or passwords.
//!
//! The cache's and the penalties' counters live in those tables (plain atomics the request path
//! updates anyway) and are read at each scrape, so turning metrics on adds nothing to a request.

use crate::answer::{Answer, Tempfail};
use crate::policy::Policy;
use crate::reply::Reply;
use backends::expiring::Stats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How one request ended, as counted (the `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestResult {
    /// `OK`.
    Ok,
    /// `NO …` from a mechanism.
    No,
    /// Closed without a reply because the mechanism could not decide.
    Tempfail,
    /// Refused before any mechanism: oversize, empty or malformed field.
    Refused,
    /// The client sent no complete request (closed early, stalled, read error).
    Incomplete,
}

impl RequestResult {
    /// How a connection ended: the daemon's answer, or `None` when no complete request came.
    pub fn of(answer: Option<&Answer>) -> Self {
        match answer {
            None | Some(Answer::Tempfail(Tempfail::ClientGone)) => RequestResult::Incomplete,
            Some(Answer::Tempfail(_)) => RequestResult::Tempfail,
            Some(Answer::Reply(Reply::Ok | Reply::OkWith(_))) => RequestResult::Ok,
            Some(Answer::Reply(Reply::No(_))) => RequestResult::No,
            Some(Answer::Reply(_)) => RequestResult::Refused,
        }
    }

    fn label(self) -> &'static str {
        match self {
            RequestResult::Ok => "ok",
            RequestResult::No => "no",
            RequestResult::Tempfail => "tempfail",
            RequestResult::Refused => "refused",
            RequestResult::Incomplete => "incomplete",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    mech: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MechLabels {
    mech: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    credential: String,
}

/// Distinct credential labels counted apart; later ones share [`OTHER_LABELS`]. Labels are the
/// operators' own words, usually a handful (`phone`, `printer`); the bound keeps a store with a
/// label per user from growing the metrics without limit.
pub const CREDENTIAL_LABELS: usize = 64;

/// The `credential` value for labels beyond [`CREDENTIAL_LABELS`]; no label can be written so.
pub const OTHER_LABELS: &str = "(more)";

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    credential_successes: Family<CredentialLabels, Counter>,
    credential_labels: Mutex<HashSet<String>>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    backend_up: Family<MechLabels, Gauge>,
    connections: Gauge,
    shed: Counter,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Turn metrics on (once, at start-up) and return them; `policy`'s cache and penalty counters
/// are read at each scrape.
pub fn enable(policy: Option<Arc<Policy>>) -> &'static Metrics {
    METRICS.get_or_init(|| {
        let mut metrics = Metrics::new();
        if let Some(policy) = policy {
            metrics.registry.register_collector(Box::new(PolicyCollector(policy)));
        }
        metrics
    })
}

/// The metrics, if `--metrics-listen` turned them on; recording is skipped otherwise.
pub fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s: cache hits at the bottom, PAM failure delays and backend timeouts at the top.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("saslauthd");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let backend_up = Family::<MechLabels, Gauge>::default();
        let connections = Gauge::default();
        let credential_successes = Family::<CredentialLabels, Counter>::default();
        let shed = Counter::default();
        registry.register("requests", "Requests answered, by mechanism and result", requests.clone());
        registry.register(
            "credential_successes",
            "Successes checked by a mechanism, by the label of the credential that matched (empty: none)",
            credential_successes.clone(),
        );
        // OpenMetrics: the unit is a suffix of the name and gets a `# UNIT` line.
        registry.register_with_unit("request_duration", "Time from connection to answer", Unit::Seconds, latency.clone());
        registry.register(
            "backend_up",
            "1 if the mechanism's last answer was a decision, 0 if it could not decide",
            backend_up.clone(),
        );
        registry.register("connections", "Connections being served", connections.clone());
        registry.register(
            "connections_shed",
            "Connections closed without a complete request to make room at --max-connections",
            shed.clone(),
        );
        // The build and the reload status (contrib/prometheus's SaslauthdReloadFailed alert reads
        // it), from the one status SIGHUP and the control socket's reload both set.
        registry.register_collector(Box::new(StatusCollector(crate::reload::status())));
        Metrics {
            registry,
            requests,
            credential_successes,
            credential_labels: Mutex::new(HashSet::new()),
            latency,
            backend_up,
            connections,
            shed,
        }
    }

    /// Count one success a mechanism checked, by the label of the credential that matched
    /// (`None`: a credential without label, or a mechanism without credentials of its own).
    pub fn credential_success(&self, label: Option<&str>) {
        let credential = match label {
            None => String::new(),
            Some(label) => {
                let mut seen = self.credential_labels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if seen.contains(label) || seen.len() < CREDENTIAL_LABELS {
                    seen.insert(label.to_owned());
                    label.to_owned()
                } else {
                    OTHER_LABELS.to_owned()
                }
            }
        };
        self.credential_successes.get_or_create(&CredentialLabels { credential }).inc();
    }

    /// Count one request.
    pub fn observe(&self, mech: &str, result: RequestResult, elapsed: Duration) {
        let labels = RequestLabels { mech: mech.to_owned(), result: result.label().to_owned() };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
        if matches!(result, RequestResult::Ok | RequestResult::No | RequestResult::Tempfail) {
            let up = i64::from(result != RequestResult::Tempfail);
            self.backend_up.get_or_create(&MechLabels { mech: mech.to_owned() }).set(up);
        }
    }

    /// The gauge of open connections (incremented and decremented around each connection).
    pub fn connections(&self) -> &Gauge {
        &self.connections
    }

    /// The counter of connections shed at the connection cap ([`crate::slots`]).
    pub fn shed(&self) -> &Counter {
        &self.shed
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text = "# EOF\n".to_owned();
        }
        text
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

/// Picks one counter out of a mechanism memory's counts.
type CountOf = fn(&Stats) -> u64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemoryLabels {
    mech: &'static str,
    memory: &'static str,
}

/// Reads the cache's and the penalties' counters at scrape time.
struct PolicyCollector(Arc<Policy>);

impl std::fmt::Debug for PolicyCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PolicyCollector").field(&self.0.mechanism()).finish()
    }
}

fn encode_counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

fn encode_gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: usize) -> std::fmt::Result {
    let gauge = ConstGauge::new(gauge_value(value));
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for PolicyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        if let Some(cache) = self.0.cache() {
            let stats = cache.stats();
            let e = &mut encoder;
            encode_counter(e, "cache_hits", "Requests answered from the credential cache.", stats.hits)?;
            encode_counter(e, "cache_misses", "Requests the cache could not answer.", stats.misses)?;
            encode_counter(
                e,
                "cache_evictions",
                "Users dropped from the full cache to make room.",
                stats.evictions,
            )?;
            encode_counter(
                e,
                "cache_invalidations",
                "Users dropped from the cache after a refused password.",
                stats.invalidations,
            )?;
            encode_counter(
                e,
                "cache_superseded",
                "Entries of an old password dropped after a login with a new one.",
                stats.superseded,
            )?;
            encode_gauge(e, "cache_users", "Users in the credential cache.", cache.len())?;
        }
        if let Some(penalties) = self.0.penalties() {
            let e = &mut encoder;
            encode_counter(
                e,
                "penalty_held",
                "Requests held by a brute-force penalty before their check.",
                penalties.held(),
            )?;
            encode_counter(
                e,
                "penalty_refused",
                "Requests refused (tempfail) by a brute-force penalty before their check.",
                penalties.refused(),
            )?;
            let (users, pairs, addrs) = penalties.penalised();
            let mut family = e.encode_descriptor(
                "penalty_entries",
                "Accounts, (account, address) pairs and client addresses with failures counted.",
                None,
                MetricType::Gauge,
            )?;
            for (table, n) in [("user", users), ("pair", pairs), ("address", addrs)] {
                ConstGauge::new(gauge_value(n)).encode(family.encode_family(&TableLabels { table })?)?;
            }
        }
        let remembered = self.0.remembered();
        if !remembered.is_empty() {
            let counters: [(&str, &str, CountOf); 2] = [
                (
                    "mechanism_memory_hits",
                    "Lookups answered by a mechanism's memory (the *_cache_ttl keys of ldap and sql).",
                    |s| s.hits,
                ),
                ("mechanism_memory_misses", "Lookups a mechanism's memory could not answer.", |s| s.misses),
            ];
            for (name, help, value) in counters {
                let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
                for (mech, memory, stats) in &remembered {
                    let labels = MemoryLabels { mech, memory };
                    ConstCounter::new(value(stats)).encode(family.encode_family(&labels)?)?;
                }
            }
            let help = "Entries in a mechanism's memory.";
            let mut family =
                encoder.encode_descriptor("mechanism_memory_entries", help, None, MetricType::Gauge)?;
            for (mech, memory, stats) in &remembered {
                let labels = MemoryLabels { mech, memory };
                ConstGauge::new(gauge_value(stats.entries)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The build and the configuration's reload status (`crate::reload`), on every exposition.
#[derive(Debug)]
struct StatusCollector(&'static crate::reload::ReloadStatus);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

impl Collector for StatusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        // The `*_build_info` convention: a gauge of 1 whose labels say what is running.
        let mut family = encoder.encode_descriptor(
            "build_info",
            "The running saslauthd-rs version (always 1).",
            None,
            MetricType::Gauge,
        )?;
        let labels = BuildLabels { version: env!("CARGO_PKG_VERSION") };
        ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
        let status = self.0;
        let successful = ConstGauge::new(i64::from(status.successful()));
        successful.encode(encoder.encode_descriptor(
            "config_last_reload_successful",
            "1 if the last configuration reload (SIGHUP or control reload) succeeded, else 0.",
            None,
            MetricType::Gauge,
        )?)?;
        let timestamp = ConstGauge::new(i64::try_from(status.last_success()).unwrap_or(i64::MAX));
        timestamp.encode(encoder.encode_descriptor(
            "config_last_reload_success_timestamp",
            "When the configuration was last loaded successfully (start or reload), seconds since the epoch.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?)?;
        Ok(())
    }
}

/// The exposition for the control socket's `stats`: everything the endpoint would show when
/// `--metrics-listen` is on; otherwise what needs no recording on the request path (build,
/// reload status, cache, penalties, mechanisms' memories), without request counts.
pub fn render_for(policy: Arc<Policy>) -> String {
    if let Some(metrics) = get() {
        return metrics.render();
    }
    let mut registry = Registry::with_prefix("saslauthd");
    registry.register_collector(Box::new(StatusCollector(crate::reload::status())));
    registry.register_collector(Box::new(PolicyCollector(policy)));
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        text = "# EOF\n".to_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn counts_render_as_openmetrics() {
        let metrics = Metrics::new();
        metrics.observe("pam", RequestResult::Ok, Duration::from_millis(3));
        metrics.observe("pam", RequestResult::No, Duration::from_secs(2));
        metrics.observe("pam", RequestResult::Tempfail, Duration::from_secs(30));
        let text = metrics.render();
        assert!(text.contains(r#"saslauthd_requests_total{mech="pam",result="ok"} 1"#), "{text}");
        assert!(text.contains(r#"saslauthd_requests_total{mech="pam",result="no"} 1"#), "{text}");
        assert!(text.contains(r#"saslauthd_backend_up{mech="pam"} 0"#), "{text}");
        assert!(text.contains("saslauthd_request_duration_seconds_bucket"), "{text}");
        assert!(text.contains("# UNIT saslauthd_request_duration_seconds seconds\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_failed_reload_shows_until_one_succeeds() {
        // A status of its own: the process's is shared with the other tests.
        let status: &'static crate::reload::ReloadStatus = Box::leak(Box::new(crate::reload::ReloadStatus::new()));
        let mut registry = Registry::with_prefix("saslauthd");
        registry.register_collector(Box::new(StatusCollector(status)));
        let render = || {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
            text
        };
        assert!(render().contains("saslauthd_config_last_reload_success_timestamp_seconds 0\n"), "not started");
        status.started();
        assert!(render().contains("saslauthd_config_last_reload_successful 1\n"));
        let started = status.last_success();
        assert!(started > 1_700_000_000, "seconds since the epoch: {started}");
        status.record(false);
        let text = render();
        assert!(text.contains("saslauthd_config_last_reload_successful 0\n"), "{text}");
        assert!(text.contains(&format!("saslauthd_config_last_reload_success_timestamp_seconds {started}\n")), "kept");
        assert!(text.contains(&format!("saslauthd_build_info{{version=\"{}\"}} 1\n", env!("CARGO_PKG_VERSION"))));
        assert!(text.contains("# UNIT saslauthd_config_last_reload_success_timestamp_seconds seconds\n"));
        status.record(true);
        assert!(render().contains("saslauthd_config_last_reload_successful 1\n"));
    }

    #[test]
    fn every_metric_the_shipped_alert_rules_use_exists() {
        let rules = include_str!("../../../contrib/prometheus/saslauthd-rules.yml");
        let metrics = Metrics::new();
        metrics.observe("pam", RequestResult::Tempfail, Duration::from_secs(1));
        let text = metrics.render();
        let used: Vec<&str> = rules
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("saslauthd_"))
            .collect();
        assert!(!used.is_empty());
        for name in used {
            assert!(text.contains(name), "{name} is used by saslauthd-rules.yml but never exported");
        }
    }

    #[test]
    fn credential_successes_by_label_without_users_and_bounded() {
        let metrics = Metrics::new();
        metrics.credential_success(None);
        metrics.credential_success(Some("phone"));
        metrics.credential_success(Some("phone"));
        for i in 0..CREDENTIAL_LABELS + 5 {
            metrics.credential_success(Some(&format!("l{i}")));
        }
        let text = metrics.render();
        assert!(text.contains(r#"saslauthd_credential_successes_total{credential=""} 1"#), "{text}");
        assert!(text.contains(r#"saslauthd_credential_successes_total{credential="phone"} 2"#), "{text}");
        assert!(text.contains(r#"saslauthd_credential_successes_total{credential="(more)"} 6"#), "{text}");
        assert_eq!(text.matches("saslauthd_credential_successes_total{").count(), CREDENTIAL_LABELS + 2);
    }
}
