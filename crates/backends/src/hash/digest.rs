//! LDAP/Dovecot digest schemes: `{SHA}`, `{SSHA}`, `{SHA256}`, `{SSHA256}`, `{SHA512}`,
//! `{SSHA512}`, `{MD5}`, `{SMD5}`.
//!
//! The decoded value is `digest(password ‖ salt) ‖ salt` for the salted ones (OpenLDAP's
//! slapd-pw-sha2 and `slappasswd`, Dovecot) and the bare digest for the others.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::Scheme;

/// A digest scheme: which hash, and whether a salt follows the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DigestScheme {
    /// The hash function.
    pub algorithm: Algorithm,
    /// Whether the decoded value carries a salt after the digest.
    pub salted: bool,
}

/// The hash functions behind the digest schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Algorithm {
    /// MD5.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// Digest length in bytes.
    pub(super) fn len(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

impl DigestScheme {
    /// The [`Scheme`] this reports as.
    pub(super) fn scheme(self) -> Scheme {
        match (self.algorithm, self.salted) {
            (Algorithm::Md5, false) => Scheme::Md5,
            (Algorithm::Md5, true) => Scheme::Smd5,
            (Algorithm::Sha1, false) => Scheme::Sha,
            (Algorithm::Sha1, true) => Scheme::Ssha,
            (Algorithm::Sha256, false) => Scheme::Sha256,
            (Algorithm::Sha256, true) => Scheme::Ssha256,
            (Algorithm::Sha512, false) => Scheme::Sha512,
            (Algorithm::Sha512, true) => Scheme::Ssha512,
        }
    }

    /// Whether `decoded` has a valid length for this scheme (salted: digest plus at least one
    /// byte of salt).
    pub(super) fn fits(self, decoded: &[u8]) -> bool {
        let n = self.algorithm.len();
        if self.salted { decoded.len() > n } else { decoded.len() == n }
    }

    /// Whether `password` matches the decoded stored value. `None` if its length is wrong.
    pub(super) fn matches(self, password: &[u8], decoded: &[u8]) -> Option<bool> {
        if !self.fits(decoded) {
            return None;
        }
        let (expected, salt) = decoded.split_at(self.algorithm.len());
        Some(match self.algorithm {
            Algorithm::Md5 => compare::<Md5>(password, salt, expected),
            Algorithm::Sha1 => compare::<Sha1>(password, salt, expected),
            Algorithm::Sha256 => compare::<Sha256>(password, salt, expected),
            Algorithm::Sha512 => compare::<Sha512>(password, salt, expected),
        })
    }
}

/// `D(password ‖ salt) == expected`, in constant time.
fn compare<D: Digest>(password: &[u8], salt: &[u8], expected: &[u8]) -> bool {
    let mut computed = D::new().chain_update(password).chain_update(salt).finalize();
    let equal: bool = computed.as_slice().ct_eq(expected).into();
    computed.as_mut_slice().zeroize();
    equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_needs_a_salt_and_unsalted_an_exact_length() {
        let ssha = DigestScheme { algorithm: Algorithm::Sha1, salted: true };
        assert_eq!(ssha.matches(b"x", &[0; 20]), None);
        assert_eq!(ssha.matches(b"x", &[0; 21]), Some(false));
        let sha = DigestScheme { algorithm: Algorithm::Sha1, salted: false };
        assert_eq!(sha.matches(b"x", &[0; 21]), None);
        assert_eq!(sha.matches(b"x", &[0; 19]), None);
    }

    #[test]
    fn hashes_password_then_salt() {
        // sha1("abc" ‖ "de") == sha1("abcde").
        let mut decoded = Sha1::digest(b"abcde").to_vec();
        decoded.extend_from_slice(b"de");
        let ssha = DigestScheme { algorithm: Algorithm::Sha1, salted: true };
        assert_eq!(ssha.matches(b"abc", &decoded), Some(true));
        assert_eq!(ssha.matches(b"abcd", &decoded), Some(false));
    }
}
