//! Step "read frame": the saslauthd wire format as pure functions, no I/O.
//!
//! A request is four counted strings (u16 big-endian length, then the bytes) — login, password,
//! service, realm — optionally followed by a fifth, the client address `ip;port`, which only
//! unreleased libsasl2 sends (reference §1.2, §1.7). A reply is one counted string.

use zeroize::Zeroizing;

/// Cyrus's per-field limit (`MAX_REQ_LEN`, saslauthd-main.h): 256 is accepted, 257 refused.
pub const MAX_FIELD_LEN: usize = 256;

/// The fields in wire order, named as Cyrus names them in its log lines.
pub const FIELD_NAMES: [&str; 5] = ["login", "password", "service", "realm", "client address"];

/// A request as read off the wire, before any policy is applied.
pub struct RawRequest {
    /// Field 1.
    pub login: Vec<u8>,
    /// Field 2; zeroed on drop.
    pub password: Zeroizing<Vec<u8>>,
    /// Field 3.
    pub service: Vec<u8>,
    /// Field 4 (may be empty).
    pub realm: Vec<u8>,
    /// Field 5, present only when the client sent it.
    pub client_addr: Option<Vec<u8>>,
}

impl std::fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequest")
            .field("login", &String::from_utf8_lossy(&self.login))
            .field("password", &"<redacted>")
            .field("service", &String::from_utf8_lossy(&self.service))
            .field("realm", &String::from_utf8_lossy(&self.realm))
            .field("client_addr", &self.client_addr.as_deref().map(String::from_utf8_lossy))
            .finish()
    }
}

/// What the bytes received so far amount to.
#[derive(Debug)]
pub enum Decoded {
    /// More bytes are needed before the four mandatory fields are complete.
    Incomplete,
    /// The four fields are complete; a fifth was parsed too if its bytes had arrived.
    /// `more_coming` is set when a fifth field has started but is not complete yet.
    Request {
        /// The request.
        request: RawRequest,
        /// A fifth field has begun to arrive and is still incomplete.
        more_coming: bool,
    },
    /// Field number `index` (0-based, see [`FIELD_NAMES`]) announced more than the limit.
    Oversize {
        /// Which field.
        index: usize,
        /// The length it announced.
        len: usize,
    },
}

/// Decode what has arrived so far. Called again with the grown buffer after each read; the
/// buffer is at most five fields of `max_field` bytes, so re-parsing from the start is cheap and
/// keeps the decoder free of state.
pub fn decode_request(buf: &[u8], max_field: usize) -> Decoded {
    // On the stack: this runs after every read of every request.
    let mut fields: [&[u8]; 5] = [&[]; 5];
    let mut count = 0;
    let mut rest = buf;
    let mut partial = false;
    // A fifth field is read only if its first byte has already arrived (reference §1.7).
    while count < 5 && !(count == 4 && rest.is_empty()) {
        let Some((len_bytes, body)) = rest.split_first_chunk::<2>() else {
            partial = true;
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len_bytes));
        if len > max_field {
            return Decoded::Oversize { index: count, len };
        }
        let Some((field, tail)) = body.split_at_checked(len) else {
            partial = true;
            break;
        };
        if let Some(slot) = fields.get_mut(count) {
            *slot = field;
        }
        count += 1;
        rest = tail;
    }
    let [login, password, service, realm, ref fifth @ ..] = *fields.get(..count).unwrap_or_default() else {
        return Decoded::Incomplete;
    };
    Decoded::Request {
        request: RawRequest {
            login: login.to_vec(),
            password: Zeroizing::new(password.to_vec()),
            service: service.to_vec(),
            realm: realm.to_vec(),
            client_addr: fifth.first().map(|addr| addr.to_vec()),
        },
        more_coming: partial,
    }
}

/// Encode a request the way libsasl2 does (one buffer, written with one write).
///
/// Fields longer than 65535 bytes cannot be framed; they are refused rather than truncated.
pub fn encode_request(fields: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, FieldTooLong> {
    let mut out = Zeroizing::new(Vec::with_capacity(fields.iter().map(|f| f.len() + 2).sum()));
    for (index, field) in fields.iter().enumerate() {
        let len = u16::try_from(field.len()).map_err(|_| FieldTooLong { index })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field);
    }
    Ok(out)
}

/// A field given to [`encode_request`] was longer than a u16 can count.
#[derive(Debug, thiserror::Error)]
#[error("field {index} is longer than 65535 bytes")]
pub struct FieldTooLong {
    /// Which field (0-based).
    pub index: usize,
}

/// Encode a reply: a u16 big-endian length, then the text, no NUL (reference §1.4).
pub fn encode_reply(text: &[u8]) -> Vec<u8> {
    // Cyrus builds `NO <msg>` in a 1024-byte buffer and libsasl2 reads at most 1023 bytes.
    let text = &text[..text.len().min(1023)];
    let mut out = Vec::with_capacity(text.len() + 2);
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_bytes(fields: &[&[u8]]) -> Vec<u8> {
        encode_request(fields).map(|b| b.to_vec()).unwrap_or_default()
    }

    #[test]
    fn decodes_the_bytes_cyrus_testsaslauthd_sends() {
        // reference §1.2: `testsaslauthd -u joe -p pw`
        let wire = [0, 3, b'j', b'o', b'e', 0, 2, b'p', b'w', 0, 4, b'i', b'm', b'a', b'p', 0, 0];
        let Decoded::Request { request, more_coming } = decode_request(&wire, MAX_FIELD_LEN) else {
            panic!("not decoded");
        };
        assert!(!more_coming);
        assert_eq!(request.login, b"joe");
        assert_eq!(&request.password[..], b"pw");
        assert_eq!(request.service, b"imap");
        assert!(request.realm.is_empty());
        assert!(request.client_addr.is_none());
    }

    #[test]
    fn reads_a_fifth_field_only_when_it_has_arrived() {
        let four = request_bytes(&[b"joe", b"pw", b"smtp", b""]);
        let five = request_bytes(&[b"joe", b"pw", b"smtp", b"", b"192.0.2.1;25"]);
        match decode_request(&five, MAX_FIELD_LEN) {
            Decoded::Request { request, more_coming: false } => {
                assert_eq!(request.client_addr.as_deref(), Some(&b"192.0.2.1;25"[..]));
            }
            other => panic!("{other:?}"),
        }
        match decode_request(&four, MAX_FIELD_LEN) {
            Decoded::Request { request, more_coming: false } => assert!(request.client_addr.is_none()),
            other => panic!("{other:?}"),
        }
        for cut in four.len() + 1..five.len() {
            match decode_request(&five[..cut], MAX_FIELD_LEN) {
                Decoded::Request { request, more_coming: true } => assert!(request.client_addr.is_none()),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        let empty_fifth = request_bytes(&[b"joe", b"pw", b"smtp", b"", b""]);
        match decode_request(&empty_fifth, MAX_FIELD_LEN) {
            Decoded::Request { request, more_coming: false } => {
                assert_eq!(request.client_addr.as_deref(), Some(&b""[..]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_truncation_is_incomplete() {
        let wire = request_bytes(&[b"joe", b"pw", b"imap", b"realm"]);
        for cut in 0..wire.len() {
            assert!(matches!(decode_request(&wire[..cut], MAX_FIELD_LEN), Decoded::Incomplete), "cut {cut}");
        }
    }

    #[test]
    fn limit_is_inclusive_at_256_and_names_the_field() {
        let long = vec![b'a'; 256];
        let wire = request_bytes(&[b"joe", &long, b"imap", b""]);
        assert!(matches!(decode_request(&wire, MAX_FIELD_LEN), Decoded::Request { .. }));
        let too_long = vec![b'a'; 257];
        for index in 0..5 {
            let mut fields: Vec<&[u8]> = vec![b"joe", b"pw", b"imap", b"", b"1.2.3.4;5"];
            fields[index] = &too_long;
            let wire = request_bytes(&fields);
            match decode_request(&wire, MAX_FIELD_LEN) {
                Decoded::Oversize { index: got, len: 257 } => assert_eq!(got, index),
                other => panic!("{other:?}"),
            }
        }
        // The length word alone is enough to refuse; the body need not arrive.
        assert!(matches!(decode_request(&[1, 1], MAX_FIELD_LEN), Decoded::Oversize { index: 0, len: 257 }));
    }

    #[test]
    fn reply_is_counted_without_nul() {
        assert_eq!(encode_reply(b"OK"), vec![0, 2, b'O', b'K']);
        assert_eq!(encode_reply(b"NO "), vec![0, 3, b'N', b'O', b' ']);
        assert_eq!(encode_reply(&[b'x'; 5000]).len(), 1025);
    }

    #[test]
    fn debug_redacts_the_password() {
        let wire = request_bytes(&[b"joe", b"canary-pw", b"imap", b""]);
        let Decoded::Request { request, .. } = decode_request(&wire, MAX_FIELD_LEN) else { panic!() };
        assert!(!format!("{request:?}").contains("canary"));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1400)) {
            let _ = decode_request(&bytes, MAX_FIELD_LEN);
        }

        #[test]
        fn encoded_requests_round_trip(fields in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 4..=5)) {
            let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
            let wire = request_bytes(&refs);
            match decode_request(&wire, MAX_FIELD_LEN) {
                Decoded::Request { request, more_coming } => {
                    proptest::prop_assert!(!more_coming);
                    proptest::prop_assert!(fields.iter().all(|f| f.len() <= MAX_FIELD_LEN));
                    proptest::prop_assert_eq!(&request.login, &fields[0]);
                    proptest::prop_assert_eq!(&request.password[..], &fields[1][..]);
                    proptest::prop_assert_eq!(request.client_addr.as_ref(), fields.get(4));
                }
                Decoded::Oversize { index, .. } => proptest::prop_assert!(fields[index].len() > MAX_FIELD_LEN),
                Decoded::Incomplete => proptest::prop_assert!(false, "complete input read as incomplete"),
            }
        }
    }
}
