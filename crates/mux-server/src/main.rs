//! `saslauthd`: parse the command line, set up the mechanism and the run directory, detach, and
//! serve until SIGTERM/SIGINT. The start-up order is deliberate: everything that can fail on the
//! operator's input fails before the fork, with a message on the terminal; the parent exits only
//! once the socket is bound and the pid file written.

use backends::{BlockingPool, Mechanism, MechanismOptions, mechanism};
use clap::Parser;
use mux_server::cli::Cli;
use mux_server::connection::Limits;
use mux_server::policy::{Policy, PolicyConfig};
use mux_server::privileges::Identity;
use mux_server::run_dir::RunDir;
use mux_server::server::{self, ServerConfig};
use mux_server::{check, daemonize, inherited, logging};
use sd_notify::NotifyState;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Cyrus exits 0 after usage; a wrong command line deserves a failure status.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if cli.version {
        print_version();
        return ExitCode::SUCCESS;
    }
    match start(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}

fn print_version() {
    let names: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
    eprintln!("saslauthd-rs {} (saslauthd 2.1.28 compatible)", env!("CARGO_PKG_VERSION"));
    eprintln!("authentication mechanisms: {}\n", names.join(" "));
}

/// Fail with a message on stderr and the given exit status.
fn fail(code: u8, message: impl std::fmt::Display) -> u8 {
    eprintln!("saslauthd: {message}");
    code
}

fn start(cli: Cli) -> Result<(), u8> {
    let name = cli.mech.as_deref().ok_or_else(|| fail(1, "no authentication mechanism specified (-a)"))?;
    let mech = Mechanism::from_name(name)
        .ok_or_else(|| fail(1, format!("unknown authentication mechanism: {name}")))?;
    if cli.cache || cli.cache_size.is_some() || cli.cache_ttl.is_some() {
        eprintln!("saslauthd: note: the credential cache (-c, -s, -t) is accepted but not active yet");
    }
    let limits = Limits {
        max_field: usize::from(cli.max_field),
        read_timeout: seconds(cli.read_timeout, "--read-timeout")?,
        drain_timeout: Duration::from_secs(5),
    };
    let verify_timeout = seconds(cli.verify_timeout, "--verify-timeout")?;
    let max_connections = cli.max_connections as usize;
    let pool_size = if cli.threads == 0 { max_connections } else { cli.threads as usize };
    let options = MechanismOptions {
        option: cli.option.last().cloned(),
        pool: BlockingPool::new(pool_size),
        pam_confdir: cli.pam_confdir.clone(),
    };
    let verifier = mechanism::build(mech, &options)
        .map_err(|e| fail(1, format!("failed to initialize mechanism {}: {e}", mech.name())))?;
    let policy = Arc::new(Policy::new(verifier, PolicyConfig { join_realm: cli.join_realm, verify_timeout }));
    if cli.check {
        logging::init(logging::Target::Stderr, true);
        let dirs: Vec<&Path> = cli.run_dirs.iter().map(PathBuf::as_path).collect();
        let probe = cli.check_user.clone().map(|user| check::Probe {
            user,
            service: cli.check_service.clone(),
            realm: cli.check_realm.clone(),
        });
        let code = check::run(mech.name(), options.option.as_deref(), &dirs, &policy, probe);
        return if code == 0 { Ok(()) } else { Err(code) };
    }
    let identity = match cli.user.as_deref() {
        Some(user) => Some(Identity::look_up(user, cli.group.as_deref()).map_err(|e| fail(1, &e))?),
        None => None,
    };
    if identity.is_some() && mech == Mechanism::Pam {
        eprintln!(
            "saslauthd: warning: without root, pam_unix can check only the daemon's own user's password"
        );
    }

    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let Sockets { listeners, mut run_dirs } = open_sockets(&cli)?;

    let readiness = if cli.stays_in_foreground() {
        None
    } else {
        match daemonize::detach().map_err(|e| fail(1, format!("cannot detach: {e}")))? {
            Ok(readiness) => Some(readiness),
            Err(code) => {
                // The parent shares the pid files' locks with the daemon: dropping `run_dirs` here
                // would unlock them (flock is per open file) and let a second instance start.
                std::mem::forget(run_dirs);
                return if code == 0 {
                    Ok(())
                } else {
                    Err(fail(code, "Cannot start saslauthd (see syslog)"))
                };
            }
        }
    };
    let target = if readiness.is_some() { logging::Target::Syslog } else { logging::Target::Stderr };
    logging::init(target, cli.verbose || cli.debug);
    if readiness.is_some() {
        // The daemon's own pid, written before the waiting parent is told to exit.
        for run_dir in &mut run_dirs {
            run_dir.write_pid().map_err(|e| log_fail(&e))?;
        }
    }

    if let Some(identity) = &identity {
        // After binding and writing pid files, before any request is read.
        identity.become_it().map_err(|e| log_fail(&format!("cannot drop privileges: {e}")))?;
        tracing::info!("running as user {}", cli.user.as_deref().unwrap_or_default());
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(pool_size.saturating_add(8))
        .thread_name("saslauthd")
        .build()
        .map_err(|e| log_fail(&format!("cannot start the runtime: {e}")))?;
    let config = ServerConfig { limits, max_connections, shutdown_grace: Duration::from_secs(2) };
    let served = runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        tracing::info!("master pid is: {}", std::process::id());
        let mut serving = Vec::with_capacity(listeners.len());
        for (name, listener) in listeners {
            serving.push(tokio::net::UnixListener::from_std(listener)?);
            tracing::info!("listening on socket: {name}");
        }
        if let Some(readiness) = readiness {
            readiness.ready();
        }
        inherited::notify(NotifyState::Ready);
        server::run(serving, policy, config, shutdown).await;
        inherited::notify(NotifyState::Stopping);
        Ok::<(), std::io::Error>(())
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    run_dirs.into_iter().for_each(RunDir::remove);
    served.map_err(|e| log_fail(&e))?;
    tracing::info!("master exited: {}", std::process::id());
    // Like Cyrus's server_exit, leave with _exit: the socket and pid file are gone and every log
    // line is written, and threads the runtime abandoned must not be able to hold up the exit
    // (once seen here: a daemon that had cleaned up but lingered after SIGTERM).
    // SAFETY: _exit takes no pointers and never returns; skipping destructors is the point.
    unsafe { libc::_exit(0) }
}

/// The listening sockets, each with a name for the log, and the run directories holding them.
struct Sockets {
    listeners: Vec<(String, UnixListener)>,
    run_dirs: Vec<RunDir>,
}

/// Take the sockets systemd passed, or lock each `-m` directory and bind its `mux`.
fn open_sockets(cli: &Cli) -> Result<Sockets, u8> {
    let inherited = inherited::listeners().map_err(|e| fail(1, &e))?;
    if !inherited.is_empty() {
        // Socket activation: systemd owns the socket files; there is no run directory to manage.
        let listeners = inherited
            .into_iter()
            .map(|l| {
                let name = l.local_addr().ok().and_then(|a| a.as_pathname().map(|p| p.display().to_string()));
                (name.unwrap_or_else(|| "(inherited socket)".to_owned()), l)
            })
            .collect();
        return Ok(Sockets { listeners, run_dirs: Vec::new() });
    }
    let mut sockets = Sockets { listeners: Vec::new(), run_dirs: Vec::new() };
    let mut dirs: Vec<&PathBuf> = Vec::new();
    for dir in &cli.run_dirs {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        match bind_run_dir(dir, cli) {
            Ok((run_dir, listener)) => {
                sockets.listeners.push((run_dir.socket_path().display().to_string(), listener));
                sockets.run_dirs.push(run_dir);
            }
            Err(code) => {
                // Undo the directories already set up; the failing one was never ours.
                sockets.run_dirs.into_iter().for_each(RunDir::remove);
                return Err(code);
            }
        }
    }
    Ok(sockets)
}

fn bind_run_dir(dir: &Path, cli: &Cli) -> Result<(RunDir, UnixListener), u8> {
    let mut run_dir = RunDir::lock(dir).map_err(|e| fail(e.exit_code(), &e))?;
    if cli.stays_in_foreground() {
        // Before the socket exists, so whoever sees the socket also finds the pid.
        run_dir.write_pid().map_err(|e| fail(1, &e))?;
    }
    match run_dir.bind(cli.socket_mode, cli.socket_group.as_deref()) {
        Ok(listener) => Ok((run_dir, listener)),
        Err(e) => {
            run_dir.remove();
            Err(fail(1, &e))
        }
    }
}

fn seconds(value: f64, option: &str) -> Result<Duration, u8> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| fail(1, format!("{option} must be a positive number of seconds")))
}

fn log_fail(e: &dyn std::fmt::Display) -> u8 {
    tracing::error!("{e}");
    1
}

/// Resolves on SIGTERM or SIGINT. SIGHUP is logged and otherwise ignored, as Cyrus ignores it
/// (Debian's `reload` sends it).
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received: nothing to reload yet, still serving");
        }
    });
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
        }
    })
}
