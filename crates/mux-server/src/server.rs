//! Step "accept": listeners → one task per connection, under a global connection cap
//! ([`crate::slots`]: at the cap, the connection silent the longest without a complete request
//! makes room), until shutdown. Every connection gets its own task, so a slow client or a slow
//! backend delays only itself (Cyrus serves one connection per worker process, reference §2.4).

use crate::answer::Answer;
use crate::connection::{self, Limits, Received};
use crate::log_safe::LogSafe;
use crate::metrics::{self, RequestResult};
use crate::policy::Policy;
use crate::reply::Reply;
use crate::slots::{Pressure, Slot, Slots};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// Connections served at once by default (`--max-connections`).
pub const MAX_CONNECTIONS: usize = 1024;
/// How long in-flight requests may finish after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Server-wide settings.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Per-connection limits.
    pub limits: Limits,
    /// Connections served at once; at the cap, a newcomer takes the slot of the connection
    /// silent the longest that has not sent a complete request ([`crate::slots`]), or waits in
    /// the listen backlog if every connection has a request in progress.
    pub max_connections: usize,
    /// How long in-flight requests may finish after shutdown was asked for.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { limits: Limits::default(), max_connections: MAX_CONNECTIONS, shutdown_grace: SHUTDOWN_GRACE }
    }
}

/// Serve `listeners` until `shutdown` completes, then let in-flight requests finish for the grace
/// period. `daemon::start` and the tests call this same function.
pub async fn run(
    listeners: Vec<UnixListener>,
    policy: Arc<Policy>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Slots::new(config.max_connections);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut loops = tokio::task::JoinSet::new();
    for listener in listeners {
        loops.spawn(accept_loop(listener, policy.clone(), config, slots.clone(), stop_rx.clone()));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    while loops.join_next().await.is_some() {}
    // Every connection holds a slot; getting them all back means every request has finished.
    if tokio::time::timeout(config.shutdown_grace, slots.all_free()).await.is_err() {
        tracing::info!("shutdown: abandoning requests still in progress");
    }
}

async fn accept_loop(
    listener: UnixListener,
    policy: Arc<Policy>,
    config: ServerConfig,
    slots: Arc<Slots>,
    mut stop: watch::Receiver<bool>,
) {
    let mut pressure = Pressure::new(slots.cap());
    loop {
        // Accept first, then find a slot: a slot is made (by shedding) only for a client that
        // is there. At the cap this holds one descriptor beyond it, per listener.
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning (Cyrus sleeps 5 s).
                    tracing::error!("socket accept failure: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => return,
        };
        let slot = match slots.take(&stream) {
            Some(slot) => slot,
            None => tokio::select! {
                slot = slots.room(&stream, |shed| {
                    if let (crate::slots::Shedding::Shed(_), Some(m)) = (shed, metrics::get()) {
                        m.shed().inc();
                    }
                    pressure.note(shed);
                }) => slot,
                () = stopped(&mut stop) => return,
            },
        };
        let policy = policy.clone();
        tokio::spawn(async move { serve(stream, slot, &policy, &config.limits).await });
    }
}

/// Resolves once shutdown was asked for.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // Dropping the guard here keeps the accept loop's future `Send`.
    let _ = stop.wait_for(|s| *s).await;
}

/// One connection, start to end.
async fn serve(stream: UnixStream, slot: Slot, policy: &Policy, limits: &Limits) {
    // Declared in this order so that `slot` is dropped before `stream` is closed, even when the
    // task is cancelled: the slot table must never name a closed descriptor.
    let mut stream = stream;
    let slot = slot;
    let started = std::time::Instant::now();
    let metrics = metrics::get();
    if let Some(m) = metrics {
        m.connections().inc();
    }
    let received = connection::read_request(&mut slot.watch(&mut stream), limits).await;
    if !slot.read_done() {
        // Shed to make room (its socket is shut down): nothing to answer, no one to answer.
        tracing::debug!("connection shed at the connection limit");
        if let Some(m) = metrics {
            m.observe(policy.mechanism(), RequestResult::Incomplete, started.elapsed());
            m.connections().dec();
        }
        return;
    }
    // `None`: no complete request came, so there is nothing to answer.
    let answer = match received {
        // A client that hangs up while its request is held by a penalty frees its connection
        // at once: fire-and-forget guessing costs the daemon nothing.
        Received::Request(raw) => Some(policy.decide_unless_gone(raw, connection::peer_gone(&stream)).await),
        Received::Oversize(field) => {
            tracing::error!("{field} exceeded MAX_REQ_LEN: {}", limits.max_field);
            Some(Answer::Reply(Reply::FieldTooLong))
        }
        Received::Closed => {
            tracing::debug!("client closed before sending a complete request");
            None
        }
        Received::TimedOut => {
            let peer = stream.peer_cred().ok().map(|c| match c.pid() {
                Some(pid) => format!(" (pid {pid}, uid {})", c.uid()),
                None => format!(" (uid {})", c.uid()),
            });
            tracing::warn!(
                "client sent no complete request within {}s{}; dropped",
                limits.read_timeout.as_secs_f32(),
                LogSafe(peer.unwrap_or_default().as_bytes())
            );
            None
        }
        Received::Failed(e) => {
            tracing::warn!("read failure: {e}");
            None
        }
    };
    if let Some(m) = metrics {
        m.observe(policy.mechanism(), RequestResult::of(answer.as_ref()), started.elapsed());
    }
    let text = answer.as_ref().and_then(Answer::reply).map(|reply| reply.text());
    connection::finish(stream, text.as_deref(), limits).await;
    if let Some(m) = metrics {
        m.connections().dec();
    }
}
