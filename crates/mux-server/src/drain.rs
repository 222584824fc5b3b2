//! After its reply, a connection an acceptor answered is half-closed and read until the client
//! closes, what it sends discarded, for at most the drain deadline — as Cyrus 2.1.28 does after
//! every reply (reference §1.5, its issue #445): a client that writes after its reply (a second
//! request, a fifth field sent on its own) meets no reset or `EPIPE`, and one that reads to end
//! of file sees it right after the reply.
//!
//! Two stages, so that the usual client (libsasl2 closes as soon as it has read its reply) costs
//! one non-blocking read and no wake-up: each acceptor keeps its recent connections
//! ([`Recent`]) and looks at them between two accepts, at most once per [`LOOK_EVERY`]; one
//! still open after [`RECENT_FOR`] goes to the shared [`Drain`], whose thread waits on an epoll
//! set until its client closes or the deadline passes. Handing every answered connection to the
//! runtime (a task, a registration, reactor turns) cost a third of the cache-hit rate, and one
//! thread looking at all of them fell behind under load (issue 19's review). A draining
//! connection keeps its slot, as the runtime's drain does
//! ([`crate::connection::finish_sending`]).

use crate::slots::Slot;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{MsgFlags, recv};
use std::collections::{HashMap, VecDeque};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How often, at most, an acceptor looks at its recent connections (under load it loops every
/// few microseconds: one look serves every client that closed meanwhile).
pub const LOOK_EVERY: Duration = Duration::from_millis(1);

/// How long a connection stays with its acceptor before the [`Drain`] takes it (a registration
/// with its epoll set: nothing costs while the client is silent).
pub const RECENT_FOR: Duration = Duration::from_millis(20);

/// How often, at most, the drain thread looks whether shutdown was asked for.
const STOP_POLL: Duration = Duration::from_millis(200);

/// One answered connection. Fields drop in order: the slot before the socket closes (see
/// [`crate::slots`]).
struct Entry {
    /// Held, not read: the connection counts against the cap until it closes.
    _slot: Slot,
    stream: UnixStream,
    answered: Instant,
}

impl Entry {
    /// `stream`, whose reply is sent, half-closed, its slot marked as draining (shed first at
    /// the cap); `None` when the client is gone already (closed here, slot first).
    fn answered(slot: Slot, stream: UnixStream) -> Option<Self> {
        if let Err(e) = stream.shutdown(std::net::Shutdown::Write) {
            tracing::debug!("could not half-close after the reply: {e}");
            drop(slot);
            return None;
        }
        slot.draining(stream.as_raw_fd());
        Some(Self { _slot: slot, stream, answered: Instant::now() })
    }
}

/// One acceptor's connections answered in the last [`RECENT_FOR`]; closed when dropped.
pub struct Recent {
    entries: Vec<Entry>,
    looked: Option<Instant>,
    sink: [u8; 512],
}

impl Default for Recent {
    fn default() -> Self {
        Self { entries: Vec::new(), looked: None, sink: [0; 512] }
    }
}

impl Recent {
    /// Half-close `stream`, whose reply is sent, and keep it (with `slot`) until its client
    /// closes.
    pub fn add(&mut self, slot: Slot, stream: UnixStream) {
        self.entries.extend(Entry::answered(slot, stream));
    }

    /// Unless it looked within [`LOOK_EVERY`]: close the connections whose client closed, and
    /// give `drain` those older than [`RECENT_FOR`]; take over what the runtime's tasks left
    /// there ([`Drain::adopt`]).
    pub fn look(&mut self, drain: &Drain) {
        if self.entries.is_empty() && drain.adopted_count.load(Ordering::Relaxed) == 0 {
            return;
        }
        if self.looked.is_some_and(|at| at.elapsed() < LOOK_EVERY) {
            return;
        }
        self.look_now(drain);
    }

    /// [`Self::look`] even if it looked within [`LOOK_EVERY`]: before waiting for a free slot,
    /// which a connection whose client closed since the last look may hold.
    pub fn look_now(&mut self, drain: &Drain) {
        let now = Instant::now();
        self.looked = Some(now);
        drain.hand_adopted(&mut self.entries);
        let mut i = 0;
        while let Some(entry) = self.entries.get(i) {
            if look(entry.stream.as_raw_fd(), &mut self.sink) == Look::Done {
                self.entries.swap_remove(i);
            } else if now.duration_since(entry.answered) >= RECENT_FOR {
                drain.take(self.entries.swap_remove(i));
            } else {
                i += 1;
            }
        }
    }

    /// Give `drain` every connection held here: before this acceptor waits for a free slot,
    /// during which it looks at none of them (the drain thread sees each client close at once).
    pub fn hand_all(&mut self, drain: &Drain) {
        for entry in self.entries.drain(..) {
            drain.take(entry);
        }
    }

    /// Whether it holds no connection.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Drop for Recent {
    fn drop(&mut self) {
        self.sink.fill(0);
    }
}

/// The connections still open [`RECENT_FOR`] after their reply, until their client closes or
/// the drain deadline passes.
pub struct Drain {
    epoll: Epoll,
    table: Mutex<Table>,
    /// Answered by the runtime's tasks, for the acceptors' [`Recent`] (or this thread) to take.
    /// `None` once the thread ended: a connection answered after that is closed at once.
    adopted: Mutex<Option<Vec<Entry>>>,
    adopted_count: std::sync::atomic::AtomicUsize,
    /// Wakes an acceptor waiting for room: an adopted connection may hold the slot it waits for.
    adopted_ready: tokio::sync::Notify,
    next_key: AtomicU64,
    /// How long a client has, after its reply, to close.
    timeout: Duration,
}

#[derive(Default)]
struct Table {
    open: HashMap<u64, Entry>,
    /// (deadline, key), oldest first (entries come in about the order they were answered).
    by_age: VecDeque<(Instant, u64)>,
    /// The thread ended.
    closed: bool,
}

impl Drain {
    /// A drain giving clients `timeout` after their reply to close, and its thread, which ends
    /// once `stop` says so (dropping `done`; every connection still draining is closed then).
    pub fn start(
        timeout: Duration,
        stop: watch::Receiver<bool>,
        done: mpsc::Sender<()>,
    ) -> std::io::Result<Arc<Self>> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let drain = Arc::new(Self {
            epoll,
            table: Mutex::default(),
            adopted: Mutex::new(Some(Vec::new())),
            adopted_count: std::sync::atomic::AtomicUsize::new(0),
            adopted_ready: tokio::sync::Notify::new(),
            next_key: AtomicU64::new(0),
            timeout,
        });
        let serving = drain.clone();
        std::thread::Builder::new().name("saslauthd-drain".into()).spawn(move || {
            // Signals are the runtime's (crate::signals).
            let _ = crate::signals::handled().thread_block();
            serving.run(&stop);
            // Closed for good: what is answered after this would hold its slot past the end,
            // and hold up the server's wait for every slot.
            let mut table = serving.lock();
            table.closed = true;
            table.open.clear();
            drop(table);
            serving.adopted.lock().unwrap_or_else(PoisonError::into_inner).take();
            drop(done);
        })?;
        Ok(drain)
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Each critical section is an insert or a remove: the table is whole after a panic.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Half-close `stream`, whose reply a task of the runtime sent, and drain it until its
    /// client closes; `slot` is held until then. An acceptor (or, when all are idle, this
    /// thread) looks at it first as at its own [`Recent`] connections.
    pub fn adopt(&self, slot: Slot, stream: UnixStream) {
        let Some(entry) = Entry::answered(slot, stream) else { return };
        let mut adopted = self.adopted.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(list) = adopted.as_mut() else {
            // Shutting down: close it now.
            return;
        };
        list.push(entry);
        self.adopted_count.store(list.len(), Ordering::Relaxed);
        drop(adopted);
        // Without a waiter (the usual case), one atomic load.
        self.adopted_ready.notify_waiters();
    }

    /// Resolves at the next [`Self::adopt`] (wait for it registered already: see
    /// [`tokio::sync::futures::Notified::enable`]).
    pub fn adopted(&self) -> tokio::sync::futures::Notified<'_> {
        self.adopted_ready.notified()
    }

    /// Move the adopted connections into `into`.
    fn hand_adopted(&self, into: &mut Vec<Entry>) {
        if self.adopted_count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut adopted = self.adopted.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = adopted.as_mut() {
            into.append(list);
        }
        self.adopted_count.store(0, Ordering::Relaxed);
    }

    /// Drain `entry` until its client closes or its deadline passes.
    fn take(&self, entry: Entry) {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        // Level-triggered: readable while bytes wait or once the client closed. An event that
        // comes before the entry is in the table is reported again at the next wait.
        let event = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP, key);
        if let Err(e) = self.epoll.add(&entry.stream, event) {
            tracing::debug!("cannot drain a connection, closing it: {e}");
            return;
        }
        let mut table = self.lock();
        if table.closed {
            // Its thread ended: close it now (which takes it out of the epoll set).
            return;
        }
        table.by_age.push_back((entry.answered + self.timeout, key));
        table.open.insert(key, entry);
    }

    fn run(&self, stop: &watch::Receiver<bool>) {
        let mut events = vec![EpollEvent::empty(); 64];
        let mut sink = [0u8; 512];
        // What the runtime's tasks adopt while every acceptor waits in `accept`.
        let mut recent = Recent::default();
        while !*stop.borrow() {
            recent.look(self);
            let mut wait = self.lock().by_age.front().map_or(STOP_POLL, |(deadline, _)| {
                deadline.saturating_duration_since(Instant::now()).min(STOP_POLL)
            });
            if !recent.is_empty() {
                wait = wait.min(LOOK_EVERY);
            }
            // Rounded up to whole milliseconds: a deadline is never waited for too briefly.
            let millis = u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
            let ready = self.epoll.wait(&mut events, EpollTimeout::from(millis)).unwrap_or(0);
            for event in events.get(..ready).unwrap_or_default() {
                let key = event.data();
                // Only this thread removes entries: the socket stays open after the lock is let go.
                let fd = self.lock().open.get(&key).map(|entry| entry.stream.as_raw_fd());
                if let Some(fd) = fd
                    && look(fd, &mut sink) == Look::Done
                {
                    // Closing it takes it out of the epoll set.
                    self.lock().open.remove(&key);
                }
            }
            self.expire();
        }
        sink.fill(0);
    }

    /// Close the connections whose client did not close within the deadline.
    fn expire(&self) {
        let now = Instant::now();
        let mut table = self.lock();
        while let Some(&(deadline, key)) = table.by_age.front() {
            if deadline > now {
                break;
            }
            table.by_age.pop_front();
            table.open.remove(&key);
        }
    }

    /// Connections being drained here.
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Whether no connection is being drained here.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a look at an answered connection found.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    /// Its client closed (or the socket failed): close it.
    Done,
    /// Still open.
    Open,
}

/// Read what the client on socket `fd` sent, discarding it, without waiting.
fn look(fd: std::os::fd::RawFd, sink: &mut [u8]) -> Look {
    loop {
        match recv(fd, sink, MsgFlags::MSG_DONTWAIT) {
            Ok(n) if n > 0 => {}
            Err(nix::errno::Errno::EAGAIN) => return Look::Open,
            Err(nix::errno::Errno::EINTR) => {}
            // End of file, or the socket failed.
            Ok(_) | Err(_) => return Look::Done,
        }
    }
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

    fn drain(timeout: Duration) -> (Arc<Drain>, watch::Sender<bool>, mpsc::Receiver<()>) {
        let (stop_tx, stop) = watch::channel(false);
        let (done, all_done) = mpsc::channel(1);
        (Drain::start(timeout, stop, done).unwrap(), stop_tx, all_done)
    }

    #[test]
    fn a_recent_connection_takes_late_writes_and_closes_after_its_client() {
        let (drain, _stop, _done) = drain(Duration::from_secs(5));
        let slots = Slots::new(2);
        let mut recent = Recent::default();
        let (server, mut client) = UnixStream::pair().unwrap();
        recent.add(slots.take(server.as_raw_fd()).unwrap(), server);
        // Half-closed: the client reads end of file at once, and its late write is taken.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        client.write_all(b"a second request").unwrap();
        recent.look(&drain);
        assert!(!recent.is_empty(), "open while its client is");
        let other = slots.take(1).unwrap();
        assert!(slots.take(2).is_none(), "and it holds its slot");
        drop(client);
        std::thread::sleep(LOOK_EVERY);
        recent.look(&drain);
        assert!(recent.is_empty(), "closed once its client closed");
        assert!(slots.take(2).is_some());
        drop(other);
    }

    #[test]
    fn one_still_open_goes_to_the_drain_until_its_client_closes_or_the_deadline() {
        let (drain, stop, mut done) = drain(Duration::from_millis(300));
        let slots = Slots::new(3);
        let mut recent = Recent::default();
        let (server, mut slow) = UnixStream::pair().unwrap();
        recent.add(slots.take(server.as_raw_fd()).unwrap(), server);
        let (server, mut silent) = UnixStream::pair().unwrap();
        recent.add(slots.take(server.as_raw_fd()).unwrap(), server);
        std::thread::sleep(RECENT_FOR);
        recent.look(&drain);
        assert!(recent.is_empty());
        assert_eq!(drain.len(), 2);
        slow.write_all(b"late").unwrap();
        drop(slow);
        until(|| drain.len() == 1);
        until(|| drain.is_empty());
        let mut byte = [0u8; 1];
        assert_eq!(silent.read(&mut byte).unwrap(), 0);
        assert!(silent.write_all(b"x").is_err(), "closed at the deadline");

        let (server, _open) = UnixStream::pair().unwrap();
        let mut recent = Recent::default();
        recent.add(slots.take(server.as_raw_fd()).unwrap(), server);
        std::thread::sleep(RECENT_FOR);
        recent.look(&drain);
        assert_eq!(drain.len(), 1);
        let _ = stop.send(true);
        assert!(done.blocking_recv().is_none(), "the thread ended");
        assert!(drain.is_empty(), "and closed what it was draining");
    }
}
