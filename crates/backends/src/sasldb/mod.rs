//! The `sasldb` mechanism: Cyrus's `-a sasldb`, the plaintext `userPassword` that `saslpasswd2`
//! stores in the sasldb file (Debian: a Berkeley DB hash at `/etc/sasldb2`).
//!
//! As Cyrus's `saslauthd/auth_sasldb.c` (2.1.28): the entry is (login, realm) with the realm of
//! the request, or the host name (`gethostname`) when the request has none; a login holding
//! `user@realm` is looked up as it is, not split. The reply is a bare `OK` or a bare `NO` (the
//! same for an unknown user and a wrong password; the log tells them apart).
//!
//! Beyond Cyrus: `-O PATH` names another file (Cyrus always reads its compiled-in path); a
//! missing or unreadable file, or one that is no sasldb, is a tempfail with a log line (Cyrus
//! answers `NO`, telling every user the password is wrong); the comparison takes the same time
//! wherever the passwords differ. How the file is read, and why through libsasl2's own sasldb
//! code, is in [`plugin`].

mod plugin;

use crate::{
    BlockingPool, Credentials, MechanismError, MechanismOptions, Outcome, Reject, Verifier, VerifyFuture,
};
use plugin::{Lookup, Plugin};
use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::sync::Arc;
use subtle::ConstantTimeEq;

const NAME: &str = "sasldb";

/// Where Cyrus and `saslpasswd2` keep the file unless told otherwise (`SASL_DB_PATH`, the same
/// upstream and in Debian's build).
pub const DEFAULT_PATH: &str = "/etc/sasldb2";

/// The `sasldb` verifier.
pub struct Sasldb {
    plugin: Arc<Plugin>,
    file: Arc<CString>,
    pool: BlockingPool,
}

impl Sasldb {
    /// Build from `-O PATH` (default [`DEFAULT_PATH`]). Refused when libsasl2's sasldb plugin
    /// cannot be loaded; a file that cannot be read now is only a warning (it may be created
    /// later with `saslpasswd2 -c`), and each login then tempfails until it can be.
    pub fn new(options: &MechanismOptions) -> Result<Self, MechanismError> {
        let bad = |reason| MechanismError::BadOption { mechanism: NAME, reason };
        let path = PathBuf::from(options.option.as_deref().unwrap_or(DEFAULT_PATH));
        let file = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| bad("the file name contains a NUL byte".to_owned()))?;
        let plugin = Plugin::load().map_err(bad)?;
        tracing::debug!("sasldb: {} read with {}", path.display(), plugin.path().display());
        if let Err(e) = std::fs::File::open(&path) {
            tracing::warn!(
                "sasldb: cannot read {} ({e}): every login tempfails until it can be read",
                path.display()
            );
        }
        Ok(Self { plugin: Arc::new(plugin), file: Arc::new(file), pool: options.pool.clone() })
    }
}

impl Verifier for Sasldb {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        let (plugin, file) = (self.plugin.clone(), self.file.clone());
        let (login, realm, password) = (creds.login.clone(), creds.realm.clone(), creds.password.clone());
        Box::pin(async move {
            // Opening the database reads the file: blocking work.
            let checked = self.pool.run(move || check(&plugin, &file, &login, &realm, &password)).await;
            checked.unwrap_or_else(|e| Outcome::Unavailable(e.to_string()))
        })
    }
}

fn check(plugin: &Plugin, file: &CStr, login: &str, realm: &str, password: &[u8]) -> Outcome {
    let realm = if realm.is_empty() {
        match host_name() {
            Ok(name) => name,
            Err(e) => {
                return Outcome::Unavailable(format!(
                    "sasldb: gethostname (the realm of an empty realm): {e}"
                ));
            }
        }
    } else {
        realm.to_owned()
    };
    // The policy step refuses NUL in logins and realms; a host name cannot hold one.
    let (Ok(c_login), Ok(c_realm)) = (CString::new(login), CString::new(realm.as_str())) else {
        return Outcome::No(Reject::Bare);
    };
    let (user, realm) = (login.escape_debug(), realm.escape_debug());
    match plugin.user_password(file, &c_login, &c_realm) {
        Lookup::Found(stored) => {
            if bool::from(stored.as_slice().ct_eq(password)) {
                Outcome::Ok
            } else {
                tracing::debug!("sasldb: {user} in realm {realm}: wrong password");
                Outcome::No(Reject::Bare)
            }
        }
        Lookup::NoSuchUser => {
            tracing::debug!("sasldb: {user} in realm {realm}: no such entry");
            Outcome::No(Reject::Bare)
        }
        Lookup::Unavailable(why) => Outcome::Unavailable(format!("sasldb {}: {why}", file.to_string_lossy())),
    }
}

/// `gethostname(2)`, as Cyrus takes the realm of a request without one.
fn host_name() -> std::io::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let name =
        CStr::from_bytes_until_nul(&buf).map_err(|_| std::io::Error::other("host name not terminated"))?;
    Ok(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests;
