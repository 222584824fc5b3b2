//! Raw bytes on the mux socket: building counted strings and reading whatever comes back.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Read/write timeout on every client socket, so no test can hang on a silent daemon.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the daemon sent before closing its side.
#[derive(Clone, PartialEq, Eq)]
pub enum RawReply {
    /// The bytes received before EOF (a well-behaved daemon sends exactly one counted string).
    Reply(Vec<u8>),
    /// EOF with no byte received.
    ClosedWithoutReply,
}

impl RawReply {
    /// The reply's text when the bytes are exactly one counted string; panics otherwise.
    pub fn text(&self) -> String {
        let RawReply::Reply(bytes) = self else { panic!("expected a reply, the daemon closed without one") };
        let (len, body) = bytes.split_at_checked(2).unwrap_or_else(|| panic!("reply too short: {self:?}"));
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        assert_eq!(len, body.len(), "reply is not exactly one counted string: {self:?}");
        String::from_utf8_lossy(body).into_owned()
    }
}

impl fmt::Debug for RawReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawReply::Reply(b) => write!(f, "Reply(b\"{}\")", b.escape_ascii()),
            RawReply::ClosedWithoutReply => f.write_str("ClosedWithoutReply"),
        }
    }
}

/// Concatenated counted strings: u16 big-endian length, then the bytes, for each field.
pub fn counted(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        let len = u16::try_from(f.len()).expect("field fits a u16 length");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// The expected bytes of a reply `text`.
pub fn counted_reply(text: &str) -> RawReply {
    RawReply::Reply(counted(&[text.as_bytes()]))
}

/// A released-libsasl2 request: login, password, service, realm.
pub fn request(login: &[u8], password: &[u8], service: &str, realm: &str) -> Vec<u8> {
    counted(&[login, password, service.as_bytes(), realm.as_bytes()])
}

/// A connected client socket with [`SOCKET_TIMEOUT`] on reads and writes.
pub fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    s.set_read_timeout(Some(SOCKET_TIMEOUT)).expect("set_read_timeout");
    s.set_write_timeout(Some(SOCKET_TIMEOUT)).expect("set_write_timeout");
    s
}

/// Whether `sock` accepts a connection now. The file appears at bind(), a moment before listen(),
/// and a connect in between is refused. Connecting and closing at once is an empty request: both
/// daemons just drop it.
pub fn accepts(sock: &Path) -> bool {
    sock.exists() && UnixStream::connect(sock).is_ok()
}

/// Waits up to `timeout` until `sock` [`accepts`]; returns whether it does.
pub fn wait_accepting(sock: &Path, timeout: Duration) -> bool {
    let until = std::time::Instant::now() + timeout;
    while !accepts(sock) {
        if std::time::Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Sends `bytes`, half-closes the write side (so the daemon sees EOF after them), and reads
/// until the daemon closes.
pub fn send_raw(sock: &Path, bytes: &[u8]) -> RawReply {
    let mut s = connect(sock);
    write_tolerant(&mut s, bytes);
    let _ = s.shutdown(Shutdown::Write);
    read_to_close(&mut s)
}

/// Sends `bytes` and reads until the daemon closes, keeping the write side open the way
/// libsasl2 does: the daemon must answer without waiting for more bytes.
pub fn send_raw_open(sock: &Path, bytes: &[u8]) -> RawReply {
    let mut s = connect(sock);
    write_tolerant(&mut s, bytes);
    read_to_close(&mut s)
}

/// Writes all of `bytes`, ignoring a peer that already closed: the test then judges by what
/// was read.
pub fn write_tolerant(s: &mut UnixStream, bytes: &[u8]) {
    if let Err(e) = s.write_all(bytes) {
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "write to daemon failed: {e}"
        );
    }
}

/// Reads until EOF; panics if the daemon neither sends nor closes within the socket's read
/// timeout ([`SOCKET_TIMEOUT`] from [`connect`]).
pub fn read_to_close(s: &mut UnixStream) -> RawReply {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A daemon that closes with our bytes unread may reset the connection: that is a close.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "daemon neither answered nor closed within {:?} ({e}); received so far: b\"{}\"",
                s.read_timeout().ok().flatten().unwrap_or(SOCKET_TIMEOUT),
                buf.escape_ascii()
            ),
        }
    }
    if buf.is_empty() { RawReply::ClosedWithoutReply } else { RawReply::Reply(buf) }
}
