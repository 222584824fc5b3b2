//! The `shadow` mechanism: Cyrus's `-a shadow`, a login's shadow(5) entry checked with crypt(3).
//!
//! By default the entry comes from NSS (`getpwnam_r`, then `getspnam_r`), so /etc/shadow and
//! any NSS shadow source work. With `-O FILE` (which Cyrus ignores for shadow) it comes from a
//! shadow-format file instead, re-read whenever it changes, and passwd is not consulted.
//!
//! Replies follow Cyrus (reference §3.1), checked in its order: `NO Invalid username` (no passwd
//! entry; with a file, no line), `NO Invalid shadow username` (passwd but no shadow entry),
//! `*NP*` → the NIS text, `NO Incorrect password` (also for locked `!`/`*` and empty hashes), then,
//! only for the right password, `NO Account expired` and `NO Password expired`. Where Cyrus
//! replies `NO Username lookup failure: <error>` (an NSS error glibc passes on, such as an
//! sssd or LDAP source that is down) we answer with a tempfail: the password may well be right.
//!
//! An /etc/shadow the daemon may not read is no such error with Debian's `shadow: files systemd`:
//! glibc lets the later source's "not found" win and reports no error at all (checked with
//! `getspnam_r` as `nobody`), so users get `NO Invalid shadow username`, as from Cyrus. The first
//! such reply logs a warning naming the cause instead.

pub(crate) mod expiry;
mod file;
mod nss;

use crate::hash::{self, Form, Origin};
use crate::{
    BlockingPool, Credentials, MechanismError, MechanismOptions, Outcome, Reject, Verifier, VerifyFuture,
};
use expiry::{Aging, today};
use file::ShadowFile;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use zeroize::Zeroizing;

/// The `shadow` verifier.
pub struct Shadow {
    source: Arc<Source>,
    pool: BlockingPool,
    today: fn() -> i64,
}

/// Where shadow entries come from.
enum Source {
    /// NSS: passwd first, then shadow, as Cyrus does.
    Nss {
        /// Whether the unreadable-/etc/shadow warning was given (it is given once).
        warned_unreadable: AtomicBool,
    },
    /// A shadow-format file given with `-O`; no passwd lookup.
    File(ShadowFile),
}

/// What the checks need of one shadow entry.
#[derive(Clone)]
struct ShadowEntry {
    /// `sp_pwdp`, as bytes: NSS hands over whatever the source holds.
    hash: Zeroizing<Vec<u8>>,
    /// The aging fields.
    aging: Aging,
}

/// Cyrus's marker for a NIS+ entry whose hash the caller may not see.
const NIS_NO_PERMISSION: &[u8] = b"*NP*";

impl Shadow {
    /// Build from the options: `-O FILE` reads that shadow-format file (which must be readable
    /// now), no `-O` uses NSS.
    pub fn new(options: &MechanismOptions) -> Result<Self, MechanismError> {
        let source = match options.option.as_deref() {
            None => Source::Nss { warned_unreadable: AtomicBool::new(false) },
            Some(path) => {
                let file = ShadowFile::new(Path::new(path));
                file.entries().map_err(|reason| MechanismError::BadOption { mechanism: "shadow", reason })?;
                Source::File(file)
            }
        };
        Ok(Self { source: Arc::new(source), pool: options.pool.clone(), today })
    }
}

impl Verifier for Shadow {
    fn name(&self) -> &'static str {
        "shadow"
    }

    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        let source = self.source.clone();
        let login = creds.login.clone();
        let password = creds.password.clone();
        let today = (self.today)();
        Box::pin(async move {
            // NSS lookups block (files, sssd, LDAP) and hashing is CPU-bound (yescrypt ~25 ms).
            let checked = self.pool.run(move || check(&source, &login, &password, today)).await;
            checked.unwrap_or_else(|e| Outcome::Unavailable(e.to_string()))
        })
    }
}

fn check(source: &Source, login: &str, password: &[u8], today: i64) -> Outcome {
    match source {
        Source::Nss { warned_unreadable } => match lookup_nss(login) {
            Ok(Ok(entry)) => judge(&entry, login, password, today),
            Ok(Err(reject)) => {
                if reject == Reject::InvalidShadowUsername && !warned_unreadable.load(Ordering::Relaxed) {
                    warned_unreadable.store(warn_if_shadow_unreadable(), Ordering::Relaxed);
                }
                Outcome::No(reject)
            }
            Err(reason) => Outcome::Unavailable(reason),
        },
        Source::File(file) => match file.entries() {
            Ok(entries) => match entries.get(login) {
                Some(entry) => judge(entry, login, password, today),
                // With a file there is no passwd step: a missing line is an unknown user.
                None => Outcome::No(Reject::InvalidUsername),
            },
            Err(reason) => Outcome::Unavailable(reason),
        },
    }
}

/// Cyrus's two lookups: passwd (`Invalid username`), then shadow (`Invalid shadow username`).
fn lookup_nss(login: &str) -> Result<Result<ShadowEntry, Reject>, String> {
    if !nss::passwd_exists(login).map_err(|e| format!("getpwnam_r: {e}"))? {
        return Ok(Err(Reject::InvalidUsername));
    }
    Ok(nss::shadow_entry(login).map_err(|e| format!("getspnam_r: {e}"))?.ok_or(Reject::InvalidShadowUsername))
}

/// NSS hides an unreadable /etc/shadow behind "no such entry" (see the module doc): say so in
/// the log, where an operator looks. Returns whether it warned.
fn warn_if_shadow_unreadable() -> bool {
    const ETC_SHADOW: &str = "/etc/shadow";
    match std::fs::File::open(ETC_SHADOW) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            tracing::warn!(
                "cannot read {ETC_SHADOW} ({e}): the users it lists are refused with \"Invalid shadow username\"; \
                 run as root or in group shadow"
            );
            true
        }
        _ => false,
    }
}

/// The checks after the lookup, in Cyrus's order; the password comes before expiry so that
/// only someone who knows it learns the account is expired.
fn judge(entry: &ShadowEntry, login: &str, password: &[u8], today: i64) -> Outcome {
    if entry.hash[..] == *NIS_NO_PERMISSION {
        return Outcome::No(Reject::NisPermission);
    }
    if !password_matches(&entry.hash, login, password) {
        return Outcome::No(Reject::IncorrectPassword);
    }
    match expiry::check(entry.aging, today) {
        Some(reject) => Outcome::No(reject),
        None => Outcome::Ok,
    }
}

fn password_matches(stored: &[u8], login: &str, password: &[u8]) -> bool {
    // Shadow holds crypt(3) strings only ([`Form::Crypt`]).
    hash::check_stored(stored, password, Form::Crypt, Origin { mechanism: "shadow", user: login }).matched()
}

#[cfg(test)]
mod tests;
