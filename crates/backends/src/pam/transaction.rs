//! One blocking PAM transaction: start, authenticate, check the account, end (Cyrus auth_pam.c).

use super::conversation::{ConvData, converse, record_fail_delay};
use super::ffi::{
    FailDelayFn, PAM_FAIL_DELAY, PAM_RHOST, PAM_SILENT, PAM_SUCCESS, PamConv, PamHandle, pam_acct_mgmt,
    pam_authenticate, pam_end, pam_set_item, pam_start, pam_start_confdir, pam_strerror,
};
use super::request::Request;
use crate::log_safe::LogSafe;
use crate::{Outcome, Reject};
use libc::c_int;
use std::ffi::{CStr, c_void};
use std::ptr;
use std::time::Duration;

/// What a transaction decided, and how long libpam wanted a failure to be held back.
#[derive(Debug)]
pub(super) struct Verdict {
    /// The answer.
    pub(super) outcome: Outcome,
    /// The failure delay modules asked for; zero on success.
    pub(super) fail_delay: Duration,
}

impl Verdict {
    fn new(outcome: Outcome, fail_delay_usec: u32) -> Self {
        Self { outcome, fail_delay: Duration::from_micros(fail_delay_usec.into()) }
    }
}

/// A started transaction; `pam_end` runs on drop with the last status.
struct Handle {
    raw: *mut PamHandle,
    status: c_int,
}

impl Handle {
    /// `pam_start` (or `pam_start_confdir`); the error is libpam's status.
    fn start(request: &Request, conv: &PamConv) -> Result<Self, c_int> {
        let mut raw: *mut PamHandle = ptr::null_mut();
        // SAFETY: every pointer is a live NUL-terminated string or struct for the duration of the
        // call; libpam copies the service, user and conversation struct.
        let rc = unsafe {
            match &request.confdir {
                Some(dir) => pam_start_confdir(
                    request.service.as_ptr(),
                    request.login.as_ptr(),
                    conv,
                    dir.as_ptr(),
                    &mut raw,
                ),
                None => pam_start(request.service.as_ptr(), request.login.as_ptr(), conv, &mut raw),
            }
        };
        // Linux-PAM frees the handle itself and NULLs it when pam_start fails.
        if rc != PAM_SUCCESS || raw.is_null() {
            return Err(rc);
        }
        Ok(Self { raw, status: PAM_SUCCESS })
    }

    /// `pam_set_item`; `item` must outlive the call only (libpam copies strings and pointers).
    fn set_item(&mut self, item_type: c_int, item: *const c_void) -> c_int {
        // SAFETY: live handle; the item is valid for its type.
        unsafe { pam_set_item(self.raw, item_type, item) }
    }

    /// Record `rc` as the status `pam_end` will be told.
    fn note(&mut self, rc: c_int) -> c_int {
        self.status = rc;
        rc
    }

    /// libpam's text for `rc`.
    fn describe(&self, rc: c_int) -> String {
        describe(self.raw, rc)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: started by us, ended exactly once.
        unsafe { pam_end(self.raw, self.status) };
    }
}

/// libpam's static text for a status.
fn describe(raw: *mut PamHandle, rc: c_int) -> String {
    // SAFETY: Linux-PAM's pam_strerror ignores the handle and returns a static string.
    let text = unsafe { pam_strerror(raw, rc) };
    if text.is_null() {
        return format!("PAM status {rc}");
    }
    // SAFETY: non-null static NUL-terminated string.
    unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
}

/// Run one transaction for `request` on the calling (pool) thread.
///
/// Like Cyrus: `pam_authenticate(PAM_SILENT)` then `pam_acct_mgmt(PAM_SILENT)`, no setcred, no
/// session, no `PAM_TTY`. Any failing step is a `NO`; an expired password
/// (`PAM_NEW_AUTHTOK_REQD`) is `NO PAM acct error` as in Cyrus.
pub(super) fn authenticate(request: &Request) -> Verdict {
    let Some(password) = request.password() else {
        return Verdict::new(Outcome::No(Reject::PamAuth), 0);
    };
    // Declared before the handle so it is dropped after pam_end: libpam holds its address.
    let data = ConvData::new(&request.login, password);
    let conv = PamConv { conv: Some(converse), appdata_ptr: data.as_appdata() };
    let mut handle = match Handle::start(request, &conv) {
        Ok(handle) => handle,
        Err(rc) => {
            tracing::warn!(service = %LogSafe(request.service.as_bytes()), error = %describe(ptr::null_mut(), rc), "pam_start failed");
            return Verdict::new(Outcome::No(Reject::PamStart), 0);
        }
    };
    data.set_handle(handle.raw);
    let delay_fn: FailDelayFn = record_fail_delay;
    let rc = handle.set_item(PAM_FAIL_DELAY, delay_fn as *const c_void);
    if rc != PAM_SUCCESS {
        // Not fatal: libpam then sleeps on this pool thread itself, as it does under Cyrus.
        tracing::warn!(error = %handle.describe(rc), "pam: cannot take over the failure delay");
    }
    if let Some(rhost) = &request.rhost {
        let rc = handle.set_item(PAM_RHOST, rhost.as_ptr().cast());
        if rc != PAM_SUCCESS {
            tracing::warn!(error = %handle.describe(rc), "pam: cannot set PAM_RHOST");
            handle.note(rc);
            return Verdict::new(Outcome::No(Reject::PamStart), 0);
        }
    }
    // SAFETY: live handle.
    let rc = handle.note(unsafe { pam_authenticate(handle.raw, PAM_SILENT) });
    if rc != PAM_SUCCESS {
        tracing::debug!(service = %LogSafe(request.service.as_bytes()), login = %LogSafe(request.login.as_bytes()), error = %handle.describe(rc), "pam_authenticate refused");
        return Verdict::new(Outcome::No(Reject::PamAuth), data.fail_delay_usec());
    }
    // SAFETY: live handle.
    let rc = handle.note(unsafe { pam_acct_mgmt(handle.raw, PAM_SILENT) });
    if rc != PAM_SUCCESS {
        tracing::debug!(service = %LogSafe(request.service.as_bytes()), login = %LogSafe(request.login.as_bytes()), error = %handle.describe(rc), "pam_acct_mgmt refused");
        return Verdict::new(Outcome::No(Reject::PamAcct), data.fail_delay_usec());
    }
    Verdict::new(Outcome::Ok, 0)
}
