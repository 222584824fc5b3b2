//! A private OpenLDAP `slapd` for the ldap tests: a cn=config-free slapd.conf, an mdb database
//! loaded with `slapadd`, listening on loopback ports in a temp dir (plain `ldap://`, which also
//! offers StartTLS, and `ldaps://` when given a certificate) and, if asked, on an `ldapi://`
//! socket in the temp dir; stoppable and restartable on the same ports (failover and tempfail
//! tests).

use crate::free_port;
use std::collections::HashSet;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::bins::require_program;

/// The directory's suffix.
pub const SUFFIX: &str = "dc=example,dc=com";
/// The root DN (also the service account the tests bind as).
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
/// The root DN's password.
pub const ROOT_PW: &str = "admin-secret";
/// How long slapd may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running slapd; dropping it stops it and removes its files.
#[derive(Debug)]
pub struct Slapd {
    dir: TempDir,
    port: u16,
    tls_port: Option<u16>,
    ldapi: bool,
    stats: bool,
    child: Option<Child>,
}

/// What [`Slapd::builder`] starts.
#[derive(Debug)]
#[must_use]
pub struct SlapdBuilder {
    ldif: String,
    tls: Option<(String, String)>,
    ldapi: bool,
    stats: bool,
}

impl SlapdBuilder {
    /// Listen on an `ldapi://` socket in the temp dir too ([`Slapd::ldapi_uri`]).
    pub fn ldapi(mut self) -> Self {
        self.ldapi = true;
        self
    }

    /// Serve TLS (`ldaps://` and StartTLS) with this PEM certificate chain and key.
    pub fn tls(mut self, cert_pem: &str, key_pem: &str) -> Self {
        self.tls = Some((cert_pem.to_owned(), key_pem.to_owned()));
        self
    }

    /// Log every connection and operation (`-d stats`) for [`Slapd::log`]; slows slapd down.
    pub fn log_stats(mut self) -> Self {
        self.stats = true;
        self
    }

    /// Load the LDIF and start, waiting until every port listens.
    pub fn start(self) -> Slapd {
        let slapadd = require_program("slapadd", "slapd");
        let dir = tempfile::Builder::new().prefix("slapd-").tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let mut tls_conf = String::new();
        if let Some((cert, key)) = &self.tls {
            let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            std::fs::write(&cert_path, cert).unwrap();
            std::fs::write(&key_path, key).unwrap();
            tls_conf = format!(
                "TLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                cert_path.display(),
                key_path.display()
            );
        }
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             pidfile {dir}/slapd.pid\n{tls_conf}\
             database mdb\nmaxsize 10485760\nsuffix \"{SUFFIX}\"\nrootdn \"{ROOT_DN}\"\nrootpw {ROOT_PW}\n\
             directory {dir}/db\nindex uid eq\n\
             access to attrs=userPassword by self read by anonymous auth by * none\n\
             access to * by * read\n",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("slapd.conf"), conf).unwrap();
        let base = format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n\n{}",
            self.ldif
        );
        std::fs::write(dir.path().join("data.ldif"), base).unwrap();
        let out = Command::new(slapadd)
            .arg("-f")
            .arg(dir.path().join("slapd.conf"))
            .arg("-l")
            .arg(dir.path().join("data.ldif"))
            .output()
            .unwrap();
        assert!(out.status.success(), "slapadd: {}", String::from_utf8_lossy(&out.stderr));
        let tls_port = self.tls.is_some().then(free_port);
        let mut slapd =
            Slapd { dir, port: free_port(), tls_port, ldapi: self.ldapi, stats: self.stats, child: None };
        slapd.resume();
        slapd
    }
}

impl Slapd {
    /// Load `ldif` (entries under [`SUFFIX`]; the suffix entry is added here) and start.
    pub fn start(ldif: &str) -> Slapd {
        Slapd::builder(ldif).start()
    }

    /// A slapd loading `ldif`, configured further before `start`.
    pub fn builder(ldif: &str) -> SlapdBuilder {
        SlapdBuilder { ldif: ldif.to_owned(), tls: None, ldapi: false, stats: false }
    }

    /// `ldap://127.0.0.1:PORT/`.
    pub fn uri(&self) -> String {
        self.uri_for("127.0.0.1")
    }

    /// `ldap://HOST:PORT/` (the plain port, which offers StartTLS when TLS is configured).
    pub fn uri_for(&self, host: &str) -> String {
        format!("ldap://{host}:{}/", self.port)
    }

    /// `ldaps://HOST:PORT/`; the host is what the certificate is checked against.
    pub fn ldaps_uri(&self, host: &str) -> String {
        let port = self.tls_port.expect("this slapd has no TLS: use SlapdBuilder::tls");
        format!("ldaps://{host}:{port}/")
    }

    /// The socket file of `ldapi://` (see [`SlapdBuilder::ldapi`]).
    pub fn ldapi_path(&self) -> PathBuf {
        assert!(self.ldapi, "this slapd has no ldapi socket: use SlapdBuilder::ldapi");
        self.dir.path().join("ldapi")
    }

    /// `ldapi://%2Ftmp%2F…%2Fldapi`: the socket path percent-encoded, as libldap wants it.
    pub fn ldapi_uri(&self) -> String {
        let path = self.ldapi_path().display().to_string();
        let encoded: String = path
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("ldapi://{encoded}")
    }

    /// slapd's process id (0 while stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The temp dir (slapd.conf, db).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// slapd's stderr: its `-d stats` log when started with [`SlapdBuilder::log_stats`].
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log_path()).unwrap_or_default()).into_owned()
    }

    /// From the stats log: the operations (`BIND dn="…"`, `SRCH base="…"`, …) run on connections
    /// that never established TLS. StartTLS's own request (`EXT`) is not counted.
    pub fn plaintext_operations(&self) -> Vec<String> {
        assert!(self.stats, "start slapd with log_stats() to see its operations");
        let log = self.log();
        let conn_of = |line: &str| -> Option<String> {
            let at = line.find("conn=")?;
            Some(line[at..].split_whitespace().next()?.to_owned())
        };
        let secure: HashSet<String> =
            log.lines().filter(|l| l.contains("TLS established")).filter_map(conn_of).collect();
        log.lines()
            .filter(|l| [" BIND dn=", " SRCH base=", " CMP dn="].iter().any(|op| l.contains(op)))
            .filter(|l| conn_of(l).is_some_and(|c| !secure.contains(&c)))
            .map(str::to_owned)
            .collect()
    }

    /// Apply `ldif` (changetype records) as the root DN with `ldapmodify`, while running.
    pub fn modify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new(require_program("ldapmodify", "ldap-utils"))
            .args(["-x", "-H", &self.uri(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(ldif.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stop slapd (SIGKILL: the way a crashed or unreachable server looks).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start slapd again on the same ports, waiting until they listen.
    pub fn resume(&mut self) {
        let slapd = require_program("slapd", "slapd");
        let mut urls = self.uri();
        if self.tls_port.is_some() {
            urls = format!("{urls} {}", self.ldaps_uri("127.0.0.1"));
        }
        if self.ldapi {
            urls = format!("{urls} {}", self.ldapi_uri());
        }
        // Appending keeps the log of earlier runs for assertions over the whole test.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let child = Command::new(slapd)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &urls, "-d", if self.stats { "stats" } else { "0" }])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        for port in [Some(self.port), self.tls_port].into_iter().flatten() {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                    panic!("slapd exited ({status}): {}", self.log());
                }
                assert!(start.elapsed() < READY_TIMEOUT, "slapd did not listen on {port}:\n{}", self.log());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        while self.ldapi && std::os::unix::net::UnixStream::connect(self.ldapi_path()).is_err() {
            assert!(start.elapsed() < READY_TIMEOUT, "slapd did not listen on ldapi:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("slapd.log")
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
