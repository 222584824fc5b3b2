//! The cost of a crypt(3) string, read from its setting before libxcrypt runs it.
//!
//! Every parameter that scales the work is read (sha-crypt, sha1crypt and Sun MD5 rounds, the
//! BSDi count, bcrypt's cost, scrypt's N, r and p, yescrypt's N, r, p and t) and priced by the
//! one model in `cost`. Anything this parser cannot read is left to libxcrypt, which rejects it
//! as malformed.

use super::cost::{Cost, rate};
use super::{HashError, ITOA64, Scheme};

/// Refuse `stored` if one check of it would cost more than the model's bounds.
pub(super) fn check(scheme: Scheme, stored: &str) -> Result<(), HashError> {
    match cost(scheme, stored) {
        Some(cost) => cost.bound(scheme),
        None => Ok(()),
    }
}

/// What checking `stored` costs; `None` when the setting does not parse (libxcrypt refuses it)
/// or the scheme's cost is fixed and small (DES, bigcrypt, MD5-crypt, NT hash).
fn cost(scheme: Scheme, stored: &str) -> Option<Cost> {
    let s = stored.as_bytes();
    // An unparsable count reads as u64::MAX: libxcrypt's strtoul would not take it either, and
    // refusing is the safe side.
    let rounds = |n: Option<u64>| n.unwrap_or(u64::MAX);
    match scheme {
        Scheme::Sha256Crypt | Scheme::Sha512Crypt => {
            // `$5$rounds=N$salt$hash`; without `rounds=` the default 5000 applies.
            let n = match stored.get(3..).and_then(|t| t.strip_prefix("rounds=")) {
                Some(digits) => rounds(leading_decimal(digits)),
                None => 5000,
            };
            let per_round =
                if scheme == Scheme::Sha512Crypt { rate::SHA512_ROUND } else { rate::SHA256_ROUND };
            Some(Cost::cpu(n, per_round))
        }
        Scheme::Sha1Crypt => {
            Some(Cost::cpu(rounds(stored.get(6..).and_then(leading_decimal)), rate::SHA1_ROUND))
        }
        Scheme::SunMd5 => {
            // `$md5,rounds=N$`: N is added to a base of 4096. libxcrypt reads `rounds=` after
            // `$md5$` as well (`$md5$rounds=4000000$…` took 13 s), so both separators count.
            let extra = stored
                .strip_prefix("$md5,rounds=")
                .or_else(|| stored.strip_prefix("$md5$rounds="))
                .map_or(Some(0), leading_decimal);
            Some(Cost::cpu(rounds(extra).saturating_add(4096), rate::SUN_MD5_ROUND))
        }
        Scheme::BsdiCrypt => {
            // `_CCCCSSSS…`: a 24-bit little-endian iteration count in four base-64 characters.
            s.get(1..5).and_then(decode_fixed).map(|count| Cost::cpu(count, rate::BSDI_ROUND))
        }
        Scheme::Bcrypt => {
            // `$2b$NN$`: two decimal digits, log2 of the iteration count.
            let log2 = stored.get(4..6)?.parse::<u32>().ok()?;
            Some(Cost::cpu(1u64.checked_shl(log2).unwrap_or(u64::MAX), rate::BCRYPT_ITERATION))
        }
        Scheme::Yescrypt => s.get(3..).and_then(yescrypt_cost),
        Scheme::GostYescrypt => s.get(4..).and_then(yescrypt_cost),
        Scheme::Scrypt => {
            // `$7$` N_log2 (one char), r (five chars, 30 bits), p (five chars, 30 bits).
            let n_log2 = u64::from(atoi64(*s.get(3)?)?);
            let r = decode_fixed(s.get(4..9)?)?;
            let p = decode_fixed(s.get(9..14)?)?;
            Some(ScryptParams { n: pow2(n_log2), r, p, t: 0, rw: false }.cost())
        }
        _ => None,
    }
}

/// The decimal number at the start of `s`, up to the first non-digit; `None` if it overflows.
/// No digits at all reads as 0 so that libxcrypt, not this bound, rejects the string. A sign is
/// read as `strtoul` reads it (sha1crypt takes `$sha1$+N$`, and `-N` wraps to about 2^64), so a
/// negative count is `None` too.
fn leading_decimal(s: &str) -> Option<u64> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))?;
    if negative && n > 0 { None } else { Some(n) }
}

/// Index of `c` in crypt(3)'s base-64 alphabet.
fn atoi64(c: u8) -> Option<u32> {
    ITOA64.iter().position(|&x| x == c).and_then(|i| u32::try_from(i).ok())
}

/// A little-endian fixed-width base-64 number (BSDi counts, scrypt r and p).
fn decode_fixed(chars: &[u8]) -> Option<u64> {
    chars.iter().enumerate().try_fold(0u64, |n, (i, &c)| Some(n | u64::from(atoi64(c)?) << (6 * i)))
}

/// `2^log2`, saturating.
fn pow2(log2: u64) -> u64 {
    u32::try_from(log2).ok().and_then(|l| 1u64.checked_shl(l)).unwrap_or(u64::MAX)
}

/// The parameters of scrypt and yescrypt that scale their work (`yescrypt_kdf` in libxcrypt's
/// alg-yescrypt-opt.c).
#[derive(Debug, PartialEq, Eq)]
struct ScryptParams {
    /// Blocks in V (a power of two).
    n: u64,
    /// Block size, in 128-byte units.
    r: u64,
    /// Parallelism.
    p: u64,
    /// yescrypt's extra time factor (0 for scrypt).
    t: u64,
    /// yescrypt's read-write flavors (`j…`), as opposed to classic scrypt and WORM.
    rw: bool,
}

impl ScryptParams {
    /// The model's price: memory is V plus a B block per lane (`128·r·(N + p)`, plus the
    /// per-lane S-boxes of the RW flavors); time is the blocks mixed.
    ///
    /// RW flavors split N over the lanes: the first pass fills V once (N blocks), the later
    /// ones mix `N·(t-1)` blocks (`N/3` for t = 0, `2N/3` for t = 1). Classic scrypt and WORM
    /// run every lane over all of N: `p·N·(1 + t')` with t' = 1, 1.5 or t.
    fn cost(&self) -> Cost {
        let block = self.r.saturating_mul(128);
        let memory =
            block.saturating_mul(self.n.saturating_add(self.p)).saturating_add(block.saturating_mul(2));
        if self.rw {
            let later = match self.t {
                0 => self.n.div_ceil(3),
                1 => self.n.saturating_mul(2).div_ceil(3),
                t => self.n.saturating_mul(t - 1),
            };
            // yescrypt's pre-hash runs the same at N/64 first.
            let fill = self.n.saturating_add(self.n / 64);
            let sboxes = self.p.saturating_mul(12 << 10);
            Cost::new(fill.saturating_mul(block), rate::YESCRYPT_FILL_BYTE, memory.saturating_add(sboxes))
                .then(Cost::new(later.saturating_mul(block), rate::YESCRYPT_MIX_BYTE, 0))
        } else {
            // Per lane N blocks, then N more for t = 0, 1.5·N for t = 1, t·N beyond: counted in
            // half-blocks so that 1.5 stays whole.
            let halves_per_block = match self.t {
                0 => 4,
                1 => 5,
                t => t.saturating_add(1).saturating_mul(2),
            };
            let halves = self.p.saturating_mul(self.n).saturating_mul(halves_per_block);
            Cost::new(halves.saturating_mul(block) / 2, rate::SCRYPT_BYTE, memory)
        }
    }
}

/// The parameters of a yescrypt setting (after `$y$`/`$gy$`): flavor, N_log2, r, then, when
/// present, a `have` bitmap and p, t, g, NROM, each in yescrypt's variable-length encoding
/// (`yescrypt_r` in libxcrypt's alg-yescrypt-common.c).
fn yescrypt_params(params: &[u8]) -> Option<ScryptParams> {
    /// libxcrypt's YESCRYPT_RW: flavors from here on are read-write.
    const YESCRYPT_RW: u64 = 2;
    let mut src = params;
    let flavor = decode64_uint(&mut src, 0)?;
    let n = pow2(decode64_uint(&mut src, 1)?);
    let r = decode64_uint(&mut src, 1)?;
    let (mut p, mut t) = (1, 0);
    if src.first().is_some_and(|&c| c != b'$') {
        let have = decode64_uint(&mut src, 1)?;
        if have & 1 != 0 {
            p = decode64_uint(&mut src, 2)?;
        }
        if have & 2 != 0 {
            t = decode64_uint(&mut src, 1)?;
        }
        // g (upgrades) and NROM make libxcrypt refuse the setting: no cost to add.
    }
    Some(ScryptParams { n, r, p, t, rw: flavor >= YESCRYPT_RW })
}

/// The cost of a yescrypt setting.
fn yescrypt_cost(params: &[u8]) -> Option<Cost> {
    yescrypt_params(params).map(|p| p.cost())
}

/// yescrypt's variable-length base-64 integer: the first character's value selects how many
/// characters follow. Computed in u64 so that values C would wrap read as huge instead.
fn decode64_uint(src: &mut &[u8], min: u64) -> Option<u64> {
    let (&first, rest) = src.split_first()?;
    *src = rest;
    let c = atoi64(first)?;
    let (mut start, mut end, mut chars, mut bits) = (0u32, 47u32, 1u32, 0u32);
    let mut value = min;
    while c > end {
        value = value.checked_add(u64::from(end + 1 - start) << bits)?;
        start = end + 1;
        end = start + (62 - end) / 2;
        chars += 1;
        bits += 6;
    }
    value = value.checked_add(u64::from(c - start) << bits)?;
    for _ in 1..chars {
        let (&next, rest) = src.split_first()?;
        *src = rest;
        bits -= 6;
        value = value.checked_add(u64::from(atoi64(next)?) << bits)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::{fixtures::PASSWORD, verify_password};
    use super::*;

    fn refused(stored: &str) -> bool {
        matches!(verify_password(PASSWORD, stored), Err(HashError::TooCostly { .. }))
    }

    fn millis(scheme: Scheme, stored: &str) -> u64 {
        cost(scheme, stored).unwrap().millis()
    }

    #[test]
    fn reads_real_settings() {
        // Debian's default yescrypt: N = 2^12, r = 32 → 16 MiB.
        let j9t = ScryptParams { n: 1 << 12, r: 32, p: 1, t: 0, rw: true };
        assert_eq!(yescrypt_params(b"j9T$salt"), Some(j9t));
        assert_eq!(yescrypt_params(b"jDT$salt").unwrap().n, 1 << 16);
        // `/` = have t; `s4r` = 1000 in the three-character form.
        assert_eq!(yescrypt_params(b"j9T/s4r$salt").unwrap().t, 1000);
        // `0` = have 3 (p and t), then p = 2 + 2, t = 1 + 2.
        let pt = yescrypt_params(b"j9T000$salt").unwrap();
        assert_eq!((pt.p, pt.t), (4, 3));
        // libxcrypt's default scrypt `$7$CU..../....`: N = 2^14, r = 32 → 64 MiB.
        assert_eq!(decode_fixed(b"U...."), Some(32));
        assert_eq!(decode_fixed(b"J9.."), Some(725));
        assert_eq!(decode_fixed(b"..E.."), Some(1 << 16));
    }

    #[test]
    fn issue_15_values_are_refused_for_their_time_or_memory() {
        // p = 65536 (11 s on a quiet machine), yescrypt t = 1000 (7 s), p = 524288 (19 s, 539 MB).
        for stored in ["$7$8/......E..salt$hash", "$y$j9T/s4r$abcdefgh$hash", "$7$26.......0.salt$hash"] {
            assert!(refused(stored), "{stored}");
        }
        let err = verify_password(PASSWORD, "$7$26.......0.salt$hash").unwrap_err().to_string();
        assert!(err.starts_with("scrypt hash too costly") && err.contains("512 MiB"), "{err}");
        assert!(!err.contains("salt"), "the value itself is never in the message: {err}");
    }

    #[test]
    fn absurd_costs_are_refused_before_hashing() {
        assert!(refused("$6$rounds=999999999$ab$cdef"));
        assert!(refused("$5$rounds=99999999999999999999999999$ab$cdef"));
        assert!(refused("$2b$31$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"));
        assert!(refused("$2b$15$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"));
        assert!(refused("$y$jHT$abc$def"));
        assert!(refused("$y$jzTTTTTT$abc$def"));
        assert!(refused("$gy$jJT$abc$def"));
        assert!(refused("$y$j9T/s4r$abc$def"), "t = 1000");
        // WORM (`/`) runs every lane over all of N: p = 1001.
        assert!(refused("$y$/9T.s4r$abc$def"), "p = 1001");
        assert!(refused("$7$IU..../....abc$def"));
        assert!(refused("$7$CU....zzzz/abc$def"), "p = 2^24");
        assert!(refused("$sha1$4000000000$abc$def"));
        // libxcrypt's sha1crypt reads the count with strtoul: a sign is accepted, minus wraps.
        assert!(refused("$sha1$-6$abc$def"));
        assert!(refused("$sha1$+60000000$abc$def"));
        assert!(refused("$sha1$2000000$abc$def"));
        assert!(refused("$md5,rounds=90000000$abc$$def"));
        assert!(refused("$md5,rounds=2000000$abc$$def"));
        // libxcrypt also takes `rounds=` after `$md5$`.
        assert!(refused("$md5$rounds=4000000$abc$$def"));
        assert!(refused("_zzzzsaltxxxxxxxxxxx"));
    }

    #[test]
    fn ordinary_costs_pass_the_bound() {
        for (scheme, stored) in [
            (Scheme::Sha512Crypt, "$6$rounds=5000$ab$c"),
            (Scheme::Sha512Crypt, "$6$rounds=2000000$ab$c"),
            (Scheme::Sha512Crypt, "$6$ab$c"),
            (Scheme::Sha256Crypt, "$5$rounds=3000000$ab$c"),
            (Scheme::Bcrypt, "$2b$12$x"),
            (Scheme::Bcrypt, "$2b$14$x"),
            (Scheme::Yescrypt, "$y$j9T$a$b"),
            (Scheme::Yescrypt, "$y$jDT$a$b"),
            (Scheme::Yescrypt, "$y$j9T/A$a$b"),
            (Scheme::GostYescrypt, "$gy$j9T$a$b"),
            (Scheme::Scrypt, "$7$CU..../....a$b"),
            (Scheme::Scrypt, "$7$CU....1....a$b"),
            (Scheme::Sha1Crypt, "$sha1$219693$a$b"),
            (Scheme::Sha1Crypt, "$sha1$1000000$a$b"),
            (Scheme::SunMd5, "$md5$abc$$def"),
            (Scheme::BsdiCrypt, "_J9..salt"),
        ] {
            check(scheme, stored).unwrap_or_else(|e| panic!("{stored}: {e}"));
        }
    }

    #[test]
    fn every_knob_scales_the_estimate() {
        let y = |s: &str| millis(Scheme::Yescrypt, s);
        assert!(y("$y$j9T/A$") > 4 * y("$y$j9T$"), "t");
        assert!(y("$y$jBT$") >= 3 * y("$y$j9T$"), "N");
        assert!(y("$y$j9Z$") > y("$y$j9T$"), "r");
        let s = |st: &str| millis(Scheme::Scrypt, st);
        assert!(s("$7$CU....1....") >= 3 * s("$7$CU..../...."), "p");
        assert!(s("$7$DU..../....") >= 2 * s("$7$CU..../...."), "N");
        assert!(s("$7$CV..../....") > s("$7$CU..../...."), "r");
        assert!(millis(Scheme::Bcrypt, "$2b$13$") >= 2 * millis(Scheme::Bcrypt, "$2b$12$"));
        assert!(millis(Scheme::SunMd5, "$md5,rounds=100000$") > millis(Scheme::SunMd5, "$md5$"));
    }

    /// Prints the model beside real libxcrypt timings (release the machine first):
    /// `cargo test -p backends --release --lib calibrate -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn calibrate() {
        for (scheme, setting) in [
            (Scheme::Sha512Crypt, "$6$rounds=1000000$abcdefgh$"),
            (Scheme::Sha256Crypt, "$5$rounds=1000000$abcdefgh$"),
            (Scheme::Sha1Crypt, "$sha1$200000$abcdefgh$"),
            (Scheme::SunMd5, "$md5,rounds=200000$abcdefgh$"),
            (Scheme::BsdiCrypt, "_zzz.abcd"),
            (Scheme::Bcrypt, "$2b$12$abcdefghijklmnopqrstuu"),
            (Scheme::Scrypt, "$7$CU..../....abc$"),
            (Scheme::Scrypt, "$7$A/....1....abc$"),
            (Scheme::Yescrypt, "$y$j9T$abcdefgh$"),
            (Scheme::Yescrypt, "$y$jDT$abcdefgh$"),
            (Scheme::Yescrypt, "$y$j9T/A$abcdefgh$"),
            (Scheme::Yescrypt, "$y$/9T$abcdefgh$"),
        ] {
            let start = std::time::Instant::now();
            let _ = verify_password(PASSWORD, setting);
            let took = start.elapsed().as_millis();
            println!("{setting:32} model {:6} ms  measured {took:6} ms", millis(scheme, setting));
        }
    }
}
