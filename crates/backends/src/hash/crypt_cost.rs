//! Cost bounds on crypt(3) strings, checked before libxcrypt runs them.
//!
//! A stored hash chooses its own cost, and LDAP users can often write their own `userPassword`:
//! one `$6$rounds=999999999$` or `$y$jHT$` value would pin a CPU for minutes or allocate gigabytes
//! on every login attempt. The bounds sit far above any default (sha-crypt 5000 rounds, bcrypt
//! cost 5–12, yescrypt `j9T` = 16 MiB) and refuse only what costs seconds or more here.
//! Anything this parser cannot read is left to libxcrypt, which rejects it as malformed.

use super::{HashError, ITOA64, Scheme};

/// Most iterations accepted for sha256/sha512-crypt `rounds=` and BSDi DES (5 000 000
/// sha512-crypt rounds take about 1.8–2.5 s on the project machine).
pub(super) const MAX_ROUNDS: u64 = 5_000_000;

/// Most iterations accepted for sha1crypt and Sun MD5, whose rounds cost about five times a
/// sha512-crypt round (1 000 000 take 1.3 s and 1.6 s here; their defaults are ~25 000 and 4096).
pub(super) const MAX_SLOW_ROUNDS: u64 = 1_000_000;

/// Highest bcrypt cost accepted (cost 12 takes 0.23 s here; each step doubles it, so 15 ≈ 2 s).
pub(super) const MAX_BCRYPT_COST: u64 = 15;

/// Most memory a memory-hard hash may ask for (yescrypt, scrypt, argon2): 1 GiB.
pub(super) const MAX_MEMORY_BYTES: u64 = 1 << 30;

/// Refuse `stored` if its cost parameters exceed the bounds above.
pub(super) fn check(scheme: Scheme, stored: &str) -> Result<(), HashError> {
    let s = stored.as_bytes();
    match scheme {
        Scheme::Sha256Crypt | Scheme::Sha512Crypt => {
            // `$5$rounds=N$salt$hash`; without `rounds=` the default 5000 applies.
            if let Some(digits) = stored.get(3..).and_then(|t| t.strip_prefix("rounds=")) {
                bound_rounds(scheme, leading_decimal(digits), MAX_ROUNDS)?;
            }
        }
        Scheme::Sha1Crypt => {
            bound_rounds(scheme, stored.get(6..).and_then(leading_decimal), MAX_SLOW_ROUNDS)?
        }
        Scheme::SunMd5 => {
            // `$md5,rounds=N$`: N is added to a base of 4096.
            if let Some(digits) = stored.strip_prefix("$md5,rounds=") {
                bound_rounds(scheme, leading_decimal(digits), MAX_SLOW_ROUNDS)?;
            }
        }
        Scheme::BsdiCrypt => {
            // `_CCCCSSSS…`: a 24-bit little-endian iteration count in four base-64 characters.
            if let Some(count) = s.get(1..5).and_then(decode_fixed) {
                bound_rounds(scheme, Some(count), MAX_ROUNDS)?;
            }
        }
        Scheme::Bcrypt => {
            // `$2b$NN$`: two decimal digits, log2 of the iteration count.
            if let Some(cost) = stored.get(4..6).and_then(|d| d.parse::<u64>().ok())
                && cost > MAX_BCRYPT_COST
            {
                return Err(HashError::too_costly(scheme, "cost", MAX_BCRYPT_COST));
            }
        }
        Scheme::Yescrypt | Scheme::GostYescrypt => {
            let params = if scheme == Scheme::Yescrypt { s.get(3..) } else { s.get(4..) };
            if let Some(memory) = params.and_then(yescrypt_memory) {
                bound_memory(scheme, memory)?;
            }
        }
        Scheme::Scrypt => {
            // `$7$` N_log2 (one char), r (five chars, 30 bits), p (five chars).
            let n_log2 = s.get(3).and_then(|&c| atoi64(c));
            let r = s.get(4..9).and_then(decode_fixed);
            if let (Some(n_log2), Some(r)) = (n_log2, r) {
                bound_memory(scheme, memory_of(u64::from(n_log2), r))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Refuse `rounds` above `max`; `None` means too many digits to parse, hence too many.
fn bound_rounds(scheme: Scheme, rounds: Option<u64>, max: u64) -> Result<(), HashError> {
    match rounds {
        Some(n) if n <= max => Ok(()),
        _ => Err(HashError::too_costly(scheme, "rounds", max)),
    }
}

/// Refuse a memory requirement above [`MAX_MEMORY_BYTES`] (`u64::MAX` stands for overflow).
fn bound_memory(scheme: Scheme, bytes: u64) -> Result<(), HashError> {
    if bytes > MAX_MEMORY_BYTES {
        return Err(HashError::too_costly(scheme, "memory bytes", MAX_MEMORY_BYTES));
    }
    Ok(())
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

/// `128 · r · 2^N_log2` bytes, saturating (the scrypt/yescrypt working set).
fn memory_of(n_log2: u64, r: u64) -> u64 {
    if n_log2 >= 64 {
        return u64::MAX;
    }
    (1u64 << n_log2).saturating_mul(r).saturating_mul(128)
}

/// The memory a yescrypt setting (after `$y$`/`$gy$`) asks for: flavor, N_log2, r, each in
/// yescrypt's variable-length encoding (`decode64_uint32` in libxcrypt's yescrypt-common.c).
fn yescrypt_memory(params: &[u8]) -> Option<u64> {
    let mut src = params;
    let _flavor = decode64_uint(&mut src, 0)?;
    let n_log2 = decode64_uint(&mut src, 1)?;
    let r = decode64_uint(&mut src, 1)?;
    Some(memory_of(n_log2, r))
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
        matches!(verify_password(PASSWORD, stored), Err(HashError::Unsupported(_)))
    }

    #[test]
    fn reads_real_settings() {
        // Debian's default yescrypt: N = 2^12, r = 32 → 16 MiB.
        assert_eq!(yescrypt_memory(b"j9T$salt"), Some(16 << 20));
        assert_eq!(yescrypt_memory(b"jDT$salt"), Some(256 << 20));
        // libxcrypt's default scrypt `$7$CU..../....`: N = 2^14, r = 32 → 64 MiB.
        assert_eq!(decode_fixed(b"U...."), Some(32));
        assert_eq!(decode_fixed(b"J9.."), Some(725));
    }

    #[test]
    fn absurd_costs_are_refused_before_hashing() {
        assert!(refused("$6$rounds=999999999$ab$cdef"));
        assert!(refused("$5$rounds=99999999999999999999999999$ab$cdef"));
        assert!(refused("$2b$31$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"));
        assert!(refused("$y$jHT$abc$def"));
        assert!(refused("$y$jzTTTTTT$abc$def"));
        assert!(refused("$gy$jJT$abc$def"));
        assert!(refused("$7$IU..../....abc$def"));
        assert!(refused("$sha1$4000000000$abc$def"));
        // libxcrypt's sha1crypt reads the count with strtoul: a sign is accepted, minus wraps.
        assert!(refused("$sha1$-6$abc$def"));
        assert!(refused("$sha1$+60000000$abc$def"));
        assert!(refused("$md5,rounds=90000000$abc$$def"));
        // Rounds of these two cost five sha512-crypt rounds: a lower bound.
        assert!(refused("$sha1$1000001$abc$def"));
        assert!(refused("$md5,rounds=2000000$abc$$def"));
        assert!(refused("_zzzzsaltxxxxxxxxxxx"));
    }

    #[test]
    fn ordinary_costs_pass_the_bound() {
        for stored in [
            "$6$rounds=5000$ab$c",
            "$2b$12$x",
            "$y$j9T$a$b",
            "$y$jDT$a$b",
            "$7$CU..../....a$b",
            "$sha1$219693$a$b",
            "$sha1$1000000$a$b",
            "$6$rounds=2000000$ab$c",
        ] {
            let scheme = match &stored[..3] {
                "$6$" => Scheme::Sha512Crypt,
                "$2b" => Scheme::Bcrypt,
                "$y$" => Scheme::Yescrypt,
                "$7$" => Scheme::Scrypt,
                _ => Scheme::Sha1Crypt,
            };
            check(scheme, stored).unwrap();
        }
    }
}
