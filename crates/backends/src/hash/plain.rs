//! Cleartext stored passwords (`{PLAIN}`, `{CLEARTEXT}`), compared without leaking timing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether `password` equals `stored`, in time independent of where they differ and of the
/// stored length: both sides are hashed first, since `subtle` slice equality returns early on a
/// length mismatch and would reveal how long the stored password is.
pub(super) fn matches(password: &[u8], stored: &[u8]) -> bool {
    let mut a = Sha256::digest(password);
    let mut b = Sha256::digest(stored);
    let equal: bool = a.as_slice().ct_eq(b.as_slice()).into();
    zeroize::Zeroize::zeroize(a.as_mut_slice());
    zeroize::Zeroize::zeroize(b.as_mut_slice());
    equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes_only() {
        assert!(matches(b"p\xffss", b"p\xffss"));
        assert!(!matches(b"pass", b"pass "));
        assert!(!matches(b"", b"x"));
        assert!(matches(b"", b""));
    }
}
