//! Which stored values are cheap enough to verify thousands of times a second.
//!
//! Mirrors the prefixes `backends::hash` dispatches on; anything whose cost parameter could ask
//! for more than a few milliseconds is refused. Errs on the side of skipping: a value that would
//! be rejected as malformed anyway loses nothing by not being run.

/// crypt(3)'s base-64 alphabet, in value order.
const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Most iterations allowed for the iterated schemes (sha-crypt default: 5000).
const MAX_ROUNDS: u64 = 10_000;

/// Whether verifying `stored` is cheap.
pub fn is_cheap(stored: &str) -> bool {
    // `{CRYPT}` and friends hand their body on; look through every leading `{…}` to what runs.
    let mut body = stored;
    while let Some(rest) = body.strip_prefix('{') {
        match rest.split_once('}') {
            Some((_, after)) => body = after,
            None => break,
        }
    }
    let s = body.as_bytes();
    if body.starts_with("$y$") || body.starts_with("$gy$") {
        let params = if body.starts_with("$y$") { &s[3..] } else { &s[4..] };
        // flavor (one character), N_log2 and r: single characters of value ≤ 7 keep it ≤ 256 KiB.
        return params.len() >= 3
            && value(params[0]).is_some_and(|v| v <= 47)
            && params[1..3].iter().all(|&c| value(c).is_some_and(|v| v <= 7));
    }
    if let Some(params) = body.strip_prefix("$7$") {
        // N_log2, r (five characters), p (five characters): small N, r and p only.
        let p = params.as_bytes();
        return p.len() >= 11
            && value(p[0]).is_some_and(|v| v <= 10)
            && value(p[1]).is_some_and(|v| v <= 8)
            && &p[2..6] == b"...."
            && value(p[6]).is_some_and(|v| v <= 2)
            && &p[7..11] == b"....";
    }
    if body.starts_with("$2") {
        // bcrypt's two decimal cost digits; anything else is malformed and cheap.
        return match s.get(4..6) {
            Some(d) if d.iter().all(u8::is_ascii_digit) => d <= b"06".as_slice(),
            Some(d) => !d.iter().any(|c| c.is_ascii_digit() || *c == b'+'),
            None => true,
        };
    }
    if body.starts_with("$argon2") {
        return argon2_small(body);
    }
    if body.starts_with("$5$") || body.starts_with("$6$") {
        return body.get(3..).and_then(|t| t.strip_prefix("rounds=")).is_none_or(small_decimal);
    }
    if let Some(rest) = body.strip_prefix("$sha1$") {
        return small_decimal(rest);
    }
    if body.starts_with("$md5") {
        return body.strip_prefix("$md5,rounds=").is_none_or(small_decimal);
    }
    if body.starts_with('_') {
        // BSDi: a 24-bit count in four base-64 characters, little-endian.
        return s.get(1..5).is_none_or(|c| {
            c.iter()
                .enumerate()
                .try_fold(0u64, |n, (i, &c)| Some(n | value(c)? << (6 * i)))
                .is_none_or(|n| n <= MAX_ROUNDS)
        });
    }
    true
}

/// The value of `c` in crypt(3)'s base-64 alphabet.
fn value(c: u8) -> Option<u64> {
    ITOA64.iter().position(|&x| x == c).map(|i| i as u64)
}

/// Whether the decimal number `s` starts with is at most [`MAX_ROUNDS`] (no digits: 0; a `+`
/// is read as `strtoul` reads it).
fn small_decimal(s: &str) -> bool {
    let s = s.strip_prefix('+').unwrap_or(s);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.len() <= 6 && digits.parse::<u64>().map_or(true, |n| n <= MAX_ROUNDS)
}

/// Whether every `m=`, `t=` and `p=` in an Argon2 PHC string is small, and each appears.
fn argon2_small(stored: &str) -> bool {
    let mut seen = 0;
    for (key, limit) in [("m=", 256u64), ("t=", 3), ("p=", 4)] {
        for (at, _) in stored.match_indices(key) {
            let digits: String = stored[at + 2..].chars().take_while(char::is_ascii_digit).collect();
            if digits.len() > 4 || digits.parse::<u64>().is_ok_and(|n| n > limit) {
                return false;
            }
            seen += 1;
        }
    }
    seen >= 3
}
