//! Socket calls tried at once, before tokio's reactor has reported the socket ready.
//!
//! tokio tries a read or write only once its reactor (epoll) has reported readiness, and a
//! socket just accepted has had no report yet: its first read, and the reply's write, would
//! each wait for a turn of the reactor. But libsasl2 writes its request right after connecting,
//! so under load it is usually there when the connection is accepted, and a reply of a few bytes
//! always fits the socket's buffer. Trying the system call first (non-blocking) saves those
//! turns — two wake-ups per cache hit. When the call would block, the caller falls back to
//! tokio's read or write, which waits for the reactor as before: the deadlines are unchanged.
//! tokio's readiness state is only ever stale the safe way (it may report ready when the socket
//! is not, and then its own call sees `EAGAIN` and waits).

use nix::sys::socket::{MsgFlags, recv, send};
use std::io;
use std::os::fd::AsRawFd;
use tokio::net::UnixStream;

/// Read into `buf` now: `None` if nothing has arrived yet (the call would block).
pub fn read_now(stream: &UnixStream, buf: &mut [u8]) -> Option<io::Result<usize>> {
    match recv(stream.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
        Ok(n) => Some(Ok(n)),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => None,
        Err(e) => Some(Err(e.into())),
    }
}

/// Write what of `bytes` the socket takes now; 0 when it would block or failed (the caller's
/// tokio write then finds out which, and says so).
pub fn write_now(stream: &UnixStream, bytes: &[u8]) -> usize {
    send(stream.as_raw_fd(), bytes, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL).unwrap_or(0)
}
