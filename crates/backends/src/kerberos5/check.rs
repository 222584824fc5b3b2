//! One `kerberos5` check, run on a blocking thread: the steps of Cyrus's `auth_krb5`
//! (parse the principal, get a TGT with the password, verify it against the keytab) and which
//! of their failures are the user's (`NO`) and which the server's (tempfail).
//!
//! Everything that does not depend on the password — the configuration, the keytab and its key
//! for the verifying principal — is checked *before* the KDC is asked. Cyrus asks first, so
//! with an unusable keytab a wrong password gets `NO krb5_get_init_creds_password failed` and a
//! right one `NO krb5_verify_init_creds failed`: the reply tells a guesser when a guess was
//! right. Here both are a tempfail. Only errors known to mean "these credentials are no good"
//! become `NO`; an error code not listed is a tempfail, so a new failure mode of the KDC or
//! the network never reads as a wrong password. A refused password is answered `NO` only once
//! the keytab is known to be current ([`super::keytab_check`]): a stale keytab is found by the
//! KDC's ticket only after a right password, and a wrong one must not get a different answer.

use super::codes as code;
use super::context::{Context, Krb5Error};
use super::keytab_check::{KeytabChecks, Verdict};
use super::principal::{self, RealmSource};
use super::settings::Settings;
use crate::log_safe::LogSafe;
use crate::{Outcome, Reject};
use std::ffi::{CStr, CString};
use zeroize::Zeroizing;

/// The request as the blocking thread needs it; the password copy is zeroed on drop.
pub struct Request {
    /// The login as sent.
    pub login: String,
    /// The service field (for `krb5_<service>_instance`).
    pub service: String,
    /// The realm field.
    pub realm: String,
    /// The password with a NUL appended, or `None` when it is empty or holds a NUL (no
    /// Kerberos password can be either through the C API).
    pub password: Option<Zeroizing<Vec<u8>>>,
}

impl Request {
    /// Copy what the check needs from `creds`.
    pub fn new(creds: &crate::Credentials) -> Request {
        let password = (!creds.password.is_empty() && !creds.password.contains(&0)).then(|| {
            let mut copy = Zeroizing::new(Vec::with_capacity(creds.password.len() + 1));
            copy.extend_from_slice(&creds.password);
            copy.push(0);
            copy
        });
        Request {
            login: creds.login.clone(),
            service: creds.service.clone(),
            realm: creds.realm.clone(),
            password,
        }
    }
}

/// The AS exchange failed because of the credentials: unknown principal, wrong password
/// (`PREAUTH_FAILED` with pre-authentication, `BAD_INTEGRITY` without), or an account the KDC
/// will not serve (locked, disabled, expired, password expired, not yet valid, no key).
pub fn is_credential_error(code: i32) -> bool {
    matches!(
        code,
        code::KDC_ERR_C_PRINCIPAL_UNKNOWN
            | code::KDC_ERR_PREAUTH_FAILED
            | code::PREAUTH_FAILED
            | code::AP_ERR_BAD_INTEGRITY
            | code::KDC_ERR_CLIENT_REVOKED
            | code::KDC_ERR_KEY_EXP
            | code::KDC_ERR_NAME_EXP
            | code::KDC_ERR_CLIENT_NOTYET
            | code::KDC_ERR_POLICY
            | code::KDC_ERR_NULL_KEY
    )
}

/// The realm named could not be found (no `[realms]` entry, no DNS record). For a realm the
/// request named (in the login, or the realm field, which IMAP servers fill from the domain the
/// user typed) that is not the server's own, that is the request's fault: such a ticket could
/// never be verified here anyway. For the server's own or the default realm it is a broken
/// configuration.
fn is_unknown_realm(code: i32) -> bool {
    matches!(code, code::REALM_UNKNOWN | code::REALM_CANT_RESOLVE | code::ERR_HOST_REALM_UNKNOWN)
}

/// `krb5_verify_init_creds` could not decrypt the service ticket with the keytab's key.
fn is_key_mismatch(code: i32) -> bool {
    matches!(
        code,
        code::AP_ERR_BAD_INTEGRITY | code::AP_ERR_BADKEYVER | code::KT_KVNONOTFOUND | code::KT_NOTFOUND
    )
}

/// A `NO`, logged. The principal and libkrb5's message both echo the request's login and realm
/// (libkrb5 escapes `\n` in a name but not `\r`, and not at all in a realm it could not find),
/// so both go through [`LogSafe`] to keep a forged line out of the log.
fn no(reject: Reject, principal: &str, why: impl std::fmt::Display) -> Outcome {
    tracing::info!("kerberos5: {}: {}", LogSafe(principal.as_bytes()), LogSafe(why.to_string().as_bytes()));
    Outcome::No(reject)
}

fn unavailable(what: String) -> Outcome {
    Outcome::Unavailable(format!("kerberos5: {what}"))
}

/// Check one request (blocking: it talks to the KDC); `checks` holds what is known about the
/// keytab across requests.
pub fn authenticate(settings: &Settings, checks: &KeytabChecks, request: &Request) -> Outcome {
    let (text, realm_source) =
        match principal::form(&settings.rules, &request.login, &request.service, &request.realm) {
            Ok(formed) => formed,
            Err(e) => return no(Reject::Krb5PrincipalName, &request.login, e),
        };
    let Ok(text) = CString::new(text) else {
        return no(Reject::Krb5PrincipalName, &request.login, "NUL byte in the principal");
    };
    let context = match Context::new(settings.profile_path.as_deref()) {
        Ok(context) => context,
        Err(e) => return unavailable(format!("cannot read the Kerberos configuration: {e}")),
    };
    let shown = text.to_string_lossy();
    let user = match context.parse_name(&text) {
        Ok(user) => user,
        // Cyrus's reply for a name libkrb5 cannot parse.
        Err(e) if matches!(e.code, code::PARSE_MALFORMED | code::PARSE_ILLCHAR) => {
            return no(Reject::Krb5Internal, &shown, e);
        }
        // No default realm in krb5.conf, or an unusable configuration.
        Err(e) => return unavailable(format!("{shown}: {e}")),
    };
    let keytab = match context.keytab(settings.keytab.as_deref()) {
        Ok(keytab) => keytab,
        Err(e) => return unavailable(format!("keytab: {e}")),
    };
    let query = match context.service_principal(settings.server_name.as_deref(), &settings.verify_service) {
        Ok(query) => query,
        Err(e) => return unavailable(format!("verifying principal: {e}")),
    };
    let server = match keytab.find(&query) {
        Ok(server) => server,
        Err(e) => {
            return unavailable(format!(
                "keytab {} has no usable key for {}, so no ticket can be verified: {e}",
                keytab.name(),
                query.unparse()
            ));
        }
    };
    let Some(password) = request.password.as_deref().and_then(|p| CStr::from_bytes_with_nul(p).ok()) else {
        return no(Reject::Krb5GetInitCreds, &shown, "empty password, or a NUL byte in it");
    };
    let mut creds = match context.init_creds_password(&user, password) {
        Ok(creds) => creds,
        Err(e) => {
            if is_credential_error(e.code)
                && let Err(why) = checks.may_answer_no(&context, &keytab, &server)
            {
                return unavailable(format!(
                    "{}: the KDC refused the password ({e}), but {why}",
                    user.unparse()
                ));
            }
            return judge_init_creds(e, &user.unparse(), realm_source, user.same_realm(&server));
        }
    };
    match context.verify_init_creds(&mut creds, &server, &keytab) {
        Ok(()) => {
            checks.record(&keytab.name(), &server.unparse(), Verdict::Current);
            Outcome::Ok
        }
        Err(e) => {
            let own_realm = user.same_realm(&server);
            if own_realm && is_key_mismatch(e.code) {
                checks.record(&keytab.name(), &server.unparse(), Verdict::Stale(e.to_string()));
            }
            judge_verify(e, &user.unparse(), &server.unparse(), &keytab.name(), own_realm)
        }
    }
}

/// The password-independent part of a check, once at start-up: the configuration, the keytab
/// and its key for the verifying principal. `Err` says what is wrong.
pub fn probe(settings: &Settings) -> Result<String, String> {
    let context = Context::new(settings.profile_path.as_deref())
        .map_err(|e| format!("cannot read the Kerberos configuration: {e}"))?;
    let keytab = context.keytab(settings.keytab.as_deref()).map_err(|e| format!("keytab: {e}"))?;
    let query = context
        .service_principal(settings.server_name.as_deref(), &settings.verify_service)
        .map_err(|e| format!("verifying principal: {e}"))?;
    let server = keytab
        .find(&query)
        .map_err(|e| format!("keytab {} has no usable key for {}: {e}", keytab.name(), query.unparse()))?;
    Ok(format!("tickets are verified with {} from {}", server.unparse(), keytab.name()))
}

/// What a failed AS exchange means.
fn judge_init_creds(e: Krb5Error, principal: &str, source: RealmSource, own_realm: bool) -> Outcome {
    if is_credential_error(e.code) {
        return no(Reject::Krb5GetInitCreds, principal, e);
    }
    if is_unknown_realm(e.code) && source != RealmSource::Default && !own_realm {
        return no(Reject::Krb5GetInitCreds, principal, format_args!("a realm the request named: {e}"));
    }
    unavailable(format!("{principal}: {e}"))
}

/// What a failed verification means. In the server's own realm the KDC and the keytab disagree
/// on the server's key — a stale keytab or a spoofed KDC — which no password can mend: a
/// tempfail, never `OK`. A user from another realm may simply have no path to this server.
fn judge_verify(e: Krb5Error, principal: &str, server: &str, keytab: &str, own_realm: bool) -> Outcome {
    if !own_realm {
        return no(Reject::Krb5VerifyInitCreds, principal, format_args!("cross-realm: {e}"));
    }
    if is_key_mismatch(e.code) {
        return unavailable(format!(
            "{principal}: the KDC's key for {server} does not match keytab {keytab} (a stale keytab, or a \
             spoofed KDC): {e}"
        ));
    }
    unavailable(format!("{principal}: verifying the ticket for {server}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_credential_errors_are_a_no() {
        assert!(is_credential_error(code::KDC_ERR_PREAUTH_FAILED));
        assert!(is_credential_error(code::KDC_ERR_C_PRINCIPAL_UNKNOWN));
        // KDC unreachable, clock skew, an errno: tempfail.
        for other in [-1765328228, -1765328347, libc::ETIMEDOUT, 0] {
            assert!(!is_credential_error(other), "{other}");
        }
    }

    fn error(code: i32) -> Krb5Error {
        Krb5Error { call: "x", code, message: "m".into() }
    }

    #[test]
    fn an_unknown_realm_is_the_requests_fault_unless_it_is_the_servers() {
        let realm = code::REALM_UNKNOWN;
        for source in [RealmSource::Login, RealmSource::Request] {
            assert_eq!(
                judge_init_creds(error(realm), "joe@ELSEWHERE", source, false),
                Outcome::No(Reject::Krb5GetInitCreds)
            );
            assert!(matches!(judge_init_creds(error(realm), "joe@R", source, true), Outcome::Unavailable(_)));
        }
        assert!(matches!(
            judge_init_creds(error(realm), "joe@D", RealmSource::Default, false),
            Outcome::Unavailable(_)
        ));
    }

    #[test]
    fn a_key_mismatch_in_the_own_realm_is_a_tempfail() {
        let out = judge_verify(error(code::AP_ERR_BAD_INTEGRITY), "joe@R", "host/h@R", "FILE:/k", true);
        assert!(
            matches!(&out, Outcome::Unavailable(t) if t.contains("does not match keytab FILE:/k")),
            "{out:?}"
        );
        let out = judge_verify(error(code::AP_ERR_BAD_INTEGRITY), "joe@O", "host/h@R", "FILE:/k", false);
        assert_eq!(out, Outcome::No(Reject::Krb5VerifyInitCreds));
    }

    #[test]
    fn the_password_copy_is_nul_terminated_and_refuses_nul() {
        let creds = |p: &[u8]| crate::Credentials {
            login: "joe".into(),
            password: Zeroizing::new(p.to_vec()),
            service: "smtp".into(),
            realm: String::new(),
            client_addr: None,
        };
        assert_eq!(Request::new(&creds(b"pw")).password.as_deref().map(Vec::as_slice), Some(&b"pw\0"[..]));
        assert!(Request::new(&creds(b"p\0w")).password.is_none());
        assert!(Request::new(&creds(b"")).password.is_none());
    }
}
