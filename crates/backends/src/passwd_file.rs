//! The `passwd-file` mechanism: `user:hash` lines as htpasswd and Dovecot's passwd-file write them.
//!
//! The file is re-read as soon as it changes ([`WatchedFile`]); an unreadable file is a
//! tempfail, never a `NO` — the password may be right.

use crate::hash::{self, Checked};
use crate::log_safe::LogSafe;
use crate::watched_file::WatchedFile;
use crate::{
    BlockingPool, Credentials, MechanismError, MechanismOptions, Outcome, Reject, Verifier, VerifyFuture,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The `passwd-file` verifier.
pub struct PasswdFile {
    table: Arc<Table>,
    pool: BlockingPool,
}

/// The file and its last parsed contents: user → stored hash.
struct Table {
    file: WatchedFile<HashMap<String, Zeroizing<String>>>,
}

impl PasswdFile {
    /// Build from `-O PATH`; the file must be readable at start-up.
    pub fn new(options: &MechanismOptions) -> Result<Self, MechanismError> {
        let path = options.option.as_deref().ok_or(MechanismError::MissingOption {
            mechanism: "passwd-file",
            what: "the file path as -O PATH",
        })?;
        let table = Table::new(Path::new(path));
        table.lookup("").map_err(|reason| MechanismError::BadOption { mechanism: "passwd-file", reason })?;
        Ok(Self { table: Arc::new(table), pool: options.pool.clone() })
    }
}

impl Verifier for PasswdFile {
    fn name(&self) -> &'static str {
        "passwd-file"
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        let table = self.table.clone();
        let login = creds.login.clone();
        let password = creds.password.clone();
        Box::pin(async move {
            // Both the stat/reload and the hash are blocking or CPU-bound.
            let checked = self.pool.run(move || check(&table, &login, &password)).await;
            checked.unwrap_or_else(|e| Outcome::Unavailable(e.to_string()))
        })
    }
}

fn check(table: &Table, login: &str, password: &[u8]) -> Outcome {
    let stored = match table.lookup(login) {
        Ok(Some(stored)) => stored,
        Ok(None) => return Outcome::No(Reject::InvalidUsername),
        Err(reason) => return Outcome::Unavailable(reason),
    };
    match hash::verify_password(password, &stored) {
        Ok(Checked { matched, scheme }) => {
            if scheme.is_weak() {
                tracing::warn!(user = %LogSafe(login.as_bytes()), scheme = scheme.name(), "weak password hash in passwd-file");
            }
            if matched { Outcome::Ok } else { Outcome::No(Reject::IncorrectPassword) }
        }
        Err(e) => {
            tracing::warn!(user = %LogSafe(login.as_bytes()), file = %table.file.path().display(), "unusable hash: {e}");
            Outcome::No(Reject::IncorrectPassword)
        }
    }
}

impl Table {
    fn new(path: &Path) -> Self {
        Self { file: WatchedFile::new(path, parse) }
    }

    /// The stored hash for `login`, reloading the file first if it changed.
    fn lookup(&self, login: &str) -> Result<Option<Zeroizing<String>>, String> {
        Ok(self.file.current()?.get(login).cloned())
    }
}

/// Parse `user:hash[:extra…]` lines; `#` comments and blank lines are skipped, extra fields
/// (Dovecot's uid, gid, home, …) ignored. The first entry for a user wins, as in Dovecot.
fn parse(text: &[u8]) -> HashMap<String, Zeroizing<String>> {
    let mut entries = HashMap::new();
    for (number, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            tracing::warn!(line = number + 1, "passwd-file line is not UTF-8; skipped");
            continue;
        };
        let mut fields = line.splitn(3, ':');
        match (fields.next(), fields.next()) {
            (Some(user), Some(hash)) if !user.is_empty() => {
                entries.entry(user.to_owned()).or_insert_with(|| Zeroizing::new(hash.to_owned()));
            }
            _ => tracing::warn!(line = number + 1, "passwd-file line has no user:hash; skipped"),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_htpasswd_and_dovecot_lines() {
        let text = b"# comment\n\nalice:{PLAIN}pw\r\nbob:$6$x$y:1000:1000::/home/bob::\nnohash\n:orphan\nalice:{PLAIN}second\n";
        let entries = parse(text);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries["alice"].as_str(), "{PLAIN}pw");
        assert_eq!(entries["bob"].as_str(), "$6$x$y");
    }

    fn table(path: &Path) -> Table {
        Table::new(path)
    }

    #[test]
    fn reloads_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        std::fs::write(&path, "alice:{PLAIN}one\n").unwrap();
        let t = table(&path);
        assert_eq!(t.lookup("alice").unwrap().unwrap().as_str(), "{PLAIN}one");
        // Replace the file (new inode), as editors and `htpasswd` do.
        let tmp = dir.path().join("passwd.new");
        std::fs::write(&tmp, "alice:{PLAIN}two\ncarol:{PLAIN}x\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(t.lookup("alice").unwrap().unwrap().as_str(), "{PLAIN}two");
        assert!(t.lookup("carol").unwrap().is_some());
    }

    #[test]
    fn a_missing_file_is_an_error_not_an_unknown_user() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir.path().join("absent"));
        assert!(t.lookup("alice").is_err());
        assert!(table(dir.path()).lookup("alice").is_err(), "a directory is not a passwd-file");
    }
}
