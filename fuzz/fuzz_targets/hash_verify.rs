//! Fuzz target: `backends::hash::verify_password` with a short password and an arbitrary stored
//! value, exercising the scheme dispatch, the `{SCHEME}` parser, the digest decoders, apr1, the
//! Argon2 PHC parser and libxcrypt's setting parser.
//!
//! Input layout: one byte of password length (0–63), the password, then the stored value (UTF-8).
//! Stored values that would run an expensive KDF are skipped (see [`cheap`]): the module's own
//! cost bounds allow up to seconds per hash, which would stall the fuzzer rather than find bugs.
//! The cost-bound decoder (`crypt_cost`) is therefore only reached with small settings here; its
//! refusal paths are covered by the module's unit and property tests.
#![no_main]

use backends::hash::verify_password;
use libfuzzer_sys::fuzz_target;

mod cheap;

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else { return };
    let len = usize::from(len % 64).min(rest.len());
    let (password, stored) = rest.split_at(len);
    let Ok(stored) = std::str::from_utf8(stored) else { return };
    if !cheap::is_cheap(stored) {
        return;
    }
    match verify_password(password, stored) {
        Ok(checked) => {
            // Whatever the stored value, the answer must be reproducible.
            let again = verify_password(password, stored).map(|c| c.matched).ok();
            assert_eq!(again, Some(checked.matched), "verification is not deterministic");
        }
        Err(e) => {
            // Errors are logged: they may name the scheme or its `{…}` prefix, never the body,
            // which for a value written without a prefix may be a cleartext password. No error
            // text or scheme name holds a `~`, so one in the message came from the input; the
            // fuzzer (which can copy the messages' own words into its inputs) cannot fake that.
            let prefix = if stored.starts_with('{') { stored.split('}').next().unwrap_or("") } else { "" };
            if !prefix.contains('~') {
                let shown = e.to_string();
                assert!(!shown.contains('~'), "error {shown:?} echoes the stored value");
            }
        }
    }
});
