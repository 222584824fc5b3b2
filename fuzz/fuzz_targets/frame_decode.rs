//! Fuzz target: `mux_server::frame::decode_request` on arbitrary bytes and an arbitrary field limit.
//!
//! Input layout: two bytes of `max_field` (big-endian), then the bytes "received" so far. Beyond
//! not panicking, every answer must agree with what the bytes say: a decoded request re-encodes
//! to a prefix of the input, an oversize answer names a length word that really exceeds the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mux_server::frame::{Decoded, decode_request, encode_request};

fuzz_target!(|data: &[u8]| {
    let Some((limit, buf)) = data.split_first_chunk::<2>() else { return };
    let max_field = usize::from(u16::from_be_bytes(*limit));
    match decode_request(buf, max_field) {
        Decoded::Request { request, more_coming } => {
            let mut fields: Vec<&[u8]> =
                vec![&request.login, &request.password, &request.service, &request.realm];
            if let Some(addr) = &request.client_addr {
                fields.push(addr);
            }
            assert!(fields.iter().all(|f| f.len() <= max_field), "a field over the limit was accepted");
            let wire = encode_request(&fields).expect("fields under a u16 limit always encode");
            assert!(buf.starts_with(&wire), "decoded fields do not re-encode to the input's prefix");
            match (&request.client_addr, more_coming) {
                // Four fields and nothing after them: the daemon must answer without waiting.
                (None, false) => assert_eq!(wire.len(), buf.len(), "bytes after four fields were ignored"),
                // A fifth field has begun: at least its first byte is there, but not all of it.
                (None, true) => assert!(buf.len() > wire.len()),
                (Some(_), more) => assert!(!more, "a complete fifth field cannot leave more to come"),
            }
        }
        Decoded::Oversize { index, len } => {
            assert!(index < 5 && len > max_field, "oversize {index}/{len} under limit {max_field}");
        }
        Decoded::Incomplete => {
            // Fewer than four complete fields: a shorter input cannot be complete either.
            if let Some(shorter) = buf.len().checked_sub(1) {
                assert!(matches!(decode_request(&buf[..shorter], max_field), Decoded::Incomplete));
            }
        }
    }
});
