//! From the command line to typed settings: everything [`crate::daemon::start`] needs, checked
//! before anything is opened, bound or forked. Reading the mechanisms' own files is left to
//! start-up (it may print warnings the operator must see, and SIGHUP does it again).

use crate::cache::CacheConfig;
use crate::chain::ChainSpec;
use crate::check::Probe;
use crate::cli::Cli;
use crate::connection::{DRAIN_TIMEOUT, Limits};
use crate::penalty::PenaltyConfig;
use crate::policy::PolicyConfig;
use crate::scrape::Endpoint;
use crate::server::{SHUTDOWN_GRACE, ServerConfig};
use backends::{BlockingPool, Mechanism, MechanismOptions};
use std::path::PathBuf;
use std::time::Duration;

/// A command line that parses but cannot be served (exit status 1, like Cyrus).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `-a` is missing.
    #[error("no authentication mechanism specified (-a)")]
    NoMechanism,
    /// `-a` names a mechanism this build does not know.
    #[error("unknown authentication mechanism: {0}")]
    UnknownMechanism(String),
    /// `-a` names a mechanism twice.
    #[error("mechanism {mech} appears twice in -a {list}")]
    RepeatedMechanism {
        /// The repeated mechanism.
        mech: &'static str,
        /// `-a` as written.
        list: String,
    },
    /// `--mech-option` for a mechanism not in the chain.
    #[error("--mech-option for {0}, which is not in -a")]
    StrayMechOption(String),
}

/// The daemon's settings.
#[derive(Debug)]
pub struct Config {
    /// `-a` as written (for `--check`).
    pub mech_list: String,
    /// The mechanisms and their options.
    pub chain: ChainSpec,
    /// Threads of each mechanism's blocking pool.
    pub pool_size: usize,
    /// Realm joining and the verify deadline.
    pub policy: PolicyConfig,
    /// The credential cache (`-c`), if on.
    pub cache: Option<CacheConfig>,
    /// Brute-force penalties, unless `--no-penalty`.
    pub penalties: Option<PenaltyConfig>,
    /// Connection limits and the shutdown grace.
    pub server: ServerConfig,
    /// Where and how to listen.
    pub sockets: SocketConfig,
    /// `--user` and `--group`: whom to run as after binding.
    pub user: Option<(String, Option<String>)>,
    /// `-V`, `-d`: debug log lines.
    pub verbose: bool,
    /// `--metrics-listen`.
    pub metrics_listen: Option<Endpoint>,
    /// `--check`: report and exit instead of serving.
    pub check: Option<CheckConfig>,
}

/// The listening sockets.
#[derive(Debug)]
pub struct SocketConfig {
    /// `-m` directories, each once, in the order given.
    pub run_dirs: Vec<PathBuf>,
    /// `--socket-mode`.
    pub mode: u32,
    /// `--socket-group`.
    pub group: Option<String>,
    /// `-d`, `-f`: stay attached to the terminal.
    pub foreground: bool,
    /// Where the control socket goes.
    pub control: ControlSocket,
}

/// Where the control socket goes (saslauthd(8), CONTROL SOCKET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlSocket {
    /// `control` beside each `mux` socket (each `-m` directory, or each socket systemd passed).
    Beside,
    /// `--control PATH`: one socket there.
    At(PathBuf),
    /// `--no-control`.
    Off,
}

/// `--check` and its login probe.
#[derive(Debug)]
pub struct CheckConfig {
    /// The `-O` value, for the report.
    pub option: Option<String>,
    /// The `-m` directories to report on, as given.
    pub run_dirs: Vec<PathBuf>,
    /// `--check-user`: one login to try.
    pub probe: Option<Probe>,
}

impl Config {
    /// Check and convert `cli`.
    pub fn from_cli(cli: Cli) -> Result<Self, ConfigError> {
        let mech_list = cli.mech.clone().ok_or(ConfigError::NoMechanism)?;
        let mechs = parse_chain(&mech_list)?;
        let verify_timeout = cli.verify_timeout.0;
        let pool_size = if cli.threads == 0 { cli.max_connections } else { cli.threads as usize };
        let chain = chain_spec(&cli, &mechs, pool_size, verify_timeout)?;
        let cache = cli.cache.then(|| {
            let mut config = CacheConfig::from_cyrus(cli.cache_size, cli.cache_ttl);
            config.negative_ttl = Some(Duration::from_secs(cli.cache_negative_ttl)).filter(|t| !t.is_zero());
            config
        });
        let penalties = (!cli.no_penalty).then(|| PenaltyConfig {
            base: cli.penalty_base.0,
            max: cli.penalty_max.0,
            forget_after: cli.penalty_forget.0,
            entries: cli.penalty_entries,
            exempt: cli.penalty_exempt.clone(),
        });
        let limits = Limits {
            max_field: cli.max_field,
            read_timeout: cli.read_timeout.0,
            drain_timeout: DRAIN_TIMEOUT,
        };
        let mut run_dirs: Vec<PathBuf> = Vec::new();
        for dir in &cli.run_dirs {
            if !run_dirs.contains(dir) {
                run_dirs.push(dir.clone());
            }
        }
        let check = cli.check.then(|| CheckConfig {
            option: cli.option.last().cloned(),
            run_dirs: cli.run_dirs.clone(),
            probe: cli.check_user.clone().map(|user| Probe {
                user,
                service: cli.check_service.clone(),
                realm: cli.check_realm.clone(),
            }),
        });
        Ok(Self {
            mech_list,
            chain,
            pool_size,
            policy: PolicyConfig { join_realm: cli.join_realm, verify_timeout },
            cache,
            penalties,
            server: ServerConfig {
                limits,
                max_connections: cli.max_connections,
                shutdown_grace: SHUTDOWN_GRACE,
                ..ServerConfig::default()
            },
            sockets: SocketConfig {
                run_dirs,
                mode: cli.socket_mode,
                group: cli.socket_group.clone(),
                foreground: cli.stays_in_foreground(),
                control: match (&cli.control, cli.no_control) {
                    (_, true) => ControlSocket::Off,
                    (Some(path), false) => ControlSocket::At(path.clone()),
                    (None, false) => ControlSocket::Beside,
                },
            },
            user: cli.user.clone().map(|user| (user, cli.group.clone())),
            verbose: cli.verbose || cli.debug,
            metrics_listen: cli.metrics_listen.clone(),
            check,
        })
    }
}

/// `-a a,b,c`: the mechanisms in order; unknown or repeated names are refused.
fn parse_chain(list: &str) -> Result<Vec<Mechanism>, ConfigError> {
    let mut mechs = Vec::new();
    for name in list.split(',').map(str::trim) {
        let mech =
            Mechanism::from_name(name).ok_or_else(|| ConfigError::UnknownMechanism(name.to_owned()))?;
        if mechs.contains(&mech) {
            return Err(ConfigError::RepeatedMechanism { mech: mech.name(), list: list.to_owned() });
        }
        mechs.push(mech);
    }
    Ok(mechs)
}

/// Each mechanism with its option: its last `--mech-option`, else the last `-O` (Cyrus: the last
/// one wins).
fn chain_spec(
    cli: &Cli,
    mechs: &[Mechanism],
    pool_size: usize,
    timeout: Duration,
) -> Result<ChainSpec, ConfigError> {
    for (name, _) in &cli.mech_option {
        if !mechs.iter().any(|m| m.name().eq_ignore_ascii_case(name)) {
            return Err(ConfigError::StrayMechOption(name.clone()));
        }
    }
    let links = mechs
        .iter()
        .map(|&mech| {
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
                max_credentials: cli.max_credentials,
            };
            (mech, options)
        })
        .collect();
    Ok(ChainSpec {
        links,
        continue_on_tempfail: cli.chain_continue_on_tempfail,
        concurrency: cli.mech_concurrency,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        Config::from_cli(
            Cli::try_parse_from(std::iter::once("saslauthd").chain(args.iter().copied())).unwrap(),
        )
    }

    #[test]
    fn defaults_are_the_named_constants() {
        let c = config(&["-a", "pam"]).unwrap();
        assert_eq!(c.server.limits.read_timeout, crate::connection::READ_TIMEOUT);
        assert_eq!(c.server.max_connections, crate::server::MAX_CONNECTIONS);
        assert_eq!(c.policy.verify_timeout, crate::policy::VERIFY_TIMEOUT);
        assert_eq!(c.chain.concurrency, crate::chain::MECH_CONCURRENCY);
        let (p, d) = (c.penalties.unwrap(), PenaltyConfig::default());
        assert_eq!((p.base, p.max, p.forget_after, p.entries), (d.base, d.max, d.forget_after, d.entries));
        assert_eq!(c.pool_size, crate::cli::DEFAULT_THREADS as usize);
    }

    #[test]
    fn bad_chains_are_config_errors() {
        assert!(matches!(config(&[]), Err(ConfigError::NoMechanism)));
        assert!(matches!(config(&["-a", "kerberos9"]), Err(ConfigError::UnknownMechanism(_))));
        assert!(matches!(
            config(&["-a", "pam,PAM"]),
            Err(ConfigError::RepeatedMechanism { mech: "pam", .. })
        ));
        let stray = config(&["-a", "pam", "--mech-option", "shadow=/x"]);
        assert!(matches!(stray, Err(ConfigError::StrayMechOption(_))));
        let c = config(&["-a", "pam,shadow", "-O", "a", "--mech-option", "shadow=b", "-m", "/r", "-m", "/r"])
            .unwrap();
        let options: Vec<_> = c.chain.links.iter().map(|(_, o)| o.option.as_deref()).collect();
        assert_eq!(options, [Some("a"), Some("b")]);
        assert_eq!(c.sockets.run_dirs.len(), 1, "a repeated -m serves once");
    }
}
