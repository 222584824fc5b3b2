//! Beside the request path: what the daemon does on each signal. SIGTERM and SIGINT stop it;
//! SIGHUP rebuilds the mechanisms from their configuration; SIGUSR1 empties the credential cache
//! and what mechanisms remember (ldap DNs, matched hashes); SIGUSR2 forgets every penalty count.

use crate::policy::Policy;
use crate::reload::Reloader;
use nix::sys::signal::{SigSet, Signal};
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};

/// The signals with handlers of their own: block them until [`handle`] and [`shutdown`] have
/// installed the handlers, so that a SIGTERM arriving once a socket is visible stops the daemon
/// cleanly instead of killing it with the default action.
pub fn handled() -> SigSet {
    [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2].into_iter().collect()
}

/// Resolves on SIGTERM or SIGINT. Needs the runtime.
pub fn shutdown() -> std::io::Result<impl std::future::Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
        }
    })
}

/// Handle SIGHUP, SIGUSR1 and SIGUSR2 in a task for the daemon's life. Needs the runtime.
/// SIGHUP goes through `reloader`, as the control socket's `reload` does.
pub fn handle(policy: Arc<Policy>, reloader: Arc<Reloader>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                // The result is logged (and shown in the metrics) by the reloader.
                Some(()) = hup.recv() => { let _ = reloader.reload("SIGHUP").await; }
                Some(()) = usr1.recv() => {
                    match policy.cache() {
                        Some(cache) => tracing::info!("SIGUSR1: cache flushed ({} users)", cache.flush()),
                        None => tracing::info!("SIGUSR1: no cache to flush (-c not given)"),
                    }
                    let remembered = policy.forget_remembered();
                    if remembered > 0 {
                        tracing::info!("SIGUSR1: mechanisms forgot {remembered} remembered entries");
                    }
                }
                Some(()) = usr2.recv() => match policy.penalties() {
                    Some(p) => tracing::info!("SIGUSR2: penalties forgotten ({} records)", p.forget()),
                    None => tracing::info!("SIGUSR2: penalties are off"),
                },
                else => break,
            }
        }
    });
    Ok(())
}
