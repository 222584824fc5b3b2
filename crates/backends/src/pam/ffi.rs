//! The few libpam entry points, constants and C structures the `pam` mechanism uses.
//!
//! Hand-written rather than taken from a crate (reference crates.md §1): `pam-sys` 1.0 alphas
//! (and so `pam` and `pam-client`) run bindgen and need libclang at build time; `pam` cannot set
//! `PAM_RHOST`, aborts the conversation on `PAM_ERROR_MSG`, leaks answers on error and drags in
//! `users` (three RustSec advisories); `pam-client` is dormant, has no `pam_start_confdir` and no
//! unwind guard around its conversation. What we need is seven functions and three structs from
//! `<security/pam_appl.h>` (Linux-PAM 1.5), so they are declared here against that header.

use libc::{c_char, c_int, c_uint, c_void};

/// libpam's opaque handle (`pam_handle_t`).
#[repr(C)]
pub struct PamHandle {
    _opaque: [u8; 0],
}

/// One message from a module to the application (`struct pam_message`).
#[repr(C)]
pub struct PamMessage {
    /// One of the `PAM_PROMPT_*` / `PAM_*_MSG` styles.
    pub msg_style: c_int,
    /// NUL-terminated text.
    pub msg: *const c_char,
}

/// The application's answer to one message (`struct pam_response`); libpam frees `resp`.
#[repr(C)]
pub struct PamResponse {
    /// A `malloc`ed NUL-terminated answer, or NULL for "no answer".
    pub resp: *mut c_char,
    /// Unused by Linux-PAM; must be 0.
    pub resp_retcode: c_int,
}

/// The conversation callback type. Linux-PAM passes `msg` as an array of pointers.
pub type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

/// The `PAM_FAIL_DELAY` item's callback type (Linux-PAM extension, `_pam_types.h`).
pub type FailDelayFn = unsafe extern "C" fn(retval: c_int, usec_delay: c_uint, appdata_ptr: *mut c_void);

/// The conversation given to `pam_start` (`struct pam_conv`); libpam copies it.
#[repr(C)]
pub struct PamConv {
    /// The callback.
    pub conv: Option<ConvFn>,
    /// Handed back to `conv` and to the fail-delay callback.
    pub appdata_ptr: *mut c_void,
}

/// Success.
pub const PAM_SUCCESS: c_int = 0;
/// Memory allocation failed.
pub const PAM_BUF_ERR: c_int = 5;
/// The conversation failed.
pub const PAM_CONV_ERR: c_int = 19;

/// Flag: modules must not send informational messages.
pub const PAM_SILENT: c_int = 0x8000;

/// Item: the remote host.
pub const PAM_RHOST: c_int = 4;
/// Item: the prompt modules use when they must ask for the user name.
pub const PAM_USER_PROMPT: c_int = 9;
/// Item: the application's fail-delay callback ([`FailDelayFn`]).
pub const PAM_FAIL_DELAY: c_int = 10;

/// Message style: ask, don't echo (a password).
pub const PAM_PROMPT_ECHO_OFF: c_int = 1;
/// Message style: ask, echo (a user name).
pub const PAM_PROMPT_ECHO_ON: c_int = 2;
/// Message style: an error to show.
pub const PAM_ERROR_MSG: c_int = 3;
/// Message style: information to show.
pub const PAM_TEXT_INFO: c_int = 4;

/// The most messages Linux-PAM sends in one conversation call (`PAM_MAX_NUM_MSG`).
pub const PAM_MAX_NUM_MSG: c_int = 32;

// Linked by soname: libpam.so.0 ships with libpam0g, which every Debian system has, whereas the
// unversioned libpam.so comes only with libpam0g-dev. This keeps the quickstart build free of
// root-installed packages.
#[link(name = "libpam.so.0", kind = "dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    /// Start a transaction using `/etc/pam.d`.
    pub fn pam_start(
        service_name: *const c_char,
        user: *const c_char,
        pam_conversation: *const PamConv,
        pamh: *mut *mut PamHandle,
    ) -> c_int;

    /// Start a transaction reading the stacks from `confdir` (Linux-PAM ≥ 1.4).
    pub fn pam_start_confdir(
        service_name: *const c_char,
        user: *const c_char,
        pam_conversation: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut PamHandle,
    ) -> c_int;

    /// Set an item; string items are copied.
    pub fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;

    /// Read an item; the pointer stays owned by libpam.
    pub fn pam_get_item(pamh: *const PamHandle, item_type: c_int, item: *mut *const c_void) -> c_int;

    /// Run the `auth` stack.
    pub fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;

    /// Run the `account` stack.
    pub fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;

    /// End the transaction and free the handle.
    pub fn pam_end(pamh: *mut PamHandle, pam_status: c_int) -> c_int;

    /// A static description of a status code (the handle may be NULL in Linux-PAM).
    pub fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
}
