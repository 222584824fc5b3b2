//! crypt(3) strings checked by the system libxcrypt through a hand-written `crypt_rn` FFI.
//!
//! Why hand FFI rather than the `xcrypt` crate (reference/crates.md §3): `xcrypt-sys` needs
//! bindgen and libclang at build time, returns libxcrypt's `*0` failure token as `Ok`, and leaves
//! the `crypt_data` scratch (which holds password-derived state) unzeroed. One `extern` block over
//! `crypt_rn` needs only `libcrypt-dev`, and checks exactly the formats `/etc/shadow` can hold.

use std::ffi::{CStr, CString, c_char, c_int, c_void};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Checked, HashError, ITOA64, Scheme, crypt_cost};

#[link(name = "crypt")]
unsafe extern "C" {
    /// libxcrypt: hash `phrase` with `setting` into caller-provided scratch `data` of `size`
    /// bytes; returns a pointer into `data` or NULL on failure (never the `*0` token).
    fn crypt_rn(phrase: *const c_char, setting: *const c_char, data: *mut c_void, size: c_int)
    -> *mut c_char;
}

/// `sizeof(struct crypt_data)` in libxcrypt 4.4 (checked with gcc on Debian 12); `crypt_rn`
/// refuses a smaller buffer.
const CRYPT_DATA_SIZE: usize = 32768;

/// libxcrypt's `CRYPT_MAX_PASSPHRASE_SIZE`: it refuses (ERANGE) phrases of this length or more,
/// so no stored crypt hash can come from one.
const CRYPT_MAX_PASSPHRASE_SIZE: usize = 512;

/// Check `password` against the crypt(3) string `stored` (not locked, not empty).
pub(super) fn verify(password: &[u8], stored: &str) -> Result<Checked, HashError> {
    let scheme = detect(stored).ok_or_else(|| {
        HashError::Unsupported(if stored.starts_with('$') {
            "unknown $-prefixed crypt method".to_owned()
        } else {
            "unrecognised stored password format".to_owned()
        })
    })?;
    crypt_cost::check(scheme, stored)?;
    let setting = CString::new(stored).map_err(|_| HashError::malformed(scheme))?;

    // crypt(3) takes a C string, so a hash can only ever have been made from a NUL-free phrase,
    // and handing libxcrypt the part before a NUL would accept a password the user never typed.
    // Too long a phrase is likewise one libxcrypt could never have hashed.
    if password.contains(&0) || password.len() >= CRYPT_MAX_PASSPHRASE_SIZE {
        return Ok(Checked::new(false, scheme));
    }
    let mut phrase = Zeroizing::new(Vec::with_capacity(password.len() + 1));
    phrase.extend_from_slice(password);
    phrase.push(0);

    // u128 elements give the scratch 16-byte alignment, whatever libxcrypt lays over it.
    let mut data = Zeroizing::new(vec![0u128; CRYPT_DATA_SIZE / size_of::<u128>()]);
    // SAFETY: `phrase` and `setting` are NUL-terminated and outlive the call; `data` is a live,
    // writable, zeroed allocation of exactly CRYPT_DATA_SIZE bytes, which fits in a c_int.
    let out = unsafe {
        crypt_rn(phrase.as_ptr().cast(), setting.as_ptr(), data.as_mut_ptr().cast(), CRYPT_DATA_SIZE as c_int)
    };
    if out.is_null() {
        // Length and NUL were ruled out above, so libxcrypt rejected the setting itself.
        return Err(HashError::malformed(scheme));
    }
    // SAFETY: non-NULL `out` points at the NUL-terminated result inside `data`, still alive.
    let computed = unsafe { CStr::from_ptr(out) }.to_bytes();
    // Older libcrypts signal failure with a `*` token; libxcrypt's crypt_rn should not, but a
    // token never equals a hash we got this far with, so treat it as failure, not mismatch.
    if computed.first() == Some(&b'*') {
        return Err(HashError::malformed(scheme));
    }
    // A setting's output has a fixed length (bigcrypt's alone grows with the password), so a
    // length difference means `stored` was truncated or padded (a bare `$6$salt$` setting, a
    // cut-off copy), which would otherwise just never match, silently.
    if computed.len() != stored.len() && scheme != Scheme::BigCrypt {
        return Err(HashError::malformed(scheme));
    }
    let matched: bool = computed.ct_eq(stored.as_bytes()).into();
    Ok(Checked::new(matched, scheme))
}

/// The crypt(3) method `stored` names, from libxcrypt's list of prefixes (crypt(5)).
fn detect(stored: &str) -> Option<Scheme> {
    let s = stored.as_bytes();
    let prefixed = |p: &str| stored.starts_with(p);
    if prefixed("$y$") {
        Some(Scheme::Yescrypt)
    } else if prefixed("$gy$") {
        Some(Scheme::GostYescrypt)
    } else if prefixed("$7$") {
        Some(Scheme::Scrypt)
    } else if prefixed("$2a$") || prefixed("$2b$") || prefixed("$2x$") || prefixed("$2y$") {
        Some(Scheme::Bcrypt)
    } else if prefixed("$6$") {
        Some(Scheme::Sha512Crypt)
    } else if prefixed("$5$") {
        Some(Scheme::Sha256Crypt)
    } else if prefixed("$sha1$") {
        Some(Scheme::Sha1Crypt)
    } else if prefixed("$md5$") || prefixed("$md5,") {
        Some(Scheme::SunMd5)
    } else if prefixed("$1$") {
        Some(Scheme::Md5Crypt)
    } else if prefixed("$3$") {
        Some(Scheme::NtHash)
    } else if s.first() == Some(&b'_') {
        Some(Scheme::BsdiCrypt)
    } else if !s.iter().all(|c| ITOA64.contains(c)) {
        None
    } else if s.len() == 13 {
        Some(Scheme::DesCrypt)
    } else if s.len() > 13 && (s.len() - 2).is_multiple_of(11) {
        Some(Scheme::BigCrypt)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, Instant};

    use super::super::fixtures::{PASSWORD, SHA512_CRYPT, WRONG, YESCRYPT};
    use super::*;

    #[test]
    fn yescrypt_from_libxcrypt_verifies_well_under_a_second() {
        let start = Instant::now();
        let got = verify(PASSWORD, YESCRYPT).unwrap();
        let took = start.elapsed();
        assert_eq!(got, Checked::new(true, Scheme::Yescrypt));
        assert!(took < Duration::from_millis(500), "took {took:?}");
    }

    #[test]
    fn password_with_nul_never_matches() {
        let mut pw = PASSWORD.to_vec();
        pw.push(0);
        pw.extend_from_slice(b"tail");
        assert_eq!(verify(&pw, SHA512_CRYPT).unwrap(), Checked::new(false, Scheme::Sha512Crypt));
        // The part before the NUL is the real password: still no match.
        let des = "Pztt1b690WDvU";
        assert!(verify(PASSWORD, des).unwrap().matched);
        assert!(!verify(&[PASSWORD, b"\0x"].concat(), des).unwrap().matched);
    }

    #[test]
    fn overlong_password_is_a_mismatch_not_an_error() {
        let long = vec![b'a'; 4096];
        assert_eq!(verify(&long, SHA512_CRYPT).unwrap(), Checked::new(false, Scheme::Sha512Crypt));
        assert!(!verify(WRONG, SHA512_CRYPT).unwrap().matched);
    }

    #[test]
    fn truncated_or_garbled_hashes_are_malformed() {
        for stored in [
            "$6$",
            "$6$salt$",
            "$6$salt$short",
            "$y$j9T$",
            "$y$$$",
            "$2b$05$short",
            "$7$",
            "$1$a$b$c",
            "$gy$",
            "_J9..",
        ] {
            assert!(
                matches!(verify(PASSWORD, stored), Err(HashError::Malformed { .. })),
                "{stored}: {:?}",
                verify(PASSWORD, stored)
            );
        }
    }

    #[test]
    fn detects_every_libxcrypt_prefix() {
        assert_eq!(
            detect("$2x$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"),
            Some(Scheme::Bcrypt)
        );
        assert_eq!(detect("$md5$abc$$kdHOzWryR1yllNTXdT6hs/"), Some(Scheme::SunMd5));
        assert_eq!(detect("ab"), None);
        assert_eq!(detect("x"), None);
        assert_eq!(detect("päss wörd 13c"), None);
    }
}
