//! Where log lines go: stderr in the foreground, syslog (facility auth, ident `saslauthd`) when
//! daemonized, as Cyrus does (reference §2.6).

use tracing_subscriber::EnvFilter;

/// Where to send logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Standard error (foreground, `-d`, `-f`).
    Stderr,
    /// syslog, LOG_AUTH, ident `saslauthd`, with the pid.
    Syslog,
}

fn filter(verbose: bool) -> EnvFilter {
    let default = if verbose { "debug" } else { "info" };
    EnvFilter::try_from_env("SASLAUTHD_LOG").unwrap_or_else(|_| EnvFilter::new(default))
}

/// A stderr subscriber for this thread while the daemon starts: where logs finally go is known
/// only after it has detached, but configuration warnings (unknown keys, insecure TLS settings)
/// are written while the mechanisms are built, and the operator starting it must see them.
pub fn start_up(verbose: bool) -> tracing::subscriber::DefaultGuard {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose))
        .with_ansi(false)
        .with_target(false)
        .with_writer(std::io::stderr)
        .finish();
    tracing::subscriber::set_default(subscriber)
}

/// Install the global subscriber. `verbose` turns on debug lines (`-V`, `-d`);
/// `SASLAUTHD_LOG` (an `EnvFilter` directive) overrides the level.
pub fn init(target: Target, verbose: bool) {
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter(verbose)).with_ansi(false).with_target(false);
    let installed = match target {
        Target::Stderr => builder.with_writer(std::io::stderr).try_init(),
        Target::Syslog => {
            let options = syslog_tracing::Options::LOG_PID | syslog_tracing::Options::LOG_NDELAY;
            match syslog_tracing::Syslog::new(c"saslauthd", options, syslog_tracing::Facility::Auth) {
                // syslog stamps time and host itself.
                Some(syslog) => builder.without_time().with_level(false).with_writer(syslog).try_init(),
                None => builder.with_writer(std::io::stderr).try_init(),
            }
        }
    };
    if let Err(e) = installed {
        eprintln!("saslauthd: logging not set up: {e}");
    }
}
