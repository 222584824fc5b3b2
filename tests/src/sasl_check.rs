//! The real libsasl2 server side, driven by `fixtures/sasl_check.c` compiled at test time.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::bins::{require_any, require_file, require_program};
use crate::run::{CLIENT_DEADLINE, Finished, run_with_deadline};

/// `SASL_OK` from sasl.h.
pub const SASL_OK: i32 = 0;
/// `SASL_FAIL` from sasl.h: generic failure (saslauthd unreachable or no reply).
pub const SASL_FAIL: i32 = -1;
/// `SASL_BADAUTH` from sasl.h: authentication failure (saslauthd answered `NO…`).
pub const SASL_BADAUTH: i32 = -13;

/// The compiled helper, in its own temp dir.
#[derive(Debug)]
pub struct SaslCheck {
    _dir: TempDir,
    exe: PathBuf,
}

impl SaslCheck {
    /// Compiles the helper with `cc … -lsasl2`; panics naming the package if a tool is missing.
    pub fn build() -> SaslCheck {
        let cc = require_program("cc", "gcc");
        require_file("/usr/include/sasl/sasl.h", "libsasl2-dev");
        require_any(
            &["/usr/lib/x86_64-linux-gnu/sasl2/libplain.so", "/usr/lib/sasl2/libplain.so"],
            "libsasl2-modules",
        );
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sasl_check.c");
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("sasl_check");
        let out = Command::new(cc)
            .args(["-Wall", "-Wextra", "-Werror", "-O1", "-o"])
            .arg(&exe)
            .arg(&src)
            .arg("-lsasl2")
            .output()
            .expect("run cc");
        assert!(
            out.status.success(),
            "compiling {} failed (is libsasl2-dev installed?):\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        SaslCheck { _dir: dir, exe }
    }

    /// `sasl_checkpass(user, pass)` on a connection for `service` with `user_realm` `realm`.
    pub fn checkpass(&self, sock: &Path, service: &str, realm: Option<&str>, user: &str, pass: &str) -> i32 {
        self.run(sock, service, realm, "checkpass", user, pass)
    }

    /// `sasl_server_start("PLAIN", "\0user\0pass")` on such a connection.
    pub fn plain(&self, sock: &Path, service: &str, realm: Option<&str>, user: &str, pass: &str) -> i32 {
        self.run(sock, service, realm, "plain", user, pass)
    }

    fn run(
        &self,
        sock: &Path,
        service: &str,
        realm: Option<&str>,
        mode: &str,
        user: &str,
        pass: &str,
    ) -> i32 {
        let mut cmd = Command::new(&self.exe);
        cmd.arg(sock).args([service, realm.unwrap_or(""), mode, user, pass]);
        let f: Finished = run_with_deadline(&mut cmd, CLIENT_DEADLINE);
        assert_eq!(f.code, Some(0), "sasl_check failed: {f:?}");
        let rc =
            f.stdout.trim().parse().unwrap_or_else(|_| panic!("sasl_check printed no result code: {f:?}"));
        if rc != SASL_OK {
            eprintln!("sasl_check {mode} {user}: {rc}; stderr: {}", f.stderr.trim());
        }
        rc
    }
}
