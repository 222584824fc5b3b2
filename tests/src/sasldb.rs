//! sasldb files written by Cyrus's own `saslpasswd2` (Debian's sasl2-bin), in a temp dir.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::bins::require_file;

/// Cyrus's sasldb editor.
pub const SASLPASSWD2: &str = "/usr/sbin/saslpasswd2";

/// A sasldb file in a temp dir (not created until the first user is added).
#[derive(Debug)]
pub struct Sasldb {
    dir: TempDir,
    path: PathBuf,
}

impl Default for Sasldb {
    fn default() -> Self {
        Self::new()
    }
}

impl Sasldb {
    /// An empty temp dir that will hold `sasldb2`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sasldb2");
        Self { dir, path }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temp dir around it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `saslpasswd2 -f FILE -c -p [-u REALM] USER`, the password on stdin. Without a realm
    /// saslpasswd2 stores the host name; `user@realm` is split by saslpasswd2 itself.
    pub fn add(&self, user: &str, realm: Option<&str>, password: &str) -> &Self {
        let mut cmd = Command::new(require_file(SASLPASSWD2, "sasl2-bin"));
        cmd.arg("-f").arg(&self.path).args(["-c", "-p"]);
        if let Some(realm) = realm {
            cmd.args(["-u", realm]);
        }
        run(cmd.arg(user), Some(password));
        self
    }

    /// `saslpasswd2 -f FILE -d -u REALM USER`.
    pub fn delete(&self, user: &str, realm: &str) -> &Self {
        let mut cmd = Command::new(require_file(SASLPASSWD2, "sasl2-bin"));
        cmd.arg("-f").arg(&self.path).args(["-d", "-u", realm, user]);
        run(&mut cmd, None);
        self
    }
}

fn run(cmd: &mut Command, stdin: Option<&str>) {
    let shown = format!("{cmd:?}");
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap_or_else(|e| panic!("{shown}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write the password");
    }
    drop(input);
    let status = child.wait().expect("wait for saslpasswd2");
    assert!(status.success(), "{shown}: {status}");
}
