//! `{SCHEME}body` stored values, as OpenLDAP's `userPassword` and Dovecot's passdbs write them.
//!
//! The scheme name is case-insensitive. Dovecot may append an encoding to it (`{SSHA512.HEX}`,
//! `{PLAIN.B64}`); without one the digests are base64, except that an unsalted digest of exactly
//! twice its length in hex digits is read as hex, as Dovecot does for `{PLAIN-MD5}`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use zeroize::Zeroizing;

use super::digest::{Algorithm, DigestScheme};
use super::{Checked, HashError, Scheme, verify_crypt_like};

/// Longest scheme name looked for between the braces (`{SHA512-CRYPT.BASE64}` is 18).
const MAX_NAME_LEN: usize = 32;

/// How a digest or cleartext body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// No suffix: the scheme's default.
    Default,
    /// `.HEX`.
    Hex,
    /// `.B64` or `.BASE64`.
    Base64,
}

/// What a scheme name stands for.
enum Kind {
    /// A crypt(3) string or Argon2 PHC string follows.
    Crypt,
    /// A digest follows.
    Digest(DigestScheme),
    /// Cleartext follows.
    Plain,
}

/// Check `password` against `stored`, which starts with `{`.
pub(super) fn verify(password: &[u8], stored: &str) -> Result<Checked, HashError> {
    let (name, body) = split(stored)?;
    let (base, encoding) = match name.rsplit_once('.') {
        None => (name, Encoding::Default),
        Some((base, enc)) if enc.eq_ignore_ascii_case("hex") => (base, Encoding::Hex),
        Some((base, enc)) if enc.eq_ignore_ascii_case("b64") || enc.eq_ignore_ascii_case("base64") => {
            (base, Encoding::Base64)
        }
        Some(_) => return Err(unsupported(name)),
    };
    let kind = kind_of(&base.to_ascii_uppercase(), body).ok_or_else(|| unsupported(name))?;

    match kind {
        Kind::Crypt if encoding == Encoding::Default && !body.starts_with('{') => {
            verify_crypt_like(password, body)
        }
        Kind::Crypt => Err(unsupported(name)),
        Kind::Plain => {
            let decoded = match encoding {
                Encoding::Default => Zeroizing::new(body.as_bytes().to_vec()),
                Encoding::Hex => decode_hex(body).ok_or(HashError::malformed(Scheme::Plain))?,
                Encoding::Base64 => decode_base64(body).ok_or(HashError::malformed(Scheme::Plain))?,
            };
            Ok(super::verify_plain(password, &decoded))
        }
        Kind::Digest(digest) => {
            let scheme = digest.scheme();
            let decoded = match encoding {
                Encoding::Hex => decode_hex(body),
                Encoding::Base64 => decode_base64(body),
                Encoding::Default if !digest.salted && body.len() == 2 * digest.algorithm.len() => {
                    decode_hex(body).or_else(|| decode_base64(body))
                }
                Encoding::Default => decode_base64(body),
            }
            .ok_or(HashError::malformed(scheme))?;
            let matched = digest.matches(password, &decoded).ok_or(HashError::malformed(scheme))?;
            Ok(Checked::new(matched, scheme))
        }
    }
}

/// Split `{NAME}body` into `NAME` and `body`.
fn split(stored: &str) -> Result<(&str, &str), HashError> {
    let inner = stored.strip_prefix('{').unwrap_or(stored);
    let close = inner
        .bytes()
        .take(MAX_NAME_LEN + 1)
        .position(|c| c == b'}')
        .ok_or(HashError::Malformed { scheme: "{…}" })?;
    Ok((&inner[..close], &inner[close + 1..]))
}

/// The kind of scheme `upper` (an upper-cased name without encoding suffix) names.
fn kind_of(upper: &str, body: &str) -> Option<Kind> {
    let digest = |algorithm, salted| Some(Kind::Digest(DigestScheme { algorithm, salted }));
    match upper {
        // OpenLDAP and Cyrus write {CRYPT} (Cyrus also {UNIX}); Dovecot names the method.
        "CRYPT" | "UNIX" | "DES-CRYPT" | "MD5-CRYPT" | "SHA256-CRYPT" | "SHA512-CRYPT" | "BLF-CRYPT"
        | "ARGON2I" | "ARGON2ID" => Some(Kind::Crypt),
        // Dovecot's {MD5} is MD5-crypt; LDAP's is a base64 digest. The body tells them apart.
        "MD5" if body.starts_with("$1$") => Some(Kind::Crypt),
        "MD5" | "LDAP-MD5" | "PLAIN-MD5" => digest(Algorithm::Md5, false),
        "SMD5" => digest(Algorithm::Md5, true),
        "SHA" | "SHA1" => digest(Algorithm::Sha1, false),
        "SSHA" => digest(Algorithm::Sha1, true),
        "SHA256" => digest(Algorithm::Sha256, false),
        "SSHA256" => digest(Algorithm::Sha256, true),
        "SHA512" => digest(Algorithm::Sha512, false),
        "SSHA512" => digest(Algorithm::Sha512, true),
        "PLAIN" | "CLEARTEXT" | "CLEAR" => Some(Kind::Plain),
        _ => None,
    }
}

/// An unsupported `{NAME}`. Only the name goes into the error, never the body.
fn unsupported(name: &str) -> HashError {
    HashError::Unsupported(format!("{{{name}}}"))
}

/// Base64 with or without padding; `None` if it does not decode.
fn decode_base64(body: &str) -> Option<Zeroizing<Vec<u8>>> {
    STANDARD_PAD_INDIFFERENT.decode(body).ok().map(Zeroizing::new)
}

/// Hex, either case; `None` on odd length or a non-hex digit.
fn decode_hex(body: &str) -> Option<Zeroizing<Vec<u8>>> {
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let bytes = body.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() / 2));
    for pair in bytes.chunks_exact(2) {
        out.push(digit(pair[0])? << 4 | digit(pair[1])?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::fixtures::{PASSWORD, WRONG};
    use super::*;

    #[test]
    fn unknown_scheme_names_only_the_prefix() {
        match verify(PASSWORD, "{PBKDF2}$1$secretbody") {
            Err(HashError::Unsupported(msg)) => assert_eq!(msg, "{PBKDF2}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(verify(PASSWORD, "{SSHA.ROT13}abc"), Err(HashError::Unsupported(_))));
        assert!(matches!(verify(PASSWORD, "{CRYPT.HEX}abc"), Err(HashError::Unsupported(_))));
    }

    #[test]
    fn unterminated_or_nested_prefixes() {
        assert!(matches!(verify(PASSWORD, "{SSHA"), Err(HashError::Malformed { .. })));
        assert!(matches!(
            verify(PASSWORD, &format!("{{{}}}x", "A".repeat(40))),
            Err(HashError::Malformed { .. })
        ));
        assert!(matches!(verify(PASSWORD, "{CRYPT}{PLAIN}x"), Err(HashError::Unsupported(_))));
    }

    #[test]
    fn bad_bodies_are_malformed() {
        for stored in [
            "{SSHA}",
            "{SSHA}!!!!",
            "{SSHA}0QajjbAxaNZGk7/cJu7i5MkzbLY=",
            "{SHA}HdWhtVFFZtvlce4DMouRfhcMZPlz",
            "{SHA}0QajjbAxaNZGk7/cJu7i5MkzbL",
            "{SHA512.HEX}abc",
            "{PLAIN.HEX}zz",
            "{PLAIN.B64}@@@",
            "{SMD5}ü",
        ] {
            assert!(matches!(verify(PASSWORD, stored), Err(HashError::Malformed { .. })), "{stored}");
        }
    }

    #[test]
    fn empty_crypt_and_plain_bodies_are_locked() {
        for stored in ["{CRYPT}", "{PLAIN}", "{crypt}*", "{SHA512-CRYPT}!"] {
            let got = verify(PASSWORD, stored).unwrap();
            assert_eq!(got, Checked::new(false, Scheme::Locked), "{stored}");
            assert!(!verify(b"", stored).unwrap().matched);
        }
    }

    #[test]
    fn plain_is_exact() {
        assert!(!verify(WRONG, "{PLAIN}päss \"w\\rd").unwrap().matched);
        assert!(!verify(PASSWORD, "{PLAIN}päss \"w\\rd ").unwrap().matched);
        assert!(verify(b"\xff\x00", "{PLAIN.HEX}ff00").unwrap().matched);
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00fFa0").unwrap().as_slice(), &[0, 255, 160]);
        assert!(decode_hex("0").is_none());
        assert!(decode_hex("g0").is_none());
        assert!(decode_hex("éé").is_none());
    }
}
