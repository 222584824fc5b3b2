//! Start-up, in the order that matters, then serving until SIGTERM/SIGINT.
//!
//! Everything that can fail on the operator's input fails before the fork, with a message on
//! the terminal: the mechanisms are built and the user looked up first. Then:
//! 1. bind the sockets (or take systemd's), with the handled signals blocked, and the control
//!    sockets beside them (owned by `--user`'s user);
//! 2. detach (unless `-d`/`-f`); the parent waits for step 7 and exits with the daemon's status;
//! 3. write the pid files (in the foreground they were written before binding);
//! 4. drop privileges (`--user`);
//! 5. start the tokio runtime (forking a multi-threaded process is unsound: only now);
//! 6. install the signal handlers, the control socket and the metrics endpoint, then unblock the
//!    signals;
//! 7. report READY to the waiting parent and to systemd;
//! 8. serve; on the way out remove the sockets (control sockets too) and pid files.

use crate::cache::Cache;
use crate::chain::BuildError;
use crate::config::{Config, ConfigError, ControlSocket, SocketConfig};
use crate::control::{self, Control};
use crate::daemonize;
use crate::inherited::{self, InheritError};
use crate::policy::Policy;
use crate::privileges::{self, DropError, Identity};
use crate::reload::{self, Reloader};
use crate::run_dir::{RunDir, RunDirError};
use crate::{check, logging, metrics, open_files, scrape, server, signals};
use backends::secret::{KeyError, Keyer};
use sd_notify::NotifyState;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why the daemon did not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The command line cannot be served.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A mechanism could not be set up.
    #[error(transparent)]
    Mechanism(#[from] BuildError),
    /// No key for the cache's or the penalties' tags.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// `--user` or `--group` names no one.
    #[error(transparent)]
    User(DropError),
    /// The sockets systemd passed are unusable.
    #[error(transparent)]
    Inherited(#[from] InheritError),
    /// A run directory or its socket could not be set up.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The fork failed.
    #[error("cannot detach: {0}")]
    Detach(std::io::Error),
    /// Seen by the parent after detaching: the daemon's start-up failed with this status.
    #[error("Cannot start saslauthd (see syslog)")]
    Daemon(u8),
    /// `--check` found a problem (it has printed its report).
    #[error("the check found problems")]
    Check(u8),
    /// After detaching: the pid file could not be written.
    #[error(transparent)]
    PidFile(RunDirError),
    /// After binding: the switch to `--user` failed.
    #[error("cannot drop privileges: {0}")]
    Privileges(DropError),
    /// The tokio runtime did not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// Setting up or running the server failed.
    #[error("{0}")]
    Serve(std::io::Error),
}

/// Where a [`StartError`]'s message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The terminal: the daemon has not detached.
    Stderr,
    /// The log (syslog once detached).
    Log,
    /// Nowhere: already said.
    Said,
}

impl StartError {
    /// The exit status (man/saslauthd.8, EXIT STATUS): 2 when another instance holds the run
    /// directory, the daemon's own status in the parent, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::RunDir(e) => e.exit_code(),
            StartError::Daemon(code) | StartError::Check(code) => *code,
            _ => 1,
        }
    }

    /// Where to say it.
    pub fn report(&self) -> Report {
        match self {
            StartError::Check(_) => Report::Said,
            StartError::PidFile(_)
            | StartError::Privileges(_)
            | StartError::Runtime(_)
            | StartError::Serve(_) => Report::Log,
            _ => Report::Stderr,
        }
    }
}

/// Start as `config` says and serve until SIGTERM/SIGINT. Returns in the parent after detaching,
/// after `--check`, or on failure; a daemon that served leaves with `_exit(0)`.
pub fn start(config: Config) -> Result<(), StartError> {
    let start_up_log = logging::start_up(config.verbose);
    let policy = build_policy(&config)?;
    if let Some(check) = config.check {
        drop(start_up_log);
        logging::init(logging::Target::Stderr, true);
        let dirs: Vec<&Path> = check.run_dirs.iter().map(PathBuf::as_path).collect();
        return match check::run(&config.mech_list, check.option.as_deref(), &dirs, &policy, check.probe) {
            0 => Ok(()),
            code => Err(StartError::Check(code)),
        };
    }
    let identity = match &config.user {
        Some((user, group)) => Some(Identity::look_up(user, group.as_deref()).map_err(StartError::User)?),
        None => None,
    };
    for warning in privileges::check_mechanisms(identity.is_some(), &config.chain.links).map_err(StartError::User)? {
        eprintln!("saslauthd: warning: {warning}");
    }

    // 1. Bind the sockets.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let handled = signals::handled();
    let _ = handled.thread_block();
    let Sockets { listeners, mut run_dirs } = open_sockets(&config.sockets)?;
    let controls = bind_controls(&config.sockets.control, &listeners, identity.as_ref());
    let control_paths: Vec<PathBuf> = controls.iter().map(|(path, _)| path.clone()).collect();

    // 2. Detach.
    let readiness = if config.sockets.foreground {
        None
    } else {
        match daemonize::detach().map_err(StartError::Detach)? {
            Ok(readiness) => Some(readiness),
            Err(code) => {
                // The parent shares the pid files' locks with the daemon: dropping `run_dirs` here
                // would unlock them (flock is per open file) and let a second instance start.
                std::mem::forget(run_dirs);
                return if code == 0 { Ok(()) } else { Err(StartError::Daemon(code)) };
            }
        }
    };
    let target = if readiness.is_some() { logging::Target::Syslog } else { logging::Target::Stderr };
    drop(start_up_log);
    logging::init(target, config.verbose);

    // 3. The daemon's own pid, written before the waiting parent is told to exit.
    if readiness.is_some() {
        for run_dir in &mut run_dirs {
            run_dir.write_pid().map_err(StartError::PidFile)?;
        }
    }

    // 4. Drop privileges: after binding and writing pid files, before any request is read.
    if let (Some(identity), Some((user, _))) = (&identity, &config.user) {
        identity.become_it().map_err(StartError::Privileges)?;
        tracing::info!("running as user {user}");
    }

    // 5. The runtime, with room for the connection cap: every connection is a descriptor.
    let open_files = open_files::raise();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Each mechanism has its own pool of `pool_size`; the runtime must have room for all.
        .max_blocking_threads(config.pool_size.saturating_mul(config.chain.links.len()).saturating_add(8))
        .thread_name("saslauthd")
        .build()
        .map_err(StartError::Runtime)?;
    let policy = Arc::new(policy);
    let join_realm = config.policy.join_realm;
    let Config { chain, server: mut server_config, metrics_listen, .. } = config;
    let served = runtime.block_on(async move {
        // 6. Signals (and the other tasks beside the request path).
        let shutdown = signals::shutdown()?;
        tracing::info!("master pid is: {}", std::process::id());
        match open_files {
            Ok(limit) => {
                tracing::info!(
                    "open files limit: soft {} (started with {}), hard {}",
                    limit.soft,
                    limit.before,
                    limit.hard
                );
                let cap = open_files::connection_cap(server_config.max_connections, limit.soft);
                if cap < server_config.max_connections {
                    tracing::warn!(
                        "connection limit lowered from {} to {cap}, below the open files limit {}",
                        server_config.max_connections,
                        limit.soft
                    );
                    server_config.max_connections = cap;
                }
            }
            Err(e) => tracing::warn!("cannot read the open files limit: {e}"),
        }
        let mut serving = Vec::with_capacity(listeners.len());
        for (name, listener) in listeners {
            serving.push(listener);
            tracing::info!("listening on socket: {name}");
        }
        if let Some(cache) = policy.cache() {
            let c = cache.config();
            tracing::info!("cache: {} users, timeout {} seconds", c.users, c.ttl.as_secs());
        }
        // One reload for SIGHUP and the control socket; the configuration read at start counts
        // as the first successful load.
        let chain = Arc::new(chain);
        let build: Arc<reload::BuildChain> = Arc::new(move || chain.build().map_err(|e| e.to_string()));
        let reloader = Arc::new(Reloader::new(policy.clone(), build));
        reload::status().started();
        signals::handle(policy.clone(), reloader.clone())?;
        let control = Arc::new(Control::new(policy.clone(), reloader, join_realm, nix::unistd::geteuid()));
        for (path, listener) in controls {
            let listener = tokio::net::UnixListener::from_std(listener)?;
            tracing::info!("control socket: {}", path.display());
            tokio::spawn(control::serve(listener, control.clone()));
        }
        if let Some(endpoint) = metrics_listen {
            let metrics = metrics::enable(Some(policy.clone()));
            tokio::spawn(async move {
                if let Err(e) = scrape::serve(endpoint, metrics).await {
                    tracing::error!("metrics endpoint: {e}");
                }
            });
        }
        // Handlers are in place: let pending and future signals through (to this thread; the
        // runtime's workers inherited the block and leave signals to it).
        let _ = handled.thread_unblock();

        // 7. READY.
        if let Some(readiness) = readiness {
            readiness.ready();
        }
        inherited::notify(NotifyState::Ready);

        // 8. Serve.
        server::run(serving, policy, server_config, shutdown).await;
        inherited::notify(NotifyState::Stopping);
        Ok::<(), std::io::Error>(())
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    run_dirs.into_iter().for_each(RunDir::remove);
    control::remove(&control_paths);
    served.map_err(StartError::Serve)?;
    tracing::info!("master exited: {}", std::process::id());
    // Like Cyrus's server_exit, leave with _exit: the socket and pid file are gone and every log
    // line is written, and threads the runtime abandoned must not be able to hold up the exit
    // (once seen here: a daemon that had cleaned up but lingered after SIGTERM).
    // SAFETY: _exit takes no pointers and never returns; skipping destructors is the point.
    unsafe { libc::_exit(0) }
}

/// The mechanisms (reading their files) behind the cache and the penalties.
fn build_policy(config: &Config) -> Result<Policy, StartError> {
    let mut policy = Policy::from_chain(config.chain.build()?, config.policy);
    if let Some(cache) = &config.cache {
        policy = policy.with_cache(Cache::new(Keyer::random()?, *cache));
    }
    if let Some(penalties) = &config.penalties {
        policy = policy.with_penalties(crate::penalty::Penalties::new(Keyer::random()?, penalties.clone()));
    }
    Ok(policy)
}

/// The listening sockets, each with a name for the log, and the run directories holding them.
struct Sockets {
    listeners: Vec<(String, UnixListener)>,
    run_dirs: Vec<RunDir>,
}

/// Take the sockets systemd passed, or lock each `-m` directory and bind its `mux`.
fn open_sockets(config: &SocketConfig) -> Result<Sockets, StartError> {
    let inherited = inherited::listeners()?;
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
    for dir in &config.run_dirs {
        match bind_run_dir(dir, config) {
            Ok((run_dir, listener)) => {
                sockets.listeners.push((run_dir.socket_path().display().to_string(), listener));
                sockets.run_dirs.push(run_dir);
            }
            Err(e) => {
                // Undo the directories already set up; the failing one was never ours.
                sockets.run_dirs.into_iter().for_each(RunDir::remove);
                return Err(e.into());
            }
        }
    }
    Ok(sockets)
}

fn bind_run_dir(dir: &Path, config: &SocketConfig) -> Result<(RunDir, UnixListener), RunDirError> {
    let mut run_dir = RunDir::lock(dir)?;
    if config.foreground {
        // Before the socket exists, so whoever sees the socket also finds the pid.
        run_dir.write_pid()?;
    }
    match run_dir.bind(config.mode, config.group.as_deref()) {
        Ok(listener) => Ok((run_dir, listener)),
        Err(e) => {
            run_dir.remove();
            Err(e)
        }
    }
}

/// Bind the control sockets for `listeners` as `setting` says. A control socket that cannot be
/// bound costs a warning, not the start: authentication matters more than administration.
fn bind_controls(
    setting: &ControlSocket,
    listeners: &[(String, UnixListener)],
    identity: Option<&Identity>,
) -> Vec<(PathBuf, UnixListener)> {
    let explicit = match setting {
        ControlSocket::Off => return Vec::new(),
        ControlSocket::At(path) => Some(path.as_path()),
        ControlSocket::Beside => None,
    };
    let sockets: Vec<PathBuf> = listeners
        .iter()
        .filter_map(|(_, l)| l.local_addr().ok().and_then(|a| a.as_pathname().map(Path::to_owned)))
        .collect();
    let owner = identity.map(Identity::ids);
    control::paths_beside(&sockets, explicit)
        .into_iter()
        .filter_map(|path| match control::bind(&path, owner) {
            Ok(listener) => Some((path, listener)),
            Err(e) => {
                eprintln!("saslauthd: warning: no control socket {}: {e}", path.display());
                None
            }
        })
        .collect()
}
