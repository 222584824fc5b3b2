//! Fuzz target: the control socket's codec (`mux_server::control_protocol`) on arbitrary bytes.
//!
//! The first byte picks the side: a request line as the daemon reads it, or a response as
//! `testsaslauthd --admin` reads it. Beyond not panicking, whatever decodes must encode back to
//! something that decodes to the same value (escapes included).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mux_server::control_protocol::{Request, Response, escape, unescape};

fuzz_target!(|data: &[u8]| {
    let Some((&side, rest)) = data.split_first() else { return };
    if side % 2 == 0 {
        if let Ok(request) = Request::decode(rest) {
            let args: Vec<&str> = request.args.iter().map(String::as_str).collect();
            // A command or argument holding a line feed, or a long line, cannot be sent again.
            if let Ok(line) = Request::encode(&request.command, &args) {
                let again = Request::decode(&line[..line.len() - 1]).expect("an encoded request decodes");
                assert_eq!(again, request);
            }
        }
    } else if let Ok(text) = std::str::from_utf8(rest) {
        assert_eq!(unescape(&escape(text)), text);
        if let Ok(response) = Response::decode(text) {
            let again = Response::decode(&response.encode()).expect("an encoded response decodes");
            assert_eq!(again, response);
        }
    }
});
