//! Password-hash schemes shared by passwd-file, shadow, LDAP `custom` and SQL: types and dispatch.
//!
//! Mechanisms call [`check_stored`] (one value) or [`check_candidates`] (several values of one
//! account): they read the value in the source's [`Form`] and log weak and unusable values
//! under one policy.
//!
//! [`verify_password`] takes a stored value in any of the forms those sources hold and routes it:
//!
//! * empty, `!…` or `*…` → [`Scheme::Locked`], never a match (shadow(5) locking conventions);
//! * `{SCHEME}body` (LDAP `userPassword`, Dovecot) → `braced`;
//! * `$argon2id$…`/`$argon2i$…`/`$argon2d$…` → `argon`;
//! * `$apr1$…` (Apache htpasswd) → `apr1`;
//! * every other crypt(3) string (`$y$ $gy$ $7$ $2b$ $6$ $5$ $1$ …`, DES) → the system libxcrypt
//!   through `crypt`.
//!
//! A value without a prefix is never taken as plaintext here, because passwd-file and shadow
//! values are crypt(3) strings; a backend whose unprefixed values are plaintext (Cyrus's LDAP
//! `custom`) calls [`verify_plain`] itself.

mod apr1;
mod argon;
mod braced;
mod check;
mod cost;
mod crypt;
mod crypt_cost;
mod digest;
pub mod memo;
mod plain;

#[cfg(test)]
pub(crate) mod fixtures;

pub use check::{Form, Origin, Verdict, check_candidates, check_stored};

/// Longest stored value accepted. The longest real scheme (`{SSHA512}` with a 64-byte salt, or a
/// sha512-crypt string with `rounds=` and a 16-char salt) stays far below; anything bigger is
/// refused before it reaches a parser or libxcrypt.
pub const MAX_STORED_LEN: usize = 1024;

pub use cost::{MAX_MEMORY_BYTES, MAX_MILLIS};

/// The 64 characters of crypt(3)'s base-64 alphabet, in order: shared by the crypt(3) format
/// check, the cost parser and `$apr1$`, so it lives above them.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The scheme a stored hash uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// A locked (`!`, `*`) or empty stored value: never matches.
    Locked,
    /// Cleartext (`{PLAIN}`, `{CLEARTEXT}`, `{CLEAR}`).
    Plain,
    /// Traditional 13-character DES crypt.
    DesCrypt,
    /// bigcrypt: DES crypt extended to long passwords (`ab…`, 2 + 11·n characters).
    BigCrypt,
    /// BSDi extended DES crypt (`_…`).
    BsdiCrypt,
    /// MD5-crypt (`$1$`).
    Md5Crypt,
    /// Apache's MD5-crypt variant (`$apr1$`).
    Apr1,
    /// Sun MD5 crypt (`$md5$`, `$md5,rounds=N$`).
    SunMd5,
    /// NetBSD sha1crypt (`$sha1$`).
    Sha1Crypt,
    /// SHA-256 crypt (`$5$`).
    Sha256Crypt,
    /// SHA-512 crypt (`$6$`).
    Sha512Crypt,
    /// bcrypt (`$2b$`, `$2y$`, `$2a$`, `$2x$`).
    Bcrypt,
    /// scrypt (`$7$`).
    Scrypt,
    /// yescrypt (`$y$`), the Debian 12 default.
    Yescrypt,
    /// GOST R 34.11-2012 over yescrypt (`$gy$`).
    GostYescrypt,
    /// NT hash, unsalted MD4 (`$3$`).
    NtHash,
    /// Argon2i (PHC string `$argon2i$`).
    Argon2i,
    /// Argon2d (PHC string `$argon2d$`).
    Argon2d,
    /// Argon2id (PHC string `$argon2id$`).
    Argon2id,
    /// Unsalted MD5 (`{MD5}`, `{LDAP-MD5}`, `{PLAIN-MD5}`).
    Md5,
    /// Salted MD5 (`{SMD5}`).
    Smd5,
    /// Unsalted SHA-1 (`{SHA}`, `{SHA1}`; htpasswd `-s`).
    Sha,
    /// Salted SHA-1 (`{SSHA}`).
    Ssha,
    /// Unsalted SHA-256 (`{SHA256}`).
    Sha256,
    /// Salted SHA-256 (`{SSHA256}`).
    Ssha256,
    /// Unsalted SHA-512 (`{SHA512}`).
    Sha512,
    /// Salted SHA-512 (`{SSHA512}`).
    Ssha512,
}

impl Scheme {
    /// Short name for logs (`yescrypt`, `sha512-crypt`, `ssha`, `plain`, …).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Locked => "locked",
            Scheme::Plain => "plain",
            Scheme::DesCrypt => "des-crypt",
            Scheme::BigCrypt => "bigcrypt",
            Scheme::BsdiCrypt => "bsdi-crypt",
            Scheme::Md5Crypt => "md5-crypt",
            Scheme::Apr1 => "apr1",
            Scheme::SunMd5 => "sun-md5",
            Scheme::Sha1Crypt => "sha1-crypt",
            Scheme::Sha256Crypt => "sha256-crypt",
            Scheme::Sha512Crypt => "sha512-crypt",
            Scheme::Bcrypt => "bcrypt",
            Scheme::Scrypt => "scrypt",
            Scheme::Yescrypt => "yescrypt",
            Scheme::GostYescrypt => "gost-yescrypt",
            Scheme::NtHash => "nt-hash",
            Scheme::Argon2i => "argon2i",
            Scheme::Argon2d => "argon2d",
            Scheme::Argon2id => "argon2id",
            Scheme::Md5 => "md5",
            Scheme::Smd5 => "smd5",
            Scheme::Sha => "sha",
            Scheme::Ssha => "ssha",
            Scheme::Sha256 => "sha256",
            Scheme::Ssha256 => "ssha256",
            Scheme::Sha512 => "sha512",
            Scheme::Ssha512 => "ssha512",
        }
    }

    /// Whether the scheme is weak (plain, DES, `$1$`, unsalted digests) and deserves a warning.
    ///
    /// The crypt(3) ones are those libxcrypt's crypt(5) does not list as strong; the `{…}` ones
    /// are the unsalted digests plus salted MD5, all a single fast hash.
    pub fn is_weak(self) -> bool {
        matches!(
            self,
            Scheme::Plain
                | Scheme::DesCrypt
                | Scheme::BigCrypt
                | Scheme::BsdiCrypt
                | Scheme::Md5Crypt
                | Scheme::Apr1
                | Scheme::SunMd5
                | Scheme::Sha1Crypt
                | Scheme::NtHash
                | Scheme::Md5
                | Scheme::Smd5
                | Scheme::Sha
                | Scheme::Sha256
                | Scheme::Sha512
        )
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Whether the password matches.
    pub matched: bool,
    /// The scheme of the stored hash.
    pub scheme: Scheme,
}

impl Checked {
    /// A check that ran and compared `matched`.
    fn new(matched: bool, scheme: Scheme) -> Self {
        Checked { matched, scheme }
    }

    /// The answer for a locked or empty stored value.
    fn locked() -> Self {
        Checked::new(false, Scheme::Locked)
    }
}

/// A stored hash that cannot be used.
///
/// Neither variant ever carries the stored value itself (it may be a cleartext password written
/// without a prefix); at most the scheme's name or `{…}` prefix.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The hash names a known scheme but its body does not parse (or exceeds
    /// [`MAX_STORED_LEN`]).
    #[error("malformed {scheme} hash")]
    Malformed {
        /// Scheme name.
        scheme: &'static str,
    },
    /// The scheme is not supported by this build or by the system's libxcrypt.
    #[error("unsupported hash scheme {0:?}")]
    Unsupported(String),
    /// The hash's own cost parameters ask for more than [`MAX_MILLIS`] of CPU or
    /// [`MAX_MEMORY_BYTES`] of memory (estimated by the `cost` model): refused unhashed, so
    /// that one stored value cannot pin a pool thread or allocate gigabytes on every attempt.
    #[error(
        "{scheme} hash too costly to compute: about {millis} ms and {mebibytes} MiB (bounds {} ms, {} MiB)",
        MAX_MILLIS,
        MAX_MEMORY_BYTES >> 20
    )]
    TooCostly {
        /// Scheme name.
        scheme: &'static str,
        /// Estimated CPU time on the project machine, milliseconds.
        millis: u64,
        /// Peak memory, MiB.
        mebibytes: u64,
    },
}

impl HashError {
    /// A malformed hash of `scheme`.
    fn malformed(scheme: Scheme) -> Self {
        HashError::Malformed { scheme: scheme.name() }
    }
}

/// Check `password` against `stored`. CPU-heavy: call it from the blocking pool.
///
/// Never panics, whatever the inputs. A locked or empty `stored` is `Ok` with
/// [`Scheme::Locked`] and `matched: false`.
pub fn verify_password(password: &[u8], stored: &str) -> Result<Checked, HashError> {
    if stored.len() > MAX_STORED_LEN {
        return Err(HashError::Malformed { scheme: "oversized" });
    }
    if stored.starts_with('{') {
        return braced::verify(password, stored);
    }
    verify_crypt_like(password, stored)
}

/// Check `password` against a cleartext `stored` in constant time (for backends whose
/// unprefixed values are cleartext). An empty `stored` is [`Scheme::Locked`].
pub fn verify_plain(password: &[u8], stored: &[u8]) -> Checked {
    if stored.is_empty() {
        return Checked::locked();
    }
    Checked::new(plain::matches(password, stored), Scheme::Plain)
}

/// Whether `stored` is a locked or empty crypt-style value: `!` prefixes a locked hash
/// (`passwd -l`, `!!` for "never set"), `*` and `*LK*`/`*NP*` mark accounts without a password.
fn is_locked(stored: &str) -> bool {
    stored.is_empty() || stored.starts_with('!') || stored.starts_with('*')
}

/// Check a crypt(3)-style string (also the body of `{CRYPT}` and its Dovecot aliases).
fn verify_crypt_like(password: &[u8], stored: &str) -> Result<Checked, HashError> {
    if is_locked(stored) {
        Ok(Checked::locked())
    } else if stored.starts_with("$argon2") {
        argon::verify(password, stored)
    } else if stored.starts_with(apr1::PREFIX) {
        apr1::verify(password, stored)
    } else {
        crypt::verify(password, stored)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::fixtures::{PASSWORD, WRONG};
    use super::*;
    use proptest::prelude::*;

    fn check(stored: &str) -> (Checked, Checked) {
        (verify_password(PASSWORD, stored).unwrap(), verify_password(WRONG, stored).unwrap())
    }

    #[test]
    fn locked_and_empty_values_never_match() {
        for stored in ["", "!", "!!", "*", "*LK*", "*NP*", "!$6$abc$def", "!*", "{CRYPT}!$y$j9T$x$y"] {
            for pw in [PASSWORD, WRONG, b"", b"!", b"*"] {
                let got = verify_password(pw, stored).unwrap();
                assert_eq!(got, Checked { matched: false, scheme: Scheme::Locked }, "{stored:?}");
            }
        }
        // A locked real hash stays locked even with the right password.
        let locked = format!("!{}", super::fixtures::YESCRYPT);
        assert_eq!(verify_password(PASSWORD, &locked).unwrap().scheme, Scheme::Locked);
    }

    #[test]
    fn oversized_stored_value_is_malformed() {
        let stored = format!("{{SSHA}}{}", "A".repeat(MAX_STORED_LEN));
        assert!(matches!(verify_password(PASSWORD, &stored), Err(HashError::Malformed { .. })));
    }

    #[test]
    fn unknown_formats_are_unsupported_and_do_not_echo_the_value() {
        for stored in ["x", "NP", "hunter2", "$9$abc$def", "$$", "$"] {
            match verify_password(PASSWORD, stored) {
                Err(HashError::Unsupported(msg)) => assert!(!msg.contains(stored) || stored.len() < 3),
                other => panic!("{stored:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn verify_plain_is_exact_and_empty_is_locked() {
        assert!(verify_plain(PASSWORD, PASSWORD).matched);
        assert!(!verify_plain(WRONG, PASSWORD).matched);
        assert!(!verify_plain(b"p", PASSWORD).matched);
        assert_eq!(verify_plain(b"", b""), Checked { matched: false, scheme: Scheme::Locked });
    }

    #[test]
    fn weak_schemes() {
        for s in [Scheme::Plain, Scheme::DesCrypt, Scheme::Md5Crypt, Scheme::Apr1, Scheme::Sha, Scheme::Md5] {
            assert!(s.is_weak(), "{s}");
        }
        for s in [Scheme::Yescrypt, Scheme::Sha512Crypt, Scheme::Bcrypt, Scheme::Argon2id, Scheme::Ssha512] {
            assert!(!s.is_weak(), "{s}");
        }
        assert!(!Scheme::Locked.is_weak());
    }

    #[test]
    fn every_fixture_matches_only_the_right_password() {
        for &(stored, scheme) in super::fixtures::ALL.iter().chain(super::fixtures::FAST) {
            let (right, wrong) = check(stored);
            assert_eq!(right, Checked { matched: true, scheme }, "{stored}");
            assert_eq!(wrong, Checked { matched: false, scheme }, "{stored}");
        }
    }

    #[test]
    fn a_last_character_difference_is_caught_by_all_but_des() {
        let last_wrong = "päss \"w\\re".as_bytes();
        for &(stored, scheme) in super::fixtures::ALL.iter().chain(super::fixtures::FAST) {
            if scheme != Scheme::DesCrypt {
                assert!(!verify_password(last_wrong, stored).unwrap().matched, "{stored}");
            }
        }
    }

    fn stored_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "\\PC{0,80}",
            "\\PC{1000,1100}",
            "\\{[A-Za-z0-9.-]{0,14}\\}[A-Za-z0-9+/=$.]{0,120}",
            "\\{[A-Za-z0-9.-]{0,14}\\}\\PC{0,40}",
            "\\$(y|gy|7|6|5|1|2b|2y|2a|apr1|sha1|md5|3|argon2id|argon2i|x)\\$[./0-9A-Za-z$=,]{0,80}",
            "\\$argon2(id|i|d)\\$v=[0-9]{1,3}\\$m=[0-9]{1,5},t=[0-9]{1,2},p=[0-9]{1,2}\\$[A-Za-z0-9+/]{0,30}\\$[A-Za-z0-9+/]{0,50}",
            "[./0-9A-Za-z]{13}",
            "_[./0-9A-Za-z]{0,30}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn never_panics(stored in stored_strategy(), password in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = verify_password(&password, &stored);
        }

    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn wrong_password_never_matches_a_fixture(password in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assume!(password != PASSWORD);
            for &(stored, _) in super::fixtures::FAST {
                prop_assert!(!verify_password(&password, stored).unwrap().matched, "{}", stored);
            }
        }
    }
}
