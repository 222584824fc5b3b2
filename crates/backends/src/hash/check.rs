//! The stored-hash check every mechanism that holds hashes calls (passwd-file, shadow, sql, LDAP
//! `custom`): one stored value or several candidates against a password, with one log policy.
//!
//! Log policy:
//! * a **weak** scheme ([`Scheme::is_weak`]) is warned about once per scheme per process, naming
//!   the mechanism and the first user seen with it; every later check with it is a debug line.
//!   Why once: the warning tells an operator that the store holds such hashes, which the first
//!   line says as well as the ten-thousandth; a per-entry warning on every login would flood the
//!   log of a site that is mid-migration, and remembering which entries were warned about would
//!   be one more table to bound. The debug lines name every user when the operator wants them.
//! * an **unusable** value (malformed, unsupported, too costly, a form the source may not hold)
//!   is warned about on every check: it refuses a login that may be right, so each one counts.
//! * neither line ever holds the stored value or the password.

use crate::log_safe::LogSafe;
use subtle::{Choice, ConditionallySelectable};

use super::{Checked, HashError, Scheme, verify_password, verify_plain};
use std::sync::atomic::{AtomicU64, Ordering};

/// How a source writes its stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// crypt(3) strings only (shadow(5)): a `{SCHEME}` value is no hash Cyrus's `crypt()` would
    /// accept, and `{PLAIN}` would turn the file into cleartext, so it is unusable here.
    Crypt,
    /// crypt(3) strings or `{SCHEME}` values (passwd-file as Dovecot reads it, `sql` by default).
    CryptOrBraced,
    /// `{SCHEME}` values, anything else cleartext (Cyrus's LDAP `custom`,
    /// `sql_password_scheme: plain`).
    PlainOrBraced,
}

/// Whom a check is for, as named in the log lines.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The mechanism (`passwd-file`, `shadow`, `sql`, `ldap`).
    pub mechanism: &'static str,
    /// The login as the request gave it (escaped in the log).
    pub user: &'a str,
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password matches a value of this scheme.
    Match(Scheme),
    /// It does not (a locked or empty value is [`Scheme::Locked`]).
    Mismatch(Scheme),
    /// The value cannot be checked; the reason was logged.
    Unusable,
}

impl Verdict {
    /// Whether the password matched.
    pub fn matched(self) -> bool {
        matches!(self, Verdict::Match(_))
    }
}

/// Check `password` against one `stored` value written in `form`, logging as the module says.
/// CPU-heavy (a crypt(3) hash can take tens of ms): call it from the blocking pool. Never panics.
pub fn check_stored(stored: &[u8], password: &[u8], form: Form, origin: Origin<'_>) -> Verdict {
    match compute(stored, password, form) {
        Ok(Checked { matched, scheme }) => {
            if scheme.is_weak() {
                note_weak(scheme, origin);
            }
            if matched { Verdict::Match(scheme) } else { Verdict::Mismatch(scheme) }
        }
        Err(reason) => {
            let (mechanism, user) = (origin.mechanism, LogSafe(origin.user.as_bytes()));
            tracing::warn!(%user, "unusable hash in {mechanism}: {reason}");
            Verdict::Unusable
        }
    }
}

/// Check `password` against every candidate (the values of one account, in the source's order)
/// and return the index of the first that matched.
///
/// Every candidate is checked, whichever matches: the time taken is the sum over all of them,
/// so it does not tell which one matched (or whether an early one did). Scope checks that need
/// no hash belong before this call, on the candidates list.
pub fn check_candidates<'s>(
    candidates: impl IntoIterator<Item = &'s [u8]>,
    password: &[u8],
    form: Form,
    origin: Origin<'_>,
) -> Option<usize> {
    first_match(candidates, |stored| check_stored(stored, password, form, origin).matched())
}

/// The index of the first item `matches` accepts, after calling it on every item; the index is
/// kept without a branch on the outcome.
fn first_match<T>(items: impl IntoIterator<Item = T>, mut matches: impl FnMut(T) -> bool) -> Option<usize> {
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, item) in items.into_iter().enumerate() {
        let matched = Choice::from(u8::from(matches(item)));
        index.conditional_assign(&u64::try_from(i).unwrap_or(u64::MAX), matched & !found);
        found |= matched;
    }
    if bool::from(found) { usize::try_from(index).ok() } else { None }
}

/// The check itself, by form.
fn compute(stored: &[u8], password: &[u8], form: Form) -> Result<Checked, Unusable> {
    let braced = stored.first() == Some(&b'{');
    if form == Form::PlainOrBraced && !braced {
        // Cleartext may be any bytes (an LDAP binary value, say).
        return Ok(verify_plain(password, stored));
    }
    let Ok(stored) = std::str::from_utf8(stored) else {
        return Err(Unusable::NotUtf8);
    };
    if form == Form::Crypt && braced {
        return Err(Unusable::Braced);
    }
    verify_password(password, stored).map_err(Unusable::Hash)
}

/// Why a stored value cannot be checked (never holding the value itself).
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("not UTF-8, so neither a crypt(3) string nor a {{SCHEME}} value")]
    NotUtf8,
    #[error("a {{SCHEME}} prefix where only crypt(3) strings are accepted")]
    Braced,
    #[error("{0}")]
    Hash(HashError),
}

/// Weak schemes already warned about in this process, one bit per [`Scheme`].
static WARNED: AtomicU64 = AtomicU64::new(0);

// One bit per scheme must fit.
const _: () = assert!((Scheme::Ssha512 as u32) < u64::BITS);

/// Warn about `scheme` the first time this process meets it; a debug line after that.
fn note_weak(scheme: Scheme, origin: Origin<'_>) {
    let bit = 1u64 << (scheme as u32);
    let (mechanism, user) = (origin.mechanism, LogSafe(origin.user.as_bytes()));
    if WARNED.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
        tracing::warn!(
            %user,
            scheme = scheme.name(),
            "weak password hash in {mechanism}; rehash with yescrypt, bcrypt or argon2id \
             (further {scheme} values are logged at debug level)"
        );
    } else {
        tracing::debug!(%user, scheme = scheme.name(), "weak password hash in {mechanism}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::fixtures::{MD5_CRYPT, PASSWORD, SHA512_CRYPT, WRONG};
    use super::*;

    const WHO: Origin<'static> = Origin { mechanism: "test", user: "joe" };

    fn verdict(stored: &str, password: &[u8], form: Form) -> Verdict {
        check_stored(stored.as_bytes(), password, form, WHO)
    }

    #[test]
    fn crypt_strings_in_every_form_that_takes_them() {
        for form in [Form::Crypt, Form::CryptOrBraced] {
            assert_eq!(verdict(MD5_CRYPT, PASSWORD, form), Verdict::Match(Scheme::Md5Crypt));
            assert_eq!(verdict(MD5_CRYPT, WRONG, form), Verdict::Mismatch(Scheme::Md5Crypt));
            assert_eq!(verdict("!", PASSWORD, form), Verdict::Mismatch(Scheme::Locked));
        }
        // Where unprefixed values are cleartext, a crypt string is only the text it is.
        assert_eq!(verdict(MD5_CRYPT, PASSWORD, Form::PlainOrBraced), Verdict::Mismatch(Scheme::Plain));
        assert_eq!(
            verdict(MD5_CRYPT, MD5_CRYPT.as_bytes(), Form::PlainOrBraced),
            Verdict::Match(Scheme::Plain)
        );
    }

    #[test]
    fn braced_values_except_where_only_crypt_is_accepted() {
        let plain = format!("{{PLAIN}}{}", std::str::from_utf8(PASSWORD).unwrap());
        assert_eq!(verdict(&plain, PASSWORD, Form::CryptOrBraced), Verdict::Match(Scheme::Plain));
        assert_eq!(verdict(&plain, PASSWORD, Form::PlainOrBraced), Verdict::Match(Scheme::Plain));
        assert_eq!(verdict(&plain, PASSWORD, Form::Crypt), Verdict::Unusable);
        assert_eq!(verdict("{SSHA}AAAA", PASSWORD, Form::CryptOrBraced), Verdict::Unusable);
    }

    #[test]
    fn cleartext_only_where_the_source_holds_it() {
        let clear = std::str::from_utf8(PASSWORD).unwrap();
        assert_eq!(verdict(clear, PASSWORD, Form::PlainOrBraced), Verdict::Match(Scheme::Plain));
        assert_eq!(verdict(clear, PASSWORD, Form::CryptOrBraced), Verdict::Unusable);
        assert_eq!(verdict("", PASSWORD, Form::PlainOrBraced), Verdict::Mismatch(Scheme::Locked));
        // Binary cleartext compares as bytes; binary anything else is unusable.
        assert_eq!(
            check_stored(b"\xff\xfe", b"\xff\xfe", Form::PlainOrBraced, WHO),
            Verdict::Match(Scheme::Plain)
        );
        assert_eq!(check_stored(b"{PLAIN}\xff", b"\xff", Form::PlainOrBraced, WHO), Verdict::Unusable);
        assert_eq!(check_stored(b"$1$\xff", PASSWORD, Form::Crypt, WHO), Verdict::Unusable);
    }

    #[test]
    fn candidates_give_the_first_match_and_none_without() {
        let clear = std::str::from_utf8(PASSWORD).unwrap();
        let values: [&[u8]; 4] = [b"other", SHA512_CRYPT.as_bytes(), b"{PLAIN}x", clear.as_bytes()];
        let first =
            |values: &[&[u8]]| check_candidates(values.iter().copied(), PASSWORD, Form::PlainOrBraced, WHO);
        assert_eq!(first(&values), Some(3));
        assert_eq!(first(&[clear.as_bytes(), clear.as_bytes()]), Some(0));
        assert_eq!(first(&values[..3]), None);
        assert_eq!(first(&[]), None);
        let crypt = |values: &[&[u8]]| check_candidates(values.iter().copied(), PASSWORD, Form::Crypt, WHO);
        assert_eq!(crypt(&[b"{PLAIN}x", b"!", MD5_CRYPT.as_bytes(), SHA512_CRYPT.as_bytes()]), Some(2));
    }

    #[test]
    fn every_candidate_is_checked_whichever_matches() {
        for hit in 0..5 {
            let mut calls = 0;
            let found = first_match(0..5, |i| {
                calls += 1;
                i == hit || i == 4
            });
            assert_eq!((found, calls), (Some(hit), 5), "no early exit after a match");
        }
        let mut calls = 0;
        assert_eq!(
            first_match(0..3, |_| {
                calls += 1;
                false
            }),
            None
        );
        assert_eq!(calls, 3);
    }
}
