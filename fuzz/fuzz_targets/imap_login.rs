//! Fuzz target: the rimap `LOGIN` command encoder (`backends::rimap::login`).
//!
//! Input: one byte choosing the literal mode, one byte of login length, the login, then the
//! password. Checked:
//! - a login and password are refused exactly when one holds CR, LF or NUL;
//! - outside literal payloads, CR and LF appear only as the CRLF ending each line, so no value can
//!   start a second command; each literal payload is the login or the password byte for byte;
//! - a piece waits for the server's `+` exactly when the line before announced a synchronizing
//!   literal (`{n}`), which `LITERAL+` never needs and `LITERAL-` needs only above 4096 bytes;
//! - the bytes sent decode, with imap-codec's server-side parser, to one `LOGIN` command with
//!   the same tag, login and password and nothing left over.
#![no_main]

use backends::rimap::login::{Literals, check, encode};
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use libfuzzer_sys::fuzz_target;

/// The size and kind (synchronizing or not) of the literal a line ends by announcing: `{n}` or
/// `{n+}`. An atom may end in `}` but cannot hold `{`; a quoted string ends in `"`.
fn literal_announcement(line: &[u8]) -> Option<(usize, bool)> {
    let head = line.strip_suffix(b"}")?;
    let spec = &head[head.iter().rposition(|&b| b == b'{')? + 1..];
    let (digits, sync) = match spec.strip_suffix(b"+") {
        Some(digits) => (digits, false),
        None => (spec, true),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((std::str::from_utf8(digits).ok()?.parse().ok()?, sync))
}

fuzz_target!(|data: &[u8]| {
    let Some((&[mode, len], rest)) = data.split_first_chunk::<2>() else { return };
    let literals = [Literals::Sync, Literals::Plus, Literals::Minus][usize::from(mode % 3)];
    let (login, password) = rest.split_at(usize::from(len).min(rest.len()));
    let refused = |v: &[u8]| v.iter().any(|b| matches!(b, b'\r' | b'\n' | 0));
    let pieces = match encode("a1", login, password, literals) {
        Ok(pieces) => pieces,
        Err(why) => {
            assert!(refused(login) || refused(password), "refused {why:?} without CR, LF or NUL");
            assert_eq!(check(login, password), Err(why));
            return;
        }
    };
    assert!(!refused(login) && !refused(password), "encoded a value holding CR, LF or NUL");

    let mut wire = Vec::new();
    let mut announced: Option<(usize, bool)> = None;
    for piece in &pieces {
        let bytes: &[u8] = &piece.bytes;
        match announced.take() {
            Some((size, sync)) => {
                assert_eq!(
                    piece.after_continuation, sync,
                    "continuation wait does not match the announcement"
                );
                assert_eq!(bytes.len(), size);
                assert!(bytes == login || bytes == password, "a literal that is neither value");
            }
            None => {
                assert!(!piece.after_continuation, "waits for `+` with no literal announced");
                let body = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
                assert!(
                    !body.contains(&b'\r') && !body.contains(&b'\n'),
                    "bare CR/LF in {:?}",
                    bytes.escape_ascii()
                );
                if let Some((size, sync)) = literal_announcement(body) {
                    let must_sync = match literals {
                        Literals::Sync => true,
                        Literals::Plus => false,
                        Literals::Minus => size > 4096,
                    };
                    assert_eq!(sync, must_sync, "{literals:?} literal of {size} bytes");
                    announced = Some((size, sync));
                }
            }
        }
        wire.extend_from_slice(bytes);
    }
    assert!(announced.is_none(), "an announced literal never came");
    assert!(wire.ends_with(b"\r\n"));

    let (left, command) = CommandCodec::default()
        .decode(&wire)
        .unwrap_or_else(|e| panic!("{:?} does not parse: {e:?}", wire.escape_ascii()));
    assert!(left.is_empty(), "bytes after the command");
    assert_eq!(command.tag.inner(), "a1");
    match command.body {
        CommandBody::Login { username, password: secret } => {
            assert_eq!(username.as_ref(), login);
            assert_eq!(secret.declassify().as_ref(), password);
        }
        other => panic!("decoded as {other:?}"),
    }
});
