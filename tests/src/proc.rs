//! What /proc says about a running daemon (open descriptors, peak memory, CPU time), and the
//! test process's own descriptor limit and children's CPU time.

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

/// CPU time (user + system, ms) of the processes whose (pid, process group) pass `pick`.
pub fn cpu_ms(pick: impl Fn(u32, u32) -> bool) -> u64 {
    let tick_ms = 1000 / 100; // USER_HZ is 100 on Linux.
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // After the parenthesised command name: state ppid pgrp … utime (12th) stime (13th).
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        if pick(pid, number(2) as u32) {
            total += (number(11) + number(12)) * tick_ms;
        }
    }
    total
}

/// CPU time (ms) of this process's reaped children: the load client, once it has exited (the
/// daemon of an earlier round is reaped before the next round starts counting).
pub fn children_cpu_ms() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let ms = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1000.0 + t.tv_usec() as f64 / 1000.0;
    ms(usage.user_time()) + ms(usage.system_time())
}
