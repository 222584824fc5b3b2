//! A reply's write tried at once, before tokio's reactor has reported the socket writable.
//!
//! tokio tries a write only once its reactor (epoll) has reported readiness, and a socket the
//! runtime was just handed has had no report yet: the reply's write would wait for a turn of
//! the reactor. A reply of a few bytes always fits the socket's buffer, so trying the system
//! call first (non-blocking) saves that turn. When the call would block, the caller falls back
//! to tokio's write, which waits for the reactor as before. (The first read is tried at once by
//! the acceptor, [`crate::acceptor`].)

use nix::sys::socket::{MsgFlags, send};
use std::os::fd::AsRawFd;
use tokio::net::UnixStream;

/// Write what of `bytes` the socket takes now; 0 when it would block or failed (the caller's
/// tokio write then finds out which, and says so).
pub fn write_now(stream: &UnixStream, bytes: &[u8]) -> usize {
    send(stream.as_raw_fd(), bytes, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL).unwrap_or(0)
}
