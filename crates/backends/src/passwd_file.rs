//! The `passwd-file` mechanism: `user:hash` lines as htpasswd and Dovecot's passwd-file write them.
//!
//! Several lines for one user are several credentials (app passwords, [`crate::credential`]),
//! each scoped by Dovecot's extra-fields column:
//! `user:hash:uid:gid:gecos:home:shell:allow_services=smtp label=phone`. (Before app passwords
//! the first line of a user won and the others were ignored, as in Dovecot.)
//!
//! The file is re-read when it changes ([`WatchedFile`]: a renamed-in file at once, an in-place
//! rewrite once quiet, never half-written); an unreadable file is a tempfail, never a `NO` — the
//! password may be right. A line that cannot be a credential (an
//! unknown scope key, a bad value, more credentials than `--max-credentials`) refuses start-up
//! with `file:line`; found on a reload it is logged and its user answered with a tempfail until
//! the file is fixed, while the other users go on.

use crate::credential::{self, Candidate, Scope};
use crate::hash::{Form, Origin};
use crate::watched_file::WatchedFile;
use crate::{BlockingPool, Credentials, MechanismError, MechanismOptions, Outcome, Verifier, VerifyFuture};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The `passwd-file` verifier.
pub struct PasswdFile {
    table: Arc<Table>,
    pool: BlockingPool,
}

/// The file and its last parsed contents.
struct Table {
    file: WatchedFile<Users>,
}

/// What one parse of the file found.
#[derive(Default)]
struct Users {
    accounts: HashMap<String, Account>,
    /// Each line that could not be a credential, as `file:line: why`.
    errors: Vec<String>,
}

/// One user's lines.
enum Account {
    /// Its credentials, in file order.
    Credentials(Vec<Stored>),
    /// A line of the user's could not be read as a credential: the first such error.
    Broken(String),
}

/// One line's credential.
struct Stored {
    hash: Zeroizing<String>,
    scope: Scope,
}

impl PasswdFile {
    /// Build from `-O PATH`; the file must be readable at start-up and every line usable.
    pub fn new(options: &MechanismOptions) -> Result<Self, MechanismError> {
        let path = options.option.as_deref().ok_or(MechanismError::MissingOption {
            mechanism: "passwd-file",
            what: "the file path as -O PATH",
        })?;
        let bad = |reason: String| MechanismError::BadOption { mechanism: "passwd-file", reason };
        let table = Table::new(Path::new(path), options.max_credentials);
        let users = table.file.current().map_err(bad)?;
        if let Some(first) = users.errors.first() {
            let more = users.errors.len() - 1;
            return Err(bad(if more > 0 { format!("{first} (and {more} more)") } else { first.clone() }));
        }
        Ok(Self { table: Arc::new(table), pool: options.pool.clone() })
    }
}

impl Verifier for PasswdFile {
    fn name(&self) -> &'static str {
        "passwd-file"
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        let table = self.table.clone();
        let creds = creds.clone();
        Box::pin(async move {
            // Both the stat/reload and the hash are blocking or CPU-bound.
            let checked = self.pool.run(move || check(&table, &creds)).await;
            checked.unwrap_or_else(|e| Outcome::Unavailable(e.to_string()))
        })
    }
}

fn check(table: &Table, creds: &Credentials) -> Outcome {
    let users = match table.file.current() {
        Ok(users) => users,
        Err(reason) => return Outcome::Unavailable(reason),
    };
    let stored = match users.accounts.get(&creds.login) {
        Some(Account::Credentials(stored)) => stored,
        Some(Account::Broken(reason)) => return Outcome::Unavailable(reason.clone()),
        None => return Outcome::No(crate::Reject::InvalidUsername),
    };
    let candidates: Vec<Candidate<'_>> =
        stored.iter().map(|s| Candidate { stored: s.hash.as_bytes(), scope: &s.scope }).collect();
    let origin = Origin { mechanism: "passwd-file", user: &creds.login };
    credential::check(&candidates, creds, credential::today(), Form::CryptOrBraced, origin).0
}

impl Table {
    fn new(path: &Path, max_credentials: usize) -> Self {
        let name = path.display().to_string();
        Self { file: WatchedFile::new(path, move |text: &[u8]| parse(text, &name, max_credentials)) }
    }
}

/// Parse `user:hash[:uid:gid:gecos:home:shell[:extra fields]]` lines; `#` comments and blank
/// lines are skipped, as are lines without `user:hash` (with a warning). Every line of a user is
/// one of its credentials, scoped by the extra fields ([`Scope::parse`]); Dovecot's other
/// columns are ignored. `name` is the file's name for the error lines.
fn parse(text: &[u8], name: &str, max_credentials: usize) -> Users {
    let mut users = Users::default();
    for (number, line) in text.split(|&b| b == b'\n').enumerate() {
        let number = number + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            tracing::warn!(line = number, "passwd-file line is not UTF-8; skipped");
            continue;
        };
        // The extra fields may hold `:` themselves (an IPv6 network in allow_nets).
        let fields: Vec<&str> = line.splitn(8, ':').collect();
        let (user, hash) = match fields[..] {
            [user, hash, ..] if !user.is_empty() => (user, hash),
            _ => {
                tracing::warn!(line = number, "passwd-file line has no user:hash; skipped");
                continue;
            }
        };
        let account =
            users.accounts.entry(user.to_owned()).or_insert_with(|| Account::Credentials(Vec::new()));
        let Account::Credentials(stored) = account else { continue };
        let scope = Scope::parse(fields.get(7).copied().unwrap_or(""));
        let problem = match scope {
            Err(why) => Some(why),
            Ok(_) if stored.len() >= max_credentials => Some(format!(
                "user {} has more than {max_credentials} credentials (--max-credentials)",
                crate::log_safe::LogSafe(user.as_bytes())
            )),
            Ok(scope) => {
                stored.push(Stored { hash: Zeroizing::new(hash.to_owned()), scope });
                None
            }
        };
        if let Some(why) = problem {
            let error = format!("{name}:{number}: {why}");
            tracing::error!("passwd-file: {error}");
            users.errors.push(error.clone());
            *account = Account::Broken(error);
        }
    }
    users
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::credential::MAX_CREDENTIALS;

    fn hashes(users: &Users, user: &str) -> Vec<String> {
        match &users.accounts[user] {
            Account::Credentials(stored) => stored.iter().map(|s| s.hash.as_str().to_owned()).collect(),
            Account::Broken(why) => vec![format!("broken: {why}")],
        }
    }

    #[test]
    fn parses_htpasswd_and_dovecot_lines() {
        let text = b"# comment\n\nalice:{PLAIN}pw\r\nbob:$6$x$y:1000:1000::/home/bob::\nnohash\n:orphan\nalice:{PLAIN}second:::::: label=phone allow_nets=2001:db8::/32\n";
        let users = parse(text, "f", MAX_CREDENTIALS);
        assert_eq!(users.accounts.len(), 2);
        assert!(users.errors.is_empty(), "{:?}", users.errors);
        assert_eq!(hashes(&users, "alice"), ["{PLAIN}pw", "{PLAIN}second"], "every line is a credential");
        assert_eq!(hashes(&users, "bob"), ["$6$x$y"]);
    }

    #[test]
    fn bad_scopes_and_too_many_lines_name_file_and_line() {
        let text = b"ann:{PLAIN}a:::::: allow_service=smtp\nann:{PLAIN}b\nbob:{PLAIN}1\nbob:{PLAIN}2\nbob:{PLAIN}3\ncy:{PLAIN}c\n";
        let users = parse(text, "/etc/pw", 2);
        assert_eq!(users.errors.len(), 2, "{:?}", users.errors);
        assert!(
            users.errors[0].starts_with("/etc/pw:1: unknown key \"allow_service\""),
            "{}",
            users.errors[0]
        );
        assert_eq!(users.errors[1], "/etc/pw:5: user bob has more than 2 credentials (--max-credentials)");
        assert!(hashes(&users, "ann")[0].starts_with("broken: /etc/pw:1:"), "later lines do not mend it");
        assert!(hashes(&users, "bob")[0].starts_with("broken: /etc/pw:5:"));
        assert_eq!(hashes(&users, "cy"), ["{PLAIN}c"], "other users are unaffected");
    }

    fn options(path: &Path) -> MechanismOptions {
        MechanismOptions {
            option: Some(path.display().to_string()),
            pool: BlockingPool::new(1),
            pam_confdir: None,
            max_credentials: MAX_CREDENTIALS,
        }
    }

    fn creds(login: &str, password: &str, service: &str) -> Credentials {
        Credentials {
            login: login.into(),
            password: Zeroizing::new(password.as_bytes().to_vec()),
            service: service.into(),
            realm: String::new(),
            client_addr: None,
        }
    }

    #[tokio::test]
    async fn a_bad_line_refuses_start_and_a_reloaded_one_is_a_tempfail_for_its_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        std::fs::write(&path, "joe:{PLAIN}pw::::::label=a b\n").unwrap();
        let err = PasswdFile::new(&options(&path)).err().unwrap().to_string();
        assert!(err.contains("passwd:1: unknown key \"b\""), "{err}");
        std::fs::write(&path, "joe:{PLAIN}pw\nann:{PLAIN}x\n").unwrap();
        let v = PasswdFile::new(&options(&path)).unwrap();
        assert_eq!(v.verify(&creds("joe", "pw", "imap")).await, Outcome::Ok);
        let tmp = dir.path().join("new");
        std::fs::write(&tmp, "joe:{PLAIN}pw::::::expires=2024-02-30\nann:{PLAIN}x\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let outcome = v.verify(&creds("joe", "pw", "imap")).await;
        assert!(
            matches!(&outcome, Outcome::Unavailable(why) if why.contains("passwd:1: expires=")),
            "{outcome:?}"
        );
        assert_eq!(v.verify(&creds("ann", "x", "imap")).await, Outcome::Ok);
    }

    #[tokio::test]
    async fn app_passwords_from_the_extra_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        std::fs::write(
            &path,
            "joe:{PLAIN}main:1000:1000::/home/joe::allow_services=imap\n\
             joe:{PLAIN}phone:1000:1000::/home/joe::allow_services=smtp label=phone\n",
        )
        .unwrap();
        let v = PasswdFile::new(&options(&path)).unwrap();
        assert_eq!(v.verify(&creds("joe", "main", "imap")).await, Outcome::Ok);
        assert!(
            matches!(v.verify(&creds("joe", "phone", "smtp")).await, Outcome::Matched(m) if m.label.is_some())
        );
        assert_eq!(
            v.verify(&creds("joe", "phone", "imap")).await.to_no_reason(),
            Some("credential phone not allowed for service imap".to_owned())
        );
        assert_eq!(
            v.verify(&creds("joe", "wrong", "imap")).await.to_no_reason(),
            Some("Incorrect password".into())
        );
    }

    fn table(path: &Path) -> Table {
        Table::new(path, MAX_CREDENTIALS)
    }

    fn lookup(t: &Table, user: &str) -> Option<Vec<String>> {
        let users = t.file.current().unwrap();
        users.accounts.contains_key(user).then(|| hashes(&users, user))
    }

    #[test]
    fn reloads_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        std::fs::write(&path, "alice:{PLAIN}one\n").unwrap();
        let t = table(&path);
        assert_eq!(lookup(&t, "alice").unwrap(), ["{PLAIN}one"]);
        // Replace the file (new inode), as editors and `htpasswd` do.
        let tmp = dir.path().join("passwd.new");
        std::fs::write(&tmp, "alice:{PLAIN}two\ncarol:{PLAIN}x\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(lookup(&t, "alice").unwrap(), ["{PLAIN}two"]);
        assert!(lookup(&t, "carol").is_some());
    }

    #[test]
    fn a_missing_file_is_an_error_not_an_unknown_user() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir.path().join("absent"));
        assert!(t.file.current().is_err());
        assert!(table(dir.path()).file.current().is_err(), "a directory is not a passwd-file");
    }

    /// The reason a `NO` would be logged with, for assertions.
    trait NoReason {
        fn to_no_reason(&self) -> Option<String>;
    }

    impl NoReason for Outcome {
        fn to_no_reason(&self) -> Option<String> {
            match self {
                Outcome::No(reject) => Some(reject.log_reason(&"imap")),
                _ => None,
            }
        }
    }
}
