//! Turning a request's fields into the C strings one PAM transaction needs, refusing what PAM
//! cannot be given safely.

use crate::log_safe::LogSafe;
use crate::{Credentials, Outcome, Reject};
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use zeroize::Zeroizing;

/// The service used when a request names none: what Linux-PAM falls back to for any unknown
/// service. Given an empty name Linux-PAM 1.5 opens the config *directory* as a file and ends in
/// "other" or, with no "other", in an empty stack; naming it makes that explicit.
pub(super) const EMPTY_SERVICE_FALLBACK: &str = "other";

/// One transaction's inputs, as NUL-terminated strings.
pub(super) struct Request {
    /// PAM service name (the request's service field).
    pub(super) service: CString,
    /// PAM user (the login).
    pub(super) login: CString,
    /// The password with its terminating NUL, zeroed on drop.
    password: Zeroizing<Vec<u8>>,
    /// `PAM_RHOST`, when the client sent its address.
    pub(super) rhost: Option<CString>,
    /// Where the stacks live, when not `/etc/pam.d`.
    pub(super) confdir: Option<CString>,
}

impl Request {
    /// Check `creds` and build the transaction's inputs, or the answer to give without PAM.
    pub(super) fn new(creds: &Credentials, confdir: Option<&Path>) -> Result<Self, Outcome> {
        let confdir = match confdir.map(|dir| CString::new(dir.as_os_str().as_bytes())).transpose() {
            Ok(confdir) => confdir,
            Err(_) => return Err(Outcome::Unavailable("PAM confdir contains a NUL byte".into())),
        };
        let service = pam_service(&creds.service)?;
        // C strings end at the first NUL, so PAM would check a *different*, truncated login or
        // password ("secret\0junk" would pass as "secret"). Such input can only be wrong; refuse it
        // like a failed authentication without running any module.
        let Ok(login) = CString::new(creds.login.as_bytes()) else {
            tracing::info!(service = %LogSafe(creds.service.as_bytes()), "pam: login contains a NUL byte, refused");
            return Err(Outcome::No(Reject::PamAuth));
        };
        if creds.password.contains(&0) {
            tracing::info!(login = %LogSafe(creds.login.as_bytes()), service = %LogSafe(creds.service.as_bytes()), "pam: password contains a NUL byte, refused");
            return Err(Outcome::No(Reject::PamAuth));
        }
        // Exact capacity, so the push cannot reallocate and leave an unzeroed copy behind.
        let mut password = Zeroizing::new(Vec::with_capacity(creds.password.len() + 1));
        password.extend_from_slice(&creds.password);
        password.push(0);
        let rhost = match creds.client_ip().map(|ip| CString::new(ip.as_bytes())).transpose() {
            Ok(rhost) => rhost,
            Err(_) => {
                // Dropping it would let a client dodge host rules (pam_access); truncating is C's
                // accident. Neither is right for a NUL that no real address contains.
                tracing::warn!(login = %LogSafe(creds.login.as_bytes()), "pam: client address contains a NUL byte, refused");
                return Err(Outcome::No(Reject::PamStart));
            }
        };
        Ok(Self { service, login, password, rhost, confdir })
    }

    /// The NUL-terminated password.
    pub(super) fn password(&self) -> Option<&CStr> {
        CStr::from_bytes_with_nul(&self.password).ok()
    }
}

/// The PAM service name for a request's service field.
///
/// Cyrus hands the field to `pam_start` unchecked (reference §3.2), so any client that reaches the
/// socket picks the stack. Linux-PAM already drops everything up to the last `/`, but we do not
/// lean on that: a name with `/`, `..` or a leading `.` is never a real service and is refused with
/// Cyrus's `NO PAM start error`, and logged. An empty name becomes [`EMPTY_SERVICE_FALLBACK`].
pub(super) fn pam_service(service: &str) -> Result<CString, Outcome> {
    if service.is_empty() {
        tracing::debug!("pam: empty service, using {EMPTY_SERVICE_FALLBACK:?}");
        return CString::new(EMPTY_SERVICE_FALLBACK).map_err(|_| Outcome::No(Reject::PamStart));
    }
    let suspicious = service.contains('/') || service.contains("..") || service.starts_with('.');
    match CString::new(service) {
        Ok(name) if !suspicious => Ok(name),
        _ => {
            tracing::warn!(service = %LogSafe(service.as_bytes()), "pam: refusing a service name that is not a plain file name");
            Err(Outcome::No(Reject::PamStart))
        }
    }
}
