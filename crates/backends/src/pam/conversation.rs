//! The PAM conversation and fail-delay callbacks: how modules get the login and password from us.
//!
//! Both callbacks are called by libpam (C) on the pool thread running the transaction. They must
//! never unwind into C: the code below has no panicking operations, and the conversation is
//! wrapped in `catch_unwind` anyway so a future edit cannot turn a panic into an abort.

use super::ffi::{
    PAM_BUF_ERR, PAM_CONV_ERR, PAM_ERROR_MSG, PAM_MAX_NUM_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON,
    PAM_SUCCESS, PAM_TEXT_INFO, PAM_USER_PROMPT, PamHandle, PamMessage, PamResponse, pam_get_item,
};
use crate::log_safe::LogSafe;
use libc::{c_char, c_int, c_uint, c_void};
use std::cell::Cell;
use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use zeroize::Zeroize;

/// What the callbacks see through `appdata_ptr`: the answers to give and where to note the delay.
///
/// Lives on the pool thread's stack for the whole transaction; libpam only ever gets a pointer
/// to it and calls back on the same thread, hence `Cell` rather than atomics.
pub(super) struct ConvData<'a> {
    /// The login, answered to a user-name prompt.
    login: &'a CStr,
    /// The password, answered to every no-echo prompt; owned (and zeroed) by the caller.
    password: &'a CStr,
    /// The handle, set right after `pam_start`, to read `PAM_USER_PROMPT`.
    pamh: Cell<*mut PamHandle>,
    /// The largest failure delay libpam asked for, in microseconds.
    fail_delay_usec: Cell<c_uint>,
}

impl<'a> ConvData<'a> {
    /// Answers for one transaction.
    pub(super) fn new(login: &'a CStr, password: &'a CStr) -> Self {
        Self { login, password, pamh: Cell::new(ptr::null_mut()), fail_delay_usec: Cell::new(0) }
    }

    /// Remember the handle once `pam_start` made it.
    pub(super) fn set_handle(&self, pamh: *mut PamHandle) {
        self.pamh.set(pamh);
    }

    /// The failure delay libpam asked for (0 if none).
    pub(super) fn fail_delay_usec(&self) -> c_uint {
        self.fail_delay_usec.get()
    }

    /// The `appdata_ptr` to give libpam.
    pub(super) fn as_appdata(&self) -> *mut c_void {
        ptr::from_ref(self).cast_mut().cast()
    }

    /// Whether `prompt` is the `PAM_USER_PROMPT` item, i.e. a module asking for the user name.
    fn is_user_prompt(&self, prompt: *const c_char) -> bool {
        let pamh = self.pamh.get();
        if pamh.is_null() || prompt.is_null() {
            return false;
        }
        let mut item: *const c_void = ptr::null();
        // SAFETY: `pamh` is the live handle of this transaction (we are inside one of its calls);
        // `item` is a valid out-pointer.
        let rc = unsafe { pam_get_item(pamh, PAM_USER_PROMPT, &mut item) };
        if rc != PAM_SUCCESS || item.is_null() {
            return false;
        }
        // SAFETY: both are NUL-terminated strings owned by libpam / the module for this call.
        unsafe { CStr::from_ptr(item.cast()) == CStr::from_ptr(prompt) }
    }
}

/// The `pam_conv.conv` callback.
///
/// Answers as Cyrus does (reference §3.2): `PROMPT_ECHO_OFF` → the password; `PROMPT_ECHO_ON` →
/// the login if the prompt is the `PAM_USER_PROMPT` item, else no answer (NULL) — we chose
/// Cyrus's rule over "always the login" because an echoed prompt that is not the user prompt is
/// some other question (an OTP code, a challenge) the login does not answer; in practice modules
/// never ask, since `pam_start` is given the user. `ERROR_MSG`/`TEXT_INFO` → NULL (they must not
/// fail the conversation: pam_exec sends them even under `PAM_SILENT`); anything else →
/// `PAM_CONV_ERR`.
///
/// # Safety
/// Called by libpam only: `appdata_ptr` is a live [`ConvData`], `msg` holds `num_msg` pointers.
pub(super) unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    // SAFETY: the caller's contract is passed on unchanged.
    let answered =
        catch_unwind(AssertUnwindSafe(|| unsafe { converse_inner(num_msg, msg, resp, appdata_ptr) }));
    answered.unwrap_or(PAM_CONV_ERR)
}

/// The body of [`converse`], outside the unwind guard.
unsafe fn converse_inner(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    if msg.is_null() || resp.is_null() || appdata_ptr.is_null() || !(1..=PAM_MAX_NUM_MSG).contains(&num_msg) {
        return PAM_CONV_ERR;
    }
    // SAFETY: `appdata_ptr` is the `ConvData` we gave pam_start; it outlives the handle.
    let data = unsafe { &*appdata_ptr.cast::<ConvData<'_>>() };
    let count = num_msg.unsigned_abs() as usize;
    // libpam frees the array and each answer with free(), so both must come from malloc.
    // SAFETY: plain allocation; checked for NULL below.
    let replies = unsafe { libc::calloc(count, size_of::<PamResponse>()) }.cast::<PamResponse>();
    if replies.is_null() {
        return PAM_BUF_ERR;
    }
    for i in 0..count {
        // SAFETY: libpam gives `num_msg` message pointers.
        let message = unsafe { *msg.add(i) };
        if message.is_null() {
            // SAFETY: `replies` holds `count` entries, zeroed or filled by strdup.
            unsafe { discard_replies(replies, count) };
            return PAM_CONV_ERR;
        }
        // SAFETY: non-null message from libpam.
        let (style, text) = unsafe { ((*message).msg_style, (*message).msg) };
        let answer: Option<&CStr> = match style {
            PAM_PROMPT_ECHO_OFF => Some(data.password),
            PAM_PROMPT_ECHO_ON if data.is_user_prompt(text) => Some(data.login),
            PAM_PROMPT_ECHO_ON => None,
            PAM_ERROR_MSG | PAM_TEXT_INFO => {
                log_module_message(style, text);
                None
            }
            _ => {
                tracing::debug!(style, "PAM conversation: unsupported message style");
                // SAFETY: as above.
                unsafe { discard_replies(replies, count) };
                return PAM_CONV_ERR;
            }
        };
        if let Some(answer) = answer {
            // SAFETY: `answer` is NUL-terminated; the copy is freed by libpam or discard_replies.
            let copy = unsafe { libc::strdup(answer.as_ptr()) };
            if copy.is_null() {
                // SAFETY: as above.
                unsafe { discard_replies(replies, count) };
                return PAM_BUF_ERR;
            }
            // SAFETY: `i < count`.
            unsafe { (*replies.add(i)).resp = copy };
        }
    }
    // SAFETY: `resp` is libpam's out-pointer; it now owns the array and the answers.
    unsafe { *resp = replies };
    PAM_SUCCESS
}

/// Log a module's error or info message at debug level (Cyrus drops them silently).
fn log_module_message(style: c_int, text: *const c_char) {
    if text.is_null() || !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    // SAFETY: a module's NUL-terminated message, valid for this call.
    let text = unsafe { CStr::from_ptr(text) }.to_bytes();
    let kind = if style == PAM_ERROR_MSG { "error" } else { "info" };
    tracing::debug!(kind, message = %LogSafe(text), "PAM module message");
}

/// Wipe and free every answer made so far, then the array (a failed conversation keeps nothing).
///
/// # Safety
/// `replies` is a `calloc`ed array of `count` entries whose `resp` are NULL or `malloc`ed strings.
unsafe fn discard_replies(replies: *mut PamResponse, count: usize) {
    for i in 0..count {
        // SAFETY: within the array.
        let answer = unsafe { (*replies.add(i)).resp };
        if !answer.is_null() {
            // SAFETY: a NUL-terminated string we strdup'ed; wiped over its length, then freed.
            unsafe {
                let len = libc::strlen(answer);
                std::slice::from_raw_parts_mut(answer.cast::<u8>(), len).zeroize();
                libc::free(answer.cast());
            }
        }
    }
    // SAFETY: the calloc'ed array.
    unsafe { libc::free(replies.cast()) };
}

/// The `PAM_FAIL_DELAY` callback: note the delay instead of sleeping on a pool thread.
///
/// Linux-PAM calls it at the end of `pam_authenticate` with the status and the (randomised) delay
/// that modules asked for through `pam_fail_delay` (pam_unix, pam_faildelay: ~2 s). Sleeping here
/// would hold one of the `-n` pool threads per failure (reference §3.2, Latency); the caller sleeps
/// asynchronously instead. Successes carry no delay.
///
/// # Safety
/// Called by libpam only, with the conversation's `appdata_ptr` (a live [`ConvData`]) or NULL.
pub(super) unsafe extern "C" fn record_fail_delay(
    retval: c_int,
    usec_delay: c_uint,
    appdata_ptr: *mut c_void,
) {
    if retval == PAM_SUCCESS || appdata_ptr.is_null() {
        return;
    }
    // SAFETY: see the function's contract.
    let data = unsafe { &*appdata_ptr.cast::<ConvData<'_>>() };
    data.fail_delay_usec.set(data.fail_delay_usec.get().max(usec_delay));
}
