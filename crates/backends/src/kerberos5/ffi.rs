//! The few MIT libkrb5 entry points, constants and C structures the `kerberos5` mechanism uses.
//!
//! Hand-written rather than taken from a crate: `libkrb5` (0.0.3) calls itself unmaintained,
//! `krb5-sys` (0.3.0, 2019) is an incomplete bindgen dump, and the maintained Kerberos crates
//! (`libgssapi`, `cross-krb5`) speak GSSAPI, which cannot get initial credentials from a
//! password. What the mechanism needs is some twenty-five functions and four structs from
//! `<krb5/krb5.h>` (MIT krb5 1.20, Debian 12's `libkrb5-dev`), declared here against that
//! header. The struct layouts are checked against the C `sizeof` values in the unit tests.

use libc::{c_char, c_int, c_long, c_uint, c_void};

/// `krb5_error_code`: 0 or a com_err code (negative for the krb5 table, errno values as is).
pub type ErrorCode = i32;
/// `krb5_context`: opaque, one per thread at a time.
pub type Context = *mut c_void;
/// `krb5_principal`: pointer to `krb5_principal_data`, treated as opaque here.
pub type Principal = *mut c_void;
/// `krb5_keytab`: opaque.
pub type Keytab = *mut c_void;
/// `profile_t`: opaque.
pub type Profile = *mut c_void;

/// `krb5_data`.
#[repr(C)]
pub struct Data {
    /// `krb5_magic`.
    pub magic: i32,
    /// Length of `data`.
    pub length: c_uint,
    /// The bytes.
    pub data: *mut c_char,
}

/// `krb5_keyblock`.
#[repr(C)]
pub struct Keyblock {
    /// `krb5_magic`.
    pub magic: i32,
    /// `krb5_enctype`.
    pub enctype: i32,
    /// Length of `contents`.
    pub length: c_uint,
    /// The key.
    pub contents: *mut u8,
}

/// `krb5_ticket_times`.
#[repr(C)]
pub struct TicketTimes {
    /// `authtime`, `starttime`, `endtime`, `renew_till` (`krb5_timestamp`).
    pub times: [i32; 4],
}

/// `krb5_creds`: filled by `krb5_get_init_creds_password`, emptied by
/// `krb5_free_cred_contents`.
#[repr(C)]
pub struct Creds {
    /// `krb5_magic`.
    pub magic: i32,
    /// Client principal.
    pub client: Principal,
    /// Server principal.
    pub server: Principal,
    /// Session key.
    pub keyblock: Keyblock,
    /// Ticket times.
    pub times: TicketTimes,
    /// `krb5_boolean is_skey`.
    pub is_skey: c_uint,
    /// `krb5_flags ticket_flags`.
    pub ticket_flags: i32,
    /// `krb5_address **addresses`.
    pub addresses: *mut c_void,
    /// The encoded ticket.
    pub ticket: Data,
    /// The second ticket (user-to-user).
    pub second_ticket: Data,
    /// `krb5_authdata **authdata`.
    pub authdata: *mut c_void,
}

/// `krb5_keytab_entry`: filled by `krb5_kt_get_entry`, emptied by
/// `krb5_free_keytab_entry_contents`.
#[repr(C)]
pub struct KeytabEntry {
    /// `krb5_magic`.
    pub magic: i32,
    /// The entry's principal (owned by the entry).
    pub principal: Principal,
    /// `krb5_timestamp`.
    pub timestamp: i32,
    /// `krb5_kvno`.
    pub vno: c_uint,
    /// The key.
    pub key: Keyblock,
}

/// `krb5_verify_init_creds_opt`.
#[repr(C)]
pub struct VerifyOpt {
    /// `krb5_flags`.
    pub flags: i32,
    /// Fail when the keytab has no key for the server (instead of skipping the check).
    pub ap_req_nofail: c_int,
}

/// `KRB5_NT_SRV_HST`: a host-based service name (`service/host`).
pub const NT_SRV_HST: i32 = 3;

#[link(name = "krb5")]
unsafe extern "C" {
    pub fn krb5_init_context(context: *mut Context) -> ErrorCode;
    pub fn krb5_init_context_profile(profile: Profile, flags: i32, context: *mut Context) -> ErrorCode;
    pub fn krb5_free_context(context: Context);
    pub fn profile_init_path(filepath: *const c_char, profile: *mut Profile) -> c_long;
    pub fn profile_release(profile: Profile);

    pub fn krb5_get_error_message(context: Context, code: ErrorCode) -> *const c_char;
    pub fn krb5_free_error_message(context: Context, message: *const c_char);

    pub fn krb5_parse_name(context: Context, name: *const c_char, principal: *mut Principal) -> ErrorCode;
    pub fn krb5_unparse_name(context: Context, principal: Principal, name: *mut *mut c_char) -> ErrorCode;
    pub fn krb5_free_unparsed_name(context: Context, name: *mut c_char);
    pub fn krb5_free_principal(context: Context, principal: Principal);
    pub fn krb5_copy_principal(context: Context, from: Principal, to: *mut Principal) -> ErrorCode;
    pub fn krb5_realm_compare(context: Context, a: Principal, b: Principal) -> c_uint;
    pub fn krb5_sname_to_principal(
        context: Context,
        hostname: *const c_char,
        sname: *const c_char,
        kind: i32,
        principal: *mut Principal,
    ) -> ErrorCode;

    pub fn krb5_kt_resolve(context: Context, name: *const c_char, keytab: *mut Keytab) -> ErrorCode;
    pub fn krb5_kt_default(context: Context, keytab: *mut Keytab) -> ErrorCode;
    pub fn krb5_kt_get_name(context: Context, keytab: Keytab, name: *mut c_char, len: c_uint) -> ErrorCode;
    pub fn krb5_kt_get_entry(
        context: Context,
        keytab: Keytab,
        principal: Principal,
        vno: c_uint,
        enctype: i32,
        entry: *mut KeytabEntry,
    ) -> ErrorCode;
    pub fn krb5_free_keytab_entry_contents(context: Context, entry: *mut KeytabEntry) -> ErrorCode;
    pub fn krb5_kt_close(context: Context, keytab: Keytab) -> ErrorCode;

    pub fn krb5_get_init_creds_password(
        context: Context,
        creds: *mut Creds,
        client: Principal,
        password: *const c_char,
        prompter: *mut c_void,
        data: *mut c_void,
        start_time: i32,
        in_tkt_service: *const c_char,
        options: *mut c_void,
    ) -> ErrorCode;
    pub fn krb5_get_init_creds_keytab(
        context: Context,
        creds: *mut Creds,
        client: Principal,
        keytab: Keytab,
        start_time: i32,
        in_tkt_service: *const c_char,
        options: *mut c_void,
    ) -> ErrorCode;
    pub fn krb5_free_cred_contents(context: Context, creds: *mut Creds);
    pub fn krb5_verify_init_creds_opt_init(options: *mut VerifyOpt);
    pub fn krb5_verify_init_creds_opt_set_ap_req_nofail(options: *mut VerifyOpt, nofail: c_int);
    pub fn krb5_verify_init_creds(
        context: Context,
        creds: *mut Creds,
        server: Principal,
        keytab: Keytab,
        ccache: *mut c_void,
        options: *mut VerifyOpt,
    ) -> ErrorCode;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes and offsets `sizeof`/`offsetof` give for MIT krb5 1.20 on LP64 (checked with a
    /// C program against `<krb5/krb5.h>`): a layout slip here would corrupt memory.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn layouts_match_the_c_header() {
        assert_eq!(size_of::<Creds>(), 120);
        assert_eq!(size_of::<KeytabEntry>(), 48);
        assert_eq!(std::mem::offset_of!(KeytabEntry, vno), 20);
        assert_eq!(std::mem::offset_of!(KeytabEntry, key), 24);
        assert_eq!(size_of::<Keyblock>(), 24);
        assert_eq!(size_of::<Data>(), 16);
        assert_eq!(size_of::<VerifyOpt>(), 8);
        assert_eq!(size_of::<TicketTimes>(), 16);
    }
}
