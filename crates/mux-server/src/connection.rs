//! Step "read frame" on a live socket: one request per connection, under a deadline and size
//! limits, then the reply, the half-close and a bounded drain.

use crate::frame::{self, Decoded, FIELD_NAMES, RawRequest};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::{Instant, timeout_at};
use zeroize::Zeroize;

/// How long a client has to send its request by default (`--read-timeout`).
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long, after the reply, the client has to close before we do.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted field; Cyrus's `MAX_REQ_LEN` is 256 ([`frame::MAX_FIELD_LEN`]).
    pub max_field: usize,
    /// Time a client has to send its whole request after connecting. Cyrus has none, so one
    /// stalled client pins a worker forever (reference §1.5); libsasl2 writes the request with
    /// one `writev`, so a few seconds is generous.
    pub read_timeout: Duration,
    /// Time allowed, after the reply, for the client to close before we do. Cyrus drains until
    /// EOF with no limit; a client that keeps the socket open must not hold a slot forever.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_field: frame::MAX_FIELD_LEN, read_timeout: READ_TIMEOUT, drain_timeout: DRAIN_TIMEOUT }
    }
}

/// How reading a request ended.
#[derive(Debug)]
pub enum Received {
    /// A complete request.
    Request(RawRequest),
    /// A field announced more than `max_field` bytes; the name is Cyrus's (`login`, …).
    Oversize(&'static str),
    /// The client closed before the request was complete (Cyrus: close, no reply).
    Closed,
    /// The deadline passed before the request was complete.
    TimedOut,
    /// The socket failed.
    Failed(std::io::Error),
}

/// Read one request from `stream` (a client's socket, possibly watched: [`crate::slots::Heard`])
/// into `buf`, which may hold its first bytes already ([`crate::acceptor`] tries a first read
/// before handing the connection over). The deadline counts from now.
pub async fn read_request<S: AsyncRead + Unpin>(stream: &mut S, limits: &Limits, mut buf: RequestBuf) -> Received {
    let deadline = Instant::now() + limits.read_timeout;
    loop {
        if let Some(received) = buf.received(limits.max_field) {
            return received;
        }
        let Some(space) = buf.space() else {
            return Received::Failed(std::io::Error::other("request larger than five fields"));
        };
        match timeout_at(deadline, stream.read(space)).await {
            Err(_) => return Received::TimedOut,
            Ok(Ok(0)) => return Received::Closed,
            Ok(Ok(n)) => buf.advance(n),
            Ok(Err(e)) => return Received::Failed(e),
        }
    }
}

/// How often a half-closed client (one that shut down its writing side and waits for the
/// reply) is looked at again to see whether it closed the whole socket.
const HANG_UP_POLL: Duration = Duration::from_millis(250);

/// Resolves when the client has closed its whole socket, so no reply can reach it: for racing
/// the waits a request may go through (penalties) against a client that gave up. A half-close
/// (shutdown of the client's writing side, as some clients do after their request) is not a
/// hang-up: such a client still reads the reply. Bytes sent after the request are discarded, as
/// [`finish`] would discard them.
pub async fn peer_gone(stream: &UnixStream) {
    let mut sink = [0u8; 256];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
    sink.fill(0);
    // At end of input: the client has either half-closed or hung up. A UNIX stream socket reports
    // POLLHUP only once the peer closed both directions; tokio's readiness cannot wait for that
    // alone (the socket stays readable at EOF), so look again now and then.
    while !hung_up(stream) {
        tokio::time::sleep(HANG_UP_POLL).await;
    }
}

/// Whether the peer of `stream` has closed both directions (POLLHUP), without blocking.
fn hung_up(stream: &UnixStream) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0].revents().is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        // Cannot tell: keep the request (the wait it races has its own bound).
        Err(_) => false,
    }
}

/// The buffer a request is read into. Only the bytes received can be anything but zero, so only
/// they are zeroed on drop: zeroing all of it (volatile, byte by byte) cost more than the rest of
/// a cache hit's own work.
pub struct RequestBuf {
    bytes: Vec<u8>,
    /// How many bytes at the start were received.
    filled: usize,
}

impl RequestBuf {
    /// An empty buffer with room for five full fields: a well-formed request always fits, so it
    /// never reallocates (which would leave copies of the password behind in freed memory).
    pub fn new(limits: &Limits) -> Self {
        Self { bytes: vec![0; 5 * (limits.max_field + 2)], filled: 0 }
    }

    /// What the bytes so far amount to, once that is final: a complete request (with its fifth
    /// field, if one has begun), or an oversized field; `None` while more bytes are needed.
    pub fn received(&self, max_field: usize) -> Option<Received> {
        match frame::decode_request(self.bytes.get(..self.filled).unwrap_or_default(), max_field) {
            Decoded::Request { request, more_coming: false } => Some(Received::Request(request)),
            Decoded::Oversize { index, .. } => {
                Some(Received::Oversize(FIELD_NAMES.get(index).copied().unwrap_or("field")))
            }
            Decoded::Incomplete | Decoded::Request { more_coming: true, .. } => None,
        }
    }

    /// The room left for the next read; `None` when the buffer is full.
    pub fn space(&mut self) -> Option<&mut [u8]> {
        self.bytes.get_mut(self.filled..).filter(|s| !s.is_empty())
    }

    /// `n` more bytes were read into [`RequestBuf::space`].
    pub fn advance(&mut self, n: usize) {
        self.filled = (self.filled + n).min(self.bytes.len());
    }
}

impl Drop for RequestBuf {
    fn drop(&mut self) {
        if let Some(received) = self.bytes.get_mut(..self.filled) {
            received.zeroize();
        }
    }
}

/// Send `rest`, the part of a reply not written yet, half-close, and wait briefly for the
/// client to close.
pub async fn finish_sending(mut stream: UnixStream, rest: &[u8], limits: &Limits) {
    let sent = async {
        stream.write_all(rest).await?;
        stream.shutdown().await
    };
    if let Err(e) = sent.await {
        tracing::debug!("could not send reply: {e}");
        return;
    }
    // Like Cyrus (issue #445), read and discard until the client closes, so a pipelined second
    // request is ignored rather than answered with a reset — but only for a while.
    let deadline = Instant::now() + limits.drain_timeout;
    let mut sink = [0u8; 512];
    while let Ok(Ok(n)) = timeout_at(deadline, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
    sink.fill(0);
}
