//! LDAP connections: opening one with failover across `ldap_servers`, and bounded pools of them.
//!
//! ldap3 has neither (one URL per connection, no pool), so both are here. A new connection
//! tries the servers in order, skipping for `ldap_failback_interval` a server that just failed
//! (unless all did). A pooled connection to a later server is dropped once it is older than
//! that interval, so traffic returns to the first server when it is back. Idle connections
//! closed by the server are noticed on checkout (`is_closed`) or by the failed operation, which
//! the verifier then retries once on a fresh connection. Connections that carried a user's bind
//! are closed after it rather than pooled ([`Pool::close`]).

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};
use rustls::ClientConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

/// Idle connections older than this are closed rather than reused (servers and firewalls
/// drop idle LDAP connections silently; a fresh one costs one round trip).
const MAX_IDLE: Duration = Duration::from_secs(60);

/// Opens connections to the first server that answers.
pub struct Connector {
    servers: Vec<String>,
    down_until: Mutex<Vec<Option<Instant>>>,
    timeout: Duration,
    start_tls: bool,
    tls: Option<Arc<ClientConfig>>,
    no_verify: bool,
    /// Whether the warning about `ldap_tls_check_peer: no` was logged.
    warned_insecure: AtomicBool,
    failback: Duration,
}

/// One open connection.
pub struct Conn {
    /// The handle (operations take `&mut`).
    pub ldap: Ldap,
    server: usize,
    opened: Instant,
    last_used: Instant,
    /// The pool slot while checked out.
    slot: Option<OwnedSemaphorePermit>,
}

impl Connector {
    /// A connector for `servers` (tried in order).
    pub fn new(
        servers: Vec<String>,
        timeout: Duration,
        start_tls: bool,
        tls: Option<Arc<ClientConfig>>,
        no_verify: bool,
        failback: Duration,
    ) -> Self {
        let down_until = Mutex::new(vec![None; servers.len()]);
        Self {
            servers,
            down_until,
            timeout,
            start_tls,
            tls,
            no_verify,
            warned_insecure: AtomicBool::new(false),
            failback,
        }
    }

    /// Open a connection; the error lists why each server failed.
    pub async fn connect(&self) -> Result<Conn, String> {
        let now = Instant::now();
        let down: Vec<bool> = match self.down_until.lock() {
            Ok(d) => d.iter().map(|until| until.is_some_and(|t| t > now)).collect(),
            Err(_) => vec![false; self.servers.len()],
        };
        // Servers believed up first, in order; then the ones believed down, in order.
        let order =
            (0..self.servers.len()).filter(|&i| !down[i]).chain((0..self.servers.len()).filter(|&i| down[i]));
        let mut errors = Vec::new();
        for i in order {
            match self.connect_one(i).await {
                Ok(ldap) => {
                    self.mark(i, None);
                    self.warn_if_unverified(i);
                    let now = Instant::now();
                    return Ok(Conn { ldap, server: i, opened: now, last_used: now, slot: None });
                }
                Err(e) => {
                    tracing::warn!("ldap: cannot connect to {}: {e}", self.servers[i]);
                    self.mark(i, Some(Instant::now() + self.failback));
                    errors.push(format!("{}: {e}", self.servers[i]));
                }
            }
        }
        Err(format!("no LDAP server reachable ({})", errors.join("; ")))
    }

    /// Once per process, on the first connection that actually used TLS without verification
    /// (logged here rather than at start-up so it names a server that was really reached).
    fn warn_if_unverified(&self, server: usize) {
        let tls = self.start_tls || self.servers[server].to_ascii_lowercase().starts_with("ldaps://");
        if tls && self.no_verify && !self.warned_insecure.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "ldap: connected to {} without verifying its certificate (ldap_tls_check_peer: no): \
                 insecure, anyone on the path can pose as the server and read the passwords",
                self.servers[server]
            );
        }
    }

    fn mark(&self, server: usize, until: Option<Instant>) {
        if let Ok(mut d) = self.down_until.lock()
            && let Some(slot) = d.get_mut(server)
        {
            *slot = until;
        }
    }

    async fn connect_one(&self, server: usize) -> Result<Ldap, String> {
        let uri = &self.servers[server];
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.start_tls)
            .set_no_tls_verify(self.no_verify);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        // conn_timeout covers TCP only; the TLS handshake and StartTLS need a bound too.
        let (conn, ldap) = tokio::time::timeout(self.timeout, LdapConnAsync::with_settings(settings, uri))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| describe(&e, self.start_tls))?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!("ldap connection ended: {e}");
            }
        });
        Ok(ldap)
    }

    fn is_stale(&self, conn: &mut Conn) -> bool {
        conn.ldap.is_closed()
            || conn.last_used.elapsed() > MAX_IDLE
            || (conn.server > 0 && conn.opened.elapsed() > self.failback)
    }
}

/// A connect error as an administrator needs it: certificate problems named as such (they are
/// configuration errors, not outages), the rest as ldap3 words them.
fn describe(e: &LdapError, start_tls: bool) -> String {
    let tls = match e {
        LdapError::Io { source } => source.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        LdapError::Rustls { source } => Some(source),
        _ => None,
    };
    match (tls, e) {
        (Some(tls), _) => format!("TLS handshake failed: {tls}"),
        (None, LdapError::LdapResult { result }) if start_tls => {
            format!("StartTLS refused: rc={} {}", result.rc, result.text)
        }
        (None, LdapError::DNSName { source }) => format!("TLS: not a valid server name: {source}"),
        _ => e.to_string(),
    }
}

/// Connections of one kind, each bound as the same identity after checkout. At most `size`
/// are open: a request finding all of them busy waits for one (up to the operation timeout)
/// rather than opening more, so a burst neither churns connections (each new one costs the
/// server a TCP handshake and a bind) nor grows the daemon's descriptors without bound. (The
/// user-bind pool returns none: each is [`Pool::close`]d after its one bind.)
pub struct Pool {
    connector: Arc<Connector>,
    idle: Mutex<Vec<Conn>>,
    /// One permit per connection that may be checked out; idle connections hold none.
    slots: Arc<Semaphore>,
    size: usize,
    /// Bind as this (DN, password) when opening; `None` leaves the connection anonymous.
    bind: Option<(String, Zeroizing<String>)>,
    timeout: Duration,
}

/// Why no connection could be had.
#[derive(Debug)]
pub enum PoolError {
    /// No server reachable, the service bind failed, or every connection stayed busy.
    Unavailable(String),
}

impl Pool {
    /// A pool of up to `size` connections, bound with `bind` when opened.
    pub fn new(
        connector: Arc<Connector>,
        size: usize,
        bind: Option<(String, Zeroizing<String>)>,
        timeout: Duration,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(size));
        Self { connector, idle: Mutex::new(Vec::with_capacity(size)), slots, size, bind, timeout }
    }

    /// An idle connection, or a new one (bound as the pool's identity).
    pub async fn get(&self) -> Result<Conn, PoolError> {
        // Connections are only opened while holding a slot and with no idle one left, so the
        // open ones (checked out or idle) never outnumber the slots.
        let slot = match tokio::time::timeout(self.timeout, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) => return Err(PoolError::Unavailable("connection pool closed".into())),
            Err(_) => {
                return Err(PoolError::Unavailable(format!(
                    "all {} LDAP connections stayed busy for {:?}",
                    self.size, self.timeout
                )));
            }
        };
        loop {
            let Some(mut conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) else { break };
            if !self.connector.is_stale(&mut conn) {
                conn.slot = Some(slot);
                return Ok(conn);
            }
        }
        let mut conn = self.connector.connect().await.map_err(PoolError::Unavailable)?;
        if let Some((dn, pw)) = &self.bind {
            let result = conn.ldap.with_timeout(self.timeout).simple_bind(dn, pw).await;
            match result {
                Ok(r) if r.rc == 0 => {}
                Ok(r) => {
                    return Err(PoolError::Unavailable(format!(
                        "service bind as {dn:?} refused: rc={} {}",
                        r.rc, r.text
                    )));
                }
                Err(e) => return Err(PoolError::Unavailable(format!("service bind: {e}"))),
            }
        }
        conn.slot = Some(slot);
        Ok(conn)
    }

    /// Close a connection for good: an LDAP unbind (RFC 4511 §4.3; it has no response, so this
    /// waits for no round trip), then the socket. Its slot is freed when it is dropped here.
    ///
    /// For connections whose write buffer held a user's password: ldap3 encodes each request
    /// into its connection's buffer (a tokio-util `Framed` `BytesMut`) and leaves the bytes of
    /// sent requests in that buffer's capacity until later requests overwrite them, without
    /// exposing the buffer. Only ending the connection frees the buffer, which the daemon's
    /// zeroing allocator then wipes.
    pub async fn close(&self, mut conn: Conn) {
        if let Err(e) = conn.ldap.with_timeout(self.timeout).unbind().await {
            tracing::debug!("ldap unbind: {e}");
        }
    }

    /// Return a connection that is still good for this pool's use. (One that is not is
    /// dropped instead, which closes it and frees its slot.)
    pub fn put(&self, mut conn: Conn) {
        conn.last_used = Instant::now();
        // Back in the idle list before the slot is freed, so the next waiter finds it.
        let slot = conn.slot.take();
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        drop(slot);
    }
}
