//! Fuzz target: the rimap `-O` value (`backends::rimap::target`), Cyrus's `host[/port]` forms and
//! `imap[s]://` URLs with options.
//!
//! Input: the option's text. Beyond not panicking, an accepted value must be usable as it stands
//! (a host, a non-zero port, deadlines in (0, 3600] s, TLS settings only when TLS is used,
//! STARTTLS only when asked for), and a plain host and port written back in Cyrus's form must
//! read back the same.
#![no_main]

use std::time::Duration;

use backends::rimap::target::{Security, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(option) = std::str::from_utf8(data) else { return };
    let Ok(target) = Target::parse(option) else { return };
    assert!(!target.host.is_empty(), "{option:?}: no host");
    assert_ne!(target.port, 0, "{option:?}");
    for timeout in [target.connect_timeout, target.read_timeout] {
        assert!(timeout > Duration::ZERO && timeout <= Duration::from_secs(3600), "{option:?}: {timeout:?}");
    }
    if !target.uses_tls() {
        assert!(target.ca_file.is_none() && target.tls_name.is_none(), "{option:?}: TLS options without TLS");
    }
    if target.security == Security::StartTls {
        // (The key may also be percent-encoded.)
        assert!(option.contains("starttls") || option.contains('%'), "{option:?}: STARTTLS nobody asked for");
    }
    assert_eq!(Target::parse(option.trim()).as_ref(), Ok(&target), "surrounding blanks changed the meaning");

    if target.security == Security::Plain
        && target.host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
    {
        let cyrus = if target.host.contains(':') {
            format!("[{}]/{}", target.host, target.port)
        } else {
            format!("{}/{}", target.host, target.port)
        };
        let again = Target::parse(&cyrus).unwrap_or_else(|e| panic!("{option:?} → {cyrus:?}: {e}"));
        assert_eq!((&again.host, again.port), (&target.host, target.port), "{option:?} → {cyrus:?}");
    }
});
