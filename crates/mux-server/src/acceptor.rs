//! Step "accept": blocking acceptor threads on each listener. Each takes a connection off the
//! listen queue and, when it can, serves it to the end itself: libsasl2 writes its whole request
//! right after connecting, so under load it is there when the connection is accepted, and what
//! the policy answers without waiting ([`Policy::decide_at_once`]: a cache hit, a field refused)
//! needs no wait either. Everything else — a request not complete yet, a cache miss, a request a
//! penalty holds, a reply the socket does not take at once, a client sending more after its
//! request — goes to the tokio runtime with what was read ([`crate::server::serve`]), where the
//! read deadline, the race against a client's hang-up and the drain apply as before. Nothing
//! here ever waits on a client: the socket calls on a connection are non-blocking.
//!
//! Why blocking accept in threads instead of tokio's accept loop (issue 19): a cache hit through
//! the reactor cost a turn of it per connection — epoll registration and removal, a wake-up of
//! the accepting worker and often one of another for the task — about a third more CPU per
//! request than the bare C server this is measured against (`contrib/bench/nullmux.c`), which
//! does what an acceptor does here: accept, read, write, close. The kernel hands each
//! connection to one sleeping acceptor.

use crate::connection::RequestBuf;
use crate::frame;
use crate::metrics::{self, RequestResult};
use crate::policy::{Decided, Policy};
use crate::server::{Begun, ServerConfig};
use crate::slots::{Pressure, Shedding, Slot, Slots};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, recv, send};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use zeroize::Zeroizing;

/// How often an acceptor with no client looks whether shutdown was asked for (its `accept`
/// times out: `SO_RCVTIMEO` on the listener).
pub const STOP_POLL: Duration = Duration::from_millis(200);

/// How long an acceptor waits for a request that has not arrived yet when its connection is
/// accepted: libsasl2 connects, then writes, so an acceptor woken by the connect often runs
/// before the write (and under load the client may wait a while for a CPU in between). A
/// request that comes within this is served here; handing the connection to the runtime instead
/// costs several times more (registration, a task, reactor turns). Measured (issue 19, 16
/// clients on 2 CPUs): with 250 µs a tenth of the connections were handed over and hits reached
/// 0.7–0.9 of nullmux; with 1 ms, one in 200, and 1.0–1.3.
pub const REQUEST_WAIT: Duration = Duration::from_millis(1);
/// After a wait for a request ran out, how long an acceptor hands new connections without a
/// request straight to the runtime: under an idle flood an acceptor loses one wait per this
/// (a twentieth of its time), not one per connection, so silent clients never hold up the
/// accepting of others.
pub const IMPATIENT_FOR: Duration = Duration::from_millis(20);

/// Acceptor threads per listener by default: one per CPU, at least two, so that one acceptor
/// busy with a hit (or preempted) leaves another in `accept`.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from).max(2)
}

/// What the acceptors of one server share.
pub struct Shared {
    /// Decides requests.
    pub policy: Arc<Policy>,
    /// The server's settings.
    pub config: ServerConfig,
    /// The connection cap.
    pub slots: Arc<Slots>,
    /// The runtime that serves what an acceptor cannot finish.
    pub runtime: Handle,
    /// Where answered connections still open after a while wait for their client to close.
    pub drain: Arc<crate::drain::Drain>,
}

/// Make `listener` fit for the acceptors: blocking, with [`STOP_POLL`] as its accept timeout.
pub fn prepare(listener: &UnixListener) -> std::io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
    use nix::sys::time::{TimeVal, TimeValLike};
    listener.set_nonblocking(false)?;
    let poll = TimeVal::milliseconds(i64::try_from(STOP_POLL.as_millis()).unwrap_or(200));
    setsockopt(listener, ReceiveTimeout, &poll)?;
    Ok(())
}

/// Start one acceptor thread on `listener` (made ready by [`prepare`]). It ends once `stop` says
/// so, dropping `done` (the server waits for every clone of it to be gone).
pub fn spawn(
    listener: Arc<UnixListener>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("saslauthd-accept".into()).spawn(move || {
        // Signals are the runtime's (crate::signals): an acceptor must not take them.
        let _ = crate::signals::handled().thread_block();
        let _entered = shared.runtime.enter();
        accept_loop(&listener, &shared, stop);
        drop(done);
    })?;
    Ok(())
}

fn accept_loop(listener: &UnixListener, shared: &Shared, mut stop: watch::Receiver<bool>) {
    let mut pressure = Pressure::new(shared.slots.cap());
    let mut patience = Patience::default();
    let mut recent = crate::drain::Recent::default();
    while !*stop.borrow() {
        // While no client comes, the answered connections wait here until the accept timeout
        // ([`STOP_POLL`]) at most: their clients have the reply and its end of file already, and
        // at the cap they are looked at first (below). Waiting for the listener with a timeout
        // instead cost a system call per connection under load (ours/nullmux 0.84-1.04 against
        // 0.94-1.03).
        recent.look(&shared.drain);
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => {
                continue;
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning (Cyrus sleeps 5 s).
                tracing::error!("socket accept failure: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // Accept first, then find a slot: a slot is made (by shedding) only for a client that
        // is there. At the cap each acceptor holds one descriptor beyond it.
        let slot = match shared.slots.take(stream.as_raw_fd()) {
            Some(slot) => slot,
            None => loop {
                // Answered connections (its own, or those the runtime adopted: one may come while
                // this waits) may hold the slots, their clients gone since the last look; those
                // still open go to the drain thread, which frees each slot as soon as its client
                // closes (here none would be looked at while waiting for room).
                let mut adopted = std::pin::pin!(shared.drain.adopted());
                adopted.as_mut().enable();
                recent.look_now(&shared.drain);
                recent.hand_all(&shared.drain);
                let room = shared.slots.room(stream.as_raw_fd(), |shed| {
                    if let (Shedding::Shed(_), Some(m)) = (shed, metrics::get()) {
                        m.shed().inc();
                    }
                    pressure.note(shed);
                });
                let slot = shared.runtime.block_on(async {
                    tokio::select! {
                        slot = room => Some(Some(slot)),
                        () = adopted => Some(None),
                        _ = stop.wait_for(|s| *s) => None,
                    }
                });
                match slot {
                    Some(Some(slot)) => break slot,
                    Some(None) => {}
                    None => return,
                }
            },
        };
        serve(Connection { slot, stream }, shared, &mut patience, &mut recent);
    }
}

/// An accepted connection. Fields drop in order: the slot before the stream is closed, so the
/// slot table never names a closed descriptor.
struct Connection {
    slot: Slot,
    stream: UnixStream,
}

/// Serve `conn` to the end if it needs no wait; otherwise hand it to the runtime.
///
/// The request is first *peeked at*, and taken off the socket only after the reply was sent:
/// taking it frees its buffer, which wakes the client if it already sleeps waiting for the reply
/// (a UNIX socket wakes every sleeper on its queue when its peer's buffer frees space), and then
/// it wakes a second time for the reply itself. After the reply the client is awake anyway.
fn serve(conn: Connection, shared: &Shared, patience: &mut Patience, recent: &mut crate::drain::Recent) {
    let started = Instant::now();
    let metrics = metrics::get();
    if let Some(m) = metrics {
        m.connections().inc();
    }
    let limits = &shared.config.limits;
    let fd = conn.stream.as_raw_fd();
    let mut buf = RequestBuf::new(limits);
    let mut peeked = 0;
    if let Some(space) = buf.space() {
        let peek = |space: &mut [u8]| recv(fd, space, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_PEEK);
        let mut got = peek(space);
        if got == Err(Errno::EAGAIN) && patience.wait_for_bytes(&conn.stream) {
            got = peek(space);
        }
        // Nothing there yet, an end of file or an error: the runtime's read finds out again
        // and handles it under the read deadline.
        if let Ok(n) = got
            && n > 0
        {
            peeked = n;
            buf.advance(n);
            conn.slot.heard();
        }
    }
    let raw = match buf.received(limits.max_field) {
        Some(crate::connection::Received::Request(raw)) => raw,
        _ => {
            let _ = consume(fd, peeked, false);
            return hand_over(conn, Begun::Reading(buf), started, shared);
        }
    };
    drop(buf);
    if !conn.slot.read_done() {
        // Shed meanwhile by another acceptor (its socket is shut down): no one to answer.
        if let Some(m) = metrics {
            m.observe(shared.policy.mechanism(), RequestResult::Incomplete, started.elapsed());
            m.connections().dec();
        }
        return;
    }
    let answer = match shared.policy.decide_at_once(raw) {
        Decided::Now(answer) => answer,
        Decided::Later(deferred) => {
            let _ = consume(fd, peeked, false);
            return hand_over(conn, Begun::Deciding(deferred), started, shared);
        }
    };
    if let Some(m) = metrics {
        m.observe(shared.policy.mechanism(), RequestResult::of(Some(&answer)), started.elapsed());
    }
    // A tempfail closes without a reply.
    let replying = answer.reply().map(|reply| {
        let reply = frame::encode_reply(reply.text().as_bytes());
        let sent = send(fd, &reply, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL).unwrap_or(0);
        (reply, sent)
    });
    let behind = consume(fd, peeked, true);
    match replying {
        Some((reply, sent)) if sent < reply.len() => {
            return hand_over(conn, Begun::Replying { reply, sent }, started, shared);
        }
        // As Cyrus after every reply (reference §1.5): half-close, then read until the client
        // closes, so that one writing after its reply meets no reset.
        Some(_) if behind != Behind::Closed => {
            if let Some(m) = metrics {
                m.connections().dec();
            }
            let Connection { slot, stream } = conn;
            recent.add(slot, stream);
            return;
        }
        // A tempfail, or a client gone already: close.
        _ => {}
    }
    drop(conn);
    if let Some(m) = metrics {
        m.connections().dec();
    }
}

/// Whether an acceptor waits for a request not there yet ([`REQUEST_WAIT`], [`IMPATIENT_FOR`]).
#[derive(Default)]
struct Patience {
    /// No wait before this.
    impatient_until: Option<Instant>,
}

impl Patience {
    /// Wait up to [`REQUEST_WAIT`] for `stream` to have bytes (or an end of file), unless a
    /// recent wait ran out; whether it has.
    fn wait_for_bytes(&mut self, stream: &UnixStream) -> bool {
        use nix::poll::{PollFd, PollFlags, ppoll};
        use std::os::fd::AsFd;
        if self.impatient_until.is_some_and(|until| Instant::now() < until) {
            return false;
        }
        let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        // ppoll: a timeout finer than poll's milliseconds.
        let ready = matches!(ppoll(&mut fds, Some(REQUEST_WAIT.into()), None), Ok(n) if n > 0);
        self.impatient_until = (!ready).then(|| Instant::now() + IMPATIENT_FOR);
        ready
    }
}

/// What waited on a socket behind the bytes [`consume`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behind {
    /// Nothing yet (or not looked at).
    Nothing,
    /// More bytes (read and discarded, not necessarily all of them).
    More,
    /// The client's end of file: it has closed, or half-closed.
    Closed,
}

/// Take `n` bytes, already peeked at, off the socket `fd`. With `look_beyond`, also tell what
/// waited behind them (reading one more byte in the same call when it can).
fn consume(fd: RawFd, mut n: usize, look_beyond: bool) -> Behind {
    if n == 0 && !look_beyond {
        return Behind::Nothing;
    }
    // The bytes are a request's: a password passes through here.
    let mut sink = Zeroizing::new([0u8; 512]);
    loop {
        let want = n.saturating_add(usize::from(look_beyond)).min(sink.len());
        let looking = look_beyond && want > n;
        match recv(fd, sink.get_mut(..want).unwrap_or_default(), MsgFlags::MSG_DONTWAIT) {
            Ok(got) if got > n => return Behind::More,
            Ok(got) if got > 0 => n -= got,
            Ok(_) if looking || n > 0 => return Behind::Closed,
            // Nothing asked for; an error (the runtime's or the drain's read finds out again).
            Ok(_) | Err(_) => return Behind::Nothing,
        }
        if n == 0 && (looking || !look_beyond) {
            return Behind::Nothing;
        }
    }
}

/// Give `conn` to the runtime, to go on from `begun`.
fn hand_over(conn: Connection, begun: Begun, started: Instant, shared: &Shared) {
    let Connection { slot, stream } = conn;
    let stream = slot.reregister(|| {
        let registered = stream.set_nonblocking(true).and_then(|()| tokio::net::UnixStream::from_std(stream));
        registered.map_err(|e| tracing::error!("cannot serve a connection: {e}")).ok()
    });
    let Some(stream) = stream else {
        drop(slot);
        if let Some(m) = metrics::get() {
            m.connections().dec();
        }
        return;
    };
    let (policy, limits) = (shared.policy.clone(), shared.config.limits);
    let drain = shared.drain.clone();
    shared.runtime.spawn(async move {
        crate::server::serve(stream, slot, &policy, &limits, &drain, begun, started).await;
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::{Read, Write};

    /// A connected pair with `sent` written by the client end and peeked at by the server end.
    fn pair(sent: &[u8]) -> (UnixStream, UnixStream) {
        let (server, mut client) = UnixStream::pair().unwrap();
        client.write_all(sent).unwrap();
        (server, client)
    }

    #[test]
    fn consume_takes_what_was_peeked_and_tells_whether_more_waits() {
        for len in [1, 21, 511, 512, 513, 1290] {
            let request = vec![7u8; len];
            let (server, _client) = pair(&request);
            assert_eq!(consume(server.as_raw_fd(), len, true), Behind::Nothing, "{len} bytes, nothing behind");
            assert_eq!(recv(server.as_raw_fd(), &mut [0u8; 8], MsgFlags::MSG_DONTWAIT), Err(Errno::EAGAIN));

            let (server, _client) = pair(&[request.as_slice(), b"more"].concat());
            assert_eq!(consume(server.as_raw_fd(), len, true), Behind::More, "{len} bytes, more behind");

            let (server, _client) = pair(&[request.as_slice(), b"next"].concat());
            assert_eq!(consume(server.as_raw_fd(), len, false), Behind::Nothing, "without looking beyond");
            let mut next = [0u8; 4];
            (&server).read_exact(&mut next).unwrap();
            assert_eq!(&next, b"next", "exactly the peeked bytes were taken");
        }
        let (server, _client) = pair(b"");
        assert_eq!(consume(server.as_raw_fd(), 0, false), Behind::Nothing, "nothing peeked, nothing taken");
    }

    #[test]
    fn a_client_that_closed_has_nothing_more() {
        let (server, client) = pair(b"abc");
        drop(client);
        // The end of file comes after the bytes, in a call of its own.
        assert_eq!(consume(server.as_raw_fd(), 3, true), Behind::Nothing);
        assert_eq!(consume(server.as_raw_fd(), 0, true), Behind::Closed);
    }
}
