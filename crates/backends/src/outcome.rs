//! What a verifier answers, and the rule the daemon applies to it.
//!
//! * [`Outcome::Ok`] — the reply is `OK`; [`Outcome::Matched`] too, naming the credential.
//! * [`Outcome::No`] — the reply is `NO <reason>`; libsasl2 turns it into `SASL_BADAUTH`.
//! * [`Outcome::Unavailable`] — the verifier could not decide (backend down, timeout, internal
//!   error). The daemon closes the connection *without* a reply so libsasl2 returns `SASL_FAIL`
//!   and Postfix answers `454 4.7.0 Temporary authentication failure` instead of telling the user
//!   the password is wrong. A later chain of mechanisms stops on it, too.

use crate::credential::{Matched, Refusal};
use std::fmt;

/// A verifier's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The credentials are good.
    Ok,
    /// The password matched one of the account's credentials that has a label, or a scope the
    /// credential cache cannot key by ([`crate::credential`]); the reply is `OK`.
    Matched(Matched),
    /// The credentials are wrong, or the account is unknown, locked or expired.
    No(Reject),
    /// The verifier could not decide; the text says why (for the log only). The daemon logs it
    /// as a backend tempfail, beside the reasons it knows itself (a deadline passed, the
    /// mechanism's concurrency limit reached).
    Unavailable(String),
}

/// Why credentials were refused. `Display` gives Cyrus's exact reply text after `NO `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Unknown user (Cyrus shadow: `NO Invalid username`).
    InvalidUsername,
    /// Wrong password, or a locked/empty/unusable stored hash (Cyrus shadow).
    IncorrectPassword,
    /// The login has a passwd entry but no shadow entry (Cyrus shadow: `NO Invalid shadow username`).
    InvalidShadowUsername,
    /// The shadow hash is `*NP*`: a NIS+ entry the daemon may not read (Cyrus shadow).
    NisPermission,
    /// The shadow entry's expiry date has passed, or is day 0 (Cyrus shadow: `NO Account expired`).
    AccountExpired,
    /// The shadow entry's last change + maximum age is before today (Cyrus shadow).
    PasswordExpired,
    /// `pam_start` failed.
    PamStart,
    /// `pam_authenticate` refused (unknown user and wrong password look the same).
    PamAuth,
    /// `pam_acct_mgmt` refused (expired, locked, password change required).
    PamAcct,
    /// Any refusal by the ldap and sasldb mechanisms: Cyrus answers a bare `NO` (reference §3.4,
    /// saslauthd/auth_ldap.c and auth_sasldb.c) and logs why.
    Bare,
    /// The remote IMAP server answered `NO` to `LOGIN` (Cyrus rimap); also CR/LF/NUL in the login
    /// or password, which are never sent.
    RemoteRejected,
    /// kerberos5: the KDC refused the AS exchange (unknown principal, wrong password, locked or
    /// expired account); Cyrus auth_krb5.c.
    Krb5GetInitCreds,
    /// kerberos5: a TGT from another realm could not be verified for this server (Cyrus).
    Krb5VerifyInitCreds,
    /// kerberos5: the login asks for an instance its service does not allow (Cyrus).
    Krb5PrincipalName,
    /// kerberos5: libkrb5 cannot parse the principal (Cyrus's text, e.g. `a@B@C`).
    Krb5Internal,
    /// The password matched a credential whose scope refused the request (app passwords,
    /// [`crate::credential`]). The reply is the wrong password's (`Incorrect password`), so it
    /// does not tell a client the password is good elsewhere; the log says which scope refused
    /// ([`Reject::log_reason`]).
    OutOfScope(Refusal),
}

impl Reject {
    /// The `[reason=…]` of the failure log line: the reply text, except for
    /// [`Reject::OutOfScope`]; `service` comes already escaped for the log.
    pub fn log_reason(&self, service: &dyn fmt::Display) -> String {
        match self {
            Reject::OutOfScope(refusal) => refusal.describe(service),
            other => other.to_string(),
        }
    }

    /// Whether a later request with the same password, service and realm would be refused the
    /// same way: false when the refusal depends on the client address, which the credential
    /// cache does not key by, so it must not remember this refusal.
    pub fn is_repeatable(&self) -> bool {
        !matches!(
            self,
            Reject::OutOfScope(Refusal {
                why: crate::credential::Refused::Network | crate::credential::Refused::NoAddress,
                ..
            })
        )
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The texts are Cyrus 2.1.28's (reference §3.1–§3.3); log parsers match on them.
        f.write_str(match self {
            Reject::InvalidUsername => "Invalid username",
            Reject::IncorrectPassword => "Incorrect password",
            Reject::InvalidShadowUsername => "Invalid shadow username",
            Reject::NisPermission => {
                "Insufficient permission to access NIS authentication database (saslauthd)"
            }
            Reject::AccountExpired => "Account expired",
            Reject::PasswordExpired => "Password expired",
            Reject::PamStart => "PAM start error",
            Reject::PamAuth => "PAM auth error",
            Reject::PamAcct => "PAM acct error",
            Reject::Bare => "",
            Reject::RemoteRejected => "remote server rejected your credentials",
            Reject::Krb5GetInitCreds => "krb5_get_init_creds_password failed",
            Reject::Krb5VerifyInitCreds => "krb5_verify_init_creds failed",
            Reject::Krb5PrincipalName => "saslauthd principal name error",
            Reject::Krb5Internal => "saslauthd internal error",
            Reject::OutOfScope(_) => "Incorrect password",
        })
    }
}
