//! Starting a saslauthd — ours or Cyrus's — in a fresh run dir, waiting for its socket, and
//! stopping it (with its whole process group) when the guard drops.

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::{PamService, Target};

/// How long a daemon may take to accept connections on its socket.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a daemon may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long worker processes may outlive their master before they get SIGKILL.
const WORKER_GRACE: Duration = Duration::from_millis(500);

/// A running daemon. Dropping it stops the daemon and removes its run dir.
#[derive(Debug)]
pub struct Daemon {
    target: Target,
    child: Option<Child>,
    dir: TempDir,
    run_dir: PathBuf,
    socket: PathBuf,
    stderr: PathBuf,
    command: String,
}

/// Options for [`Daemon::builder`]; `start` spawns and waits for readiness.
#[derive(Debug)]
#[must_use]
pub struct DaemonBuilder {
    target: Target,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    has_mech: bool,
    run_dir: Option<PathBuf>,
    wrapper: Vec<OsString>,
    metrics: bool,
}

impl Daemon {
    /// Begins describing a daemon of implementation `target`.
    pub fn builder(target: Target) -> DaemonBuilder {
        DaemonBuilder {
            target,
            args: Vec::new(),
            envs: Vec::new(),
            has_mech: false,
            run_dir: None,
            wrapper: Vec::new(),
            metrics: false,
        }
    }

    /// Asserts the metrics of a mechanism's memory (the `*_cache_ttl` keys of ldap and sql).
    pub fn assert_memory_metrics(&self, mech: &str, memory: &str, hits: u64, misses: u64, entries: usize) {
        let text = self.metrics();
        let labels = format!("{{mech=\"{mech}\",memory=\"{memory}\"}}");
        for line in [
            format!("saslauthd_mechanism_memory_hits_total{labels} {hits}\n"),
            format!("saslauthd_mechanism_memory_misses_total{labels} {misses}\n"),
            format!("saslauthd_mechanism_memory_entries{labels} {entries}\n"),
        ] {
            assert!(text.contains(&line), "{line} not in\n{text}");
        }
    }

    /// The metrics endpoint's text (ours, started with [`DaemonBuilder::metrics`]).
    pub fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let path = self.dir.path().join("metrics.sock");
        // The daemon binds the endpoint beside the mux socket, not before it.
        let until = Instant::now() + READY_TIMEOUT;
        while !path.exists() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut stream = UnixStream::connect(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        stream.set_read_timeout(Some(READY_TIMEOUT)).expect("set_read_timeout");
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").expect("send the scrape");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read the scrape");
        text
    }

    /// Which implementation this is.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The socket clients connect to (`<run dir>/mux`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The `-m` directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The daemon's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Everything the daemon wrote to stderr so far (its log in foreground mode).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    /// Waits up to `timeout` for `needle` to appear in the log.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the daemon process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends SIGTERM to the daemon (not its group) and returns how it exited; panics if it is
    /// still running after [`STOP_TIMEOUT`] (the drop then kills it).
    pub fn terminate(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("the daemon was already reaped");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        nix::sys::signal::kill(pid, Signal::SIGTERM).expect("SIGTERM the daemon");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(start.elapsed() < STOP_TIMEOUT, "the daemon ignored SIGTERM for {STOP_TIMEOUT:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The temp dir holding the run dir and the captured output.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait")) {
                self.child = None;
                panic!(
                    "{} exited ({status}) before its socket {} was ready.\ncommand: {}\nlog:\n{}",
                    name(self.target),
                    self.socket.display(),
                    self.command,
                    self.log()
                );
            }
            if crate::wire::accepts(&self.socket) {
                return;
            }
            if start.elapsed() > READY_TIMEOUT {
                panic!(
                    "{} did not accept on {} within {READY_TIMEOUT:?}.\ncommand: {}\nlog:\n{}",
                    name(self.target),
                    self.socket.display(),
                    self.command,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pgid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        // The whole group: Cyrus's worker processes share it (we started it as group leader).
        let _ = killpg(pgid, Signal::SIGTERM);
        let start = Instant::now();
        let mut leader_gone: Option<Instant> = None;
        while start.elapsed() < STOP_TIMEOUT {
            if leader_gone.is_none() && !matches!(child.try_wait(), Ok(None)) {
                leader_gone = Some(Instant::now());
            }
            // Workers that outlive their master by this much are stuck, not shutting down.
            if leader_gone.is_some_and(|t| t.elapsed() > WORKER_GRACE) {
                break;
            }
            // Signal 0 probes whether any process is left in the group. While one is, the id
            // cannot be handed to a new group, so signalling it stays safe after the leader was
            // reaped.
            if leader_gone.is_some() && killpg(pgid, None).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // A Cyrus worker was seen surviving its master with SIGTERM blocked; it would outlive
        // the test.
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = child.wait();
    }
}

impl DaemonBuilder {
    /// `-a passwd-file -O <path>` (ours only: Cyrus has no such mechanism).
    pub fn passwd_file(mut self, path: &Path) -> Self {
        assert_eq!(self.target, Target::Ours, "Cyrus saslauthd has no passwd-file mechanism; use PAM");
        self.args.extend(["-a".into(), "passwd-file".into(), "-O".into(), path.into()]);
        self.has_mech = true;
        self
    }

    /// `-a pam`, plus `--pam-confdir` when the service lives in a private confdir (ours only).
    pub fn pam(mut self, service: &PamService) -> Self {
        self.args.extend(["-a".into(), "pam".into()]);
        if let Some(confdir) = service.confdir() {
            assert_eq!(
                self.target,
                Target::Ours,
                "Cyrus saslauthd reads only /etc/pam.d: use PamService::system for it"
            );
            self.args.extend(["--pam-confdir".into(), confdir.into()]);
        }
        self.has_mech = true;
        self
    }

    /// `-a NAME [-O OPTION]`: any mechanism, for either implementation.
    pub fn mech<O: AsRef<std::ffi::OsStr> + ?Sized>(mut self, name: &str, option: Option<&O>) -> Self {
        self.args.extend(["-a".into(), name.into()]);
        if let Some(option) = option {
            self.args.extend(["-O".into(), option.as_ref().to_owned()]);
        }
        self.has_mech = true;
        self
    }

    /// Start the daemon through `program args…` (e.g. `unshare -m sh -c …`), which must end by
    /// exec'ing the daemon command line appended to it, so the daemon keeps the spawned pid.
    pub fn wrapper<I, S>(mut self, program: impl Into<OsString>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.wrapper = std::iter::once(program.into()).chain(args.into_iter().map(Into::into)).collect();
        self
    }

    /// `-n N`: worker processes (Cyrus) or blocking pool size (ours).
    pub fn threads(mut self, n: u32) -> Self {
        self.args.extend(["-n".into(), n.to_string().into()]);
        self
    }

    /// `-r`: join a non-empty realm to the login as `login@realm`.
    pub fn realm_join(mut self) -> Self {
        self.args.push("-r".into());
        self
    }

    /// `--read-timeout SECS`: the stalled-client deadline (ours only).
    pub fn read_timeout(mut self, secs: u64) -> Self {
        assert_eq!(self.target, Target::Ours, "Cyrus saslauthd has no read timeout");
        self.args.extend(["--read-timeout".into(), secs.to_string().into()]);
        self
    }

    /// `-m DIR`: serve in this (existing) run directory instead of one in the daemon's temp dir.
    pub fn run_dir(mut self, dir: &Path) -> Self {
        self.run_dir = Some(dir.to_owned());
        self
    }

    /// Any further argument, passed verbatim.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Further arguments, passed verbatim.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable for the daemon (e.g. `SASLAUTHD_LOG=trace`).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Serve metrics (`--metrics-listen`, ours only) for [`Daemon::metrics`].
    pub fn metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Spawns the daemon in the foreground (`-d`) and waits until its socket accepts.
    pub fn start(self) -> Daemon {
        assert!(self.has_mech, "choose a mechanism (passwd_file, pam or mech) before start()");
        let exe = self.target.saslauthd();
        let dir = tempfile::tempdir().expect("tempdir");
        let run_dir = self.run_dir.clone().unwrap_or_else(|| dir.path().join("run"));
        std::fs::create_dir_all(&run_dir).expect("create run dir");
        let stdout_path = dir.path().join("stdout.log");
        let stderr_path = dir.path().join("stderr.log");
        let stdout = std::fs::File::create(&stdout_path).expect("create stdout.log");
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr.log");

        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&exe);
                cmd
            }
            None => Command::new(&exe),
        };
        if self.metrics {
            let mut listen = OsString::from("unix:");
            listen.push(dir.path().join("metrics.sock"));
            cmd.arg("--metrics-listen").arg(listen);
        }
        cmd.args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .arg("-m")
            .arg(&run_dir)
            .arg("-d")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Cyrus in the foreground SIGTERMs its own process group when it exits (reference
            // §2.5): give it a group of its own so it cannot take the test runner down.
            .process_group(0);
        let command = format!("{cmd:?}");
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let mut daemon = Daemon {
            target: self.target,
            child: Some(child),
            socket: run_dir.join("mux"),
            run_dir,
            stderr: stderr_path,
            dir,
            command,
        };
        daemon.wait_ready();
        daemon
    }
}

fn name(target: Target) -> &'static str {
    match target {
        Target::Ours => "our saslauthd",
        Target::Cyrus => "Cyrus saslauthd",
    }
}
