//! `saslauthd --check`: the answer to "authentication failed, why?" without a running daemon.
//! It reports what the command line would do (mechanism, run directories, who is serving them)
//! and, given `--check-user`, runs one request through the same policy and verifier the daemon
//! would use and prints the reply with the log lines that explain it.

use crate::answer::Answer;
use crate::frame::RawRequest;
use crate::policy::Policy;
use crate::run_dir::{self, PID_NAME, SOCKET_NAME};
use std::io::{BufRead, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use zeroize::Zeroizing;

/// One request to try, from `--check-user`, `--check-service`, `--check-realm` and a password
/// line on standard input.
#[derive(Debug)]
pub struct Probe {
    /// Login.
    pub user: String,
    /// Service (PAM service name for `pam`).
    pub service: String,
    /// Realm.
    pub realm: String,
}

/// Report on `run_dirs` and, with a probe, check one login; the exit status is 0 when nothing
/// is wrong (and the login, if any, was accepted).
pub fn run(
    mech: &str,
    option: Option<&str>,
    run_dirs: &[&Path],
    policy: &Policy,
    probe: Option<Probe>,
) -> u8 {
    let mut problems = 0;
    println!("mechanism: {mech}{}: initialized", option.map(|o| format!(" (-O {o})")).unwrap_or_default());
    for dir in run_dirs {
        problems += report_run_dir(dir);
    }
    let Some(probe) = probe else {
        return u8::from(problems > 0);
    };
    let password = match read_password() {
        Ok(password) => password,
        Err(e) => {
            println!("cannot read the password from standard input: {e}");
            return 1;
        }
    };
    let raw = RawRequest {
        login: probe.user.into_bytes(),
        password,
        service: probe.service.into_bytes(),
        realm: probe.realm.into_bytes(),
        client_addr: None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            println!("cannot start the runtime: {e}");
            return 1;
        }
    };
    let answer = runtime.block_on(policy.decide(raw));
    let _ = std::io::stderr().flush();
    match answer {
        Answer::Reply(reply) => {
            let text = reply.text();
            println!("reply: {text}");
            u8::from(problems > 0 || !text.starts_with("OK"))
        }
        Answer::Tempfail(_) => {
            println!(
                "reply: none (temporary failure: libsasl2 reports SASL_FAIL; see the tempfail line above)"
            );
            1
        }
    }
}

/// One line of standard input, without its line end, zeroed when dropped.
fn read_password() -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut line = Zeroizing::new(Vec::new());
    std::io::stdin().lock().read_until(b'\n', &mut line)?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(line)
}

/// Describe a run directory; the number of problems found.
fn report_run_dir(dir: &Path) -> u32 {
    if !dir.is_absolute() {
        println!("run directory {}: refused: -m requires an absolute pathname", dir.display());
        return 1;
    }
    let Ok(meta) = std::fs::metadata(dir) else {
        println!("run directory {}: missing (it will be created, mode 0755)", dir.display());
        return 0;
    };
    println!(
        "run directory {}: mode {:04o}, owner uid {} gid {}",
        dir.display(),
        meta.permissions().mode() & 0o7777,
        meta.uid(),
        meta.gid()
    );
    if !meta.is_dir() {
        println!("  refused: not a directory");
        return 1;
    }
    // The daemon's own start-up rule (run_dir.rs), so --check passes only what would start.
    if let Some(fault) = run_dir::unsafe_because(meta.uid(), meta.mode()) {
        println!(
            "  refused: it is {fault}; make it root's, without group or other write permission \
             (Debian: root:sasl 0710)"
        );
        return 1;
    }
    let socket = dir.join(SOCKET_NAME);
    let pid = std::fs::read_to_string(dir.join(PID_NAME)).ok().and_then(|p| p.trim().parse::<i32>().ok());
    let alive = pid.is_some_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok());
    match (socket.exists(), pid, alive) {
        (true, Some(pid), true) => println!("  {}: served by pid {pid}", socket.display()),
        (true, _, _) => {
            println!("  {}: stale (no daemon holds it); clients will fail to connect", socket.display());
            return 1;
        }
        (false, _, _) => println!("  {}: not present (no daemon running here)", socket.display()),
    }
    0
}
