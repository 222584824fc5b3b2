//! A private MIT Kerberos KDC for the kerberos5 tests: a database made with `kdb5_util create`,
//! principals and keytabs from `kadmin.local`, `krb5kdc -n` on a loopback port, and its own
//! `krb5.conf` and `kdc.conf`, all in a temp dir. The machine's `/etc/krb5.conf` is never read:
//! every command gets `KRB5_CONFIG` / `KRB5_KDC_PROFILE` pointing into the temp dir, and so
//! must the daemons under test ([`Kdc::env`]). Dropping it kills the KDC and removes the files.

use crate::bins::require_program;
use crate::free_port;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The realm every test KDC serves (each its own database, so two KDCs can serve it at once:
/// the spoofed-KDC test needs exactly that).
pub const REALM: &str = "SASLAUTHD.TEST";
/// The host part of the verifying principal (`host/saslauthd.test@SASLAUTHD.TEST`); set as
/// `krb5_servername` so that the principal does not depend on the machine's host name.
pub const SERVER_NAME: &str = "saslauthd.test";
/// The verifying principal in the keytab.
pub const HOST_PRINCIPAL: &str = "host/saslauthd.test";
/// How long krb5kdc may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running KDC; dropping it stops it and removes its files.
#[derive(Debug)]
pub struct Kdc {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl Kdc {
    /// Create the realm's database (with [`HOST_PRINCIPAL`] in it) and start the KDC.
    pub fn start() -> Kdc {
        let dir = tempfile::Builder::new().prefix("kdc-").tempdir().unwrap();
        let mut kdc = Kdc { dir, port: free_port(), child: None };
        let d = kdc.dir.path().display().to_string();
        let port = kdc.port;
        std::fs::write(
            kdc.dir.path().join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
                 [realms]\n {REALM} = {{\n  database_name = {d}/principal\n  key_stash_file = {d}/stash\n  \
                 acl_file = {d}/kadm5.acl\n  max_life = 1h\n }}\n[logging]\n kdc = FILE:{d}/kdc.log\n"
            ),
        )
        .unwrap();
        std::fs::write(kdc.krb5_conf(), kdc.krb5_conf_text()).unwrap();
        let kdb5_util = require_program("kdb5_util", "krb5-kdc");
        kdc.run(Command::new(kdb5_util).args(["create", "-s", "-r", REALM, "-P", "master-key-secret"]));
        kdc.kadmin(&format!("addprinc -randkey {HOST_PRINCIPAL}"));
        kdc.resume();
        kdc
    }

    /// The text of a `krb5.conf` for this KDC: default realm [`REALM`], no DNS, no host name
    /// canonicalisation, `.test` hosts in [`REALM`].
    pub fn krb5_conf_text(&self) -> String {
        format!(
            "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n \
             dns_canonicalize_hostname = false\n rdns = false\n\
             [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{}\n }}\n[domain_realm]\n .test = {REALM}\n",
            self.port
        )
    }

    /// Its `krb5.conf`.
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// The temp dir holding the database and configuration.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The KDC's port (UDP and TCP, on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The environment a client of this KDC needs: `KRB5_CONFIG`.
    pub fn env(&self) -> [(&'static str, PathBuf); 1] {
        [("KRB5_CONFIG", self.krb5_conf())]
    }

    fn run(&self, cmd: &mut Command) {
        let out = cmd
            .env("KRB5_CONFIG", self.krb5_conf())
            .env("KRB5_KDC_PROFILE", self.dir.path().join("kdc.conf"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run one `kadmin.local -q QUERY` against this realm's database.
    pub fn kadmin(&self, query: &str) {
        let kadmin = require_program("kadmin.local", "krb5-admin-server");
        self.run(Command::new(kadmin).args(["-r", REALM, "-q", query]));
    }

    /// Add the user principal `name` with `password`.
    pub fn add_user(&self, name: &str, password: &str) {
        self.kadmin(&format!("addprinc -pw {password} {name}"));
    }

    /// Write the keys of `principal` into the keytab `path` (`ktadd -norandkey`: the keys the
    /// database has now, so earlier keytabs stay valid).
    pub fn export_keytab(&self, path: &Path, principal: &str) {
        self.kadmin(&format!("ktadd -norandkey -k {} {principal}", path.display()));
    }

    /// The keytab file `keytab` in the KDC's dir, holding [`HOST_PRINCIPAL`].
    pub fn host_keytab(&self) -> PathBuf {
        let path = self.dir.path().join("keytab");
        if !path.exists() {
            self.export_keytab(&path, HOST_PRINCIPAL);
        }
        path
    }

    /// Stop the KDC (the port stays reserved for [`Kdc::resume`] by nobody: it is simply closed).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start (again) on the same port and wait until it listens.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the KDC is running");
        let krb5kdc = require_program("krb5kdc", "krb5-kdc");
        let log = std::fs::File::create(self.dir.path().join("krb5kdc.out")).unwrap();
        let child = Command::new(krb5kdc)
            .args(["-n", "-r", REALM, "-P"])
            .arg(self.dir.path().join("kdc.pid"))
            .env("KRB5_CONFIG", self.krb5_conf())
            .env("KRB5_KDC_PROFILE", self.dir.path().join("kdc.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("krb5kdc exited ({status}):\n{}", self.log());
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "krb5kdc did not listen on {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the KDC printed and logged.
    pub fn log(&self) -> String {
        let read = |name| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        read("krb5kdc.out") + &read("kdc.log")
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.stop();
    }
}
