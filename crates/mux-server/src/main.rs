//! `saslauthd`: parse the command line, set up the mechanism and the run directory, detach, and
//! serve until SIGTERM/SIGINT (SIGHUP rebuilds the mechanisms from their files). The start-up
//! order is deliberate: everything that can fail on the operator's input fails before the fork,
//! with a message on the terminal; the parent exits only once the socket is bound and the pid
//! file written.

use backends::secret::Keyer;
use backends::{BlockingPool, Mechanism, MechanismOptions, mechanism};
use clap::Parser;
use mux_server::cache::{Cache, CacheConfig};
use mux_server::chain::Chain;
use mux_server::cli::Cli;
use mux_server::connection::Limits;
use mux_server::penalty::{Penalties, PenaltyConfig};
use mux_server::policy::{Policy, PolicyConfig};
use mux_server::privileges::Identity;
use mux_server::run_dir::RunDir;
use mux_server::server::{self, ServerConfig};
use mux_server::{check, daemonize, inherited, logging};
use sd_notify::NotifyState;
use std::num::NonZeroUsize;
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
    let start_up_log = logging::start_up(cli.verbose || cli.debug);
    let mechs = parse_chain(name)?;
    let limits = Limits {
        max_field: usize::from(cli.max_field),
        read_timeout: seconds(cli.read_timeout, "--read-timeout")?,
        drain_timeout: Duration::from_secs(5),
    };
    let verify_timeout = seconds(cli.verify_timeout, "--verify-timeout")?;
    let max_connections = cli.max_connections as usize;
    let pool_size = if cli.threads == 0 { max_connections } else { cli.threads as usize };
    let spec = ChainSpec::from_cli(&cli, &mechs, pool_size, verify_timeout).map_err(|e| fail(1, e))?;
    let chain = spec.build().map_err(|e| fail(1, e))?;
    let mut policy = Policy::from_chain(chain, PolicyConfig { join_realm: cli.join_realm, verify_timeout });
    if cli.cache {
        let mut config = CacheConfig::from_cyrus(cli.cache_size, cli.cache_ttl);
        config.negative_ttl = Some(Duration::from_secs(cli.cache_negative_ttl)).filter(|t| !t.is_zero());
        policy = policy.with_cache(Cache::new(Keyer::random().map_err(|e| fail(1, e))?, config));
    }
    if !cli.no_penalty {
        let config = PenaltyConfig {
            base: seconds(cli.penalty_base, "--penalty-base")?,
            max: seconds(cli.penalty_max, "--penalty-max")?,
            forget_after: seconds(cli.penalty_forget, "--penalty-forget")?,
            entries: NonZeroUsize::new(cli.penalty_entries as usize).unwrap_or(NonZeroUsize::MIN),
            exempt: cli.penalty_exempt.clone(),
        };
        policy = policy.with_penalties(Penalties::new(Keyer::random().map_err(|e| fail(1, e))?, config));
    }
    if cli.check {
        drop(start_up_log);
        logging::init(logging::Target::Stderr, true);
        let dirs: Vec<&Path> = cli.run_dirs.iter().map(PathBuf::as_path).collect();
        let probe = cli.check_user.clone().map(|user| check::Probe {
            user,
            service: cli.check_service.clone(),
            realm: cli.check_realm.clone(),
        });
        let code = check::run(name, cli.option.last().map(String::as_str), &dirs, &policy, probe);
        return if code == 0 { Ok(()) } else { Err(code) };
    }
    let identity = match cli.user.as_deref() {
        Some(user) => Some(Identity::look_up(user, cli.group.as_deref()).map_err(|e| fail(1, &e))?),
        None => None,
    };
    mux_server::privileges::check_mechanisms(identity.is_some(), &spec.links)
        .map_err(|e| fail(1, &e))?
        .iter()
        .for_each(|w| eprintln!("saslauthd: warning: {w}"));

    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    // Hold the signals the daemon handles until its handlers exist: once a socket is visible, a
    // SIGTERM must stop the daemon cleanly, not kill it with the default action.
    let handled = handled_signals();
    let _ = handled.thread_block();
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
    drop(start_up_log);
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
        // Each mechanism has its own pool of `pool_size`; the runtime must have room for all.
        .max_blocking_threads(pool_size.saturating_mul(mechs.len()).saturating_add(8))
        .thread_name("saslauthd")
        .build()
        .map_err(|e| log_fail(&format!("cannot start the runtime: {e}")))?;
    let config = ServerConfig { limits, max_connections, shutdown_grace: Duration::from_secs(2) };
    let policy = Arc::new(policy);
    let served = runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        tracing::info!("master pid is: {}", std::process::id());
        let mut serving = Vec::with_capacity(listeners.len());
        for (name, listener) in listeners {
            serving.push(tokio::net::UnixListener::from_std(listener)?);
            tracing::info!("listening on socket: {name}");
        }
        if let Some(cache) = policy.cache() {
            let c = cache.config();
            tracing::info!("cache: {} users, timeout {} seconds", c.users, c.ttl.as_secs());
        }
        handle_signals(policy.clone(), Arc::new(spec))?;
        if let Some(endpoint) = cli.metrics_listen.clone() {
            let metrics = mux_server::metrics::enable(Some(policy.clone()));
            tokio::spawn(async move {
                if let Err(e) = mux_server::metrics::serve(endpoint, metrics).await {
                    tracing::error!("metrics endpoint: {e}");
                }
            });
        }
        // Handlers are in place: let pending and future signals through (to this thread; the
        // runtime's workers inherited the block and leave signals to it).
        let _ = handled.thread_unblock();
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

/// `-a a,b,c`: the mechanisms in order; unknown or repeated names are refused.
fn parse_chain(list: &str) -> Result<Vec<Mechanism>, u8> {
    let mut mechs = Vec::new();
    for name in list.split(',').map(str::trim) {
        let mech = Mechanism::from_name(name)
            .ok_or_else(|| fail(1, format!("unknown authentication mechanism: {name}")))?;
        if mechs.contains(&mech) {
            return Err(fail(1, format!("mechanism {} appears twice in -a {list}", mech.name())));
        }
        mechs.push(mech);
    }
    Ok(mechs)
}

/// Everything needed to build the mechanisms, kept to build them again on SIGHUP.
struct ChainSpec {
    /// Each mechanism with its options; the blocking pool is made once and kept across reloads,
    /// so that a reload never adds threads beyond what the runtime was sized for.
    links: Vec<(Mechanism, MechanismOptions)>,
    continue_on_tempfail: bool,
    concurrency: usize,
    timeout: Duration,
}

impl ChainSpec {
    fn from_cli(cli: &Cli, mechs: &[Mechanism], pool_size: usize, timeout: Duration) -> Result<Self, String> {
        for (name, _) in &cli.mech_option {
            if !mechs.iter().any(|m| m.name().eq_ignore_ascii_case(name)) {
                return Err(format!("--mech-option for {name}, which is not in -a"));
            }
        }
        let links = mechs
            .iter()
            .map(|&mech| {
                // The last --mech-option for this mechanism, else the last -O (Cyrus: last one wins).
                let option = cli
                    .mech_option
                    .iter()
                    .rev()
                    .find(|(name, _)| mech.name().eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.clone())
                    .or_else(|| cli.option.last().cloned());
                let options = MechanismOptions {
                    option,
                    pool: BlockingPool::new(pool_size),
                    pam_confdir: cli.pam_confdir.clone(),
                };
                (mech, options)
            })
            .collect();
        Ok(Self {
            links,
            continue_on_tempfail: cli.chain_continue_on_tempfail,
            concurrency: cli.mech_concurrency as usize,
            timeout,
        })
    }

    /// One verifier per mechanism, each on its own blocking pool so that a hung mechanism cannot
    /// take the threads another needs. Reads the mechanisms' files (ldap, sql) anew.
    fn build(&self) -> Result<Chain, String> {
        let mut chain = Chain::new(self.continue_on_tempfail);
        for (mech, options) in &self.links {
            let verifier = mechanism::build(*mech, options)
                .map_err(|e| format!("failed to initialize mechanism {}: {e}", mech.name()))?;
            chain.push(verifier, self.concurrency, self.timeout);
        }
        Ok(chain)
    }
}

/// SIGHUP rebuilds the mechanisms from their configuration; SIGUSR1 empties the credential
/// cache and what mechanisms remember (ldap DNs, matched hashes); SIGUSR2 forgets every
/// penalty count.
fn handle_signals(policy: Arc<Policy>, spec: Arc<ChainSpec>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = hup.recv() => reload(&policy, &spec).await,
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

/// The signals with handlers of their own (shutdown, flushes, SIGHUP).
fn handled_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::Signal;
    [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2].into_iter().collect()
}

/// Build the mechanisms again and put them in force; on any error keep the running ones. The
/// sockets are untouched and requests in progress finish with the mechanisms they started with.
async fn reload(policy: &Policy, spec: &Arc<ChainSpec>) {
    tracing::info!("SIGHUP received: reloading the configuration");
    let mut reloading = vec![NotifyState::Reloading];
    reloading.extend(NotifyState::monotonic_usec_now().ok());
    if let Err(e) = sd_notify::notify(&reloading) {
        tracing::warn!("sd_notify: {e}");
    }
    // Building reads files and may resolve names: off the async workers.
    let spec = spec.clone();
    let built = tokio::task::spawn_blocking(move || spec.build())
        .await
        .unwrap_or_else(|e| Err(format!("the reload task failed: {e}")));
    match built.and_then(|chain| policy.replace_chain(chain)) {
        Ok(()) => tracing::info!("SIGHUP: configuration reloaded ({})", policy.mechanism()),
        Err(e) => tracing::error!("SIGHUP: configuration not reloaded, the previous one stays in force: {e}"),
    }
    inherited::notify(NotifyState::Ready);
}

/// Resolves on SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
        }
    })
}
