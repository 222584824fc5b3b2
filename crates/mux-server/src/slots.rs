//! The connection cap (`--max-connections`) and whom to shed when it is reached.
//!
//! Every served connection holds one slot. An answered connection waiting for its client to
//! close ([`crate::drain`]) is shed first. While it has not yet sent a complete request it is a
//! *reader*, the only other kind that may be shed: when a new client arrives and every slot is
//! taken (and none is draining), the reader silent the longest (no byte received for the longest time) is shut down, so its
//! task sees end-of-file and ends without a reply (a tempfail to libsasl2, as for any request
//! that was never complete), and the newcomer takes its slot. A connection whose request has
//! been read keeps its slot until it is answered. Without shedding, an idle flood larger than
//! the cap left real clients in the listen backlog until idle ones reached their read deadline
//! (issue 19); Cyrus has no cap and no deadline, and stops serving at far fewer.
//!
//! The table is one mutex over a fixed array of `cap` slots (taken, read, freed: three short
//! critical sections per connection, about what a semaphore costs). Arrival times are atomics
//! beside it, so a read that brings bytes never takes the lock. Shedding scans the readers: at
//! most `cap` entries, and only when the cap is reached. A shed slot passes to the newcomer at
//! once, without waiting for the shed task to end (an idle flood sheds thousands in a row);
//! the descriptors of shed tasks not yet ended are bounded by [`MAX_SHEDDING`].

use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::UnixStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Shed connections whose task has not ended yet, at most: each still holds its descriptor, so
/// the daemon holds at most `cap + MAX_SHEDDING` client descriptors (plus one per listener
/// being admitted), well inside [`crate::open_files::RESERVED`].
pub const MAX_SHEDDING: usize = 4;

/// How many waiting-with-data readers one shedding passes over before it sheds the oldest anyway.
const MAX_PASSED_OVER: usize = 8;

/// Whether bytes (or an end-of-file) wait unread on `fd`: `recv` with `MSG_PEEK | MSG_DONTWAIT`,
/// which neither consumes nor blocks. The caller holds the table's lock, so `fd` is still open.
fn has_bytes_waiting(fd: RawFd) -> bool {
    use nix::sys::socket::{MsgFlags, recv};
    let mut byte = [0u8; 1];
    matches!(recv(fd, &mut byte, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT), Ok(n) if n > 0)
}

/// The slots of one server: at most `cap` connections at once.
#[derive(Debug)]
pub struct Slots {
    epoch: Instant,
    /// When each slot's connection last brought bytes (or was accepted), in µs since `epoch`.
    /// A shed task's late write can only make its successor look recently heard.
    heard: Box<[AtomicU64]>,
    table: Mutex<Table>,
    /// Signalled each time a slot is freed or a shed task ends (the accept loop waits on it).
    freed: Notify,
}

#[derive(Debug)]
struct Table {
    entries: Box<[Entry]>,
    /// Indices of free slots.
    free: Vec<usize>,
    /// Shed connections whose task has not ended yet.
    shedding: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    state: State,
    /// Which holder the slot has: bumped when it is shed, so the shed task's [`Slot`] no longer
    /// owns it.
    generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    /// Reading a request on this descriptor: may be shed. The descriptor is open for as long as
    /// the slot is in this state (the task leaves it before closing its stream).
    Reading(RawFd),
    /// Its request was read: keeps the slot until its task ends.
    Answering,
    /// Answered, waiting for its client to close ([`crate::drain`]) on this descriptor: shed
    /// before any reader (its client has its reply). Open while in this state, as `Reading`.
    Draining(RawFd),
}

/// What [`Slots::shed_one`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shedding {
    /// Shut down the reader silent the longest, silent for this long; its slot is free.
    Shed(Duration),
    /// [`MAX_SHEDDING`] shed tasks have not ended yet: wait for one.
    Pending,
    /// Every slot holds a request being answered: new clients wait for one to end.
    Nothing,
}

impl Slots {
    /// `cap` slots (at least one), all free.
    pub fn new(cap: usize) -> Arc<Self> {
        let cap = cap.max(1);
        Arc::new(Self {
            epoch: Instant::now(),
            heard: (0..cap).map(|_| AtomicU64::new(0)).collect(),
            table: Mutex::new(Table {
                entries: vec![Entry { state: State::Free, generation: 0 }; cap].into_boxed_slice(),
                free: (0..cap).rev().collect(),
                shedding: 0,
            }),
            freed: Notify::new(),
        })
    }

    /// How many connections may be served at once.
    pub fn cap(&self) -> usize {
        self.heard.len()
    }

    /// Resolves when every slot is free and every shed task has ended: every connection is over.
    pub async fn all_free(&self) {
        loop {
            let freed = self.freed.notified();
            {
                let table = self.lock();
                if table.free.len() == self.cap() && table.shedding == 0 {
                    return;
                }
            }
            freed.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every critical section leaves the table whole: a panic cannot poison it half-done.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// A slot for the socket `fd`, just accepted, as a reader; `None` when all are taken.
    pub fn take(self: &Arc<Self>, fd: RawFd) -> Option<Slot> {
        let (index, generation) = {
            let mut table = self.lock();
            let index = table.free.pop()?;
            let entry = table.entries.get_mut(index)?;
            entry.state = State::Reading(fd);
            (index, entry.generation)
        };
        let slot = Slot { slots: self.clone(), index, generation };
        slot.heard();
        Some(slot)
    }

    /// Make room: shut down the reader silent the longest and free its slot, unless
    /// [`MAX_SHEDDING`] shed tasks are still on their way out.
    pub fn shed_one(&self) -> Shedding {
        let now = self.now();
        let mut table = self.lock();
        if table.shedding >= MAX_SHEDDING {
            return Shedding::Pending;
        }
        // The oldest reader whose request has not arrived: one whose bytes already wait in the
        // socket (its task has not run yet, as under heavy load) is a client about to be served,
        // not an idle one, and is passed over (a few times at most: one peek each).
        let mut passed_over: Vec<usize> = Vec::new();
        // A connection answered already goes first: shedding it costs its client nothing, and
        // clients holding their connections open after the reply would otherwise keep every
        // slot until the drain deadline (break19b review).
        let draining = table
            .entries
            .iter()
            .zip(self.heard.iter())
            .enumerate()
            .filter_map(|(i, (entry, heard))| match entry.state {
                State::Draining(fd) => Some((heard.load(Ordering::Relaxed), i, fd)),
                _ => None,
            })
            .min();
        let (heard, index, fd) = if let Some(oldest) = draining { oldest } else { loop {
            let oldest = table
                .entries
                .iter()
                .zip(self.heard.iter())
                .enumerate()
                .filter(|(i, _)| !passed_over.contains(i))
                .filter_map(|(i, (entry, heard))| match entry.state {
                    State::Reading(fd) => Some((heard.load(Ordering::Relaxed), i, fd)),
                    _ => None,
                })
                .min();
            let Some((heard, index, fd)) = oldest else { return Shedding::Nothing };
            if passed_over.len() < MAX_PASSED_OVER && has_bytes_waiting(fd) {
                passed_over.push(index);
                continue;
            }
            break (heard, index, fd);
        } };
        // Under the lock: the task leaves `Reading` (and only then closes the descriptor) under
        // this same lock, so `fd` is still this connection's. Shutting down both directions
        // wakes the task's read with end-of-file and tells the client at once.
        let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Both);
        if let Some(entry) = table.entries.get_mut(index) {
            *entry = Entry { state: State::Free, generation: entry.generation.wrapping_add(1) };
        }
        table.free.push(index);
        table.shedding += 1;
        drop(table);
        Shedding::Shed(Duration::from_micros(now.saturating_sub(heard)))
    }

    /// A slot for the socket `fd`, shedding readers silent the longest as needed; waits only
    /// when every slot holds a request being answered. `on_shed` hears what each attempt did.
    pub async fn room(self: &Arc<Self>, fd: RawFd, mut on_shed: impl FnMut(Shedding)) -> Slot {
        loop {
            // Registered before looking, so that a slot freed in between wakes this waiter. Merely
            // created, it would count only once awaited: with several acceptors looking at once,
            // their `notify_one`s would fold into one stored permit and leave one acceptor asleep
            // beside a free slot. (A registered waiter dropped once woken passes the wake-up on.)
            let mut freed = std::pin::pin!(self.freed.notified());
            freed.as_mut().enable();
            if let Some(slot) = self.take(fd) {
                return slot;
            }
            let shed = self.shed_one();
            on_shed(shed);
            if matches!(shed, Shedding::Shed(_)) {
                continue;
            }
            freed.await;
        }
    }
}

/// One connection's slot; freed when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    index: usize,
    generation: u64,
}

impl Slot {
    /// The connection just brought bytes: it is not silent.
    pub fn heard(&self) {
        if let Some(heard) = self.slots.heard.get(self.index) {
            heard.store(self.slots.now(), Ordering::Relaxed);
        }
    }

    /// Reading is over (a request, or nothing): the connection can no longer be shed. `false`
    /// if it was shed meanwhile (its socket is shut down: there is no one left to answer).
    /// Must be called before the stream is closed.
    pub fn read_done(&self) -> bool {
        let mut table = self.slots.lock();
        match table.entries.get_mut(self.index) {
            Some(entry) if entry.generation == self.generation => {
                entry.state = State::Answering;
                true
            }
            _ => false,
        }
    }
}

impl Slot {
    /// Its connection, on `fd`, was answered and now only waits for its client to close: it
    /// may be shed (before any reader). Must be left (by dropping the slot) before `fd` closes.
    pub fn draining(&self, fd: RawFd) {
        let mut table = self.slots.lock();
        if let Some(entry) = table.entries.get_mut(self.index)
            && entry.generation == self.generation
        {
            entry.state = State::Draining(fd);
        }
    }

    /// Run `register`, which takes the connection's socket and gives it back in another form,
    /// or `None` once it closed it. Shedding leaves the slot alone meanwhile, so it never shuts
    /// down a descriptor closed (and perhaps reused) in between; it may shed it again after.
    pub fn reregister<T>(&self, register: impl FnOnce() -> Option<T>) -> Option<T> {
        let before = {
            let mut table = self.slots.lock();
            match table.entries.get_mut(self.index) {
                Some(entry) if entry.generation == self.generation => {
                    Some(std::mem::replace(&mut entry.state, State::Answering))
                }
                _ => None,
            }
        };
        let registered = register();
        if registered.is_some()
            && let Some(State::Reading(fd)) = before
        {
            let mut table = self.slots.lock();
            if let Some(entry) = table.entries.get_mut(self.index)
                && entry.generation == self.generation
            {
                entry.state = State::Reading(fd);
            }
        }
        registered
    }
}

/// A stream whose reads mark its slot as heard from (see [`Slot::watch`]).
#[derive(Debug)]
pub struct Heard<'a> {
    stream: &'a mut UnixStream,
    slot: &'a Slot,
}

impl Slot {
    /// `stream` read through: each read that brings bytes marks this slot as heard from.
    pub fn watch<'a>(&'a self, stream: &'a mut UnixStream) -> Heard<'a> {
        Heard { stream, slot: self }
    }
}

impl AsyncRead for Heard<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.slot.heard();
        }
        polled
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut table = self.slots.lock();
            match table.entries.get_mut(self.index) {
                Some(entry) if entry.generation == self.generation => {
                    entry.state = State::Free;
                    table.free.push(self.index);
                }
                // Shed: the slot passed on already; one shed task fewer holds a descriptor.
                _ => table.shedding = table.shedding.saturating_sub(1),
            }
        }
        self.slots.freed.notify_one();
    }
}

/// How often, at most, the accept loop says that the cap was reached.
const PRESSURE_LOG_EVERY: Duration = Duration::from_secs(10);

/// Says that the cap was reached, and what was shed meanwhile, once per [`PRESSURE_LOG_EVERY`]
/// at most: an idle flood sheds thousands of connections, one log line each would be a flood too.
#[derive(Debug)]
pub struct Pressure {
    cap: usize,
    said: Option<Instant>,
    shed: u64,
    longest: Duration,
    full: bool,
}

impl Pressure {
    /// Nothing said yet about slots of `cap`.
    pub fn new(cap: usize) -> Self {
        Self { cap, said: None, shed: 0, longest: Duration::ZERO, full: false }
    }

    /// Count what [`Slots::shed_one`] did; log if it is time.
    pub fn note(&mut self, what: Shedding) {
        match what {
            Shedding::Shed(silent) => {
                self.shed += 1;
                self.longest = self.longest.max(silent);
            }
            Shedding::Nothing => self.full = true,
            Shedding::Pending => {}
        }
        if self.said.is_some_and(|t| t.elapsed() < PRESSURE_LOG_EVERY) || (self.shed == 0 && !self.full) {
            return;
        }
        if self.shed > 0 {
            tracing::warn!(
                "connection limit {} reached: closed {} connection(s) without a complete request, \
                 the longest silent for {:.1}s",
                self.cap,
                self.shed,
                self.longest.as_secs_f32()
            );
        }
        if self.full {
            tracing::warn!(
                "connection limit {} reached: every connection has a request in progress; new clients wait",
                self.cap
            );
        }
        *self = Self { said: Some(Instant::now()), ..Self::new(self.cap) };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::Barrier;

    /// Two acceptors of one listener look for room at once (every slot has a request being
    /// answered), and two slots are freed while both are still looking: each must get one. A
    /// wake-up that counts only once awaited turns the two `notify_one` calls into one stored
    /// permit, and the other acceptor sleeps beside a free slot until another connection ends.
    #[test]
    fn two_acceptors_waiting_for_room_both_wake_when_two_slots_free() {
        let slots = Slots::new(2);
        let answering: Vec<Slot> = (0..2)
            .map(|fd| {
                let slot = slots.take(fd).unwrap();
                assert!(slot.read_done());
                slot
            })
            .collect();
        let looking = Arc::new(Barrier::new(3));
        let go = Arc::new(Barrier::new(3));
        let acceptors: Vec<_> = (0..2)
            .map(|fd| {
                let (slots, looking, go) = (slots.clone(), looking.clone(), go.clone());
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    let mut first = true;
                    let room = slots.room(10 + fd, |shed| {
                        assert_eq!(shed, Shedding::Nothing);
                        // Between looking and waiting: the slots are freed now.
                        if std::mem::take(&mut first) {
                            looking.wait();
                            go.wait();
                        }
                    });
                    // The slot is given back, not dropped: freeing it would wake the other.
                    runtime.block_on(async { tokio::time::timeout(Duration::from_secs(2), room).await.ok() })
                })
            })
            .collect();
        looking.wait();
        drop(answering);
        go.wait();
        let got: Vec<Option<Slot>> = acceptors.into_iter().map(|a| a.join().unwrap()).collect();
        assert!(got.iter().all(Option::is_some), "an acceptor slept beside a free slot");
    }
}
