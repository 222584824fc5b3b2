//! A private OpenLDAP `slapd` for the ldap tests: a cn=config-free slapd.conf, an mdb database
//! loaded with `slapadd`, listening on a loopback port in a temp dir; stoppable and restartable
//! on the same port (failover and tempfail tests).

use std::net::{TcpListener, TcpStream};
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

/// A running slapd; dropping it stops it and removes its files.
#[derive(Debug)]
pub struct Slapd {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Slapd {
    /// Load `ldif` (entries under [`SUFFIX`]; the suffix entry is added here) and start.
    pub fn start(ldif: &str) -> Slapd {
        let slapadd = require_program("slapadd", "slapd");
        let dir = tempfile::Builder::new().prefix("slapd-").tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             pidfile {dir}/slapd.pid\n\
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
             dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n\n{ldif}"
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
        let mut slapd = Slapd { dir, port: free_port(), child: None };
        slapd.resume();
        slapd
    }

    /// `ldap://127.0.0.1:PORT/`.
    pub fn uri(&self) -> String {
        format!("ldap://127.0.0.1:{}/", self.port)
    }

    /// The temp dir (slapd.conf, db).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stop slapd (SIGKILL: the way a crashed or unreachable server looks).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start slapd again on the same port.
    pub fn resume(&mut self) {
        let slapd = require_program("slapd", "slapd");
        let child = Command::new(slapd)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &self.uri(), "-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(self.log_path()).unwrap()))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "slapd exited ({status}): {}",
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                );
            }
            assert!(start.elapsed() < Duration::from_secs(10), "slapd did not listen on {}", self.uri());
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
