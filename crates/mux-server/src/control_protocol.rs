//! The control socket's line protocol (saslauthd(8), CONTROL SOCKET), shared by the daemon
//! ([`crate::control`]) and `testsaslauthd --admin`. Built without the `daemon` feature, like
//! [`crate::frame`].
//!
//! One request per connection. The client sends one line of at most [`MAX_REQUEST`] bytes
//! (LF included): tab-separated fields, the first [`VERSION`], the second the command, then its
//! arguments. The daemon answers with lines of tab-separated fields: first `VERSION OK` or
//! `VERSION ERR code message`, then records (`kind key=value…`), then `END`, and closes.
//! A tab, line feed, carriage return or backslash inside a value is written `\t`, `\n`, `\r`,
//! `\\`; arguments may hold none of tab, LF, CR or NUL.
//!
//! Hand-written: the protocol is a few lines of text meant to be readable with `socat`, and no
//! crate defines it.

/// The protocol's name and version, the first field of every request and of the status line.
pub const VERSION: &str = "saslauthd-control/1";

/// The longest request line, LF included.
pub const MAX_REQUEST: usize = 1024;

/// The control socket's file name inside a run directory.
pub const SOCKET_NAME: &str = "control";

/// The line that ends a complete response.
pub const END: &str = "END";

/// The commands the daemon knows.
pub const COMMANDS: &[&str] = &["flush-cache", "penalties", "forget-penalty", "stats", "reload"];

/// Why a request or response line is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The line does not start with [`VERSION`].
    #[error("not a {VERSION} line")]
    Version,
    /// No command after the version.
    #[error("no command")]
    NoCommand,
    /// An argument holds a byte that cannot travel in a field.
    #[error("an argument holds a tab, line feed, carriage return or NUL")]
    BadArgument,
    /// The request would exceed [`MAX_REQUEST`].
    #[error("request longer than {MAX_REQUEST} bytes")]
    TooLong,
    /// The line is not UTF-8 or not of the expected shape.
    #[error("malformed line: {0}")]
    Malformed(String),
}

/// A parsed request: the command and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The command, e.g. `flush-cache`.
    pub command: String,
    /// Its arguments, in order.
    pub args: Vec<String>,
}

impl Request {
    /// The request line (LF-terminated) for `command` with `args`.
    pub fn encode(command: &str, args: &[&str]) -> Result<Vec<u8>, ProtocolError> {
        let bad = |s: &str| s.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r' | 0));
        if command.is_empty() || bad(command) {
            return Err(ProtocolError::NoCommand);
        }
        if args.iter().any(|a| bad(a)) {
            return Err(ProtocolError::BadArgument);
        }
        let mut line = String::from(VERSION);
        for field in std::iter::once(&command).chain(args) {
            line.push('\t');
            line.push_str(field);
        }
        line.push('\n');
        if line.len() > MAX_REQUEST {
            return Err(ProtocolError::TooLong);
        }
        Ok(line.into_bytes())
    }

    /// Parse one request line (without its LF).
    pub fn decode(line: &[u8]) -> Result<Request, ProtocolError> {
        let line = std::str::from_utf8(line).map_err(|_| ProtocolError::Malformed("not UTF-8".into()))?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.contains(['\r', '\0']) {
            return Err(ProtocolError::BadArgument);
        }
        let mut fields = line.split('\t');
        if fields.next() != Some(VERSION) {
            return Err(ProtocolError::Version);
        }
        let command = fields.next().filter(|c| !c.is_empty()).ok_or(ProtocolError::NoCommand)?;
        Ok(Request { command: command.to_owned(), args: fields.map(str::to_owned).collect() })
    }
}

/// One record of a response: its kind and `key=value` fields, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What the record describes (`penalty`, `metric`, `flushed`, …).
    pub kind: String,
    /// Its fields.
    pub fields: Vec<(String, String)>,
}

impl Record {
    /// A record of `kind` with no fields yet.
    pub fn new(kind: &str) -> Record {
        Record { kind: kind.to_owned(), fields: Vec::new() }
    }

    /// Add a field.
    pub fn with(mut self, key: &str, value: impl std::fmt::Display) -> Record {
        self.fields.push((key.to_owned(), value.to_string()));
        self
    }

    /// The value of field `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&escape(&self.kind));
        for (key, value) in &self.fields {
            out.push('\t');
            out.push_str(&escape(key));
            out.push('=');
            out.push_str(&escape(value));
        }
        out.push('\n');
    }

    fn decode(line: &str) -> Result<Record, ProtocolError> {
        let mut parts = line.split('\t');
        let kind = unescape(parts.next().unwrap_or_default());
        let fields = parts
            .map(|part| {
                part.split_once('=')
                    .map(|(k, v)| (unescape(k), unescape(v)))
                    .ok_or_else(|| ProtocolError::Malformed(format!("field without '=': {part}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Record { kind, fields })
    }
}

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The command was carried out; what it reports.
    Ok(Vec<Record>),
    /// It was not: a short code (`usage`, `off`, `failed`, `denied`, `busy`) and a message.
    Err {
        /// Machine-readable reason.
        code: String,
        /// For the operator.
        message: String,
    },
}

impl Response {
    /// An error response.
    pub fn err(code: &str, message: impl std::fmt::Display) -> Response {
        Response::Err { code: code.to_owned(), message: message.to_string() }
    }

    /// The response's text, `END` line included.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        match self {
            Response::Ok(records) => {
                out.push_str(VERSION);
                out.push_str("\tOK\n");
                records.iter().for_each(|r| r.encode(&mut out));
            }
            Response::Err { code, message } => {
                out.push_str(&format!("{VERSION}\tERR\t{}\t{}\n", escape(code), escape(message)));
            }
        }
        out.push_str(END);
        out.push('\n');
        out
    }

    /// Parse a complete response; one without its `END` line is refused as truncated.
    pub fn decode(text: &str) -> Result<Response, ProtocolError> {
        let mut lines = text.lines();
        let status = lines.next().ok_or_else(|| ProtocolError::Malformed("empty response".into()))?;
        let mut status = status.split('\t');
        if status.next() != Some(VERSION) {
            return Err(ProtocolError::Version);
        }
        let mut body: Vec<&str> = lines.collect();
        if body.pop() != Some(END) {
            return Err(ProtocolError::Malformed("truncated response (no END line)".into()));
        }
        match status.next() {
            Some("OK") => Ok(Response::Ok(body.into_iter().map(Record::decode).collect::<Result<_, _>>()?)),
            Some("ERR") => Ok(Response::Err {
                code: unescape(status.next().unwrap_or_default()),
                message: unescape(status.next().unwrap_or_default()),
            }),
            other => Err(ProtocolError::Malformed(format!("status {other:?}"))),
        }
    }
}

/// Escape a value for one field.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Undo [`escape`]; an unknown escape keeps its character.
pub fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_are_refused() {
        let line = Request::encode("flush-cache", &["joe smith", "example.org"]).unwrap();
        assert_eq!(line, b"saslauthd-control/1\tflush-cache\tjoe smith\texample.org\n");
        let parsed = Request::decode(&line[..line.len() - 1]).unwrap();
        assert_eq!(parsed.command, "flush-cache");
        assert_eq!(parsed.args, ["joe smith", "example.org"]);
        assert_eq!(Request::encode("x", &["a\tb"]), Err(ProtocolError::BadArgument));
        assert_eq!(Request::encode("x", &["a\nb"]), Err(ProtocolError::BadArgument));
        assert_eq!(Request::encode("x", &[&"a".repeat(2000)]), Err(ProtocolError::TooLong));
        assert_eq!(Request::decode(b"saslauthd-control/2\tstats"), Err(ProtocolError::Version));
        assert_eq!(Request::decode(b"stats"), Err(ProtocolError::Version));
        assert_eq!(Request::decode(b"saslauthd-control/1"), Err(ProtocolError::NoCommand));
        assert_eq!(Request::decode(b"saslauthd-control/1\t"), Err(ProtocolError::NoCommand));
        assert!(Request::decode(b"saslauthd-control/1\tstats\t\xff").is_err());
        assert_eq!(Request::decode(b"saslauthd-control/1\tx\ta\0b"), Err(ProtocolError::BadArgument));
    }

    proptest::proptest! {
        /// What fuzz/fuzz_targets/control_protocol.rs checks, on stable: whatever decodes
        /// encodes back to the same value.
        #[test]
        fn whatever_decodes_round_trips(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Ok(request) = Request::decode(&bytes) {
                let args: Vec<&str> = request.args.iter().map(String::as_str).collect();
                if let Ok(line) = Request::encode(&request.command, &args) {
                    proptest::prop_assert_eq!(Request::decode(&line[..line.len() - 1]).unwrap(), request);
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            proptest::prop_assert_eq!(unescape(&escape(&text)), text.as_ref());
            if let Ok(response) = Response::decode(&text) {
                proptest::prop_assert_eq!(Response::decode(&response.encode()).unwrap(), response);
            }
        }

        /// Responses built from arbitrary values survive the trip, tabs and newlines included.
        #[test]
        fn built_responses_round_trip(kind in "[a-z]{1,8}", key in "[a-z_]{1,8}", value in ".*", message in ".*") {
            let ok = Response::Ok(vec![Record::new(&kind).with(&key, &value)]);
            proptest::prop_assert_eq!(Response::decode(&ok.encode()).unwrap(), ok);
            let err = Response::err("failed", &message);
            proptest::prop_assert_eq!(Response::decode(&err.encode()).unwrap(), err);
        }
    }

    #[test]
    fn responses_round_trip_with_escapes() {
        let ok = Response::Ok(vec![
            Record::new("penalty").with("key", "we\tird\\na\nme").with("failures", 3),
            Record::new("flushed").with("users", 0),
        ]);
        let text = ok.encode();
        assert!(text.starts_with("saslauthd-control/1\tOK\npenalty\tkey=we\\tird\\\\na\\nme\tfailures=3\n"));
        assert_eq!(Response::decode(&text).unwrap(), ok);
        let err = Response::err("off", "the cache is off");
        assert_eq!(Response::decode(&err.encode()).unwrap(), err);
        let truncated = text.trim_end_matches("END\n");
        assert!(Response::decode(truncated).is_err());
        assert!(Response::decode("").is_err());
    }
}
