//! The command line: Cyrus's short flags exactly as its getopt reads them, plus long-only extensions.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Debian builds Cyrus with `PATH_SASLAUTHD_RUNDIR=/var/run/saslauthd` (reference §1.1, §6).
pub const DEFAULT_SOCKET: &str = "/var/run/saslauthd/mux";

/// Cyrus's default service when `-s` is absent (testsaslauthd.c).
pub const DEFAULT_SERVICE: &str = "imap";

/// Cyrus's usage text, byte for byte (2.1.28); `{0}` is argv[0], as Cyrus prints it twice.
const USAGE: &str = "{0}: usage: {0} -u username -p password\n              [-r realm] [-s servicename]\n              [-f socket path] [-R repeatnum]\n";

/// The flags Cyrus reads with getopt, which take a value (getopt string `p:u:r:s:f:R:a:`).
const SHORT_WITH_VALUE: &[char] = &['p', 'u', 'r', 's', 'f', 'R', 'a'];

/// Everything the operator wrote, before any defaults are applied.
///
/// Short flags are Cyrus's; every extension is long-only so a Cyrus command line never means
/// something different here. Values are `OsString` because Cyrus sends argv bytes unchanged.
#[derive(Parser)]
#[command(
    name = "testsaslauthd",
    version,
    about = "Test a saslauthd server (drop-in for Cyrus testsaslauthd), or load it for benchmarks.",
    long_about = None,
    after_help = "Exit status: 0 if the last request got OK; 255 if it got NO or failed (or, with \
                  --load, if any request failed); 1 for a usage error. With --admin: 0 done, 2 \
                  refused or failed by the daemon, 255 daemon not reachable.",
    disable_help_flag = true,
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    /// Login to authenticate.
    #[arg(short = 'u', value_name = "username", allow_hyphen_values = true)]
    pub user: Option<OsString>,
    /// Password; when absent it is prompted for on a terminal, or read as one line from stdin.
    #[arg(short = 'p', value_name = "password", allow_hyphen_values = true)]
    pub password: Option<OsString>,
    /// Realm sent in the fourth field (default: empty).
    #[arg(short = 'r', value_name = "realm", allow_hyphen_values = true)]
    pub realm: Option<OsString>,
    /// Service name (default: imap); the pam mechanism uses it as the PAM service.
    #[arg(short = 's', value_name = "servicename", allow_hyphen_values = true)]
    pub service: Option<OsString>,
    /// Path of the saslauthd socket (default: /var/run/saslauthd/mux).
    #[arg(short = 'f', value_name = "socket path", allow_hyphen_values = true)]
    pub socket: Option<OsString>,
    /// Number of requests, each on a new connection; read like C atoi, 0 means 1.
    #[arg(short = 'R', value_name = "repeatnum", allow_hyphen_values = true)]
    pub repeat: Option<OsString>,
    /// Client address `ip;port`, sent as a fifth field (as Cyrus master's testsaslauthd does).
    #[arg(short = 'a', value_name = "clientaddr", allow_hyphen_values = true)]
    pub client_addr: Option<OsString>,

    /// Append the server's reason text to each result line, in parentheses.
    #[arg(long)]
    pub show_reason: bool,
    /// Read the password as one line from standard input even when it is a terminal.
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    /// Give up on a request after SECS seconds (default: wait forever, as Cyrus does; 10 in --load).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,

    /// Load mode: many concurrent requests, then one summary line.
    #[arg(long)]
    pub load: bool,
    /// Load mode: number of concurrent clients.
    #[arg(long, value_name = "N", default_value_t = 16, requires = "load",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Load mode: stop after M requests in total (default 1000 when --duration is absent).
    #[arg(long, value_name = "M", requires = "load", conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Load mode: stop starting requests after SECS seconds.
    #[arg(long, value_name = "SECS", requires = "load", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Load mode: every K-th request sends a wrong password (to measure the NO path too).
    #[arg(long, value_name = "K", requires = "load",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub wrong_password_every: Option<u64>,

    /// Admin mode: send COMMAND [ARG] to the daemon's control socket (`control` beside the -f
    /// socket): flush-cache [USER], penalties [USER|ADDRESS], forget-penalty USER|ADDRESS|#ID,
    /// stats, reload. -r gives the realm of USER.
    #[arg(long, conflicts_with_all = ["load", "password", "password_stdin", "user"])]
    pub admin: bool,
    /// Admin mode: print the answer as one JSON object.
    #[arg(long, requires = "admin")]
    pub json: bool,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Print version.
    #[arg(long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,

    /// Operands: glibc getopt moves them to the end and Cyrus ignores them, so they are accepted;
    /// with --admin, the command and its argument.
    #[arg(hide = true, value_name = "IGNORED")]
    pub ignored: Vec<OsString>,
}

/// Why the command line was refused, already worded for stderr.
pub enum CliError {
    /// `--help` or `--version`: clap's text on stdout, exit 0.
    Info(clap::Error),
    /// A usage error: the message (if any) and Cyrus's usage text go to stderr, exit 1.
    Usage(Option<String>),
}

impl Cli {
    /// Parse argv the way Cyrus's getopt would, mapping clap's errors to getopt's wording.
    pub fn parse_args(args: Vec<OsString>) -> Result<Cli, CliError> {
        Cli::try_parse_from(rewrite_attached_equals(args)).map_err(|err| match err.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => CliError::Info(err),
            _ => CliError::Usage(Some(getopt_message(&err))),
        })
    }
}

/// Cyrus's usage text for this argv[0].
pub fn usage(argv0: &str) -> String {
    USAGE.replace("{0}", argv0)
}

/// C `atoi` as glibc implements it (`(int) strtol(s, NULL, 10)`): leading blanks, a sign, digits,
/// stop at the first non-digit; out-of-range values saturate in `long` and are then truncated.
pub fn c_atoi(bytes: &[u8]) -> i32 {
    let mut rest = bytes;
    while let [b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c, tail @ ..] = rest {
        rest = tail;
    }
    let negative = matches!(rest.first(), Some(b'-'));
    if let [b'-' | b'+', tail @ ..] = rest {
        rest = tail;
    }
    let mut value: i64 = 0;
    for &byte in rest.iter().take_while(|b| b.is_ascii_digit()) {
        let digit = i64::from(byte - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(digit)
        } else {
            value.saturating_mul(10).saturating_add(digit)
        };
    }
    // The truncation to int is what glibc's atoi does on LP64.
    value as i32
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|_| format!("'{text}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{text}' is not a positive number of seconds"))
}

/// getopt reads `-p=x` as the password `=x`, clap as `x`; split such words so clap sees `-p` `=x`.
///
/// Only words in option position are touched: a word that is the separate value of a preceding
/// value flag (`-p -u=x`) is left alone, and nothing after `--` is touched.
fn rewrite_attached_equals(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut iter = args.into_iter();
    if let Some(argv0) = iter.next() {
        out.push(argv0);
    }
    let mut value_pending = false;
    let mut done = false;
    for arg in iter {
        let bytes = arg.as_bytes();
        if done || value_pending || bytes == b"--" || !bytes.starts_with(b"-") || bytes.starts_with(b"--") {
            done |= !value_pending && bytes == b"--";
            value_pending = false;
            out.push(arg);
            continue;
        }
        // Walk the cluster as getopt does: flags without a value, then one that takes the rest.
        let split = bytes[1..].iter().position(|&b| SHORT_WITH_VALUE.contains(&char::from(b)));
        match split {
            Some(at) if bytes.len() == at + 2 => {
                value_pending = true;
                out.push(arg);
            }
            Some(at) if bytes[at + 2] == b'=' => {
                out.push(OsString::from(std::ffi::OsStr::from_bytes(&bytes[..at + 2])));
                out.push(OsString::from(std::ffi::OsStr::from_bytes(&bytes[at + 2..])));
            }
            _ => out.push(arg),
        }
    }
    out
}

/// Word clap's error the way glibc's getopt does for the same mistake.
fn getopt_message(err: &clap::Error) -> String {
    let invalid = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => String::new(),
    };
    let short = invalid.strip_prefix('-').filter(|s| !s.starts_with('-')).and_then(|s| s.chars().next());
    match (err.kind(), short) {
        (ErrorKind::UnknownArgument, Some(flag)) => format!("invalid option -- '{flag}'"),
        (ErrorKind::UnknownArgument, None) if invalid.starts_with("--") => {
            format!("unrecognized option '{invalid}'")
        }
        (ErrorKind::InvalidValue, Some(flag)) if SHORT_WITH_VALUE.contains(&flag) => {
            format!("option requires an argument -- '{flag}'")
        }
        _ => {
            // clap's text without its own usage and hint lines, folded onto one line.
            let rendered = err.render().to_string();
            let kept: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
                .filter(|line| !line.is_empty())
                .collect();
            let text = kept.join(" ");
            text.strip_prefix("error: ").unwrap_or(&text).to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn atoi_matches_glibc() {
        for (text, want) in [
            ("3", 3),
            ("  2x", 2),
            ("-1", -1),
            ("+4", 4),
            ("abc", 0),
            ("", 0),
            ("99999999999", 1_215_752_191),
            ("-", 0),
        ] {
            assert_eq!(c_atoi(text.as_bytes()), want, "{text:?}");
        }
    }

    fn words(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        rewrite_attached_equals(args).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn attached_equals_becomes_part_of_the_value() {
        assert_eq!(words(&["t", "-p=x", "-u", "-p=y"]), ["t", "-p", "=x", "-u", "-p=y"]);
        assert_eq!(words(&["t", "--", "-p=x"]), ["t", "--", "-p=x"]);
        assert_eq!(words(&["t", "-u", "--", "-p=x"]), ["t", "-u", "--", "-p", "=x"]);
        assert_eq!(words(&["t", "-uabc", "-R=3"]), ["t", "-uabc", "-R", "=3"]);
    }

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::parse_args(args.iter().map(OsString::from).collect()).map_err(|e| match e {
            CliError::Info(_) => "info".to_owned(),
            CliError::Usage(msg) => msg.unwrap_or_default(),
        })
    }

    #[test]
    fn reads_values_like_getopt() {
        let cli = parse(&["t", "-u", "-p", "-p", "-u", "extra", "-ua", "-R", "-2"]).unwrap();
        assert_eq!(cli.user.unwrap(), "a");
        assert_eq!(cli.password.unwrap(), "-u");
        assert_eq!(cli.repeat.unwrap(), "-2");
        assert_eq!(cli.ignored, ["extra"]);
    }

    #[test]
    fn errors_are_worded_like_getopt() {
        assert_eq!(parse(&["t", "-x"]).err().unwrap(), "invalid option -- 'x'");
        assert_eq!(parse(&["t", "-h"]).err().unwrap(), "invalid option -- 'h'");
        assert_eq!(parse(&["t", "-u"]).err().unwrap(), "option requires an argument -- 'u'");
        assert_eq!(parse(&["t", "--nope"]).err().unwrap(), "unrecognized option '--nope'");
        assert_eq!(parse(&["t", "--help"]).err().unwrap(), "info");
    }
}
