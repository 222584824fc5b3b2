//! Whether the keytab still holds the key the KDC has for the verifying principal, asked before
//! a password the KDC refused is answered `NO`.
//!
//! Why: a keytab goes stale when the server's key is changed at the KDC after the keytab was
//! written (`kadmin cpw -randkey host/…`, a domain re-join). A right password then fails only
//! at `krb5_verify_init_creds` (a tempfail, [`super::check`]), while a wrong one is refused by
//! the KDC before the keytab is ever used, so it would get `NO`: the reply would tell a guesser
//! which guess was right. So before a `NO` the keytab is proven current, and while it is not,
//! right and wrong passwords get the same tempfail, logged with the keytab and principal.
//!
//! How: an AS exchange for the verifying principal with its key from the keytab
//! (`krb5_get_init_creds_keytab`, what `kinit -k` does). The KDC encrypts its reply (and, with
//! pre-authentication, checks the request) with the key it holds, so the exchange succeeds
//! exactly when the keytab's key is the KDC's current one. The verdict is remembered per keytab
//! and principal for `krb5_keytab_check_interval` (60 s by default) and checks are serialised
//! per keytab, so a wave of wrong passwords costs the KDC one extra AS exchange per interval,
//! not one per request. Verdicts that come for free are recorded too: an `OK` proves the keytab
//! current, a key mismatch in `krb5_verify_init_creds` proves it stale.
//!
//! What it assumes: the verifying principal may get initial tickets. MIT's KDC allows that by
//! default; a principal marked `+needchange` or past its password expiry, or one the KDC does
//! not accept as a client name (an Active Directory SPN that is not the account's name), cannot
//! be checked this way. Then the verdict is "cannot tell", logged as a warning once per interval, and a
//! refused password is answered `NO` as before, unless a key mismatch was seen since the last
//! `OK`: that verdict is kept until a right password verifies again, so after the first right
//! password reveals a stale keytab, wrong ones tempfail too. A KDC that does not answer the
//! check makes this request a tempfail and is not remembered.

use super::codes as code;
use super::context::{Context, Keytab, Principal};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What is known about one keytab's key for one principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The KDC and the keytab agree on the key.
    Current,
    /// They disagree; the text says how this was found.
    Stale(String),
    /// The principal may not get initial tickets, so the AS check proves nothing; the text is
    /// the KDC's refusal.
    Unprovable(String),
}

#[derive(Debug)]
struct Entry {
    verdict: Verdict,
    at: Instant,
}

/// The remembered verdicts, one slot per keytab and principal, shared by all requests of one
/// mechanism instance (a SIGHUP rebuild starts afresh).
#[derive(Debug)]
pub struct KeytabChecks {
    interval: Duration,
    slots: Mutex<HashMap<String, Arc<Mutex<Option<Entry>>>>>,
}

/// A poisoned lock only means another thread panicked while holding it; the data (a verdict
/// and a time) is still whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a failed keytab AS exchange reads: `Some(Stale)` when the keys disagree (the KDC found
/// the pre-authentication wrong, or its reply did not decrypt with the keytab's key, or names a
/// key version the keytab lacks), `Some(Unprovable)` when the KDC will not serve this principal
/// as a client at all, `None` for anything else (no KDC answered, …): no verdict.
pub fn classify(code: i32, message: String) -> Option<Verdict> {
    match code {
        code::KDC_ERR_PREAUTH_FAILED
        | code::AP_ERR_BAD_INTEGRITY
        | code::AP_ERR_BADKEYVER
        | code::KT_KVNONOTFOUND
        | code::KT_NOTFOUND => Some(Verdict::Stale(message)),
        code::KDC_ERR_C_PRINCIPAL_UNKNOWN
        | code::KDC_ERR_CLIENT_REVOKED
        | code::KDC_ERR_POLICY
        | code::KDC_ERR_NULL_KEY
        | code::KDC_ERR_KEY_EXP
        | code::KDC_ERR_NAME_EXP
        | code::KDC_ERR_CLIENT_NOTYET
        | code::KDC_ERR_PREAUTH_REQUIRED
        | code::PREAUTH_FAILED => Some(Verdict::Unprovable(message)),
        _ => None,
    }
}

impl KeytabChecks {
    /// Verdicts are trusted for `interval` (0: never remembered, every `NO` asks the KDC).
    pub fn new(interval: Duration) -> KeytabChecks {
        KeytabChecks { interval, slots: Mutex::new(HashMap::new()) }
    }

    fn slot(&self, keytab: &str, server: &str) -> Arc<Mutex<Option<Entry>>> {
        lock(&self.slots).entry(format!("{keytab}\0{server}")).or_default().clone()
    }

    /// Remember a verdict that came for free (an `OK`, a key mismatch). Skipped while a check
    /// of the same keytab runs: that check's own verdict is as fresh.
    pub fn record(&self, keytab: &str, server: &str, verdict: Verdict) {
        let slot = self.slot(keytab, server);
        if let Ok(mut entry) = slot.try_lock() {
            *entry = Some(Entry { verdict, at: Instant::now() });
        }
    }

    /// Before answering `NO` to a password the KDC refused: `Ok` when the keytab is current
    /// or this cannot be told, `Err` with the log text of the tempfail when it is stale or the
    /// check itself failed. Blocking: may run one AS exchange, at most once per interval per
    /// keytab; concurrent callers wait for its verdict instead of asking again.
    pub fn may_answer_no(
        &self,
        context: &Context,
        keytab: &Keytab<'_>,
        server: &Principal<'_>,
    ) -> Result<(), String> {
        let (keytab_name, server_name) = (keytab.name(), server.unparse());
        let slot = self.slot(&keytab_name, &server_name);
        let mut entry = lock(&slot);
        let fresh = entry.as_ref().filter(|e| e.at.elapsed() < self.interval).map(|e| e.verdict.clone());
        let verdict = match fresh {
            Some(verdict) => verdict,
            None => {
                let verdict = match context.init_creds_keytab(server, keytab) {
                    Ok(_tgt) => Verdict::Current,
                    Err(e) => match classify(e.code, e.to_string()) {
                        Some(verdict) => verdict,
                        None => {
                            return Err(format!(
                                "cannot check keytab {keytab_name} for {server_name} against the KDC, so a \
                                 refused password cannot be answered: {e}"
                            ));
                        }
                    },
                };
                let verdict = match (verdict, entry.take()) {
                    // The AS check cannot tell; a mismatch seen since the last OK still can.
                    (Verdict::Unprovable(_), Some(Entry { verdict: stale @ Verdict::Stale(_), .. })) => stale,
                    (Verdict::Unprovable(why), _) => {
                        tracing::warn!(
                            "kerberos5: cannot tell whether keytab {keytab_name} holds the KDC's current key \
                             for {server_name} ({why}): if it is stale, a right password is a temporary \
                             failure but a wrong one is answered NO"
                        );
                        Verdict::Unprovable(why)
                    }
                    (verdict, _) => verdict,
                };
                *entry = Some(Entry { verdict: verdict.clone(), at: Instant::now() });
                verdict
            }
        };
        match verdict {
            Verdict::Current | Verdict::Unprovable(_) => Ok(()),
            Verdict::Stale(why) => Err(format!(
                "keytab {keytab_name} does not hold the KDC's current key for {server_name} (a stale keytab, \
                 or a spoofed KDC), so no password can be verified: {why}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_disagreements_are_stale_refusals_unprovable_the_rest_no_verdict() {
        let m = || "m".to_owned();
        assert_eq!(classify(code::KDC_ERR_PREAUTH_FAILED, m()), Some(Verdict::Stale(m())));
        assert_eq!(classify(code::AP_ERR_BAD_INTEGRITY, m()), Some(Verdict::Stale(m())));
        assert_eq!(classify(code::KDC_ERR_CLIENT_REVOKED, m()), Some(Verdict::Unprovable(m())));
        assert_eq!(classify(code::PREAUTH_FAILED, m()), Some(Verdict::Unprovable(m())));
        // Cannot contact any KDC, an errno.
        assert_eq!(classify(-1765328228, m()), None);
        assert_eq!(classify(libc::ETIMEDOUT, m()), None);
    }

    #[test]
    fn free_verdicts_are_kept_per_keytab_and_principal() {
        let checks = KeytabChecks::new(Duration::from_secs(60));
        checks.record("FILE:/a", "host/h@R", Verdict::Stale("x".into()));
        checks.record("FILE:/b", "host/h@R", Verdict::Current);
        let read = |k: &str| lock(&checks.slot(k, "host/h@R")).as_ref().map(|e| e.verdict.clone());
        assert_eq!(read("FILE:/a"), Some(Verdict::Stale("x".into())));
        assert_eq!(read("FILE:/b"), Some(Verdict::Current));
        assert_eq!(read("FILE:/c"), None);
    }
}
