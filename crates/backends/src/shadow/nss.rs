//! Looking a login up through NSS: `getpwnam_r`, then `getspnam_r` (/etc/shadow, or any NSS
//! shadow source nsswitch.conf names).

use super::ShadowEntry;
use super::expiry::Aging;
use std::ffi::{CStr, CString, c_char, c_long};
use std::io;
use zeroize::Zeroizing;

/// First buffer for `getspnam_r`; a shadow line is rarely above a few hundred bytes.
const FIRST_BUFFER: usize = 1024;
/// Largest buffer tried before giving up (as nix does for `getpwnam_r`): an entry this big is
/// broken, not legitimate.
const MAX_BUFFER: usize = 1 << 20;

/// Whether `login` has a passwd entry. `Err` when NSS could not answer.
pub(super) fn passwd_exists(login: &str) -> io::Result<bool> {
    match nix::unistd::User::from_name(login) {
        Ok(user) => Ok(user.is_some()),
        Err(errno) if is_not_found(errno as i32) => Ok(false),
        Err(errno) => Err(io::Error::from(errno)),
    }
}

/// The shadow entry of `login`, `None` if there is none. `Err` when NSS could not answer
/// (e.g. `EACCES` when the daemon cannot read /etc/shadow).
pub(super) fn shadow_entry(login: &str) -> io::Result<Option<ShadowEntry>> {
    // A login with a NUL names nobody (the C lookup would see only its prefix).
    let Ok(name) = CString::new(login) else { return Ok(None) };
    // The buffer receives the hash: zeroed on every drop, including the ERANGE retries.
    let mut buf = Zeroizing::new(vec![0u8; FIRST_BUFFER]);
    loop {
        // SAFETY: all-zero is a valid `spwd` (null pointers, zero numbers); it is only read
        // after getspnam_r filled it.
        let mut entry: libc::spwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::spwd = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `entry`, `buf` (of `buf.len()` bytes) and `found`
        // are live and writable for the whole call.
        let rc = unsafe {
            libc::getspnam_r(
                name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr().cast::<c_char>(),
                buf.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            // SAFETY: on success `entry` points into `buf`, which is still alive and unchanged.
            0 => return Ok(Some(unsafe { copy_entry(&entry) })),
            libc::ERANGE if buf.len() < MAX_BUFFER => buf = Zeroizing::new(vec![0u8; buf.len() * 2]),
            rc if is_not_found(rc) => return Ok(None),
            rc => return Err(io::Error::from_raw_os_error(rc)),
        }
    }
}

/// POSIX lets the `get*nam_r` functions report "no such entry" as ENOENT or ESRCH instead of 0
/// with a NULL result (getpwnam_r(3) ERRORS); glibc's files backend uses the latter.
fn is_not_found(code: i32) -> bool {
    code == libc::ENOENT || code == libc::ESRCH
}

/// Copy what the checks need out of a filled `spwd`.
///
/// # Safety
/// `entry` must have been filled by a successful `getspnam_r` whose buffer is still alive.
unsafe fn copy_entry(entry: &libc::spwd) -> ShadowEntry {
    let hash = if entry.sp_pwdp.is_null() {
        Zeroizing::new(Vec::new())
    } else {
        // SAFETY: non-null `sp_pwdp` is a NUL-terminated string inside the live buffer.
        Zeroizing::new(unsafe { CStr::from_ptr(entry.sp_pwdp) }.to_bytes().to_vec())
    };
    // c_long is i32 on 32-bit targets, where this conversion is not a no-op.
    #[allow(clippy::useless_conversion)]
    let days = |v: c_long| (v != -1).then_some(i64::from(v));
    ShadowEntry {
        hash,
        aging: Aging {
            last_change: days(entry.sp_lstchg),
            max_age: days(entry.sp_max),
            expire: days(entry.sp_expire),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn root_has_passwd_and_unknown_users_have_neither() {
        assert!(passwd_exists("root").unwrap());
        assert!(!passwd_exists("no-such-user-saslauthd-rs").unwrap());
        assert!(!passwd_exists("nul\0login").unwrap());
        assert!(shadow_entry("no-such-user-saslauthd-rs").unwrap().is_none());
        assert!(shadow_entry("nul\0login").unwrap().is_none());
    }

    #[test]
    fn root_has_a_shadow_entry_when_we_may_read_shadow() {
        // The tests run as root here. Unprivileged, root may still come from nss-systemd's
        // synthesized entry, or the files module's EACCES comes back as an error.
        match shadow_entry("root") {
            Ok(entry) => assert!(entry.is_some()),
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}"),
        }
    }
}
