//! The command line: Cyrus saslauthd's short options with Cyrus's meanings and defaults
//! (reference §2.1), plus long options for what Cyrus lacks.

use crate::scrape::Endpoint;
use crate::{chain, connection, frame, penalty, policy, server};
use clap::builder::RangedU64ValueParser;
use clap::{ArgAction, Parser};
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Debian's compiled-in run directory (reference §1.1).
pub const DEFAULT_RUN_DIR: &str = "/var/run/saslauthd";

/// Cyrus's default number of serving processes; here the size of the blocking pool.
pub const DEFAULT_THREADS: u32 = 5;

/// `saslauthd` options as the operator wrote them.
#[derive(Debug, Parser)]
#[command(
    name = "saslauthd",
    about = "SASL authentication daemon (saslauthd-rs, a drop-in for Cyrus saslauthd)",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct Cli {
    /// Authentication mechanism (passwd-file, pam, shadow, rimap, ldap, sql, kerberos5, sasldb,
    /// getpwent), or a comma-separated chain tried in order (`passwd-file,pam`). Required.
    #[arg(short = 'a', value_name = "authmech")]
    pub mech: Option<String>,

    /// Mechanism option (passwd-file: the file). Given twice, the last wins, as in Cyrus. In a
    /// chain it is the option of every mechanism without a `--mech-option` of its own.
    #[arg(short = 'O', value_name = "option", action = ArgAction::Append, allow_hyphen_values = true)]
    pub option: Vec<String>,

    /// Run directory holding the `mux` socket and `saslauthd.pid`. Repeat it to serve several
    /// directories from one daemon (the host's and a chrooted Postfix's, say).
    #[arg(short = 'm', value_name = "path", action = ArgAction::Append, default_value = DEFAULT_RUN_DIR)]
    pub run_dirs: Vec<PathBuf>,

    /// Requests checked at once by blocking mechanisms (PAM, hashing). 0 means one per connection.
    #[arg(short = 'n', value_name = "threads", default_value_t = DEFAULT_THREADS)]
    pub threads: u32,

    /// Enable the credential cache.
    #[arg(short = 'c')]
    pub cache: bool,

    /// Cache size in KiB, as Cyrus counts it: one user per 96 bytes (default 10266 users).
    #[arg(short = 's', value_name = "size", value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_size: Option<u64>,

    /// Cache timeout in seconds (default 28800).
    #[arg(short = 't', value_name = "timeout", value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_ttl: Option<u64>,

    /// Debug: stay in the foreground and log verbosely to stderr.
    #[arg(short = 'd')]
    pub debug: bool,

    /// Stay in the foreground.
    #[arg(short = 'f')]
    pub foreground: bool,

    /// Accepted for compatibility: there is no accept lock file to disable.
    #[arg(short = 'l')]
    pub no_accept_lock: bool,

    /// Verify `login@realm` when the client sends a realm.
    #[arg(short = 'r')]
    pub join_realm: bool,

    /// Print the version and mechanisms to standard error (Cyrus), then exit.
    #[arg(short = 'v')]
    pub version: bool,

    /// Print the version and mechanisms to standard output (GNU), then exit.
    #[arg(long = "version")]
    pub long_version: bool,

    /// Verbose logging (debug level).
    #[arg(short = 'V')]
    pub verbose: bool,

    /// Print help and exit 0 (`-h` as Cyrus, `--help` as GNU).
    #[arg(short = 'h', long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,

    /// Seconds a client has to send its complete request.
    #[arg(long, value_name = "secs", default_value_t = Seconds(connection::READ_TIMEOUT))]
    pub read_timeout: Seconds,

    /// Seconds a verifier may take before the request is answered with a temporary failure.
    #[arg(long, value_name = "secs", default_value_t = Seconds(policy::VERIFY_TIMEOUT))]
    pub verify_timeout: Seconds,

    /// Largest accepted field in bytes (Cyrus: 256).
    #[arg(long, value_name = "bytes", default_value_t = frame::MAX_FIELD_LEN,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=u64::from(u16::MAX)))]
    pub max_field: usize,

    /// Connections served at once (at the cap, the longest-silent incomplete one is shed).
    #[arg(long, value_name = "n", default_value_t = server::MAX_CONNECTIONS,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=u64::from(u32::MAX)))]
    pub max_connections: usize,

    /// Socket permissions in octal (Cyrus: 777; the run directory's mode guards access).
    #[arg(long, value_name = "octal", default_value = "777", value_parser = parse_mode)]
    pub socket_mode: u32,

    /// Group to own the socket.
    #[arg(long, value_name = "group")]
    pub socket_group: Option<String>,

    /// After binding the sockets, run as this user (mechanisms that need no root).
    #[arg(long, value_name = "user")]
    pub user: Option<String>,

    /// With --user: run with this group instead of the user's primary group.
    #[arg(long, value_name = "group", requires = "user")]
    pub group: Option<String>,

    /// Serve OpenMetrics at `host:port` (keep it on loopback) or `unix:/path`.
    #[arg(long, value_name = "addr")]
    pub metrics_listen: Option<Endpoint>,

    /// The control socket's path, instead of `control` in each run directory (or beside each
    /// socket systemd passed).
    #[arg(long, value_name = "path", conflicts_with = "no_control")]
    pub control: Option<PathBuf>,

    /// No control socket.
    #[arg(long)]
    pub no_control: bool,

    /// Check the configuration and report on the run directories, then exit (0: no problem).
    #[arg(long)]
    pub check: bool,

    /// With --check: also verify this login (password read from standard input) and show why
    /// it is accepted or refused.
    #[arg(long, value_name = "login", requires = "check")]
    pub check_user: Option<String>,

    /// With --check-user: the service to send (default imap, as testsaslauthd).
    #[arg(long, value_name = "service", default_value = "imap", requires = "check_user")]
    pub check_service: String,

    /// With --check-user: the realm to send.
    #[arg(long, value_name = "realm", default_value = "", requires = "check_user")]
    pub check_realm: String,

    /// PAM configuration directory to use instead of /etc/pam.d.
    #[arg(long, value_name = "dir")]
    pub pam_confdir: Option<PathBuf>,

    /// The option of one mechanism of a chain, as `MECH=VALUE` (repeatable).
    #[arg(long, value_name = "mech=value", action = ArgAction::Append, value_parser = parse_mech_option)]
    pub mech_option: Vec<(String, String)>,

    /// When a mechanism of the chain cannot decide, still try the next ones for an OK.
    #[arg(long)]
    pub chain_continue_on_tempfail: bool,

    /// Requests one mechanism may have in progress; more are answered with a temporary failure.
    #[arg(long, value_name = "n", default_value_t = chain::MECH_CONCURRENCY,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=u64::from(u32::MAX)))]
    pub mech_concurrency: usize,

    /// Credentials (app passwords) one account may have in passwd-file or sql; more is a
    /// configuration error.
    #[arg(long, value_name = "n", default_value_t = backends::credential::MAX_CREDENTIALS,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=u64::from(u16::MAX)))]
    pub max_credentials: usize,

    /// Seconds a failure stays cached (0, the default: failures are never cached).
    #[arg(long, value_name = "secs", default_value_t = 0)]
    pub cache_negative_ttl: u64,

    /// Turn brute-force penalties off.
    #[arg(long)]
    pub no_penalty: bool,

    /// Wait before the next check after a first failure, doubled by each further distinct one.
    #[arg(long, value_name = "secs", default_value_t = Seconds(penalty::BASE))]
    pub penalty_base: Seconds,

    /// The longest penalty delay, and the longest a request is held before its check.
    #[arg(long, value_name = "secs", default_value_t = Seconds(penalty::MAX))]
    pub penalty_max: Seconds,

    /// Seconds without an attempt after which a user, pair or address starts again from zero.
    #[arg(long, value_name = "secs", default_value_t = Seconds(penalty::FORGET_AFTER))]
    pub penalty_forget: Seconds,

    /// Users, (user, address) pairs and client addresses (each) whose attempts are tracked at most.
    #[arg(long, value_name = "n", default_value_t = penalty::ENTRIES)]
    pub penalty_entries: NonZeroUsize,

    /// Client network (CIDR or address) never held nor counted (repeatable).
    #[arg(long, value_name = "cidr", action = ArgAction::Append, value_parser = parse_net)]
    pub penalty_exempt: Vec<IpNet>,
}

/// A positive number of seconds as written on the command line (fractions allowed: `0.05`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .filter(|d| !d.is_zero())
            .map(Seconds)
            .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

fn parse_mech_option(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(mech, _)| !mech.is_empty())
        .map(|(mech, value)| (mech.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} is not MECH=VALUE"))
}

fn parse_net(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{text:?} is not a network such as 10.0.0.0/8 or an address"))
}

fn parse_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{text:?} is not an octal mode such as 770"))
}

/// The version text: what `-v` prints to standard error and `--version` to standard output.
pub fn version_text() -> String {
    let names: Vec<&str> = backends::Mechanism::ALL.iter().map(|m| m.name()).collect();
    format!(
        "saslauthd-rs {} (saslauthd 2.1.28 compatible)\nauthentication mechanisms: {}\n",
        env!("CARGO_PKG_VERSION"),
        names.join(" ")
    )
}

impl Cli {
    /// Whether to stay attached to the terminal.
    pub fn stays_in_foreground(&self) -> bool {
        self.debug || self.foreground
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("saslauthd").chain(args.iter().copied()))
    }

    #[test]
    fn cyrus_command_lines_parse() {
        let cli =
            parse(&["-a", "pam", "-c", "-m", "/var/spool/postfix/var/run/saslauthd", "-n", "5"]).unwrap();
        assert_eq!(cli.mech.as_deref(), Some("pam"));
        assert!(cli.cache);
        assert_eq!(cli.threads, 5);
        let cli = parse(&[
            "-apasswd-file",
            "-O",
            "a",
            "-O",
            "-x",
            "-cdr",
            "-n0",
            "-s",
            "64",
            "-t",
            "30",
            "-V",
            "-l",
        ])
        .unwrap();
        assert_eq!(cli.option, ["a", "-x"]);
        assert!(cli.debug && cli.join_realm && cli.cache && cli.verbose && cli.no_accept_lock);
        assert_eq!(cli.threads, 0);
        assert_eq!(cli.run_dirs, [PathBuf::from(DEFAULT_RUN_DIR)]);
        let two = parse(&["-a", "pam", "-m", "/run/saslauthd", "-m", "/var/spool/postfix/var/run/saslauthd"])
            .unwrap();
        assert_eq!(two.run_dirs.len(), 2, "-m repeated serves both directories");
    }

    #[test]
    fn help_answers_to_both_spellings_and_names_every_mechanism() {
        for flag in ["-h", "--help"] {
            let e = parse(&[flag]).map(|_| ()).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{flag}");
            assert!(!e.use_stderr(), "{flag}: help goes to stdout, exit 0");
        }
        let help = <Cli as clap::CommandFactory>::command().render_help().to_string();
        for mech in backends::Mechanism::ALL {
            assert!(help.contains(mech.name()), "-h does not list {}", mech.name());
        }
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in
            [&["-a", "pam", "-n", "abc"][..], &["-a", "pam", "-n", "-1"], &["-t", "0"], &["-s", "0"], &["-X"]]
        {
            assert!(parse(args).is_err(), "{args:?}");
        }
        assert!(parse(&["-a", "pam", "-a", "pam"]).is_err(), "Cyrus takes one -a");
        assert!(parse(&["--socket-mode", "999"]).is_err());
        assert_eq!(parse(&["--socket-mode", "660"]).unwrap().socket_mode, 0o660);
        assert!(parse(&["--mech-option", "novalue"]).is_err());
        assert!(parse(&["--penalty-exempt", "10.0.0.0/99"]).is_err());
        for secs in ["0", "-1", "abc", "NaN", "inf"] {
            assert!(parse(&["--read-timeout", secs]).is_err(), "{secs}");
        }
        assert_eq!(parse(&["--penalty-base", "0.05"]).unwrap().penalty_base.0, Duration::from_millis(50));
        assert!(parse(&["--control", "/x", "--no-control"]).is_err());
    }

    #[test]
    fn version_long_and_short() {
        assert!(parse(&["-v"]).unwrap().version && !parse(&["-v"]).unwrap().long_version);
        assert!(parse(&["--version"]).unwrap().long_version);
        assert!(version_text().contains("authentication mechanisms: "));
    }

    #[test]
    fn chain_and_penalty_options_parse() {
        let cli = parse(&[
            "-a",
            "passwd-file,pam",
            "--mech-option",
            "passwd-file=/etc/x=y",
            "--penalty-exempt",
            "10.1.2.3/8",
            "--penalty-exempt",
            "::1",
            "--chain-continue-on-tempfail",
        ])
        .unwrap();
        assert_eq!(cli.mech_option, [("passwd-file".to_owned(), "/etc/x=y".to_owned())]);
        let nets: Vec<String> = cli.penalty_exempt.iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["10.0.0.0/8", "::1/128"]);
        assert!(cli.chain_continue_on_tempfail && !cli.no_penalty);
        assert_eq!(
            (cli.penalty_base.0, cli.penalty_max.0, cli.mech_concurrency),
            (penalty::BASE, penalty::MAX, 256)
        );
    }
}
