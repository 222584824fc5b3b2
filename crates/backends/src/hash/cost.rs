//! One cost model for every stored-hash scheme: the CPU time and peak memory one check would
//! take, estimated from the stored value's own parameters before anything is computed.
//!
//! A stored hash chooses its own cost, and LDAP or SQL users can often write their own
//! `userPassword`: one `$6$rounds=999999999$`, `$7$` with a huge `p` or `$y$` with a huge `t`
//! would pin a pool thread for minutes (or allocate gigabytes) on every login attempt, and with
//! `-n 1` hold every other user behind it. A check the daemon will not finish is no better than
//! one it refuses, so a value over either bound is refused at once.
//!
//! The rates are per unit of each scheme's own work (a sha-crypt round, 2^cost bcrypt
//! iterations, a byte of scrypt/yescrypt/Argon2 mixing), measured on the project machine (2
//! cores, x86-64, libxcrypt 4.4.33, the `argon2` crate at opt-level 2) relative to sha512-crypt;
//! a faster CPU only makes the estimates pessimistic. `calibrate` (an ignored test) prints the
//! model beside real timings. PBKDF2 is not listed: no mechanism accepts a PBKDF2 value
//! (`{PBKDF2}` is an unsupported scheme), so there is nothing to bound.

use super::{HashError, Scheme};

/// Longest estimated CPU time accepted for one check: 2 s on the project machine. Defaults sit
/// far below (yescrypt `j9T` ≈ 40 ms, bcrypt 12 ≈ 0.3 s, sha512-crypt 5000 rounds ≈ 2 ms); the
/// largest settings it still allows are about 5 000 000 sha512-crypt rounds or bcrypt cost 14.
pub const MAX_MILLIS: u64 = 2_000;

/// Most memory one check may ask for (yescrypt, scrypt, Argon2): 1 GiB.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;

/// Picoseconds per unit of work on the project machine, one constant per kind of unit.
pub(super) mod rate {
    /// One sha512-crypt round (5 000 000 rounds ≈ 2 s).
    pub const SHA512_ROUND: u64 = 400_000;
    /// One sha256-crypt round (slower than sha512's on 64-bit CPUs).
    pub const SHA256_ROUND: u64 = 530_000;
    /// One sha1crypt round (an HMAC-SHA1 of the previous result).
    pub const SHA1_ROUND: u64 = 1_200_000;
    /// One Sun MD5 round (including its coin-flip muddling).
    pub const SUN_MD5_ROUND: u64 = 2_000_000;
    /// One BSDi DES iteration.
    pub const BSDI_ROUND: u64 = 200_000;
    /// One of bcrypt's 2^cost expensive key-schedule iterations.
    pub const BCRYPT_ITERATION: u64 = 80_000_000;
    /// One byte of classic scrypt mixing (Salsa20/8 BlockMix), SMix1 and SMix2 alike.
    pub const SCRYPT_BYTE: u64 = 1_750;
    /// One byte of yescrypt's first pass, which fills V (pwxform BlockMix and writes).
    pub const YESCRYPT_FILL_BYTE: u64 = 2_000;
    /// One byte of yescrypt's later passes over V (the ones `t` adds).
    pub const YESCRYPT_MIX_BYTE: u64 = 1_150;
    /// One byte of Argon2 memory filled, per pass.
    pub const ARGON2_BYTE: u64 = 1_300;
    /// One byte of Argon2 memory allocated and first touched (page faults dominate at t = 1).
    pub const ARGON2_ALLOC_BYTE: u64 = 1_600;
}

/// Memory of schemes that need only a few kilobytes (sha-crypt contexts, bcrypt's S-boxes).
const SMALL_MEMORY: u64 = 8 << 10;

/// What one check of a stored value would cost: CPU time on the project machine and peak memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cost {
    /// Estimated CPU time, picoseconds (saturating: `u64::MAX` stands for "absurd").
    picos: u64,
    /// Peak memory, bytes (saturating likewise).
    bytes: u64,
}

impl Cost {
    /// `units` of work at `rate` picoseconds each, using `bytes` of memory.
    pub(super) fn new(units: u64, rate: u64, bytes: u64) -> Self {
        Cost { picos: units.saturating_mul(rate), bytes }
    }

    /// `units` of work at `rate` with only a few kilobytes of memory.
    pub(super) fn cpu(units: u64, rate: u64) -> Self {
        Cost::new(units, rate, SMALL_MEMORY)
    }

    /// Both costs, one after the other (time adds up; memory is the larger of the two).
    pub(super) fn then(self, other: Cost) -> Self {
        Cost { picos: self.picos.saturating_add(other.picos), bytes: self.bytes.max(other.bytes) }
    }

    /// Estimated time, whole milliseconds.
    pub(super) fn millis(self) -> u64 {
        self.picos / 1_000_000_000
    }

    /// Refuse this cost if it exceeds [`MAX_MILLIS`] or [`MAX_MEMORY_BYTES`].
    pub(super) fn bound(self, scheme: Scheme) -> Result<(), HashError> {
        if self.millis() > MAX_MILLIS || self.bytes > MAX_MEMORY_BYTES {
            return Err(HashError::TooCostly {
                scheme: scheme.name(),
                millis: self.millis(),
                mebibytes: self.bytes >> 20,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn saturates_instead_of_wrapping() {
        let absurd = Cost::new(u64::MAX, rate::SHA512_ROUND, u64::MAX);
        assert!(absurd.bound(Scheme::Sha512Crypt).is_err());
        assert!(Cost::cpu(u64::MAX, 1).then(Cost::cpu(u64::MAX, 1)).bound(Scheme::Bcrypt).is_err());
    }

    #[test]
    fn the_bounds_are_inclusive_and_named_in_the_error() {
        let at = Cost::cpu(MAX_MILLIS * 1_000_000_000 / rate::SHA512_ROUND, rate::SHA512_ROUND);
        assert!(at.bound(Scheme::Sha512Crypt).is_ok());
        let over = at.then(Cost::cpu(1, 1_000_000_000));
        let message = over.bound(Scheme::Sha512Crypt).unwrap_err().to_string();
        assert!(message.contains("sha512-crypt") && message.contains("2001 ms"), "{message}");
        let memory = Cost::new(1, 1, MAX_MEMORY_BYTES + 1).bound(Scheme::Argon2id).unwrap_err();
        assert!(memory.to_string().contains("1024 MiB"), "{memory}");
    }
}
