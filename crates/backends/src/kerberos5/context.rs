//! Owned libkrb5 objects (context, principal, keytab, credentials) that free themselves, and
//! the calls the check makes on them, each returning a [`Krb5Error`] with libkrb5's message.
//!
//! A `krb5_context` is not safe to share between threads (MIT "Thread safety" notes): one is
//! made per request, on the blocking thread that serves it, and everything made from it is
//! dropped before it. None of these types is `Send`, so the compiler keeps it that way.

use super::ffi;
use std::ffi::CStr;
use std::fmt;
use std::ptr;

/// A libkrb5 failure: the call, the com_err code and libkrb5's message for it.
#[derive(Debug, Clone)]
pub struct Krb5Error {
    /// The libkrb5 function that failed.
    pub call: &'static str,
    /// Its com_err code.
    pub code: ffi::ErrorCode,
    /// libkrb5's text for the code (which never holds the password).
    pub message: String,
}

impl fmt::Display for Krb5Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.call, self.message, self.code)
    }
}

/// A `krb5_context`; freed on drop.
pub struct Context {
    raw: ffi::Context,
}

impl Context {
    /// A context reading `profile_path` (a `:`-separated list of absolute files, as
    /// `KRB5_CONFIG` is), or libkrb5's default (`/etc/krb5.conf`) when `None`.
    pub fn new(profile_path: Option<&CStr>) -> Result<Context, Krb5Error> {
        let mut raw: ffi::Context = ptr::null_mut();
        let code = match profile_path {
            // SAFETY: `raw` is a valid out-pointer.
            None => unsafe { ffi::krb5_init_context(&mut raw) },
            Some(path) => {
                let mut profile: ffi::Profile = ptr::null_mut();
                // SAFETY: `path` is NUL-terminated; `profile` is a valid out-pointer.
                let code = unsafe { ffi::profile_init_path(path.as_ptr(), &mut profile) };
                if code != 0 {
                    return Err(Krb5Error {
                        call: "profile_init_path",
                        code: code as ffi::ErrorCode,
                        message: context_free_message(code as ffi::ErrorCode),
                    });
                }
                // SAFETY: `profile` is valid; the context takes a copy of it, so it is released
                // right after whatever the outcome.
                let code = unsafe { ffi::krb5_init_context_profile(profile, 0, &mut raw) };
                // SAFETY: `profile` came from profile_init_path and is not used again.
                unsafe { ffi::profile_release(profile) };
                code
            }
        };
        if code != 0 || raw.is_null() {
            return Err(Krb5Error { call: "krb5_init_context", code, message: context_free_message(code) });
        }
        Ok(Context { raw })
    }

    fn error(&self, call: &'static str, code: ffi::ErrorCode) -> Krb5Error {
        // SAFETY: the context is live; the message is freed with the matching call.
        let message = unsafe {
            let text = ffi::krb5_get_error_message(self.raw, code);
            if text.is_null() {
                format!("error {code}")
            } else {
                let owned = CStr::from_ptr(text).to_string_lossy().into_owned();
                ffi::krb5_free_error_message(self.raw, text);
                owned
            }
        };
        Krb5Error { call, code, message }
    }

    fn check(&self, call: &'static str, code: ffi::ErrorCode) -> Result<(), Krb5Error> {
        if code == 0 { Ok(()) } else { Err(self.error(call, code)) }
    }

    /// `krb5_parse_name`: `name[/instance][@REALM]`, the default realm when none is written.
    pub fn parse_name(&self, name: &CStr) -> Result<Principal<'_>, Krb5Error> {
        let mut raw = ptr::null_mut();
        // SAFETY: live context, NUL-terminated name, valid out-pointer.
        self.check("krb5_parse_name", unsafe { ffi::krb5_parse_name(self.raw, name.as_ptr(), &mut raw) })?;
        Ok(Principal { context: self, raw })
    }

    /// `krb5_sname_to_principal(host, service, KRB5_NT_SRV_HST)`: `service/host@REALM`, the
    /// local host name when `host` is `None`, the realm from `[domain_realm]`.
    pub fn service_principal(&self, host: Option<&CStr>, service: &CStr) -> Result<Principal<'_>, Krb5Error> {
        let mut raw = ptr::null_mut();
        let host = host.map_or(ptr::null(), CStr::as_ptr);
        // SAFETY: live context; `host` NULL or NUL-terminated; valid out-pointer.
        let code = unsafe {
            ffi::krb5_sname_to_principal(self.raw, host, service.as_ptr(), ffi::NT_SRV_HST, &mut raw)
        };
        self.check("krb5_sname_to_principal", code)?;
        Ok(Principal { context: self, raw })
    }

    /// The keytab named `name` (`krb5_kt_resolve`), or libkrb5's default (`KRB5_KTNAME`,
    /// `default_keytab_name`, `/etc/krb5.keytab`) when `None`. Nothing is read yet.
    pub fn keytab(&self, name: Option<&CStr>) -> Result<Keytab<'_>, Krb5Error> {
        let mut raw = ptr::null_mut();
        let code = match name {
            // SAFETY: live context, NUL-terminated name, valid out-pointer.
            Some(name) => unsafe { ffi::krb5_kt_resolve(self.raw, name.as_ptr(), &mut raw) },
            // SAFETY: live context, valid out-pointer.
            None => unsafe { ffi::krb5_kt_default(self.raw, &mut raw) },
        };
        self.check("krb5_kt_resolve", code)?;
        Ok(Keytab { context: self, raw })
    }

    /// `krb5_get_init_creds_password`: an AS exchange for `client` with `password` (no
    /// prompter, so an expired password is an error, not a change dialogue).
    pub fn init_creds_password(
        &self,
        client: &Principal<'_>,
        password: &CStr,
    ) -> Result<Creds<'_>, Krb5Error> {
        // SAFETY: an all-zero krb5_creds is the empty value libkrb5 expects to fill.
        let mut creds = Box::new(unsafe { std::mem::zeroed::<ffi::Creds>() });
        // SAFETY: live context and principal; NUL-terminated password; every optional argument
        // is NULL or 0, which the API documents as "use the defaults".
        let code = unsafe {
            ffi::krb5_get_init_creds_password(
                self.raw,
                &mut *creds,
                client.raw,
                password.as_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
                0,
                ptr::null(),
                ptr::null_mut(),
            )
        };
        if code != 0 {
            // On failure libkrb5 leaves `creds` unfilled; nothing to free.
            return Err(self.error("krb5_get_init_creds_password", code));
        }
        Ok(Creds { context: self, raw: creds })
    }

    /// `krb5_get_init_creds_keytab`: an AS exchange for `client` with its own key from
    /// `keytab`, as `kinit -k` does. It succeeds only when the KDC and the keytab agree on that
    /// key (the KDC's reply is encrypted with it), which is what the keytab check wants to know.
    pub fn init_creds_keytab(
        &self,
        client: &Principal<'_>,
        keytab: &Keytab<'_>,
    ) -> Result<Creds<'_>, Krb5Error> {
        // SAFETY: an all-zero krb5_creds is the empty value libkrb5 expects to fill.
        let mut creds = Box::new(unsafe { std::mem::zeroed::<ffi::Creds>() });
        // SAFETY: live context, principal and keytab; start time 0, service and options NULL
        // are the documented defaults (a TGT, default options).
        let code = unsafe {
            ffi::krb5_get_init_creds_keytab(
                self.raw,
                &mut *creds,
                client.raw,
                keytab.raw,
                0,
                ptr::null(),
                ptr::null_mut(),
            )
        };
        if code != 0 {
            // On failure libkrb5 leaves `creds` unfilled; nothing to free.
            return Err(self.error("krb5_get_init_creds_keytab", code));
        }
        Ok(Creds { context: self, raw: creds })
    }

    /// `krb5_verify_init_creds` with `ap_req_nofail`: get a ticket for `server` with the TGT in
    /// `creds` and decrypt it with `server`'s key in `keytab`, so a KDC that does not know that
    /// key (a spoofed one) cannot vouch for a password.
    pub fn verify_init_creds(
        &self,
        creds: &mut Creds<'_>,
        server: &Principal<'_>,
        keytab: &Keytab<'_>,
    ) -> Result<(), Krb5Error> {
        let mut options = ffi::VerifyOpt { flags: 0, ap_req_nofail: 0 };
        // SAFETY: valid pointers to live objects; ccache NULL = keep no credentials.
        let code = unsafe {
            ffi::krb5_verify_init_creds_opt_init(&mut options);
            ffi::krb5_verify_init_creds_opt_set_ap_req_nofail(&mut options, 1);
            ffi::krb5_verify_init_creds(
                self.raw,
                &mut *creds.raw,
                server.raw,
                keytab.raw,
                ptr::null_mut(),
                &mut options,
            )
        };
        self.check("krb5_verify_init_creds", code)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the context is live and every object made from it borrowed it, so is gone.
        unsafe { ffi::krb5_free_context(self.raw) };
    }
}

/// libkrb5's message for a code when no context exists (init failed).
fn context_free_message(code: ffi::ErrorCode) -> String {
    // SAFETY: libkrb5 documents a NULL context as allowed here.
    unsafe {
        let text = ffi::krb5_get_error_message(ptr::null_mut(), code);
        if text.is_null() {
            return format!("error {code}");
        }
        let owned = CStr::from_ptr(text).to_string_lossy().into_owned();
        ffi::krb5_free_error_message(ptr::null_mut(), text);
        owned
    }
}

/// A `krb5_principal`; freed on drop.
pub struct Principal<'c> {
    context: &'c Context,
    raw: ffi::Principal,
}

impl Principal<'_> {
    /// The principal as text (`name/instance@REALM`), for log lines.
    pub fn unparse(&self) -> String {
        let mut text: *mut libc::c_char = ptr::null_mut();
        // SAFETY: live context and principal; the text is freed with the matching call.
        unsafe {
            if ffi::krb5_unparse_name(self.context.raw, self.raw, &mut text) != 0 || text.is_null() {
                return "<unprintable principal>".into();
            }
            let owned = CStr::from_ptr(text).to_string_lossy().into_owned();
            ffi::krb5_free_unparsed_name(self.context.raw, text);
            owned
        }
    }

    /// Whether both principals are in the same realm (`krb5_realm_compare`).
    pub fn same_realm(&self, other: &Principal<'_>) -> bool {
        // SAFETY: live context and principals.
        unsafe { ffi::krb5_realm_compare(self.context.raw, self.raw, other.raw) != 0 }
    }
}

impl Drop for Principal<'_> {
    fn drop(&mut self) {
        // SAFETY: the principal came from libkrb5 and is freed once.
        unsafe { ffi::krb5_free_principal(self.context.raw, self.raw) };
    }
}

/// A `krb5_keytab` handle; closed on drop.
pub struct Keytab<'c> {
    context: &'c Context,
    raw: ffi::Keytab,
}

impl<'c> Keytab<'c> {
    /// The keytab's full name (`FILE:/etc/krb5.keytab`), for log lines.
    pub fn name(&self) -> String {
        let mut buf = [0 as libc::c_char; 1024];
        // SAFETY: live objects; libkrb5 writes at most `len` bytes including the NUL.
        let code = unsafe { ffi::krb5_kt_get_name(self.context.raw, self.raw, buf.as_mut_ptr(), 1024) };
        if code != 0 {
            return "<unnamed keytab>".into();
        }
        // SAFETY: on success the buffer holds a NUL-terminated string.
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
    }

    /// Read the keytab for a key of `server` (any version, any enctype), returning the entry's
    /// own principal: the realm-less name `krb5_sname_to_principal` may give matches an entry
    /// in any realm, and the entry says which. Fails when the file is missing, unreadable,
    /// corrupt, or holds no key for `server`.
    pub fn find(&self, server: &Principal<'_>) -> Result<Principal<'c>, Krb5Error> {
        // SAFETY: an all-zero entry is the empty value libkrb5 fills.
        let mut entry = unsafe { std::mem::zeroed::<ffi::KeytabEntry>() };
        // SAFETY: live objects; kvno 0 and enctype 0 mean "any".
        let code =
            unsafe { ffi::krb5_kt_get_entry(self.context.raw, self.raw, server.raw, 0, 0, &mut entry) };
        self.context.check("krb5_kt_get_entry", code)?;
        let mut copy = ptr::null_mut();
        // SAFETY: the entry's principal is valid until its contents are freed just below, and
        // the key in it is wiped by that call.
        let code = unsafe {
            let code = ffi::krb5_copy_principal(self.context.raw, entry.principal, &mut copy);
            ffi::krb5_free_keytab_entry_contents(self.context.raw, &mut entry);
            code
        };
        self.context.check("krb5_copy_principal", code)?;
        Ok(Principal { context: self.context, raw: copy })
    }
}

impl Drop for Keytab<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from libkrb5 and is closed once.
        unsafe { ffi::krb5_kt_close(self.context.raw, self.raw) };
    }
}

/// Initial credentials (a TGT and its session key); freed on drop, which wipes the key.
pub struct Creds<'c> {
    context: &'c Context,
    // Boxed: libkrb5 keeps no pointer into it, but a stable address costs nothing here.
    raw: Box<ffi::Creds>,
}

impl Drop for Creds<'_> {
    fn drop(&mut self) {
        // SAFETY: filled by a successful krb5_get_init_creds_password, freed once.
        unsafe { ffi::krb5_free_cred_contents(self.context.raw, &mut *self.raw) };
    }
}
