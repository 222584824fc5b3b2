//! Apache's `$apr1$` (htpasswd `-m`): MD5-crypt with a different magic string.
//!
//! Hand-written on the `md-5` crate because libxcrypt has no apr1 method and no maintained crate
//! does it (`pwhash` is stale and pulls a second generation of the RustCrypto crates, see
//! reference/crates.md §3). The algorithm is Poul-Henning Kamp's MD5-crypt, as in APR's
//! `apr_md5.c`; it is parameterised by the magic so the tests can check it against libxcrypt's
//! `$1$`.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::{Checked, HashError, ITOA64, Scheme};

/// The magic that starts an apr1 hash.
pub(super) const PREFIX: &str = "$apr1$";

/// MD5-crypt salts are at most 8 characters.
const MAX_SALT: usize = 8;

/// Length of the encoded 128-bit result.
const ENCODED_LEN: usize = 22;

/// Check `password` against `$apr1$salt$hash`.
pub(super) fn verify(password: &[u8], stored: &str) -> Result<Checked, HashError> {
    let malformed = || HashError::malformed(Scheme::Apr1);
    let body = stored.strip_prefix(PREFIX).ok_or_else(malformed)?;
    let (salt, hash) = body.split_once('$').ok_or_else(malformed)?;
    if salt.len() > MAX_SALT || hash.len() != ENCODED_LEN || !hash.bytes().all(|c| ITOA64.contains(&c)) {
        return Err(malformed());
    }
    let computed = md5_crypt(PREFIX.as_bytes(), password, salt.as_bytes());
    let matched: bool = computed.as_slice().ct_eq(hash.as_bytes()).into();
    Ok(Checked::new(matched, Scheme::Apr1))
}

/// MD5-crypt of `password` with `salt` under `magic`: the 22-character encoded digest.
fn md5_crypt(magic: &[u8], password: &[u8], salt: &[u8]) -> Zeroizing<[u8; ENCODED_LEN]> {
    let mut alt = Md5::new().chain_update(password).chain_update(salt).chain_update(password).finalize();

    let mut ctx = Md5::new().chain_update(password).chain_update(magic).chain_update(salt);
    for chunk in password.chunks(16) {
        ctx.update(&alt[..chunk.len()]);
    }
    // The original feeds a NUL for each set bit and the password's first byte for each clear
    // one (a historical bug kept for compatibility); `password[..1]` is empty if it is.
    let mut bits = password.len();
    while bits != 0 {
        ctx.update(if bits & 1 == 1 { &[0u8][..] } else { &password[..1] });
        bits >>= 1;
    }
    let mut fin = ctx.finalize();

    // 1000 rounds "to slow down crackers" (1994's notion of slow: this is why apr1 is weak).
    for i in 0..1000 {
        let mut round = Md5::new();
        if i & 1 == 1 {
            round.update(password);
        } else {
            round.update(fin);
        }
        if i % 3 != 0 {
            round.update(salt);
        }
        if i % 7 != 0 {
            round.update(password);
        }
        if i & 1 == 1 {
            round.update(fin);
        } else {
            round.update(password);
        }
        fin = round.finalize();
    }

    let mut out = Zeroizing::new([0u8; ENCODED_LEN]);
    let groups = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)];
    for (g, &(a, b, c)) in groups.iter().enumerate() {
        let v = u32::from(fin[a]) << 16 | u32::from(fin[b]) << 8 | u32::from(fin[c]);
        encode(&mut out[g * 4..g * 4 + 4], v);
    }
    encode(&mut out[20..22], u32::from(fin[11]));

    alt.as_mut_slice().zeroize();
    fin.as_mut_slice().zeroize();
    out
}

/// Write `v` into `out` as crypt(3) base-64, least significant six bits first.
fn encode(out: &mut [u8], mut v: u32) {
    for slot in out {
        *slot = ITOA64[(v & 0x3f) as usize];
        v >>= 6;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::fixtures::{APR1, MD5_CRYPT, PASSWORD, WRONG};
    use super::*;

    #[test]
    fn matches_openssl_apr1() {
        assert!(verify(PASSWORD, APR1).unwrap().matched);
        assert!(!verify(WRONG, APR1).unwrap().matched);
        // `openssl passwd -apr1 hunter2`-style short password and an empty one.
        assert!(!verify(b"", APR1).unwrap().matched);
    }

    #[test]
    fn same_algorithm_as_libxcrypt_md5_crypt() {
        // `$1$A5R8Eied$GJkh2KMtgkIFUtjkFMfTh1` from mkpasswd: recompute it with magic `$1$`.
        let (salt, hash) = MD5_CRYPT["$1$".len()..].split_once('$').unwrap();
        let got = md5_crypt(b"$1$", PASSWORD, salt.as_bytes());
        assert_eq!(&got[..], hash.as_bytes());
    }

    #[test]
    fn malformed_shapes() {
        for stored in [
            "$apr1$",
            "$apr1$abc",
            "$apr1$abcdefghi$.uW3r8dTkygf0CmPdulP61",
            "$apr1$ab$short",
            "$apr1$ab$.uW3r8dTkygf0CmPdulP6!",
        ] {
            assert!(matches!(verify(PASSWORD, stored), Err(HashError::Malformed { .. })), "{stored}");
        }
    }
}
