//! The open-files limit (`RLIMIT_NOFILE`): raised at start from the soft to the hard limit, so
//! the connection cap can be what `--max-connections` asks, and the cap kept below it, so that a
//! full house of clients never leaves the daemon unable to open a file, accept or log.
//!
//! Many systems start services with a soft limit of 1024 and a far higher hard limit (systemd:
//! 1024 and 524288); every connection costs one descriptor, so with the soft limit alone the
//! default cap of 1024 could never be reached and `accept` would fail with `EMFILE` first.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept for everything but client connections: standard streams, listeners, the
/// runtime's epoll and wakers, syslog, pid files, the metrics endpoint and its clients, the
/// mechanisms' connections (LDAP and SQL pools: 8 each by default) and the files PAM modules and
/// hash lookups open while they run.
pub const RESERVED: u64 = 128;

/// The limit before and after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit the daemon was started with.
    pub before: u64,
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit (unchanged: raising it needs privileges the daemon does not use for this).
    pub hard: u64,
}

/// Raise the soft limit to the hard limit. Failing that (a hard limit of `RLIM_INFINITY` is
/// refused above `fs.nr_open`), the limit stays as it was.
pub fn raise() -> nix::Result<OpenFiles> {
    let (before, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let soft = if before < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() { hard } else { before };
    Ok(OpenFiles { before, soft, hard })
}

/// The connection cap under a soft limit of `soft`: `wanted`, or fewer so that [`RESERVED`]
/// descriptors stay free (at least one connection).
pub fn connection_cap(wanted: usize, soft: u64) -> usize {
    let room = usize::try_from(soft.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
    wanted.min(room).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_limit() {
        assert_eq!(connection_cap(1024, 524_288), 1024);
        assert_eq!(connection_cap(1024, 1024), 1024 - RESERVED as usize);
        assert_eq!(connection_cap(1024, 10), 1);
        assert_eq!(connection_cap(usize::MAX, u64::MAX), usize::try_from(u64::MAX - RESERVED).unwrap_or(usize::MAX));
    }

    #[test]
    fn raising_never_lowers() {
        let limits = raise().unwrap_or(OpenFiles { before: 0, soft: 0, hard: 0 });
        assert!(limits.soft >= limits.before && limits.soft <= limits.hard);
    }
}
