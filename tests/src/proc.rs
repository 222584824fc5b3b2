//! What /proc says about a running daemon (open descriptors, peak memory), and the test
//! process's own descriptor limit.

use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Number of open file descriptors of process `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
}

/// Waits up to `timeout` for `pid` to have at most `target` descriptors open; returns the last count.
pub fn wait_fd_count_at_most(pid: u32, target: usize, timeout: Duration) -> usize {
    let start = Instant::now();
    loop {
        let n = fd_count(pid);
        if n <= target || start.elapsed() > timeout {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `kB` field of /proc/<pid>/status (`VmHWM` peak resident set, `VmRSS`, …), in KiB.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Raises this process's soft `RLIMIT_NOFILE` to at least `wanted` (capped by the hard limit)
/// and returns the new soft limit. Children started afterwards inherit it.
pub fn raise_nofile(wanted: u64) -> u64 {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft >= wanted {
        return soft;
    }
    let new = wanted.min(hard);
    setrlimit(Resource::RLIMIT_NOFILE, new, hard).expect("setrlimit");
    new
}
