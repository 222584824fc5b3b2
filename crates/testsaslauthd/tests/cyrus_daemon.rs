//! Ours and Cyrus's client against a real Cyrus `saslauthd -a pam` backed by pam_pwdfile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{both_agree, ours};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const CYRUS_DAEMON: &str = "/usr/sbin/saslauthd";

/// A PAM service file this test created under /etc/pam.d; removed on drop, even on panic.
struct PamService {
    name: String,
    path: PathBuf,
}

impl PamService {
    fn create(pwdfile: &Path) -> PamService {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "saslauthd-rs-client-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = Path::new("/etc/pam.d").join(&name);
        let stack = format!(
            "auth required pam_pwdfile.so pwdfile={}\naccount required pam_permit.so\n",
            pwdfile.display()
        );
        std::fs::write(&path, stack).expect("writing /etc/pam.d needs root");
        PamService { name, path }
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A foreground Cyrus saslauthd in its own process group; stopped on drop.
struct CyrusDaemon {
    child: Child,
    socket: PathBuf,
}

impl CyrusDaemon {
    fn start(rundir: &Path) -> CyrusDaemon {
        assert!(Path::new(CYRUS_DAEMON).exists(), "{CYRUS_DAEMON} missing: apt-get install sasl2-bin");
        let log = std::fs::File::create(rundir.join("saslauthd.log")).unwrap();
        let child = Command::new(CYRUS_DAEMON)
            .args(["-a", "pam", "-d", "-m"])
            .arg(rundir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // In the foreground Cyrus stops with kill(0, SIGTERM) (reference §2.5): its own group
            // keeps that away from the test runner.
            .process_group(0)
            .spawn()
            .unwrap();
        let daemon = CyrusDaemon { child, socket: rundir.join("mux") };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !daemon.socket.exists() {
            assert!(Instant::now() < deadline, "Cyrus saslauthd did not create {}", daemon.socket.display());
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    fn socket(&self) -> &str {
        self.socket.to_str().unwrap()
    }
}

impl Drop for CyrusDaemon {
    fn drop(&mut self) {
        // SIGTERM to the master only; it then signals its own group (its workers) itself.
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temp dir with a pam_pwdfile password file holding `alice:secret` (sha-512 crypt).
fn setup() -> (tempfile::TempDir, PamService) {
    let dir = tempfile::tempdir().unwrap();
    let hash = Command::new("mkpasswd")
        .args(["-m", "sha-512", "secret"])
        .output()
        .expect("mkpasswd (package whois)");
    assert!(hash.status.success());
    let pwdfile = dir.path().join("passwd");
    std::fs::write(&pwdfile, format!("alice:{}", String::from_utf8(hash.stdout).unwrap())).unwrap();
    let service = PamService::create(&pwdfile);
    (dir, service)
}

#[test]
fn same_answers_as_cyrus_client_from_real_cyrus_daemon() {
    let (dir, service) = setup();
    let daemon = CyrusDaemon::start(dir.path());
    let common = ["-s", service.name.as_str(), "-f", daemon.socket()];
    let cases: [(&[&str], &str, i32); 4] = [
        (&["-u", "alice", "-p", "secret"], "0: OK \"Success.\"\n", 0),
        (&["-u", "alice", "-p", "wrong"], "0: NO \"authentication failed\"\n", 255),
        (&["-u", "nobody-here", "-p", "secret"], "0: NO \"authentication failed\"\n", 255),
        (&["-u", "alice", "-p", "secret", "-R", "2"], "0: OK \"Success.\"\n1: OK \"Success.\"\n", 0),
    ];
    for (args, stdout, code) in cases {
        let mut args = args.to_vec();
        args.extend(common);
        let run = both_agree(&args);
        assert_eq!(
            (run.stdout.as_str(), run.stderr.as_str(), run.code),
            (stdout, "", Some(code)),
            "{args:?}"
        );
    }
    let mut args = vec!["-u", "alice", "-p", "wrong", "--show-reason"];
    args.extend(common);
    assert_eq!(ours(&args).stdout, "0: NO \"authentication failed\" (PAM auth error)\n");
}

#[test]
fn load_mode_against_real_cyrus_daemon() {
    let (dir, service) = setup();
    let daemon = CyrusDaemon::start(dir.path());
    let run = ours(&[
        "--load",
        "--concurrency",
        "4",
        "--count",
        "24",
        "--wrong-password-every",
        "6",
        "-u",
        "alice",
        "-p",
        "secret",
        "-s",
        &service.name,
        "-f",
        daemon.socket(),
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.starts_with("concurrency=4 requests=24 ok=20 no=4 fail=0 "), "{}", run.stdout);
}
