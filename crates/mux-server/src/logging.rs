//! Where log lines go: stderr in the foreground, syslog (facility auth, ident `saslauthd`) when
//! daemonized, as Cyrus does (reference §2.6). Under systemd, stderr is the journal: lines then
//! carry sd-daemon(3) `<N>` priority prefixes instead of a timestamp and level word, so the
//! journal files each at its own priority (the unit's `SyslogFacility=auth` gives the facility).

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Where to send logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Standard error (foreground, `-d`, `-f`); the journal's format when stderr is the journal.
    Stderr,
    /// syslog, LOG_AUTH, ident `saslauthd`, with the pid.
    Syslog,
}

fn filter(verbose: bool) -> EnvFilter {
    let default = if verbose { "debug" } else { "info" };
    EnvFilter::try_from_env("SASLAUTHD_LOG").unwrap_or_else(|_| EnvFilter::new(default))
}

/// Whether standard error is connected to the journal: systemd sets `JOURNAL_STREAM` to the
/// `device:inode` of the stream it connected (sd-daemon(3), systemd.exec(5)); a child that
/// inherited the variable but not the stream must not use the journal's format.
pub fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else { return false };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else { return false };
    match nix::sys::stat::fstat(std::io::stderr()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

/// The syslog priority sd-daemon(3) prefixes stand for: `<3>` error, `<4>` warning, `<6>` info,
/// `<7>` debug.
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// One line per event, `<N>` then the message: the journal stamps time, pid and identifier.
struct JournalFormat(Format<tracing_subscriber::fmt::format::Full, ()>);

impl JournalFormat {
    fn new() -> Self {
        Self(
            tracing_subscriber::fmt::format()
                .without_time()
                .with_level(false)
                .with_target(false)
                .with_ansi(false),
        )
    }
}

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// A subscriber writing to standard error, in the journal's format when stderr is the journal.
fn stderr_subscriber(verbose: bool) -> Box<dyn Subscriber + Send + Sync> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose))
        .with_ansi(false)
        .with_target(false)
        .with_writer(std::io::stderr);
    if stderr_is_journal() {
        Box::new(builder.fmt_fields(DefaultFields::new()).event_format(JournalFormat::new()).finish())
    } else {
        Box::new(builder.finish())
    }
}

/// A stderr subscriber for this thread while the daemon starts: where logs finally go is known
/// only after it has detached, but configuration warnings (unknown keys, insecure TLS settings)
/// are written while the mechanisms are built, and the operator starting it must see them.
pub fn start_up(verbose: bool) -> tracing::subscriber::DefaultGuard {
    tracing::subscriber::set_default(stderr_subscriber(verbose))
}

/// Install the global subscriber. `verbose` turns on debug lines (`-V`, `-d`);
/// `SASLAUTHD_LOG` (an `EnvFilter` directive) overrides the level.
pub fn init(target: Target, verbose: bool) {
    let installed = match target {
        Target::Stderr => {
            tracing::subscriber::set_global_default(stderr_subscriber(verbose)).map_err(|e| e.to_string())
        }
        Target::Syslog => {
            let builder = tracing_subscriber::fmt()
                .with_env_filter(filter(verbose))
                .with_ansi(false)
                .with_target(false);
            let options = syslog_tracing::Options::LOG_PID | syslog_tracing::Options::LOG_NDELAY;
            match syslog_tracing::Syslog::new(c"saslauthd", options, syslog_tracing::Facility::Auth) {
                // syslog stamps time and host itself.
                Some(syslog) => builder.without_time().with_level(false).with_writer(syslog).try_init(),
                None => builder.with_writer(std::io::stderr).try_init(),
            }
            .map_err(|e| e.to_string())
        }
    };
    if let Err(e) = installed {
        eprintln!("saslauthd: logging not set up: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_sd_daemon_levels() {
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::DEBUG), 7);
    }

    #[test]
    fn a_journal_stream_of_another_file_is_not_stderr() {
        // The test runner's stderr is never inode 1 of device 1.
        // SAFETY: no other code in this test binary reads or writes JOURNAL_STREAM.
        unsafe { std::env::set_var("JOURNAL_STREAM", "1:1") };
        assert!(!stderr_is_journal());
        // SAFETY: as above.
        unsafe { std::env::set_var("JOURNAL_STREAM", "garbage") };
        assert!(!stderr_is_journal());
        // SAFETY: as above.
        unsafe { std::env::remove_var("JOURNAL_STREAM") };
    }
}
