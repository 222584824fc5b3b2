//! passwd-style files (`user:hash` per line) for our passwd-file mechanism and for pam_pwdfile.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::bins::require_program;

/// A passwd file in its own temp dir, removed on drop.
#[derive(Debug)]
pub struct PwdFile {
    dir: TempDir,
    path: PathBuf,
}

impl PwdFile {
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the file, leaving the path dangling: a verifier reading it now cannot decide.
    pub fn remove(&self) {
        std::fs::remove_file(&self.path).expect("remove passwd file");
    }

    /// The directory holding the file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A file with one `user:$6$…` line per `(user, password)`, hashed by `mkpasswd -m sha-512`.
pub fn pwdfile(users: &[(&str, &str)]) -> PwdFile {
    let mut content = Vec::new();
    for (user, password) in users {
        content.extend_from_slice(user.as_bytes());
        content.push(b':');
        content.extend_from_slice(mkpasswd_sha512(password).as_bytes());
        content.push(b'\n');
    }
    pwdfile_raw(&content)
}

/// A file with exactly `content` (for `{PLAIN}`/`{SSHA}` lines or bytes no crypt(3) hash can carry).
pub fn pwdfile_raw(content: &[u8]) -> PwdFile {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("passwd");
    std::fs::write(&path, content).expect("write passwd file");
    PwdFile { dir, path }
}

/// A crypt(3) hash of `password` by the system's `mkpasswd -m METHOD` (libxcrypt); panics when
/// mkpasswd refuses (an unknown method, say).
pub fn mkpasswd(method: &str, password: &str) -> String {
    let out = Command::new(require_program("mkpasswd", "whois"))
        .args(["-m", method, "--", password])
        .output()
        .expect("run mkpasswd");
    assert!(out.status.success(), "mkpasswd -m {method}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("mkpasswd prints ASCII").trim_end().to_owned()
}

/// A SHA-512 crypt(3) hash of `password` made by the real `mkpasswd` (libxcrypt).
pub fn mkpasswd_sha512(password: &str) -> String {
    assert!(
        !password.contains('\0'),
        "crypt(3) cannot hash a password with NUL; use pwdfile_raw with {{PLAIN}}"
    );
    let mkpasswd = require_program("mkpasswd", "whois");
    // `--` so a password starting with '-' is not taken for an option.
    let out = Command::new(mkpasswd).args(["-m", "sha-512", "--", password]).output().expect("run mkpasswd");
    assert!(out.status.success(), "mkpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
    let hash = String::from_utf8(out.stdout).expect("mkpasswd prints ASCII");
    let hash = hash.trim_end_matches('\n').to_owned();
    assert!(hash.starts_with("$6$"), "unexpected mkpasswd output {hash:?}");
    hash
}
