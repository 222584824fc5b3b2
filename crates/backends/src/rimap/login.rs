//! Encoding `LOGIN user password` for IMAP, safely.
//!
//! Cyrus wraps both in `"…"` and sends CR, LF and 8-bit bytes raw, so a password holding
//! `\r\nA1 DELETE INBOX` becomes a second command (reference §3.3). Here `imap-codec` picks an
//! atom, a quoted string (with `"` and `\` escaped) or a literal for each value, and CR, LF and
//! NUL are refused before anything is encoded: IMAP cannot carry NUL at all, and a password with
//! a line break is never one a person typed.
//!
//! imap-codec decides the form of each value (its `AString` rules); the bytes are written here,
//! by hand, because imap-codec's encoder accumulates into a private `Vec` that grows by
//! reallocation and escapes quoted strings into temporary `String`s, and frees both unzeroed,
//! leaving escaped copies of the password in the heap. Here every piece is one zeroised buffer
//! sized up front, so it never reallocates. The tests parse the result with imap-codec's own
//! decoder, so the two cannot drift apart.

use imap_codec::imap_types::core::{AString, IString, Tag};
use zeroize::Zeroizing;

/// RFC 7888: with `LITERAL-` a non-synchronizing literal may hold at most this many bytes.
const LITERAL_MINUS_MAX: usize = 4096;

/// Which literals the server accepts without a continuation round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Literals {
    /// Only synchronizing literals: wait for `+` before each.
    Sync,
    /// `LITERAL+`: `{n+}` of any size.
    Plus,
    /// `LITERAL-`: `{n+}` up to 4096 bytes, synchronizing above.
    Minus,
}

/// One piece of the command to write; a synchronizing literal waits for the server's `+` first.
pub struct Piece {
    /// Bytes to write (they may hold the password, hence zeroed on drop).
    pub bytes: Zeroizing<Vec<u8>>,
    /// Whether to wait for a continuation request before writing `bytes`.
    pub after_continuation: bool,
}

/// Why a login cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsendable {
    /// The login holds CR, LF or NUL.
    Login,
    /// The password holds CR, LF or NUL.
    Password,
}

impl std::fmt::Display for Unsendable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unsendable::Login => "the login holds CR, LF or NUL",
            Unsendable::Password => "the password holds CR, LF or NUL",
        })
    }
}

/// Refuses values IMAP cannot carry or that would only serve to inject commands.
pub fn check(login: &[u8], password: &[u8]) -> Result<(), Unsendable> {
    let bad = |v: &[u8]| v.iter().any(|b| matches!(b, b'\r' | b'\n' | 0));
    if bad(login) {
        Err(Unsendable::Login)
    } else if bad(password) {
        Err(Unsendable::Password)
    } else {
        Ok(())
    }
}

/// How one value goes on the wire (RFC 3501 `astring`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// As it is.
    Atom,
    /// In `"…"`, with `"` and `\` escaped.
    Quoted,
    /// `{n}` (synchronizing) or `{n+}`, CRLF, then the bytes.
    Literal {
        /// Whether to wait for the server's `+` before the bytes.
        sync: bool,
    },
}

/// `<tag> LOGIN <login> <password>\r\n` as pieces to write in order.
pub fn encode(
    tag: &str,
    login: &[u8],
    password: &[u8],
    literals: Literals,
) -> Result<Vec<Piece>, Unsendable> {
    check(login, password)?;
    let login_form = form(login, literals).ok_or(Unsendable::Login)?;
    let password_form = form(password, literals).ok_or(Unsendable::Password)?;
    // An invalid tag would be a programming error here (tags are ours), not a request's fault;
    // it shows as a refusal rather than a panic.
    Tag::try_from(tag).map_err(|_| Unsendable::Login)?;

    // Room for the longest line any piece can be: everything doubled by escaping, plus the
    // literal announcements. No piece ever outgrows it, so none reallocates.
    let capacity = tag.len()
        + " LOGIN ".len()
        + 2 * (login.len() + password.len())
        + 2 * "{18446744073709551615+}\r\n".len()
        + 4;
    let mut pieces = Pieces { done: Vec::new(), line: new_piece(capacity), capacity };
    pieces.line.extend_from_slice(tag.as_bytes());
    pieces.line.extend_from_slice(b" LOGIN ");
    pieces.value(login, login_form);
    pieces.line.push(b' ');
    pieces.value(password, password_form);
    pieces.line.extend_from_slice(b"\r\n");
    Ok(pieces.finish())
}

/// The pieces written so far and the line being built.
struct Pieces {
    done: Vec<Piece>,
    line: Zeroizing<Vec<u8>>,
    capacity: usize,
}

impl Pieces {
    /// Append `value` in `form` to the line (a literal ends the line and becomes a piece).
    fn value(&mut self, value: &[u8], form: Form) {
        match form {
            Form::Atom => self.line.extend_from_slice(value),
            Form::Quoted => {
                self.line.push(b'"');
                for &b in value {
                    if matches!(b, b'"' | b'\\') {
                        self.line.push(b'\\');
                    }
                    self.line.push(b);
                }
                self.line.push(b'"');
            }
            Form::Literal { sync } => {
                let announce = format!("{{{}{}}}\r\n", value.len(), if sync { "" } else { "+" });
                self.line.extend_from_slice(announce.as_bytes());
                let line = std::mem::replace(&mut self.line, new_piece(self.capacity));
                self.done.push(Piece { bytes: line, after_continuation: false });
                let mut data = new_piece(value.len());
                data.extend_from_slice(value);
                self.done.push(Piece { bytes: data, after_continuation: sync });
            }
        }
    }

    fn finish(mut self) -> Vec<Piece> {
        let line = std::mem::take(&mut self.line);
        self.done.push(Piece { bytes: line, after_continuation: false });
        self.done
    }
}

/// An empty zeroised buffer that can hold `capacity` bytes without reallocating.
fn new_piece(capacity: usize) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Vec::with_capacity(capacity))
}

/// The form imap-codec's rules give `value` (it borrows, copying nothing); `None` if IMAP
/// cannot carry it at all.
fn form(value: &[u8], literals: Literals) -> Option<Form> {
    Some(match AString::try_from(value).ok()? {
        AString::Atom(_) => Form::Atom,
        AString::String(IString::Quoted(_)) => Form::Quoted,
        AString::String(IString::Literal(_)) => {
            let non_sync = match literals {
                Literals::Sync => false,
                Literals::Plus => true,
                Literals::Minus => value.len() <= LITERAL_MINUS_MAX,
            };
            Form::Literal { sync: !non_sync }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use imap_codec::CommandCodec;
    use imap_codec::decode::Decoder;
    use imap_codec::imap_types::command::CommandBody;
    use proptest::prelude::*;

    /// Values IMAP can carry: any bytes but CR, LF and NUL, now and then past LITERAL-'s 4096.
    fn sendable() -> impl Strategy<Value = Vec<u8>> {
        let byte = any::<u8>().prop_map(|b| if matches!(b, b'\r' | b'\n' | 0) { b'x' } else { b });
        prop_oneof![
            8 => proptest::collection::vec(byte.clone(), 0..40),
            1 => proptest::collection::vec(byte, 4090..4100),
        ]
    }

    /// The pieces joined, with `|` marking where the writer waits for `+`.
    fn wire(login: &[u8], password: &[u8], literals: Literals) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in encode("a1", login, password, literals).unwrap() {
            if piece.after_continuation {
                out.push(b'|');
            }
            out.extend_from_slice(&piece.bytes);
        }
        out
    }

    #[test]
    fn plain_values_are_atoms_or_quoted_with_escapes() {
        assert_eq!(wire(b"joe", b"hunter2", Literals::Sync), b"a1 LOGIN joe hunter2\r\n");
        assert_eq!(wire(b"joe", b"p\"w\\d", Literals::Sync), b"a1 LOGIN joe \"p\\\"w\\\\d\"\r\n");
        assert_eq!(wire(b"joe", b"two words", Literals::Sync), b"a1 LOGIN joe \"two words\"\r\n");
        assert_eq!(wire(b"joe", b"", Literals::Sync), b"a1 LOGIN joe \"\"\r\n");
        assert_eq!(wire(b"joe@example.org", b"x", Literals::Sync), b"a1 LOGIN joe@example.org x\r\n");
    }

    #[test]
    fn eight_bit_goes_in_literals() {
        let pw = "päss".as_bytes();
        assert_eq!(wire(b"joe", pw, Literals::Sync), b"a1 LOGIN joe {5}\r\n|p\xc3\xa4ss\r\n");
        assert_eq!(wire(b"joe", pw, Literals::Plus), b"a1 LOGIN joe {5+}\r\np\xc3\xa4ss\r\n");
        assert_eq!(wire(b"joe", pw, Literals::Minus), b"a1 LOGIN joe {5+}\r\np\xc3\xa4ss\r\n");
        assert_eq!(
            wire("jö".as_bytes(), pw, Literals::Sync),
            b"a1 LOGIN {3}\r\n|j\xc3\xb6 {5}\r\n|p\xc3\xa4ss\r\n"
        );
        let big = vec![0xe9; LITERAL_MINUS_MAX + 1];
        let minus = wire(b"joe", &big, Literals::Minus);
        assert!(minus.starts_with(b"a1 LOGIN joe {4097}\r\n|"), "{:?}", &minus[..30]);
    }

    #[test]
    fn line_breaks_and_nul_are_refused() {
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"pw\r\nA1 LOGOUT"] {
            assert_eq!(check(b"joe", bad), Err(Unsendable::Password));
            assert_eq!(check(bad, b"pw"), Err(Unsendable::Login));
            assert!(encode("a1", b"joe", bad, Literals::Plus).is_err());
            assert!(encode("a1", bad, b"pw", Literals::Sync).is_err());
        }
    }

    proptest! {
        // Outside literal payloads, CR and LF appear only as the CRLF that ends each line, so no
        // login or password can start a second command.
        #[test]
        fn no_bare_line_break_outside_literals(
            login in proptest::collection::vec(any::<u8>(), 0..40),
            password in proptest::collection::vec(any::<u8>(), 0..40),
            mode in prop_oneof![Just(Literals::Sync), Just(Literals::Plus), Just(Literals::Minus)],
        ) {
            let Ok(pieces) = encode("a1", &login, &password, mode) else {
                prop_assert!(check(&login, &password).is_err());
                return Ok(());
            };
            let mut literal_next = false;
            let mut payloads = Vec::new();
            for piece in &pieces {
                if literal_next {
                    payloads.push(piece.bytes.to_vec());
                    literal_next = false;
                    continue;
                }
                let line: &[u8] = &piece.bytes;
                let body = line.strip_suffix(b"\r\n").unwrap_or(line);
                prop_assert!(!body.contains(&b'\r') && !body.contains(&b'\n'), "bare CR/LF in {:?}", line);
                // `{n}` or `{n+}` at the end announces a literal; an atom may end in `}` too.
                literal_next = body.strip_suffix(b"}").is_some_and(|head| {
                    head.iter().rposition(|&b| b == b'{').is_some_and(|open| {
                        let spec = &head[open + 1..];
                        let digits = spec.strip_suffix(b"+").unwrap_or(spec);
                        !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
                    })
                });
            }
            prop_assert!(pieces.last().is_some_and(|p| p.bytes.ends_with(b"\r\n")));
            // What went out as literals is exactly the value, byte for byte.
            for payload in payloads {
                prop_assert!(payload == login || payload == password);
            }
        }

        // Any login and password without CR, LF or NUL is sendable, and what goes on the wire
        // reads back, with imap-codec's server-side parser, as one LOGIN of exactly those bytes.
        #[test]
        fn login_round_trips_through_an_imap_parser(
            login in sendable(),
            password in sendable(),
            mode in prop_oneof![Just(Literals::Sync), Just(Literals::Plus), Just(Literals::Minus)],
        ) {
            let pieces = encode("a1", &login, &password, mode);
            prop_assert!(pieces.is_ok(), "{:?}", pieces.err());
            let wire: Vec<u8> = pieces.unwrap().iter().flat_map(|p| p.bytes.to_vec()).collect();
            let decoded = CommandCodec::default().decode(&wire);
            prop_assert!(decoded.is_ok(), "{:?} does not parse", wire.escape_ascii().to_string());
            let (rest, command) = decoded.unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(command.tag.inner(), "a1");
            match command.body {
                CommandBody::Login { username, password: secret } => {
                    prop_assert_eq!(username.as_ref(), login.as_slice());
                    prop_assert_eq!(secret.declassify().as_ref(), password.as_slice());
                }
                other => prop_assert!(false, "decoded as {:?}", other),
            }
        }
    }
}
