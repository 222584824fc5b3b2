//! A benchmark floor: the daemon's own accept → frame → policy → reply path in front of a
//! verifier that answers `OK` without checking anything. `ok_server <socket>` serves until
//! SIGINT/SIGTERM; load it with `testsaslauthd --load` to see what this machine can do at best.
#![allow(missing_docs)]

use backends::{Credentials, Outcome, Verifier, VerifyFuture};
use mux_server::policy::{Policy, PolicyConfig};
use mux_server::server::{self, ServerConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// Says `OK` to everyone.
struct AlwaysOk;

impl Verifier for AlwaysOk {
    fn name(&self) -> &'static str {
        "always-ok"
    }
    fn verify<'a>(&'a self, _: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(async { Outcome::Ok })
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: ok_server <socket path>");
        std::process::exit(1);
    };
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    let config = PolicyConfig { join_realm: false, verify_timeout: Duration::from_secs(30) };
    let policy = Arc::new(Policy::new(Arc::new(AlwaysOk), config));
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    eprintln!("listening on socket: {}", std::path::Path::new(&path).display());
    server::run(vec![listener], policy, ServerConfig::default(), async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
    .await;
    let _ = std::fs::remove_file(&path);
    Ok(())
}
