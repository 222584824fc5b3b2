//! A real Dovecot IMAP server for the rimap tests: its own config, passwd-file users, state and
//! log in a temp dir, listening on free loopback ports; stopped (with its children) on drop.

use crate::free_port;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::bins::require_file;

/// Dovecot's master binary (`dovecot-core`, pulled in by `dovecot-imapd`).
pub const DOVECOT: &str = "/usr/sbin/dovecot";
/// How long Dovecot may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long Dovecot may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running Dovecot. Dropping it stops it and removes its directory.
#[derive(Debug)]
pub struct Dovecot {
    child: Option<Child>,
    dir: TempDir,
    imap_port: u16,
    imaps_port: Option<u16>,
}

/// Users and TLS settings for [`Dovecot::builder`].
#[derive(Debug, Default)]
#[must_use]
pub struct DovecotBuilder {
    users: Vec<(String, String)>,
    tls: Option<(String, String)>,
}

impl Dovecot {
    /// Begins describing a Dovecot.
    pub fn builder() -> DovecotBuilder {
        DovecotBuilder::default()
    }

    /// The plaintext (and STARTTLS) IMAP port on 127.0.0.1.
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// The IMAP-over-TLS port, when TLS was configured.
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port.expect("this Dovecot has no TLS: use DovecotBuilder::tls")
    }

    /// Everything Dovecot logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join("dovecot.log")).unwrap_or_default())
            .into_owned()
    }

    /// The log lines of the login process (one per connection at least).
    pub fn login_lines(&self) -> Vec<String> {
        self.log().lines().filter(|l| l.contains("imap-login:")).map(str::to_owned).collect()
    }

    /// Waits up to `timeout` for `needle` to appear in the log.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl DovecotBuilder {
    /// A user with a `{PLAIN}` password (which must not hold `:`, the field separator).
    pub fn user(mut self, name: &str, password: &str) -> Self {
        assert!(!name.contains(':') && !password.contains(':'), "passwd-file fields cannot hold ':'");
        assert!(!password.contains(['\n', '\r', '\0']), "passwd-file lines cannot hold line breaks");
        self.users.push((name.to_owned(), password.to_owned()));
        self
    }

    /// Serve TLS (imaps port and STARTTLS) with this PEM certificate chain and key.
    pub fn tls(mut self, cert_pem: &str, key_pem: &str) -> Self {
        self.tls = Some((cert_pem.to_owned(), key_pem.to_owned()));
        self
    }

    /// Writes the config and starts `dovecot -F`, waiting until it listens.
    pub fn start(self) -> Dovecot {
        let exe = require_file(DOVECOT, "dovecot-imapd");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        // The mail processes run as the `dovecot` user and must reach the mail directory.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in ["base", "state", "mail"] {
            std::fs::create_dir(root.join(sub)).expect("mkdir");
        }
        let mail = root.join("mail");
        let (uid, gid) = dovecot_ids();
        nix::unistd::chown(&mail, Some(uid), Some(gid)).expect("chown mail dir");

        let mut users = std::fs::File::create(root.join("users")).expect("users file");
        for (name, password) in &self.users {
            writeln!(users, "{name}:{{PLAIN}}{password}::::::").expect("write users");
        }
        drop(users);

        let imap_port = free_port();
        let mut tls_conf = String::from("ssl = no\n");
        let mut imaps_listener = String::new();
        let imaps_port = self.tls.as_ref().map(|(cert, key)| {
            std::fs::write(root.join("cert.pem"), cert).expect("write cert");
            std::fs::write(root.join("key.pem"), key).expect("write key");
            std::fs::set_permissions(root.join("key.pem"), std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
            tls_conf = format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
                root.join("cert.pem").display(),
                root.join("key.pem").display()
            );
            let port = free_port();
            imaps_listener = format!("  inet_listener imaps {{\n    port = {port}\n    ssl = yes\n  }}\n");
            port
        });
        if imaps_listener.is_empty() {
            imaps_listener = "  inet_listener imaps {\n    port = 0\n  }\n".into();
        }
        let r = root.display();
        let conf = format!(
            r#"# Written by the saslauthd-rs tests.
base_dir = {r}/base
state_dir = {r}/state
instance_name = saslauthd-test-{imap_port}
protocols = imap
listen = 127.0.0.1
log_path = {r}/dovecot.log
auth_verbose = yes
{tls_conf}disable_plaintext_auth = no
auth_failure_delay = 0
# Allow any byte in user names (the default set is ASCII letters, digits and .-_@).
auth_username_chars =
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:{r}/mail/%u
mail_max_userip_connections = 10000
passdb {{
  driver = passwd-file
  args = {r}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={r}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
{imaps_listener}  process_limit = 256
  client_limit = 1000
  service_count = 0
  process_min_avail = 2
}}
# Reuse mail processes across logins (all users share one uid here): a fork and exec per login
# would make Dovecot, not the daemon under test, the bottleneck of every load run.
service imap {{
  process_limit = 1024
  service_count = 1000
  process_min_avail = 4
}}
service auth {{
  client_limit = 4000
}}
# Every login comes from the daemon at 127.0.0.1, so each wrong password would slow the next
# logins of all users by up to 15 s (Dovecot's per-IP auth penalty). A real deployment should do
# the same for the saslauthd host, or one user's typos delay everyone.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
default_client_limit = 2000
default_process_limit = 1024
"#
        );
        let conf_path = root.join("dovecot.conf");
        std::fs::write(&conf_path, conf).expect("write dovecot.conf");

        let mut dovecot = Dovecot { child: None, dir, imap_port, imaps_port };
        dovecot.spawn(&exe);
        dovecot
    }
}

impl Dovecot {
    /// Stops the server as dropping it would, keeping its directory, ports and log for
    /// [`Dovecot::restart`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pgid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        // The master stops its own children on SIGTERM; the group kill is the fallback.
        let _ = nix::sys::signal::kill(pgid, Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < STOP_TIMEOUT {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Still running, so the group id is still ours to signal.
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = child.wait();
    }

    /// Starts a stopped server again on the same ports, waiting until it listens.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart() needs a stopped Dovecot");
        self.spawn(&require_file(DOVECOT, "dovecot-imapd"));
    }

    /// Whether the master process is running (a stopped one has no child).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn spawn(&mut self, exe: &Path) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stderr.log"))
            .expect("stderr.log");
        let mut cmd = Command::new(exe);
        cmd.arg("-F")
            .arg("-c")
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        let ports: Vec<u16> = [Some(self.imap_port), self.imaps_port].into_iter().flatten().collect();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait")) {
                self.child = None;
                panic!("dovecot exited ({status}) at start:\n{}\n{}", self.stderr(), self.log());
            }
            // Read the kernel's socket table rather than connecting: a probe connection would
            // show in Dovecot's log, which some tests count.
            if ports.iter().all(|p| listening(*p)) {
                return;
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "dovecot did not listen:\n{}\n{}",
                self.stderr(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The directory holding the config, users, state and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The config file, for running further programs against this instance.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn dovecot_ids() -> (nix::unistd::Uid, nix::unistd::Gid) {
    let user = nix::unistd::User::from_name("dovecot")
        .expect("getpwnam")
        .expect("no `dovecot` user: install dovecot-imapd");
    (user.uid, user.gid)
}

/// Whether something listens on 127.0.0.1:`port` (from /proc/net/tcp; state 0A = LISTEN).
fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.get(1) == Some(&local.as_str()) && cols.get(3) == Some(&"0A")
    })
}
