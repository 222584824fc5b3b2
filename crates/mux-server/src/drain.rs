//! After its reply, a connection an acceptor answered is half-closed and read until the client
//! closes, what it sends discarded, for at most the drain deadline — as Cyrus 2.1.28 does after
//! every reply (reference §1.5, its issue #445): a client that writes after its reply (a second
//! request, a fifth field sent on its own) is not answered with a reset or `EPIPE`, and one that
//! reads to end of file sees it right after the reply.
//!
//! One thread does it for all acceptors of a server, over one epoll set: adding a connection is
//! one `epoll_ctl`, and the thread wakes when clients close, many at a time under load. Handing
//! each answered connection to the runtime instead (a task, a registration, reactor turns)
//! cost a third of the cache-hit rate (issue 19's review). A draining connection keeps its slot
//! (it is still open), as the runtime's drain does ([`crate::connection::finish_sending`]).

use crate::slots::Slot;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{MsgFlags, recv};
use std::collections::{HashMap, VecDeque};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How often the drain thread looks at its connections while it has any: one wake-up serves
/// every client that closed meanwhile, whatever the request rate (a wake-up per request cost
/// as much as the rest of a cache hit). A socket closes this much after its client at most.
const TICK: Duration = Duration::from_millis(1);

/// How long a connection is looked at every [`TICK`] (one non-blocking read each) before it
/// is left to the epoll set, which costs a registration but nothing while the client is silent.
/// libsasl2 closes as soon as it has read its reply: nearly every connection ends well within.
const YOUNG_FOR: Duration = Duration::from_millis(20);

/// How often, at most, the drain thread looks whether shutdown was asked for.
const STOP_POLL: Duration = Duration::from_millis(200);

/// One answered connection. Fields drop in order: the slot before the socket closes (see
/// [`crate::slots`]).
struct Entry {
    /// Held, not read: the connection counts against the cap until it closes.
    _slot: Slot,
    stream: UnixStream,
    added: Instant,
}

/// The connections being drained.
pub struct Drain {
    /// Connections added since the thread last looked.
    fresh: Mutex<Vec<Entry>>,
    /// Signalled on an add while the thread sleeps with nothing to look after.
    wake: Condvar,
    idle: AtomicBool,
    /// How long a client has, after its reply, to close.
    timeout: Duration,
}

impl Drain {
    /// A drain giving clients `timeout` to close, and its thread, which ends once `stop` says so
    /// (dropping `done`; every connection still draining is closed then).
    pub fn start(
        timeout: Duration,
        stop: watch::Receiver<bool>,
        done: mpsc::Sender<()>,
    ) -> std::io::Result<Arc<Self>> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let drain =
            Arc::new(Self { fresh: Mutex::default(), wake: Condvar::new(), idle: AtomicBool::new(false), timeout });
        let serving = drain.clone();
        std::thread::Builder::new().name("saslauthd-drain".into()).spawn(move || {
            // Signals are the runtime's (crate::signals).
            let _ = crate::signals::handled().thread_block();
            Draining::new(&serving, epoll).run(&stop);
            serving.lock().clear();
            drop(done);
        })?;
        Ok(drain)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        // Each critical section is a push or a take: the list is whole after a panic.
        self.fresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Half-close `stream`, whose reply is sent, and drain it until its client closes; `slot`
    /// is held until then.
    pub fn add(&self, slot: Slot, stream: UnixStream) {
        if let Err(e) = stream.shutdown(std::net::Shutdown::Write) {
            // The client is gone already: nothing to drain.
            tracing::debug!("could not half-close after the reply: {e}");
            drop(slot);
            return;
        }
        self.lock().push(Entry { _slot: slot, stream, added: Instant::now() });
        if self.idle.load(Ordering::Acquire) {
            self.wake.notify_one();
        }
    }

    /// Connections added and not yet looked at by the drain thread.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }
}

/// The drain thread's own state.
struct Draining<'a> {
    drain: &'a Drain,
    /// Looked at every tick.
    young: Vec<Entry>,
    /// Left to the epoll set, by key; with their deadlines, oldest first.
    epoll: Epoll,
    lingering: HashMap<u64, Entry>,
    by_age: VecDeque<(Instant, u64)>,
    next_key: u64,
    sink: [u8; 512],
}

/// What a look at a draining connection found.
enum Look {
    /// Its client closed (or the socket failed): close it.
    Done,
    /// Still open.
    Open,
}

impl<'a> Draining<'a> {
    fn new(drain: &'a Drain, epoll: Epoll) -> Self {
        Self {
            drain,
            young: Vec::new(),
            epoll,
            lingering: HashMap::new(),
            by_age: VecDeque::new(),
            next_key: 0,
            sink: [0; 512],
        }
    }

    fn run(&mut self, stop: &watch::Receiver<bool>) {
        let mut events = vec![EpollEvent::empty(); 256];
        while !*stop.borrow() {
            self.take_fresh();
            self.look_at_young();
            // Also the tick: with nothing lingering, an empty set just sleeps.
            let ready = self.epoll.wait(&mut events, EpollTimeout::from(tick_millis())).unwrap_or(0);
            for event in events.get(..ready).unwrap_or_default() {
                self.look_at_lingering(event.data());
            }
            self.expire();
        }
        self.sink.fill(0);
    }

    /// Move what was added into `young`; with nothing at all to look after, sleep until an add
    /// (or [`STOP_POLL`]).
    fn take_fresh(&mut self) {
        let mut fresh = self.drain.lock();
        if fresh.is_empty() && self.young.is_empty() && self.lingering.is_empty() {
            self.drain.idle.store(true, Ordering::Release);
            fresh = self.drain.wake.wait_timeout(fresh, STOP_POLL).unwrap_or_else(PoisonError::into_inner).0;
            self.drain.idle.store(false, Ordering::Release);
        }
        self.young.append(&mut fresh);
    }

    fn look_at_young(&mut self) {
        let now = Instant::now();
        let mut young = std::mem::take(&mut self.young);
        for entry in young.drain(..) {
            match look(&entry.stream, &mut self.sink) {
                Look::Done => {}
                Look::Open if now.duration_since(entry.added) < YOUNG_FOR => self.young.push(entry),
                Look::Open => self.linger(entry),
            }
        }
        // Keeps its capacity: the next tick's `young` reuses it.
        self.young.append(&mut young);
    }

    /// Leave `entry` to the epoll set until its client closes or its deadline passes.
    fn linger(&mut self, entry: Entry) {
        let key = self.next_key;
        self.next_key = key.wrapping_add(1);
        // Level-triggered: readable while bytes wait or once the client closed.
        let event = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP, key);
        if let Err(e) = self.epoll.add(&entry.stream, event) {
            tracing::debug!("cannot drain a connection, closing it: {e}");
            return;
        }
        self.by_age.push_back((entry.added + self.drain.timeout, key));
        self.lingering.insert(key, entry);
    }

    fn look_at_lingering(&mut self, key: u64) {
        if let Some(entry) = self.lingering.get(&key)
            && matches!(look(&entry.stream, &mut self.sink), Look::Done)
        {
            // Closing it takes it out of the epoll set.
            self.lingering.remove(&key);
        }
    }

    /// Close the connections whose client did not close within the deadline.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, key)) = self.by_age.front() {
            if deadline > now {
                break;
            }
            self.by_age.pop_front();
            self.lingering.remove(&key);
        }
    }
}

/// Read what the client of `stream` sent, discarding it, without waiting.
fn look(stream: &UnixStream, sink: &mut [u8]) -> Look {
    loop {
        match recv(stream.as_raw_fd(), sink, MsgFlags::MSG_DONTWAIT) {
            Ok(n) if n > 0 => {}
            Err(nix::errno::Errno::EAGAIN) => return Look::Open,
            Err(nix::errno::Errno::EINTR) => {}
            // End of file, or the socket failed.
            Ok(_) | Err(_) => return Look::Done,
        }
    }
}

fn tick_millis() -> u16 {
    u16::try_from(TICK.as_millis()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::slots::Slots;
    use std::io::{Read, Write};

    fn until(what: impl Fn() -> bool) {
        let started = Instant::now();
        while !what() {
            assert!(started.elapsed() < Duration::from_secs(5), "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_drained_connection_takes_late_writes_and_ends_when_its_client_closes() {
        let (stop_tx, stop) = watch::channel(false);
        let (done, mut all_done) = mpsc::channel(1);
        let drain = Drain::start(Duration::from_secs(5), stop, done).unwrap();
        let slots = Slots::new(4);
        let (server, mut client) = UnixStream::pair().unwrap();
        let slot = slots.take(server.as_raw_fd()).unwrap();
        assert!(slot.read_done());
        drain.add(slot, server);
        // Half-closed: the client reads end of file at once, and its late write is taken.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        client.write_all(b"a second request").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let others: Vec<Slot> = (96..99).map(|fd| slots.take(fd).unwrap()).collect();
        assert!(slots.take(99).is_none(), "still draining while the client is open: its slot is held");
        drop(client);
        until(|| slots.take(99).is_some());
        drop(others);

        let (server, mut client) = UnixStream::pair().unwrap();
        let slots = Slots::new(1);
        drain.add(slots.take(server.as_raw_fd()).unwrap(), server);
        let _ = stop_tx.send(true);
        assert!(all_done.blocking_recv().is_none(), "the thread ended");
        assert!(slots.take(99).is_some(), "and closed what it was draining");
        let mut byte = [0u8; 1];
        assert_eq!(client.read(&mut byte).unwrap(), 0);
    }

    #[test]
    fn a_client_that_never_closes_is_closed_at_the_deadline() {
        let (_stop_tx, stop) = watch::channel(false);
        let (done, _all_done) = mpsc::channel(1);
        let drain = Drain::start(Duration::from_millis(100), stop, done).unwrap();
        let slots = Slots::new(1);
        let (server, mut client) = UnixStream::pair().unwrap();
        drain.add(slots.take(server.as_raw_fd()).unwrap(), server);
        client.write_all(b"silent after this").unwrap();
        until(|| slots.take(99).is_some());
        assert_eq!(drain.waiting(), 0);
        // Closed by the drain (not merely half-closed): a write now fails.
        assert!(client.write_all(b"x").is_err());
    }
}
