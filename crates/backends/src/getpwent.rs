//! The `getpwent` mechanism: Cyrus's `-a getpwent`, the password field of a login's passwd(5)
//! entry (`pw_passwd`, from NSS through `getpwnam_r`) checked with crypt(3).
//!
//! Replies follow Cyrus's `saslauthd/auth_getpwent.c` (2.1.28): `NO Invalid username` when NSS
//! has no entry, `NO Incorrect password` when crypt(3) of the password is not the stored field
//! (also for `x`, the marker of a password kept in shadow(5), and for locked or empty fields),
//! `OK` otherwise. Realm and service are ignored. Where Cyrus replies
//! `NO Username lookup failure: <error>` (an NSS source that is down) we answer with a tempfail,
//! as the `shadow` mechanism does: the password may well be right.

use crate::hash::{self, Checked};
use crate::{BlockingPool, Credentials, MechanismOptions, Outcome, Reject, Verifier, VerifyFuture};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use zeroize::Zeroizing;

const NAME: &str = "getpwent";

/// The `getpwent` verifier.
pub struct Getpwent {
    pool: BlockingPool,
    /// Whether the "password is in shadow" hint was logged (it is logged once).
    hinted_shadow: Arc<AtomicBool>,
}

impl Getpwent {
    /// Build; `getpwent` takes no `-O` (Cyrus ignores it too), so none is looked at.
    pub fn new(options: &MechanismOptions) -> Self {
        Self { pool: options.pool.clone(), hinted_shadow: Arc::new(AtomicBool::new(false)) }
    }
}

impl Verifier for Getpwent {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        let login = creds.login.clone();
        let password = creds.password.clone();
        let hinted = self.hinted_shadow.clone();
        Box::pin(async move {
            // NSS lookups block (files, sssd, LDAP) and hashing is CPU-bound.
            let checked = self.pool.run(move || check(&login, &password, &hinted)).await;
            checked.unwrap_or_else(|e| Outcome::Unavailable(e.to_string()))
        })
    }
}

fn check(login: &str, password: &[u8], hinted_shadow: &AtomicBool) -> Outcome {
    let stored = match passwd_field(login) {
        Ok(Some(stored)) => stored,
        Ok(None) => return Outcome::No(Reject::InvalidUsername),
        Err(e) => return Outcome::Unavailable(format!("getpwnam_r: {e}")),
    };
    let user = login.escape_debug();
    if stored.as_slice() == b"x" {
        // The usual case on a shadow system: Cyrus's crypt() fails too and says the same.
        if !hinted_shadow.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %user,
                "getpwent: the passwd field is \"x\" (the password is in shadow(5)), so no password matches; \
                 -a shadow checks it"
            );
        }
        return Outcome::No(Reject::IncorrectPassword);
    }
    let Ok(stored) = std::str::from_utf8(&stored) else {
        tracing::warn!(%user, "getpwent: the passwd field is not UTF-8, so no crypt(3) string; refused");
        return Outcome::No(Reject::IncorrectPassword);
    };
    // passwd holds crypt(3) strings only; a `{SCHEME}` value is none Cyrus's crypt() accepts.
    if stored.starts_with('{') {
        tracing::warn!(%user, "getpwent: the passwd field has a {{SCHEME}} prefix, not a crypt(3) string; refused");
        return Outcome::No(Reject::IncorrectPassword);
    }
    match hash::verify_password(password, stored) {
        Ok(Checked { matched: true, scheme }) => {
            if scheme.is_weak() {
                tracing::warn!(%user, scheme = scheme.name(), "weak password hash in passwd");
            }
            Outcome::Ok
        }
        Ok(Checked { matched: false, .. }) => Outcome::No(Reject::IncorrectPassword),
        Err(e) => {
            tracing::warn!(%user, "getpwent: unusable passwd field: {e}");
            Outcome::No(Reject::IncorrectPassword)
        }
    }
}

/// `pw_passwd` of `login` from NSS, `None` if NSS has no such user; `Err` when NSS could not
/// answer. A login with a NUL names nobody (the C lookup would see only its prefix).
fn passwd_field(login: &str) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    if login.contains('\0') {
        return Ok(None);
    }
    match nix::unistd::User::from_name(login) {
        Ok(user) => Ok(user.map(|u| Zeroizing::new(u.passwd.into_bytes()))),
        // POSIX lets getpwnam_r report "no such entry" as ENOENT or ESRCH (getpwnam_r(3) ERRORS).
        Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ESRCH) => Ok(None),
        Err(errno) => Err(io::Error::from(errno)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn unknown_and_nul_logins_have_no_entry() {
        assert!(passwd_field("no-such-user-saslauthd-rs").unwrap().is_none());
        assert!(passwd_field("nul\0login").unwrap().is_none());
        assert!(passwd_field("root").unwrap().is_some());
    }

    #[test]
    fn replies_are_cyrus_getpwent_replies() {
        let hinted = AtomicBool::new(false);
        assert_eq!(check("no-such-user-saslauthd-rs", b"pw", &hinted), Outcome::No(Reject::InvalidUsername));
        // root's field is `x` on a shadow system (Debian), `*`/`!` locked elsewhere: never a match.
        assert_eq!(check("root", b"pw", &hinted), Outcome::No(Reject::IncorrectPassword));
    }
}
