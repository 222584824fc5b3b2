//! The server: acceptor threads on every listener ([`crate::acceptor`]), which answer what needs
//! no wait themselves, and one task per connection for the rest, under a global connection cap
//! ([`crate::slots`]: at the cap, the connection silent the longest without a complete request
//! makes room), until shutdown. Every connection that must wait gets its own task, so a slow
//! client or a slow backend delays only itself (Cyrus serves one connection per worker process,
//! reference §2.4).

use crate::acceptor;
use crate::answer::Answer;
use crate::connection::{self, Limits, Received, RequestBuf};
use crate::drain::Drain;
use crate::log_safe::LogSafe;
use crate::metrics::{self, RequestResult};
use crate::policy::{Deferred, Policy};
use crate::reply::Reply;
use crate::slots::{Slot, Slots};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};

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
    /// Acceptor threads per listener ([`crate::acceptor`]).
    pub acceptors: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_connections: MAX_CONNECTIONS,
            shutdown_grace: SHUTDOWN_GRACE,
            acceptors: acceptor::default_count(),
        }
    }
}

/// Serve `listeners` until `shutdown` completes, then let in-flight requests finish for the grace
/// period. `daemon::start` and the tests call this same function. Each listener gets
/// [`ServerConfig::acceptors`] threads (it is made blocking for them); the runtime this is
/// called on serves what they hand over.
pub async fn run(
    listeners: Vec<std::os::unix::net::UnixListener>,
    policy: Arc<Policy>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Slots::new(config.max_connections);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut all_done) = mpsc::channel::<()>(1);
    let drain = match Drain::start(config.limits.drain_timeout, stop_rx.clone(), done_tx.clone()) {
        Ok(drain) => drain,
        Err(e) => {
            tracing::error!("cannot start the drain thread: {e}");
            return;
        }
    };
    let shared = Arc::new(acceptor::Shared {
        policy,
        config,
        slots: slots.clone(),
        runtime: tokio::runtime::Handle::current(),
        drain,
    });
    for listener in listeners {
        if let Err(e) = acceptor::prepare(&listener) {
            tracing::error!("cannot accept on a listener: {e}");
            continue;
        }
        let listener = Arc::new(listener);
        for _ in 0..config.acceptors.max(1) {
            let started = acceptor::spawn(listener.clone(), shared.clone(), stop_rx.clone(), done_tx.clone());
            if let Err(e) = started {
                tracing::error!("cannot start an acceptor thread: {e}");
            }
        }
    }
    drop(done_tx);
    shutdown.await;
    let _ = stop_tx.send(true);
    // Every acceptor and the drain thread hold a sender: `None` once all have returned.
    let _ = all_done.recv().await;
    // Every connection holds a slot; getting them all back means every request has finished.
    if tokio::time::timeout(config.shutdown_grace, slots.all_free()).await.is_err() {
        tracing::info!("shutdown: abandoning requests still in progress");
    }
}

/// Where an acceptor left a connection it handed over.
pub enum Begun {
    /// Reading the request; what was read so far (maybe nothing).
    Reading(RequestBuf),
    /// The request is read; the policy deferred it.
    Deciding(Deferred),
    /// The reply is known and counted; `sent` bytes of it are written.
    Replying {
        /// The reply, framed.
        reply: Vec<u8>,
        /// How much of it is written.
        sent: usize,
    },
}

/// One connection, from where its acceptor left it (`begun`, at `started`) to its end.
pub async fn serve(
    stream: UnixStream,
    slot: Slot,
    policy: &Policy,
    limits: &Limits,
    drain: &Drain,
    begun: Begun,
    started: std::time::Instant,
) {
    // Declared in this order so that `slot` is dropped before `stream` is closed, even when the
    // task is cancelled: the slot table must never name a closed descriptor.
    let mut stream = stream;
    let slot = slot;
    let metrics = metrics::get();
    let answer = match begun {
        Begun::Replying { reply, sent } => {
            connection::finish_sending(stream, reply.get(sent..).unwrap_or_default(), limits).await;
            if let Some(m) = metrics {
                m.connections().dec();
            }
            return;
        }
        Begun::Deciding(deferred) => Some(policy.decide_later(deferred, connection::peer_gone(&stream)).await),
        Begun::Reading(buf) => {
            let received = connection::read_request(&mut slot.watch(&mut stream), limits, buf).await;
            if !slot.read_done() {
                // Shed to make room (its socket is shut down): nothing to answer, no one to answer.
                tracing::debug!("connection shed at the connection limit");
                if let Some(m) = metrics {
                    m.observe(policy.mechanism(), RequestResult::Incomplete, started.elapsed());
                    m.connections().dec();
                }
                return;
            }
            answer_to(received, &stream, policy, limits).await
        }
    };
    if let Some(m) = metrics {
        m.observe(policy.mechanism(), RequestResult::of(answer.as_ref()), started.elapsed());
    }
    // A tempfail closes without a reply.
    if let Some(reply) = answer.as_ref().and_then(Answer::reply) {
        let reply = crate::frame::encode_reply(reply.text().as_bytes());
        // Without waiting for the reactor first (crate::eager): a reply always fits.
        let sent = crate::eager::write_now(&stream, &reply);
        if sent < reply.len() {
            connection::finish_sending(stream, reply.get(sent..).unwrap_or_default(), limits).await;
        } else {
            // The drain waits for the client's close, as the acceptors' answers do: this task
            // ends here instead of waking once more for it.
            match stream.into_std() {
                Ok(stream) => drain.adopt(slot, stream),
                Err(e) => tracing::debug!("cannot drain a connection, closing it: {e}"),
            }
        }
    }
    if let Some(m) = metrics {
        m.connections().dec();
    }
}

/// The answer to what reading a request brought; `None` when there is no one to answer.
async fn answer_to(received: Received, stream: &UnixStream, policy: &Policy, limits: &Limits) -> Option<Answer> {
    match received {
        // A client that hangs up while its request is held by a penalty frees its connection
        // at once: fire-and-forget guessing costs the daemon nothing.
        Received::Request(raw) => Some(policy.decide_unless_gone(raw, connection::peer_gone(stream)).await),
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
    }
}
