//! Beside the request path: reloading the mechanisms from their configuration. SIGHUP and the
//! control socket's `reload` call the same [`Reloader::reload`], and both leave their result in
//! the one [`ReloadStatus`] the metrics show (`saslauthd_config_last_reload_successful`,
//! `saslauthd_config_last_reload_success_timestamp_seconds`, the names Prometheus uses for its
//! own configuration reloads).

use crate::chain::Chain;
use crate::policy::Policy;
use sd_notify::NotifyState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the last reload went, since start.
#[derive(Debug)]
pub struct ReloadStatus {
    successful: AtomicBool,
    /// Seconds since the epoch of the start or the last successful reload; 0 before start.
    last_success: AtomicU64,
}

static STATUS: ReloadStatus = ReloadStatus::new();

impl Default for ReloadStatus {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's reload status.
pub fn status() -> &'static ReloadStatus {
    &STATUS
}

impl ReloadStatus {
    /// Successful (the daemon serves only once its start-up configuration loaded), never yet
    /// timestamped.
    pub const fn new() -> Self {
        Self { successful: AtomicBool::new(true), last_success: AtomicU64::new(0) }
    }

    /// The configuration read at start-up is in force: counts as a successful load.
    pub fn started(&self) {
        self.record(true);
    }

    /// How a reload ended.
    pub(crate) fn record(&self, ok: bool) {
        self.successful.store(ok, Ordering::Relaxed);
        if ok {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
            self.last_success.store(now.as_secs(), Ordering::Relaxed);
        }
    }

    /// Whether the last reload (or the start) succeeded.
    pub fn successful(&self) -> bool {
        self.successful.load(Ordering::Relaxed)
    }

    /// Seconds since the epoch of the start or the last successful reload (0 before start).
    pub fn last_success(&self) -> u64 {
        self.last_success.load(Ordering::Relaxed)
    }
}

/// Builds a new chain from the configuration files (the daemon's `ChainSpec::build`).
pub type BuildChain = dyn Fn() -> Result<Chain, String> + Send + Sync;

/// Puts a freshly built chain in force; shared by the SIGHUP handler and the control socket.
pub struct Reloader {
    policy: Arc<Policy>,
    build: Arc<BuildChain>,
    /// One reload at a time: a SIGHUP during a control `reload` waits for it.
    busy: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// A reloader that builds with `build` and installs into `policy`.
    pub fn new(policy: Arc<Policy>, build: Arc<BuildChain>) -> Self {
        Self { policy, build, busy: tokio::sync::Mutex::new(()) }
    }

    /// Build the mechanisms again and put them in force; on any error keep the running ones. The
    /// sockets are untouched and requests in progress finish with the mechanisms they started
    /// with. `trigger` names the cause in the log (`SIGHUP`, `control`). Returns the mechanisms
    /// now in force, or why the old ones stay.
    pub async fn reload(&self, trigger: &str) -> Result<String, String> {
        let _one = self.busy.lock().await;
        tracing::info!("{trigger}: reloading the configuration");
        let mut reloading = vec![NotifyState::Reloading];
        reloading.extend(NotifyState::monotonic_usec_now().ok());
        if let Err(e) = sd_notify::notify(&reloading) {
            tracing::warn!("sd_notify: {e}");
        }
        // Building reads files and may resolve names: off the async workers.
        let build = self.build.clone();
        let built = tokio::task::spawn_blocking(move || build())
            .await
            .unwrap_or_else(|e| Err(format!("the reload task failed: {e}")));
        let result = built.and_then(|chain| self.policy.replace_chain(chain));
        status().record(result.is_ok());
        let result = match result {
            Ok(()) => {
                tracing::info!("{trigger}: configuration reloaded ({})", self.policy.mechanism());
                Ok(self.policy.mechanism().to_owned())
            }
            Err(e) => {
                tracing::error!("{trigger}: configuration not reloaded, the previous one stays in force: {e}");
                Err(e)
            }
        };
        if let Err(e) = sd_notify::notify(&[NotifyState::Ready]) {
            tracing::warn!("sd_notify: {e}");
        }
        result
    }
}
